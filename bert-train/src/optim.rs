//! The optimizer side of training: AdamW with BERT's no-decay rule, the learning-rate schedule,
//! gradient accumulation and clipping by global norm.
//!
//! AdamW and the schedule plug into burn's `ModuleOptimizer` and `Learner` (burn keys optimizer
//! state by parameter id; [`crate::trainer::stable_param_ids`] makes those ids the same in every
//! process, so a run rebuilt from a checkpoint's HF weights finds its moments again).

use bert_model::burn::module::{Module, ModuleVisitor, Param};
use bert_model::burn::prelude::Tensor;
use bert_model::burn::tensor::Device;
use burn::lr_scheduler::{LrScheduler, LrSchedulerRecord};
use burn::optim::LearningRate;
use burn::optim::{GradientsParams, Optimizer, RecordState, StateSink, StateSource};

use crate::config::Schedule;

mod host;

/// The learning rate at each optimizer step: linear warmup from 0, then linear decay to 0,
/// half a cosine to 0, or constant, as transformers' schedules (`get_linear_schedule_with_warmup`
/// and friends).
#[derive(Debug, Clone, Copy)]
pub struct LrSchedule {
    /// Peak rate.
    pub peak: f64,
    /// Warmup steps.
    pub warmup: usize,
    /// Total optimizer steps.
    pub total: usize,
    /// After warmup.
    pub kind: Schedule,
}

impl LrSchedule {
    /// The rate used by optimizer step `step` (0-based: the first update uses step 0).
    pub fn rate(&self, step: usize) -> f64 {
        if step < self.warmup {
            return self.peak * step as f64 / self.warmup.max(1) as f64;
        }
        let after = (step - self.warmup) as f64;
        let span = self.total.saturating_sub(self.warmup).max(1) as f64;
        match self.kind {
            Schedule::Constant => self.peak,
            Schedule::Linear => self.peak * ((span - after) / span).max(0.0),
            Schedule::Cosine => {
                let progress = after / span;
                self.peak * (0.5 * (1.0 + (std::f64::consts::PI * progress).cos())).max(0.0)
            }
        }
    }
}

/// AdamW (decoupled weight decay, as `torch.optim.AdamW`), skipping decay for rank-1
/// parameters: biases and LayerNorm weights, the BERT rule. A per-parameter
/// [`Optimizer`] for burn's `ModuleOptimizer` (`ModuleOptimizer::from(AdamW { .. })`).
#[derive(Debug, Clone)]
pub struct AdamW {
    /// Beta1.
    pub beta1: f64,
    /// Beta2.
    pub beta2: f64,
    /// Epsilon.
    pub epsilon: f64,
    /// Decoupled weight decay of matrices.
    pub weight_decay: f64,
}

/// The moments of one parameter and the updates it has had.
#[derive(Clone)]
pub struct AdamWState<const D: usize> {
    /// First moment.
    pub exp_avg: Tensor<D>,
    /// Second moment.
    pub exp_avg_sq: Tensor<D>,
    /// Updates done.
    pub steps: u64,
}

impl<const D: usize> RecordState for AdamWState<D> {
    fn state_flatten(&self, prefix: &str, out: &mut StateSink) {
        out.push_tensor(prefix, "exp_avg", self.exp_avg.to_data());
        out.push_tensor(prefix, "exp_avg_sq", self.exp_avg_sq.to_data());
        out.push_scalar(prefix, "step", self.steps.into());
    }

    fn state_unflatten(prefix: &str, src: &mut StateSource, device: &Device) -> Option<Self> {
        let exp_avg = src.take_tensor(prefix, "exp_avg")?;
        let exp_avg_sq = src.take_tensor(prefix, "exp_avg_sq")?;
        let steps = u64::try_from(src.take_scalar(prefix, "step")?).ok()?;
        Some(AdamWState {
            exp_avg: Tensor::from_data(exp_avg, device),
            exp_avg_sq: Tensor::from_data(exp_avg_sq, device),
            steps,
        })
    }
}

