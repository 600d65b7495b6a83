//! Fine-tuning BERT: the training loop, its configuration, checkpoints, metrics and export.
//!
//! The `bert-train` binary is a thin command line over this library; [`config::FineTuneConfig`]
//! holds a run's keys (read from TOML, or built in code) and [`fine_tune`] runs it. Each task is a module of
//! [`tasks`] implementing [`tasks::Task`]: its config keys, readers, features, batches, head,
//! loss and metrics. Training runs inside burn-train's `Learner` ([`trainer`]); the library
//! prints nothing (a run reports to a [`trainer::events::Session`]; only the preparation of a text
//! corpus draws a progress bar on stderr, when [`tasks::LoadContext::progress`] asks). A custom loop can use the
//! same pieces: a task's `load`, `gather`, `to_device` and `forward`, [`optim::AdamW`] in burn's
//! `ModuleOptimizer`, [`optim::LrSchedule`] and [`optim::clip_grad_norm`] for the update, and
//! [`tasks::evaluate`] for scores (see `examples/custom_loop.rs`).
//!
//! A run configured in code (the README's example):
//!
//! ```no_run
//! use bert_train::config::{FineTuneConfig, ModelSource};
//! use bert_train::tasks::TaskConfig;
//!
//! let task = TaskConfig::named("multiple-choice").unwrap();
//! let model = ModelSource::pretrained("models/all-MiniLM-L6-v2");
//! let mut config = FineTuneConfig::new(task, model, "runs/choice");
//! config.data.train = "data/lee-choice/train.jsonl".into();
//! config.data.validation = Some("data/lee-choice/dev.jsonl".into());
//! config.training.learning_rate = 1e-4;
//! config.set("data.max_seq_length", 64)?; // any key by its path, as --set
//! let summary = bert_train::fine_tune(&config, false)?; // checks every key first
//! println!("{:?}", summary.validation);
//! # Ok::<(), bert_train::TrainError>(())
//! ```

// `tasks` first: its `with_task!` macro is used by the modules after it.
#[macro_use]
pub mod tasks;

pub mod allocator;
pub mod config;
pub mod corpus;
pub mod distributed;
pub mod embed;
pub mod export;
pub mod metrics;
pub mod model_parts;
pub mod optim;
pub mod plot;
pub mod predict;
pub mod trainer;

use std::path::PathBuf;

pub use config::FineTuneConfig;
pub use tasks::TaskConfig;
pub use trainer::events::{Reporter, RunEvent, Session};
pub use trainer::{fine_tune, fine_tune_with, RunSummary, Start};

/// Anything that stops a run: bad configuration, bad data, a model that does not load, a
/// checkpoint that cannot be written.
#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    /// The configuration.
    #[error(transparent)]
    Config(#[from] config::ConfigError),
    /// A data file.
    #[error(transparent)]
    Data(#[from] bert_data::readers::DataError),
    /// A row that reads but cannot be used (label, tag count, encoding).
    #[error("{path}:{line}: {message}")]
    Row {
        /// The file.
        path: PathBuf,
        /// 1-based line (0 for the whole file).
        line: usize,
        /// What is wrong.
        message: String,
    },
    /// Prepared corpus shards.
    #[error(transparent)]
    Shards(#[from] bert_data::shards::ShardError),
    /// The tokenizer files.
    #[error(transparent)]
    Tokenizer(#[from] bert_data::TokenizerError),
    /// The model files.
    #[error(transparent)]
    Pretrained(#[from] bert_model::PretrainedError),
    /// The weights do not fit the configuration.
    #[error(transparent)]
    Load(#[from] bert_model::LoadError),
    /// Reading or writing weights.
    #[error(transparent)]
    Weights(#[from] bert_model::WeightsError),
    /// The device.
    #[error(transparent)]
    Device(#[from] bert_model::DeviceError),
    /// Reading or writing a run's files.
    #[error("{path}: {error}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The cause (in the message, not repeated as a source).
        error: std::io::Error,
    },
    /// The run stopped on request (a signal, `q`) after writing a checkpoint.
    #[error(
        "stopped at step {step} on request; the checkpoint is in {}, and `--resume` continues \
         the run",
        checkpoints.display()
    )]
    Stopped {
        /// The last step taken.
        step: usize,
        /// The run's checkpoint folder.
        checkpoints: PathBuf,
    },
    /// A checkpoint or run directory that cannot be used.
    #[error("{0}")]
    Run(String),
    /// A file of a model directory that cannot be used (sentence-transformers' configs).
    #[error("{path}: {message}")]
    ModelFile {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
}

impl TrainError {
    /// An I/O error on `path`.
    pub fn io(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> TrainError {
        let path = path.into();
        move |error| TrainError::Io { path, error }
    }
}

/// An error and its causes, as one line (`cannot write X: No space left on device`), for
/// messages that carry it as text.
pub fn error_chain(error: &dyn std::error::Error) -> String {
    let mut line = error.to_string();
    let mut cause = error.source();
    while let Some(e) = cause {
        let text = e.to_string();
        if !line.ends_with(&text) {
            line = format!("{line}: {text}");
        }
        cause = e.source();
    }
    line
}
