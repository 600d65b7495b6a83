//! Fine-tuning through burn-train's `Learner`: `SupervisedTraining` runs our step-based
//! strategy ([`strategy`]) over a task's head wrapped as a learner model ([`task_model`]), with
//! burn's `ModuleOptimizer` (our AdamW rule), an `LrScheduler` with HF's warmup, `DataLoader`s
//! over the task's features ([`loader`]), burn's checkpointers committed as one set
//! ([`checkpoint`]), burn's event processor and renderer, and its interrupter.
//!
//! Exact resume rests on three things: the batch order of an epoch, and each batch's random
//! draws (masks), are pure functions of the data seed, the epoch and the step; dropout's
//! generator is reseeded before every forward pass from the seed, the optimizer step and the
//! micro-batch; and a checkpoint holds the weights, the AdamW moments,
//! the schedule and every counter of the loop ([`TrainerState`]).

pub mod checkpoint;
pub mod events;
pub mod loader;
pub mod manifest;
pub mod output_dir;
pub mod prepare;
pub mod resume;
pub mod state;
pub mod strategy;
pub mod task_model;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use bert_data::batch::{BatchPlan, LabelSet};
use bert_data::{BertTokenizer, TokenizerOptions, TokenizerOverrides};
use bert_model::burn::module::Module;
use bert_model::burn::prelude::Device;
use bert_model::{
    parse_device, resolve_model_dir, save_pretrained, write_text_atomically, BertConfig,
    Checkpoint, HfModel, ParamSource,
};
use burn::optim::ModuleOptimizer;
use burn_train::logger::InMemoryMetricLogger;
use burn_train::metric::LearningRateMetric;
use burn_train::renderer::MetricsRenderer;
use burn_train::{Interrupter, Learner, SupervisedTraining, TrainingStrategy, ValidLoader};

use crate::config::{FineTuneConfig, ModelSource};
use crate::distributed::Ranks;
use crate::export::write_tokenizer;
use crate::metrics::Metrics;
use crate::model_parts::check_vocab;
use crate::optim::{AdamW, HfScheduler, LrSchedule};
use crate::plot;
use crate::tasks::{evaluate, labels_of, LoadContext, Split, Task, TaskConfig, TaskData};
use crate::TrainError;
use checkpoint::{read_records, sync_dir, CheckpointFiles, ModelFiles, OnRequest, RecordFile};
use events::{format_duration, format_metrics, Reporter, RunEvent, Score, Session};
use loader::{EvalLoader, Seeds, Share, StepLoader};
use output_dir::OutputLock;
use resume::resume_point;
use state::{greater_is_better, plot_panels, read_state, write_metrics_csv};
pub use state::{LogRow, RunSummary, TrainerState};
use strategy::{Ending, Patience, RunContext, StepStrategy};
use task_model::{stable_param_ids, StepContext, TaskModel};

/// Runs `bert-train fine-tune` without showing anything: trains, evaluates, checkpoints and
/// writes the final model.
/// With `resume`, continues from the newest complete checkpoint in the output folder.
pub fn fine_tune(
    config: &FineTuneConfig<TaskConfig>,
    resume: bool,
) -> Result<RunSummary, TrainError> {
    let start = Start {
        resume,
        overwrite: false,
    };
    fine_tune_with(config, start, Session::quiet())
}

/// How a run treats what its output folder already holds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Start {
    /// Continue from the newest complete checkpoint (a folder with checkpoints is refused
    /// without it).
    pub resume: bool,
    /// Write into a folder that holds files no run wrote (refused without it).
    pub overwrite: bool,
}

/// [`fine_tune`], reporting to `session` (a renderer, a reporter, an interrupter).
pub fn fine_tune_with(
    config: &FineTuneConfig<TaskConfig>,
    start: Start,
    session: Session,
) -> Result<RunSummary, TrainError> {
    config.check()?;
    with_task!(&config.task, task => fine_tune_task(&task, config, start, session))
}