impl Optimizer for AdamW {
    type State<const D: usize> = AdamWState<D>;

    fn step<const D: usize>(
        &self,
        lr: LearningRate,
        tensor: Tensor<D>,
        grad: Tensor<D>,
        state: Option<AdamWState<D>>,
    ) -> (Tensor<D>, Option<AdamWState<D>>) {
        let decay = if D > 1 { self.weight_decay } else { 0.0 };
        if host::applies(&tensor) {
            let (tensor, state) = host::adamw_step(self, lr, tensor, grad, state, decay);
            return (tensor, Some(state));
        }
        self.step_with_ops(lr, tensor, grad, state, decay)
    }

    fn to_device<const D: usize>(state: AdamWState<D>, device: &Device) -> AdamWState<D> {
        AdamWState {
            exp_avg: state.exp_avg.to_device(device),
            exp_avg_sq: state.exp_avg_sq.to_device(device),
            steps: state.steps,
        }
    }
}

impl AdamW {
    /// One step as tensor operations, on any device (weight decay `decay`).
    fn step_with_ops<const D: usize>(
        &self,
        lr: LearningRate,
        tensor: Tensor<D>,
        grad: Tensor<D>,
        state: Option<AdamWState<D>>,
        decay: f64,
    ) -> (Tensor<D>, Option<AdamWState<D>>) {
        let (exp_avg, exp_avg_sq, steps) = match state {
            Some(s) => (
                s.exp_avg.mul_scalar(self.beta1) + grad.clone().mul_scalar(1.0 - self.beta1),
                s.exp_avg_sq.mul_scalar(self.beta2) + grad.square().mul_scalar(1.0 - self.beta2),
                s.steps + 1,
            ),
            None => (
                grad.clone().mul_scalar(1.0 - self.beta1),
                grad.square().mul_scalar(1.0 - self.beta2),
                1,
            ),
        };
        let bias1 = 1.0 - self.beta1.powi(steps as i32);
        let bias2 = 1.0 - self.beta2.powi(steps as i32);
        let mut updated = tensor;
        if decay > 0.0 {
            updated = updated.mul_scalar(1.0 - lr * decay);
        }
        // torch: p -= lr / bias1 * m / (sqrt(v) / sqrt(bias2) + eps)
        let denom = exp_avg_sq
            .clone()
            .sqrt()
            .div_scalar(bias2.sqrt())
            .add_scalar(self.epsilon);
        updated = updated - exp_avg.clone().div(denom).mul_scalar(lr / bias1);
        let state = AdamWState {
            exp_avg,
            exp_avg_sq,
            steps,
        };
        (updated, Some(state))
    }
}

/// [`LrSchedule`] as burn's [`LrScheduler`]: each `step` gives the rate of the next optimizer
/// step; its record is the number of steps taken.
#[derive(Debug, Clone)]
pub struct HfScheduler {
    /// The schedule.
    pub schedule: LrSchedule,
    /// Optimizer steps taken.
    pub taken: usize,
}

impl LrScheduler for HfScheduler {
    fn step(&mut self) -> LearningRate {
        let rate = self.schedule.rate(self.taken);
        self.taken += 1;
        rate
    }

    fn to_record(&self) -> LrSchedulerRecord {
        LrSchedulerRecord::new().with_scalar("taken", self.taken as u64)
    }

    fn load_record(&mut self, record: LrSchedulerRecord) {
        if let Some(taken) = record.scalar::<u64>("taken") {
            self.taken = taken as usize;
        }
    }
}

