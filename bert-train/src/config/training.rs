//! `[training]`: hyperparameters, the schedule, devices, evaluation and checkpoints.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::read::Validate;

/// The learning-rate schedule after warmup.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Schedule {
    /// Linear decay to 0 at the last step (transformers' default).
    #[default]
    Linear,
    /// Half a cosine wave down to 0.
    Cosine,
    /// Constant.
    Constant,
}

/// How a run shows its progress.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum ProgressStyle {
    /// burn-train's terminal UI when stdout is a terminal, plain lines otherwise.
    #[default]
    Auto,
    /// Always burn-train's terminal UI (stdout must be a terminal).
    Tui,
    /// Always plain lines.
    Plain,
}

/// The `[training]` table. Defaults are those of transformers' `TrainingArguments` where it
/// has the key.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default)]
pub struct TrainingConfig {
    /// Passes over the training data.
    pub epochs: usize,
    /// Optimizer steps in all; wins over `epochs` when set.
    pub max_steps: Option<usize>,
    /// Rows per forward pass (per device).
    pub batch_size: usize,
    /// Rows per evaluation batch.
    pub eval_batch_size: usize,
    /// Forward passes per optimizer step.
    pub gradient_accumulation_steps: usize,
    /// Peak learning rate.
    pub learning_rate: f64,
    /// AdamW decoupled weight decay; biases and LayerNorm weights are never decayed.
    pub weight_decay: f64,
    /// AdamW beta1.
    pub adam_beta1: f64,
    /// AdamW beta2.
    pub adam_beta2: f64,
    /// AdamW epsilon.
    pub adam_epsilon: f64,
    /// Warmup as a fraction of the total steps.
    pub warmup_ratio: f64,
    /// Warmup steps; wins over `warmup_ratio` when set.
    pub warmup_steps: Option<usize>,
    /// Schedule after warmup.
    pub lr_scheduler: Schedule,
    /// Clip gradients to this global L2 norm; 0 turns clipping off.
    pub max_grad_norm: f64,
    /// Seed of a new head's initial values (transformers' draw for the same seed), of dropout,
    /// and of the data unless `data_seed` is set.
    pub seed: u64,
    /// Seed of the data: epoch order, masked-LM masks and pre-training instances, as
    /// Trainer's `data_seed`; unset, `seed`. Fixing it while `seed` changes varies dropout
    /// alone.
    pub data_seed: Option<u64>,
    /// The device (`cpu`, `ndarray`, `wgpu`, `cuda:0`, `tch-cuda:0`, ...); unset, `cpu`.
    pub device: Option<String>,
    /// Devices that train together instead of `device`, each on `batch_size` rows per forward
    /// pass (global batch = batch size x devices x accumulation); the first holds the
    /// optimizer and evaluates.
    pub devices: Option<Vec<String>>,
    /// Evaluate every N optimizer steps; 0: at the end of each epoch.
    pub eval_every_steps: usize,
    /// Checkpoint every N optimizer steps; 0: at the end of each epoch.
    pub checkpoint_every_steps: usize,
    /// Checkpoints kept (the newest ones).
    pub keep_checkpoints: usize,
    /// Log the training loss every N optimizer steps.
    pub log_every_steps: usize,
    /// Batch rows of similar length together.
    pub group_by_length: bool,
    /// Threads preparing batches ahead of the model; 0 prepares them inline.
    pub loader_workers: usize,
    /// Stop when the validation metric has not improved for N evaluations; unset: never.
    pub early_stopping_patience: Option<usize>,
    /// The metric that picks the best evaluation and drives early stopping (e.g. `f1`);
    /// unset: the validation loss.
    pub metric_for_best_model: Option<String>,
    /// `auto`, `tui` or `plain`.
    pub progress: ProgressStyle,
}

