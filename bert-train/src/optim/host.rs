//! AdamW's update and the gradient norm as single passes over host memory, for the CPU backend
//! (burn-flex), whose tensors give their buffer out and take it back without a copy when they
//! own it alone. As tensor operations the update is fourteen full passes over each parameter's
//! size (`experiments/model-bench/RESULTS.md`); here it is one, with the same f32 arithmetic in
//! the same order, so the numbers are the same bit for bit.

#[cfg(feature = "flex")]
use bert_model::burn::backend::{tensor::FloatTensor, Flex};
use bert_model::burn::prelude::{Device, Tensor, TensorData};
use bert_model::burn::tensor::DType;
use rayon::prelude::*;

use super::{AdamW, AdamWState};

/// Elements per parallel chunk: below this a tensor is updated on the calling thread.
const CHUNK: usize = 1 << 16;

/// Whether the host passes apply: an f32 tensor on burn-flex.
pub(super) fn applies<const D: usize>(tensor: &Tensor<D>) -> bool {
    #[cfg(feature = "flex")]
    return tensor.dtype() == DType::F32 && tensor.device() == Device::flex();
    #[cfg(not(feature = "flex"))]
    {
        let _ = tensor;
        false
    }
}

/// The scalars of one AdamW step, as the tensor path turns them into f32.
struct Coefficients {
    beta1: f32,
    one_minus_beta1: f32,
    beta2: f32,
    one_minus_beta2: f32,
    keep: Option<f32>,
    sqrt_bias2: f32,
    epsilon: f32,
    rate: f32,
}

impl Coefficients {
    fn new(adam: &AdamW, lr: f64, steps: u64, decay: f64) -> Self {
        let bias1 = 1.0 - adam.beta1.powi(steps as i32);
        let bias2 = 1.0 - adam.beta2.powi(steps as i32);
        Coefficients {
            beta1: adam.beta1 as f32,
            one_minus_beta1: (1.0 - adam.beta1) as f32,
            beta2: adam.beta2 as f32,
            one_minus_beta2: (1.0 - adam.beta2) as f32,
            keep: (decay > 0.0).then(|| (1.0 - lr * decay) as f32),
            sqrt_bias2: bias2.sqrt() as f32,
            epsilon: adam.epsilon as f32,
            rate: (lr / bias1) as f32,
        }
    }

    /// One element: torch's AdamW, `p -= lr / bias1 * m / (sqrt(v) / sqrt(bias2) + eps)`;
    /// returns the new `p`.
    #[inline(always)]
    fn update(&self, p: f32, g: f32, m: &mut f32, v: &mut f32) -> f32 {
        *m = *m * self.beta1 + g * self.one_minus_beta1;
        *v = *v * self.beta2 + g * g * self.one_minus_beta2;
        let decayed = match self.keep {
            Some(keep) => p * keep,
            None => p,
        };
        let denom = v.sqrt() / self.sqrt_bias2 + self.epsilon;
        decayed - *m / denom * self.rate
    }

    /// Every element, in place.
    fn update_all(&self, p: &mut [f32], g: &[f32], m: &mut [f32], v: &mut [f32]) {
        for (((p, g), m), v) in p.iter_mut().zip(g).zip(m.iter_mut()).zip(v.iter_mut()) {
            *p = self.update(*p, *g, m, v);
        }
    }

    /// Every element, the new values written to `out`.
    fn update_into(&self, p: &[f32], out: &mut [f32], g: &[f32], m: &mut [f32], v: &mut [f32]) {
        let moments = m.iter_mut().zip(v.iter_mut());
        for (((p, y), g), (m, v)) in p.iter().zip(out.iter_mut()).zip(g).zip(moments) {
            *y = self.update(*p, *g, m, v);
        }
    }
}

/// One AdamW step of `tensor` on the host (see [`applies`]); the moments start at zero when
/// `state` is `None`. A parameter whose buffer nothing else holds is updated in place; a shared
/// one (burn-train's Learner steps a clone of the model) is read where it is and the new values
/// written to a new buffer, instead of being copied first.
pub(super) fn adamw_step<const D: usize>(
    adam: &AdamW,
    lr: f64,
    tensor: Tensor<D>,
    grad: Tensor<D>,
    state: Option<AdamWState<D>>,
    decay: f64,
) -> (Tensor<D>, AdamWState<D>) {
    let (device, shape) = (tensor.device(), tensor.shape());
    let grad = grad.into_data();
    let (mut m, mut v, steps) = match state {
        Some(s) => (s.exp_avg.into_data(), s.exp_avg_sq.into_data(), s.steps + 1),
        None => (zeros_like(&grad), zeros_like(&grad), 1),
    };
    let coefficients = Coefficients::new(adam, lr, steps, decay);
    let g = grad.as_slice::<f32>().expect("an f32 gradient");
    let m_values = m.as_mut_slice::<f32>().expect("f32 moments");
    let v_values = v.as_mut_slice::<f32>().expect("f32 moments");
    let param = match Param::of(tensor) {
        Param::Owned(mut data) => {
            let p = data.as_mut_slice::<f32>().expect("an f32 parameter");
            if p.len() < 2 * CHUNK {
                coefficients.update_all(p, g, m_values, v_values);
            } else {
                p.par_chunks_mut(CHUNK)
                    .zip(g.par_chunks(CHUNK))
                    .zip(m_values.par_chunks_mut(CHUNK))
                    .zip(v_values.par_chunks_mut(CHUNK))
                    .for_each(|(((p, g), m), v)| coefficients.update_all(p, g, m, v));
            }
            data
        }
        #[cfg(feature = "flex")]
        Param::Shared(flex) => {
            let p = flex.as_slice::<f32>().expect("a contiguous f32 parameter");
            let mut out = vec![0f32; p.len()];
            if p.len() < 2 * CHUNK {
                coefficients.update_into(p, &mut out, g, m_values, v_values);
            } else {
                p.par_chunks(CHUNK)
                    .zip(out.par_chunks_mut(CHUNK))
                    .zip(g.par_chunks(CHUNK))
                    .zip(
                        m_values
                            .par_chunks_mut(CHUNK)
                            .zip(v_values.par_chunks_mut(CHUNK)),
                    )
                    .for_each(|(((p, out), g), (m, v))| coefficients.update_into(p, out, g, m, v));
            }
            TensorData::new(out, shape)
        }
    };
    let state = AdamWState {
        exp_avg: Tensor::from_data(m, &device),
        exp_avg_sq: Tensor::from_data(v, &device),
        steps,
    };
    (Tensor::from_data(param, &device), state)
}

