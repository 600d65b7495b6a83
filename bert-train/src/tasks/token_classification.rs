//! `token-classification`: one tag per word (NER, POS), `BertForTokenClassification`. The first
//! word piece of each word carries its tag, as in transformers' token-classification example;
//! entity scores follow seqeval.

use std::path::Path;

use bert_data::batch::{token_label_batch, LabelSet, Row};
use bert_data::readers::{
    align_word_labels, read_tagged_sentences, BadRow, ConllColumns, Format, TaggedSentence,
};
use bert_data::{BertTokenizer, Encoding};
use bert_model::burn::prelude::{Device, Int, Tensor};
use bert_model::rng::SplitMix64;
use bert_model::{host_values, BertConfig, BertForTokenClassification, BertInput, OutputOptions};

use super::inference::{fields, host, rows_of, softmax, text_field, Fields, Inference};
use super::{argmax, copy_rows, load_splits, unknown_label, with_label_set, LoadContext, Predict, Task, TaskData};
use crate::config::read::label_names;
use crate::config::Validate;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use crate::metrics::{self, entities, Metrics};
use crate::TrainError;
use serde_json::{json, Value};

/// The keys of `token-classification`: all in `[data]`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default)]
pub struct Config {
    /// Its keys of `[data]`.
    pub data: TokenClassification,
}

impl Validate for Config {
    fn problems(&self) -> Vec<String> {
        match &self.data.labels {
            Some(labels) if labels.is_empty() => vec!["`data.labels`: must not be empty".into()],
            _ => vec![],
        }
    }
}

/// The task and its options, which are its `[data]` keys. JSONL sentences are
/// `{"tokens": [...], "tags": [...]}`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default)]
pub struct TokenClassification {
    /// CoNLL: the token column (0-based).
    pub token_column: usize,
    /// CoNLL: the tag column (0-based); unset: the last.
    pub tag_column: Option<usize>,
    /// The tag names in id order; unset: those of the training file, sorted.
    #[serde(deserialize_with = "label_names")]
    #[schemars(with = "Option<Vec<String>>")]
    pub labels: Option<Vec<String>>,
}

/// One line of `predict`'s input: its text (and pair), encoded.
#[derive(Debug, Clone)]
pub struct Input {
    /// The encoded text.
    pub encoding: Encoding,
    /// The `text` field, which entity offsets refer to.
    pub text: String,
}

/// One encoded sentence with a tag id per position.
#[derive(Debug, Clone, PartialEq)]
pub struct Feature {
    /// Token ids and token type ids.
    pub row: Row,
    /// One tag id per position (-100 where no tag: special tokens, continuation pieces).
    pub tags: Vec<i64>,
    /// The line of the sentence's first token.
    pub line: usize,
}

/// Rows and tags of a batch, before padding.
#[derive(Debug, Clone)]
pub struct HostBatch {
    rows: Vec<(Vec<u32>, Vec<u32>)>,
    tags: Vec<Vec<i64>>,
}

/// A padded batch on a device.
#[derive(Debug, Clone)]
pub struct Batch {
    /// Model inputs `[batch, seq]`.
    pub input: BertInput,
    /// Tag ids `[batch, seq]`, -100 where unlabelled.
    pub tags: Tensor<2, Int>,
}

impl Task for TokenClassification {
    const NAME: &'static str = "token-classification";
    const FORMATS: &'static [Format] = &[Format::Conll, Format::Jsonl];
    type Model = BertForTokenClassification;
    type Config = Config;
    type Feature = Feature;
    type HostBatch = HostBatch;
    type Batch = Batch;
    /// The argmax tag of every position.
    type Output = Vec<usize>;

    fn new(config: &Config) -> Self {
        config.data.clone()
    }

