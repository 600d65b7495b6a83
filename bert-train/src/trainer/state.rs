//! What a run keeps between steps and writes beside its checkpoints: every counter of the loop
//! ([`TrainerState`], saved in each checkpoint as `trainer_state.json`), the logged rows of
//! `metrics.csv`, and the panels of `metrics.png`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use bert_model::write_text_atomically;
use serde::{Deserialize, Serialize};

use crate::metrics::Metrics;
use crate::plot;
use crate::TrainError;

/// Floats saved as their shortest exact decimal text: serde_json's default parser may be off by
/// one bit, and a resumed run must log exactly what an uninterrupted one logs.
mod exact {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};
    use std::collections::BTreeMap;

    pub fn serialize<S: Serializer>(v: &f64, s: S) -> Result<S::Ok, S::Error> {
        v.to_string().serialize(s)
    }
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
        String::deserialize(d)?
            .parse()
            .map_err(serde::de::Error::custom)
    }
    pub mod map {
        use super::*;
        pub fn serialize<S: Serializer>(
            v: &BTreeMap<String, f64>,
            s: S,
        ) -> Result<S::Ok, S::Error> {
            let text: BTreeMap<&String, String> =
                v.iter().map(|(k, x)| (k, x.to_string())).collect();
            text.serialize(s)
        }
        pub fn deserialize<'de, D: Deserializer<'de>>(
            d: D,
        ) -> Result<BTreeMap<String, f64>, D::Error> {
            let text = BTreeMap::<String, String>::deserialize(d)?;
            text.into_iter()
                .map(|(k, x)| x.parse().map(|x| (k, x)).map_err(serde::de::Error::custom))
                .collect()
        }
    }
}

/// One row of `metrics.csv`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct LogRow {
    /// Optimizer steps done.
    pub step: usize,
    /// Epochs done, fractional.
    #[serde(with = "exact")]
    pub epoch: f64,
    /// `train`, `validation` or `test`.
    pub split: String,
    /// Mean loss (over the logging window for `train`, over the split otherwise).
    #[serde(with = "exact")]
    pub loss: f64,
    /// Learning rate of the last step.
    #[serde(with = "exact")]
    pub learning_rate: f64,
    /// The task's metrics (evaluations only).
    #[serde(with = "exact::map")]
    pub metrics: BTreeMap<String, f64>,
}

/// Every counter of the loop, saved in each checkpoint as `trainer_state.json`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct TrainerState {
    /// Optimizer steps done.
    pub step: usize,
    /// The epoch in progress (0-based).
    pub epoch: usize,
    /// Optimizer steps done within that epoch.
    pub step_in_epoch: usize,
    /// Total optimizer steps of the run.
    pub total_steps: usize,
    /// The training-loss window since the last log: sum of per-step losses and step count.
    #[serde(with = "exact")]
    pub window_loss: f64,
    /// Steps in the window.
    pub window_steps: usize,
    /// Every logged row so far.
    pub history: Vec<LogRow>,
    /// Best value of the selection metric and its step (the value as exact text).
    pub best: Option<(String, usize)>,
    /// Evaluations since the best one.
    pub evals_without_improvement: usize,
    /// The run's seed (a resumed run must use the same one).
    pub seed: u64,
    /// The run's data seed (a resumed run must use the same one); absent in states written
    /// before `data_seed` existed, when it was the seed.
    #[serde(default)]
    pub data_seed: Option<u64>,
    /// Seconds spent in training steps so far, all processes of the run together (validation
    /// and checkpoint writes excluded).
    pub train_seconds: f64,
    /// Seconds spent in validation during the run.
    #[serde(default)]
    pub eval_seconds: f64,
    /// Seconds the latest validation took (comparable with a reference that times one
    /// evaluation, where `eval_seconds` sums all of them).
    #[serde(default)]
    pub last_eval_seconds: f64,
    /// Training rows processed.
    pub train_rows: usize,
    /// The processes (MPI ranks) of the run; absent in states written before runs had ranks.
    #[serde(default)]
    pub ranks: Option<usize>,
    /// Seconds rank 0 spent summing gradients across ranks (part of `train_seconds`).
    #[serde(default)]
    pub exchange_seconds: f64,
    /// Seconds rank 0 waited for the slowest rank before each exchange (part of
    /// `train_seconds`).
    #[serde(default)]
    pub wait_seconds: f64,
}

/// What a run ended with.
#[derive(Debug, Clone)]
pub struct RunSummary {
    /// Optimizer steps done.
    pub step: usize,
    /// The step resumed from, if any.
    pub resumed_from: Option<usize>,
    /// Final validation metrics.
    pub validation: Option<Metrics>,
    /// Final test metrics.
    pub test: Option<Metrics>,
    /// Training time (all processes of the run), seconds.
    pub train_seconds: f64,
    /// Training rows processed (all processes of the run).
    pub train_rows: usize,
    /// Training rows per second.
    pub rows_per_second: f64,
    /// The final model directory.
    pub model_dir: PathBuf,
}

