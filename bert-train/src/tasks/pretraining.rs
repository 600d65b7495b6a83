//! `pretraining`: BERT's own objective, masked LM + next-sentence prediction,
//! `BertForPreTraining` (from a checkpoint, or from scratch with `[model] config`).
//!
//! Text (`format = "text"`): documents separated by blank lines, one sentence (or line) per
//! line. Instances are made once per split the way the BERT paper's data creation makes them:
//! for each document, sentences are gathered until a target length (`max_seq_length` - 3
//! tokens, or with probability `short_seq_prob` a random shorter one) is reached; a random
//! number of them form segment A; with probability 1/2 (or when there is a single sentence)
//! segment B comes from a random place of another document (label 1, and the unused sentences
//! are taken up again), else it is the rest of the gathered sentences (label 0, "is next");
//! the pair is cut to fit, one token at a time from the longer segment, at its front or back at
//! random. Instances are drawn from the run's seed. Masking is that of `masked-lm`, drawn per
//! step. Metrics: `mlm_loss`, `nsp_loss` (means over predicted tokens and over pairs),
//! `mlm_accuracy`, `nsp_accuracy`.

use std::path::Path;

use bert_data::batch::LabelSet;
use bert_data::readers::{read_documents, BadRow, Format, TextDocument};
use bert_data::{BertTokenizer, Encoding};
use bert_model::burn::prelude::{Device, Int, Tensor, TensorData};
use bert_model::burn::tensor::activation::log_softmax;
use bert_model::rng::SplitMix64;
use bert_model::{
    host_values, BertConfig, BertForPreTraining, BertInput, LabelledLogits, OutputOptions,
};

use super::masked_lm::{int_values, mlm_probability_problems, padded_labels, Masking};
use crate::corpus::Tokens;
use super::inference::{fields, host, rows_of, Fields, Inference};
use super::{load_splits, row_rng, LoadContext, Predict, Task, TaskData};
use crate::config::Validate;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use crate::metrics::Metrics;
use crate::TrainError;
use serde_json::json;

/// The keys of `pretraining`: all in `[data]`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default)]
pub struct Config {
    /// Its keys of `[data]`.
    pub data: Pretraining,
}

impl Validate for Config {
    fn problems(&self) -> Vec<String> {
        let mut problems = mlm_probability_problems(self.data.mlm_probability);
        let p = self.data.short_seq_prob;
        if !(0.0..=1.0).contains(&p) {
            problems.push(format!("`data.short_seq_prob`: {p} is outside [0, 1]"));
        }
        problems
    }
}

/// The task and its options, which are its `[data]` keys.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default)]
pub struct Pretraining {
    /// Share of tokens to predict, in (0, 1).
    pub mlm_probability: f64,
    /// Mask whole words rather than single word pieces.
    pub whole_word_mask: bool,
    /// Share of instances with a random target length shorter than the maximum.
    pub short_seq_prob: f64,
}

impl Default for Pretraining {
    fn default() -> Self {
        Pretraining {
            mlm_probability: 0.15,
            whole_word_mask: false,
            short_seq_prob: 0.1,
        }
    }
}

/// One segment pair, before masking.
#[derive(Debug, Clone, PartialEq)]
pub struct Instance {
    /// `[CLS] A [SEP] B [SEP]`.
    pub block: Tokens,
    /// `[MASK]`'s id.
    pub mask_id: u32,
    /// The vocabulary size (random replacements are drawn below it).
    pub vocab_size: u32,
    /// 0 for `[CLS] A [SEP]`, 1 for `B [SEP]`.
    pub type_ids: Vec<u32>,
    /// 0: B follows A; 1: B is from another document.
    pub next: i64,
}

/// Masked rows, their labels and the NSP labels.
#[derive(Debug, Clone)]
pub struct HostBatch {
    rows: Vec<(Vec<u32>, Vec<u32>)>,
    labels: Vec<Vec<i64>>,
    next: Vec<i64>,
}