/// Scales every gradient so that their global L2 norm is at most `max_norm` (torch's
/// `clip_grad_norm_`), and returns the norm before clipping.
pub fn clip_grad_norm<M: Module>(module: &M, grads: &mut GradientsParams, max_norm: f32) -> f32 {
    struct SquaredSum<'a> {
        grads: &'a mut GradientsParams,
        total: Option<Tensor<1>>,
        on_host: f64,
    }
    impl ModuleVisitor for SquaredSum<'_> {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
            let Some(g) = self.grads.remove::<D>(param.id) else {
                return;
            };
            let g = if host::applies(&g) {
                let (sum, g) = host::squared_sum(g);
                self.on_host += sum;
                g
            } else {
                let part = g.clone().square().sum();
                self.total = Some(match self.total.take() {
                    Some(t) => t + part,
                    None => part,
                });
                g
            };
            self.grads.register::<D>(param.id, g);
        }
    }
    struct Scale<'a> {
        grads: &'a mut GradientsParams,
        factor: f32,
    }
    impl ModuleVisitor for Scale<'_> {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
            if let Some(g) = self.grads.remove::<D>(param.id) {
                let g = if host::applies(&g) {
                    host::scale(g, self.factor)
                } else {
                    g.mul_scalar(self.factor)
                };
                self.grads.register::<D>(param.id, g);
            }
        }
    }
    let mut sum = SquaredSum {
        grads,
        total: None,
        on_host: 0.0,
    };
    module.visit(&mut sum);
    let on_device = sum.total.map(|t| t.into_scalar::<f32>() as f64);
    let norm = (sum.on_host + on_device.unwrap_or(0.0)).sqrt() as f32;
    let grads = sum.grads;
    let factor = max_norm / (norm + 1e-6);
    // A NaN norm scales by NaN, as torch does.
    if factor < 1.0 || factor.is_nan() {
        module.visit(&mut Scale { grads, factor });
    }
    norm
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn adamw_takes_torch_steps_and_skips_decay_on_vectors() {
        let device = Device::default();
        let adam = AdamW {
            beta1: 0.9,
            beta2: 0.999,
            epsilon: 1e-8,
            weight_decay: 0.01,
        };
        // First step: m = 0.05, v = 0.00025, so the update is lr * 0.05/0.1 / (0.0158/0.0316).
        let matrix = Tensor::<2>::ones([1, 2], &device);
        let grad = Tensor::<2>::full([1, 2], 0.5, &device);
        let (after, state) = adam.step(0.1, matrix, grad, None);
        let values = after.into_data().try_to_vec::<f32>().unwrap();
        assert!(
            values.iter().all(|v| (v - 0.899).abs() < 1e-6),
            "{values:?}"
        );
        let vector = Tensor::<1>::ones([2], &device);
        let (after, _) = adam.step(0.1, vector, Tensor::full([2], 0.5, &device), None);
        let values = after.into_data().try_to_vec::<f32>().unwrap();
        assert!(values.iter().all(|v| (v - 0.9).abs() < 1e-6), "{values:?}");
        // The state survives a record round trip.
        let state = state.unwrap();
        let mut sink = StateSink::default();
        state.state_flatten("7", &mut sink);
        let mut source = StateSource::new(sink.scalars.into_iter().collect());
        for (name, data) in sink.tensors {
            source.insert_tensor(name, data);
        }
        let back = AdamWState::<2>::state_unflatten("7", &mut source, &device).unwrap();
        assert_eq!(back.steps, 1);
        assert_eq!(
            back.exp_avg_sq.into_data().try_to_vec::<f32>().unwrap(),
            state.exp_avg_sq.into_data().try_to_vec::<f32>().unwrap()
        );
    }

    #[test]
    fn schedules_match_transformers() {
        let s = LrSchedule {
            peak: 1.0,
            warmup: 10,
            total: 110,
            kind: Schedule::Linear,
        };
        assert_eq!(s.rate(0), 0.0);
        assert_eq!(s.rate(5), 0.5);
        assert_eq!(s.rate(10), 1.0);
        assert!((s.rate(60) - 0.5).abs() < 1e-12);
        assert_eq!(s.rate(110), 0.0);
        let c = LrSchedule {
            kind: Schedule::Cosine,
            ..s
        };
        assert!((c.rate(60) - 0.5).abs() < 1e-12);
        assert!(c.rate(110).abs() < 1e-12);
        let k = LrSchedule {
            kind: Schedule::Constant,
            ..s
        };
        assert_eq!(k.rate(100), 1.0);
    }
}
