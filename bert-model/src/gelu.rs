//! GELU as BERT uses it (`hidden_act = "gelu"`): `x * Phi(x)`, `Phi` the standard normal CDF,
//! written with `erf` as transformers' `GELUActivation` does.
//!
//! On burn-flex GELU is computed here, on every core, in one vectorisable pass: burn-flex's
//! `gelu` and `gelu_backward` call the scalar `erff` element by element on one thread, which
//! was 11% of a fine-tuning step with pretrained weights (`experiments/profile/`). `Phi` uses
//! Abramowitz and Stegun's formula 7.1.26 (absolute error below 1.5e-7 in `erf`), whose
//! exponential `exp(-x^2 / 2)` is also the normal density in the slope. Under autodiff it is
//! one node through Burn's backend extensions (`#[backend_extension]`): the forward pass keeps
//! the input, and the backward pass is one more pass, `grad * (Phi(x) + x * phi(x))`. Other
//! devices and dtypes use burn's `gelu`.

use burn::prelude::Tensor;
use burn::tensor::{activation, DType};
use rayon::prelude::*;

use crate::host::{exp_non_positive, on_flex};

/// Elements per parallel chunk.
const CHUNK: usize = 1 << 14;

/// GELU of `x` (see the module documentation).
pub fn gelu<const D: usize>(x: Tensor<D>) -> Tensor<D> {
    #[cfg(feature = "flex")]
    if on_flex(&x.device()) && x.dtype() == DType::F32 {
        use burn::backend::Dispatch;
        return Tensor::from_dispatch(<Dispatch as flex::GeluBackend>::gelu_erf(x.into_dispatch()));
    }
    activation::gelu(x)
}

#[cfg(feature = "flex")]
mod flex {
    use burn::backend::autodiff::checkpoint::base::Checkpointer;
    use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
    use burn::backend::autodiff::grads::Gradients;
    use burn::backend::autodiff::ops::{unary, Backward, Ops, OpsKind};
    use burn::backend::ops::{ActivationOps, FloatTensorOps};
    use burn::backend::tensor::FloatTensor;
    use burn::backend::{backend_extension, Autodiff, Backend, Flex, TensorMetadata};
    use burn::prelude::TensorData;

    use super::{each_chunk, normal_cdf_and_density};

    /// GELU and its gradient, as a backend extension.
    #[backend_extension(Flex, Autodiff)]
    pub trait GeluBackend: Backend {
        /// `x * Phi(x)` for every element.
        fn gelu_erf(x: FloatTensor<Self>) -> FloatTensor<Self>;

        /// The gradient with respect to `x` of [`GeluBackend::gelu_erf`], given the gradient
        /// `grad` of its output. Burn's own operation here (differentiable under autodiff).
        fn gelu_erf_backward(x: FloatTensor<Self>, grad: FloatTensor<Self>) -> FloatTensor<Self> {
            Self::gelu_backward(x, grad)
        }
    }

    impl GeluBackend for Flex {
        fn gelu_erf(x: FloatTensor<Self>) -> FloatTensor<Self> {
            let (shape, device) = (x.shape(), x.device());
            let x = x.to_contiguous();
            let Some(values) = x.as_slice::<f32>() else {
                return Self::gelu(x);
            };
            let mut out = vec![0f32; values.len()];
            each_chunk(values, &mut out, |v, y| {
                *y = v * normal_cdf_and_density(v).0
            });
            Self::float_from_data(TensorData::new(out, shape), &device)
        }

        fn gelu_erf_backward(x: FloatTensor<Self>, grad: FloatTensor<Self>) -> FloatTensor<Self> {
            let (shape, device) = (x.shape(), x.device());
            let (x, grad) = (x.to_contiguous(), grad.to_contiguous());
            let (Some(values), Some(g)) = (x.as_slice::<f32>(), grad.as_slice::<f32>()) else {
                return Self::gelu_backward(x, grad);
            };
            let mut out = g.to_vec();
            each_chunk(values, &mut out, |v, y| {
                let (cdf, density) = normal_cdf_and_density(v);
                *y *= cdf + v * density
            });
            Self::float_from_data(TensorData::new(out, shape), &device)
        }
    }

    impl<B: GeluBackend, C: CheckpointStrategy> GeluBackend for Autodiff<B, C> {
        fn gelu_erf(x: FloatTensor<Self>) -> FloatTensor<Self> {
            let (primitive, node) = x.into_parts();
            match GeluErf.prepare::<C>([node]).compute_bound().stateful() {
                OpsKind::Tracked(prep) => {
                    let output = B::gelu_erf(primitive.clone());
                    prep.finish(primitive, output)
                }
                OpsKind::UnTracked(prep) => prep.finish(B::gelu_erf(primitive)),
            }
        }
    }

    /// The autodiff node of [`GeluBackend::gelu_erf`]; its state is the input.
    #[derive(Debug)]
    struct GeluErf;

    impl<B: GeluBackend> Backward<B, 1> for GeluErf {
        type State = FloatTensor<B>;

