//! Label sets and batching: which rows go together, in which order, and how they are padded
//! onto a device.
//!
//! The order is a pure function of the row lengths, the batch size, the seed and the epoch, so
//! that a resumed run sees exactly the batches an uninterrupted one would.

use std::collections::BTreeSet;

use bert_model::burn::prelude::{Device, Int, Tensor, TensorData};
use bert_model::rng::SplitMix64;
use bert_model::BertInput;

/// The class names of a classification task, in id order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LabelSet {
    names: Vec<String>,
}

/// A label that is not in the label set.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("label `{label}` is not one of the known labels ({known})", known = known.join(", "))]
pub struct UnknownLabel {
    /// The label as read.
    pub label: String,
    /// The labels of the set.
    pub known: Vec<String>,
}

impl LabelSet {
    /// The labels given (for example by the config), in that order; duplicates are dropped.
    pub fn from_names<S: AsRef<str>>(names: &[S]) -> Self {
        let mut seen = BTreeSet::new();
        LabelSet {
            names: names
                .iter()
                .map(|n| n.as_ref().to_string())
                .filter(|n| seen.insert(n.clone()))
                .collect(),
        }
    }

    /// The distinct labels of the training data, sorted (numerically when every label is an
    /// integer, so that "2" comes before "10").
    pub fn collect<'a>(labels: impl IntoIterator<Item = &'a str>) -> Self {
        let distinct: BTreeSet<&str> = labels.into_iter().collect();
        let mut names: Vec<String> = distinct.into_iter().map(str::to_string).collect();
        if names.iter().all(|n| n.parse::<i64>().is_ok()) {
            names.sort_by_key(|n| n.parse::<i64>().unwrap_or(0));
        }
        LabelSet { names }
    }

    /// The id of `label`.
    pub fn id(&self, label: &str) -> Result<usize, UnknownLabel> {
        self.names
            .iter()
            .position(|n| n == label)
            .ok_or_else(|| UnknownLabel {
                label: label.to_string(),
                known: self.names.clone(),
            })
    }

    /// The names in id order.
    pub fn names(&self) -> &[String] {
        &self.names
    }

    /// Number of labels.
    pub fn len(&self) -> usize {
        self.names.len()
    }

    /// Whether there are no labels.
    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }
}

/// How rows are grouped into batches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchPlan {
    /// Rows per batch.
    pub batch_size: usize,
    /// Shuffle with this seed (mixed with the epoch); `None` keeps file order.
    pub shuffle_seed: Option<u64>,
    /// Put rows of similar length together (less padding): rows are shuffled, cut into chunks
    /// of 50 batches, each chunk sorted by length, and the batches shuffled again.
    pub group_by_length: bool,
}

impl BatchPlan {
    /// The batches of one epoch, as lists of row indices.
    pub fn batches(&self, lengths: &[usize], epoch: u64) -> Vec<Vec<usize>> {
        let epoch = self.epoch(lengths.len(), &|i| lengths[i], epoch);
        epoch.batches().collect()
    }

    /// The batches of one epoch over `count` rows whose lengths `length` gives (asked only
    /// with `group_by_length`), as one order of rows and the ranges of it that are batches.
    ///
    /// # Panics
    /// With 2^32 rows or more.
    pub fn epoch(&self, count: usize, length: &dyn Fn(usize) -> usize, epoch: u64) -> EpochOrder {
        let size = self.batch_size.max(1);
        let count = u32::try_from(count).expect("fewer than 2^32 rows");
        let mut order: Vec<u32> = (0..count).collect();
        let count = count as usize;
        let mut rng = self
            .shuffle_seed
            .map(|seed| SplitMix64(seed ^ epoch.wrapping_mul(0x9E37_79B9_7F4A_7C15)));
        if let Some(rng) = rng.as_mut() {
            rng.shuffle(&mut order);
        }
        let mut ranges: Vec<std::ops::Range<usize>> = (0..count.div_ceil(size))
            .map(|b| b * size..((b + 1) * size).min(count))
            .collect();
        if self.group_by_length {
            for chunk in order.chunks_mut(size * 50) {
                chunk.sort_by_key(|&i| std::cmp::Reverse(length(i as usize)));
            }
            if let Some(rng) = rng.as_mut() {
                rng.shuffle(&mut ranges);
            }
        }
        EpochOrder { order, ranges }
    }
}

/// The batches of one epoch: an order of the rows (4 bytes a row), and its ranges that are
/// batches, in the order they are trained on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EpochOrder {
    order: Vec<u32>,
    ranges: Vec<std::ops::Range<usize>>,
}

impl EpochOrder {
    /// Batches in the epoch.
    pub fn len(&self) -> usize {
        self.ranges.len()
    }

    /// Whether the epoch has no batches.
    pub fn is_empty(&self) -> bool {
        self.ranges.is_empty()
    }

    /// The rows of batch `b`.
    pub fn batch(&self, b: usize) -> Vec<usize> {
        self.order[self.ranges[b].clone()]
            .iter()
            .map(|&i| i as usize)
            .collect()
    }

