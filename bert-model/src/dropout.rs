//! Dropout as BERT trains with it: during training each element is kept with probability
//! `1 - p` and scaled by `1 / (1 - p)`, otherwise zeroed; outside training it does nothing.
//!
//! On burn-flex the keep mask is drawn here, in parallel, from a counter-based generator
//! (SplitMix64's output function of seed and position) seeded by one draw from the backend's
//! own generator, so a seeded device still gives the same masks every run. burn's `Dropout`
//! samples every element through a ChaCha generator behind one lock, which took 8% of a
//! fine-tuning step (`experiments/profile/`). The kept values are `x * (1 / (1 - p))`, the same
//! f32 product burn's `Dropout` makes, and so are the gradients; only which elements are
//! dropped differs. Other devices use burn's `Dropout` as it is.

use burn::nn::Dropout;
use burn::prelude::{Device, Tensor, TensorData};
use burn::tensor::{Distribution, Shape};
use rayon::prelude::*;

use crate::host::on_flex;

/// Elements per parallel chunk of a mask.
const CHUNK: usize = 1 << 16;

/// `layer` applied to `input` (see the module documentation).
pub fn dropout<const D: usize>(layer: &Dropout, input: Tensor<D>) -> Tensor<D> {
    let device = input.device();
    let training = layer.training.is_enabled() && device.is_autodiff() && layer.prob > 0.0;
    if !training || !on_flex(&device) {
        return layer.forward(input);
    }
    let keep = 1.0 - layer.prob;
    let mask = keep_mask(input.shape(), keep, draw_seed(&device));
    input * Tensor::from_data(mask, &device)
}

/// 48 bits from the device's generator: two uniform f32 draws of 24 bits each.
fn draw_seed(device: &Device) -> u64 {
    let draws = Tensor::<1>::random([2], Distribution::Default, device)
        .into_data()
        .iter::<f32>()
        .map(|u| (u * (1u32 << 24) as f32) as u64)
        .collect::<Vec<_>>();
    (draws[0] << 24) | draws[1]
}

/// `1 / keep` where an element is kept, else 0, for every element of `shape`.
fn keep_mask(shape: Shape, keep: f64, seed: u64) -> TensorData {
    let n = shape.num_elements();
    let scale = (1.0 / keep) as f32;
    let threshold = (keep * (1u64 << 24) as f64) as u64;
    let mut values = vec![0f32; n];
    values
        .par_chunks_mut(CHUNK)
        .enumerate()
        .for_each(|(c, chunk)| {
            let start = (c * CHUNK) as u64;
            for (i, value) in chunk.iter_mut().enumerate() {
                if mix(seed, start + i as u64) >> 40 < threshold {
                    *value = scale;
                }
            }
        });
    TensorData::new(values, shape)
}

/// SplitMix64's output function at position `index` of the stream `seed`.
#[inline(always)]
fn mix(seed: u64, index: u64) -> u64 {
    let mut z = seed
        .wrapping_mul(0xD6E8_FEB8_6659_FD93)
        .wrapping_add(index.wrapping_add(1).wrapping_mul(0x9E37_79B9_7F4A_7C15));
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::nn::DropoutConfig;

    #[test]
    fn masks_keep_the_right_share_with_the_right_scale() {
        let n = 1 << 20;
        for keep in [0.9, 0.5] {
            let mask = keep_mask(Shape::new([n]), keep, 12345);
            let values = mask.as_slice::<f32>().unwrap();
            let kept = values.iter().filter(|&&v| v != 0.0).count() as f64 / n as f64;
            // Three standard deviations of a binomial share at this n are below 0.0015.
            assert!((kept - keep).abs() < 0.0015, "keep {keep}: kept {kept}");
            let scale = (1.0 / keep) as f32;
            assert!(values.iter().all(|&v| v == 0.0 || v == scale));
            // Neighbouring positions and another seed are not the same pattern.
            let other = keep_mask(Shape::new([n]), keep, 12346);
            assert_ne!(other.as_slice::<f32>().unwrap(), values);
        }
    }

    #[test]
    #[cfg(feature = "flex")]
    fn training_masks_follow_the_device_seed_and_pass_gradients_through_the_mask() {
        let device = Device::flex().autodiff();
        let layer = DropoutConfig::new(0.25).init();
        let run = || {
            device.seed(7);
            let x = Tensor::<2>::ones([64, 100], &device).require_grad();
            let y = dropout(&layer, x.clone());
            let grads = y.clone().sum().backward();
            let grad = x.grad(&grads).unwrap().into_data();
            (y.into_data(), grad)
        };
        let (y, grad) = run();
        assert_eq!(run().0, y, "the same device seed gives the same mask");
        // The gradient of sum(dropout(x)) is the mask itself, and so is the output at x = 1.
        assert_eq!(
            grad.try_to_vec::<f32>().unwrap(),
            y.try_to_vec::<f32>().unwrap()
        );
        let dropped = y.iter::<f32>().filter(|&v| v == 0.0).count();
        assert!((1200..2000).contains(&dropped), "{dropped} of 6400 dropped");
    }

    #[test]
    #[cfg(feature = "flex")]
    fn successive_masks_and_steps_are_independent() {
        // Layers of one step draw one after the other, and each step reseeds the device: no
        // two masks may agree more than chance says (half the elements at p = 0.5).
        let device = Device::flex().autodiff();
        let layer = DropoutConfig::new(0.5).init();
        let n = 1 << 16;
        let mut masks = Vec::new();
        for step_seed in [11u64, 12, 13] {
            device.seed(step_seed);
            for _ in 0..3 {
                let y = dropout(&layer, Tensor::<1>::ones([n], &device));
                masks.push(y.into_data().try_to_vec::<f32>().unwrap());
            }
        }
        for (i, a) in masks.iter().enumerate() {
            for b in &masks[i + 1..] {
                let same = a.iter().zip(b).filter(|(x, y)| x == y).count() as f64 / n as f64;
                // Four standard deviations of a binomial share at this n: 0.0078.
                assert!((same - 0.5).abs() < 0.008, "masks agree on {same}");
            }
        }
    }

    #[test]
    fn outside_training_nothing_changes() {
        let device = Device::default();
        let layer = DropoutConfig::new(0.5).init();
        let x = Tensor::<1>::from_data(TensorData::new(vec![1f32, -2.0, 3.0], [3]), &device);
        let y = dropout(&layer, x.clone()).into_data();
        assert_eq!(y, x.into_data());
    }
}