/// A run being set up: what every step of the setup shares.
struct Setup<'a> {
    config: &'a FineTuneConfig<TaskConfig>,
    reporter: Arc<Mutex<Box<dyn Reporter>>>,
    ranks: Ranks,
}

impl Setup<'_> {
    fn note(&self, text: String) {
        if let Ok(mut r) = self.reporter.lock() {
            r.report(RunEvent::Note(text));
        }
    }

    /// The training devices (autodiff), `cuda:local` made this rank's GPU.
    fn devices(&self) -> Result<Vec<Device>, TrainError> {
        let names = self.config.training.devices();
        let parsed = names
            .iter()
            .map(|d| parse_device(&self.ranks.device_name(d)).map(|d| d.autodiff()));
        Ok(parsed.collect::<Result<Vec<_>, _>>()?)
    }

    /// `fine-tune: ... | N train rows, S steps (...), warmup W[ | R ranks, global batch G]`.
    fn plan_line<T: Task>(&self, task: &T, rows: usize, plan: &Plan) -> String {
        let ranks = match self.ranks.world_size() {
            1 => String::new(),
            n => format!(" | {n} ranks, global batch {}", plan.batch_plan.batch_size),
        };
        format!(
            "fine-tune: {} | {rows} train rows, {} steps ({} per epoch), warmup {}{ranks}",
            self.config.summary(&task.describe()),
            plan.total_steps,
            plan.steps_per_epoch,
            plan.schedule.warmup,
        )
    }

    /// This rank's share of each global batch.
    fn share(&self) -> Share {
        Share {
            rank: self.ranks.rank(),
            ranks: self.ranks.world_size(),
        }
    }

    /// The output folder's lock, taken by rank 0 (the only rank that writes there).
    fn lock(&self, out: &Path) -> Result<Option<OutputLock>, TrainError> {
        if !self.ranks.is_main() {
            return Ok(None);
        }
        let lock = OutputLock::acquire(out)?;
        if let Some(holder) = &lock.taken_over {
            self.note(format!(
                "took over the lock of the run {holder}, which ended without releasing it"
            ));
        }
        Ok(Some(lock))
    }

    /// The checkpoint to resume from: rank 0 chooses it ([`resume_point`]), every rank reads
    /// it (the output folder is shared). A refusal on rank 0 stops every rank.
    fn resume_point(
        &self,
        start: Start,
        files: &CheckpointFiles,
    ) -> Result<Option<(usize, PathBuf)>, TrainError> {
        let chosen = match self.ranks.is_main() {
            true => {
                files.clean_scratch();
                resume_point(self.config, start, self.ranks.world_size(), &|n| {
                    self.note(n)
                })
            }
            false => Ok(None),
        };
        if self.ranks.world_size() == 1 {
            return chosen;
        }
        let message: Result<Option<(usize, PathBuf)>, String> = chosen
            .as_ref()
            .map(Clone::clone)
            .map_err(ToString::to_string);
        let bytes = serde_json::to_vec(&message).expect("the choice serialises");
        let agreed = self.ranks.broadcast_bytes(bytes, 0);
        let agreed: Result<Option<(usize, PathBuf)>, String> =
            serde_json::from_slice(&agreed).map_err(|e| TrainError::Run(e.to_string()))?;
        match (chosen, agreed) {
            (Err(e), _) => Err(e),
            (Ok(_), Err(e)) => Err(TrainError::Run(format!("rank 0 did not start: {e}"))),
            (Ok(_), Ok(point)) => Ok(point),
        }
    }
}

