//! The fine-tuning configuration: a TOML file, with `--set key=value` overrides.
//!
//! Every key is checked in one pass, so that one run reports every mistake at once: unknown
//! keys (with the valid ones of their table), values of the wrong type, and values out of range.
//! A key left out takes the default of transformers' `Trainer` / `TrainingArguments`, so that a
//! run here and one there with the same file agree.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use bert_data::readers::{Format, OnBadRow};
use bert_model::BertConfig;
use toml::{Table, Value};

use crate::tasks::{self, Task, TaskFn, TaskInfo};

/// A configuration that could not be read or is not valid: every problem found, one per line.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read config {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
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

/// Where the model comes from.
#[derive(Debug, Clone)]
pub enum ModelSource {
    /// A pretrained checkpoint: a directory in the HF layout or a hub id (`model = "..."`, or
    /// `[model] pretrained = "..."`), with keys of its config.json replaced by `overrides`
    /// (`[model] config = { hidden_dropout_prob = 0.0 }`).
    Pretrained {
        /// The directory or hub id.
        name: String,
        /// config.json keys to replace.
        overrides: serde_json::Map<String, serde_json::Value>,
    },
    /// Random initialisation from a config (`[model.config]`), with the tokenizer of a model
    /// directory or a `vocab.txt` (`model.tokenizer`).
    Random {
        /// The architecture.
        config: Box<BertConfig>,
        /// A model directory or a vocab.txt.
        tokenizer: String,
    },
}

/// The learning-rate schedule after warmup.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Schedule {
    /// Linear decay to 0 at the last step (transformers' default).
    Linear,
    /// Half a cosine wave down to 0.
    Cosine,
    /// Constant.
    Constant,
}

/// How a run shows its progress.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProgressStyle {
    /// burn-train's terminal UI when stdout is a terminal, plain lines otherwise.
    Auto,
    /// Always burn-train's terminal UI (stdout must be a terminal).
    Tui,
    /// Always plain lines.
    Plain,
}

/// The `[data]` table.
#[derive(Debug, Clone)]
pub struct DataConfig {
    /// Training file.
    pub train: PathBuf,
    /// Validation file (evaluated during training and at the end).
    pub validation: Option<PathBuf>,
    /// Test file (evaluated at the end).
    pub test: Option<PathBuf>,
    /// File format; from each file's extension when not given.
    pub format: Option<Format>,
    /// Maximum tokens per row, `[CLS]` and `[SEP]` included.
    pub max_seq_length: usize,
    /// What to do with malformed rows.
    pub on_bad_row: OnBadRow,
    /// Use only the first N training rows.
    pub max_train_rows: Option<usize>,
    /// Use only the first N rows of the validation and test files.
    pub max_eval_rows: Option<usize>,
}

/// The `[training]` table. Defaults are transformers' `TrainingArguments` defaults.
#[derive(Debug, Clone)]
pub struct TrainingConfig {
    /// Passes over the training data (default 3).
    pub epochs: usize,
    /// Optimizer steps in all; wins over `epochs` when set.
    pub max_steps: Option<usize>,
    /// Rows per forward pass (default 8).
    pub batch_size: usize,
    /// Rows per evaluation batch (default 8).
    pub eval_batch_size: usize,
    /// Forward passes per optimizer step (default 1).
    pub gradient_accumulation_steps: usize,
    /// Peak learning rate (default 5e-5).
    pub learning_rate: f64,
    /// AdamW decoupled weight decay (default 0); biases and LayerNorm weights are never decayed.
    pub weight_decay: f64,
    /// AdamW beta1 (default 0.9).
    pub adam_beta1: f64,
    /// AdamW beta2 (default 0.999).
    pub adam_beta2: f64,
    /// AdamW epsilon (default 1e-8).
    pub adam_epsilon: f64,
    /// Warmup as a fraction of the total steps (default 0).
    pub warmup_ratio: f64,
    /// Warmup steps; wins over `warmup_ratio` when set.
    pub warmup_steps: Option<usize>,
    /// Schedule after warmup (default linear).
    pub lr_scheduler: Schedule,
    /// Clip gradients to this global L2 norm (default 1.0; 0 turns clipping off).
    pub max_grad_norm: f64,
    /// Seed of the head's initialisation and dropout, and of the data unless `data_seed` is
    /// given (default 42).
    pub seed: u64,
    /// Seed of the data: epoch order, masked-LM masks and pre-training instances (default:
    /// `seed`), as Trainer's `data_seed`. Fixing it while `seed` changes varies dropout alone.
    pub data_seed: u64,
    /// Device (any `--device` value of `predict`; default cpu); with `devices`, the first of them
    /// (the one that holds the optimizer and evaluates).
    pub device: String,
    /// Devices that train together, each on `batch_size` rows per forward pass (global batch =
    /// batch size x devices x accumulation); `[device]` when the config names one device.
    pub devices: Vec<String>,
    /// Evaluate every N optimizer steps; 0 at the end of each epoch.
    pub eval_every_steps: usize,
    /// Checkpoint every N optimizer steps; 0 at the end of each epoch.
    pub checkpoint_every_steps: usize,
    /// Checkpoints kept (the newest ones; default 2).
    pub keep_checkpoints: usize,
    /// Log the training loss every N optimizer steps (default 10).
    pub log_every_steps: usize,
    /// Batch rows of similar length together (default false).
    pub group_by_length: bool,
    /// Threads preparing batches ahead of the model (default 1; 0 prepares them inline).
    pub loader_workers: usize,
    /// Stop when the validation metric has not improved for N evaluations (default: never).
    pub early_stopping_patience: Option<usize>,
    /// The metric that picks the best evaluation and drives early stopping (default: the
    /// validation loss, or the task's main metric when given, e.g. "f1").
    pub metric_for_best_model: Option<String>,
    /// `auto` (default), `tui` or `plain`.
    pub progress: ProgressStyle,
}

