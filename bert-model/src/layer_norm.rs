//! LayerNorm over the last dimension, as BERT applies it after each residual connection and in
//! the masked-LM head: `(x - mean) / sqrt(var + eps) * gamma + beta`, with the biased variance.
//!
//! Under autodiff burn's LayerNorm is composed of nine operations (mean, subtract, square, mean,
//! add, square root, divide, scale, shift), each a node with its own full-size output and its
//! own backward. On burn-flex it is one operation here instead, added through Burn's backend
//! extensions (`#[backend_extension]`): the forward pass is one pass per row, rows in parallel,
//! and under autodiff it also keeps the normalised rows and each row's `1 / std`; the backward
//! pass is one pass per row for the input's gradient,
//! `dx = (g' - mean(g') - x^ * mean(g' * x^)) / std` with `g' = grad * gamma`, and column sums
//! for `gamma` (`sum(grad * x^)`) and `beta` (`sum(grad)`), added up in a fixed order so that a
//! run repeats exactly. Other devices, dtypes other than f32, and a LayerNorm without `beta`
//! use burn's.

use burn::nn::LayerNorm;
use burn::prelude::Tensor;

#[cfg(feature = "flex")]
use crate::host::on_flex;

/// `norm` applied to `x` over its last dimension, `epsilon` being the one `norm` was made with
/// (BERT's `layer_norm_eps`; see the module documentation).
pub fn layer_norm<const D: usize>(norm: &LayerNorm, epsilon: f64, x: Tensor<D>) -> Tensor<D> {
    #[cfg(feature = "flex")]
    if let Some(beta) = &norm.beta {
        if on_flex(&x.device()) && x.dtype() == burn::tensor::DType::F32 && D > 0 {
            use burn::backend::Dispatch;
            return Tensor::from_dispatch(<Dispatch as flex::LayerNormBackend>::layer_norm_last(
                x.into_dispatch(),
                norm.gamma.val().into_dispatch(),
                beta.val().into_dispatch(),
                epsilon,
            ));
        }
    }
    let _ = epsilon;
    norm.forward(x)
}

#[cfg(feature = "flex")]
mod flex {
    use burn::backend::autodiff::checkpoint::base::Checkpointer;
    use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
    use burn::backend::autodiff::grads::Gradients;
    use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
    use burn::backend::ops::{FloatTensorOps, ModuleOps};
    use burn::backend::tensor::FloatTensor;
    use burn::backend::{backend_extension, Autodiff, Backend, Flex, TensorMetadata};
    use burn::prelude::{Shape, TensorData};
    use rayon::prelude::*;

    /// Elements per parallel task (whole rows are handed out).
    const CHUNK: usize = 1 << 14;

    /// LayerNorm and its gradients, as a backend extension. `gamma` and `beta` are 1-D, as long
    /// as the last dimension of `x`.
    #[backend_extension(Flex, Autodiff)]
    pub trait LayerNormBackend: Backend {
        /// LayerNorm of `x` over its last dimension.
        fn layer_norm_last(
            x: FloatTensor<Self>,
            gamma: FloatTensor<Self>,
            beta: FloatTensor<Self>,
            epsilon: f64,
        ) -> FloatTensor<Self> {
            Self::layer_norm_saving(x, gamma, beta, epsilon).0
        }

        /// [`LayerNormBackend::layer_norm_last`], with what its gradient needs: the output, the
        /// normalised input `x^` (the shape of `x`) and each row's `1 / std` (the shape of `x`
        /// with a last dimension of 1). Composed of differentiable operations here.
        fn layer_norm_saving(
            x: FloatTensor<Self>,
            gamma: FloatTensor<Self>,
            beta: FloatTensor<Self>,
            epsilon: f64,
        ) -> (FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>) {
            composed_saving::<Self>(x, gamma, beta, epsilon)
        }