/// [`fine_tune`] for one task.
pub fn fine_tune_task<T: Task>(
    task: &T,
    config: &FineTuneConfig<TaskConfig>,
    start: Start,
    session: Session,
) -> Result<RunSummary, TrainError> {
    let Session {
        renderer,
        reporter,
        interrupter,
        ranks,
    } = session;
    let setup = Setup {
        config,
        reporter: Arc::new(Mutex::new(reporter)),
        ranks: ranks.clone(),
    };
    let out = config.output_dir.clone();
    // Held by rank 0 until the run ends: a second run into `out` is refused meanwhile.
    let _lock = setup.lock(&out)?;
    let files = CheckpointFiles::new(&out, config.training.keep_checkpoints);
    let resumed = setup.resume_point(start, &files)?;
    let devices = setup.devices()?;
    let (tokenizer, base, weights) = model_source(config, resumed.as_ref())?;
    check_length(config, &base)?;
    check_vocab(&tokenizer, &base, weights.as_deref().unwrap_or(&out))?;
    if ranks.is_main() {
        write_text_atomically(&out.join("config.toml"), &config.to_toml())?;
    }
    let trained_labels = resumed.as_ref().and_then(|_| labels_of(&base));
    let mut data = setup.load_data(task, &tokenizer, trained_labels)?;
    // The first device holds the weights and the optimizer.
    let main = devices.first().cloned().unwrap_or_default();
    let labels = data.labels.as_ref();
    let mut loaded = build_model(
        task,
        config,
        weights.as_deref(),
        tokenizer,
        base,
        labels,
        &main,
    )?;
    if let Some(note) = &loaded.note {
        setup.note(note.clone());
    }
    // Every rank starts from rank 0's weights.
    loaded.model = ranks.broadcast_module(loaded.model, 0);
    let plan = Plan::new(config, data.train.features.len(), ranks.world_size());
    let mut state = setup.initial_state(resumed.as_ref(), plan.total_steps)?;
    state.ranks = Some(ranks.world_size());
    let step = StepContext {
        task: Arc::new(task.clone()),
        pad: loaded.tokenizer.special_ids().pad,
        max_grad_norm: config.training.max_grad_norm as f32,
    };
    let task_model = TaskModel {
        model: loaded.model.clone(),
        step,
    };
    let learner = make_learner(task_model.clone(), config, &plan, &state, resumed.as_ref())?;
    setup.note(setup.plan_line(task, data.train.features.len(), &plan));
    // The loader keeps the training features (one copy: a corpus may have millions of blocks).
    let train = std::mem::take(&mut data.train.features);
    let context =
        Arc::new(setup.context(&task_model.step.task, &plan, &data, train, files, devices));
    let (mut state, model) = launch(
        &context,
        learner,
        &loaded,
        plan.epochs,
        renderer,
        interrupter,
        state,
    )?;
    let digests = same_weights(&ranks, &model)?;
    if !ranks.is_main() {
        return Ok(rank_summary(&state, &out, resumed.map(|r| r.0)));
    }
    finish(
        &digests,
        &context,
        &loaded,
        &data,
        &mut state,
        &model,
        resumed.map(|r| r.0),
    )
}

/// The SHA-256 of each rank's weights (none for one process): the ranks applied the same
/// updates, so their weights must be identical, bit for bit.
fn same_weights<M: Module>(ranks: &Ranks, model: &M) -> Result<Vec<String>, TrainError> {
    match ranks.world_size() {
        1 => Ok(Vec::new()),
        _ => ranks
            .check_same_weights(model)
            .map_err(|e| TrainError::Run(e.to_string())),
    }
}

