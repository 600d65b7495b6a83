//! Softmax over the last dimension, as attention takes it over the keys.
//!
//! burn's `softmax` is composed of max, subtract, exp, sum and divide; under autodiff each is a
//! node with its own backward, and burn-flex runs `exp` as a scalar loop on one thread (5-8% of
//! a batch-16 fine-tuning step, `experiments/profile/`). On burn-flex the softmax here is one
//! operation instead, added through Burn's backend extensions (`#[backend_extension]`): the
//! probabilities are computed in one pass, rows in parallel, with a vectorisable exponential,
//! and under autodiff the node keeps them and its backward is one pass too:
//! `dx = p * (g - sum(g * p))` over each row. Other devices, and dtypes other than f32, use
//! burn's `softmax`.

use burn::prelude::Tensor;
use burn::tensor::{activation, DType};

use crate::host::on_flex;

/// Softmax of `x` over its last dimension (see the module documentation).
pub fn softmax<const D: usize>(x: Tensor<D>) -> Tensor<D> {
    #[cfg(feature = "flex")]
    if on_flex(&x.device()) && x.dtype() == DType::F32 && D > 0 {
        use burn::backend::Dispatch;
        return Tensor::from_dispatch(<Dispatch as flex::SoftmaxBackend>::softmax_last(
            x.into_dispatch(),
        ));
    }
    activation::softmax(x, D - 1)
}

#[cfg(feature = "flex")]
mod flex {
    use burn::backend::autodiff::checkpoint::base::Checkpointer;
    use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
    use burn::backend::autodiff::grads::Gradients;
    use burn::backend::autodiff::ops::{unary, Backward, Ops, OpsKind};
    use burn::backend::ops::FloatTensorOps;
    use burn::backend::tensor::FloatTensor;
    use burn::backend::{backend_extension, Autodiff, Backend, Flex, TensorMetadata};
    use burn::prelude::TensorData;
    use rayon::prelude::*;

    use crate::host::exp_non_positive;

    /// Elements per parallel task (whole rows are handed out).
    const CHUNK: usize = 1 << 14;

    /// The softmax operation and its gradient, as a backend extension.
    #[backend_extension(Flex, Autodiff)]
    pub trait SoftmaxBackend: Backend {
        /// Softmax of `x` over its last dimension.
        fn softmax_last(x: FloatTensor<Self>) -> FloatTensor<Self>;

        /// The gradient with respect to the input of [`SoftmaxBackend::softmax_last`], given its
        /// output `probs` and the gradient `grad` of its output: `probs * (grad - sum(grad *
        /// probs))` over the last dimension. Composed of differentiable operations here.
        fn softmax_last_backward(
            probs: FloatTensor<Self>,
            grad: FloatTensor<Self>,
        ) -> FloatTensor<Self> {
            composed_backward::<Self>(probs, grad)
        }
    }

    impl SoftmaxBackend for Flex {
        fn softmax_last(x: FloatTensor<Self>) -> FloatTensor<Self> {
            let (shape, device) = (x.shape(), x.device());
            let x = x.to_contiguous();
            let (Some(values), Some(&row)) = (x.as_slice::<f32>(), shape.last()) else {
                return composed_softmax::<Flex>(x);
            };
            let mut out = vec![0f32; values.len()];
            each_row(row, &mut out, |r, out| {
                softmax_row(&values[r * row..(r + 1) * row], out)
            });
            Self::float_from_data(TensorData::new(out, shape), &device)
        }

        fn softmax_last_backward(
            probs: FloatTensor<Self>,
            grad: FloatTensor<Self>,
        ) -> FloatTensor<Self> {
            let (shape, device) = (probs.shape(), probs.device());
            let (probs, grad) = (probs.to_contiguous(), grad.to_contiguous());
            let (Some(p), Some(g), Some(&row)) = (
                probs.as_slice::<f32>(),
                grad.as_slice::<f32>(),
                shape.last(),
            ) else {
                return composed_backward::<Flex>(probs, grad);
            };
            let mut out = vec![0f32; p.len()];
            each_row(row, &mut out, |r, out| {
                let span = r * row..(r + 1) * row;
                backward_row(&p[span.clone()], &g[span], out)
            });
            Self::float_from_data(TensorData::new(out, shape), &device)
        }
    }

    impl<B: SoftmaxBackend, C: CheckpointStrategy> SoftmaxBackend for Autodiff<B, C> {
        fn softmax_last(x: FloatTensor<Self>) -> FloatTensor<Self> {
            let (primitive, node) = x.into_parts();
            match SoftmaxLast.prepare::<C>([node]).compute_bound().stateful() {
                OpsKind::Tracked(prep) => {
                    let probs = B::softmax_last(primitive);
                    prep.finish(probs.clone(), probs)
                }
                OpsKind::UnTracked(prep) => prep.finish(B::softmax_last(primitive)),
            }
        }
    }

    /// The autodiff node of [`SoftmaxBackend::softmax_last`]; its state is the output.
    #[derive(Debug)]
    struct SoftmaxLast;

    impl<B: SoftmaxBackend> Backward<B, 1> for SoftmaxLast {
        type State = FloatTensor<B>;

        fn backward(self, ops: Ops<Self::State, 1>, grads: &mut Gradients, _: &mut Checkpointer) {
            let probs = ops.state;
            unary::<B, _>(ops.parents, ops.node, grads, |grad| {
                B::softmax_last_backward(probs, grad)
            });
        }
    }

    /// burn's decomposition, for inputs the host pass does not read (not f32).
    fn composed_softmax<B: Backend>(x: FloatTensor<B>) -> FloatTensor<B> {
        let shape = x.shape();
        let last = shape.num_dims() - 1;
        let max = B::float_expand(B::float_max_dim(x.clone(), last), shape.clone());
        let exp = B::float_exp(B::float_sub(x, max));
        let sum = B::float_expand(B::float_sum_dim(exp.clone(), last), shape);
        B::float_div(exp, sum)
    }

