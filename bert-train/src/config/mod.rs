//! The fine-tuning configuration: a TOML file, `--set key=value` overrides, or the same structs
//! built in code.
//!
//! Each key is declared once, as a serde field with its default and its doc comment:
//! [`TrainingConfig`] is `[training]`, [`DataConfig`] the `[data]` keys of every task,
//! [`ModelTable`] `[model]`, and each task's own config type its top-level keys and its keys of
//! `[data]` (the `task` enum of `crate::tasks` lists them). A key left out takes its default,
//! transformers' `TrainingArguments` one where there is one. Reading reports every problem at
//! once: unknown keys with the closest valid one, values of the wrong type, values out of range
//! and keys that conflict. `bert-train config --keys` prints the reference generated from these
//! declarations ([`reference`], `docs/CONFIG.md`).

mod data;
mod model;
pub mod read;
pub mod reference;
mod training;

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use bert_data::readers::Format;
use schemars::JsonSchema;
use serde::de::DeserializeOwned;
use serde::Serialize;
use toml::{Table, Value};

pub use data::DataConfig;
pub use model::{ModelSource, ModelTable};
pub use read::{apply_overrides, set_key, Validate};
pub use training::{ProgressStyle, Schedule, TrainingConfig};

/// A configuration that could not be read or is not valid: every problem found, one per line.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read config {path}: {error}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Why (in the message, not repeated as a source).
        error: std::io::Error,
    },
    /// The text is not TOML.
    #[error("{path}: not valid TOML: {message}")]
    Syntax {
        /// The file.
        path: PathBuf,
        /// The parser's message (with line and column).
        message: String,
    },
    /// A `--set` override is malformed.
    #[error("--set {0}: expected KEY=VALUE with KEY like training.learning_rate")]
    Override(String),
    /// One or more keys are missing, unknown, of the wrong type or out of range.
    #[error("{path}: invalid config:\n{}", problems.iter().map(|p| format!("  - {p}")).collect::<Vec<_>>().join("\n"))]
    Invalid {
        /// The file.
        path: PathBuf,
        /// Every problem found.
        problems: Vec<String>,
    },
}

/// What the configuration needs of the task part (`crate::tasks::TaskConfig`): a serde type
/// tagged by `task`, holding the task's top-level keys and a `data` table of its `[data]` keys.
pub trait TaskKeys: Serialize + DeserializeOwned + JsonSchema + Clone + std::fmt::Debug {
    /// The task's name, as `task = "..."` writes it.
    fn name(&self) -> &'static str;
    /// The file formats the task reads.
    fn formats(&self) -> &'static [Format];
    /// The default of `data.max_seq_length`.
    fn max_seq_length(&self) -> usize;
    /// Problems of the task's own keys, each naming its key path.
    fn problems(&self) -> Vec<String>;
}

/// A whole fine-tuning configuration: the task part `T` and the keys every task shares.
#[derive(Debug, Clone, PartialEq)]
pub struct FineTuneConfig<T> {
    /// The task and its own keys (`task = "..."`, e.g. `problem_type`, `data.text_column`).
    pub task: T,
    /// The model to start from (`model`).
    pub model: ModelSource,
    /// Where checkpoints, metrics and the final model go (`output_dir`, required).
    pub output_dir: PathBuf,
    /// `[data]`: data files and how they are read.
    pub data: DataConfig,
    /// `[training]`: hyperparameters and the schedule.
    pub training: TrainingConfig,
}

/// The top-level keys every task has.
const TOP_KEYS: [&str; 5] = ["task", "model", "output_dir", "data", "training"];

impl<T: TaskKeys> FineTuneConfig<T> {
    /// A configuration of `task` from `model` into `output_dir`, every other key at its
    /// default; set `data.train` (and what else the run needs), then [`Self::check`].
    pub fn new(task: T, model: ModelSource, output_dir: impl Into<PathBuf>) -> Self {
        let data = DataConfig {
            max_seq_length: task.max_seq_length(),
            ..DataConfig::default()
        };
        FineTuneConfig {
            task,
            model,
            output_dir: output_dir.into(),
            data,
            training: TrainingConfig::default(),
        }
    }

