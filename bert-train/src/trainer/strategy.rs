//! The step-based training strategy that burn-train's `SupervisedTraining` runs
//! (`TrainingStrategy::Custom`): burn's own strategies evaluate, checkpoint and stop only at
//! epoch ends; BERT fine-tuning does all three every N optimizer steps.
//!
//! Each optimizer step takes this rank's micro-batches of one step from the [`StepLoader`], runs
//! `Learner::train_step` on each (its loss weighted by its share of what the step's loss
//! averages over, on every rank), sums the gradients with burn's `GradientsAccumulator` and
//! then over the ranks ([`Ranks::all_reduce_gradients`]), and calls `Learner::lr_step` and
//! `Learner::optimizer_step` (our `TrainStep::optimize` clips by global norm). Steps and
//! evaluations go to burn-train's event processor (its metrics and renderer) and to the
//! [`Reporter`]; checkpoints go through burn-train's checkpointers and are committed as a set.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use bert_data::batch::LabelSet;
use bert_model::burn::module::Module;
use bert_model::burn::prelude::Device;
use burn::data::dataloader::{DataLoader, DataLoaderIterator, Progress};
use burn::data::dataset::DatasetError;
use burn::optim::{GradientsAccumulator, GradientsParams};
use burn_train::metric::store::EventStoreClient;
use burn_train::train::MultiDevicesTrainStep;
use burn_train::{
    EarlyStoppingStrategy, EventProcessorTraining, InferenceStep, Learner, LearnerEvent,
    SupervisedLearningStrategy, SupervisedTrainingEventProcessor, TrainLoader, TrainingComponents,
    TrainingItem, ValidLoader,
};

use super::checkpoint::CheckpointFiles;
use super::events::{Reporter, RunEvent, StepReport};
use super::loader::{EvalLoader, Position, StepLoader};
use super::state::{write_metrics_csv, LogRow, TrainerState};
use super::task_model::{EvalOutput, MicroBatch, StepOutput, TaskModel};
use crate::config::FineTuneConfig;
use crate::distributed::Ranks;
use crate::metrics::Metrics;
use crate::tasks::{file_order, split_metrics, Task, TaskConfig};
use crate::TrainError;

/// How the loop ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ending {
    /// All steps done, or early stopping.
    Finished,
    /// Stopped on request (`q`, the interrupter) after a checkpoint.
    Interrupted,
}

/// What the strategy needs besides the learner.
pub struct RunContext<T: Task> {
    /// The run's configuration.
    pub config: FineTuneConfig<TaskConfig>,
    /// The task.
    pub task: Arc<T>,
    /// The training batches.
    pub loader: Arc<StepLoader<T>>,
    /// The validation batches, if the config names a validation file.
    pub validation: Option<Arc<EvalLoader<T>>>,
    /// Class or tag names.
    pub labels: Option<LabelSet>,
    /// The checkpoint directory.
    pub files: Arc<CheckpointFiles>,
    /// Where messages go.
    pub reporter: Arc<Mutex<Box<dyn Reporter>>>,
    /// Optimizer steps of the run.
    pub total_steps: usize,
    /// The training devices (autodiff); the first holds the weights and the optimizer.
    pub devices: Vec<Device>,
    /// The processes of the run: each trains on its share, rank 0 writes.
    pub ranks: Ranks,
    /// The early-stopping rule's view of the run.
    pub patience: Patience,
}

/// Early stopping as burn-train's [`EarlyStoppingStrategy`]: stop when the selection metric has
/// not improved for `patience` evaluations. The count lives in [`TrainerState`] (so a resumed
/// run keeps it); the loop shares it here after each evaluation.
#[derive(Clone)]
pub struct Patience {
    /// Evaluations without improvement that stop the run.
    pub patience: usize,
    /// Evaluations since the best one.
    pub since_best: Arc<AtomicUsize>,
}

impl EarlyStoppingStrategy for Patience {
    fn should_stop(&mut self, _step: usize, _store: &EventStoreClient) -> bool {
        self.since_best.load(Ordering::Relaxed) >= self.patience
    }
}

impl<T: Task> RunContext<T> {
    /// Sends an event to the reporter.
    pub fn report(&self, event: RunEvent) {
        if let Ok(mut reporter) = self.reporter.lock() {
            reporter.report(event);
        }
    }
}