/// Runs the training through burn-train's `SupervisedTraining` with our strategy and
/// checkpointers; the state and the weights at the end.
fn launch<T: Task>(
    context: &Arc<RunContext<T>>,
    learner: Learner<TaskModel<T>>,
    loaded: &Loaded<T::Model>,
    epochs: usize,
    renderer: Box<dyn MetricsRenderer>,
    interrupter: Interrupter,
    state: TrainerState,
) -> Result<(TrainerState, T::Model), TrainError> {
    let config = &context.config;
    let files = &context.files;
    let model_files = ModelFiles::new(
        Arc::clone(files),
        learner.model().valid(),
        loaded.config.clone(),
        loaded.tokenizer.clone(),
        config.data.max_seq_length,
    );
    let validation: ValidLoader<TaskModel<T>> = match &context.validation {
        Some(loader) => loader.clone(),
        None => Arc::new(EvalLoader::new(
            Arc::clone(&context.task),
            Arc::default(),
            1,
        )),
    };
    let strategy = Arc::new(StepStrategy::new(Arc::clone(context), state));
    let training = SupervisedTraining::new(&config.output_dir, context.loader.clone(), validation)
        .with_training_strategy(TrainingStrategy::Custom(strategy.clone()))
        .with_custom_checkpointers(
            model_files,
            RecordFile::optimizer(Arc::clone(files)),
            RecordFile::scheduler(Arc::clone(files)),
        )
        .with_checkpointing_strategy(OnRequest)
        .early_stopping(context.patience.clone())
        .with_application_logger(None)
        .with_metric_logger(InMemoryMetricLogger::new())
        .with_interrupter(interrupter)
        .renderer(renderer)
        .num_epochs(epochs)
        .metric_train_numeric(Score::new("loss", false))
        .metric_train_numeric(LearningRateMetric::new());
    let result = register_validation_metrics(training, &*context.task).launch(learner);
    let (state, outcome) = strategy.take();
    if let Some(error) = result.error {
        return Err(TrainError::Run(format!("training stopped: {error}")));
    }
    if outcome? == Ending::Interrupted {
        return Err(TrainError::Stopped {
            step: state.step,
            checkpoints: files.root(),
        });
    }
    Ok((state, result.model.model))
}

/// The training loader: global batches of one optimizer step, this rank's share of each in
/// passes of `batch_size` (`accumulation` passes on each device).
fn train_loader<T: Task>(
    task: &Arc<T>,
    config: &FineTuneConfig<TaskConfig>,
    plan: &Plan,
    train: Vec<T::Feature>,
    share: Share,
) -> StepLoader<T> {
    let t = &config.training;
    StepLoader::new(
        Arc::clone(task),
        Arc::new(train),
        plan.batch_plan,
        t.batch_size,
        share,
        Seeds {
            data: t.data_seed(),
            dropout: t.seed,
        },
        t.loader_workers,
    )
}

/// Registers each metric of the task (and the loss) with burn-train's validation metrics.
fn register_validation_metrics<T: Task>(
    mut training: SupervisedTraining<TaskModel<T>>,
    task: &T,
) -> SupervisedTraining<TaskModel<T>> {
    training = training.metric_valid_numeric(Score::new("loss", false));
    for name in task.metric_names() {
        training = training.metric_valid_numeric(Score::new(name, greater_is_better(name)));
    }
    training
}

/// Steps, schedule and batch plan of a run.
struct Plan {
    batch_plan: BatchPlan,
    steps_per_epoch: usize,
    total_steps: usize,
    epochs: usize,
    schedule: LrSchedule,
}

impl Plan {
    /// The plan of `train_rows` rows over `ranks` processes.
    fn new(config: &FineTuneConfig<TaskConfig>, train_rows: usize, ranks: usize) -> Self {
        let t = &config.training;
        let global_batch = global_batch(config, ranks);
        let steps_per_epoch = train_rows.div_ceil(global_batch);
        let total_steps = t.max_steps.unwrap_or(steps_per_epoch * t.epochs);
        let warmup = t
            .warmup_steps
            .unwrap_or((t.warmup_ratio * total_steps as f64).ceil() as usize);
        Plan {
            batch_plan: BatchPlan {
                batch_size: global_batch,
                shuffle_seed: Some(t.data_seed()),
                group_by_length: t.group_by_length,
            },
            steps_per_epoch,
            total_steps,
            epochs: total_steps.div_ceil(steps_per_epoch.max(1)),
            schedule: LrSchedule {
                peak: t.learning_rate,
                warmup,
                total: total_steps,
                kind: t.lr_scheduler,
            },
        }
    }
}

