//! `masked-lm`: masked language modelling on raw text (domain adaptation before fine-tuning),
//! `BertForMaskedLM`, as transformers' run_mlm.py trains it.
//!
//! Text (`format = "text"`): documents separated by blank lines, each encoded as
//! `[CLS] text [SEP]`, all of them concatenated and cut into blocks of `max_seq_length` tokens
//! (the remainder dropped, unless it is the only block); with `line_by_line = true` each
//! non-blank line is one row, cut to `max_seq_length`. Masking happens when a batch is
//! gathered, from the batch's generator (seeded by the step: a resumed run masks what an
//! uninterrupted one did; evaluation draws from a fixed stream): each token other than
//! `[CLS]`/`[SEP]` is chosen with probability `mlm_probability` (with `whole_word_mask`, whole
//! words are chosen until that share of the block's tokens is reached); a chosen token becomes
//! `[MASK]` 80% of the time, a random token of the vocabulary 10%, and stays 10%, and only
//! chosen tokens are predicted. Metrics: `perplexity` = exp(loss) and the `accuracy` of the
//! predictions at the chosen tokens.

use std::path::Path;

use bert_data::batch::LabelSet;
use bert_data::readers::{read_documents, BadRow, Format, TextDocument};
use bert_data::{Encoding, Truncation, TruncationStrategy};
use bert_model::burn::prelude::{Device, Int, Tensor, TensorData};
use bert_model::rng::SplitMix64;
use bert_model::{BertConfig, BertForMaskedLM, BertInput, OutputOptions};

use super::inference::{fields, host, rows_of, softmax, top_k, Fields, Inference};
use super::{load_splits, row_rng, LoadContext, Predict, Task, TaskData};
use crate::config::Validate;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use crate::metrics::Metrics;
use crate::TrainError;
use serde_json::json;

/// The keys of `masked-lm`: all in `[data]`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default)]
pub struct Config {
    /// Its keys of `[data]`.
    pub data: MaskedLm,
}

impl Validate for Config {
    fn problems(&self) -> Vec<String> {
        mlm_probability_problems(self.data.mlm_probability)
    }
}

/// The task and its options, which are its `[data]` keys.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default)]
pub struct MaskedLm {
    /// One row per non-blank line, instead of documents packed into full blocks.
    pub line_by_line: bool,
    /// Share of tokens to predict, in (0, 1).
    pub mlm_probability: f64,
    /// Mask whole words rather than single word pieces.
    pub whole_word_mask: bool,
}

impl Default for MaskedLm {
    fn default() -> Self {
        MaskedLm {
            line_by_line: false,
            mlm_probability: 0.15,
            whole_word_mask: false,
        }
    }
}

/// One block (or line) of tokens, before masking.
#[derive(Debug, Clone, PartialEq)]
pub struct Block {
    /// Token ids.
    pub ids: Vec<u32>,
    /// Tokens that are never chosen: `[CLS]` and `[SEP]`.
    pub special: Vec<bool>,
    /// Tokens that start a word (word pieces after the first continue it).
    pub word_start: Vec<bool>,
    /// `[MASK]`'s id.
    pub mask_id: u32,
    /// The vocabulary size (random replacements are drawn below it).
    pub vocab_size: u32,
}

/// Masked rows and their labels (-100 where nothing is predicted).
#[derive(Debug, Clone)]
pub struct HostBatch {
    rows: Vec<(Vec<u32>, Vec<u32>)>,
    labels: Vec<Vec<i64>>,
}

/// A padded batch on a device.
#[derive(Debug, Clone)]
pub struct Batch {
    /// Model inputs `[rows, seq]` (with the masks applied).
    pub input: BertInput,
    /// The original token where one is predicted, else -100 `[rows, seq]`.
    pub labels: Tensor<2, Int>,
}

impl Task for MaskedLm {
    const NAME: &'static str = "masked-lm";
    const FORMATS: &'static [Format] = &[Format::Text];
    type Model = BertForMaskedLM;
    type Config = Config;
    type Feature = Block;
    type HostBatch = HostBatch;
    type Batch = Batch;
    /// Correct predictions and predicted tokens of a block.
    type Output = (usize, usize);