/// The strategy: the run's context, the state it starts from, and (after `launch`) how it
/// ended.
pub struct StepStrategy<T: Task> {
    context: Arc<RunContext<T>>,
    /// The state (the start, then the end) and how the loop ended.
    end: Mutex<(TrainerState, Option<Result<Ending, TrainError>>)>,
}

impl<T: Task> StepStrategy<T> {
    /// A strategy starting from `state`.
    pub fn new(context: Arc<RunContext<T>>, state: TrainerState) -> Self {
        StepStrategy {
            context,
            end: Mutex::new((state, None)),
        }
    }

    /// The state at the end and how the loop ended (after `launch`).
    pub fn take(&self) -> (TrainerState, Result<Ending, TrainError>) {
        let mut end = self.end.lock().expect("strategy state");
        let outcome = end
            .1
            .take()
            .unwrap_or_else(|| Err(TrainError::Run("the training strategy did not run".into())));
        (end.0.clone(), outcome)
    }
}

impl<T: Task> SupervisedLearningStrategy<TaskModel<T>> for StepStrategy<T> {
    fn fit(
        &self,
        mut components: TrainingComponents<TaskModel<T>>,
        mut learner: Learner<TaskModel<T>>,
        _train: TrainLoader<TaskModel<T>>,
        _valid: ValidLoader<TaskModel<T>>,
        _starting_epoch: usize,
    ) -> (TaskModel<T>, SupervisedTrainingEventProcessor<TaskModel<T>>) {
        let mut state = self.end.lock().expect("strategy state").0.clone();
        let devices = &self.context.devices;
        let outcome = StepLoop {
            workers: (devices.len() > 1).then(|| MultiDevicesTrainStep::new(devices)),
            ctx: &self.context,
            c: &mut components,
            learner: &mut learner,
            clock: Clock::new(&state),
            state: &mut state,
            last_lr: 0.0,
            stop: None,
            stop_requested: false,
        }
        .run();
        *self.end.lock().expect("strategy state") = (state, Some(outcome));
        (learner.model(), components.event_processor)
    }
}

/// Wall time of the run, without evaluation and checkpoint writes.
struct Clock {
    start: Instant,
    seconds_before: f64,
    paused: f64,
    first_step: usize,
    window_start: Instant,
    window_rows: usize,
}

impl Clock {
    fn new(state: &TrainerState) -> Self {
        Clock {
            start: Instant::now(),
            seconds_before: state.train_seconds,
            paused: 0.0,
            first_step: state.step,
            window_start: Instant::now(),
            window_rows: 0,
        }
    }

    fn train_seconds(&self) -> f64 {
        self.seconds_before + self.start.elapsed().as_secs_f64() - self.paused
    }
}

/// One run of the loop.
struct StepLoop<'a, T: Task> {
    ctx: &'a RunContext<T>,
    /// burn-train's workers, one per device, when there are several.
    workers: Option<MultiDevicesTrainStep<TaskModel<T>>>,
    c: &'a mut TrainingComponents<TaskModel<T>>,
    learner: &'a mut Learner<TaskModel<T>>,
    state: &'a mut TrainerState,
    clock: Clock,
    last_lr: f64,
    stop: Option<Ending>,
    /// A stop was asked for on some rank (a signal, `q`): all ranks stop after the same step.
    stop_requested: bool,
}

