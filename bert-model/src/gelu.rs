//! GELU as BERT uses it (`hidden_act = "gelu"`): `x * Phi(x)`, `Phi` the standard normal CDF,
//! written with `erf` as transformers' `GELUActivation` does.
//!
//! On burn-flex the function and its slope are computed here, on every core, in one
//! vectorisable pass: burn-flex's `gelu` and `gelu_backward` call the scalar `erff` element by
//! element on one thread, which was 11% of a fine-tuning step with pretrained weights
//! (`experiments/profile/`). `Phi` uses Abramowitz and Stegun's formula 7.1.26 (absolute
//! error below 1.5e-7 in `erf`), whose exponential `exp(-x^2 / 2)` is also the normal density
//! in the slope. Under autodiff the result is built as `x * slope + offset`, with `slope` and
//! `offset = gelu(x) - x * slope` constants: its value is `gelu(x)` and its gradient is
//! `slope = Phi(x) + x * phi(x)`, GELU's derivative. Other devices use burn's `gelu`.

use burn::prelude::{Tensor, TensorData};
use burn::tensor::{activation, DType};
use rayon::prelude::*;

use crate::host::on_flex;

/// Elements per parallel chunk.
const CHUNK: usize = 1 << 14;

/// GELU of `x` (see the module documentation).
pub fn gelu<const D: usize>(x: Tensor<D>) -> Tensor<D> {
    let device = x.device();
    if !on_flex(&device) || x.dtype() != DType::F32 {
        return activation::gelu(x);
    }
    let shape = x.shape();
    if !device.is_autodiff() {
        let data = x.into_data();
        let Ok(values) = data.as_slice::<f32>() else {
            return activation::gelu(Tensor::from_data(data, &device));
        };
        let mut out = vec![0f32; values.len()];
        each_chunk(values, &mut out, |v, y| {
            *y = v * normal_cdf_and_density(v).0
        });
        return Tensor::from_data(TensorData::new(out, shape), &device);
    }
    let data = x.clone().into_data();
    let Ok(values) = data.as_slice::<f32>() else {
        return activation::gelu(x);
    };
    let (slope, offset) = slope_and_offset(values);
    let slope = Tensor::from_data(TensorData::new(slope, shape.clone()), &device);
    let offset = Tensor::from_data(TensorData::new(offset, shape), &device);
    x * slope + offset
}

/// GELU's derivative at every value, and `gelu(v) - v * slope`.
fn slope_and_offset(values: &[f32]) -> (Vec<f32>, Vec<f32>) {
    let mut slope = vec![0f32; values.len()];
    let mut offset = vec![0f32; values.len()];
    values
        .par_chunks(CHUNK)
        .zip(slope.par_chunks_mut(CHUNK))
        .zip(offset.par_chunks_mut(CHUNK))
        .for_each(|((values, slope), offset)| {
            for ((&v, s), o) in values.iter().zip(slope.iter_mut()).zip(offset.iter_mut()) {
                let (cdf, density) = normal_cdf_and_density(v);
                *s = cdf + v * density;
                *o = v * cdf - v * *s;
            }
        });
    (slope, offset)
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

/// `e^a` for `a <= 0` (relative error near 1e-7), without branches: `a = k ln 2 + r` with
/// `|r| <= ln 2 / 2`, `e^r` by its Taylor polynomial to degree 7, `2^k` from the exponent bits.
#[inline(always)]
fn exp_non_positive(a: f32) -> f32 {
    const LN2_HI: f32 = 0.693_145_75;
    const LN2_LO: f32 = 1.428_606_8e-6;
    // Adding and subtracting 1.5 * 2^23 rounds to the nearest integer.
    const ROUND: f32 = 12_582_912.0;
    let a = a.max(-87.0);
    let k = (a * std::f32::consts::LOG2_E + ROUND) - ROUND;
    let r = (a - k * LN2_HI) - k * LN2_LO;
    let mut p = 1.0 / 5040.0;
    for c in [
        1.0 / 720.0,
        1.0 / 120.0,
        1.0 / 24.0,
        1.0 / 6.0,
        0.5,
        1.0,
        1.0,
    ] {
        p = p * r + c;
    }
    p * f32::from_bits(((k as i32 + 127) as u32) << 23)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_exponential_matches_std_on_its_range() {
        for i in 0..=20_000 {
            let a = -87.0 * i as f32 / 20_000.0;
            let (ours, reference) = (exp_non_positive(a) as f64, (a as f64).exp());
            assert!(
                (ours - reference).abs() <= 3e-7 * reference,
                "e^{a}: {ours} vs {reference}"
            );
        }
        assert!(exp_non_positive(-1e4) < 1e-37);
    }

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
