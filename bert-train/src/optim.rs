//! The optimizer side of training: AdamW with BERT's no-decay rule, the learning-rate schedule,
//! gradient accumulation and clipping by global norm.
//!
//! AdamW keeps its moments per parameter in visiting order, so its state is saved and restored
//! by position (and by HF name in the files), independently of Burn's parameter ids, which a
//! model rebuilt from a checkpoint does not keep.

use std::collections::BTreeMap;

use bert_model::burn::module::{Module, ModuleMapper, ModuleVisitor, Param};
use bert_model::burn::prelude::{Tensor, TensorData};
use bert_model::burn::tensor::Device;
use bert_model::host_values;
use burn::optim::GradientsParams;

use crate::config::Schedule;

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
/// parameters: biases and LayerNorm weights, the BERT rule.
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
    /// Updates done so far.
    pub steps: u64,
    moments: Vec<Option<(Tensor<1>, Tensor<1>)>>,
}

impl AdamW {
    /// A fresh optimizer.
    pub fn new(beta1: f64, beta2: f64, epsilon: f64, weight_decay: f64) -> Self {
        AdamW {
            beta1,
            beta2,
            epsilon,
            weight_decay,
            steps: 0,
            moments: Vec::new(),
        }
    }

    /// One update of every parameter that has a gradient in `grads`, at rate `lr`.
    pub fn step<M: Module>(&mut self, lr: f64, module: M, mut grads: GradientsParams) -> M {
        self.steps += 1;
        let mut mapper = Update {
            optim: self,
            grads: &mut grads,
            lr,
            index: 0,
        };
        module.map(&mut mapper)
    }

    /// The moments as host tensors named `{index}.exp_avg` / `{index}.exp_avg_sq`, plus the
    /// step count, for a checkpoint.
    pub fn state(&self) -> (u64, BTreeMap<String, (Vec<usize>, Vec<f32>)>) {
        let mut out = BTreeMap::new();
        for (i, m) in self.moments.iter().enumerate() {
            if let Some((avg, sq)) = m {
                let len = avg.dims()[0];
                out.insert(
                    format!("{i:05}.exp_avg"),
                    (vec![len], host_values(avg.clone())),
                );
                out.insert(
                    format!("{i:05}.exp_avg_sq"),
                    (vec![len], host_values(sq.clone())),
                );
            }
        }
        (self.steps, out)
    }

    /// Restores the state written by [`Self::state`] onto `device` (the plain, non-autodiff
    /// device of the parameters).
    pub fn load_state(
        &mut self,
        steps: u64,
        tensors: &BTreeMap<String, Vec<f32>>,
        device: &Device,
    ) -> Result<(), String> {
        self.steps = steps;
        self.moments.clear();
        for (name, values) in tensors {
            let Some((index, kind)) = name.split_once('.') else {
                return Err(format!("unexpected optimizer tensor `{name}`"));
            };
            let index: usize = index
                .parse()
                .map_err(|_| format!("unexpected optimizer tensor `{name}`"))?;
            if self.moments.len() <= index {
                self.moments.resize(index + 1, None);
            }
            let tensor =
                Tensor::<1>::from_data(TensorData::new(values.clone(), [values.len()]), device);
            let zeros = || Tensor::<1>::zeros([values.len()], device);
            let slot = self.moments[index].get_or_insert_with(|| (zeros(), zeros()));
            match kind {
                "exp_avg" => slot.0 = tensor,
                "exp_avg_sq" => slot.1 = tensor,
                _ => return Err(format!("unexpected optimizer tensor `{name}`")),
            }
        }
        Ok(())
    }
}

struct Update<'a> {
    optim: &'a mut AdamW,
    grads: &'a mut GradientsParams,
    lr: f64,
    index: usize,
}