impl<T: Task> StepLoop<'_, T> {
    fn run(mut self) -> Result<Ending, TrainError> {
        let t = &self.ctx.config.training;
        let result = self.epochs(t.max_steps.is_none(), t.epochs);
        self.state.train_seconds = self.clock.train_seconds();
        result?;
        Ok(self.stop.unwrap_or(Ending::Finished))
    }

    fn epochs(&mut self, by_epochs: bool, epochs: usize) -> Result<(), TrainError> {
        if self.ctx.loader.steps_per_epoch() == 0 && self.state.step < self.ctx.total_steps {
            return Err(TrainError::Run("the training split has no rows".into()));
        }
        while self.stop.is_none() && self.state.step < self.ctx.total_steps {
            self.epoch()?;
            if by_epochs && self.state.epoch >= epochs {
                break;
            }
        }
        Ok(())
    }

    /// The rest of the current epoch.
    fn epoch(&mut self) -> Result<(), TrainError> {
        let epoch = self.state.epoch;
        let steps = self.ctx.loader.steps_per_epoch();
        self.ctx.loader.start_at(Position {
            epoch,
            step_in_epoch: self.state.step_in_epoch,
            step: self.state.step,
        });
        self.emit_train(LearnerEvent::StartSplit {
            epoch_number: epoch + 1,
            total_items: steps,
        });
        let loader = Arc::clone(&self.ctx.loader);
        let mut items = loader.iter();
        let mut done = self.state.step_in_epoch;
        while done < steps && self.state.step < self.ctx.total_steps && self.stop.is_none() {
            let micro = next_step(&mut *items)?;
            self.train_step(micro, Progress::new(done + 1, steps, None))?;
            done += 1;
            self.after_step(epoch, done, steps)?;
        }
        drop(items);
        self.emit_train(LearnerEvent::EndSplit(epoch + 1));
        self.emit_train(LearnerEvent::EndEpoch(epoch + 1));
        if self.state.step_in_epoch >= steps {
            self.state.epoch += 1;
            self.state.step_in_epoch = 0;
        }
        Ok(())
    }

    /// Forward and backward over the step's micro-batches (this rank's share), the gradients
    /// summed over the ranks, then one update.
    fn train_step(
        &mut self,
        micro: Vec<MicroBatch<T::HostBatch>>,
        progress: Progress,
    ) -> Result<(), TrainError> {
        self.learner.lr_step();
        let lr = self.learner.lr_current();
        let micro = self.weigh(micro);
        let (mut output, grads) = match &self.workers {
            None => self.forward_backward(micro),
            Some(workers) => self.forward_backward_on(workers, micro)?,
        };
        let ranks = &self.ctx.ranks;
        if ranks.world_size() > 1 {
            // Time spent waiting for the slowest rank, apart from the exchange itself.
            let wait = Instant::now();
            ranks.barrier();
            self.state.wait_seconds += wait.elapsed().as_secs_f64();
        }
        let exchange = Instant::now();
        let grads = ranks.all_reduce_gradients(&self.learner.model(), grads);
        let asked = self.c.interrupter.should_stop();
        let mut totals = [output.loss, output.rows as f64, f64::from(u8::from(asked))];
        ranks.sum(&mut totals);
        self.state.exchange_seconds += exchange.elapsed().as_secs_f64();
        (output.loss, output.rows) = (totals[0], totals[1] as usize);
        self.stop_requested = totals[2] > 0.0;
        self.learner.optimizer_step(grads);
        self.last_lr = lr.base();
        let s = &mut *self.state;
        s.step += 1;
        s.window_loss += output.loss;
        s.window_steps += 1;
        s.train_rows += output.rows;
        self.clock.window_rows += output.rows;
        let item = TrainingItem::new(output, progress, Some(s.step), Some(lr));
        self.emit_train(LearnerEvent::ProcessedItem(item));
        Ok(())
    }

    /// The step's passes with what each loss is divided by (the step's count over all ranks,
    /// over the pass's count: [`MicroBatch::loss_divisor`]); passes with nothing to average
    /// (an empty share, a block with no masked token) are left out.
    fn weigh(&self, micro: Vec<MicroBatch<T::HostBatch>>) -> Vec<MicroBatch<T::HostBatch>> {
        let mut total = [micro.iter().map(|m| m.count as f64).sum::<f64>()];
        self.ctx.ranks.sum(&mut total);
        micro
            .into_iter()
            .filter(|m| m.count > 0)
            .map(|m| MicroBatch {
                loss_divisor: total[0] / m.count as f64,
                ..m
            })
            .collect()
    }

    /// The summed loss, rows and gradients of a step's micro-batches, one after the other.
    fn forward_backward(
        &self,
        micro: Vec<MicroBatch<T::HostBatch>>,
    ) -> (StepOutput, GradientsParams) {
        let mut grads = GradientsAccumulator::new();
        let mut output = StepOutput::default();
        for batch in micro {
            let step = self.learner.train_step(batch);
            output.loss += step.item.loss;
            output.rows += step.item.rows;
            grads.accumulate(&self.learner.model(), step.grads);
        }
        (output, grads.grads())
    }

    /// The same over several devices: rounds of one micro-batch per device on burn-train's
    /// workers, the gradients moved to the main device and summed (each micro-batch's loss is
    /// already weighted by its share of the step, so the sum is the step's mean).
    fn forward_backward_on(
        &self,
        workers: &MultiDevicesTrainStep<TaskModel<T>>,
        micro: Vec<MicroBatch<T::HostBatch>>,
    ) -> Result<(StepOutput, GradientsParams), TrainError> {
        let main = &self.ctx.devices[0];
        let model = self.learner.model();
        let mut grads = GradientsAccumulator::new();
        let mut output = StepOutput::default();
        let mut batches = micro.into_iter();
        loop {
            let mut round: Vec<Box<dyn DataLoaderIterator<MicroBatch<T::HostBatch>>>> = self
                .ctx
                .devices
                .iter()
                .map(|_| Box::new(OneItem(batches.next())) as Box<_>)
                .collect();
            let (outputs, _) = workers
                .step(&mut round, &model)
                .map_err(|e| TrainError::Run(format!("training step: {e}")))?;
            if outputs.is_empty() {
                return Ok((output, grads.grads()));
            }
            for out in outputs {
                output.loss += out.output.item.loss;
                output.rows += out.output.item.rows;
                grads.accumulate(&model, out.output.grads.to_device(main, &model));
            }
        }
    }

    /// Logging, evaluation, early stopping, checkpoints and stop requests after a step.
    fn after_step(&mut self, epoch: usize, done: usize, steps: usize) -> Result<(), TrainError> {
        let t = &self.ctx.config.training;
        let step = self.state.step;
        self.state.step_in_epoch = done;
        let epoch_progress = epoch as f64 + done as f64 / steps as f64;
        let end_of_epoch = done == steps;
        let last = step >= self.ctx.total_steps;
        if step % t.log_every_steps == 0 || last {
            self.log(epoch_progress)?;
        }
        let eval_now = if t.eval_every_steps > 0 {
            step % t.eval_every_steps == 0
        } else {
            end_of_epoch
        } || last;
        if eval_now && self.ctx.validation.is_some() {
            self.validate(epoch_progress, last)?;
        }
        let checkpoint_now = if t.checkpoint_every_steps == 0 {
            end_of_epoch
        } else {
            step % t.checkpoint_every_steps == 0
        };
        if let Some(error) = self.c.interrupter.error() {
            return Err(TrainError::Run(format!("training stopped: {error}")));
        }
        // `q` in the terminal UI, a signal (the interrupter) on any rank: checkpoint here and
        // stop.
        // One process also takes a request that came during this step's evaluation.
        let alone = self.ctx.ranks.world_size() == 1;
        self.stop_requested |= alone && self.c.interrupter.should_stop();
        if self.stop_requested && !last && self.stop.is_none() {
            self.stop = Some(Ending::Interrupted);
        }
        let interrupted = self.stop == Some(Ending::Interrupted);
        if (checkpoint_now || interrupted) && !last && (self.stop.is_none() || interrupted) {
            let next = if end_of_epoch {
                (epoch + 1, 0)
            } else {
                (epoch, done)
            };
            self.checkpoint(next)?;
        }
        Ok(())
    }

    /// A `train` row of `metrics.csv` and a [`RunEvent::Step`].
    fn log(&mut self, epoch: f64) -> Result<(), TrainError> {
        let s = &mut *self.state;
        let loss = s.window_loss / s.window_steps.max(1) as f64;
        s.history.push(LogRow {
            step: s.step,
            epoch,
            split: "train".into(),
            loss,
            learning_rate: self.last_lr,
            metrics: Metrics::new(),
        });
        s.window_loss = 0.0;
        s.window_steps = 0;
        let clock = &mut self.clock;
        let rate = clock.window_rows as f64 / clock.window_start.elapsed().as_secs_f64().max(1e-9);
        let per_step =
            clock.start.elapsed().as_secs_f64() / (s.step - clock.first_step).max(1) as f64;
        let report = StepReport {
            step: s.step,
            total_steps: self.ctx.total_steps,
            epoch,
            loss,
            learning_rate: self.last_lr,
            rows_per_second: rate,
            eta_seconds: per_step * (self.ctx.total_steps - s.step) as f64,
        };
        clock.window_start = Instant::now();
        clock.window_rows = 0;
        self.ctx.report(RunEvent::Step(report));
        self.write_csv()
    }

    /// Evaluates on the validation split, logs it, and applies early stopping.
    fn validate(&mut self, epoch: f64, last: bool) -> Result<(), TrainError> {
        let start = Instant::now();
        let metrics = self.evaluate()?;
        let seconds = start.elapsed().as_secs_f64();
        self.clock.paused += seconds;
        self.state.eval_seconds += seconds;
        self.state.last_eval_seconds = seconds;
        self.ctx.report(RunEvent::Validation {
            step: self.state.step,
            epoch,
            seconds,
            metrics: metrics.clone(),
        });
        self.emit_validation(&metrics);
        self.state
            .push_evaluation("validation", epoch, self.last_lr, &metrics);
        self.write_csv()?;
        let t = &self.ctx.config.training;
        let metric = t.metric_for_best_model.as_deref().unwrap_or("loss");
        if let Some(value) = metrics.get(metric).copied() {
            self.state.record_selection(metric, value);
            self.ctx
                .patience
                .since_best
                .store(self.state.evals_without_improvement, Ordering::Relaxed);
            let store = &self.c.event_store;
            let stop = self
                .c
                .early_stopping
                .as_mut()
                .is_some_and(|rule| rule.should_stop(self.state.step, store));
            if stop && !last {
                self.ctx.report(RunEvent::Note(format!(
                    "early stopping: no better {metric} for {} evaluations",
                    self.ctx.patience.patience
                )));
                self.stop = Some(Ending::Finished);
            }
        }
        Ok(())
    }

    /// The validation metrics of the current weights (`InferenceStep` over the batches).
    fn evaluate(&self) -> Result<Metrics, TrainError> {
        let Some(loader) = &self.ctx.validation else {
            return Ok(Metrics::new());
        };
        let model = self.learner.model().valid();
        let (loss, outputs) = evaluate_shares::<T>(&model, loader, &self.ctx.ranks)?;
        let outputs = file_order(loader.batches(), outputs);
        let features = loader.features();
        let labels = self.ctx.labels.as_ref();
        let metrics = split_metrics(&*self.ctx.task, features, outputs, labels, loss);
        Ok(agree_on(&self.ctx.ranks, metrics))
    }

    /// Commits a checkpoint from which the loop continues at `next` = (epoch, step in epoch)
    /// (rank 0; the other ranks hold the same weights and state).
    fn checkpoint(&mut self, next: (usize, usize)) -> Result<(), TrainError> {
        let written = self.write_checkpoint(next);
        // Every rank waits for the checkpoint: a rank that ended first (a stop) would make the
        // launcher end the job while rank 0 still writes.
        if written.is_ok() && self.ctx.ranks.world_size() > 1 {
            self.ctx.ranks.barrier();
        }
        written
    }

    fn write_checkpoint(&mut self, next: (usize, usize)) -> Result<(), TrainError> {
        if !self.ctx.ranks.is_main() {
            return Ok(());
        }
        let mut saved = self.state.clone();
        (saved.epoch, saved.step_in_epoch) = next;
        saved.train_seconds = self.clock.train_seconds();
        let start = Instant::now();
        let files = &self.ctx.files;
        files.begin(saved.step)?;
        let checkpointer = self
            .c
            .checkpointer
            .as_mut()
            .ok_or_else(|| TrainError::Run("no checkpointer was configured".into()))?;
        checkpointer.checkpoint(self.learner, saved.step, &self.c.event_store);
        let dir = files.commit(&saved, &self.ctx.config.to_toml())?;
        self.clock.paused += start.elapsed().as_secs_f64();
        self.ctx.report(RunEvent::Checkpoint(dir));
        Ok(())
    }

    fn write_csv(&self) -> Result<(), TrainError> {
        if !self.ctx.ranks.is_main() {
            return Ok(());
        }
        let path = self.ctx.config.output_dir.join("metrics.csv");
        write_metrics_csv(&path, &self.state.history, self.ctx.task.metric_names())
    }

    fn emit_train(&mut self, event: LearnerEvent<StepOutput>) {
        let result = self.c.event_processor.process_train(event);
        self.c.interrupter.fail_on_error(result);
    }

    /// The metrics of an evaluation as one validation item of burn-train's event processor.
    fn emit_validation(&mut self, metrics: &Metrics) {
        let item = EvalOutput {
            loss: metrics.get("loss").copied().unwrap_or(f64::NAN),
            rows: 0,
            outputs: Vec::new(),
            scores: metrics.clone(),
        };
        let epoch = self.state.epoch + 1;
        let events = [
            LearnerEvent::StartSplit {
                epoch_number: epoch,
                total_items: 1,
            },
            LearnerEvent::ProcessedItem(TrainingItem::new(
                item,
                Progress::new(1, 1, None),
                Some(self.state.step),
                None,
            )),
            LearnerEvent::EndSplit(epoch),
        ];
        for event in events {
            let result = self.c.event_processor.process_valid(event);
            self.c.interrupter.fail_on_error(result);
        }
    }
}