    fn new(config: &Config) -> Self {
        config.data.clone()
    }

    fn metric_names(&self) -> &'static [&'static str] {
        &["perplexity", "accuracy"]
    }

    fn load(&self, context: &LoadContext) -> Result<TaskData<Block>, TrainError> {
        let read = |path: &Path, limit: Option<usize>| {
            let mut documents = read_documents(path, self.line_by_line)?;
            documents.truncate(limit.unwrap_or(usize::MAX));
            Ok((documents, Vec::<BadRow>::new()))
        };
        let featurize = |documents: Vec<TextDocument>, _: Option<&LabelSet>, _, path: &Path| {
            self.blocks(context, documents, path)
        };
        load_splits(context, &read, None, None, &featurize)
    }

    fn model_config(&self, config: BertConfig, _labels: Option<&LabelSet>) -> BertConfig {
        config
    }

    fn length(feature: &Block) -> usize {
        feature.ids.len()
    }

    fn gather(&self, features: &[Block], indices: &[usize], rng: &mut SplitMix64) -> HostBatch {
        let mut rows = Vec::with_capacity(indices.len());
        let mut labels = Vec::with_capacity(indices.len());
        for &i in indices {
            let mut rng = row_rng(rng, i);
            let (ids, row_labels) =
                mask_block(&features[i], self.mlm_probability, self.whole_word_mask, &mut rng);
            rows.push((ids, vec![0; features[i].ids.len()]));
            labels.push(row_labels);
        }
        HostBatch { rows, labels }
    }

    /// The masked tokens.
    fn loss_count(&self, host: &HostBatch, _rows: usize) -> usize {
        host.labels.iter().flatten().filter(|&&l| l >= 0).count()
    }

    fn to_device(&self, host: &HostBatch, pad_id: u32, device: &Device) -> Batch {
        let input = BertInput::from_rows(&host.rows, pad_id, device);
        let labels = padded_labels(&host.labels, input.input_ids.dims(), device);
        Batch { input, labels }
    }

    fn forward(
        &self,
        model: &BertForMaskedLM,
        batch: &Batch,
        with_outputs: bool,
    ) -> (Tensor<1>, Vec<(usize, usize)>) {
        let options = OutputOptions::skipping_padding();
        let lm = model
            .forward_labelled(&batch.input, batch.labels.clone(), options)
            .lm;
        if !with_outputs {
            return (lm.loss, Vec::new());
        }
        let n = batch.input.dims()[0];
        let labelled = lm.positions.len();
        let predicted = int_values(lm.logits.argmax(1).reshape([labelled]));
        let labels = int_values(lm.labels);
        let mut outputs = vec![(0, 0); n];
        for (i, &(row, _)) in lm.positions.iter().enumerate() {
            if labels[i] >= 0 {
                outputs[row].0 += usize::from(predicted[i] == labels[i]);
                outputs[row].1 += 1;
            }
        }
        (lm.loss, outputs)
    }

    fn metrics(&self, _: &[Block], outputs: Vec<(usize, usize)>, _: Option<&LabelSet>) -> Metrics {
        let (correct, total) = outputs
            .iter()
            .fold((0, 0), |(c, t), (oc, ot)| (c + oc, t + ot));
        let mut out = Metrics::new();
        out.insert("accuracy".into(), correct as f64 / total.max(1) as f64);
        out
    }

    fn loss_metrics(&self, loss: f64, metrics: &mut Metrics) {
        metrics.insert("perplexity".into(), loss.exp());
    }

}