    /// The batches, in order.
    pub fn batches(&self) -> impl Iterator<Item = Vec<usize>> + '_ {
        (0..self.len()).map(|b| self.batch(b))
    }

    /// Leaves out the first `n` batches (those done before a resume).
    pub fn skip(&mut self, n: usize) {
        self.ranges.drain(..n.min(self.ranges.len()));
    }
}

/// A row ready for the model: token ids and token type ids.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row {
    /// Token ids, with [CLS] and [SEP].
    pub ids: Vec<u32>,
    /// Token type ids.
    pub type_ids: Vec<u32>,
}

/// Pads rows to the longest of the batch and puts them on `device`.
pub fn input_batch(rows: &[&Row], pad_id: u32, device: &Device) -> BertInput {
    let pairs: Vec<(Vec<u32>, Vec<u32>)> = rows
        .iter()
        .map(|r| (r.ids.clone(), r.type_ids.clone()))
        .collect();
    BertInput::from_rows(&pairs, pad_id, device)
}

/// Per-token labels padded with -100 to `seq` positions, `[rows, seq]` on `device`.
pub fn token_label_batch(labels: &[&[i64]], seq: usize, device: &Device) -> Tensor<2, Int> {
    let mut values = vec![-100i64; labels.len() * seq];
    for (r, row) in labels.iter().enumerate() {
        for (c, &label) in row.iter().take(seq).enumerate() {
            values[r * seq + c] = label;
        }
    }
    Tensor::from_data(TensorData::new(values, [labels.len(), seq]), device)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_from_config_or_sorted_from_training() {
        let set = LabelSet::collect(["neg", "pos", "neg", "mixed"]);
        assert_eq!(set.names(), ["mixed", "neg", "pos"]);
        assert_eq!(set.id("pos"), Ok(2));
        let err = set.id("neutral").unwrap_err();
        assert!(
            err.to_string().contains("`neutral`") && err.to_string().contains("mixed, neg, pos")
        );
        assert_eq!(
            LabelSet::collect(["10", "2", "1"]).names(),
            ["1", "2", "10"]
        );
        assert_eq!(LabelSet::from_names(&["b", "a", "b"]).names(), ["b", "a"]);
    }

    #[test]
    fn plans_are_deterministic_cover_every_row_and_change_with_the_epoch() {
        let lengths: Vec<usize> = (0..1000).map(|i| (i * 37) % 120 + 3).collect();
        let plan = BatchPlan {
            batch_size: 32,
            shuffle_seed: Some(42),
            group_by_length: false,
        };
        let a = plan.batches(&lengths, 0);
        assert_eq!(a, plan.batches(&lengths, 0));
        assert_ne!(a, plan.batches(&lengths, 1));
        let mut all: Vec<usize> = a.concat();
        all.sort();
        assert_eq!(all, (0..1000).collect::<Vec<_>>());
        assert_eq!(a.len(), 32);
        let in_order = BatchPlan {
            shuffle_seed: None,
            ..plan
        }
        .batches(&lengths, 5);
        assert_eq!(in_order[0], (0..32).collect::<Vec<_>>());
    }

    #[test]
    fn grouping_by_length_reduces_padding() {
        let lengths: Vec<usize> = (0..2000).map(|i| (i * 7919) % 500 + 1).collect();
        let padded = |plan: BatchPlan| -> usize {
            plan.batches(&lengths, 0)
                .iter()
                .map(|b| b.iter().map(|&i| lengths[i]).max().unwrap() * b.len())
                .sum()
        };
        let plain = BatchPlan {
            batch_size: 16,
            shuffle_seed: Some(1),
            group_by_length: false,
        };
        let grouped = BatchPlan {
            group_by_length: true,
            ..plain
        };
        // At least a third less padding (here about 46% less).
        assert!(
            padded(grouped) * 3 < padded(plain) * 2,
            "{} vs {}",
            padded(grouped),
            padded(plain)
        );
        let mut all = grouped.batches(&lengths, 0).concat();
        all.sort();
        assert_eq!(all.len(), 2000);
    }

    #[test]
    fn rows_and_token_labels_are_padded() {
        let device = bert_model::parse_device("cpu").unwrap();
        let a = Row {
            ids: vec![2, 7, 3],
            type_ids: vec![0, 0, 0],
        };
        let b = Row {
            ids: vec![2, 3],
            type_ids: vec![0, 0],
        };
        let input = input_batch(&[&a, &b], 0, &device);
        assert_eq!(input.dims(), [2, 3]);
        let ids = input
            .input_ids
            .into_data()
            .convert::<i64>()
            .try_to_vec::<i64>()
            .unwrap();
        assert_eq!(ids, vec![2, 7, 3, 2, 3, 0]);
        let labels = token_label_batch(&[&[-100, 4, -100], &[-100, -100]], 3, &device);
        let values = labels
            .into_data()
            .convert::<i64>()
            .try_to_vec::<i64>()
            .unwrap();
        assert_eq!(values, vec![-100, 4, -100, -100, -100, -100]);
    }
}