/// A loader iterator over at most one item (a worker's share of one round).
struct OneItem<I>(Option<I>);

impl<I> Iterator for OneItem<I> {
    type Item = Result<I, DatasetError>;

    fn next(&mut self) -> Option<Self::Item> {
        self.0.take().map(Ok)
    }
}

impl<I> DataLoaderIterator<I> for OneItem<I> {
    fn progress(&self) -> Progress {
        Progress::new(0, 0, None)
    }
}

/// The micro-batches of the next optimizer step.
fn next_step<H>(
    items: &mut dyn DataLoaderIterator<MicroBatch<H>>,
) -> Result<Vec<MicroBatch<H>>, TrainError> {
    let mut micro = Vec::new();
    loop {
        let batch = items
            .next()
            .ok_or_else(|| TrainError::Run("the batch loader ended inside an epoch".into()))?
            .map_err(|e| TrainError::Run(format!("batch loader: {e}")))?;
        let complete = batch.micro + 1 >= batch.parts;
        micro.push(batch);
        if complete {
            return Ok(micro);
        }
    }
}

/// Rank 0's metrics on every rank: early stopping and the best checkpoint then decide alike
/// even if a sum over ranks rounded differently somewhere (values travel as their bits).
fn agree_on(ranks: &Ranks, metrics: Metrics) -> Metrics {
    if ranks.world_size() == 1 {
        return metrics;
    }
    let bits: Vec<(String, u64)> = metrics
        .iter()
        .map(|(k, v)| (k.clone(), v.to_bits()))
        .collect();
    let bytes = serde_json::to_vec(&bits).expect("names and integers serialise");
    let agreed: Vec<(String, u64)> =
        serde_json::from_slice(&ranks.broadcast_bytes(bytes, 0)).expect("rank 0's metrics");
    agreed
        .into_iter()
        .map(|(k, v)| (k, f64::from_bits(v)))
        .collect()
}