/// Rows of one optimizer step over every rank: `batch_size` x accumulation x devices x ranks.
pub fn global_batch(config: &FineTuneConfig<TaskConfig>, ranks: usize) -> usize {
    let t = &config.training;
    t.batch_size * t.gradient_accumulation_steps * t.devices().len().max(1) * ranks.max(1)
}

/// burn's `Learner` over the model, with AdamW and the schedule, restored from a checkpoint.
fn make_learner<T: Task>(
    task_model: TaskModel<T>,
    config: &FineTuneConfig<TaskConfig>,
    plan: &Plan,
    state: &TrainerState,
    resumed: Option<&(usize, PathBuf)>,
) -> Result<Learner<TaskModel<T>>, TrainError> {
    let t = &config.training;
    let optim = ModuleOptimizer::from(AdamW {
        beta1: t.adam_beta1,
        beta2: t.adam_beta2,
        epsilon: t.adam_epsilon,
        weight_decay: t.weight_decay,
    });
    let scheduler = HfScheduler {
        schedule: plan.schedule,
        taken: state.step,
    };
    let mut learner = Learner::new(task_model, optim, scheduler);
    if let Some((_, dir)) = resumed {
        let (optimizer, schedule) = read_records(dir)?;
        learner.load_optim(optimizer);
        learner.load_scheduler(schedule);
    }
    Ok(learner)
}

impl Setup<'_> {
    /// What the strategy needs: loaders, labels, checkpoint files, devices, early stopping.
    fn context<T: Task>(
        &self,
        task: &Arc<T>,
        plan: &Plan,
        data: &TaskData<T::Feature>,
        train: Vec<T::Feature>,
        files: Arc<CheckpointFiles>,
        devices: Vec<Device>,
    ) -> RunContext<T> {
        let config = self.config;
        let t = &config.training;
        RunContext {
            config: config.clone(),
            task: Arc::clone(task),
            loader: Arc::new(train_loader(task, config, plan, train, self.share())),
            validation: data.validation.as_ref().map(|split| {
                let features = Arc::new(split.features.clone());
                Arc::new(EvalLoader::new(
                    Arc::clone(task),
                    features,
                    t.eval_batch_size,
                ))
            }),
            labels: data.labels.clone(),
            files,
            reporter: Arc::clone(&self.reporter),
            total_steps: plan.total_steps,
            devices,
            ranks: self.ranks.clone(),
            patience: Patience {
                patience: t.early_stopping_patience.unwrap_or(usize::MAX),
                since_best: Arc::default(),
            },
        }
    }

    /// Reads and encodes the task's data, noting skipped rows and the labels.
    fn load_data<T: Task>(
        &self,
        task: &T,
        tokenizer: &BertTokenizer,
        trained_labels: Option<LabelSet>,
    ) -> Result<TaskData<T::Feature>, TrainError> {
        // Under MPI the first rank of each machine reads first: it prepares the corpora that
        // are not in the cache yet, the other ranks then find them there.
        let first = self.ranks.local_rank() == 0;
        if !first {
            self.ranks.barrier();
        }
        let data = task.load(&LoadContext {
            config: self.config,
            tokenizer,
            trained_labels,
            with_train: true,
            progress: self.ranks.is_main(),
        });
        if first {
            self.ranks.barrier();
        }
        let data = data?;
        let splits = std::iter::once(&data.train)
            .chain(data.validation.iter())
            .chain(data.test.iter());
        for split in splits {
            if let Some(note) = skipped_note(split) {
                self.note(note);
            }
        }
        if let Some(labels) = &data.labels {
            self.note(format!(
                "labels ({}): {}",
                labels.len(),
                labels.names().join(", ")
            ));
        }
        Ok(data)
    }

    /// A fresh state, or the checkpoint's (which must come from the same seed and length).
    fn initial_state(
        &self,
        resumed: Option<&(usize, PathBuf)>,
        total_steps: usize,
    ) -> Result<TrainerState, TrainError> {
        let t = &self.config.training;
        let Some((_, dir)) = resumed else {
            return Ok(TrainerState::new(t.seed, t.data_seed(), total_steps));
        };
        let state = read_state(dir)?;
        let data_seed = state.data_seed.unwrap_or(state.seed);
        if (state.seed, data_seed, state.total_steps) != (t.seed, t.data_seed(), total_steps) {
            return Err(TrainError::Run(format!(
                "{}: the checkpoint was made with seed {}, data seed {} and {} total steps, the \
                 config now gives seed {}, data seed {} and {} steps; resume with the run's own \
                 config ({})",
                dir.display(),
                state.seed,
                data_seed,
                state.total_steps,
                t.seed,
                t.data_seed(),
                total_steps,
                self.config.output_dir.join("config.toml").display()
            )));
        }
        Ok(state)
    }
}