        /// The gradients with respect to `x`, `gamma` and `beta`, given what
        /// [`LayerNormBackend::layer_norm_saving`] kept and the gradient `grad` of the output.
        /// Composed of differentiable operations here.
        fn layer_norm_backward(
            normalized: FloatTensor<Self>,
            inv_std: FloatTensor<Self>,
            gamma: FloatTensor<Self>,
            grad: FloatTensor<Self>,
        ) -> (FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>) {
            composed_backward::<Self>(normalized, inv_std, gamma, grad)
        }
    }

    impl LayerNormBackend for Flex {
        fn layer_norm_last(
            x: FloatTensor<Self>,
            gamma: FloatTensor<Self>,
            beta: FloatTensor<Self>,
            epsilon: f64,
        ) -> FloatTensor<Self> {
            // burn-flex's own LayerNorm is one pass already; only training needs the node below.
            <Self as ModuleOps<Self>>::layer_norm(x, gamma, Some(beta), epsilon)
        }

        fn layer_norm_saving(
            x: FloatTensor<Self>,
            gamma: FloatTensor<Self>,
            beta: FloatTensor<Self>,
            epsilon: f64,
        ) -> (FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>) {
            let (shape, device) = (x.shape(), x.device());
            let (x, gamma, beta) = (
                x.to_contiguous(),
                gamma.to_contiguous(),
                beta.to_contiguous(),
            );
            let (Some(values), Some(g), Some(b)) = (
                x.as_slice::<f32>(),
                gamma.as_slice::<f32>(),
                beta.as_slice::<f32>(),
            ) else {
                return composed_saving::<Flex>(x, gamma, beta, epsilon);
            };
            let row = g.len();
            if row == 0 {
                return composed_saving::<Flex>(x, gamma, beta, epsilon);
            }
            let mut out = vec![0f32; values.len()];
            let mut normalized = vec![0f32; values.len()];
            let mut inv_std = vec![0f32; values.len() / row];
            let rows_per_task = (CHUNK / row).max(1);
            out.par_chunks_mut(rows_per_task * row)
                .zip(normalized.par_chunks_mut(rows_per_task * row))
                .zip(inv_std.par_chunks_mut(rows_per_task))
                .enumerate()
                .for_each(|(task, ((out, normalized), inv_std))| {
                    let first = task * rows_per_task * row;
                    let input = &values[first..first + out.len()];
                    for (((x, y), n), s) in input
                        .chunks_exact(row)
                        .zip(out.chunks_exact_mut(row))
                        .zip(normalized.chunks_exact_mut(row))
                        .zip(inv_std.iter_mut())
                    {
                        *s = normalize_row(x, epsilon, n);
                        for (((y, &n), &g), &b) in y.iter_mut().zip(n.iter()).zip(g).zip(b) {
                            *y = n * g + b;
                        }
                    }
                });
            let mut stat_dims = shape.to_vec();
            if let Some(last) = stat_dims.last_mut() {
                *last = 1;
            }
            (
                Self::float_from_data(TensorData::new(out, shape.clone()), &device),
                Self::float_from_data(TensorData::new(normalized, shape), &device),
                Self::float_from_data(TensorData::new(inv_std, Shape::from(stat_dims)), &device),
            )
        }

