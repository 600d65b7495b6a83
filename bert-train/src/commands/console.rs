//! How `bert-train fine-tune` shows a run: burn-train's terminal UI (loss, learning rate and
//! validation metrics as live plots, progress bars, `q` to checkpoint and stop) when stdout is a
//! terminal, and plain lines (step, epoch, loss, lr, sequences/s, ETA; evaluations; checkpoints)
//! otherwise, as in CI logs.

use std::io::IsTerminal;
use std::sync::{Arc, Mutex};

use bert_train::config::ProgressStyle;
use bert_train::distributed::Ranks;
use bert_train::trainer::events::{format_duration, format_metrics, NoRenderer, RunEvent, Session};
use burn_train::renderer::tui::TuiMetricsRendererWrapper;
use burn_train::Interrupter;

/// Messages held back while the terminal UI owns the screen, printed when it closes.
pub type HeldLines = Arc<Mutex<Vec<String>>>;

/// A session for `style`, and the lines it holds back (empty in plain mode).
pub fn session(style: ProgressStyle) -> (Session, HeldLines) {
    let held: HeldLines = Arc::default();
    // The terminal UI needs a controlling terminal: under mpirun stdout is a pseudo-terminal
    // of the launcher's, with none behind it.
    let terminal = std::io::stdout().is_terminal() && std::fs::File::open("/dev/tty").is_ok();
    let tui = match style {
        ProgressStyle::Plain => false,
        ProgressStyle::Auto => terminal,
        ProgressStyle::Tui => {
            if !terminal {
                println!("progress = \"tui\" needs a terminal on stdout; printing lines");
            }
            terminal
        }
    };
    let interrupter = Interrupter::new();
    let session = if tui {
        let lines = Arc::clone(&held);
        Session {
            renderer: Box::new(TuiMetricsRendererWrapper::new(interrupter.clone(), None)),
            reporter: Box::new(move |event: RunEvent| {
                if let Some(line) = held_line(&event) {
                    lines.lock().expect("held lines").push(line);
                }
            }),
            interrupter,
            ranks: Ranks::single(),
        }
    } else {
        Session {
            renderer: Box::new(NoRenderer),
            reporter: Box::new(|event: RunEvent| println!("{}", line(&event))),
            interrupter,
            ranks: Ranks::single(),
        }
    };
    (session, held)
}

/// The plain line of an event.
pub fn line(event: &RunEvent) -> String {
    match event {
        RunEvent::Note(text) => text.clone(),
        RunEvent::Step(r) => format!(
            "step {}/{} | epoch {:.2} | loss {:.4} | lr {:.3e} | {:.1} seq/s | eta {}",
            r.step,
            r.total_steps,
            r.epoch,
            r.loss,
            r.learning_rate,
            r.rows_per_second,
            format_duration(r.eta_seconds)
        ),
        RunEvent::Validation {
            step,
            epoch,
            seconds,
            metrics,
        } => format!(
            "eval step {step} (epoch {epoch:.2}, {seconds:.1}s): {}",
            format_metrics(metrics)
        ),
        RunEvent::Checkpoint(dir) => format!("checkpoint {}", dir.display()),
    }
}

/// What the terminal UI does not show itself: notes (steps and evaluations are on its plots).
fn held_line(event: &RunEvent) -> Option<String> {
    match event {
        RunEvent::Note(_) | RunEvent::Checkpoint(_) => Some(line(event)),
        RunEvent::Step(_) | RunEvent::Validation { .. } => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bert_train::trainer::events::StepReport;

    #[test]
    fn a_logged_step_reads_as_one_line() {
        let event = RunEvent::Step(StepReport {
            step: 10,
            total_steps: 100,
            epoch: 0.5,
            loss: 0.25,
            learning_rate: 2e-5,
            rows_per_second: 12.34,
            eta_seconds: 65.0,
        });
        assert_eq!(
            line(&event),
            "step 10/100 | epoch 0.50 | loss 0.2500 | lr 2.000e-5 | 12.3 seq/s | eta 1m05s"
        );
        assert_eq!(held_line(&event), None);
    }

    #[test]
    fn plain_sessions_have_no_terminal_ui_and_no_held_lines() {
        let (session, held) = session(ProgressStyle::Plain);
        assert!(!session.interrupter.should_stop());
        assert!(held.lock().unwrap().is_empty());
    }
}