impl Predict for MaskedLm {
    const ALIASES: &'static [&'static str] = &["fill-mask"];
    type Input = Encoding;

    fn read_input(&self, fields: &Fields, inference: &Inference) -> Result<Encoding, String> {
        inference.text_input(fields)
    }

    fn infer(&self, model: &BertForMaskedLM, inputs: &[Encoding], inference: &Inference) -> Vec<Fields> {
        let out = model.forward(&inference.input(inputs), None, OutputOptions::skipping_padding());
        let (logits, [_, seq, vocab]) = host(out.logits);
        inputs
            .iter()
            .enumerate()
            .map(|(r, enc)| {
                let row = &logits[r * seq * vocab..(r + 1) * seq * vocab];
                fill_mask_fields(enc, row, vocab, inference)
            })
            .collect()
    }
}

impl MaskedLm {
    /// The blocks of a split: packed documents, or one per line.
    fn blocks(
        &self,
        context: &LoadContext,
        documents: Vec<TextDocument>,
        path: &Path,
    ) -> Result<Vec<Block>, TrainError> {
        let max_len = context.config.data.max_seq_length;
        let tokenizer = context.tokenizer;
        let special = tokenizer.special_ids();
        let template = Block {
            ids: Vec::new(),
            special: Vec::new(),
            word_start: Vec::new(),
            mask_id: special.mask,
            vocab_size: tokenizer.vocab_size() as u32,
        };
        let truncation = self.line_by_line.then_some(Truncation {
            max_length: max_len,
            strategy: TruncationStrategy::LongestFirst,
        });
        let mut encoded = Vec::with_capacity(documents.len());
        for document in &documents {
            let encoding = tokenizer
                .encode(&document.text, None, truncation)
                .map_err(|e| TrainError::Row {
                    path: path.to_path_buf(),
                    line: document.line,
                    message: e.to_string(),
                })?;
            encoded.push(block_of(encoding, &template));
        }
        Ok(match self.line_by_line {
            true => encoded,
            false => pack(encoded, max_len, &template),
        })
    }
}

/// What `predict` writes for one text: the five likeliest tokens at each `[MASK]`, and with
/// `--raw` the logits of every position.
fn fill_mask_fields(enc: &Encoding, logits: &[f32], vocab: usize, inference: &Inference) -> Fields {
    let mask_id = inference.tokenizer.special_ids().mask;
    let mut predictions = Vec::new();
    for (pos, _) in enc.ids.iter().enumerate().filter(|(_, &id)| id == mask_id) {
        let probs = softmax(&logits[pos * vocab..(pos + 1) * vocab]);
        let top: Vec<_> = top_k(&probs, 5)
            .into_iter()
            .map(|(i, p)| {
                json!({"token": inference.tokenizer.id_to_token(i as u32), "id": i, "score": p})
            })
            .collect();
        predictions.push(json!({"position": pos, "tokens": top}));
    }
    let mut out = json!({"predictions": predictions});
    if inference.raw {
        out["logits"] = json!(rows_of(logits, enc.len(), vocab));
    }
    fields(out)
}

/// The problem with `data.mlm_probability`, which must be in (0, 1).
pub fn mlm_probability_problems(p: f64) -> Vec<String> {
    if p > 0.0 && p < 1.0 {
        return vec![];
    }
    vec![format!("`data.mlm_probability`: {p} must be in (0, 1)")]
}

/// Labels of rows padded with -100 to `[rows, seq]`.
pub fn padded_labels(rows: &[Vec<i64>], [n, seq]: [usize; 2], device: &Device) -> Tensor<2, Int> {
    let mut labels = vec![-100i64; n * seq];
    for (r, row) in rows.iter().enumerate() {
        labels[r * seq..r * seq + row.len()].copy_from_slice(row);
    }
    Tensor::from_data(TensorData::new(labels, [n, seq]), device)
}

