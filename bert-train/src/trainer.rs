//! The fine-tuning loop: batches in a seeded order, forward and backward on an autodiff device,
//! gradient accumulation, clipping by global norm, AdamW with a warmup schedule, periodic
//! evaluation and logging, and step checkpoints that a killed run resumes from exactly.
//!
//! Exact resume rests on three things: the batch order of an epoch is a pure function of the
//! seed and the epoch ([`BatchPlan`]); dropout's generator is reseeded before every forward pass
//! from the seed, the optimizer step and the micro-batch; and a checkpoint holds the weights,
//! the AdamW moments and every counter of the loop ([`TrainerState`]).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{mpsc, Arc};
use std::time::Instant;

use bert_data::batch::{BatchPlan, LabelSet};
use bert_data::{BertTokenizer, TokenizerOptions, TokenizerOverrides};
use bert_model::burn::module::Module;
use bert_model::burn::prelude::Device;
use bert_model::{
    parse_device, resolve_model_dir, save_pretrained, write_safetensors, write_text_atomically,
    BertConfig, Checkpoint, HfModel, ParamSource,
};
use burn::optim::GradientsParams;
use serde::{Deserialize, Serialize};

use crate::config::{FineTuneConfig, ModelSource};
use crate::export::write_tokenizer;
use crate::metrics::Metrics;
use crate::optim::{accumulate, clip_grad_norm, AdamW, LrSchedule};
use crate::plot;
use crate::progress::{format_duration, format_metrics, Progress, StepReport};
use crate::tasks::{
    self, batch_rng, evaluate, labels_of, LoadContext, Split, Task, TaskData, TaskFn,
};
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
    /// Seconds spent in training steps so far, all processes of the run together (validation
    /// and checkpoint writes excluded).
    pub train_seconds: f64,
    /// Seconds spent in validation during the run.
    #[serde(default)]
    pub eval_seconds: f64,
    /// Training rows processed.
    pub train_rows: usize,
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
    /// Training rows per second.
    pub rows_per_second: f64,
    /// The final model directory.
    pub model_dir: PathBuf,
}

/// The newest complete checkpoint (`checkpoints/step-N` holding `trainer_state.json`).
pub fn newest_checkpoint(output_dir: &Path) -> Option<(usize, PathBuf)> {
    list_checkpoints(output_dir).into_iter().last()
}

fn list_checkpoints(output_dir: &Path) -> Vec<(usize, PathBuf)> {
    let dir = output_dir.join("checkpoints");
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return Vec::new();
    };
    let mut found: Vec<(usize, PathBuf)> = entries
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().to_string();
            let step = name.strip_prefix("step-")?.parse().ok()?;
            let path = e.path();
            path.join("trainer_state.json")
                .is_file()
                .then_some((step, path))
        })
        .collect();
    found.sort();
    found
}

/// Loads the tokenizer of a model directory, or of a `vocab.txt`.
pub fn load_tokenizer(path: &Path) -> Result<BertTokenizer, TrainError> {
    if path.is_dir() {
        Ok(BertTokenizer::from_dir(
            path,
            &TokenizerOverrides::default(),
        )?)
    } else {
        Ok(BertTokenizer::from_vocab_file(
            path,
            TokenizerOptions::default(),
        )?)
    }
}

/// A model with the tokenizer and config it came with.
struct Loaded<M> {
    model: M,
    config: BertConfig,
    tokenizer: BertTokenizer,
}

fn build_model<T: Task>(
    task: &T,
    run: &FineTuneConfig,
    from_dir: Option<&Path>,
    tokenizer: BertTokenizer,
    base: BertConfig,
    labels: Option<&LabelSet>,
    device: &Device,
) -> Result<Loaded<T::Model>, TrainError> {
    let config = task.model_config(base, labels);
    config
        .validate()
        .map_err(|e| TrainError::Run(format!("model config: {e}")))?;
    let seed = run.training.seed;
    let model = match from_dir {
        Some(dir) => {
            let checkpoint = Checkpoint::open_dir(dir)?;
            let (model, report) =
                bert_model::from_checkpoint::<T::Model>(&config, &checkpoint, device, seed)?;
            if !report.initialized.is_empty() {
                println!(
                    "new head initialised from seed {seed}: {}",
                    report.initialized.join(", ")
                );
            }
            model
        }
        None => {
            let mut source = ParamSource::random(device, config.initializer_range, seed);
            T::Model::build(&config, &mut source)?
        }
    };
    Ok(Loaded {
        model,
        config,
        tokenizer,
    })
}