    fn metric_names(&self) -> &'static [&'static str] {
        &["precision", "recall", "f1", "accuracy"]
    }

    fn load(&self, context: &LoadContext) -> Result<TaskData<Feature>, TrainError> {
        let read = |path: &Path, limit: Option<usize>| self.read(context, path, limit);
        let names = |s: &TaggedSentence| s.tags.clone();
        let featurize = |rows: Vec<TaggedSentence>, labels: Option<&LabelSet>, split, path: &Path| {
            let set = labels.expect("token classification always has a tag set");
            rows.into_iter()
                .map(|s| feature(context, s, set, split, path))
                .collect()
        };
        load_splits(
            context,
            &read,
            Some(&names),
            self.labels.as_deref(),
            &featurize,
        )
    }

    fn model_config(&self, config: BertConfig, labels: Option<&LabelSet>) -> BertConfig {
        match labels {
            Some(labels) => with_label_set(config, labels),
            None => config,
        }
    }

    fn length(feature: &Feature) -> usize {
        feature.row.ids.len()
    }

    fn gather(&self, features: &[Feature], indices: &[usize], _: &mut SplitMix64) -> HostBatch {
        HostBatch {
            rows: copy_rows(indices.iter().map(|&i| &features[i].row)),
            tags: indices.iter().map(|&i| features[i].tags.clone()).collect(),
        }
    }

    /// The labelled tokens (first sub-words, as the loss counts them).
    fn loss_count(&self, host: &HostBatch, _rows: usize) -> usize {
        host.tags.iter().flatten().filter(|&&t| t >= 0).count()
    }

    fn to_device(&self, host: &HostBatch, pad_id: u32, device: &Device) -> Batch {
        let input = BertInput::from_rows(&host.rows, pad_id, device);
        let seq = input.input_ids.dims()[1];
        let tags: Vec<&[i64]> = host.tags.iter().map(Vec::as_slice).collect();
        Batch {
            tags: token_label_batch(&tags, seq, device),
            input,
        }
    }

    fn forward(
        &self,
        model: &BertForTokenClassification,
        batch: &Batch,
        with_outputs: bool,
    ) -> (Tensor<1>, Vec<Vec<usize>>) {
        let tags = Some(batch.tags.clone());
        let out = model.forward(&batch.input, tags, OutputOptions::skipping_padding());
        let loss = out.loss.expect("labels were given");
        if !with_outputs {
            return (loss, Vec::new());
        }
        let [rows, seq, n] = out.logits.dims();
        let values = host_values(out.logits);
        let tags = (0..rows)
            .map(|r| {
                (0..seq)
                    .map(|s| argmax(&values[(r * seq + s) * n..(r * seq + s + 1) * n]))
                    .collect()
            })
            .collect();
        (loss, tags)
    }

    fn metrics(
        &self,
        features: &[Feature],
        outputs: Vec<Vec<usize>>,
        labels: Option<&LabelSet>,
    ) -> Metrics {
        let names = labels.map(LabelSet::names).unwrap_or(&[]);
        let name = |i: usize| names.get(i).cloned().unwrap_or_else(|| "O".to_string());
        let (mut pred, mut gold) = (Vec::new(), Vec::new());
        for (feature, tags) in features.iter().zip(outputs) {
            // Only labelled positions (first pieces of words) count.
            let (mut ps, mut gs) = (Vec::new(), Vec::new());
            for (i, &g) in feature.tags.iter().enumerate() {
                if g >= 0 {
                    ps.push(name(tags.get(i).copied().unwrap_or(0)));
                    gs.push(name(g as usize));
                }
            }
            pred.push(ps);
            gold.push(gs);
        }
        metrics::tagging(&pred, &gold)
    }

}

impl Predict for TokenClassification {
    type Input = Input;

    fn read_input(&self, fields: &Fields, inference: &Inference) -> Result<Input, String> {
        Ok(Input {
            encoding: inference.text_input(fields)?,
            text: text_field(fields, "text")?.to_string(),
        })
    }

    fn infer(
        &self,
        model: &BertForTokenClassification,
        inputs: &[Input],
        inference: &Inference,
    ) -> Vec<Fields> {
        let encodings = inputs.iter().map(|i| &i.encoding);
        let out = model.forward(&inference.input(encodings), None, OutputOptions::skipping_padding());
        let (logits, [_, seq, n]) = host(out.logits);
        inputs
            .iter()
            .enumerate()
            .map(|(r, input)| {
                let rows = &logits[r * seq * n..(r + 1) * seq * n];
                tag_fields(input, rows, n, inference)
            })
            .collect()
    }
}