/// A padded batch on a device.
#[derive(Debug, Clone)]
pub struct Batch {
    /// Model inputs `[pairs, seq]`.
    pub input: BertInput,
    /// MLM labels `[pairs, seq]` (-100 where nothing is predicted).
    pub labels: Tensor<2, Int>,
    /// NSP labels `[pairs]`.
    pub next: Tensor<1, Int>,
}

/// What evaluation keeps of one pair.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Output {
    /// Sum of the cross-entropies at the predicted tokens.
    pub mlm_loss: f64,
    /// Predicted tokens.
    pub mlm_tokens: usize,
    /// Of which right.
    pub mlm_correct: usize,
    /// The NSP cross-entropy.
    pub nsp_loss: f64,
    /// Whether the NSP prediction is right.
    pub nsp_correct: bool,
}

impl Task for Pretraining {
    const NAME: &'static str = "pretraining";
    const FORMATS: &'static [Format] = &[Format::Text];
    type Model = BertForPreTraining;
    type Config = Config;
    type Feature = Instance;
    type HostBatch = HostBatch;
    type Batch = Batch;
    type Output = Output;

    fn new(config: &Config) -> Self {
        config.data.clone()
    }

    fn metric_names(&self) -> &'static [&'static str] {
        &["mlm_loss", "nsp_loss", "mlm_accuracy", "nsp_accuracy"]
    }

    fn load(&self, context: &LoadContext) -> Result<TaskData<Instance>, TrainError> {
        let read = |path: &Path, limit: Option<usize>| {
            let mut documents = read_documents(path, false)?;
            documents.truncate(limit.unwrap_or(usize::MAX));
            Ok((documents, Vec::<BadRow>::new()))
        };
        let featurize = |documents: Vec<TextDocument>, _: Option<&LabelSet>, split, _: &Path| {
            let seed = context.config.training.data_seed() ^ split_salt(split);
            Ok(self.instances(context, &documents, &mut SplitMix64(seed)))
        };
        load_splits(context, &read, None, None, &featurize)
    }

    fn model_config(&self, config: BertConfig, _labels: Option<&LabelSet>) -> BertConfig {
        config
    }

    fn length(feature: &Instance) -> usize {
        feature.block.ids.len()
    }

    fn gather(&self, features: &[Instance], indices: &[usize], rng: &mut SplitMix64) -> HostBatch {
        let mut batch = HostBatch {
            rows: Vec::with_capacity(indices.len()),
            labels: Vec::with_capacity(indices.len()),
            next: Vec::with_capacity(indices.len()),
        };
        for &i in indices {
            let instance = &features[i];
            let mut rng = row_rng(rng, i);
            let masking = Masking {
                probability: self.mlm_probability,
                whole_word: self.whole_word_mask,
                mask_id: instance.mask_id,
                vocab_size: instance.vocab_size,
            };
            let (ids, labels) = masking.apply(instance.block.row(), &mut rng);
            batch.rows.push((ids, instance.type_ids.clone()));
            batch.labels.push(labels);
            batch.next.push(instance.next);
        }
        batch
    }

    /// The rows. The loss is the masked tokens' mean plus the pairs' mean, so a step split
    /// across ranks (or accumulated passes) weighs each batch's MLM term by its rows rather than
    /// by its masked tokens: close to one process's step, not equal to it.
    fn loss_count(&self, _host: &HostBatch, rows: usize) -> usize {
        rows
    }

    fn to_device(&self, host: &HostBatch, pad_id: u32, device: &Device) -> Batch {
        let input = BertInput::from_rows(&host.rows, pad_id, device);
        let n = host.next.len();
        Batch {
            labels: padded_labels(&host.labels, input.input_ids.dims(), device),
            next: Tensor::from_data(TensorData::new(host.next.clone(), [n]), device),
            input,
        }
    }

    fn forward(
        &self,
        model: &BertForPreTraining,
        batch: &Batch,
        with_outputs: bool,
    ) -> (Tensor<1>, Vec<Output>) {
        let labels = (batch.labels.clone(), batch.next.clone());
        let options = OutputOptions::skipping_padding();
        let out = model.forward_labelled(&batch.input, labels, options);
        if !with_outputs {
            return (out.loss, Vec::new());
        }
        let loss = out.loss;
        (loss, outputs(out.lm, out.seq_relationship_logits, batch))
    }

    fn metrics(&self, _: &[Instance], outputs: Vec<Output>, _: Option<&LabelSet>) -> Metrics {
        let tokens: usize = outputs.iter().map(|o| o.mlm_tokens).sum();
        let pairs = outputs.len().max(1) as f64;
        let mut out = Metrics::new();
        let mlm_loss: f64 = outputs.iter().map(|o| o.mlm_loss).sum();
        out.insert("mlm_loss".into(), mlm_loss / tokens.max(1) as f64);
        let correct: usize = outputs.iter().map(|o| o.mlm_correct).sum();
        out.insert("mlm_accuracy".into(), correct as f64 / tokens.max(1) as f64);
        let nsp_loss: f64 = outputs.iter().map(|o| o.nsp_loss).sum();
        out.insert("nsp_loss".into(), nsp_loss / pairs);
        let right = outputs.iter().filter(|o| o.nsp_correct).count();
        out.insert("nsp_accuracy".into(), right as f64 / pairs);
        out
    }

}