impl DataConfig {
    /// The format of `path`: `format` when set, else from the file's extension.
    pub fn format_of(&self, path: &Path) -> Result<Format, bert_data::readers::DataError> {
        match self.format {
            Some(f) => Ok(f),
            None => Format::from_path(path),
        }
    }
}

/// The keys a task owns (see [`crate::tasks::Task::TOP_KEYS`] and `DATA_KEYS`), as written;
/// the task reads them itself.
#[derive(Debug, Clone, Default)]
pub struct TaskKeys {
    /// Its top-level keys.
    pub top: Table,
    /// Its keys in `[data]`.
    pub data: Table,
}

/// A whole fine-tuning configuration.
#[derive(Debug, Clone)]
pub struct FineTuneConfig {
    /// The task's name (one of [`crate::tasks::all`]).
    pub task: String,
    /// The task's own keys.
    pub task_keys: TaskKeys,
    /// The model to start from.
    pub model: ModelSource,
    /// Where checkpoints, metrics and the final model go.
    pub output_dir: PathBuf,
    /// Data files and columns.
    pub data: DataConfig,
    /// Hyperparameters and the training schedule.
    pub training: TrainingConfig,
    /// The configuration as TOML (overrides applied), copied into the output directory.
    pub text: String,
}

/// Top-level keys of every task (a task adds its own after `task`).
pub const TOP_KEYS: &[&str] = &["task", "model", "output_dir", "data", "training"];
/// Keys of `[data]` for every task (a task adds its own).
pub const DATA_KEYS: &[&str] = &[
    "train",
    "validation",
    "test",
    "format",
    "max_seq_length",
    "on_bad_row",
    "max_train_rows",
    "max_eval_rows",
];
const TRAINING_KEYS: &[&str] = &[
    "epochs",
    "max_steps",
    "batch_size",
    "eval_batch_size",
    "gradient_accumulation_steps",
    "learning_rate",
    "weight_decay",
    "adam_beta1",
    "adam_beta2",
    "adam_epsilon",
    "warmup_ratio",
    "warmup_steps",
    "lr_scheduler",
    "max_grad_norm",
    "seed",
    "data_seed",
    "device",
    "devices",
    "eval_every_steps",
    "checkpoint_every_steps",
    "keep_checkpoints",
    "log_every_steps",
    "group_by_length",
    "loader_workers",
    "early_stopping_patience",
    "metric_for_best_model",
    "progress",
];
const MODEL_KEYS: &[&str] = &["pretrained", "config", "tokenizer"];

/// Reads one table's keys, noting every problem instead of stopping at the first.
pub struct Section<'a> {
    name: &'static str,
    table: Table,
    known: Vec<&'static str>,
    problems: &'a mut Vec<String>,
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::String(_) => "a string",
        Value::Integer(_) => "an integer",
        Value::Float(_) => "a float",
        Value::Boolean(_) => "a boolean",
        Value::Datetime(_) => "a date",
        Value::Array(_) => "an array",
        Value::Table(_) => "a table",
    }
}

impl<'a> Section<'a> {
    /// A section named `name` (`""` for the top level) whose valid keys are `known`.
    pub fn new(
        name: &'static str,
        table: Table,
        known: Vec<&'static str>,
        problems: &'a mut Vec<String>,
    ) -> Self {
        Section {
            name,
            table,
            known,
            problems,
        }
    }

    fn path(&self, key: &str) -> String {
        if self.name.is_empty() {
            key.to_string()
        } else {
            format!("{}.{key}", self.name)
        }
    }

    fn wrong(&mut self, key: &str, expected: &str, found: &Value) {
        let message = format!(
            "`{}`: expected {expected}, found {} ({found})",
            self.path(key),
            type_name(found)
        );
        self.problems.push(message);
    }

    /// Notes a problem with `key`.
    pub fn problem(&mut self, key: &str, message: impl std::fmt::Display) {
        let message = format!("`{}`: {message}", self.path(key));
        self.problems.push(message);
    }

    /// Takes `key` as it was written.
    pub fn raw(&mut self, key: &str) -> Option<Value> {
        debug_assert!(self.known.contains(&key), "{key} is listed");
        self.table.remove(key)
    }

    /// Takes a string.
    pub fn string(&mut self, key: &str) -> Option<String> {
        match self.raw(key)? {
            Value::String(s) => Some(s),
            other => {
                self.wrong(key, "a string", &other);
                None
            }
        }
    }

    /// Takes a string that must be there.
    pub fn required_string(&mut self, key: &str) -> Option<String> {
        let value = self.string(key);
        if value.is_none() && !self.problems.iter().any(|p| p.contains(&self.path(key))) {
            self.problem(key, "missing (required)");
        }
        value
    }

    /// Takes a non-negative integer.
    pub fn count(&mut self, key: &str) -> Option<usize> {
        match self.raw(key)? {
            Value::Integer(i) if i >= 0 => Some(i as usize),
            other => {
                self.wrong(key, "a non-negative integer", &other);
                None
            }
        }
    }

    /// Takes a number.
    pub fn number(&mut self, key: &str) -> Option<f64> {
        match self.raw(key)? {
            Value::Float(f) => Some(f),
            Value::Integer(i) => Some(i as f64),
            other => {
                self.wrong(key, "a number", &other);
                None
            }
        }
    }