fn sync_dir(path: &Path) {
    if let Ok(dir) = std::fs::File::open(path) {
        let _ = dir.sync_all();
    }
}

/// Writes `metrics.csv` from the history, atomically.
fn write_metrics_csv(path: &Path, history: &[LogRow], names: &[&str]) -> Result<(), TrainError> {
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
fn plot_panels(history: &[LogRow], names: &[&str]) -> Vec<plot::Panel> {
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

/// The rest of an epoch's steps, gathered on `workers` threads ahead of the model (worker `w`
/// takes steps `w`, `w + workers`, ...) and handed out in step order.
struct Loader<H> {
    receivers: Vec<mpsc::Receiver<Vec<H>>>,
    next: usize,
}

/// What the loader threads share: the task, the features and the steps still to run.
struct LoaderJob<T: Task> {
    task: Arc<T>,
    features: Arc<Vec<T::Feature>>,
    steps: Vec<Vec<Vec<usize>>>,
    first_step: usize,
    seed: u64,
}

impl<T: Task> LoaderJob<T> {
    /// The host batches of the `k`-th remaining step.
    fn gather(&self, k: usize) -> Vec<T::HostBatch> {
        let step = self.first_step + k;
        self.steps[k]
            .iter()
            .enumerate()
            .map(|(micro, b)| {
                let mut rng = batch_rng(self.seed, step, micro);
                self.task.gather(&self.features, b, &mut rng)
            })
            .collect()
    }
}

impl<H: Send + 'static> Loader<H> {
    fn spawn<T: Task<HostBatch = H>>(job: Arc<LoaderJob<T>>, workers: usize) -> Self {
        let receivers = (0..workers)
            .map(|w| {
                let (sender, receiver) = mpsc::sync_channel::<Vec<H>>(2);
                let job = Arc::clone(&job);
                std::thread::spawn(move || {
                    for k in (w..job.steps.len()).step_by(workers) {
                        // The receiver is gone when training stops early.
                        if sender.send(job.gather(k)).is_err() {
                            break;
                        }
                    }
                });
                receiver
            })
            .collect();
        Loader { receivers, next: 0 }
    }

    /// The next step's batches; `None` when a worker died.
    fn next(&mut self) -> Option<Vec<H>> {
        let batches = self.receivers[self.next % self.receivers.len()].recv().ok();
        self.next += 1;
        batches
    }
}

/// Seed of dropout for one forward pass.
fn pass_seed(seed: u64, step: usize, micro: usize) -> u64 {
    let mut rng = bert_model::rng::SplitMix64(
        seed ^ (step as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ ((micro as u64) << 48),
    );
    rng.next_u64()
}

/// Whether a bigger value of `metric` is better.
fn greater_is_better(metric: &str) -> bool {
    !(metric.contains("loss") || metric == "mse")
}

struct Run<'a, T: Task> {
    task: &'a T,
    config: &'a FineTuneConfig,
    out: PathBuf,
    names: &'static [&'static str],
    labels: Option<LabelSet>,
    pad: u32,
    device: Device,
}