impl Predict for Pretraining {
    type Input = Encoding;

    fn read_input(&self, fields: &Fields, inference: &Inference) -> Result<Encoding, String> {
        inference.text_input(fields)
    }

    fn infer(&self, model: &BertForPreTraining, inputs: &[Encoding], inference: &Inference) -> Vec<Fields> {
        let out = model.forward(&inference.input(inputs), None, OutputOptions::skipping_padding());
        let (mlm, [_, seq, vocab]) = host(out.prediction_logits);
        let nsp = host_values(out.seq_relationship_logits);
        inputs
            .iter()
            .enumerate()
            .map(|(r, enc)| {
                let row = &mlm[r * seq * vocab..(r + 1) * seq * vocab];
                fields(json!({
                    "mlm_logits": rows_of(row, enc.len(), vocab),
                    "nsp_logits": nsp[r * 2..r * 2 + 2],
                }))
            })
            .collect()
    }
}

/// Per-pair losses and hits from the two heads' logits.
fn outputs(lm: LabelledLogits, nsp_logits: Tensor<2>, batch: &Batch) -> Vec<Output> {
    let labelled = lm.positions.len();
    let vocab = lm.logits.dims()[1];
    let predicted = int_values(lm.logits.clone().argmax(1).reshape([labelled]));
    let safe = lm.labels.clone().clamp(0, vocab as i64 - 1).reshape([labelled, 1]);
    let picked = log_softmax(lm.logits, 1).gather(1, safe).reshape([labelled]);
    let picked = bert_model::host_values(picked);
    let labels = int_values(lm.labels);
    let nsp_log = bert_model::host_values(log_softmax(nsp_logits, 1));
    let next = int_values(batch.next.clone());
    let mut outputs: Vec<Output> = (0..next.len())
        .map(|r| Output {
            mlm_loss: 0.0,
            mlm_tokens: 0,
            mlm_correct: 0,
            nsp_loss: -f64::from(nsp_log[r * 2 + next[r] as usize]),
            nsp_correct: (nsp_log[r * 2 + 1] > nsp_log[r * 2]) == (next[r] == 1),
        })
        .collect();
    for (i, &(row, _)) in lm.positions.iter().enumerate() {
        if labels[i] >= 0 {
            let o = &mut outputs[row];
            o.mlm_loss -= f64::from(picked[i]);
            o.mlm_tokens += 1;
            o.mlm_correct += usize::from(predicted[i] == labels[i]);
        }
    }
    outputs
}

/// Keeps the instances of the splits apart while one seed makes them all.
fn split_salt(split: &str) -> u64 {
    match split {
        "train" => 0x7241_1E,
        "validation" => 0x7A11_DA7E,
        _ => 0x7E57,
    }
}

/// The tokens of one sentence and where its words start.
type Sentence = (Vec<u32>, Vec<bool>);