        fn layer_norm_backward(
            normalized: FloatTensor<Self>,
            inv_std: FloatTensor<Self>,
            gamma: FloatTensor<Self>,
            grad: FloatTensor<Self>,
        ) -> (FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>) {
            let (shape, device) = (normalized.shape(), normalized.device());
            let normalized = normalized.to_contiguous();
            let (inv_std, gamma, grad) = (
                inv_std.to_contiguous(),
                gamma.to_contiguous(),
                grad.to_contiguous(),
            );
            let (Some(n), Some(s), Some(g), Some(dy)) = (
                normalized.as_slice::<f32>(),
                inv_std.as_slice::<f32>(),
                gamma.as_slice::<f32>(),
                grad.as_slice::<f32>(),
            ) else {
                return composed_backward::<Flex>(normalized, inv_std, gamma, grad);
            };
            let row = g.len();
            if row == 0 {
                return composed_backward::<Flex>(normalized, inv_std, gamma, grad);
            }
            let mut dx = vec![0f32; n.len()];
            let rows_per_task = (CHUNK / row).max(1);
            // Each task's column sums of grad * x^ and of grad, added up in task order below.
            let partial: Vec<(Vec<f32>, Vec<f32>)> = dx
                .par_chunks_mut(rows_per_task * row)
                .enumerate()
                .map(|(task, dx)| {
                    let (first, count) = (task * rows_per_task, dx.len() / row);
                    let span = first * row..first * row + dx.len();
                    let (n, dy) = (&n[span.clone()], &dy[span]);
                    let mut sums = (vec![0f32; row], vec![0f32; row]);
                    for r in 0..count {
                        let cols = r * row..(r + 1) * row;
                        let (n, dy) = (&n[cols.clone()], &dy[cols.clone()]);
                        backward_row(n, dy, g, s[first + r], &mut dx[cols]);
                        for j in 0..row {
                            sums.0[j] += dy[j] * n[j];
                            sums.1[j] += dy[j];
                        }
                    }
                    sums
                })
                .collect();
            let (mut dgamma, mut dbeta) = (vec![0f32; row], vec![0f32; row]);
            for (pg, pb) in &partial {
                dgamma.iter_mut().zip(pg).for_each(|(a, b)| *a += b);
                dbeta.iter_mut().zip(pb).for_each(|(a, b)| *a += b);
            }
            (
                Self::float_from_data(TensorData::new(dx, shape), &device),
                Self::float_from_data(TensorData::new(dgamma, [row]), &device),
                Self::float_from_data(TensorData::new(dbeta, [row]), &device),
            )
        }
    }

    impl<B: LayerNormBackend, C: CheckpointStrategy> LayerNormBackend for Autodiff<B, C> {
        fn layer_norm_last(
            x: FloatTensor<Self>,
            gamma: FloatTensor<Self>,
            beta: FloatTensor<Self>,
            epsilon: f64,
        ) -> FloatTensor<Self> {
            let (x, x_node) = x.into_parts();
            let (gamma, gamma_node) = gamma.into_parts();
            let (beta, beta_node) = beta.into_parts();
            let parents = [x_node, gamma_node, beta_node];
            match LayerNormLast
                .prepare::<C>(parents)
                .compute_bound()
                .stateful()
            {
                OpsKind::Tracked(prep) => {
                    let (out, normalized, inv_std) =
                        B::layer_norm_saving(x, gamma.clone(), beta, epsilon);
                    prep.finish((normalized, inv_std, gamma), out)
                }
                OpsKind::UnTracked(prep) => {
                    prep.finish(B::layer_norm_last(x, gamma, beta, epsilon))
                }
            }
        }
    }

    /// The autodiff node of [`LayerNormBackend::layer_norm_last`]; its state is the normalised
    /// input, each row's `1 / std`, and `gamma`.
    #[derive(Debug)]
    struct LayerNormLast;

    impl<B: LayerNormBackend> Backward<B, 3> for LayerNormLast {
        type State = (FloatTensor<B>, FloatTensor<B>, FloatTensor<B>);

        fn backward(self, ops: Ops<Self::State, 3>, grads: &mut Gradients, _: &mut Checkpointer) {
            let grad = grads.consume::<B>(&ops.node);
            let (normalized, inv_std, gamma) = ops.state;
            let (dx, dgamma, dbeta) = B::layer_norm_backward(normalized, inv_std, gamma, grad);
            for (node, grad) in ops.parents.into_iter().zip([dx, dgamma, dbeta]) {
                if let Some(node) = node {
                    grads.register::<B>(node.id, grad);
                }
            }
        }
    }