/// `split: skipped N bad rows in FILE (first: line L: ...)`, when rows were skipped.
fn skipped_note<F>(split: &Split<F>) -> Option<String> {
    let first = split.skipped.first()?;
    let at = match first.line {
        0 => String::new(),
        line => format!("line {line}: "),
    };
    Some(format!(
        "{}: skipped {} bad rows in {} (first: {at}{})",
        split.name,
        split.skipped.len(),
        split.path.display(),
        first.message
    ))
}

/// The tokenizer, base config and weights directory of a run: from the checkpoint when
/// resuming, else from `[model]`.
pub(crate) fn model_source(
    config: &FineTuneConfig<TaskConfig>,
    resumed: Option<&(usize, PathBuf)>,
) -> Result<(BertTokenizer, BertConfig, Option<PathBuf>), TrainError> {
    let config_of = |dir: &Path, overrides| {
        BertConfig::from_file_with(dir.join("config.json"), overrides)
            .map_err(bert_model::PretrainedError::from)
    };
    let empty = serde_json::Map::new();
    match (resumed, &config.model) {
        (Some((_, dir)), _) => Ok((
            load_tokenizer(dir)?,
            config_of(dir, &empty)?,
            Some(dir.clone()),
        )),
        (None, ModelSource::Pretrained { name, overrides }) => {
            let dir = resolve_model_dir(name)?;
            Ok((
                load_tokenizer(&dir)?,
                config_of(&dir, overrides)?,
                Some(dir),
            ))
        }
        (None, ModelSource::Random { config, tokenizer }) => Ok((
            load_tokenizer(Path::new(tokenizer))?,
            (**config).clone(),
            None,
        )),
    }
}

/// After the last step: the final model in the HF layout, the validation and test metrics,
/// `metrics.png` and `train_results.json`.
fn finish<T: Task>(
    digests: &[String],
    ctx: &RunContext<T>,
    loaded: &Loaded<T::Model>,
    data: &TaskData<T::Feature>,
    state: &mut TrainerState,
    model: &T::Model,
    resumed_from: Option<usize>,
) -> Result<RunSummary, TrainError> {
    let config = &ctx.config;
    let out = &config.output_dir;
    let final_model = model.valid();
    let model_dir = write_final_model(out, &final_model, loaded, config.data.max_seq_length)?;
    let device = ctx.devices[0].clone().without_autodiff();
    let evaluate_split = |split: &Split<T::Feature>| {
        evaluate(
            &*ctx.task,
            &final_model,
            &split.features,
            config.training.eval_batch_size,
            loaded.tokenizer.special_ids().pad,
            data.labels.as_ref(),
            &device,
        )
    };
    let validation = data.validation.as_ref().map(|split| {
        state
            .validation_now()
            .unwrap_or_else(|| evaluate_split(split))
    });
    if let Some(m) = &validation {
        write_json(&out.join("eval_results.json"), m)?;
    }
    let test = data.test.as_ref().map(evaluate_split);
    if let Some(m) = &test {
        write_json(&out.join("test_results.json"), m)?;
        let lr = state.history.last().map_or(0.0, |r| r.learning_rate);
        state.push_evaluation("test", state.epoch as f64, lr, m);
        write_metrics_csv(
            &out.join("metrics.csv"),
            &state.history,
            ctx.task.metric_names(),
        )?;
    }
    let panels = plot_panels(&state.history, ctx.task.metric_names());
    if let Err(e) = plot::draw(&out.join("metrics.png"), &panels) {
        ctx.report(RunEvent::Note(format!("metrics.png not drawn: {e}")));
    }
    let rows_per_second = state.train_rows as f64 / state.train_seconds.max(1e-9);
    let summary_json = serde_json::json!({
        "step": state.step,
        "train_seconds": state.train_seconds,
        "eval_seconds": state.eval_seconds,
        "last_eval_seconds": state.last_eval_seconds,
        "train_rows": state.train_rows,
        "train_rows_per_second": rows_per_second,
        "resumed_from": resumed_from,
        "ranks": digests.len().max(1),
        "exchange_seconds": state.exchange_seconds,
        "wait_seconds": state.wait_seconds,
        "weights_sha256": digests,
    });
    write_text_atomically(
        &out.join("train_results.json"),
        &serde_json::to_string_pretty(&summary_json).expect("JSON serialises"),
    )?;
    Ok(RunSummary {
        step: state.step,
        resumed_from,
        validation,
        test,
        train_seconds: state.train_seconds,
        train_rows: state.train_rows,
        rows_per_second,
        model_dir,
    })
}