/// Chooses the tokens of `block` to predict (never `[CLS]`/`[SEP]`): each with probability
/// `probability`, or whole words up to that share with `whole_word`; a chosen token becomes
/// `[MASK]` 80% of the time, a random token 10%, stays 10%. Returns the ids and the labels
/// (the original token where chosen, else -100).
pub fn mask_block(
    block: &Block,
    probability: f64,
    whole_word: bool,
    rng: &mut SplitMix64,
) -> (Vec<u32>, Vec<i64>) {
    let chosen: Vec<bool> = match whole_word {
        true => whole_words(block, probability, rng),
        false => block
            .special
            .iter()
            .map(|&s| {
                let draw = rng.uniform() <= probability;
                !s && draw
            })
            .collect(),
    };
    let mut ids = block.ids.clone();
    let mut labels = vec![-100i64; ids.len()];
    for (i, &c) in chosen.iter().enumerate() {
        if !c {
            continue;
        }
        labels[i] = i64::from(block.ids[i]);
        let roll = rng.uniform();
        if roll <= 0.8 {
            ids[i] = block.mask_id;
        } else if roll <= 0.9 {
            ids[i] = (rng.next_u64() % u64::from(block.vocab_size.max(1))) as u32;
        }
    }
    (ids, labels)
}

/// Which tokens whole-word masking chooses: words in random order, each taken whole while the
/// chosen tokens stay within `probability` of the block's length (at least one token).
fn whole_words(block: &Block, probability: f64, rng: &mut SplitMix64) -> Vec<bool> {
    let mut words: Vec<Vec<usize>> = Vec::new();
    for (i, (&special, &start)) in block.special.iter().zip(&block.word_start).enumerate() {
        if special {
            continue;
        }
        match words.last_mut() {
            Some(word) if !start && word.last() == Some(&(i - 1)) => word.push(i),
            _ => words.push(vec![i]),
        }
    }
    rng.shuffle(&mut words);
    let budget = ((block.ids.len() as f64 * probability).round() as usize).max(1);
    let mut chosen = vec![false; block.ids.len()];
    let mut count = 0;
    for word in words {
        if count >= budget {
            break;
        }
        if count + word.len() > budget {
            continue;
        }
        count += word.len();
        for i in word {
            chosen[i] = true;
        }
    }
    chosen
}

/// A block of one encoded text.
pub fn block_of(encoding: Encoding, template: &Block) -> Block {
    let word_start = encoding
        .word_ids
        .iter()
        .enumerate()
        .map(|(i, w)| w.is_none() || i == 0 || encoding.word_ids[i - 1] != *w)
        .collect();
    Block {
        special: encoding.special_tokens_mask.iter().map(|&s| s == 1).collect(),
        ids: encoding.ids,
        word_start,
        ..template.clone()
    }
}

/// Concatenates encoded documents and cuts blocks of `max_len` tokens; the remainder is
/// dropped, unless all of it is shorter than one block.
fn pack(documents: Vec<Block>, max_len: usize, template: &Block) -> Vec<Block> {
    let mut all = template.clone();
    for d in documents {
        all.ids.extend(d.ids);
        all.special.extend(d.special);
        all.word_start.extend(d.word_start);
    }
    if all.ids.len() < max_len {
        return if all.ids.is_empty() { vec![] } else { vec![all] };
    }
    (0..all.ids.len() / max_len)
        .map(|b| {
            let range = b * max_len..(b + 1) * max_len;
            Block {
                ids: all.ids[range.clone()].to_vec(),
                special: all.special[range.clone()].to_vec(),
                word_start: all.word_start[range].to_vec(),
                ..template.clone()
            }
        })
        .collect()
}