    /// Takes a boolean.
    pub fn boolean(&mut self, key: &str) -> Option<bool> {
        match self.raw(key)? {
            Value::Boolean(b) => Some(b),
            other => {
                self.wrong(key, "true or false", &other);
                None
            }
        }
    }

    /// Takes an array of strings (integers are taken as their text).
    pub fn strings(&mut self, key: &str) -> Option<Vec<String>> {
        match self.raw(key)? {
            Value::Array(items) => {
                let mut out = Vec::new();
                for item in &items {
                    match item {
                        Value::String(s) => out.push(s.clone()),
                        Value::Integer(i) => out.push(i.to_string()),
                        other => {
                            self.wrong(key, "an array of strings", other);
                            return None;
                        }
                    }
                }
                Some(out)
            }
            other => {
                self.wrong(key, "an array of strings", &other);
                None
            }
        }
    }

    /// A number within `[low, high]`.
    pub fn ranged(&mut self, key: &str, low: f64, high: f64) -> Option<f64> {
        let v = self.number(key)?;
        if !(low..=high).contains(&v) {
            self.problem(key, format!("{v} is outside [{low}, {high}]"));
            return None;
        }
        Some(v)
    }

    /// Takes the keys in `keys` out, as a table of their own.
    pub fn take(&mut self, keys: &[&str]) -> Table {
        keys.iter()
            .filter_map(|k| self.table.remove(*k).map(|v| (k.to_string(), v)))
            .collect()
    }

    /// Reports the keys nobody asked for.
    pub fn finish(self) {
        let table = if self.name.is_empty() {
            "the top level".to_string()
        } else {
            format!("[{}]", self.name)
        };
        for key in self.table.keys() {
            self.problems.push(format!(
                "unknown key `{}` in {table}; valid keys: {}",
                if self.name.is_empty() {
                    key.clone()
                } else {
                    format!("{}.{key}", self.name)
                },
                self.known.join(", ")
            ));
        }
    }
}

fn sub_table(value: Option<Value>, name: &str, problems: &mut Vec<String>) -> Table {
    match value {
        None => Table::new(),
        Some(Value::Table(t)) => t,
        Some(other) => {
            problems.push(format!(
                "`{name}`: expected a table, found {}",
                type_name(&other)
            ));
            Table::new()
        }
    }
}

/// Applies `key=value` overrides (`training.learning_rate=3e-5`, `output_dir=runs/x`): the value
/// is read as TOML, or taken as a string when it is not TOML (`device=cpu`).
pub fn apply_overrides(table: &mut Table, overrides: &[String]) -> Result<(), ConfigError> {
    for item in overrides {
        let Some((key, raw)) = item.split_once('=') else {
            return Err(ConfigError::Override(item.clone()));
        };
        let parts: Vec<&str> = key.trim().split('.').collect();
        if parts.iter().any(|p| p.is_empty()) {
            return Err(ConfigError::Override(item.clone()));
        }
        let raw = raw.trim();
        let value = match format!("v = {raw}").parse::<Table>() {
            Ok(mut t) => t.remove("v").unwrap_or(Value::String(raw.to_string())),
            Err(_) => Value::String(raw.to_string()),
        };
        if !set_key(table, &parts, value) {
            return Err(ConfigError::Override(item.clone()));
        }
    }
    Ok(())
}

/// Sets the key at the dotted path `parts` (tables made as needed); `false` when a non-table
/// value is in the way. `model = "name"` becomes `[model] pretrained = "name"` when a key under
/// `model` is set.
pub fn set_key(table: &mut Table, parts: &[&str], value: Value) -> bool {
    let Some((last, parents)) = parts.split_last() else {
        return false;
    };
    let mut current = table;
    for part in parents {
        let entry = current
            .entry(part.to_string())
            .or_insert_with(|| Value::Table(Table::new()));
        if let (Value::String(name), true) = (&*entry, *part == "model") {
            let name = name.clone();
            let mut promoted = Table::new();
            promoted.insert("pretrained".to_string(), Value::String(name));
            *entry = Value::Table(promoted);
        }
        current = match entry {
            Value::Table(t) => t,
            _ => return false,
        };
    }
    current.insert(last.to_string(), value);
    true
}

impl FineTuneConfig {
    /// Reads `path`, applies `overrides` and validates the result.
    pub fn load(path: &Path, overrides: &[String]) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Io {
            path: path.to_path_buf(),
            source,
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
        let merged = toml::to_string(&table).unwrap_or_else(|_| text.to_string());
        let mut problems = Vec::new();
        let config = Self::validate(table, &mut problems);
        match config {
            Some(mut config) if problems.is_empty() => {
                config.text = merged;
                Ok(config)
            }
            _ => Err(ConfigError::Invalid {
                path: path.to_path_buf(),
                problems,
            }),
        }
    }