/// Writes `metrics.csv` from the history, atomically.
pub fn write_metrics_csv(
    path: &Path,
    history: &[LogRow],
    names: &[&str],
) -> Result<(), TrainError> {
    let mut text = String::from("step,epoch,split,loss,learning_rate");
    for n in names {
        text.push(',');
        text.push_str(n);
    }
    text.push('\n');
    for row in history {
        text.push_str(&format!(
            "{},{:.4},{},{},{}",
            row.step, row.epoch, row.split, row.loss, row.learning_rate
        ));
        for n in names {
            text.push(',');
            if let Some(v) = row.metrics.get(*n) {
                text.push_str(&v.to_string());
            }
        }
        text.push('\n');
    }
    Ok(write_text_atomically(path, &text)?)
}

/// The panels of `metrics.png`: training and validation loss; the validation metrics.
pub fn plot_panels(history: &[LogRow], names: &[&str]) -> Vec<plot::Panel> {
    let curve = |split: &str, value: &dyn Fn(&LogRow) -> Option<f64>| -> Vec<(f64, f64)> {
        history
            .iter()
            .filter(|r| r.split == split)
            .filter_map(|r| value(r).map(|v| (r.step as f64, v)))
            .collect()
    };
    let loss = plot::Panel {
        title: "loss".into(),
        series: vec![
            ("train".into(), curve("train", &|r| Some(r.loss))),
            ("validation".into(), curve("validation", &|r| Some(r.loss))),
        ],
        rising: false,
    };
    let metrics = plot::Panel {
        title: "validation metrics".into(),
        series: names
            .iter()
            .map(|n| {
                let name = n.to_string();
                (name, curve("validation", &|r| r.metrics.get(*n).copied()))
            })
            .collect(),
        rising: true,
    };
    vec![loss, metrics]
}

/// Reads a checkpoint's `trainer_state.json`.
pub fn read_state(dir: &Path) -> Result<TrainerState, TrainError> {
    let path = dir.join("trainer_state.json");
    let text = std::fs::read_to_string(&path).map_err(TrainError::io(&path))?;
    serde_json::from_str(&text)
        .map_err(|e| TrainError::Run(format!("{}: invalid trainer state: {e}", path.display())))
}

/// Whether a bigger value of `metric` is better.
pub fn greater_is_better(metric: &str) -> bool {
    !(metric.contains("loss") || metric == "mse")
}

impl TrainerState {
    /// The state of a run that has not taken a step.
    pub fn new(seed: u64, data_seed: u64, total_steps: usize) -> Self {
        TrainerState {
            step: 0,
            epoch: 0,
            step_in_epoch: 0,
            total_steps,
            window_loss: 0.0,
            window_steps: 0,
            history: Vec::new(),
            best: None,
            evals_without_improvement: 0,
            seed,
            data_seed: Some(data_seed),
            train_seconds: 0.0,
            eval_seconds: 0.0,
            last_eval_seconds: 0.0,
            train_rows: 0,
            ranks: None,
            exchange_seconds: 0.0,
            wait_seconds: 0.0,
        }
    }

    /// Records an evaluation's value of the selection metric; true when it is the best so far.
    pub fn record_selection(&mut self, metric: &str, value: f64) -> bool {
        let best = self.best.as_ref().and_then(|b| b.0.parse::<f64>().ok());
        let better = match best {
            None => true,
            Some(best) if greater_is_better(metric) => value > best,
            Some(best) => value < best,
        };
        if better {
            self.best = Some((value.to_string(), self.step));
            self.evals_without_improvement = 0;
        } else {
            self.evals_without_improvement += 1;
        }
        better
    }

    /// Appends an evaluation of `split` at the current step (its `loss` goes to the loss column).
    pub fn push_evaluation(&mut self, split: &str, epoch: f64, lr: f64, metrics: &Metrics) {
        let mut row_metrics = metrics.clone();
        let loss = row_metrics.remove("loss").unwrap_or(f64::NAN);
        self.history.push(LogRow {
            step: self.step,
            epoch,
            split: split.into(),
            loss,
            learning_rate: lr,
            metrics: row_metrics,
        });
    }

    /// The validation metrics logged at the current step, `loss` included.
    pub fn validation_now(&self) -> Option<Metrics> {
        self.history
            .iter()
            .rev()
            .find(|r| r.split == "validation" && r.step == self.step)
            .map(|r| {
                let mut m = r.metrics.clone();
                m.insert("loss".into(), r.loss);
                m
            })
    }
}