/// The values of an integer tensor, on the host.
pub fn int_values<const D: usize>(t: Tensor<D, Int>) -> Vec<i64> {
    t.into_data()
        .convert::<i64>()
        .try_to_vec::<i64>()
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tasks::testing::{model, tiny};
    use crate::tasks::{batch_rng, evaluate};

    const TEXT: &str = "the cat sat on the mat . the dog ran .\njohn lives in paris .\n\n\
                        a big red cat sat on a mat , the dog sat .\n";

    fn blocks(data_keys: &str) -> (MaskedLm, Vec<Block>, crate::tasks::testing::Tiny) {
        let tiny = tiny("task = \"masked-lm\"", data_keys, &[("train.txt", TEXT)]);
        let task = MaskedLm::from_task_config(&tiny.config.task).unwrap();
        let data = task.load(&tiny.context()).unwrap();
        (task, data.train.features, tiny)
    }

    #[test]
    fn documents_are_packed_into_full_blocks_and_lines_kept_apart() {
        // Two documents of 16 + 2 and 13 + 2 tokens: 33 tokens, two blocks of 16 (the last
        // token dropped). [SEP] [CLS] of the documents' seam fall in the second block.
        let (_, packed, _) = blocks("format = \"text\"\n");
        assert_eq!(packed.len(), 2);
        assert!(packed.iter().all(|b| b.ids.len() == 16));
        let specials = |b: &Block| b.special.iter().filter(|&&s| s).count();
        assert_eq!((specials(&packed[0]), specials(&packed[1])), (1, 2));
        let (_, lines, _) = blocks("format = \"text\"\nline_by_line = true\n");
        assert_eq!(lines.len(), 3);
        assert_eq!(lines[1].ids.len(), 7);
    }

    #[test]
    fn masking_follows_the_80_10_10_rule_and_never_touches_special_tokens() {
        let (task, features, _) = blocks("format = \"text\"\nmlm_probability = 0.3\n");
        let (mut chosen, mut masked, mut kept, mut total) = (0, 0, 0, 0);
        for step in 0..400 {
            let mut rng = batch_rng(42, step, 0);
            let host = task.gather(&features, &[0, 1], &mut rng);
            for ((ids, _), (labels, block)) in host.rows.iter().zip(host.labels.iter().zip(&features)) {
                for i in 0..ids.len() {
                    total += usize::from(!block.special[i]);
                    if labels[i] < 0 {
                        assert_eq!(ids[i], block.ids[i]);
                        continue;
                    }
                    assert!(!block.special[i], "a special token was chosen");
                    chosen += 1;
                    masked += usize::from(ids[i] == block.mask_id);
                    kept += usize::from(ids[i] == block.ids[i]);
                }
            }
        }
        let share = chosen as f64 / total as f64;
        assert!((share - 0.3).abs() < 0.02, "{share}");
        let masked = masked as f64 / chosen as f64;
        assert!((masked - 0.8).abs() < 0.03, "{masked}");
        // "kept" includes random draws that hit the same token (1 in 21 here).
        let kept = kept as f64 / chosen as f64;
        assert!((kept - 0.1).abs() < 0.03, "{kept}");
        // The same step masks the same way.
        let a = task.gather(&features, &[0], &mut batch_rng(42, 7, 0));
        let b = task.gather(&features, &[0], &mut batch_rng(42, 7, 0));
        assert_eq!(a.rows, b.rows);
    }

    #[test]
    fn whole_word_masking_takes_words_whole_up_to_the_budget() {
        let block = Block {
            ids: (0..10).collect(),
            special: [true, false, false, false, false, false, false, false, false, true].to_vec(),
            word_start: [true, true, false, false, true, true, false, true, true, true].to_vec(),
            mask_id: 4,
            vocab_size: 30,
        };
        for seed in 0..50 {
            let chosen = whole_words(&block, 0.4, &mut SplitMix64(seed));
            let count = chosen.iter().filter(|&&c| c).count();
            assert!(count <= 4 && count >= 1, "{chosen:?}");
            assert!(!chosen[0] && !chosen[9]);
            // Words: [1,2,3], [4], [5,6], [7], [8]: all or none of each.
            assert!(chosen[1] == chosen[2] && chosen[2] == chosen[3]);
            assert_eq!(chosen[5], chosen[6]);
        }
    }

    #[test]
    fn evaluation_reports_perplexity_and_accuracy_over_predicted_tokens() {
        let (task, features, tiny) = blocks("format = \"text\"\n");
        let model = model(&task, &tiny, None);
        let device = Device::default();
        let first = evaluate(&task, &model, &features, 2, 0, None, &device);
        let again = evaluate(&task, &model, &features, 2, 0, None, &device);
        assert_eq!(first, again, "evaluation masks the same way every time");
        assert!((first["perplexity"] - first["loss"].exp()).abs() < 1e-9);
        assert!((0.0..=1.0).contains(&first["accuracy"]));
    }
}