impl<T: Task> Run<'_, T> {
    fn evaluate(&self, model: &T::Model, split: &Split<T::Feature>) -> Metrics {
        let valid = model.valid();
        evaluate(
            self.task,
            &valid,
            &split.features,
            self.config.training.eval_batch_size,
            self.pad,
            self.labels.as_ref(),
            &self.device,
        )
    }

    fn save_checkpoint(
        &self,
        loaded: &Loaded<T::Model>,
        model: &T::Model,
        optim: &AdamW,
        state: &TrainerState,
    ) -> Result<PathBuf, TrainError> {
        let root = self.out.join("checkpoints");
        std::fs::create_dir_all(&root).map_err(TrainError::io(&root))?;
        let tmp = root.join(format!(".tmp-step-{}-{}", state.step, std::process::id()));
        if tmp.exists() {
            std::fs::remove_dir_all(&tmp).map_err(TrainError::io(&tmp))?;
        }
        std::fs::create_dir_all(&tmp).map_err(TrainError::io(&tmp))?;
        save_pretrained(model, &loaded.config, &tmp)?;
        write_tokenizer(&loaded.tokenizer, &tmp, self.config.data.max_seq_length)?;
        let (adam_steps, tensors) = optim.state();
        let metadata = [("adam_steps".to_string(), adam_steps.to_string())]
            .into_iter()
            .collect();
        write_safetensors(&tmp.join("optimizer.safetensors"), &tensors, Some(metadata))?;
        write_text_atomically(&tmp.join("run.toml"), &self.config.text)?;
        let json = serde_json::to_string_pretty(state).expect("the state serialises");
        write_text_atomically(&tmp.join("trainer_state.json"), &json)?;
        sync_dir(&tmp);
        let target = root.join(format!("step-{}", state.step));
        if target.exists() {
            std::fs::remove_dir_all(&target).map_err(TrainError::io(&target))?;
        }
        std::fs::rename(&tmp, &target).map_err(TrainError::io(&target))?;
        sync_dir(&root);
        let all = list_checkpoints(&self.out);
        let keep = self.config.training.keep_checkpoints.max(1);
        if all.len() > keep {
            for (_, old) in &all[..all.len() - keep] {
                std::fs::remove_dir_all(old).map_err(TrainError::io(old))?;
            }
        }
        Ok(target)
    }
}

/// Loads an optimizer saved by a checkpoint.
fn load_optimizer(
    dir: &Path,
    state: &TrainerState,
    optim: &mut AdamW,
    device: &Device,
) -> Result<(), TrainError> {
    let path = dir.join("optimizer.safetensors");
    let checkpoint = Checkpoint::open_safetensors(&path)?;
    let mut tensors = BTreeMap::new();
    for (name, tensor) in &checkpoint.tensors {
        tensors.insert(name.clone(), tensor.to_f32(name)?);
    }
    // AdamW takes one step per optimizer step.
    optim
        .load_state(state.step as u64, &tensors, device)
        .map_err(|e| TrainError::Run(format!("{}: {e}", path.display())))
}

fn read_state(dir: &Path) -> Result<TrainerState, TrainError> {
    let path = dir.join("trainer_state.json");
    let text = std::fs::read_to_string(&path).map_err(TrainError::io(&path))?;
    serde_json::from_str(&text)
        .map_err(|e| TrainError::Run(format!("{}: invalid trainer state: {e}", path.display())))
}

fn report_skipped<F>(split: &Split<F>) {
    if !split.skipped.is_empty() {
        println!(
            "{}: skipped {} bad rows in {} (first: line {}: {})",
            split.name,
            split.skipped.len(),
            split.path.display(),
            split.skipped[0].line,
            split.skipped[0].message
        );
    }
}

/// Runs `bert-train fine-tune`: trains, evaluates, checkpoints and writes the final model.
pub fn fine_tune(config: &FineTuneConfig, resume: bool) -> Result<RunSummary, TrainError> {
    struct FineTune<'a> {
        config: &'a FineTuneConfig,
        resume: bool,
    }
    impl TaskFn for FineTune<'_> {
        type Output = Result<RunSummary, TrainError>;
        fn call<T: Task>(self) -> Self::Output {
            let task = tasks::configure::<T>(self.config)?;
            fine_tune_task(&task, self.config, self.resume)
        }
    }
    tasks::by_name(&config.task, FineTune { config, resume })
        .unwrap_or_else(|| Err(TrainError::Run(format!("unknown task `{}`", config.task))))
}

