//! PyTorch's CPU generator: the Mersenne Twister (MT19937) that `torch.manual_seed(seed)` seeds,
//! and the way `Tensor.normal_` turns its numbers into a float32 tensor.
//!
//! A head that a checkpoint lacks is initialised from this generator, so that `training.seed = S`
//! gives the same initial head as transformers after `set_seed(S)` and `from_pretrained` (the
//! values agree to float32 rounding: PyTorch evaluates log, cos and sin in float32 with
//! vectorised kernels, this module in f64 rounded once).
//!
//! What is reproduced (PyTorch's `CPUGeneratorImpl` and `normal_` for a float32 tensor):
//! - seeding: the low 32 bits of the seed start the standard MT19937 state recurrence; a new
//!   seed also forgets the cached second normal of the scalar path;
//! - a float32 uniform is the low 24 bits of one 32-bit draw times 2^-24, in [0, 1); a float64
//!   uniform the low 53 bits of two draws (first draw high) times 2^-53;
//! - a tensor of 16 or more values draws one float32 uniform per value first, then turns each
//!   block of 16 into normals pairwise (Box-Muller: `u1` from the first eight with `1 - u`,
//!   the angle from the last eight; cosine into the first half, sine into the second); when the
//!   count is not a multiple of 16 the last 16 values are drawn again and transformed anew;
//! - a smaller tensor draws value by value through the float64 Box-Muller path, which keeps the
//!   sine half for the next value (also across tensors).

use std::f64::consts::PI;

const STATE_WORDS: usize = 624;
const SHIFT: usize = 397;

/// PyTorch's CPU random generator, seeded as `torch.manual_seed` seeds it.
#[derive(Debug, Clone)]
pub struct TorchGenerator {
    state: Box<[u32; STATE_WORDS]>,
    next: usize,
    cached_normal: Option<f64>,
}

impl TorchGenerator {
    /// The generator after `torch.manual_seed(seed)`.
    pub fn new(seed: u64) -> Self {
        let mut state = Box::new([0u32; STATE_WORDS]);
        state[0] = seed as u32;
        for i in 1..STATE_WORDS {
            let previous = state[i - 1];
            state[i] = 1_812_433_253u32
                .wrapping_mul(previous ^ (previous >> 30))
                .wrapping_add(i as u32);
        }
        TorchGenerator {
            state,
            next: STATE_WORDS,
            cached_normal: None,
        }
    }

    /// The next 32 random bits (`random()`).
    pub fn next_u32(&mut self) -> u32 {
        if self.next == STATE_WORDS {
            self.twist();
        }
        let mut y = self.state[self.next];
        self.next += 1;
        y ^= y >> 11;
        y ^= (y << 7) & 0x9D2C_5680;
        y ^= (y << 15) & 0xEFC6_0000;
        y ^ (y >> 18)
    }

    /// The next 64 random bits (`random64()`): two draws, the first one high.
    pub fn next_u64(&mut self) -> u64 {
        let high = self.next_u32() as u64;
        let low = self.next_u32() as u64;
        (high << 32) | low
    }

    /// A float32 uniform in [0, 1).
    pub fn uniform_f32(&mut self) -> f32 {
        (self.next_u32() & 0x00FF_FFFF) as f32 / (1u32 << 24) as f32
    }

    /// A float64 uniform in [0, 1).
    pub fn uniform_f64(&mut self) -> f64 {
        (self.next_u64() & ((1u64 << 53) - 1)) as f64 / (1u64 << 53) as f64
    }

    /// `count` values of `torch.empty(count).normal_(mean, std)` in float32.
    pub fn normal_tensor(&mut self, count: usize, mean: f64, std: f64) -> Vec<f32> {
        if count < 16 {
            return (0..count)
                .map(|_| (self.normal_f64() * std + mean) as f32)
                .collect();
        }
        let mut values: Vec<f32> = (0..count).map(|_| self.uniform_f32()).collect();
        for block in values.chunks_exact_mut(16) {
            box_muller_16(block, mean, std);
        }
        if count % 16 != 0 {
            let tail = &mut values[count - 16..];
            for value in tail.iter_mut() {
                *value = self.uniform_f32();
            }
            box_muller_16(tail, mean, std);
        }
        values
    }

    /// One standard normal of the scalar (float64) path, with its cached second half.
    fn normal_f64(&mut self) -> f64 {
        if let Some(value) = self.cached_normal.take() {
            return value;
        }
        let angle_uniform = self.uniform_f64();
        let radius_uniform = self.uniform_f64();
        let radius = (-2.0 * (-radius_uniform).ln_1p()).sqrt();
        let angle = 2.0 * PI * angle_uniform;
        self.cached_normal = Some(radius * angle.sin());
        radius * angle.cos()
    }

    /// Refills the state (the MT19937 recurrence over all 624 words).
    fn twist(&mut self) {
        let state = &mut self.state;
        for i in 0..STATE_WORDS {
            let y = (state[i] & 0x8000_0000) | (state[(i + 1) % STATE_WORDS] & 0x7FFF_FFFF);
            let mut value = state[(i + SHIFT) % STATE_WORDS] ^ (y >> 1);
            if y & 1 == 1 {
                value ^= 0x9908_B0DF;
            }
            state[i] = value;
        }
        self.next = 0;
    }
}

/// Sixteen uniforms in [0, 1) to sixteen normals, in place, as PyTorch's block transform.
fn box_muller_16(block: &mut [f32], mean: f64, std: f64) {
    for j in 0..8 {
        let radius = (-2.0 * (1.0 - block[j] as f64).ln()).sqrt();
        // PyTorch rounds the angle to float32 before taking its cosine and sine.
        let angle = (2.0 * PI * block[j + 8] as f64) as f32 as f64;
        block[j] = (radius * angle.cos() * std + mean) as f32;
        block[j + 8] = (radius * angle.sin() * std + mean) as f32;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mt19937_matches_the_reference_sequence() {
        // The C++ standard fixes the 10000th output of a default-seeded mt19937 (seed 5489).
        let mut generator = TorchGenerator::new(5489);
        let value = (0..10_000).map(|_| generator.next_u32()).last();
        assert_eq!(value, Some(4_123_659_995));
    }

    #[test]
    fn normals_have_the_right_moments_and_tails_are_redrawn() {
        let mut generator = TorchGenerator::new(3);
        let values = generator.normal_tensor(20_007, 0.0, 1.0);
        let mean = values.iter().map(|&v| v as f64).sum::<f64>() / values.len() as f64;
        let var = values
            .iter()
            .map(|&v| (v as f64 - mean).powi(2))
            .sum::<f64>()
            / values.len() as f64;
        assert!(mean.abs() < 0.03, "mean {mean}");
        assert!((var - 1.0).abs() < 0.05, "variance {var}");
        // The first blocks do not depend on the count; the redrawn tail does.
        let shorter = TorchGenerator::new(3).normal_tensor(20_000, 0.0, 1.0);
        assert_eq!(values[..19_991], shorter[..19_991]);
        assert_ne!(values[19_991..20_000], shorter[19_991..]);
    }

    #[test]
    fn small_tensors_use_the_cached_scalar_path() {
        let mut generator = TorchGenerator::new(11);
        let first = generator.normal_tensor(3, 0.0, 1.0);
        let mut again = TorchGenerator::new(11);
        let one = again.normal_tensor(1, 0.0, 1.0);
        let two = again.normal_tensor(2, 0.0, 1.0);
        assert_eq!(first, [one, two].concat());
    }
}