impl TokenClassification {
    fn read(
        &self,
        context: &LoadContext,
        path: &Path,
        limit: Option<usize>,
    ) -> Result<(Vec<TaggedSentence>, Vec<BadRow>), TrainError> {
        let columns = ConllColumns {
            token: self.token_column,
            tag: self.tag_column,
        };
        let data = &context.config.data;
        let format = data.format_of(path)?;
        let read = read_tagged_sentences(path, format, columns, data.on_bad_row)?;
        let mut rows = Vec::new();
        for s in read.rows.into_iter().take(limit.unwrap_or(usize::MAX)) {
            if s.tags.len() != s.tokens.len() {
                return Err(TrainError::Row {
                    path: path.to_path_buf(),
                    line: s.line,
                    message: format!("{} tokens but {} tags", s.tokens.len(), s.tags.len()),
                });
            }
            rows.push(s);
        }
        Ok((rows, read.skipped))
    }
}

fn feature(
    context: &LoadContext,
    sentence: TaggedSentence,
    labels: &LabelSet,
    split: &str,
    path: &Path,
) -> Result<Feature, TrainError> {
    let (row, word_ids) = encode_words(
        context.tokenizer,
        &sentence.tokens,
        context.config.data.max_seq_length,
    );
    // CoNLL has a line per word; JSONL a line per sentence, the tag named by its index.
    let conll = context.config.data.format_of(path).ok() == Some(Format::Conll);
    let mut ids = Vec::with_capacity(sentence.tags.len());
    for (i, tag) in sentence.tags.iter().enumerate() {
        let (line, field) = if conll {
            (sentence.line + i, "tag".to_string())
        } else {
            (sentence.line, format!("tags[{i}]"))
        };
        let id = labels
            .id(tag)
            .map_err(|e| unknown_label(path, line, &field, split, e))?;
        ids.push(id as i64);
    }
    Ok(Feature {
        row,
        tags: align_word_labels(&word_ids, &ids),
        line: sentence.line,
    })
}

/// `[CLS]` word pieces `[SEP]`, cut to `max_len`, with the word index of each position.
fn encode_words(
    tokenizer: &BertTokenizer,
    words: &[String],
    max_len: usize,
) -> (Row, Vec<Option<u32>>) {
    let special = tokenizer.special_ids();
    let mut ids = vec![special.cls];
    let mut word_ids = vec![None];
    for (w, word) in words.iter().enumerate() {
        for id in tokenizer.tokenize_with_offsets(word).ids {
            if ids.len() + 1 >= max_len {
                break;
            }
            ids.push(id);
            word_ids.push(Some(w as u32));
        }
    }
    ids.push(special.sep);
    word_ids.push(None);
    let type_ids = vec![0; ids.len()];
    (Row { ids, type_ids }, word_ids)
}

/// What `predict` writes for one text: its tokens, their logits and tags, and the entities.
fn tag_fields(input: &Input, logits: &[f32], n: usize, inference: &Inference) -> Fields {
    let enc = &input.encoding;
    let len = enc.len();
    let tokens: Vec<&str> = enc
        .ids
        .iter()
        .map(|&id| inference.tokenizer.id_to_token(id).unwrap_or("[UNK]"))
        .collect();
    let mut labels = Vec::with_capacity(len);
    let mut scores = Vec::with_capacity(len);
    for pos in 0..len {
        let probs = softmax(&logits[pos * n..(pos + 1) * n]);
        let best = argmax(&probs);
        labels.push(inference.config.label_name(best));
        scores.push(probs[best]);
    }
    let words = words(enc, &labels, &scores);
    let text: Vec<char> = input.text.chars().collect();
    fields(json!({
        "tokens": tokens,
        "logits": rows_of(logits, len, n),
        "labels": labels,
        "entities": group_entities(&words, &text),
    }))
}

/// The words of the first text: each takes the tag and score of its first piece (as
/// transformers' NER training labels them), with its character span.
fn words(enc: &Encoding, labels: &[String], scores: &[f32]) -> Vec<(String, f32, usize, usize)> {
    let mut words: Vec<(String, f32, usize, usize)> = Vec::new();
    let mut last_word = None;
    for pos in 0..enc.len() {
        let (Some(word), Some(0)) = (enc.word_ids[pos], enc.sequence_ids[pos]) else {
            continue;
        };
        let (start, end) = enc.offsets[pos];
        match words.last_mut() {
            Some(w) if last_word == Some(word) => w.3 = end,
            _ => words.push((labels[pos].clone(), scores[pos], start, end)),
        }
        last_word = Some(word);
    }
    words
}

