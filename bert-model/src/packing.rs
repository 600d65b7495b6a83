//! Skipping padding in the per-token layers. Everything in a BERT layer but the attention
//! product treats each token on its own, so the dense layers, GELU, dropout and LayerNorm can run
//! on the real tokens only, `[tokens, hidden]`, and only the attention needs the padded
//! `[batch * seq, hidden]` layout back. On batches padded to their longest row (half of the
//! rows are padding in a batch of 32 short texts) this removes the padding's share of the
//! matmul work; the real rows' values are unchanged, since padded keys are masked out anyway.

use burn::prelude::{Int, Tensor, TensorData};
use burn::tensor::IndexingUpdateOp;

/// Where the real tokens of a padded batch are: their row numbers in `[batch * seq, hidden]`.
#[derive(Debug, Clone)]
pub(crate) struct Packing {
    /// Row numbers of the real tokens, in order.
    rows: Tensor<1, Int>,
    /// How many real tokens there are.
    tokens: usize,
    /// `batch * seq`.
    padded: usize,
}

impl Packing {
    /// From a `[batch, seq]` 1/0 attention mask; `None` when no position is padding (nothing to
    /// skip) or the mask's values cannot be read.
    pub(crate) fn from_mask(mask: &Tensor<2, Int>) -> Option<Self> {
        let padded = mask.dims().iter().product::<usize>();
        let values = mask
            .clone()
            .into_data()
            .convert::<i64>()
            .try_to_vec::<i64>()
            .ok()?;
        let rows = real_rows(&values);
        if rows.len() == padded {
            return None;
        }
        let tokens = rows.len();
        let rows = Tensor::from_data(TensorData::new(rows, [tokens]), &mask.device());
        Some(Packing {
            rows,
            tokens,
            padded,
        })
    }

    /// `[batch * seq, width]` to the real tokens' rows, `[tokens, width]`.
    pub(crate) fn pack(&self, x: Tensor<2>) -> Tensor<2> {
        x.select(0, self.rows.clone())
    }

    /// `[tokens, width]` back to `[batch * seq, width]`, with zeros at the padded positions.
    pub(crate) fn unpack(&self, x: Tensor<2>) -> Tensor<2> {
        let [tokens, width] = x.dims();
        debug_assert_eq!(tokens, self.tokens);
        Tensor::zeros([self.padded, width], &x.device()).select_assign(
            0,
            self.rows.clone(),
            x,
            IndexingUpdateOp::Add,
        )
    }
}

/// Flat positions whose mask value is not 0.
fn real_rows(mask: &[i64]) -> Vec<i64> {
    mask.iter()
        .enumerate()
        .filter(|(_, &m)| m != 0)
        .map(|(i, _)| i as i64)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::prelude::Device;

    fn mask(rows: &[&[i64]]) -> Tensor<2, Int> {
        let seq = rows[0].len();
        let flat: Vec<i64> = rows.iter().flat_map(|r| r.iter().copied()).collect();
        Tensor::from_data(TensorData::new(flat, [rows.len(), seq]), &Device::default())
    }

    #[test]
    fn no_padding_means_nothing_to_skip() {
        assert!(Packing::from_mask(&mask(&[&[1, 1], &[1, 1]])).is_none());
    }

    #[test]
    fn pack_keeps_real_rows_and_unpack_zeros_the_rest() {
        let packing = Packing::from_mask(&mask(&[&[1, 1, 0], &[1, 0, 0]])).unwrap();
        let x = Tensor::<1, Int>::arange(0..12, &Device::default())
            .float()
            .reshape([6, 2]);
        let packed = packing.pack(x);
        let values = packed.clone().into_data().try_to_vec::<f32>().unwrap();
        assert_eq!(values, vec![0.0, 1.0, 2.0, 3.0, 6.0, 7.0]);
        let unpacked = packing
            .unpack(packed)
            .into_data()
            .try_to_vec::<f32>()
            .unwrap();
        let expected = [0.0, 1.0, 2.0, 3.0, 0.0, 0.0, 6.0, 7.0, 0.0, 0.0, 0.0, 0.0];
        assert_eq!(unpacked, expected.to_vec());
    }
}