/// [`fine_tune`] for one task.
pub fn fine_tune_task<T: Task>(
    task: &T,
    config: &FineTuneConfig,
    resume: bool,
) -> Result<RunSummary, TrainError> {
    let t = &config.training;
    let out = config.output_dir.clone();
    std::fs::create_dir_all(&out).map_err(TrainError::io(&out))?;
    let root = out.join("checkpoints");
    if let Ok(entries) = std::fs::read_dir(&root) {
        for e in entries.flatten() {
            if e.file_name().to_string_lossy().starts_with(".tmp-") {
                let _ = std::fs::remove_dir_all(e.path());
            }
        }
    }
    let newest = newest_checkpoint(&out);
    let resumed = match (&newest, resume) {
        (Some((step, dir)), true) => Some((*step, dir.clone())),
        (Some((step, _)), false) => {
            return Err(TrainError::Run(format!(
                "{} already holds checkpoints (newest: step {step}); pass --resume to continue \
                 the run, or choose another output_dir",
                out.display()
            )))
        }
        (None, true) => {
            println!("no checkpoint in {}; starting from step 0", root.display());
            None
        }
        (None, false) => None,
    };
    write_text_atomically(&out.join("config.toml"), &config.text)?;

    let device = parse_device(&t.device)?;
    let train_device = device.clone().autodiff();

    // The tokenizer, base config and weights: from the checkpoint when resuming.
    let (tokenizer, base, weights_dir): (BertTokenizer, BertConfig, Option<PathBuf>) =
        match (&resumed, &config.model) {
            (Some((_, dir)), _) => (
                load_tokenizer(dir)?,
                BertConfig::from_file(dir.join("config.json"))
                    .map_err(bert_model::PretrainedError::from)?,
                Some(dir.clone()),
            ),
            (None, ModelSource::Pretrained { name, overrides }) => {
                let dir = resolve_model_dir(name)?;
                (
                    load_tokenizer(&dir)?,
                    BertConfig::from_file_with(dir.join("config.json"), overrides)
                        .map_err(bert_model::PretrainedError::from)?,
                    Some(dir),
                )
            }
            (None, ModelSource::Random { config, tokenizer }) => (
                load_tokenizer(Path::new(tokenizer))?,
                (**config).clone(),
                None,
            ),
        };
    let known = if resumed.is_some() {
        labels_of(&base)
    } else {
        None
    };
    let data: TaskData<T::Feature> = task.load(&LoadContext {
        config,
        tokenizer: &tokenizer,
        known,
        with_train: true,
    })?;
    report_skipped(&data.train);
    for split in data.validation.iter().chain(data.test.iter()) {
        report_skipped(split);
    }
    if let Some(labels) = &data.labels {
        println!("labels ({}): {}", labels.len(), labels.names().join(", "));
    }
    let loaded = build_model(
        task,
        config,
        weights_dir.as_deref(),
        tokenizer,
        base,
        data.labels.as_ref(),
        &train_device,
    )?;
    let pad = loaded.tokenizer.special_ids().pad;
    let run = Run {
        task,
        config,
        out: out.clone(),
        names: task.metric_names(),
        labels: data.labels.clone(),
        pad,
        device: device.clone(),
    };

    let examples = &data.train.features;
    let shared_task = Arc::new(task.clone());
    let shared = Arc::new(examples.clone());
    let lengths: Vec<usize> = examples.iter().map(T::length).collect();
    let plan = BatchPlan {
        batch_size: t.batch_size,
        shuffle_seed: Some(t.seed),
        group_by_length: t.group_by_length,
    };
    let batches_per_epoch = examples.len().div_ceil(t.batch_size);
    let steps_per_epoch = batches_per_epoch.div_ceil(t.gradient_accumulation_steps);
    let total_steps = t.max_steps.unwrap_or(steps_per_epoch * t.epochs);
    let warmup = t
        .warmup_steps
        .unwrap_or((t.warmup_ratio * total_steps as f64).ceil() as usize);
    let schedule = LrSchedule {
        peak: t.learning_rate,
        warmup,
        total: total_steps,
        kind: t.lr_scheduler,
    };
    let mut optim = AdamW::new(t.adam_beta1, t.adam_beta2, t.adam_epsilon, t.weight_decay);
    let mut state = TrainerState {
        step: 0,
        epoch: 0,
        step_in_epoch: 0,
        total_steps,
        window_loss: 0.0,
        window_steps: 0,
        history: Vec::new(),
        best: None,
        evals_without_improvement: 0,
        seed: t.seed,
        train_seconds: 0.0,
        eval_seconds: 0.0,
        train_rows: 0,
    };
    if let Some((step, dir)) = &resumed {
        state = read_state(dir)?;
        if state.seed != t.seed || state.total_steps != total_steps {
            return Err(TrainError::Run(format!(
                "{}: the checkpoint was made with seed {} and {} total steps, the config now \
                 gives seed {} and {} steps; resume with the run's own config ({})",
                dir.display(),
                state.seed,
                state.total_steps,
                t.seed,
                total_steps,
                out.join("config.toml").display()
            )));
        }
        load_optimizer(dir, &state, &mut optim, &device)?;
        println!("resumed from step {step}");
    }
    println!(
        "fine-tune: {} | {} train rows, {} steps ({} per epoch), warmup {warmup}",
        config.summary(&task.describe()),
        examples.len(),
        total_steps,
        steps_per_epoch
    );

    let mut model = loaded.model.clone();
    let mut progress = Progress::new(t.progress);
    progress.start(
        &format!("{} {}", config.task, out.display()),
        total_steps.div_ceil(steps_per_epoch.max(1)),
        state.epoch,
        steps_per_epoch,
    );
    let mut interrupted = false;
    let start = Instant::now();
    let seconds_before = state.train_seconds;
    // Time inside the loop that is not training: validation and checkpoint writes.
    let mut paused = 0.0f64;
    let mut window_start = Instant::now();
    let mut window_rows = 0usize;
    let mut last_lr = schedule.rate(state.step.saturating_sub(1));
    let mut stop = false;
    let checkpoint_on_epoch = t.checkpoint_every_steps == 0;
    let metric = t
        .metric_for_best_model
        .clone()
        .unwrap_or_else(|| "loss".into());

    while !stop && state.step < total_steps {
        let epoch = state.epoch;
        let batches = plan.batches(&lengths, epoch as u64);
        let groups: Vec<&[Vec<usize>]> = batches.chunks(t.gradient_accumulation_steps).collect();
        let skip = state.step_in_epoch;
        progress.start_epoch(epoch, groups.len());
        progress.step(skip);
        // Batches are gathered ahead of the model by `loader_workers` threads (0: inline).
        let inline = t.loader_workers == 0;
        let job = Arc::new(LoaderJob {
            task: Arc::clone(&shared_task),
            features: Arc::clone(&shared),
            steps: groups.iter().skip(skip).map(|g| g.to_vec()).collect(),
            first_step: state.step,
            seed: t.seed,
        });
        let mut loader = (!inline).then(|| Loader::spawn(Arc::clone(&job), t.loader_workers));
        {
            for (g, group) in groups.iter().enumerate().skip(skip) {
                if state.step >= total_steps {
                    break;
                }
                let host: Vec<T::HostBatch> = match &mut loader {
                    None => job.gather(g - skip),
                    Some(loader) => loader
                        .next()
                        .ok_or_else(|| TrainError::Run("the batch loader stopped".into()))?,
                };
                let lr = schedule.rate(state.step);
                let mut grads: Option<GradientsParams> = None;
                let mut step_loss = 0.0;
                for (micro, hb) in host.iter().enumerate() {
                    train_device.seed(pass_seed(t.seed, state.step, micro));
                    let batch = task.to_device(hb, pad, &train_device);
                    let rows = group[micro].len();
                    window_rows += rows;
                    state.train_rows += rows;
                    let loss = task.loss(&model, &batch);
                    step_loss += loss.clone().into_scalar::<f32>() as f64 / host.len() as f64;
                    let scaled = loss.div_scalar(host.len() as f64);
                    let g = GradientsParams::from_grads(scaled.backward(), &model);
                    grads = Some(accumulate(&model, grads, g));
                }
                let mut grads = grads.expect("a step has at least one batch");
                if t.max_grad_norm > 0.0 {
                    clip_grad_norm(&model, &mut grads, t.max_grad_norm as f32);
                }
                model = optim.step(lr, model, grads);
                last_lr = lr;
                state.step += 1;
                state.step_in_epoch = g + 1;
                state.window_loss += step_loss;
                state.window_steps += 1;
                progress.step(g + 1);
                let epoch_progress = epoch as f64 + (g + 1) as f64 / groups.len() as f64;
                let end_of_epoch = g + 1 == groups.len();
                let last = state.step >= total_steps;

                if state.step % t.log_every_steps == 0 || last {
                    let loss = state.window_loss / state.window_steps.max(1) as f64;
                    state.history.push(LogRow {
                        step: state.step,
                        epoch: epoch_progress,
                        split: "train".into(),
                        loss,
                        learning_rate: lr,
                        metrics: BTreeMap::new(),
                    });
                    state.window_loss = 0.0;
                    state.window_steps = 0;
                    let elapsed = window_start.elapsed().as_secs_f64();
                    let rate = window_rows as f64 / elapsed.max(1e-9);
                    let per_step = start.elapsed().as_secs_f64()
                        / (state.step - resumed.as_ref().map_or(0, |r| r.0)).max(1) as f64;
                    let eta = per_step * (total_steps - state.step) as f64;
                    progress.log(&StepReport {
                        step: state.step,
                        total_steps,
                        epoch: epoch_progress,
                        loss,
                        learning_rate: lr,
                        rows_per_second: rate,
                        eta_seconds: eta,
                    });
                    window_start = Instant::now();
                    window_rows = 0;
                    write_metrics_csv(&out.join("metrics.csv"), &state.history, run.names)?;
                }

                let eval_now = if t.eval_every_steps > 0 {
                    state.step % t.eval_every_steps == 0
                } else {
                    end_of_epoch
                } || last;
                if eval_now {
                    if let Some(split) = &data.validation {
                        let eval_start = Instant::now();
                        let metrics = run.evaluate(&model, split);
                        let eval_seconds = eval_start.elapsed().as_secs_f64();
                        paused += eval_seconds;
                        state.eval_seconds += eval_seconds;
                        progress.validation(state.step, epoch_progress, eval_seconds, &metrics);
                        let value = metrics.get(&metric).copied();
                        let mut row_metrics = metrics.clone();
                        let loss = row_metrics.remove("loss").unwrap_or(f64::NAN);
                        state.history.push(LogRow {
                            step: state.step,
                            epoch: epoch_progress,
                            split: "validation".into(),
                            loss,
                            learning_rate: lr,
                            metrics: row_metrics,
                        });
                        write_metrics_csv(&out.join("metrics.csv"), &state.history, run.names)?;
                        if let Some(value) = value {
                            let best = state.best.as_ref().and_then(|b| b.0.parse::<f64>().ok());
                            let better = match best {
                                None => true,
                                Some(best) if greater_is_better(&metric) => value > best,
                                Some(best) => value < best,
                            };
                            if better {
                                state.best = Some((value.to_string(), state.step));
                                state.evals_without_improvement = 0;
                            } else {
                                state.evals_without_improvement += 1;
                            }
                            if let Some(patience) = t.early_stopping_patience {
                                if state.evals_without_improvement >= patience && !last {
                                    progress.note(format!(
                                        "early stopping: no better {metric} for {patience} evaluations"
                                    ));
                                    stop = true;
                                }
                            }
                        }
                    }
                }

                let checkpoint_now = if checkpoint_on_epoch {
                    end_of_epoch
                } else {
                    state.step % t.checkpoint_every_steps == 0
                };
                // `q` in the terminal UI: checkpoint here and stop; `--resume` continues.
                if progress.stop_requested() && !last && !stop {
                    interrupted = true;
                    stop = true;
                }
                if (checkpoint_now || interrupted) && !last && (!stop || interrupted) {
                    let (next_epoch, next_in_epoch) = if end_of_epoch {
                        (epoch + 1, 0)
                    } else {
                        (epoch, g + 1)
                    };
                    let mut saved = state.clone();
                    saved.epoch = next_epoch;
                    saved.step_in_epoch = next_in_epoch;
                    let save_start = Instant::now();
                    saved.train_seconds = seconds_before + start.elapsed().as_secs_f64() - paused;
                    let dir = run.save_checkpoint(&loaded, &model, &optim, &saved)?;
                    paused += save_start.elapsed().as_secs_f64();
                    progress.checkpoint(&dir);
                }
                if stop {
                    break;
                }
            }
        }
        progress.end_epoch();
        if state.step_in_epoch >= groups.len() {
            state.epoch += 1;
            state.step_in_epoch = 0;
        }
        if t.max_steps.is_none() && state.epoch >= t.epochs {
            break;
        }
    }
    state.train_seconds = seconds_before + start.elapsed().as_secs_f64() - paused;
    progress.finish();
    if interrupted {
        return Err(TrainError::Run(format!(
            "stopped at step {} on request; the checkpoint is in {}, and `--resume` continues \
             the run",
            state.step,
            out.join("checkpoints").display()
        )));
    }

    // The final model, in the HF layout, written beside and renamed into place.
    let model_dir = out.join("model");
    let tmp = out.join(format!(".tmp-model-{}", std::process::id()));
    if tmp.exists() {
        std::fs::remove_dir_all(&tmp).map_err(TrainError::io(&tmp))?;
    }
    std::fs::create_dir_all(&tmp).map_err(TrainError::io(&tmp))?;
    let final_model = model.valid();
    save_pretrained(&final_model, &loaded.config, &tmp)?;
    write_tokenizer(&loaded.tokenizer, &tmp, config.data.max_seq_length)?;
    sync_dir(&tmp);
    if model_dir.exists() {
        std::fs::remove_dir_all(&model_dir).map_err(TrainError::io(&model_dir))?;
    }
    std::fs::rename(&tmp, &model_dir).map_err(TrainError::io(&model_dir))?;

    let validation = data.validation.as_ref().map(|split| {
        state
            .history
            .iter()
            .rev()
            .find(|r| r.split == "validation" && r.step == state.step)
            .map(|r| {
                let mut m = r.metrics.clone();
                m.insert("loss".into(), r.loss);
                m
            })
            .unwrap_or_else(|| run.evaluate(&model, split))
    });
    if let Some(m) = &validation {
        let json = serde_json::to_string_pretty(m).expect("metrics serialise");
        write_text_atomically(&out.join("eval_results.json"), &json)?;
        println!("validation: {}", format_metrics(m));
    }
    let test = data.test.as_ref().map(|split| run.evaluate(&model, split));
    if let Some(m) = &test {
        let json = serde_json::to_string_pretty(m).expect("metrics serialise");
        write_text_atomically(&out.join("test_results.json"), &json)?;
        let mut row_metrics = m.clone();
        let loss = row_metrics.remove("loss").unwrap_or(f64::NAN);
        state.history.push(LogRow {
            step: state.step,
            epoch: state.epoch as f64,
            split: "test".into(),
            loss,
            learning_rate: last_lr,
            metrics: row_metrics,
        });
        write_metrics_csv(&out.join("metrics.csv"), &state.history, run.names)?;
        println!("test: {}", format_metrics(m));
    }
    if let Err(e) = plot::draw(
        &out.join("metrics.png"),
        &plot_panels(&state.history, run.names),
    ) {
        println!("metrics.png not drawn: {e}");
    }
    let rows_per_second = state.train_rows as f64 / state.train_seconds.max(1e-9);
    let summary_json = serde_json::json!({
        "step": state.step,
        "train_seconds": state.train_seconds,
        "eval_seconds": state.eval_seconds,
        "train_rows": state.train_rows,
        "train_rows_per_second": rows_per_second,
        "resumed_from": resumed.as_ref().map(|r| r.0),
    });
    write_text_atomically(
        &out.join("train_results.json"),
        &serde_json::to_string_pretty(&summary_json).expect("JSON serialises"),
    )?;
    println!(
        "done: {} steps, {} train rows in {} ({:.1} seq/s); model in {}",
        state.step,
        state.train_rows,
        format_duration(state.train_seconds),
        rows_per_second,
        model_dir.display()
    );
    Ok(RunSummary {
        step: state.step,
        resumed_from: resumed.map(|r| r.0),
        validation,
        test,
        train_seconds: state.train_seconds,
        rows_per_second,
        model_dir,
    })
}

