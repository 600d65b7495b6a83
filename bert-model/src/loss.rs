//! The losses of the task heads, with torch's reductions (mean over the counted elements).

use burn::prelude::{Int, Tensor};
use burn::tensor::activation;

/// Mean cross-entropy of `logits` `[n, classes]` against `labels` `[n]`, over the rows whose
/// label is not `ignore_index` and whose `keep` entry (if given) is true. Like torch's
/// `CrossEntropyLoss(ignore_index=..)`, no counted row gives NaN (0 / 0).
pub fn cross_entropy(
    logits: Tensor<2>,
    labels: Tensor<1, Int>,
    ignore_index: i64,
    keep: Option<Tensor<1, Int>>,
) -> Tensor<1> {
    let [n, classes] = logits.dims();
    let mut counted = labels.clone().not_equal_elem(ignore_index).int();
    if let Some(keep) = keep {
        counted = counted * keep.not_equal_elem(0).int();
    }
    // Ignored rows may hold any value: clamp them into range before gathering.
    let safe = labels.clamp(0, classes as i64 - 1).reshape([n, 1]);
    let log_probs = activation::log_softmax(logits, 1);
    let picked = log_probs.gather(1, safe).reshape([n]);
    let weights = counted.float();
    let total = (picked * weights.clone()).sum().neg();
    total / weights.sum()
}

/// Mean squared error between two tensors of the same shape.
pub fn mse<const D: usize>(predictions: Tensor<D>, targets: Tensor<D>) -> Tensor<1> {
    (predictions - targets).powi_scalar(2).mean()
}

/// Mean binary cross-entropy with logits (torch's `BCEWithLogitsLoss`), in its stable form
/// `max(x, 0) - x * y + log(1 + exp(-|x|))`.
pub fn bce_with_logits<const D: usize>(logits: Tensor<D>, targets: Tensor<D>) -> Tensor<1> {
    let positive = logits.clone().clamp_min(0.0);
    let soft = logits.clone().abs().neg().exp().log1p();
    (positive - logits * targets + soft).mean()
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::prelude::{Device, TensorData};

    fn device() -> Device {
        crate::device::parse_device("cpu").unwrap()
    }

    #[test]
    fn cross_entropy_ignores_labels_and_masked_rows() {
        let d = device();
        let logits = Tensor::<2>::from_data(
            TensorData::new(vec![2.0f32, 0.0, 0.0, 1.0, 5.0, -5.0], [3, 2]),
            &d,
        );
        let labels = Tensor::<1, Int>::from_data(TensorData::new(vec![0i64, -100, 1], [3]), &d);
        let loss: f32 = cross_entropy(logits.clone(), labels.clone(), -100, None).into_scalar();
        let expected = ((1.0f64 + (-2.0f64).exp()).ln() + (1.0f64 + 10f64.exp()).ln()) / 2.0;
        assert!(
            (loss as f64 - expected).abs() < 1e-5,
            "{loss} vs {expected}"
        );
        let keep = Tensor::<1, Int>::from_data(TensorData::new(vec![1i64, 1, 0], [3]), &d);
        let loss: f32 = cross_entropy(logits, labels, -100, Some(keep)).into_scalar();
        let expected = (1.0f64 + (-2.0f64).exp()).ln();
        assert!(
            (loss as f64 - expected).abs() < 1e-5,
            "{loss} vs {expected}"
        );
    }

    #[test]
    fn bce_matches_the_plain_formula() {
        let d = device();
        let x = Tensor::<1>::from_data(TensorData::new(vec![0.3f32, -2.0], [2]), &d);
        let y = Tensor::<1>::from_data(TensorData::new(vec![1.0f32, 0.0], [2]), &d);
        let loss: f32 = bce_with_logits(x, y).into_scalar();
        let sig = |v: f64| 1.0 / (1.0 + (-v).exp());
        let expected = (-(sig(0.3).ln()) - (1.0 - sig(-2.0)).ln()) / 2.0;
        assert!((loss as f64 - expected).abs() < 1e-6);
    }
}