    fn validate(table: Table, problems: &mut Vec<String>) -> Option<Self> {
        let named = match table.get("task") {
            Some(Value::String(name)) => tasks::find(name),
            _ => None,
        };
        // The keys of the named task; of every task while the task is unknown, so that only
        // the task itself is reported.
        let (task_top, task_data): (Vec<&'static str>, Vec<&'static str>) = match named {
            Some(info) => (info.top_keys.to_vec(), info.data_keys.to_vec()),
            None => {
                let all = tasks::all();
                let mut top: Vec<_> = all
                    .iter()
                    .flat_map(|t| t.top_keys.iter().copied())
                    .collect();
                let mut data: Vec<_> = all
                    .iter()
                    .flat_map(|t| t.data_keys.iter().copied())
                    .collect();
                for keys in [&mut top, &mut data] {
                    let mut seen = std::collections::HashSet::new();
                    keys.retain(|k| seen.insert(*k));
                }
                (top, data)
            }
        };
        let mut known_top = vec![TOP_KEYS[0]];
        known_top.extend(&task_top);
        known_top.extend(&TOP_KEYS[1..]);
        let mut top = Section::new("", table, known_top, problems);
        let task = Self::task_name(&mut top);
        let mut task_keys = TaskKeys {
            top: top.take(&task_top),
            data: Table::new(),
        };
        let model_value = top.raw("model");
        let output_dir = top.required_string("output_dir").map(PathBuf::from);
        let data_table = top.raw("data");
        let training_table = top.raw("training");
        top.finish();

        let model = Self::model(model_value, problems);

        let mut data_section = Section::new(
            "data",
            sub_table(data_table, "data", problems),
            DATA_KEYS.iter().chain(&task_data).copied().collect(),
            problems,
        );
        task_keys.data = data_section.take(&task_data);
        let data = Self::data(data_section, named);
        let training = Self::training(sub_table(training_table, "training", problems), problems);
        if let Some(name) = &task {
            let check = CheckTask {
                keys: task_keys.clone(),
                problems,
            };
            tasks::by_name(name, check);
        }
        Some(FineTuneConfig {
            task: task?,
            task_keys,
            model: model?,
            output_dir: output_dir?,
            data: data?,
            training: training?,
            text: String::new(),
        })
    }

    fn model(value: Option<Value>, problems: &mut Vec<String>) -> Option<ModelSource> {
        let table = match value {
            Some(Value::String(name)) => {
                let overrides = serde_json::Map::new();
                return Some(ModelSource::Pretrained { name, overrides });
            }
            Some(Value::Table(t)) => t,
            Some(other) => {
                problems.push(format!(
                    "`model`: expected a path or hub id, or a [model] table, found {}",
                    type_name(&other)
                ));
                return None;
            }
            None => {
                problems.push("`model`: missing (required)".into());
                return None;
            }
        };
        let mut section = Section::new("model", table, MODEL_KEYS.to_vec(), problems);
        let pretrained = section.string("pretrained");
        let config = section.raw("config");
        let tokenizer = match pretrained {
            Some(_) => {
                if section.raw("tokenizer").is_some() {
                    section.problem("tokenizer", "not with `pretrained`, which brings its own");
                }
                None
            }
            None => section.required_string("tokenizer"),
        };
        section.finish();
        let config = match config {
            Some(Value::Table(t)) => t,
            Some(other) => {
                problems.push(format!(
                    "`model.config`: expected a table, found {}",
                    type_name(&other)
                ));
                return None;
            }
            None if pretrained.is_some() => Table::new(),
            None => {
                problems.push("`model.config`: missing (a table of config.json keys)".into());
                return None;
            }
        };
        let json = serde_json::to_value(&config).unwrap_or_default();
        let here = Path::new("[model.config]");
        match (pretrained, tokenizer) {
            (Some(name), _) => {
                // Each key must have its type; the values are checked with the model's own
                // config.json when the run starts.
                let serde_json::Value::Object(overrides) = json else {
                    return None;
                };
                let before = problems.len();
                for (key, value) in &overrides {
                    if let Some(problem) = override_problem(key, value) {
                        problems.push(format!("`model.config.{key}`: {problem}"));
                    }
                }
                (problems.len() == before).then_some(ModelSource::Pretrained { name, overrides })
            }
            (None, Some(tokenizer)) => match BertConfig::from_json_str(&json.to_string(), here) {
                Ok(config) => Some(ModelSource::Random {
                    config: Box::new(config),
                    tokenizer,
                }),
                Err(e) => {
                    problems.push(format!("`model.config`: {e}"));
                    None
                }
            },
            (None, None) => None,
        }
    }

    fn task_name(top: &mut Section) -> Option<String> {
        let name = top.string("task");
        match name.as_deref() {
            Some(name) if tasks::find(name).is_some() => return Some(name.to_string()),
            Some(other) => {
                let known: Vec<&str> = tasks::all().iter().map(|t| t.name).collect();
                let known = known.join(", ");
                top.problem(
                    "task",
                    format!("unknown task `{other}`; expected one of {known}"),
                );
            }
            None => {
                if !top.problems.iter().any(|p| p.contains("`task`")) {
                    top.problem("task", "missing (required)");
                }
            }
        }
        None
    }

    fn data(mut s: Section, task: Option<TaskInfo>) -> Option<DataConfig> {
        let train = s.required_string("train").map(PathBuf::from);
        let validation = s.string("validation").map(PathBuf::from);
        let test = s.string("test").map(PathBuf::from);
        let format = match s.string("format").as_deref() {
            None => None,
            Some("csv") => Some(Format::Csv),
            Some("tsv") => Some(Format::Tsv),
            Some("jsonl") => Some(Format::Jsonl),
            Some("conll") => Some(Format::Conll),
            Some("text") => Some(Format::Text),
            Some(other) => {
                s.problem(
                    "format",
                    format!("unknown `{other}`; expected csv, tsv, jsonl, conll or text"),
                );
                None
            }
        };
        if let (Some(f), Some(task)) = (format, task) {
            if !task.formats.contains(&f) {
                let names: Vec<String> = task
                    .formats
                    .iter()
                    .map(|f| format!("{f:?}").to_lowercase())
                    .collect();
                s.problem(
                    "format",
                    format!("{} reads {}", task.name, names.join(", ")),
                );
            }
        }
        let default_length = task.map_or(128, |t| t.max_seq_length);
        let max_seq_length = s.count("max_seq_length").unwrap_or(default_length);
        if max_seq_length < 3 {
            s.problem(
                "max_seq_length",
                "must be at least 3 ([CLS], a token, [SEP])",
            );
        }
        let on_bad_row = match s.string("on_bad_row").as_deref() {
            None | Some("error") => OnBadRow::Error,
            Some("skip") => OnBadRow::Skip,
            Some(other) => {
                s.problem(
                    "on_bad_row",
                    format!("unknown `{other}`; expected error or skip"),
                );
                OnBadRow::Error
            }
        };
        let max_train_rows = s.count("max_train_rows");
        let max_eval_rows = s.count("max_eval_rows");
        s.finish();
        Some(DataConfig {
            train: train?,
            validation,
            test,
            format,
            max_seq_length,
            on_bad_row,
            max_train_rows,
            max_eval_rows,
        })
    }

