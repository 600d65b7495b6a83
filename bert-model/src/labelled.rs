//! The masked-LM head at the labelled positions only. The loss of masked-LM training counts
//! only the ~15% of positions that carry a label, yet transformers' head computes vocabulary
//! logits for every position: for all-MiniLM-L6-v2 the decoder (`hidden x 30522`) costs about as
//! much as the six encoder layers together. Training and evaluation need the labelled rows only;
//! the loss and its gradients are the same.

use burn::prelude::{Int, Tensor, TensorData};

use crate::heads::{BertForMaskedLM, BertForPreTraining, BertLmPredictionHead};
use crate::loss::cross_entropy;
use crate::model::{BertInput, BertOutput, OutputOptions};

/// Masked-LM logits at the labelled positions.
#[derive(Debug, Clone)]
pub struct LabelledLogits {
    /// `[labelled, vocab]`, one row per position whose label is not -100.
    pub logits: Tensor<2>,
    /// The labels of those rows, `[labelled]`.
    pub labels: Tensor<1, Int>,
    /// Where each row comes from: `(row of the batch, position in the row)`.
    pub positions: Vec<(usize, usize)>,
    /// Mean cross-entropy over the labelled rows (transformers' masked-LM loss).
    pub loss: Tensor<1>,
}

/// [`BertForMaskedLM::forward_labelled`]'s output.
#[derive(Debug, Clone)]
pub struct MaskedLmRows {
    /// The head at the labelled positions.
    pub lm: LabelledLogits,
    /// The encoder's output.
    pub encoder: BertOutput,
}

/// [`BertForPreTraining::forward_labelled`]'s output.
#[derive(Debug, Clone)]
pub struct PreTrainingRows {
    /// The masked-LM head at the labelled positions.
    pub lm: LabelledLogits,
    /// NSP logits `[batch, 2]`.
    pub seq_relationship_logits: Tensor<2>,
    /// Masked-LM loss + NSP loss.
    pub loss: Tensor<1>,
    /// The encoder's output.
    pub encoder: BertOutput,
}

impl BertForMaskedLM {
    /// Like [`BertForMaskedLM::forward`] with labels, but the vocabulary logits only where
    /// `labels` `[batch, seq]` is not -100. The loss equals `forward`'s.
    pub fn forward_labelled(
        &self,
        input: &BertInput,
        labels: Tensor<2, Int>,
        options: OutputOptions,
    ) -> MaskedLmRows {
        let encoder = self.bert.forward(input, options);
        let words = self.bert.embeddings.word_embeddings.weight.val();
        let lm = labelled(&self.cls, encoder.last_hidden_state.clone(), words, labels);
        MaskedLmRows { lm, encoder }
    }
}

impl BertForPreTraining {
    /// Like [`BertForPreTraining::forward`] with labels, but the vocabulary logits only where
    /// the MLM labels are not -100. The loss equals `forward`'s.
    pub fn forward_labelled(
        &self,
        input: &BertInput,
        (mlm, next): (Tensor<2, Int>, Tensor<1, Int>),
        options: OutputOptions,
    ) -> PreTrainingRows {
        let encoder = self.bert.forward(input, options);
        let words = self.bert.embeddings.word_embeddings.weight.val();
        let lm = labelled(
            &self.predictions,
            encoder.last_hidden_state.clone(),
            words,
            mlm,
        );
        let pooled = encoder
            .pooler_output
            .clone()
            .expect("pretraining model has a pooler");
        let seq_relationship_logits = self.seq_relationship.forward(pooled);
        let loss =
            lm.loss.clone() + cross_entropy(seq_relationship_logits.clone(), next, -100, None);
        PreTrainingRows {
            lm,
            seq_relationship_logits,
            loss,
            encoder,
        }
    }
}

/// The head over the rows of `hidden` `[batch, seq, h]` whose label is not -100. Labels that
/// cannot be read, or a batch without any label, take every position (the loss is then NaN,
/// as transformers' is).
fn labelled(
    head: &BertLmPredictionHead,
    hidden: Tensor<3>,
    words: Tensor<2>,
    labels: Tensor<2, Int>,
) -> LabelledLogits {
    let [batch, seq, h] = hidden.dims();
    let flat_labels = labels.reshape([batch * seq]);
    let values = flat_labels
        .clone()
        .into_data()
        .convert::<i64>()
        .try_to_vec::<i64>()
        .unwrap_or_default();
    let mut rows: Vec<usize> = (0..values.len()).filter(|&i| values[i] != -100).collect();
    if rows.is_empty() {
        rows = (0..batch * seq).collect();
    }
    let index: Vec<i64> = rows.iter().map(|&i| i as i64).collect();
    let device = flat_labels.device();
    let index = Tensor::<1, Int>::from_data(TensorData::new(index, [rows.len()]), &device);
    let picked = hidden.reshape([batch * seq, h]).select(0, index.clone());
    let logits = head.rows(picked, words);
    let labels = flat_labels.select(0, index);
    let loss = cross_entropy(logits.clone(), labels.clone(), -100, None);
    LabelledLogits {
        logits,
        labels,
        positions: rows.iter().map(|&i| (i / seq, i % seq)).collect(),
        loss,
    }
}