/// What a rank other than 0 returns: rank 0 evaluates and writes the final model.
fn rank_summary(state: &TrainerState, out: &Path, resumed_from: Option<usize>) -> RunSummary {
    RunSummary {
        step: state.step,
        resumed_from,
        validation: state.validation_now(),
        test: None,
        train_seconds: state.train_seconds,
        train_rows: state.train_rows,
        rows_per_second: state.train_rows as f64 / state.train_seconds.max(1e-9),
        model_dir: out.join("model"),
    }
}

fn write_json(path: &Path, metrics: &Metrics) -> Result<(), TrainError> {
    let json = serde_json::to_string_pretty(metrics).expect("metrics serialise");
    Ok(write_text_atomically(path, &json)?)
}

/// Writes `model/` (weights, config, tokenizer) beside and renames it into place.
fn write_final_model<M: HfModel>(
    out: &Path,
    model: &M,
    loaded: &Loaded<M>,
    max_seq_length: usize,
) -> Result<PathBuf, TrainError> {
    let model_dir = out.join("model");
    let tmp = out.join(format!(".tmp-model-{}", std::process::id()));
    if tmp.exists() {
        std::fs::remove_dir_all(&tmp).map_err(TrainError::io(&tmp))?;
    }
    let written = (|| {
        std::fs::create_dir_all(&tmp).map_err(TrainError::io(&tmp))?;
        save_pretrained(model, &loaded.config, &tmp)?;
        write_tokenizer(&loaded.tokenizer, &tmp, max_seq_length)?;
        sync_dir(&tmp);
        if model_dir.exists() {
            std::fs::remove_dir_all(&model_dir).map_err(TrainError::io(&model_dir))?;
        }
        std::fs::rename(&tmp, &model_dir).map_err(TrainError::io(&model_dir))
    })();
    if written.is_err() {
        let _ = std::fs::remove_dir_all(&tmp);
    }
    written.map(|()| model_dir)
}

/// A one-line summary of a finished run (`done: N steps, ...`).
pub fn done_line(summary: &RunSummary) -> String {
    format!(
        "done: {} steps, {} train rows in {} ({:.1} seq/s); model in {}",
        summary.step,
        summary.train_rows,
        format_duration(summary.train_seconds),
        summary.rows_per_second,
        summary.model_dir.display()
    )
}

/// `validation: loss ... | accuracy ...` lines of a finished run.
pub fn result_lines(summary: &RunSummary) -> Vec<String> {
    let mut lines = Vec::new();
    if let Some(m) = &summary.validation {
        lines.push(format!("validation: {}", format_metrics(m)));
    }
    if let Some(m) = &summary.test {
        lines.push(format!("test: {}", format_metrics(m)));
    }
    lines
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
    /// What was initialised rather than loaded.
    note: Option<String>,
}