    /// `x^ = (x - mean) / sqrt(var + epsilon)` of one row into `normalized`; returns
    /// `1 / sqrt(var + epsilon)`. Sums in f64.
    #[inline(always)]
    fn normalize_row(x: &[f32], epsilon: f64, normalized: &mut [f32]) -> f32 {
        let count = x.len().max(1) as f64;
        let mean = x.iter().map(|&v| v as f64).sum::<f64>() / count;
        let var = x.iter().map(|&v| (v as f64 - mean).powi(2)).sum::<f64>() / count;
        let inv_std = 1.0 / (var + epsilon).sqrt();
        for (n, &v) in normalized.iter_mut().zip(x) {
            *n = ((v as f64 - mean) * inv_std) as f32;
        }
        inv_std as f32
    }

    /// The input's gradient of one row: `(g' - mean(g') - x^ * mean(g' * x^)) * inv_std`,
    /// `g' = grad * gamma`.
    #[inline(always)]
    fn backward_row(n: &[f32], dy: &[f32], gamma: &[f32], inv_std: f32, dx: &mut [f32]) {
        let count = n.len().max(1) as f32;
        let (mut mean_g, mut mean_gn) = (0f32, 0f32);
        for ((&n, &dy), &g) in n.iter().zip(dy).zip(gamma) {
            mean_g += dy * g;
            mean_gn += dy * g * n;
        }
        let (mean_g, mean_gn) = (mean_g / count, mean_gn / count);
        for (((dx, &n), &dy), &g) in dx.iter_mut().zip(n).zip(dy).zip(gamma) {
            *dx = (dy * g - mean_g - n * mean_gn) * inv_std;
        }
    }

    /// `gamma` or `beta` shaped to broadcast over the last dimension of a tensor of `shape`.
    fn broadcast<B: Backend>(param: FloatTensor<B>, shape: &Shape) -> FloatTensor<B> {
        let mut dims = vec![1; shape.num_dims()];
        if let (Some(last), Some(&d)) = (dims.last_mut(), shape.as_slice().last()) {
            *last = d;
        }
        B::float_reshape(param, Shape::from(dims))
    }

    /// The forward pass composed of backend operations (differentiable under autodiff).
    fn composed_saving<B: Backend>(
        x: FloatTensor<B>,
        gamma: FloatTensor<B>,
        beta: FloatTensor<B>,
        epsilon: f64,
    ) -> (FloatTensor<B>, FloatTensor<B>, FloatTensor<B>) {
        let shape = x.shape();
        let last = shape.num_dims() - 1;
        let centered = B::float_sub(x.clone(), B::float_mean_dim(x, last));
        let var = B::float_mean_dim(B::float_mul(centered.clone(), centered.clone()), last);
        let inv_std = B::float_recip(B::float_sqrt(B::float_add_scalar(var, epsilon.into())));
        let normalized = B::float_mul(centered, inv_std.clone());
        let out = B::float_add(
            B::float_mul(normalized.clone(), broadcast::<B>(gamma, &shape)),
            broadcast::<B>(beta, &shape),
        );
        (out, normalized, inv_std)
    }

    /// The gradients composed of backend operations (differentiable under autodiff).
    fn composed_backward<B: Backend>(
        normalized: FloatTensor<B>,
        inv_std: FloatTensor<B>,
        gamma: FloatTensor<B>,
        grad: FloatTensor<B>,
    ) -> (FloatTensor<B>, FloatTensor<B>, FloatTensor<B>) {
        let shape = normalized.shape();
        let last = shape.num_dims() - 1;
        let row = shape.as_slice()[last];
        let scaled = B::float_mul(grad.clone(), broadcast::<B>(gamma, &shape));
        let mean_g = B::float_mean_dim(scaled.clone(), last);
        let mean_gn = B::float_mean_dim(B::float_mul(scaled.clone(), normalized.clone()), last);
        let dx = B::float_mul(
            B::float_sub(
                B::float_sub(scaled, mean_g),
                B::float_mul(normalized.clone(), mean_gn),
            ),
            inv_std,
        );
        let rows = shape.num_elements() / row.max(1);
        let column_sum = |t: FloatTensor<B>| {
            let t = B::float_reshape(t, Shape::from([rows, row]));
            B::float_reshape(B::float_sum_dim(t, 0), Shape::from([row]))
        };
        let dgamma = column_sum(B::float_mul(grad.clone(), normalized));
        (dx, dgamma, column_sum(grad))
    }
}