impl Default for TrainingConfig {
    fn default() -> Self {
        TrainingConfig {
            epochs: 3,
            max_steps: None,
            batch_size: 8,
            eval_batch_size: 8,
            gradient_accumulation_steps: 1,
            learning_rate: 5e-5,
            weight_decay: 0.0,
            adam_beta1: 0.9,
            adam_beta2: 0.999,
            adam_epsilon: 1e-8,
            warmup_ratio: 0.0,
            warmup_steps: None,
            lr_scheduler: Schedule::Linear,
            max_grad_norm: 1.0,
            seed: 42,
            data_seed: None,
            device: None,
            devices: None,
            eval_every_steps: 0,
            checkpoint_every_steps: 500,
            keep_checkpoints: 2,
            log_every_steps: 10,
            group_by_length: false,
            loader_workers: 1,
            early_stopping_patience: None,
            metric_for_best_model: None,
            progress: ProgressStyle::Auto,
        }
    }
}

impl TrainingConfig {
    /// The seed of the data: `data_seed`, else `seed`.
    pub fn data_seed(&self) -> u64 {
        self.data_seed.unwrap_or(self.seed)
    }

    /// The devices that train: `devices`, else `[device]`, else `["cpu"]`.
    pub fn devices(&self) -> Vec<String> {
        match (&self.devices, &self.device) {
            (Some(list), _) if !list.is_empty() => list.clone(),
            (_, Some(one)) => vec![one.clone()],
            _ => vec!["cpu".to_string()],
        }
    }

    /// The device that holds the optimizer and evaluates: the first of [`Self::devices`].
    pub fn device(&self) -> String {
        self.devices().swap_remove(0)
    }
}

impl Validate for TrainingConfig {
    fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        let mut problem = |key: &str, message: String| {
            problems.push(format!("`training.{key}`: {message}"));
        };
        if self.epochs == 0 && self.max_steps.is_none() {
            problem("epochs", "must be at least 1 (or set max_steps)".into());
        }
        let at_least_one = [
            ("max_steps", self.max_steps.unwrap_or(1)),
            ("batch_size", self.batch_size),
            ("eval_batch_size", self.eval_batch_size),
            (
                "gradient_accumulation_steps",
                self.gradient_accumulation_steps,
            ),
            ("keep_checkpoints", self.keep_checkpoints),
            ("log_every_steps", self.log_every_steps),
        ];
        for (key, value) in at_least_one {
            if value == 0 {
                problem(key, "must be at least 1".into());
            }
        }
        let ranges = [
            ("learning_rate", self.learning_rate, 1.0),
            ("weight_decay", self.weight_decay, 1.0),
            ("adam_beta1", self.adam_beta1, 0.999_999),
            ("adam_beta2", self.adam_beta2, 0.999_999_999),
            ("adam_epsilon", self.adam_epsilon, 1.0),
            ("warmup_ratio", self.warmup_ratio, 1.0),
            ("max_grad_norm", self.max_grad_norm, f64::MAX),
        ];
        for (key, value, high) in ranges {
            if !(0.0..=high).contains(&value) {
                problem(key, format!("{value} is outside [0, {high}]"));
            }
        }
        problems.extend(self.device_problems());
        problems
    }
}

impl TrainingConfig {
    fn device_problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        match (&self.device, &self.devices) {
            (Some(_), Some(_)) => {
                problems.push("`training.devices`: give `device` or `devices`, not both".into())
            }
            (_, Some(list)) if list.is_empty() => {
                problems.push("`training.devices`: an empty list; name at least one device".into())
            }
            _ => {}
        }
        let key = if self.devices.is_some() {
            "devices"
        } else {
            "device"
        };
        for device in self.devices() {
            // `cuda:local`: each rank's own GPU (`distributed::Ranks::device_name`).
            let device = crate::distributed::Ranks::single().device_name(&device);
            if let Err(e) = bert_model::parse_device(&device) {
                problems.push(format!("`training.{key}`: {e}"));
            }
        }
        problems
    }
}