impl Pretraining {
    fn instances(
        &self,
        context: &LoadContext,
        documents: &[TextDocument],
        rng: &mut SplitMix64,
    ) -> Vec<Instance> {
        let tokenizer = context.tokenizer;
        let documents: Vec<Vec<Sentence>> = documents
            .iter()
            .map(|d| d.lines.iter().map(|l| sentence(tokenizer, l)).collect())
            .map(|d: Vec<Sentence>| d.into_iter().filter(|s| !s.0.is_empty()).collect())
            .collect();
        let max_tokens = context.config.data.max_seq_length.saturating_sub(3).max(2);
        let mut out = Vec::new();
        for d in 0..documents.len() {
            out.extend(self.document_instances(&documents, d, max_tokens, tokenizer, rng));
        }
        out
    }

    /// The instances of document `d`.
    fn document_instances(
        &self,
        documents: &[Vec<Sentence>],
        d: usize,
        max_tokens: usize,
        tokenizer: &BertTokenizer,
        rng: &mut SplitMix64,
    ) -> Vec<Instance> {
        let document = &documents[d];
        let target = match rng.uniform() < self.short_seq_prob {
            true => between(rng, 2, max_tokens),
            false => max_tokens,
        };
        let mut out = Vec::new();
        let (mut chunk, mut length, mut i) = (Vec::new(), 0, 0);
        while i < document.len() {
            chunk.push(i);
            length += document[i].0.len();
            if i + 1 == document.len() || length >= target {
                let a_end = if chunk.len() >= 2 { between(rng, 1, chunk.len() - 1) } else { 1 };
                let a = concat(document, &chunk[..a_end]);
                let (b, next) = if chunk.len() == 1 || rng.uniform() < 0.5 {
                    let b = random_segment(documents, d, target.saturating_sub(a.0.len()), rng);
                    i -= chunk.len() - a_end;
                    (b, 1)
                } else {
                    (concat(document, &chunk[a_end..]), 0)
                };
                if let Some(instance) = pair(a, b, next, max_tokens, tokenizer, rng) {
                    out.push(instance);
                }
                chunk.clear();
                length = 0;
            }
            i += 1;
        }
        out
    }
}

/// Sentences from a random place of a document other than `d` (of `d` itself when it is the
/// only one), until `target` tokens.
fn random_segment(
    documents: &[Vec<Sentence>],
    d: usize,
    target: usize,
    rng: &mut SplitMix64,
) -> Sentence {
    let mut other = d;
    for _ in 0..10 {
        other = between(rng, 0, documents.len() - 1);
        if other != d && !documents[other].is_empty() {
            break;
        }
    }
    let sentences = &documents[other];
    if sentences.is_empty() {
        return (Vec::new(), Vec::new());
    }
    let start = between(rng, 0, sentences.len() - 1);
    let mut out: Sentence = (Vec::new(), Vec::new());
    for s in &sentences[start..] {
        out.0.extend(&s.0);
        out.1.extend(&s.1);
        if out.0.len() >= target {
            break;
        }
    }
    out
}

/// The instance `[CLS] a [SEP] b [SEP]`, the pair first cut to `max_tokens`; none when a
/// segment is empty.
fn pair(
    mut a: Sentence,
    mut b: Sentence,
    next: i64,
    max_tokens: usize,
    tokenizer: &BertTokenizer,
    rng: &mut SplitMix64,
) -> Option<Instance> {
    while a.0.len() + b.0.len() > max_tokens {
        let longer = if a.0.len() > b.0.len() { &mut a } else { &mut b };
        if rng.uniform() < 0.5 {
            longer.0.remove(0);
            longer.1.remove(0);
        } else {
            longer.0.pop();
            longer.1.pop();
        }
    }
    if a.0.is_empty() || b.0.is_empty() {
        return None;
    }
    let special = tokenizer.special_ids();
    let (na, nb) = (a.0.len(), b.0.len());
    let mut ids = vec![special.cls];
    ids.extend(&a.0);
    ids.push(special.sep);
    ids.extend(&b.0);
    ids.push(special.sep);
    let mut flags = vec![1u8];
    flags.extend(std::iter::repeat_n(0u8, na));
    flags.push(1);
    flags.extend(std::iter::repeat_n(0u8, nb));
    flags.push(1);
    let mut word_start = vec![1u8];
    word_start.extend(a.1.iter().map(|&w| u8::from(w)));
    word_start.push(1);
    word_start.extend(b.1.iter().map(|&w| u8::from(w)));
    word_start.push(1);
    let mut type_ids = vec![0u32; na + 2];
    type_ids.extend(std::iter::repeat_n(1u32, nb + 1));
    Some(Instance {
        block: Tokens {
            ids,
            special: flags,
            word_start,
        },
        mask_id: special.mask,
        vocab_size: tokenizer.vocab_size() as u32,
        type_ids,
        next,
    })
}

