//! A run configured in code: [`FineTune`] collects the keys a TOML config would hold and
//! validates them the same way ([`FineTuneConfig::parse`]), so every default and every check is
//! the file's; [`FineTune::run`] starts the run.
//!
//! ```no_run
//! use bert_train::FineTune;
//!
//! let summary = FineTune::new("sequence-classification", "models/all-MiniLM-L6-v2", "runs/x")
//!     .train("data/sentiment/train.csv")
//!     .validation("data/sentiment/dev.csv")
//!     .set("data.text_column", "sentence")
//!     .epochs(1)
//!     .learning_rate(1e-4)
//!     .run()?;
//! println!("{:?}", summary.validation);
//! # Ok::<(), bert_train::TrainError>(())
//! ```

use std::path::Path;

use toml::{Table, Value};

use crate::config::{set_key, ConfigError, FineTuneConfig};
use crate::trainer::{fine_tune, RunSummary};
use crate::TrainError;

/// Keys of a fine-tuning run, set in code; anything left out takes the TOML default.
#[derive(Debug, Clone)]
pub struct FineTune {
    table: Table,
    resume: bool,
}

impl FineTune {
    /// A run of `task` (e.g. `sequence-classification`) starting from `model` (a directory or
    /// hub id), writing into `output_dir`.
    pub fn new(task: &str, model: &str, output_dir: impl AsRef<Path>) -> Self {
        let mut builder = FineTune {
            table: Table::new(),
            resume: false,
        };
        builder.put("task", task.into());
        builder.put("model", model.into());
        let dir = output_dir.as_ref().to_string_lossy().to_string();
        builder.put("output_dir", dir.into());
        builder
    }

    /// Sets any config key by its dotted path (`training.warmup_ratio`, `data.labels`,
    /// `model.config.hidden_dropout_prob`).
    pub fn set(mut self, key: &str, value: impl Into<Value>) -> Self {
        self.put(key, value.into());
        self
    }

    /// `data.train`.
    pub fn train(self, path: impl AsRef<Path>) -> Self {
        let path = path.as_ref().to_string_lossy().to_string();
        self.set("data.train", path)
    }

    /// `data.validation`.
    pub fn validation(self, path: impl AsRef<Path>) -> Self {
        let path = path.as_ref().to_string_lossy().to_string();
        self.set("data.validation", path)
    }

    /// `training.epochs`.
    pub fn epochs(self, epochs: usize) -> Self {
        self.set("training.epochs", epochs as i64)
    }

    /// `training.batch_size` (rows per forward pass).
    pub fn batch_size(self, rows: usize) -> Self {
        self.set("training.batch_size", rows as i64)
    }

    /// `training.learning_rate`.
    pub fn learning_rate(self, rate: f64) -> Self {
        self.set("training.learning_rate", rate)
    }

    /// `training.seed`.
    pub fn seed(self, seed: u64) -> Self {
        self.set("training.seed", seed as i64)
    }

    /// `training.device` (`cpu`, `cuda:0`, ...).
    pub fn device(self, device: &str) -> Self {
        self.set("training.device", device)
    }

    /// `training.devices`: train on several devices at once (`batch_size` rows each).
    pub fn devices(self, devices: &[&str]) -> Self {
        let list: Vec<Value> = devices.iter().map(|d| Value::from(*d)).collect();
        self.set("training.devices", list)
    }

    /// Continue from the newest checkpoint in the output directory (`--resume`).
    pub fn resume(mut self, resume: bool) -> Self {
        self.resume = resume;
        self
    }

    /// The validated configuration, every problem reported at once as for a file.
    pub fn build(&self) -> Result<FineTuneConfig, ConfigError> {
        let text = toml::to_string(&self.table).unwrap_or_default();
        FineTuneConfig::parse(&text, Path::new("<FineTune>"), &[])
    }

    /// Builds the configuration and runs it to the end.
    pub fn run(&self) -> Result<RunSummary, TrainError> {
        fine_tune(&self.build()?, self.resume)
    }

    fn put(&mut self, key: &str, value: Value) {
        let parts: Vec<&str> = key.split('.').collect();
        if !set_key(&mut self.table, &parts, value.clone()) {
            // A plain value in the way (e.g. `data = 3` set before): replace it.
            self.table.remove(parts[0]);
            set_key(&mut self.table, &parts, value);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tasks::{self, sequence_classification::SequenceClassification};

    #[test]
    fn keys_set_in_code_are_validated_like_a_file() {
        let run = FineTune::new("sequence-classification", "models/m", "runs/x")
            .train("train.csv")
            .set("data.text_column", "sentence")
            .epochs(2)
            .learning_rate(3e-5);
        let config = run.build().unwrap();
        assert_eq!(config.training.epochs, 2);
        assert_eq!(config.training.learning_rate, 3e-5);
        assert_eq!(config.training.batch_size, 8, "the TOML default");
        let task: SequenceClassification = tasks::configure(&config).unwrap();
        assert_eq!(task.text_column, "sentence");
        let two = run.clone().devices(&["cpu", "cpu"]).build().unwrap();
        assert_eq!(two.training.devices, ["cpu", "cpu"]);
        let dropout = run.clone().set("model.config.hidden_dropout_prob", 0.0);
        match dropout.build().unwrap().model {
            crate::config::ModelSource::Pretrained { name, overrides } => {
                assert_eq!(name, "models/m");
                assert_eq!(overrides["hidden_dropout_prob"], 0.0);
            }
            other => panic!("{other:?}"),
        }
        let err = run
            .set("training.colour", "blue")
            .batch_size(0)
            .build()
            .unwrap_err()
            .to_string();
        assert!(err.contains("unknown key `training.colour`"), "{err}");
        assert!(
            err.contains("`training.batch_size`: must be at least 1"),
            "{err}"
        );
    }
}