    fn training(table: Table, problems: &mut Vec<String>) -> Option<TrainingConfig> {
        let mut s = Section::new("training", table, TRAINING_KEYS.to_vec(), problems);
        let positive = |s: &mut Section, key: &str, default: usize| {
            let v = s.count(key).unwrap_or(default);
            if v == 0 {
                s.problem(key, "must be at least 1");
            }
            v.max(1)
        };
        let epochs = s.count("epochs").unwrap_or(3);
        let max_steps = s.count("max_steps");
        if epochs == 0 && max_steps.is_none() {
            s.problem("epochs", "must be at least 1 (or set max_steps)");
        }
        if max_steps == Some(0) {
            s.problem("max_steps", "must be at least 1");
        }
        let batch_size = positive(&mut s, "batch_size", 8);
        let eval_batch_size = positive(&mut s, "eval_batch_size", 8);
        let gradient_accumulation_steps = positive(&mut s, "gradient_accumulation_steps", 1);
        let learning_rate = s.ranged("learning_rate", 0.0, 1.0).unwrap_or(5e-5);
        let weight_decay = s.ranged("weight_decay", 0.0, 1.0).unwrap_or(0.0);
        let adam_beta1 = s.ranged("adam_beta1", 0.0, 0.999_999).unwrap_or(0.9);
        let adam_beta2 = s.ranged("adam_beta2", 0.0, 0.999_999_999).unwrap_or(0.999);
        let adam_epsilon = s.ranged("adam_epsilon", 0.0, 1.0).unwrap_or(1e-8);
        let warmup_ratio = s.ranged("warmup_ratio", 0.0, 1.0).unwrap_or(0.0);
        let warmup_steps = s.count("warmup_steps");
        let lr_scheduler = match s.string("lr_scheduler").as_deref() {
            None | Some("linear") => Schedule::Linear,
            Some("cosine") => Schedule::Cosine,
            Some("constant") => Schedule::Constant,
            Some(other) => {
                s.problem(
                    "lr_scheduler",
                    format!("unknown `{other}`; expected linear, cosine or constant"),
                );
                Schedule::Linear
            }
        };
        let max_grad_norm = s.ranged("max_grad_norm", 0.0, f64::MAX).unwrap_or(1.0);
        let seed = s.count("seed").unwrap_or(42) as u64;
        let data_seed = s.count("data_seed").map_or(seed, |d| d as u64);
        let (device, devices) = devices(&mut s);
        let eval_every_steps = s.count("eval_every_steps").unwrap_or(0);
        let checkpoint_every_steps = s.count("checkpoint_every_steps").unwrap_or(500);
        let keep_checkpoints = positive(&mut s, "keep_checkpoints", 2);
        let log_every_steps = positive(&mut s, "log_every_steps", 10);
        let group_by_length = s.boolean("group_by_length").unwrap_or(false);
        let loader_workers = s.count("loader_workers").unwrap_or(1);
        let early_stopping_patience = s.count("early_stopping_patience");
        let metric_for_best_model = s.string("metric_for_best_model");
        let progress = match s.string("progress").as_deref() {
            None | Some("auto") => ProgressStyle::Auto,
            Some("tui") => ProgressStyle::Tui,
            Some("plain") => ProgressStyle::Plain,
            Some(other) => {
                s.problem(
                    "progress",
                    format!("unknown `{other}`; expected auto, tui or plain"),
                );
                ProgressStyle::Auto
            }
        };
        s.finish();
        Some(TrainingConfig {
            epochs,
            max_steps,
            batch_size,
            eval_batch_size,
            gradient_accumulation_steps,
            learning_rate,
            weight_decay,
            adam_beta1,
            adam_beta2,
            adam_epsilon,
            warmup_ratio,
            warmup_steps,
            lr_scheduler,
            max_grad_norm,
            seed,
            data_seed,
            device,
            devices,
            eval_every_steps,
            checkpoint_every_steps,
            keep_checkpoints,
            log_every_steps,
            group_by_length,
            loader_workers,
            early_stopping_patience,
            metric_for_best_model,
            progress,
        })
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
        match t.max_steps {
            Some(n) => {
                let _ = write!(out, "{n} steps");
            }
            None => {
                let _ = write!(out, "{} epochs", t.epochs);
            }
        }
        let _ = write!(out, ", seed {}", t.seed);
        if t.data_seed != t.seed {
            let _ = write!(out, ", data seed {}", t.data_seed);
        }
        match t.devices.len() {
            0 | 1 => {
                let _ = write!(out, ", device {}", t.device);
            }
            _ => {
                let _ = write!(out, ", devices {}", t.devices.join(", "));
            }
        }
        out
    }
}

