//! What a run tells its caller. The library prints nothing: numbers go to burn-train's event
//! processor (its metrics, its renderer: the terminal UI, or none), and the run's messages
//! (setup notes, logged steps, evaluations, checkpoints) go to a [`Reporter`] as [`RunEvent`]s.
//! The `bert-train` binary prints them as lines; a library caller may keep, show or drop them.

use std::path::PathBuf;
use std::sync::Arc;

use burn_train::logger::{EvaluationProgressLogger, TrainingProgressLogger};
use burn_train::metric::{
    Adaptor, Metric, MetricAttributes, MetricDefinition, MetricMetadata, MetricName, Numeric,
    NumericAttributes, NumericEntry, SerializedEntry,
};
use burn_train::renderer::{
    EvaluationName, MetricState, MetricsRenderer, MetricsRendererEvaluation,
    MetricsRendererTraining,
};
use burn_train::Interrupter;

use super::task_model::{EvalOutput, StepOutput};
use crate::distributed::Ranks;
use crate::metrics::Metrics;

/// One logged training step.
#[derive(Debug, Clone, Copy, PartialEq)]
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

/// Something a run reports.
#[derive(Debug, Clone, PartialEq)]
pub enum RunEvent {
    /// A message about the setup or the run (labels, skipped rows, a new head, a resume).
    Note(String),
    /// A logged training step.
    Step(StepReport),
    /// Validation metrics after `step`.
    Validation {
        /// Optimizer steps done.
        step: usize,
        /// Epochs done, fractional.
        epoch: f64,
        /// Seconds the evaluation took.
        seconds: f64,
        /// The metrics, `loss` included.
        metrics: Metrics,
    },
    /// A checkpoint was committed.
    Checkpoint(PathBuf),
}

/// Receives a run's [`RunEvent`]s.
pub trait Reporter: Send {
    /// One event.
    fn report(&mut self, event: RunEvent);
}

impl<F: FnMut(RunEvent) + Send> Reporter for F {
    fn report(&mut self, event: RunEvent) {
        self(event)
    }
}

/// Where a run reports, and how it is stopped from outside.
pub struct Session {
    /// burn-train's renderer of the metrics (the terminal UI, or [`NoRenderer`]).
    pub renderer: Box<dyn MetricsRenderer>,
    /// The run's messages.
    pub reporter: Box<dyn Reporter>,
    /// Stops the run at the next step with a checkpoint (the terminal UI's `q`).
    pub interrupter: Interrupter,
    /// The processes of the run ([`Ranks::single`] unless an MPI launcher started it); only
    /// rank 0 writes files and reports.
    pub ranks: Ranks,
}

impl Session {
    /// A session that shows nothing and drops every message.
    pub fn quiet() -> Self {
        Session {
            renderer: Box::new(NoRenderer),
            reporter: Box::new(|_event: RunEvent| {}),
            interrupter: Interrupter::new(),
            ranks: Ranks::single(),
        }
    }

    /// The same session for a run across `ranks`: ranks other than 0 show and report nothing.
    pub fn on(self, ranks: Ranks) -> Self {
        if ranks.is_main() {
            return Session { ranks, ..self };
        }
        Session {
            ranks,
            interrupter: self.interrupter,
            ..Session::quiet()
        }
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

/// A number a run computes itself (a task metric over a whole split, the loss of a step, the
/// throughput), shown through burn-train's metrics: it reads its value from the item by name.
#[derive(Clone)]
pub struct Score {
    name: MetricName,
    higher_is_better: bool,
    last: Option<f64>,
}

impl Score {
    /// The metric `name`.
    pub fn new(name: &str, higher_is_better: bool) -> Self {
        Score {
            name: Arc::new(name.to_string()),
            higher_is_better,
            last: None,
        }
    }

    fn entry(&self) -> SerializedEntry {
        match self.last {
            Some(v) => SerializedEntry::new(format!("{v:.4}"), v.to_string()),
            None => SerializedEntry::not_available(None),
        }
    }
}

impl Metric for Score {
    type Input = Metrics;

    fn name(&self) -> MetricName {
        Arc::clone(&self.name)
    }

    fn attributes(&self) -> MetricAttributes {
        MetricAttributes::Numeric(NumericAttributes {
            unit: None,
            higher_is_better: self.higher_is_better,
        })
    }

    fn update(
        &mut self,
        item: &Metrics,
        _metadata: &MetricMetadata,
    ) -> Result<SerializedEntry, burn::tensor::TensorReadError> {
        if let Some(v) = item.get(self.name.as_str()) {
            self.last = Some(*v);
        }
        Ok(self.entry())
    }

    fn compute(&mut self) -> Result<SerializedEntry, burn::tensor::TensorReadError> {
        Ok(self.entry())
    }

    fn clear(&mut self) {
        self.last = None;
    }
}

impl Numeric for Score {
    fn value(&self) -> Option<NumericEntry> {
        self.last.map(NumericEntry::Value)
    }

    fn running_value(&self) -> Option<NumericEntry> {
        self.value()
    }

    fn final_value(&self) -> NumericEntry {
        NumericEntry::Value(self.last.unwrap_or(f64::NAN))
    }
}

impl Adaptor<Metrics> for StepOutput {
    fn adapt(&self) -> Metrics {
        let mut m = self.extra.clone();
        m.insert("loss".into(), self.loss);
        m
    }
}

impl<O> Adaptor<Metrics> for EvalOutput<O> {
    fn adapt(&self) -> Metrics {
        self.scores.clone()
    }
}

/// A renderer that shows nothing (library runs, plain-line runs).
pub struct NoRenderer;

impl MetricsRendererTraining for NoRenderer {
    fn update_train(&mut self, _state: MetricState) {}
    fn update_valid(&mut self, _state: MetricState) {}
}

impl MetricsRendererEvaluation for NoRenderer {
    fn update_test(&mut self, _name: EvaluationName, _state: MetricState) {}
}

impl TrainingProgressLogger for NoRenderer {
    fn start(
        &mut self,
        _epochs: usize,
        _start: usize,
        _items: Option<usize>,
        _label: Option<&str>,
    ) {
    }
    fn update_epoch(&mut self, _epoch: usize) {}
    fn start_split(&mut self, _split: &str, _total_items: usize) {}
    fn update_split(&mut self, _items_processed: usize) {}
    fn end_split(&mut self) {}
    fn end(&mut self) {}
    fn log_event_training(&mut self, _event: String) {}
}

impl EvaluationProgressLogger for NoRenderer {
    fn start_global_progress(&mut self, _total_tests: usize) {}
    fn start_test(&mut self, _name: &str, _total_items: usize) {}
    fn update_test_progress(&mut self, _items_processed: usize) {}
    fn end_test(&mut self) {}
    fn end_global_progress(&mut self) {}
    fn log_event_evaluation(&mut self, _event: String) {}
}

impl MetricsRenderer for NoRenderer {
    fn manual_close(&mut self) {}
    fn register_metric(&mut self, _definition: MetricDefinition) {}
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
    fn metrics_print_loss_first() {
        let m: Metrics = [("accuracy".to_string(), 0.8), ("loss".to_string(), 0.5)]
            .into_iter()
            .collect();
        assert_eq!(format_metrics(&m), "loss 0.5000 | accuracy 0.8000");
    }
}