/// [`evaluate_batches`] split across ranks: rank `r` of `n` runs batches `r`, `r + n`, ...;
/// the losses are summed and the outputs gathered back into batch order on every rank, so
/// every rank gets one process's numbers (all the windows of a QA example, MLM's token counts).
pub fn evaluate_shares<T: Task>(
    model: &TaskModel<T>,
    loader: &EvalLoader<T>,
    ranks: &Ranks,
) -> Result<(f64, Vec<T::Output>), TrainError> {
    let (n, rank) = (ranks.world_size(), ranks.rank());
    if n == 1 {
        return evaluate_batches(model, loader);
    }
    let mut loss = [0.0];
    let mut mine = Vec::new();
    for b in (rank..loader.batches().len()).step_by(n) {
        let out = InferenceStep::step(model, loader.batch(b));
        loss[0] += out.loss * out.rows as f64;
        mine.push(out.outputs);
    }
    ranks.sum(&mut loss);
    let mut all = ranks
        .gather_all(&mine)
        .map_err(|e| TrainError::Run(format!("evaluation: {e}")))?;
    let mut outputs = Vec::with_capacity(loader.num_items());
    for b in 0..loader.batches().len() {
        outputs.append(&mut all[b % n][b / n]);
    }
    Ok((loss[0], outputs))
}

/// The summed loss (mean per batch times its rows) and the outputs of every evaluation batch, in
/// the loader's batch order ([`file_order`] puts them back in file order).
pub fn evaluate_batches<T: Task>(
    model: &TaskModel<T>,
    loader: &EvalLoader<T>,
) -> Result<(f64, Vec<T::Output>), TrainError> {
    let mut loss = 0.0;
    let mut outputs = Vec::with_capacity(loader.num_items());
    for batch in loader.iter() {
        let batch = batch.map_err(|e| TrainError::Run(format!("evaluation batch: {e}")))?;
        let out = InferenceStep::step(model, batch);
        loss += out.loss * out.rows as f64;
        outputs.extend(out.outputs);
    }
    Ok((loss, outputs))
}