/// Why `key = value` cannot override a pretrained model's config.json, if it cannot: a key
/// BertConfig does not know (a typo would change nothing), a value of the wrong type, or a key
/// the task sets itself.
fn override_problem(key: &str, value: &serde_json::Value) -> Option<String> {
    if [
        "num_labels",
        "id2label",
        "label2id",
        "problem_type",
        "architectures",
    ]
    .contains(&key)
    {
        return Some("set by the task (labels from the data, `problem_type` at the top)".into());
    }
    match serde_json::from_value::<BertConfig>(serde_json::json!({ key: value })) {
        Err(e) => Some(e.to_string()),
        Ok(parsed) if !parsed.extra.is_empty() => {
            Some("not a key of BERT's config.json (hidden_dropout_prob, ...)".into())
        }
        Ok(_) => None,
    }
}

/// Checks a task's own keys by configuring it.
struct CheckTask<'a> {
    keys: TaskKeys,
    problems: &'a mut Vec<String>,
}

impl TaskFn for CheckTask<'_> {
    type Output = ();
    fn call<T: Task>(self) {
        let _ = tasks::configure_from::<T>(self.keys.top, self.keys.data, self.problems);
    }
}

/// `device` or `devices` of `[training]`: the main device and the list (one of the two keys).
fn devices(s: &mut Section) -> (String, Vec<String>) {
    let one = s.string("device");
    let many = s.strings("devices");
    let list = match (one, many) {
        (Some(_), Some(_)) => {
            s.problem("devices", "give `device` or `devices`, not both");
            vec!["cpu".to_string()]
        }
        (_, Some(list)) if list.is_empty() => {
            s.problem("devices", "an empty list; name at least one device");
            vec!["cpu".to_string()]
        }
        (_, Some(list)) => list,
        (one, None) => vec![one.unwrap_or_else(|| "cpu".into())],
    };
    let key = if list.len() > 1 { "devices" } else { "device" };
    for device in &list {
        if let Err(e) = bert_model::parse_device(device) {
            s.problem(key, e);
        }
    }
    (list[0].clone(), list)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tasks::sequence_classification::SequenceClassification;

    const GOOD: &str = r#"
task = "sequence-classification"
model = "models/minilm"
output_dir = "runs/x"
[data]
train = "train.csv"
validation = "dev.csv"
text_column = "sentence"
[training]
epochs = 2
learning_rate = 3e-5
"#;

    fn parse(text: &str, overrides: &[&str]) -> Result<FineTuneConfig, ConfigError> {
        let overrides: Vec<String> = overrides.iter().map(|s| s.to_string()).collect();
        FineTuneConfig::parse(text, Path::new("run.toml"), &overrides)
    }

    #[test]
    fn defaults_are_the_trainer_defaults() {
        let c = parse(GOOD, &[]).unwrap();
        let t = &c.training;
        assert_eq!(t.epochs, 2);
        assert_eq!(t.learning_rate, 3e-5);
        assert_eq!(t.batch_size, 8);
        assert_eq!(t.weight_decay, 0.0);
        assert_eq!(
            (t.adam_beta1, t.adam_beta2, t.adam_epsilon),
            (0.9, 0.999, 1e-8)
        );
        assert_eq!(t.warmup_ratio, 0.0);
        assert_eq!(t.max_grad_norm, 1.0);
        assert_eq!(t.lr_scheduler, Schedule::Linear);
        assert_eq!(t.seed, 42);
        assert_eq!(t.data_seed, 42);
        assert_eq!(t.progress, ProgressStyle::Auto);
        assert_eq!(c.data.max_seq_length, 128);
        let task: SequenceClassification = tasks::configure(&c).unwrap();
        assert_eq!(task.label_column, "label");
        assert_eq!(task.text_column, "sentence");
        assert!(!task.regression);
    }

    #[test]
    fn overrides_apply_before_validation() {
        let c = parse(
            GOOD,
            &[
                "training.learning_rate=1e-4",
                "output_dir=runs/y",
                "training.device=cpu",
            ],
        )
        .unwrap();
        assert_eq!(c.training.learning_rate, 1e-4);
        assert_eq!(c.output_dir, PathBuf::from("runs/y"));
        assert!(
            c.text.contains("1e-4") || c.text.contains("0.0001"),
            "{}",
            c.text
        );
        assert!(matches!(
            parse(GOOD, &["training.learning_rate"]),
            Err(ConfigError::Override(_))
        ));
    }

    #[test]
    fn every_problem_is_reported_at_once() {
        let text = r#"
task = "sequence-classification"
model = "m"
output_dir = "o"
colour = "blue"
[data]
train = "t.csv"
format = "xml"
[training]
lr = 1e-5
batch_size = "big"
warmup_ratio = 2.0
device = "tpu"
progress = "fancy"
"#;
        let err = parse(text, &[]).unwrap_err().to_string();
        for needle in [
            "unknown key `colour` in the top level; valid keys: task, problem_type",
            "unknown key `training.lr` in [training]; valid keys: epochs, max_steps",
            "`data.format`: unknown `xml`",
            "`training.batch_size`: expected a non-negative integer, found a string",
            "`training.warmup_ratio`: 2 is outside [0, 1]",
            "`training.device`",
            "`training.progress`: unknown `fancy`; expected auto, tui or plain",
            "run.toml",
        ] {
            assert!(err.contains(needle), "missing {needle:?} in:\n{err}");
        }
    }

    #[test]
    fn devices_replace_device_and_are_checked() {
        let base = "task = \"sequence-classification\"\nmodel = \"m\"\noutput_dir = \"o\"\n\
                    [data]\ntrain = \"t.csv\"\n[training]\n";
        let two = parse(&format!("{base}devices = [\"cpu\", \"cpu\"]\n"), &[]).unwrap();
        assert_eq!(two.training.devices, ["cpu", "cpu"]);
        assert_eq!(two.training.device, "cpu");
        assert!(two.summary("t").contains("devices cpu, cpu"));
        let one = parse(base, &[]).unwrap();
        assert_eq!(one.training.devices, ["cpu"]);
        for (text, needle) in [
            ("device = \"cpu\"\ndevices = [\"cpu\"]\n", "not both"),
            ("devices = []\n", "an empty list"),
            ("devices = [\"cpu\", \"tpu\"]\n", "`training.devices`"),
        ] {
            let err = parse(&format!("{base}{text}"), &[])
                .unwrap_err()
                .to_string();
            assert!(err.contains(needle), "missing {needle:?} in:\n{err}");
        }
    }

    #[test]
    fn missing_required_keys_are_named() {
        let err = parse("task = \"token-classification\"\n[data]\n", &[])
            .unwrap_err()
            .to_string();
        for needle in [
            "`model`: missing",
            "`output_dir`: missing",
            "`data.train`: missing",
        ] {
            assert!(err.contains(needle), "missing {needle:?} in:\n{err}");
        }
        let err = parse(&GOOD.replace("sequence-classification", "mlm"), &[])
            .unwrap_err()
            .to_string();
        assert!(err.contains("unknown task `mlm`; expected one of"), "{err}");
        assert!(
            err.contains("masked-lm, next-sentence, pretraining"),
            "{err}"
        );
    }

    #[test]
    fn a_pretrained_model_takes_config_overrides() {
        let model = "[model]\npretrained = \"models/minilm\"\nconfig = { hidden_dropout_prob = 0.0, attention_probs_dropout_prob = 0.0 }\n";
        let text = GOOD.replace("model = \"models/minilm\"\n", "");
        let (head, rest) = text.split_once("[data]").unwrap();
        let c = parse(&format!("{head}{model}[data]{rest}"), &[]).unwrap();
        match c.model {
            ModelSource::Pretrained { name, overrides } => {
                assert_eq!(name, "models/minilm");
                assert_eq!(overrides["hidden_dropout_prob"], 0.0);
                assert_eq!(overrides.len(), 2);
            }
            other => panic!("{other:?}"),
        }
        let bad = model.replace(
            "0.0, attention",
            "\"none\", hidden_dropout = 0.0, num_labels = 3, attention",
        ) + "tokenizer = \"v\"\n";
        let err = parse(&format!("{head}{bad}[data]{rest}"), &[])
            .unwrap_err()
            .to_string();
        assert!(err.contains("`model.config.hidden_dropout_prob`"), "{err}");
        assert!(
            err.contains("`model.config.hidden_dropout`: not a key"),
            "{err}"
        );
        assert!(
            err.contains("`model.config.num_labels`: set by the task"),
            "{err}"
        );
        // `--set model.config.x=...` on `model = "name"` keeps the name.
        let c = parse(GOOD, &["model.config.hidden_dropout_prob=0.0"]).unwrap();
        assert!(
            matches!(c.model, ModelSource::Pretrained { ref name, ref overrides } if name == "models/minilm" && overrides.len() == 1),
            "{:?}",
            c.model
        );
        assert!(
            err.contains("`model.tokenizer`: not with `pretrained`"),
            "{err}"
        );
    }

    #[test]
    fn data_seed_defaults_to_the_seed_and_can_differ() {
        let c = parse(GOOD, &["training.seed=7"]).unwrap();
        assert_eq!((c.training.seed, c.training.data_seed), (7, 7));
        let c = parse(GOOD, &["training.seed=7", "training.data_seed=2"]).unwrap();
        assert_eq!((c.training.seed, c.training.data_seed), (7, 2));
        assert!(
            c.summary("t").contains("seed 7, data seed 2"),
            "{}",
            c.summary("t")
        );
        let err = parse(GOOD, &["training.data_seed=-1"])
            .unwrap_err()
            .to_string();
        assert!(err.contains("data_seed"), "{err}");
    }

    #[test]
    fn random_init_takes_a_config_table() {
        let text = GOOD.replace(
            "model = \"models/minilm\"",
            "[model]\ntokenizer = \"vocab.txt\"\n[model.config]\nhidden_size = 32\nnum_hidden_layers = 2\nnum_attention_heads = 2\nintermediate_size = 64\nvocab_size = 100\n",
        );
        // The [model] table must come after the top-level keys in TOML: rebuild the text.
        let text = format!(
            "task = \"sequence-classification\"\noutput_dir = \"o\"\n{}",
            text.split_once("[model]")
                .map(|(_, rest)| format!("[model]{rest}"))
                .unwrap()
        );
        let c = parse(&text, &[]).unwrap();
        match c.model {
            ModelSource::Random { config, tokenizer } => {
                assert_eq!(config.hidden_size, 32);
                assert_eq!(tokenizer, "vocab.txt");
            }
            other => panic!("{other:?}"),
        }
    }
}