impl ModuleMapper for Update<'_> {
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        let index = self.index;
        self.index += 1;
        let (id, tensor, mapper) = param.consume();
        let Some(grad) = self.grads.remove::<D>(id) else {
            return Param::from_mapped_value(id, tensor, mapper);
        };
        let require_grad = tensor.is_require_grad();
        let shape = tensor.shape();
        let value = tensor.inner();
        let n = shape.num_elements();
        let flat = value.reshape([n]);
        let g = grad.reshape([n]);
        let o = &mut *self.optim;
        if o.moments.len() <= index {
            o.moments.resize(index + 1, None);
        }
        let (avg, sq) = match o.moments[index].take() {
            Some((avg, sq)) => (
                avg.mul_scalar(o.beta1) + g.clone().mul_scalar(1.0 - o.beta1),
                sq.mul_scalar(o.beta2) + g.square().mul_scalar(1.0 - o.beta2),
            ),
            None => (
                g.clone().mul_scalar(1.0 - o.beta1),
                g.square().mul_scalar(1.0 - o.beta2),
            ),
        };
        let t = o.steps as i32;
        let bias1 = 1.0 - o.beta1.powi(t);
        let bias2 = 1.0 - o.beta2.powi(t);
        let decay = if D > 1 { o.weight_decay } else { 0.0 };
        let mut updated = flat;
        if decay > 0.0 {
            updated = updated.mul_scalar(1.0 - self.lr * decay);
        }
        // torch: p -= lr / bias1 * m / (sqrt(v) / sqrt(bias2) + eps)
        let denom = sq
            .clone()
            .sqrt()
            .div_scalar(bias2.sqrt())
            .add_scalar(o.epsilon);
        updated = updated - avg.clone().div(denom).mul_scalar(self.lr / bias1);
        o.moments[index] = Some((avg, sq));
        let mut tensor = Tensor::from_inner(updated.reshape(shape));
        if require_grad {
            tensor = tensor.require_grad();
        }
        Param::from_mapped_value(id, tensor, mapper)
    }
}

/// Adds `more` to `sum`, gradient by gradient (for accumulation over forward passes).
pub fn accumulate<M: Module>(
    module: &M,
    sum: Option<GradientsParams>,
    more: GradientsParams,
) -> GradientsParams {
    let Some(mut sum) = sum else {
        return more;
    };
    struct Add<'a> {
        sum: &'a mut GradientsParams,
        more: GradientsParams,
    }
    impl ModuleVisitor for Add<'_> {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
            if let Some(g) = self.more.remove::<D>(param.id) {
                let total = match self.sum.remove::<D>(param.id) {
                    Some(s) => s + g,
                    None => g,
                };
                self.sum.register::<D>(param.id, total);
            }
        }
    }
    module.visit(&mut Add {
        sum: &mut sum,
        more,
    });
    sum
}

/// Scales every gradient so that their global L2 norm is at most `max_norm` (torch's
/// `clip_grad_norm_`), and returns the norm before clipping.
pub fn clip_grad_norm<M: Module>(module: &M, grads: &mut GradientsParams, max_norm: f32) -> f32 {
    struct SquaredSum<'a> {
        grads: &'a GradientsParams,
        total: Option<Tensor<1>>,
    }
    impl ModuleVisitor for SquaredSum<'_> {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
            if let Some(g) = self.grads.get::<D>(param.id) {
                let part = g.square().sum();
                self.total = Some(match self.total.take() {
                    Some(t) => t + part,
                    None => part,
                });
            }
        }
    }
    struct Scale<'a> {
        grads: &'a mut GradientsParams,
        factor: f32,
    }
    impl ModuleVisitor for Scale<'_> {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
            if let Some(g) = self.grads.remove::<D>(param.id) {
                self.grads
                    .register::<D>(param.id, g.mul_scalar(self.factor));
            }
        }
    }
    let mut sum = SquaredSum { grads, total: None };
    module.visit(&mut sum);
    let norm = sum
        .total
        .map(|t| t.sqrt().into_scalar::<f32>())
        .unwrap_or(0.0);
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