/// Evaluates a fine-tuned model directory on a split of the config's data (`validation` or
/// `test`): the same numbers a run logs.
pub fn evaluate_dir(
    config: &FineTuneConfig,
    model_dir: &Path,
    split: &str,
) -> Result<Metrics, TrainError> {
    struct EvaluateDir<'a> {
        config: &'a FineTuneConfig,
        model_dir: &'a Path,
        split: &'a str,
    }
    impl TaskFn for EvaluateDir<'_> {
        type Output = Result<Metrics, TrainError>;
        fn call<T: Task>(self) -> Self::Output {
            let task = tasks::configure::<T>(self.config)?;
            evaluate_dir_task(&task, self.config, self.model_dir, self.split)
        }
    }
    let f = EvaluateDir {
        config,
        model_dir,
        split,
    };
    tasks::by_name(&config.task, f)
        .unwrap_or_else(|| Err(TrainError::Run(format!("unknown task `{}`", config.task))))
}

fn evaluate_dir_task<T: Task>(
    task: &T,
    config: &FineTuneConfig,
    model_dir: &Path,
    split: &str,
) -> Result<Metrics, TrainError> {
    let device = parse_device(&config.training.device)?;
    let tokenizer = load_tokenizer(model_dir)?;
    let base = BertConfig::from_file(model_dir.join("config.json"))
        .map_err(bert_model::PretrainedError::from)?;
    let data = task.load(&LoadContext {
        config,
        tokenizer: &tokenizer,
        known: labels_of(&base),
        with_train: false,
    })?;
    let chosen = match split {
        "validation" => data.validation.as_ref(),
        "test" => data.test.as_ref(),
        other => {
            return Err(TrainError::Run(format!(
                "unknown split `{other}`; expected validation or test"
            )))
        }
    };
    let Some(chosen) = chosen else {
        return Err(TrainError::Run(format!(
            "the config names no `data.{split}` file"
        )));
    };
    let loaded = build_model(
        task,
        config,
        Some(model_dir),
        tokenizer,
        base,
        data.labels.as_ref(),
        &device,
    )?;
    let pad = loaded.tokenizer.special_ids().pad;
    Ok(evaluate(
        task,
        &loaded.model,
        &chosen.features,
        config.training.eval_batch_size,
        pad,
        data.labels.as_ref(),
        &device,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checkpoints_are_listed_only_when_complete() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("checkpoints");
        for (name, complete) in [("step-10", true), ("step-20", false), ("step-5", true)] {
            std::fs::create_dir_all(root.join(name)).unwrap();
            if complete {
                std::fs::write(root.join(name).join("trainer_state.json"), "{}").unwrap();
            }
        }
        std::fs::create_dir_all(root.join(".tmp-step-30-1")).unwrap();
        let found: Vec<usize> = list_checkpoints(dir.path()).iter().map(|c| c.0).collect();
        assert_eq!(found, vec![5, 10]);
        assert_eq!(newest_checkpoint(dir.path()).unwrap().0, 10);
    }
}