/// Writes what every file of `configs/` resolves to, as flat `key -> value` JSON, into
/// `tests/fixtures/configs/resolved.json` (run with `--ignored` to regenerate).
#[cfg(test)]
mod dump_resolved {
    use super::*;
    use crate::tasks::{
        masked_lm::MaskedLm, multiple_choice::MultipleChoice, next_sentence::NextSentence,
        pretraining::Pretraining, question_answering::QuestionAnswering,
        sequence_classification::SequenceClassification,
        token_classification::TokenClassification,
    };
    use serde_json::{json, Map, Value as J};

    fn task_keys(c: &FineTuneConfig, out: &mut Map<String, J>) {
        let mut put = |k: &str, v: J| {
            out.insert(k.to_string(), v);
        };
        match c.task.as_str() {
            "sequence-classification" => {
                let t: SequenceClassification = tasks::configure(c).unwrap();
                let kind = if t.regression { "regression" } else { "single_label_classification" };
                put("problem_type", json!(kind));
                put("data.text_column", json!(t.text_column));
                put("data.text_pair_column", json!(t.text_pair_column));
                put("data.label_column", json!(t.label_column));
                put("data.labels", json!(t.labels));
            }
            "token-classification" => {
                let t: TokenClassification = tasks::configure(c).unwrap();
                put("data.token_column", json!(t.token_column));
                put("data.tag_column", json!(t.tag_column));
                put("data.labels", json!(t.labels));
            }
            "multiple-choice" => {
                let t: MultipleChoice = tasks::configure(c).unwrap();
                put("data.context_column", json!(t.context_column));
                put("data.choices_column", json!(t.choices_column));
                put("data.label_column", json!(t.label_column));
            }
            "question-answering" => {
                let t: QuestionAnswering = tasks::configure(c).unwrap();
                put("data.doc_stride", json!(t.doc_stride));
                put("data.max_query_length", json!(t.max_query_length));
                put("data.max_answer_length", json!(t.answers.max_answer_length));
                put("data.n_best_size", json!(t.answers.n_best_size));
                put("data.version_2_with_negative", json!(t.answers.version_2_with_negative));
                put("data.null_score_diff_threshold", json!(t.answers.null_score_diff_threshold));
            }
            "masked-lm" => {
                let t: MaskedLm = tasks::configure(c).unwrap();
                put("data.line_by_line", json!(t.line_by_line));
                put("data.mlm_probability", json!(t.mlm_probability));
                put("data.whole_word_mask", json!(t.whole_word_mask));
            }
            "next-sentence" => {
                let t: NextSentence = tasks::configure(c).unwrap();
                put("data.text_column", json!(t.text_column));
                put("data.text_pair_column", json!(t.text_pair_column));
                put("data.label_column", json!(t.label_column));
            }
            "pretraining" => {
                let t: Pretraining = tasks::configure(c).unwrap();
                put("data.mlm_probability", json!(t.mlm_probability));
                put("data.whole_word_mask", json!(t.whole_word_mask));
                put("data.short_seq_prob", json!(t.short_seq_prob));
            }
            other => panic!("{other}"),
        }
    }

