//! Sentence embeddings: the encoder's token states pooled into one vector per text, as
//! sentence-transformers' `encode` computes them.
//!
//! A model directory saved by sentence-transformers says how: `modules.json` lists the modules
//! (a Transformer, then Pooling, then optionally Normalize), `1_Pooling/config.json` (the
//! Pooling module's folder) picks the pooling, `sentence_bert_config.json` the maximum length.
//! A plain BERT directory gets `[CLS]` pooling without normalisation. Texts are stripped,
//! encoded with truncation at the maximum length, run in batches of similar length (sorted,
//! then restored to input order), pooled over the attention mask, and normalised to unit
//! length when asked.

use std::path::{Path, PathBuf};

use bert_data::{BertTokenizer, TokenizerOverrides, Truncation, TruncationStrategy};
use bert_model::burn::prelude::{Device, Int, Tensor};
use bert_model::{from_pretrained, host_values, BertInput, BertModel, OutputOptions};
use serde_json::Value;

use crate::model_parts::check_vocab;
use crate::TrainError;

/// How token states become one vector.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pooling {
    /// The `[CLS]` token's state.
    Cls,
    /// The mean over real (unpadded) tokens.
    Mean,
    /// The element-wise maximum over real tokens.
    Max,
}

impl std::str::FromStr for Pooling {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "cls" => Ok(Pooling::Cls),
            "mean" => Ok(Pooling::Mean),
            "max" => Ok(Pooling::Max),
            _ => Err(format!("unknown pooling {s:?}: expected cls, mean or max")),
        }
    }
}

/// What a model directory says about its sentence embeddings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SentenceConfig {
    /// The pooling.
    pub pooling: Pooling,
    /// Scale each vector to unit length.
    pub normalize: bool,
    /// Texts are cut to this many tokens (special tokens included).
    pub max_seq_length: Option<usize>,
}

impl Default for SentenceConfig {
    fn default() -> Self {
        SentenceConfig {
            pooling: Pooling::Cls,
            normalize: false,
            max_seq_length: None,
        }
    }
}

impl SentenceConfig {
    /// Reads `modules.json`, the Pooling module's `config.json` and
    /// `sentence_bert_config.json` of `dir`; the defaults for what is absent.
    pub fn from_dir(dir: &Path) -> Result<SentenceConfig, TrainError> {
        let mut config = SentenceConfig::default();
        let modules_path = dir.join("modules.json");
        if let Some(modules) = read_json(&modules_path)? {
            let list = modules
                .as_array()
                .ok_or_else(|| bad(&modules_path, "not a list"))?;
            for module in list {
                let kind = module["type"].as_str().unwrap_or_default();
                let folder = module["path"].as_str().unwrap_or_default();
                if kind.ends_with(".Pooling") {
                    let path = dir.join(folder).join("config.json");
                    config.pooling = pooling_of(&path)?;
                } else if kind.ends_with(".Normalize") {
                    config.normalize = true;
                }
            }
        }
        let bert_config = dir.join("sentence_bert_config.json");
        if let Some(value) = read_json(&bert_config)? {
            config.max_seq_length = value["max_seq_length"].as_u64().map(|n| n as usize);
        }
        Ok(config)
    }
}

fn read_json(path: &Path) -> Result<Option<Value>, TrainError> {
    if !path.is_file() {
        return Ok(None);
    }
    let text = std::fs::read_to_string(path).map_err(TrainError::io(path))?;
    serde_json::from_str(&text)
        .map(Some)
        .map_err(|e| bad(path, &e.to_string()))
}

fn bad(path: &Path, message: &str) -> TrainError {
    TrainError::ModelFile {
        path: path.to_path_buf(),
        message: message.to_string(),
    }
}

