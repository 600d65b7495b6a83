//! What the tasks' inference sides share: the context of `predict`, reading the fields of an
//! input line, and the small numeric helpers of the output lines (softmax, top-k).

use bert_data::{BertTokenizer, Encoding, Truncation, TruncationStrategy};
use bert_model::burn::prelude::{Device, Tensor};
use bert_model::{host_values, BertConfig, BertInput};
use serde_json::{Map, Value};

/// The fields a task adds to one output line of `predict`.
pub type Fields = Map<String, Value>;

/// What a task's inference side reads: the model's tokenizer and config, and the run's options.
pub struct Inference<'a> {
    /// The model's tokenizer.
    pub tokenizer: &'a BertTokenizer,
    /// The model's config (labels, problem type).
    pub config: &'a BertConfig,
    /// Inputs are cut to this many tokens.
    pub max_len: usize,
    /// Where the model runs.
    pub device: &'a Device,
    /// Rows per forward pass.
    pub batch_size: usize,
    /// Also write full logits where a task can (fill-mask).
    pub raw: bool,
}

impl Inference<'_> {
    /// Encodes `text` (and `pair`), longest-first truncation at `max_len`.
    pub fn encode(&self, text: &str, pair: Option<&str>) -> Result<Encoding, String> {
        let truncation = Truncation {
            max_length: self.max_len,
            strategy: TruncationStrategy::LongestFirst,
        };
        self.tokenizer
            .encode(text, pair, Some(truncation))
            .map_err(|e| e.to_string())
    }

    /// Encodes the line's `text` and optional `text_pair`.
    pub fn text_input(&self, fields: &Fields) -> Result<Encoding, String> {
        let text = text_field(fields, "text")?;
        let pair = match fields.get("text_pair") {
            None | Some(Value::Null) => None,
            Some(_) => Some(text_field(fields, "text_pair")?),
        };
        self.encode(text, pair)
    }

    /// The rows of `encodings`, padded, on the device.
    pub fn input<'e>(&self, encodings: impl IntoIterator<Item = &'e Encoding>) -> BertInput {
        let rows: Vec<(Vec<u32>, Vec<u32>)> = encodings
            .into_iter()
            .map(|e| (e.ids.clone(), e.type_ids.clone()))
            .collect();
        BertInput::from_rows(&rows, self.tokenizer.special_ids().pad, self.device)
    }
}

/// The string field `name` of an input line.
pub fn text_field<'a>(fields: &'a Fields, name: &str) -> Result<&'a str, String> {
    match fields.get(name) {
        Some(Value::String(s)) => Ok(s),
        Some(other) => Err(format!("field `{name}` must be a string, found {other}")),
        None => Err(format!("missing field `{name}`")),
    }
}

/// A tensor on the host: values and shape.
pub type Host<const D: usize> = (Vec<f32>, [usize; D]);

/// Copies a tensor to the host.
pub fn host<const D: usize>(t: Tensor<D>) -> Host<D> {
    let dims = t.dims();
    (host_values(t), dims)
}

/// The first `rows` rows of `width` values each.
pub fn rows_of(values: &[f32], rows: usize, width: usize) -> Vec<&[f32]> {
    (0..rows)
        .map(|i| &values[i * width..(i + 1) * width])
        .collect()
}

/// Softmax of one row.
pub fn softmax(row: &[f32]) -> Vec<f32> {
    let max = row.iter().cloned().fold(f32::NEG_INFINITY, f32::max);
    let exps: Vec<f32> = row.iter().map(|&x| (x - max).exp()).collect();
    let sum: f32 = exps.iter().sum();
    exps.into_iter().map(|e| e / sum).collect()
}

/// The logistic function.
pub fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + (-x).exp())
}

/// The `k` largest values with their indices, largest first (ties: lower index first).
pub fn top_k(row: &[f32], k: usize) -> Vec<(usize, f32)> {
    let mut indexed: Vec<(usize, f32)> = row.iter().cloned().enumerate().collect();
    indexed.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    indexed.truncate(k);
    indexed
}

/// Fields from a `json!({...})` object.
pub fn fields(value: Value) -> Fields {
    match value {
        Value::Object(map) => map,
        _ => Fields::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tasks::argmax;

    #[test]
    fn top_k_is_ordered_and_stable() {
        assert_eq!(
            top_k(&[0.1, 0.5, 0.5, 0.2], 3),
            vec![(1, 0.5), (2, 0.5), (3, 0.2)]
        );
        let probs = softmax(&[1.0, 2.0, 3.0]);
        assert!((probs.iter().sum::<f32>() - 1.0).abs() < 1e-6);
        assert_eq!(argmax(&probs), 2);
    }

    #[test]
    fn fields_must_be_strings() {
        let line = fields(serde_json::json!({"text": 3}));
        assert_eq!(
            text_field(&line, "text").unwrap_err(),
            "field `text` must be a string, found 3"
        );
        assert_eq!(
            text_field(&line, "other").unwrap_err(),
            "missing field `other`"
        );
    }
}