    fn resolved(c: &FineTuneConfig) -> Map<String, J> {
        let mut out = Map::new();
        out.insert("task".into(), json!(c.task));
        out.insert("output_dir".into(), json!(c.output_dir));
        match &c.model {
            ModelSource::Pretrained { name, overrides } => {
                out.insert("model.pretrained".into(), json!(name));
                out.insert("model.config".into(), J::Object(overrides.clone()));
            }
            ModelSource::Random { config, tokenizer } => {
                out.insert("model.tokenizer".into(), json!(tokenizer));
                out.insert("model.config".into(), serde_json::to_value(config).unwrap());
            }
        }
        let d = &c.data;
        let data = json!({
            "train": d.train, "validation": d.validation, "test": d.test,
            "format": d.format, "max_seq_length": d.max_seq_length, "on_bad_row": d.on_bad_row,
            "max_train_rows": d.max_train_rows, "max_eval_rows": d.max_eval_rows,
        });
        let t = &c.training;
        let lower = |s: String| s.to_lowercase();
        let training = json!({
            "epochs": t.epochs, "max_steps": t.max_steps, "batch_size": t.batch_size,
            "eval_batch_size": t.eval_batch_size,
            "gradient_accumulation_steps": t.gradient_accumulation_steps,
            "learning_rate": t.learning_rate, "weight_decay": t.weight_decay,
            "adam_beta1": t.adam_beta1, "adam_beta2": t.adam_beta2, "adam_epsilon": t.adam_epsilon,
            "warmup_ratio": t.warmup_ratio, "warmup_steps": t.warmup_steps,
            "lr_scheduler": lower(format!("{:?}", t.lr_scheduler)), "max_grad_norm": t.max_grad_norm,
            "seed": t.seed, "data_seed": t.data_seed, "devices": t.devices,
            "eval_every_steps": t.eval_every_steps, "checkpoint_every_steps": t.checkpoint_every_steps,
            "keep_checkpoints": t.keep_checkpoints, "log_every_steps": t.log_every_steps,
            "group_by_length": t.group_by_length, "loader_workers": t.loader_workers,
            "early_stopping_patience": t.early_stopping_patience,
            "metric_for_best_model": t.metric_for_best_model,
            "progress": lower(format!("{:?}", t.progress)),
        });
        for (section, value) in [("data", data), ("training", training)] {
            for (k, v) in value.as_object().unwrap() {
                out.insert(format!("{section}.{k}"), v.clone());
            }
        }
        task_keys(c, &mut out);
        out
    }

    #[test]
    #[ignore]
    fn dump() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let mut files: Vec<_> = std::fs::read_dir(root.join("configs"))
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "toml"))
            .collect();
        files.sort();
        let mut all = Map::new();
        for path in files {
            let c = FineTuneConfig::load(&path, &[]).unwrap();
            let name = path.file_name().unwrap().to_string_lossy().to_string();
            all.insert(name, J::Object(resolved(&c)));
        }
        let out = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/configs/resolved.json");
        std::fs::write(out, serde_json::to_string_pretty(&J::Object(all)).unwrap() + "\n").unwrap();
    }
}