    /// Reads `path`, applies `overrides` and validates the result.
    pub fn load(path: &Path, overrides: &[String]) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|error| ConfigError::Io {
            path: path.to_path_buf(),
            error,
        })?;
        Self::parse(&text, path, overrides)
    }

    /// Parses TOML text (`path` names it in errors), applies `overrides` and validates.
    pub fn parse(text: &str, path: &Path, overrides: &[String]) -> Result<Self, ConfigError> {
        let mut table: Table = text
            .parse()
            .map_err(|e: toml::de::Error| ConfigError::Syntax {
                path: path.to_path_buf(),
                message: e.to_string().trim().to_string(),
            })?;
        apply_overrides(&mut table, overrides)?;
        Self::from_table(table).map_err(|problems| ConfigError::Invalid {
            path: path.to_path_buf(),
            problems,
        })
    }

    /// Reads a parsed file; every problem when it is not valid.
    pub fn from_table(mut top: Table) -> Result<Self, Vec<String>> {
        let mut problems = Vec::new();
        let mut data = read::take_table(&mut top, "data", &mut problems);
        let training = read::take_table(&mut top, "training", &mut problems);
        let model = ModelSource::read(top.remove("model"), &mut problems);
        let output_dir = read_output_dir(top.remove("output_dir"), &mut problems);
        let common_data = keys_of::<DataConfig>();
        let shared: Table = common_data
            .iter()
            .filter_map(|k| data.remove(k).map(|v| (k.clone(), v)))
            .collect();
        // Left out, `data.max_seq_length` is the task's default (384 for question answering).
        let has_length = shared.contains_key("max_seq_length");
        let task = Self::read_task(top, data, &common_data, &mut problems);
        let data: Option<DataConfig> = read::read(shared, "data.", &[], &mut problems);
        let training: Option<TrainingConfig> =
            read::read(training, "training.", &[], &mut problems);
        problems.extend(part_problems(
            task.as_ref(),
            data.as_ref(),
            training.as_ref(),
        ));
        match (task, model, output_dir, data, training) {
            (Some(task), Some(model), Some(output_dir), Some(mut data), Some(training))
                if problems.is_empty() =>
            {
                if !has_length {
                    data.max_seq_length = task.max_seq_length();
                }
                Ok(FineTuneConfig {
                    task,
                    model,
                    output_dir,
                    data,
                    training,
                })
            }
            _ => Err(problems),
        }
    }

    /// The task part: what is left at the top (with `task`) and the `[data]` keys that no
    /// common key claimed.
    fn read_task(
        mut top: Table,
        data: Table,
        common_data: &[String],
        problems: &mut Vec<String>,
    ) -> Option<T> {
        if !top.contains_key("task") {
            problems.push("`task`: missing (required)".into());
            return None;
        }
        if !data.is_empty() {
            top.insert("data".into(), Value::Table(data));
        }
        let top_keys = TOP_KEYS.iter().map(|k| k.to_string()).collect();
        let also_valid = [("", top_keys), ("data", common_data.to_vec())];
        read::read(top, "", &also_valid, problems)
    }

    /// The range and cross-key checks of every part.
    pub fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        if self.output_dir.as_os_str().is_empty() {
            problems.push("`output_dir`: missing (required)".into());
        }
        problems.extend(part_problems(
            Some(&self.task),
            Some(&self.data),
            Some(&self.training),
        ));
        problems
    }

    /// Every problem of a configuration built in code, as for a file.
    pub fn check(&self) -> Result<(), ConfigError> {
        let problems = self.problems();
        if problems.is_empty() {
            return Ok(());
        }
        Err(ConfigError::Invalid {
            path: PathBuf::from("<FineTuneConfig>"),
            problems,
        })
    }

    /// Sets any key by its dotted path, as `--set` does (`training.warmup_ratio`,
    /// `data.labels`, `model.config.hidden_dropout_prob`), and checks the result.
    pub fn set(&mut self, key: &str, value: impl Into<Value>) -> Result<(), ConfigError> {
        let mut table = self.to_table();
        let parts: Vec<&str> = key.split('.').collect();
        if !set_key(&mut table, &parts, value.into()) {
            return Err(ConfigError::Override(key.to_string()));
        }
        *self = Self::from_table(table).map_err(|problems| ConfigError::Invalid {
            path: PathBuf::from("<FineTuneConfig>"),
            problems,
        })?;
        Ok(())
    }

    /// The configuration as a TOML table laid out as a file: every key, defaults included.
    pub fn to_table(&self) -> Table {
        let mut top = match Value::try_from(&self.task) {
            Ok(Value::Table(t)) => t,
            _ => Table::new(),
        };
        let mut data = read::take_table(&mut top, "data", &mut Vec::new());
        if let Ok(Value::Table(shared)) = Value::try_from(&self.data) {
            data.extend(shared);
        }
        top.insert("model".into(), self.model.to_toml());
        let dir = self.output_dir.to_string_lossy().to_string();
        top.insert("output_dir".into(), Value::String(dir));
        top.insert("data".into(), Value::Table(data));
        if let Ok(training) = Value::try_from(&self.training) {
            top.insert("training".into(), training);
        }
        top
    }

    /// The configuration as TOML text (written into the output directory): `task`, `model`
    /// and `output_dir` first, then the task's other top-level keys, then the tables.
    pub fn to_toml(&self) -> String {
        let mut table = self.to_table();
        let mut keys: Vec<String> = ["task", "model", "output_dir"].map(String::from).to_vec();
        let others = table
            .keys()
            .filter(|k| !keys.contains(k) && !TOP_KEYS.contains(&k.as_str()));
        keys.extend(others.cloned().collect::<Vec<_>>());
        keys.extend(["data", "training"].map(String::from));
        let (scalars, tables): (Vec<String>, Vec<String>) = keys
            .into_iter()
            .partition(|k| !matches!(table.get(k), Some(Value::Table(_))));
        let mut out = String::new();
        for key in scalars.into_iter().chain(tables) {
            if let Some(value) = table.remove(&key) {
                if value.is_table() && !out.is_empty() {
                    out.push('\n');
                }
                let single: Table = [(key, value)].into_iter().collect();
                out.push_str(&toml::to_string(&single).unwrap_or_default());
            }
        }
        out
    }

    /// A short human summary of the run (for the first lines of output); `task` describes the
    /// task with its options.
    pub fn summary(&self, task: &str) -> String {
        let t = &self.training;
        let mut out = String::new();
        let _ = write!(
            out,
            "task {task}, lr {}, batch {} x {} accumulation, ",
            t.learning_rate, t.batch_size, t.gradient_accumulation_steps
        );
        let _ = match t.max_steps {
            Some(n) => write!(out, "{n} steps"),
            None => write!(out, "{} epochs", t.epochs),
        };
        let _ = write!(out, ", seed {}", t.seed);
        if t.data_seed() != t.seed {
            let _ = write!(out, ", data seed {}", t.data_seed());
        }
        let devices = t.devices();
        let _ = match devices.len() {
            1 => write!(out, ", device {}", devices[0]),
            _ => write!(out, ", devices {}", devices.join(", ")),
        };
        out
    }
}