/// A parameter's values: a buffer of its own, or (burn-flex) one it shares with another tensor.
enum Param {
    Owned(TensorData),
    #[cfg(feature = "flex")]
    Shared(FloatTensor<Flex>),
}

impl Param {
    fn of<const D: usize>(tensor: Tensor<D>) -> Self {
        #[cfg(feature = "flex")]
        {
            let flex = tensor
                .try_into_primitive::<Flex>()
                .expect("a burn-flex tensor (see `applies`)");
            if flex.is_unique() || flex.as_slice::<f32>().is_none() {
                Param::Owned(flex.into_data())
            } else {
                Param::Shared(flex)
            }
        }
        #[cfg(not(feature = "flex"))]
        Param::Owned(tensor.into_data())
    }
}

fn zeros_like(data: &TensorData) -> TensorData {
    TensorData::zeros::<f32, _>(data.shape().clone())
}

/// The sum of squares of `grad` in one pass, and `grad` back unchanged.
pub(super) fn squared_sum<const D: usize>(grad: Tensor<D>) -> (f64, Tensor<D>) {
    let device = grad.device();
    let data = grad.into_data();
    let values = data.as_slice::<f32>().expect("an f32 gradient");
    let sum = values
        .par_chunks(CHUNK)
        .map(|chunk| chunk.iter().map(|x| (x * x) as f64).sum::<f64>())
        .sum();
    (sum, Tensor::from_data(data, &device))
}

/// `grad` times `factor`, in place.
pub(super) fn scale<const D: usize>(grad: Tensor<D>, factor: f32) -> Tensor<D> {
    let device = grad.device();
    let mut data = grad.into_data();
    data.as_mut_slice::<f32>()
        .expect("an f32 gradient")
        .par_chunks_mut(CHUNK)
        .for_each(|chunk| chunk.iter_mut().for_each(|x| *x *= factor));
    Tensor::from_data(data, &device)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The host step equals the tensor operations' step bit for bit, over two steps, with and
    /// without weight decay, on a tensor large enough to be split into parallel chunks.
    #[test]
    #[cfg(feature = "flex")]
    fn host_step_equals_the_tensor_step() {
        let device = Device::flex();
        let adam = AdamW {
            beta1: 0.9,
            beta2: 0.999,
            epsilon: 1e-8,
            weight_decay: 0.01,
        };
        let n = 3 * CHUNK + 17;
        let make = |seed: u32| -> Tensor<1> {
            let v: Vec<f32> = (0..n as u32)
                .map(|i| ((i.wrapping_mul(2654435761) ^ seed) % 2001) as f32 / 1000.0 - 1.0)
                .collect();
            Tensor::from_data(TensorData::new(v, [n]), &device)
        };
        // Both ways of holding the parameter: alone (updated in place), and shared with a clone
        // that is kept, as burn-train's Learner does (new buffer; the clone must not change).
        for (decay, shared) in [(0.0, false), (0.01, false), (0.0, true), (0.01, true)] {
            let (mut host, mut ops) = (make(1), make(1));
            let (mut host_state, mut ops_state) = (None, None);
            for (step, lr) in [1e-3, 5e-4].into_iter().enumerate() {
                let grad = make(7 + step as u32);
                let kept = shared.then(|| host.clone());
                let before = kept.as_ref().map(|k| k.to_data());
                let (p, s) = adamw_step(&adam, lr, host, grad.clone(), host_state, decay);
                if let (Some(kept), Some(before)) = (kept, before) {
                    assert_eq!(kept.into_data(), before, "the shared clone was changed");
                }
                (host, host_state) = (p, Some(s));
                let (p, s) = adam.step_with_ops(lr, ops, grad, ops_state, decay);
                (ops, ops_state) = (p, s);
            }
            let host = host.into_data().try_to_vec::<f32>().unwrap();
            let ops = ops.into_data().try_to_vec::<f32>().unwrap();
            assert!(host
                .iter()
                .zip(&ops)
                .all(|(a, b)| a.to_bits() == b.to_bits()));
            let (h, o) = (host_state.unwrap(), ops_state.unwrap());
            assert_eq!(h.steps, 2);
            assert_eq!(
                h.exp_avg_sq.into_data().try_to_vec::<f32>().unwrap(),
                o.exp_avg_sq.into_data().try_to_vec::<f32>().unwrap()
            );
        }
    }

    #[test]
    fn squared_sum_and_scale() {
        let device = Device::default();
        let grad = Tensor::<1>::from_data(TensorData::new(vec![3f32, 4.0], [2]), &device);
        let (sum, grad) = squared_sum(grad);
        assert_eq!(sum, 25.0);
        let scaled = scale(grad, 0.5).into_data().try_to_vec::<f32>().unwrap();
        assert_eq!(scaled, vec![1.5, 2.0]);
    }
}