fn build_model<T: Task>(
    task: &T,
    run: &FineTuneConfig<TaskConfig>,
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
    // A new head (or a model from scratch) is drawn from PyTorch's generator seeded with
    // `training.seed`, as transformers' `set_seed(seed)` before `from_pretrained` draws it: the
    // same head as transformers' for the same seed, and no stream shared with the SplitMix64
    // streams of the epoch order and dropout.
    let seed = run.training.seed;
    let mut note = None;
    let model = match from_dir {
        Some(dir) => {
            let checkpoint = Checkpoint::open_dir(dir)?;
            let (model, report) =
                bert_model::from_checkpoint::<T::Model>(&config, &checkpoint, device, seed)?;
            if !report.initialized.is_empty() {
                note = Some(format!(
                    "new head initialised from seed {seed}: {}",
                    report.initialized.join(", ")
                ));
            }
            model
        }
        None => {
            let mut source = ParamSource::random(device, config.initializer_range, seed);
            T::Model::build(&config, &mut source)?
        }
    };
    Ok(Loaded {
        model: stable_param_ids(model),
        config,
        tokenizer,
        note,
    })
}

/// Refuses a `data.max_seq_length` longer than the model's position embeddings, before any
/// work starts (a longer row would index past them).
fn check_length(config: &FineTuneConfig<TaskConfig>, model: &BertConfig) -> Result<(), TrainError> {
    let (length, limit) = (config.data.max_seq_length, model.max_position_embeddings);
    if length <= limit {
        return Ok(());
    }
    Err(TrainError::Run(format!(
        "`data.max_seq_length` ({length}) exceeds the model's max_position_embeddings ({limit})"
    )))
}

/// Refuses a model directory whose head is another task's (its `config.json` names the
/// architecture): its labels would mean nothing to this task.
fn check_head<T: Task>(model: &BertConfig, model_dir: &Path) -> Result<(), TrainError> {
    let wanted = <T::Model as HfModel>::ARCHITECTURE;
    let found = model.architectures.as_ref().and_then(|a| a.first());
    match found {
        Some(found) if found != wanted && found != "BertModel" => Err(TrainError::Run(format!(
            "{}: the model is a {found}, but the config's task `{}` evaluates a {wanted}; \
                 evaluate it with a config of its own task",
            model_dir.join("config.json").display(),
            T::NAME
        ))),
        _ => Ok(()),
    }
}

/// Evaluates a fine-tuned model directory on a split of the config's data (`validation` or
/// `test`): the same numbers a run logs.
pub fn evaluate_dir(
    config: &FineTuneConfig<TaskConfig>,
    model_dir: &Path,
    split: &str,
) -> Result<Metrics, TrainError> {
    config.check()?;
    with_task!(&config.task, task => evaluate_dir_task(&task, config, model_dir, split))
}

fn evaluate_dir_task<T: Task>(
    task: &T,
    config: &FineTuneConfig<TaskConfig>,
    model_dir: &Path,
    split: &str,
) -> Result<Metrics, TrainError> {
    let device = parse_device(&Ranks::single().device_name(&config.training.device()))?;
    let tokenizer = load_tokenizer(model_dir)?;
    let base = BertConfig::from_file(model_dir.join("config.json"))
        .map_err(bert_model::PretrainedError::from)?;
    check_length(config, &base)?;
    check_vocab(&tokenizer, &base, model_dir)?;
    check_head::<T>(&base, model_dir)?;
    let data = task.load(&LoadContext {
        config,
        tokenizer: &tokenizer,
        trained_labels: labels_of(&base),
        with_train: false,
        progress: false,
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
    if let Some(note) = &loaded.note {
        return Err(TrainError::Run(format!(
            "{}: not a fine-tuned {} ({note}); evaluate a run's model/ or a checkpoint",
            model_dir.display(),
            T::NAME,
        )));
    }
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