#[cfg(all(test, feature = "flex"))]
mod tests {
    use super::*;
    use burn::nn::LayerNormConfig;
    use burn::prelude::{Device, TensorData};

    /// Rows of different scales and offsets, `[2, 5, 24]`.
    fn input() -> Vec<f32> {
        (0..240)
            .map(|i| ((i as f32 * 0.37).sin() * (1.0 + (i / 24) as f32)) + (i / 48) as f32)
            .collect()
    }

    /// A LayerNorm of 24 with gamma and beta away from 1 and 0.
    fn norm(device: &Device) -> LayerNorm {
        let mut norm = LayerNormConfig::new(24).with_epsilon(1e-12).init(device);
        let gamma: Vec<f32> = (0..24)
            .map(|i| 1.0 + (i as f32 * 0.3).cos() * 0.5)
            .collect();
        let beta: Vec<f32> = (0..24).map(|i| (i as f32 * 0.7).sin() * 0.2).collect();
        norm.gamma = burn::module::Param::from_tensor(Tensor::from_data(
            TensorData::new(gamma, [24]),
            device,
        ));
        norm.beta = Some(burn::module::Param::from_tensor(Tensor::from_data(
            TensorData::new(beta, [24]),
            device,
        )));
        norm
    }

    #[test]
    fn values_and_gradients_equal_burns_layer_norm() {
        let device = Device::flex().autodiff();
        let weights: Vec<f32> = (0..240).map(|i| (i as f32 * 0.11).cos()).collect();
        let run = |ours: bool| {
            let norm = norm(&device);
            let x = Tensor::<3>::from_data(TensorData::new(input(), [2, 5, 24]), &device)
                .require_grad();
            let w = Tensor::<3>::from_data(TensorData::new(weights.clone(), [2, 5, 24]), &device);
            let y = if ours {
                layer_norm(&norm, 1e-12, x.clone())
            } else {
                norm.forward(x.clone())
            };
            let grads = (y.clone() * w).sum().backward();
            let values =
                |t: Option<Tensor<3>>| t.map(|t| t.into_data().iter::<f32>().collect::<Vec<_>>());
            let param =
                |t: Option<Tensor<1>>| t.map(|t| t.into_data().iter::<f32>().collect::<Vec<_>>());
            (
                values(Some(y)).unwrap(),
                values(x.grad(&grads)).expect("a gradient for x"),
                param(norm.gamma.val().grad(&grads)).expect("a gradient for gamma"),
                param(norm.beta.as_ref().unwrap().val().grad(&grads)).expect("one for beta"),
            )
        };
        let (ours, reference) = (run(true), run(false));
        let pairs = [
            ("output", &ours.0, &reference.0),
            ("x gradient", &ours.1, &reference.1),
            ("gamma gradient", &ours.2, &reference.2),
            ("beta gradient", &ours.3, &reference.3),
        ];
        for (name, a, b) in pairs {
            assert_eq!(a.len(), b.len(), "{name}");
            for (i, (a, b)) in a.iter().zip(b.iter()).enumerate() {
                assert!((a - b).abs() <= 2e-5, "{name} {i}: {a} vs {b}");
            }
            assert!(a.iter().any(|v| v.abs() > 1e-2), "{name} is not all zero");
        }
    }

    #[test]
    fn inference_values_equal_burns_layer_norm() {
        let device = Device::flex();
        let norm = norm(&device);
        let x = Tensor::<2>::from_data(TensorData::new(input(), [10, 24]), &device);
        let ours = layer_norm(&norm, 1e-12, x.clone()).into_data();
        let reference = norm.forward(x).into_data();
        ours.assert_approx_eq::<f32>(&reference, burn::tensor::Tolerance::absolute(2e-5));
    }
}
