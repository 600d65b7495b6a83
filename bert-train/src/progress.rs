//! How a run reports its progress: burn-train's terminal UI (loss, learning rate, throughput and
//! validation metrics as live plots, progress bars, `q` to stop) when stdout is a terminal, and
//! plain lines (step, epoch, loss, lr, sequences/s, ETA) otherwise, as in CI logs.
//!
//! The training loop is ours (see [`crate::trainer`]); it reports to burn-train's
//! [`MetricsRenderer`] through the same calls burn-train's `Learner` makes.

use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::sync::Arc;

use burn_train::metric::{
    MetricAttributes, MetricDefinition, MetricEntry, MetricId, NumericAttributes, NumericEntry,
    SerializedEntry,
};
use burn_train::renderer::tui::TuiMetricsRendererWrapper;
use burn_train::renderer::{MetricState, MetricsRenderer};
use burn_train::Interrupter;

use crate::config::ProgressStyle;
use crate::metrics::Metrics;

/// One logged training step.
#[derive(Debug, Clone, Copy)]
pub struct StepReport {
    /// Optimizer steps done.
    pub step: usize,
    /// Optimizer steps of the whole run.
    pub total_steps: usize,
    /// Epochs done, with the fraction of the current one.
    pub epoch: f64,
    /// Mean training loss since the last report.
    pub loss: f64,
    /// Learning rate of the last step.
    pub learning_rate: f64,
    /// Training rows per second since the last report.
    pub rows_per_second: f64,
    /// Estimated seconds to the end of training.
    pub eta_seconds: f64,
}

/// Where progress goes.
pub struct Progress {
    tui: Option<Tui>,
}

struct Tui {
    renderer: Box<dyn MetricsRenderer>,
    interrupter: Interrupter,
    ids: BTreeMap<String, MetricId>,
}

impl Progress {
    /// Picks the terminal UI or plain lines. `tui` needs a terminal; `auto` uses one when stdout
    /// is a terminal.
    pub fn new(style: ProgressStyle) -> Self {
        let terminal = std::io::stdout().is_terminal();
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
        let tui = tui.then(|| {
            let interrupter = Interrupter::new();
            Tui {
                renderer: Box::new(TuiMetricsRendererWrapper::new(interrupter.clone(), None)),
                interrupter,
                ids: BTreeMap::new(),
            }
        });
        Progress { tui }
    }

    /// True when the terminal UI is showing (plain `println!` would disturb it).
    pub fn is_tui(&self) -> bool {
        self.tui.is_some()
    }

    /// The run starts (or resumes) at `epoch` of `epochs`.
    pub fn start(&mut self, label: &str, epochs: usize, epoch: usize, steps_in_epoch: usize) {
        if let Some(tui) = &mut self.tui {
            tui.renderer
                .start(epochs, epoch + 1, Some(steps_in_epoch), Some(label));
        }
    }

    /// An epoch of `steps` optimizer steps begins (`epoch` is 0-based).
    pub fn start_epoch(&mut self, epoch: usize, steps: usize) {
        if let Some(tui) = &mut self.tui {
            tui.renderer.update_epoch(epoch.saturating_sub(1));
            tui.renderer.start_split("train", steps);
        }
    }

    /// `done` optimizer steps of the current epoch are finished.
    pub fn step(&mut self, done: usize) {
        if let Some(tui) = &mut self.tui {
            tui.renderer.update_split(done);
        }
    }

    /// The current epoch ended.
    pub fn end_epoch(&mut self) {
        if let Some(tui) = &mut self.tui {
            tui.renderer.end_split();
        }
    }

    /// A logged training step: a line, or points on the loss, lr and throughput plots.
    pub fn log(&mut self, r: &StepReport) {
        match &mut self.tui {
            None => println!(
                "step {}/{} | epoch {:.2} | loss {:.4} | lr {:.3e} | {:.1} seq/s | eta {}",
                r.step,
                r.total_steps,
                r.epoch,
                r.loss,
                r.learning_rate,
                r.rows_per_second,
                format_duration(r.eta_seconds)
            ),
            Some(tui) => {
                let eta = format_duration(r.eta_seconds);
                tui.train("loss", r.loss, format!("{:.4}", r.loss), false);
                tui.train(
                    "learning rate",
                    r.learning_rate,
                    format!("{:.3e}", r.learning_rate),
                    false,
                );
                let rate = format!(
                    "{:.1} seq/s (step {}, eta {eta})",
                    r.rows_per_second, r.step
                );
                tui.train("throughput", r.rows_per_second, rate, true);
            }
        }
    }