        fn backward(self, ops: Ops<Self::State, 1>, grads: &mut Gradients, _: &mut Checkpointer) {
            let x = ops.state;
            unary::<B, _>(ops.parents, ops.node, grads, |grad| {
                B::gelu_erf_backward(x, grad)
            });
        }
    }
}

/// `f(value, &mut out)` for every element, in parallel chunks.
fn each_chunk(values: &[f32], out: &mut [f32], f: impl Fn(f32, &mut f32) + Sync) {
    values
        .par_chunks(CHUNK)
        .zip(out.par_chunks_mut(CHUNK))
        .for_each(|(values, out)| {
            values
                .iter()
                .zip(out.iter_mut())
                .for_each(|(&v, y)| f(v, y))
        });
}

/// `Phi(x)` and `phi(x)`, the standard normal CDF and density, without branches.
#[inline(always)]
fn normal_cdf_and_density(x: f32) -> (f32, f32) {
    const P: f32 = 0.327_591_1;
    const A: [f32; 5] = [
        0.254_829_6,
        -0.284_496_74,
        1.421_413_7,
        -1.453_152,
        1.061_405_4,
    ];
    const INV_SQRT_2: f32 = std::f32::consts::FRAC_1_SQRT_2;
    const INV_SQRT_2PI: f32 = 0.398_942_3;
    let z = x.abs() * INV_SQRT_2;
    let t = 1.0 / (1.0 + P * z);
    let poly = t * (A[0] + t * (A[1] + t * (A[2] + t * (A[3] + t * A[4]))));
    let gauss = exp_non_positive(-0.5 * x * x);
    // erfc(|x| / sqrt 2) / 2: the tail beyond |x|.
    let tail = 0.5 * poly * gauss;
    let cdf = if x >= 0.0 { 1.0 - tail } else { tail };
    (cdf, INV_SQRT_2PI * gauss)
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::prelude::TensorData;

    #[test]
    fn the_cdf_and_density_match_their_definitions() {
        for i in -4000..=4000 {
            let x = i as f32 / 400.0;
            let (cdf, density) = normal_cdf_and_density(x);
            let (cdf_ref, density_ref) = reference_cdf_and_density(x as f64);
            assert!(
                (cdf as f64 - cdf_ref).abs() < 3e-7,
                "Phi({x}): {cdf} vs {cdf_ref}"
            );
            assert!((density as f64 - density_ref).abs() < 1e-7, "phi({x})");
        }
    }

    /// `Phi` and `phi` in f64: `Phi` from erf's Maclaurin series for |x| <= 5 (exact to
    /// ~1e-10 there), beyond that from the normal tail's asymptotic series (~1e-12).
    fn reference_cdf_and_density(x: f64) -> (f64, f64) {
        let density = (-0.5 * x * x).exp() / (2.0 * std::f64::consts::PI).sqrt();
        if x.abs() > 5.0 {
            let u = 1.0 / (x * x);
            let tail = density / x.abs() * (1.0 - u + 3.0 * u * u - 15.0 * u * u * u);
            return (if x > 0.0 { 1.0 - tail } else { tail }, density);
        }
        let z = x / 2f64.sqrt();
        let (mut term, mut sum) = (z, z);
        for n in 1..200 {
            term *= -z * z / n as f64;
            sum += term / (2 * n + 1) as f64;
        }
        let erf = 2.0 / std::f64::consts::PI.sqrt() * sum;
        (0.5 * (1.0 + erf), density)
    }

    #[test]
    #[cfg(feature = "flex")]
    fn values_and_gradients_equal_the_definition_on_flex() {
        use burn::prelude::Device;
        let xs: Vec<f32> = (-600..=600).map(|i| i as f32 / 60.0).collect();
        let n = xs.len();
        let expected: Vec<(f64, f64)> = xs
            .iter()
            .map(|&x| {
                let (cdf, density) = reference_cdf_and_density(x as f64);
                (x as f64 * cdf, cdf + x as f64 * density)
            })
            .collect();
        let close = |got: f32, want: f64, x: f32| {
            assert!(
                (got as f64 - want).abs() <= 1e-6 * (1.0 + want.abs()),
                "x {x}: {got} vs {want}"
            );
        };
        let inference = gelu(Tensor::<1>::from_data(
            TensorData::new(xs.clone(), [n]),
            &Device::flex(),
        ));
        for ((y, &(want, _)), &x) in inference.into_data().iter::<f32>().zip(&expected).zip(&xs) {
            close(y, want, x);
        }
        let device = Device::flex().autodiff();
        let x = Tensor::<1>::from_data(TensorData::new(xs.clone(), [n]), &device).require_grad();
        let y = gelu(x.clone());
        let grads = y.clone().sum().backward();
        let grad = x.grad(&grads).unwrap().into_data();
        let values = y.into_data();
        for (((y, g), &(want, slope)), &x) in values
            .iter::<f32>()
            .zip(grad.iter::<f32>())
            .zip(&expected)
            .zip(&xs)
        {
            close(y, want, x);
            close(g, slope, x);
        }
    }
}