fn pooling_of(path: &Path) -> Result<Pooling, TrainError> {
    let value = read_json(path)?.ok_or_else(|| bad(path, "missing (modules.json lists it)"))?;
    let on = |key: &str| value[key].as_bool().unwrap_or(false);
    match (
        on("pooling_mode_cls_token"),
        on("pooling_mode_mean_tokens"),
        on("pooling_mode_max_tokens"),
    ) {
        (true, false, false) => Ok(Pooling::Cls),
        (false, true, false) => Ok(Pooling::Mean),
        (false, false, true) => Ok(Pooling::Max),
        _ => Err(bad(
            path,
            "exactly one of pooling_mode_cls_token, pooling_mode_mean_tokens and \
             pooling_mode_max_tokens must be true (other poolings are not supported)",
        )),
    }
}

/// A loaded encoder that embeds texts.
#[derive(Debug)]
pub struct Embedder {
    model: BertModel,
    tokenizer: BertTokenizer,
    /// The pooling, normalisation and length in use.
    pub config: SentenceConfig,
    max_len: usize,
    device: Device,
}

impl Embedder {
    /// Loads the encoder, tokenizer and sentence config of a model directory or hub id;
    /// `overrides` replaces what the directory says.
    pub fn from_pretrained(
        name_or_path: &str,
        device: &Device,
        overrides: SentenceOverrides,
    ) -> Result<Embedder, TrainError> {
        let dir: PathBuf = bert_model::resolve_model_dir(name_or_path)?;
        let loaded = from_pretrained::<BertModel>(&dir.to_string_lossy(), device, 0)?;
        let tokenizer = BertTokenizer::from_dir(&dir, &TokenizerOverrides::default())?;
        check_vocab(&tokenizer, &loaded.config, &dir)?;
        let mut config = SentenceConfig::from_dir(&dir)?;
        config.pooling = overrides.pooling.unwrap_or(config.pooling);
        config.normalize = overrides.normalize.unwrap_or(config.normalize);
        let positions = loaded.config.max_position_embeddings;
        if let Some(n) = overrides.max_seq_length.filter(|&n| n > positions) {
            return Err(TrainError::Run(format!(
                "the maximum sequence length {n} exceeds the model's max_position_embeddings \
                 ({positions})"
            )));
        }
        let max_len = overrides
            .max_seq_length
            .or(config.max_seq_length)
            .or(tokenizer.model_max_length())
            .unwrap_or(positions)
            .min(positions);
        config.max_seq_length = Some(max_len);
        Ok(Embedder {
            model: loaded.model,
            tokenizer,
            config,
            max_len,
            device: device.clone(),
        })
    }

    /// One vector per text, in input order; texts run in batches of `batch_size` sorted by
    /// length.
    pub fn encode(&self, texts: &[&str], batch_size: usize) -> Result<Vec<Vec<f32>>, TrainError> {
        let truncation = Some(Truncation {
            max_length: self.max_len,
            strategy: TruncationStrategy::LongestFirst,
        });
        let mut rows = Vec::with_capacity(texts.len());
        for text in texts {
            let encoding = self.tokenizer.encode(text.trim(), None, truncation)?;
            rows.push((encoding.ids, encoding.type_ids));
        }
        let mut order: Vec<usize> = (0..rows.len()).collect();
        order.sort_by_key(|&i| std::cmp::Reverse(rows[i].0.len()));
        let mut out = vec![Vec::new(); rows.len()];
        for chunk in order.chunks(batch_size.max(1)) {
            let batch: Vec<(Vec<u32>, Vec<u32>)> = chunk.iter().map(|&i| rows[i].clone()).collect();
            let pad = self.tokenizer.special_ids().pad;
            let input = BertInput::from_rows(&batch, pad, &self.device);
            for (&i, vector) in chunk.iter().zip(self.embed_batch(input)) {
                out[i] = vector;
            }
        }
        Ok(out)
    }

    fn embed_batch(&self, input: BertInput) -> Vec<Vec<f32>> {
        let [n, seq] = input.input_ids.dims();
        let mask = input
            .attention_mask
            .clone()
            .unwrap_or_else(|| Tensor::<2, Int>::ones([n, seq], &self.device));
        let states = self
            .model
            .forward(&input, OutputOptions::skipping_padding())
            .last_hidden_state;
        let pooled = pool(states, mask, self.config.pooling);
        let hidden = pooled.dims()[1];
        let values = host_values(pooled);
        values
            .chunks(hidden.max(1))
            .map(|v| match self.config.normalize {
                true => normalize(v),
                false => v.to_vec(),
            })
            .collect()
    }
}