fn sentence(tokenizer: &BertTokenizer, text: &str) -> Sentence {
    let t = tokenizer.tokenize_with_offsets(text);
    let starts = (0..t.ids.len())
        .map(|i| i == 0 || t.word_ids[i] != t.word_ids[i - 1])
        .collect();
    (t.ids, starts)
}

fn concat(document: &[Sentence], indices: &[usize]) -> Sentence {
    let mut out: Sentence = (Vec::new(), Vec::new());
    for &i in indices {
        out.0.extend(&document[i].0);
        out.1.extend(&document[i].1);
    }
    out
}

/// A uniform integer in `[low, high]`.
fn between(rng: &mut SplitMix64, low: usize, high: usize) -> usize {
    low + (rng.next_u64() % (high.saturating_sub(low) as u64 + 1)) as usize
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tasks::testing::{model, tiny};
    use crate::tasks::evaluate;

    /// Eight documents of four sentences.
    fn text() -> String {
        let sentences = ["the cat sat on the mat .", "john lives in paris .", "a big red dog ran .",
            "the dog sat , the cat ran ."];
        (0..8)
            .map(|d| {
                (0..4)
                    .map(|s| sentences[(d + s) % 4].to_string())
                    .collect::<Vec<_>>()
                    .join("\n")
            })
            .collect::<Vec<_>>()
            .join("\n\n")
    }

    #[test]
    fn instances_pair_segments_half_of_them_random_and_fit_the_length() {
        let run = tiny(
            "task = \"pretraining\"",
            "format = \"text\"\nshort_seq_prob = 0.2\n",
            &[("train.txt", &text())],
        );
        let task = Pretraining::from_task_config(&run.config.task).unwrap();
        let instances = task.load(&run.context()).unwrap().train.features;
        assert!(instances.len() >= 16, "{}", instances.len());
        for instance in &instances {
            let ids = &instance.block.ids;
            assert!(ids.len() <= 16 && ids.len() >= 5);
            let seps = instance.block.special.iter().filter(|&&s| s == 1).count();
            assert_eq!(seps, 3, "[CLS] and two [SEP]");
            assert_eq!(instance.type_ids.len(), ids.len());
            assert_eq!(*instance.type_ids.last().unwrap(), 1);
        }
        let random = instances.iter().filter(|i| i.next == 1).count() as f64;
        let share = random / instances.len() as f64;
        assert!((0.25..=0.85).contains(&share), "{share}");
        // The same seed makes the same instances.
        let again = task.load(&run.context()).unwrap().train.features;
        assert_eq!(instances, again);

        let model = model(&task, &run, None);
        let device = Device::default();
        let scores = evaluate(&task, &model, &instances, 4, 0, None, &device);
        for key in ["loss", "mlm_loss", "nsp_loss", "mlm_accuracy", "nsp_accuracy"] {
            assert!(scores[key].is_finite(), "{key}: {scores:?}");
        }
        // Untrained: the MLM loss is about ln(vocabulary), the NSP loss about ln 2.
        assert!((scores["nsp_loss"] - 2f64.ln()).abs() < 0.2, "{scores:?}");
    }
}