    /// The softmax gradient composed of backend operations (differentiable under autodiff).
    fn composed_backward<B: Backend>(
        probs: FloatTensor<B>,
        grad: FloatTensor<B>,
    ) -> FloatTensor<B> {
        let shape = probs.shape();
        let last = shape.num_dims() - 1;
        let dot = B::float_sum_dim(B::float_mul(probs.clone(), grad.clone()), last);
        B::float_mul(probs, B::float_sub(grad, B::float_expand(dot, shape)))
    }

    /// `f(r, out_r)` for every row `r` of `row` elements of `out`, whole rows per parallel task.
    fn each_row(row: usize, out: &mut [f32], f: impl Fn(usize, &mut [f32]) + Sync) {
        if row == 0 {
            return;
        }
        let rows_per_task = (CHUNK / row).max(1);
        out.par_chunks_mut(rows_per_task * row)
            .enumerate()
            .for_each(|(task, chunk)| {
                for (i, out) in chunk.chunks_exact_mut(row).enumerate() {
                    f(task * rows_per_task + i, out);
                }
            });
    }

    /// The softmax of one row. Elements at `-inf` or more than 87 below the row's maximum
    /// (masked keys: the mask adds `f32::MIN`) get exactly 0, as `exp` underflows to 0.
    #[inline(always)]
    pub(super) fn softmax_row(x: &[f32], out: &mut [f32]) {
        let max = x.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        let mut sum = 0f32;
        for (&v, y) in x.iter().zip(out.iter_mut()) {
            let a = v - max;
            let e = exp_non_positive(a);
            *y = if a >= -87.0 { e } else { 0.0 };
            sum += *y;
        }
        let scale = 1.0 / sum;
        out.iter_mut().for_each(|y| *y *= scale);
    }

    /// The gradient of one row: `p * (g - sum(g * p))`.
    #[inline(always)]
    pub(super) fn backward_row(p: &[f32], g: &[f32], out: &mut [f32]) {
        let dot: f32 = p.iter().zip(g).map(|(p, g)| p * g).sum();
        for ((&p, &g), y) in p.iter().zip(g).zip(out.iter_mut()) {
            *y = p * (g - dot);
        }
    }
}

#[cfg(all(test, feature = "flex"))]
mod tests {
    use super::*;
    use burn::prelude::{Device, TensorData};

    /// Rows with large, small, equal and masked (`f32::MIN`-biased) scores.
    fn scores() -> (Vec<f32>, [usize; 2]) {
        let mut values = Vec::new();
        for r in 0..7 {
            for c in 0..37 {
                let v = ((r * 37 + c) as f32 * 0.731).sin() * (1.0 + r as f32 * 3.0);
                values.push(if c % 5 == 4 && r % 2 == 1 {
                    v + f32::MIN
                } else {
                    v
                });
            }
        }
        (values, [7, 37])
    }

    fn reference_softmax(x: &[f32], row: usize) -> Vec<f64> {
        x.chunks(row)
            .flat_map(|x| {
                let max = x.iter().copied().fold(f32::NEG_INFINITY, f32::max) as f64;
                let exp: Vec<f64> = x.iter().map(|&v| (v as f64 - max).exp()).collect();
                let sum: f64 = exp.iter().sum();
                exp.into_iter().map(move |e| e / sum)
            })
            .collect()
    }

    #[test]
    fn probabilities_match_the_definition_and_masked_keys_get_zero() {
        let (values, shape) = scores();
        let device = Device::flex();
        let probs = softmax(Tensor::<2>::from_data(
            TensorData::new(values.clone(), shape),
            &device,
        ));
        let got = probs.into_data().iter::<f32>().collect::<Vec<_>>();
        for (i, (g, want)) in got.iter().zip(reference_softmax(&values, 37)).enumerate() {
            assert!(
                (*g as f64 - want).abs() <= 1e-6,
                "element {i}: {g} vs {want}"
            );
            if values[i] < -1e30 {
                assert_eq!(*g, 0.0, "masked element {i}");
            }
        }
    }

    #[test]
    fn gradients_equal_burns_softmax_under_autodiff() {
        let (values, shape) = scores();
        let weights: Vec<f32> = (0..values.len()).map(|i| (i as f32 * 0.37).cos()).collect();
        let device = Device::flex().autodiff();
        let run = |ours: bool| {
            let x = Tensor::<2>::from_data(TensorData::new(values.clone(), shape), &device)
                .require_grad();
            let w = Tensor::<2>::from_data(TensorData::new(weights.clone(), shape), &device);
            let probs = if ours {
                softmax(x.clone())
            } else {
                activation::softmax(x.clone(), 1)
            };
            let grads = (probs.clone() * w).sum().backward();
            let grad = x.grad(&grads).expect("a gradient for x");
            (
                probs.into_data().iter::<f32>().collect::<Vec<_>>(),
                grad.into_data().iter::<f32>().collect::<Vec<_>>(),
            )
        };
        let ((probs, grad), (probs_ref, grad_ref)) = (run(true), run(false));
        for (i, (a, b)) in probs.iter().zip(&probs_ref).enumerate() {
            assert!((a - b).abs() <= 1e-6, "probability {i}: {a} vs {b}");
        }
        for (i, (a, b)) in grad.iter().zip(&grad_ref).enumerate() {
            assert!((a - b).abs() <= 1e-6, "gradient {i}: {a} vs {b}");
        }
        assert!(
            grad.iter().any(|g| g.abs() > 1e-3),
            "the gradient is not all zero"
        );
    }
}
