//! Where element-wise passes run on the host: burn-flex keeps tensors in host memory, so a
//! pass that Burn only offers as a scalar, single-threaded loop (GELU's `erf`, softmax's `exp`,
//! dropout's generator) can be done here instead, vectorised and on every core.

use burn::prelude::Device;

/// Whether `device` is burn-flex, or burn-flex inside autodiff.
pub(crate) fn on_flex(device: &Device) -> bool {
    #[cfg(feature = "flex")]
    return device.clone().inner() == Device::flex();
    #[cfg(not(feature = "flex"))]
    {
        let _ = device;
        false
    }
}

/// `e^a` for `a <= 0` (relative error near 1e-7), without branches: `a = k ln 2 + r` with
/// `|r| <= ln 2 / 2`, `e^r` by its Taylor polynomial to degree 7, `2^k` from the exponent bits.
#[inline(always)]
pub(crate) fn exp_non_positive(a: f32) -> f32 {
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
}