/// Groups word tags into entities with the decoder the entity metrics use
/// ([`crate::metrics::entities`], seqeval's default rules), with each entity's text, its
/// character offsets and the mean score of its words.
fn group_entities(words: &[(String, f32, usize, usize)], text: &[char]) -> Vec<Value> {
    let tags: Vec<&str> = words.iter().map(|w| w.0.as_str()).collect();
    entities(&[tags])
        .into_iter()
        .map(|(kind, first, last)| {
            let (start, end) = (words[first].2, words[last].3);
            let span: String = text[start.min(text.len())..end.min(text.len())]
                .iter()
                .collect();
            let scores: Vec<f32> = words[first..=last].iter().map(|w| w.1).collect();
            let score = scores.iter().sum::<f32>() / scores.len() as f32;
            json!({"entity": kind, "text": span, "start": start, "end": end, "score": score})
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tasks::testing::{model, tiny};

    const ROWS: &str = "{\"tokens\": [\"john\", \"lives\", \"in\", \"paris\"], \"tags\": [\"B-PER\", \"O\", \"O\", \"B-LOC\"]}\n\
                        {\"tokens\": [\"the\", \"big\", \"cat\"], \"tags\": [\"O\", \"O\", \"O\"]}\n";

    #[test]
    fn words_are_labelled_on_their_first_piece_and_entities_span_the_sentence() {
        let tiny = tiny(
            "task = \"token-classification\"",
            "",
            &[("train.jsonl", ROWS)],
        );
        let task = TokenClassification::from_task_config(&tiny.config.task).unwrap();
        let data = task.load(&tiny.context()).unwrap();
        let labels = data.labels.as_ref().unwrap();
        let features = &data.train.features;
        assert_eq!(features.len(), 2);
        // [CLS] john lives in paris [SEP]: special positions are -100.
        let tags = &features[0].tags;
        assert_eq!(tags.len(), 6);
        assert_eq!((tags[0], tags[5]), (-100, -100));
        let name = |i: i64| labels.names()[i as usize].clone();
        assert_eq!(name(tags[1]), "B-PER");
        assert_eq!(name(tags[4]), "B-LOC");

        let device = Device::default();
        let host = task.gather(features, &[0, 1], &mut SplitMix64(0));
        let batch = task.to_device(&host, 0, &device);
        assert_eq!(batch.input.input_ids.dims(), [2, 6]);
        assert_eq!(batch.tags.dims(), [2, 6]);
        let model = model(&task, &tiny, Some(labels));
        let (loss, outputs) = task.forward(&model, &batch, true);
        assert!(loss.into_scalar::<f32>().is_finite());
        assert_eq!(outputs.len(), 2);

        // Gold tags as predictions: every entity found.
        let gold: Vec<Vec<usize>> = features
            .iter()
            .map(|f| f.tags.iter().map(|&t| t.max(0) as usize).collect())
            .collect();
        let scores = task.metrics(features, gold, Some(labels));
        assert_eq!(scores["f1"], 1.0);
        assert_eq!(scores["accuracy"], 1.0);
    }

    fn spans(tags: &[&str]) -> Vec<(String, String)> {
        let words: Vec<(String, f32, usize, usize)> = tags
            .iter()
            .enumerate()
            .map(|(i, t)| (t.to_string(), 1.0, i * 2, i * 2 + 1))
            .collect();
        let text: Vec<char> = "a b c d e f".chars().collect();
        group_entities(&words, &text)
            .iter()
            .map(|e| {
                let field = |name: &str| e[name].as_str().unwrap_or_default().to_string();
                (field("entity"), field("text"))
            })
            .collect()
    }

    fn pairs(expected: &[(&str, &str)]) -> Vec<(String, String)> {
        expected
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    }

    #[test]
    fn predicted_entities_follow_iob2_with_seqeval_leniency() {
        assert_eq!(
            spans(&["B-PER", "I-PER", "O", "I-LOC", "B-LOC", "I-ORG"]),
            pairs(&[("PER", "a b"), ("LOC", "d"), ("LOC", "e"), ("ORG", "f")])
        );
        // IOBES; a tag without a prefix reads as seqeval reads it (its first letter is the
        // prefix: `ORG` is an `O`), the same decoder as the entity metrics.
        assert_eq!(
            spans(&["S-PER", "B-LOC", "E-LOC", "ORG", "ORG", "O"]),
            pairs(&[("PER", "a"), ("LOC", "b c")])
        );
    }
}