/// `output_dir`, which must be a string.
fn read_output_dir(value: Option<Value>, problems: &mut Vec<String>) -> Option<PathBuf> {
    match value {
        Some(Value::String(dir)) => Some(PathBuf::from(dir)),
        Some(other) => {
            let found = other.type_str();
            problems.push(format!("`output_dir`: expected a string, found {found}"));
            None
        }
        None => {
            problems.push("`output_dir`: missing (required)".into());
            None
        }
    }
}

/// The checks of the parts that could be read: each part's own, and the data format against
/// the formats the task reads.
fn part_problems<T: TaskKeys>(
    task: Option<&T>,
    data: Option<&DataConfig>,
    training: Option<&TrainingConfig>,
) -> Vec<String> {
    let mut problems = task.map(T::problems).unwrap_or_default();
    problems.extend(data.map(Validate::problems).unwrap_or_default());
    if let (Some(task), Some(format)) = (task, data.and_then(|d| d.format)) {
        if !task.formats().contains(&format) {
            let names: Vec<String> = task.formats().iter().map(|f| format_name(*f)).collect();
            problems.push(format!(
                "`data.format`: {} reads {}",
                task.name(),
                names.join(", ")
            ));
        }
    }
    problems.extend(training.map(Validate::problems).unwrap_or_default());
    problems
}

/// The keys of the struct `S` (from its schema).
pub fn keys_of<S: JsonSchema>() -> Vec<String> {
    let root = read::schema_of::<S>();
    read::properties(&root, &root, &Table::new())
        .keys()
        .cloned()
        .collect()
}

/// A format as configs write it (`csv`, `jsonl`, ...).
pub fn format_name(format: Format) -> String {
    serde_json::to_value(format)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default()
}