    /// Validation metrics after `step`: a line, or points on the validation plots.
    pub fn validation(&mut self, step: usize, epoch: f64, seconds: f64, metrics: &Metrics) {
        match &mut self.tui {
            None => println!(
                "eval step {step} (epoch {epoch:.2}, {seconds:.1}s): {}",
                format_metrics(metrics)
            ),
            Some(tui) => {
                for (name, value) in metrics {
                    let better = name != "loss" && name != "mse";
                    tui.valid(name, *value, format!("{value:.4} (step {step})"), better);
                }
            }
        }
    }

    /// A message: a line, or the status counter of the terminal UI.
    pub fn note(&mut self, text: String) {
        match &mut self.tui {
            None => println!("{text}"),
            Some(tui) => tui.renderer.log_event_training(text),
        }
    }

    /// A checkpoint was written: a line, or a counter in the terminal UI's status.
    pub fn checkpoint(&mut self, dir: &std::path::Path) {
        match &mut self.tui {
            None => println!("checkpoint {}", dir.display()),
            Some(tui) => tui
                .renderer
                .log_event_training("checkpoints written".into()),
        }
    }

    /// True when the user asked the terminal UI to stop the run.
    pub fn stop_requested(&self) -> bool {
        self.tui
            .as_ref()
            .is_some_and(|tui| tui.interrupter.should_stop())
    }

    /// Training is over: the terminal UI closes and the screen returns to lines.
    pub fn finish(&mut self) {
        if let Some(mut tui) = self.tui.take() {
            let _ = tui.renderer.on_train_end(None);
            tui.renderer.end();
            // Dropping the renderer closes the UI and restores the terminal.
        }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.finish();
    }
}

impl Tui {
    fn id(&mut self, name: &str, higher_is_better: bool) -> MetricId {
        if let Some(id) = self.ids.get(name) {
            return id.clone();
        }
        let id = MetricId::new(Arc::new(name.to_string()));
        self.renderer.register_metric(MetricDefinition {
            metric_id: id.clone(),
            name: Arc::new(name.to_string()),
            description: None,
            attributes: MetricAttributes::Numeric(NumericAttributes {
                unit: None,
                higher_is_better,
            }),
        });
        self.ids.insert(name.to_string(), id.clone());
        id
    }

    fn state(&mut self, name: &str, value: f64, text: String, better: bool) -> MetricState {
        let id = self.id(name, better);
        let entry = MetricEntry::new(id, SerializedEntry::new(text, value.to_string()));
        MetricState::Numeric(entry, Some(NumericEntry::Value(value)))
    }

    fn train(&mut self, name: &str, value: f64, text: String, better: bool) {
        let state = self.state(name, value, text, better);
        self.renderer.update_train(state);
    }

    fn valid(&mut self, name: &str, value: f64, text: String, better: bool) {
        let state = self.state(name, value, text, better);
        self.renderer.update_valid(state);
    }
}

/// `loss 0.1234 | accuracy 0.8000 | ...`: the loss first, then the other metrics by name.
pub fn format_metrics(m: &Metrics) -> String {
    let mut parts = vec![format!(
        "loss {:.4}",
        m.get("loss").copied().unwrap_or(f64::NAN)
    )];
    for (k, v) in m {
        if k != "loss" {
            parts.push(format!("{k} {v:.4}"));
        }
    }
    parts.join(" | ")
}

/// `1h02m03s` or `2m03s`.
pub fn format_duration(seconds: f64) -> String {
    let s = seconds.max(0.0).round() as u64;
    if s >= 3600 {
        format!("{}h{:02}m{:02}s", s / 3600, (s / 60) % 60, s % 60)
    } else {
        format!("{}m{:02}s", s / 60, s % 60)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_as_hours_minutes_seconds() {
        assert_eq!(format_duration(4.4), "0m04s");
        assert_eq!(format_duration(123.0), "2m03s");
        assert_eq!(format_duration(3723.0), "1h02m03s");
        assert_eq!(format_duration(-1.0), "0m00s");
    }

    #[test]
    fn plain_progress_has_no_terminal_ui() {
        let progress = Progress::new(ProgressStyle::Plain);
        assert!(!progress.is_tui());
        assert!(!progress.stop_requested());
    }
}
