//! A task's head as burn-train's `Learner` sees it: [`TaskModel`] wraps the head of a [`Task`] and
//! implements `TrainStep` (forward and backward of one micro-batch, the loss scaled for
//! averaging accumulation; the update clipped by global norm) and `InferenceStep` (loss and
//! outputs of an evaluation batch).

use std::sync::Arc;

use bert_model::burn::module::{Module, ModuleMapper, Param, ParamId};
use bert_model::burn::prelude::Tensor;
use burn::lr_scheduler::module_lr_scheduler::ModuleLearningRate;
use burn::optim::{GradientsParams, ModuleOptimizer};
use burn_train::{InferenceStep, ItemLazy, TrainOutput, TrainStep};

use crate::metrics::Metrics;
use crate::optim::clip_grad_norm;
use crate::tasks::Task;

/// The head of a task with what its steps need besides the weights.
#[derive(Module, Debug)]
pub struct TaskModel<T: Task> {
    /// The head (`BertForSequenceClassification`, ...).
    pub model: T::Model,
    /// The task and the step settings.
    #[module(skip)]
    pub step: StepContext<T>,
}

/// What a step needs besides the weights.
#[derive(Debug, Clone)]
pub struct StepContext<T> {
    /// The task (batches to device, loss, outputs).
    pub task: Arc<T>,
    /// The tokenizer's padding id.
    pub pad: u32,
    /// Clipping by global norm (0: none).
    pub max_grad_norm: f32,
}

/// One forward pass of an optimizer step: a host batch and where it sits in the step.
pub struct MicroBatch<H> {
    /// The batch, gathered on a loader thread.
    pub host: H,
    /// The optimizer step it belongs to (0-based, over the whole run).
    pub step: usize,
    /// Its index within the step.
    pub micro: usize,
    /// This rank's forward passes of the step.
    pub parts: usize,
    /// Rows (features) in the batch.
    pub rows: usize,
    /// What the task's loss averages over in this batch ([`Task::loss_count`]).
    pub count: usize,
    /// The dropout seed of this pass.
    pub dropout_seed: u64,
    /// The batch's mean loss is divided by this before the backward pass: the step's count
    /// over all passes and ranks, over this batch's count. The gradients of the passes then sum
    /// to those of the step's mean loss, however the rows are split.
    pub loss_divisor: f64,
}

/// What a training step reports: its loss (the step's mean, once summed over its passes and
/// ranks) and rows.
#[derive(Debug, Clone, Default)]
pub struct StepOutput {
    /// Mean loss.
    pub loss: f64,
    /// Rows trained on.
    pub rows: usize,
    /// Numbers shown beside the loss (throughput), by metric name.
    pub extra: Metrics,
}

/// An evaluation batch and its rows.
pub struct EvalBatch<H> {
    /// The batch.
    pub host: H,
    /// Rows (features) in it.
    pub rows: usize,
}

/// The result of an evaluation batch, or (with `scores`) of a whole evaluation.
#[derive(Debug)]
pub struct EvalOutput<O> {
    /// Mean loss of the batch.
    pub loss: f64,
    /// Rows in the batch.
    pub rows: usize,
    /// One output per feature.
    pub outputs: Vec<O>,
    /// The metrics of a whole split (empty for a batch).
    pub scores: Metrics,
}

impl ItemLazy for StepOutput {
    fn sync(self) -> Result<Self, burn_std::ExecutionError> {
        Ok(self)
    }
}

impl<O: Send> ItemLazy for EvalOutput<O> {
    fn sync(self) -> Result<Self, burn_std::ExecutionError> {
        Ok(self)
    }
}

impl<T: Task> TaskModel<T> {
    /// The device of the weights.
    fn device(&self) -> bert_model::burn::prelude::Device {
        self.model.devices().into_iter().next().unwrap_or_default()
    }
}

impl<T: Task> TrainStep for TaskModel<T> {
    type Input = MicroBatch<T::HostBatch>;
    type Output = StepOutput;

    fn step(&self, item: MicroBatch<T::HostBatch>) -> TrainOutput<StepOutput> {
        let device = self.device();
        device.seed(item.dropout_seed);
        let task = &self.step.task;
        let batch = task.to_device(&item.host, self.step.pad, &device);
        let (loss, _) = task.forward(&self.model, &batch, false);
        let divisor = item.loss_divisor;
        let value = loss.clone().into_scalar::<f32>() as f64 / divisor;
        let grads = loss.div_scalar(divisor).backward();
        let output = StepOutput {
            loss: value,
            rows: item.rows,
            extra: Metrics::new(),
        };
        TrainOutput::new(self, grads, output)
    }

    fn optimize(
        self,
        optim: &mut ModuleOptimizer,
        lr: ModuleLearningRate,
        mut grads: GradientsParams,
    ) -> Self {
        if self.step.max_grad_norm > 0.0 {
            clip_grad_norm(&self, &mut grads, self.step.max_grad_norm);
        }
        optim.step(lr, self, grads)
    }
}

impl<T: Task> InferenceStep for TaskModel<T> {
    type Input = EvalBatch<T::HostBatch>;
    type Output = EvalOutput<T::Output>;

    fn step(&self, item: EvalBatch<T::HostBatch>) -> EvalOutput<T::Output> {
        let device = self.device();
        let task = &self.step.task;
        let batch = task.to_device(&item.host, self.step.pad, &device);
        let (loss, outputs) = task.forward(&self.model, &batch, true);
        EvalOutput {
            loss: loss.into_scalar::<f32>() as f64,
            rows: item.rows,
            outputs,
            scores: Metrics::new(),
        }
    }
}

/// Gives the parameters of `module` the ids 1, 2, ... in visiting order. burn keys optimizer
/// state by parameter id; with these ids a model rebuilt from a checkpoint's HF weights, in
/// another process, finds its AdamW moments again.
pub fn stable_param_ids<M: Module>(module: M) -> M {
    struct Renumber(u64);
    impl ModuleMapper for Renumber {
        fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
            self.0 += 1;
            let (_, tensor, mapper) = param.consume();
            Param::from_mapped_value(ParamId::from(self.0), tensor, mapper)
        }
    }
    module.map(&mut Renumber(0))
}