/// What `embed` may set instead of the model directory.
#[derive(Debug, Clone, Copy, Default)]
pub struct SentenceOverrides {
    /// The pooling.
    pub pooling: Option<Pooling>,
    /// Normalise to unit length.
    pub normalize: Option<bool>,
    /// The maximum length in tokens.
    pub max_seq_length: Option<usize>,
}

/// Pools token states `[n, seq, hidden]` over the real tokens of `mask` `[n, seq]`.
pub fn pool(states: Tensor<3>, mask: Tensor<2, Int>, pooling: Pooling) -> Tensor<2> {
    let [n, seq, hidden] = states.dims();
    let weights = mask.float().reshape([n, seq, 1]);
    match pooling {
        Pooling::Cls => states.narrow(1, 0, 1).reshape([n, hidden]),
        Pooling::Mean => {
            let sum = (states * weights.clone()).sum_dim(1).reshape([n, hidden]);
            let count = weights.sum_dim(1).reshape([n, 1]).clamp_min(1e-9);
            sum / count
        }
        Pooling::Max => {
            // Padded positions get -1e9, as sentence-transformers sets them.
            let masked = states * weights.clone() + (weights.neg() + 1.0) * -1e9;
            masked.max_dim(1).reshape([n, hidden])
        }
    }
}

/// `v` divided by its Euclidean norm (at least 1e-12), as torch's `F.normalize`.
pub fn normalize(v: &[f32]) -> Vec<f32> {
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt().max(1e-12);
    v.iter().map(|x| x / norm).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use bert_model::burn::prelude::TensorData;

    #[test]
    fn pooling_ignores_padding() {
        let device = Device::default();
        // Two rows; the second has one real token.
        let states = Tensor::<3>::from_data(
            TensorData::new(vec![1.0f32, 2.0, 3.0, 4.0, 5.0, -6.0, 7.0, 8.0], [2, 2, 2]),
            &device,
        );
        let mask =
            Tensor::<2, Int>::from_data(TensorData::new(vec![1i64, 1, 1, 0], [2, 2]), &device);
        let values = |p| host_values(pool(states.clone(), mask.clone(), p));
        assert_eq!(values(Pooling::Cls), [1.0, 2.0, 5.0, -6.0]);
        assert_eq!(values(Pooling::Mean), [2.0, 3.0, 5.0, -6.0]);
        assert_eq!(values(Pooling::Max), [3.0, 4.0, 5.0, -6.0]);
        let unit = normalize(&[3.0, 4.0]);
        assert_eq!(unit, [0.6, 0.8]);
    }

    #[test]
    fn the_directory_says_how_to_pool() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        assert_eq!(
            SentenceConfig::from_dir(d).unwrap(),
            SentenceConfig::default()
        );
        std::fs::write(
            d.join("modules.json"),
            r#"[{"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
                {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
                {"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"}]"#,
        )
        .unwrap();
        std::fs::create_dir(d.join("1_Pooling")).unwrap();
        std::fs::write(
            d.join("1_Pooling/config.json"),
            r#"{"pooling_mode_cls_token": false, "pooling_mode_mean_tokens": true}"#,
        )
        .unwrap();
        std::fs::write(
            d.join("sentence_bert_config.json"),
            r#"{"max_seq_length": 256}"#,
        )
        .unwrap();
        let config = SentenceConfig::from_dir(d).unwrap();
        assert_eq!(
            config,
            SentenceConfig {
                pooling: Pooling::Mean,
                normalize: true,
                max_seq_length: Some(256)
            }
        );
        std::fs::write(d.join("1_Pooling/config.json"), "{").unwrap();
        let error = SentenceConfig::from_dir(d).unwrap_err().to_string();
        assert!(error.contains("1_Pooling/config.json"), "{error}");
    }
}
