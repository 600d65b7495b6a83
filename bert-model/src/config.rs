//! [`BertConfig`]: the hyper-parameters of a BERT model, as in a Hugging Face `config.json`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// The activation of the feed-forward layers (`hidden_act`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum HiddenAct {
    /// Exact GELU, with erf (`gelu`): BERT's own.
    #[serde(rename = "gelu")]
    Gelu,
    /// GELU's tanh approximation (`gelu_new`).
    #[serde(rename = "gelu_new")]
    GeluNew,
    /// GELU's tanh approximation, PyTorch's kernel (`gelu_pytorch_tanh`).
    #[serde(rename = "gelu_pytorch_tanh")]
    GeluPytorchTanh,
    /// ReLU (`relu`).
    #[serde(rename = "relu")]
    Relu,
    /// SiLU (`silu`, also spelled `swish`).
    #[serde(rename = "silu", alias = "swish")]
    Silu,
}

/// Hyper-parameters of a BERT model. Field names and defaults are those of transformers'
/// `BertConfig`, so a `config.json` maps 1:1; keys we do not use are kept in `extra` and written
/// back by [`BertConfig::to_json`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct BertConfig {
    /// Number of tokens in the vocabulary.
    pub vocab_size: usize,
    /// Width of every hidden state.
    pub hidden_size: usize,
    /// Number of encoder layers.
    pub num_hidden_layers: usize,
    /// Attention heads per layer; must divide `hidden_size`.
    pub num_attention_heads: usize,
    /// Width of the feed-forward layer.
    pub intermediate_size: usize,
    /// Activation of the feed-forward layer.
    pub hidden_act: HiddenAct,
    /// Dropout on embeddings and hidden states.
    pub hidden_dropout_prob: f64,
    /// Dropout on attention probabilities.
    pub attention_probs_dropout_prob: f64,
    /// Longest sequence the position embeddings cover.
    pub max_position_embeddings: usize,
    /// Number of segment (token type) ids.
    pub type_vocab_size: usize,
    /// Standard deviation of the initial weights.
    pub initializer_range: f64,
    /// LayerNorm epsilon (1e-12 for BERT).
    pub layer_norm_eps: f64,
    /// Id of the padding token.
    pub pad_token_id: usize,
    /// Only `absolute` (or absent, as transformers 5 writes it) is supported.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub position_embedding_type: Option<String>,
    /// Dropout before a classification head; `None` uses `hidden_dropout_prob`.
    pub classifier_dropout: Option<f64>,
    /// Label names by id, for classification heads. `None` with `num_labels` absent means 2
    /// unnamed labels.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id2label: Option<BTreeMap<String, String>>,
    /// Label ids by name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub label2id: Option<BTreeMap<String, i64>>,
    /// Number of labels when `id2label` is absent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub num_labels: Option<usize>,
    /// `regression`, `single_label_classification` or `multi_label_classification`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub problem_type: Option<String>,
    /// Model classes the checkpoint was saved from, e.g. `BertForSequenceClassification`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub architectures: Option<Vec<String>>,
    /// Every other key of the file, kept as it was.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl Default for BertConfig {
    /// BERT-base, as transformers' `BertConfig()`.
    fn default() -> Self {
        BertConfig {
            vocab_size: 30522,
            hidden_size: 768,
            num_hidden_layers: 12,
            num_attention_heads: 12,
            intermediate_size: 3072,
            hidden_act: HiddenAct::Gelu,
            hidden_dropout_prob: 0.1,
            attention_probs_dropout_prob: 0.1,
            max_position_embeddings: 512,
            type_vocab_size: 2,
            initializer_range: 0.02,
            layer_norm_eps: 1e-12,
            pad_token_id: 0,
            position_embedding_type: None,
            classifier_dropout: None,
            id2label: None,
            label2id: None,
            num_labels: None,
            problem_type: None,
            architectures: None,
            extra: Map::new(),
        }
    }
}

/// What can be wrong with a configuration.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read {path}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// Not JSON, or a field of the wrong type.
    #[error("{path}: {message}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// serde's message, with the field, line and column where it could tell.
        message: String,
    },
    /// Values that parse but cannot make a model; every problem found, one per line.
    #[error("{path}: invalid configuration:\n  {}", problems.join("\n  "))]
    Invalid {
        /// The file (or `<config>` for one built in code).
        path: PathBuf,
        /// Each problem, naming its field and why.
        problems: Vec<String>,
    },
}

impl BertConfig {
    /// Reads and validates a `config.json`.
    pub fn from_file(path: impl AsRef<Path>) -> Result<Self, ConfigError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        Self::from_json_str(&text, path)
    }

    /// Reads a `config.json` with some keys replaced by `overrides` (as transformers'
    /// `from_pretrained(..., key=value)` does), then validates the result.
    pub fn from_file_with(
        path: impl AsRef<Path>,
        overrides: &Map<String, Value>,
    ) -> Result<Self, ConfigError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        if overrides.is_empty() {
            return Self::from_json_str(&text, path);
        }
        let mut value: Value = serde_json::from_str(&text).map_err(|e| ConfigError::Parse {
            path: path.to_path_buf(),
            message: e.to_string(),
        })?;
        if let Value::Object(map) = &mut value {
            map.extend(overrides.clone());
        }
        Self::from_json_str(&value.to_string(), path)
    }

    /// Parses and validates a `config.json` text; `path` names it in errors.
    pub fn from_json_str(text: &str, path: &Path) -> Result<Self, ConfigError> {
        let config: BertConfig = serde_json::from_str(text).map_err(|e| {
            let message = e.to_string();
            ConfigError::Parse {
                path: path.to_path_buf(),
                message: if message.contains("unknown variant") && message.contains("gelu") {
                    format!("field `hidden_act`: {message}")
                } else {
                    message
                },
            }
        })?;
        let problems = config.problems();
        if problems.is_empty() {
            Ok(config)
        } else {
            Err(ConfigError::Invalid {
                path: path.to_path_buf(),
                problems,
            })
        }
    }

    /// Checks a configuration built in code.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let problems = self.problems();
        if problems.is_empty() {
            Ok(())
        } else {
            Err(ConfigError::Invalid {
                path: PathBuf::from("<config>"),
                problems,
            })
        }
    }

    /// The configuration as `config.json` text (HF names, `model_type = "bert"`).
    pub fn to_json(&self) -> String {
        let mut value = serde_json::to_value(self).expect("a BertConfig always serialises");
        if let Value::Object(map) = &mut value {
            map.entry("model_type")
                .or_insert_with(|| Value::String("bert".into()));
        }
        serde_json::to_string_pretty(&value).expect("a JSON value always serialises")
    }

    /// Number of labels of a classification head: the size of `id2label` if present, else
    /// `num_labels`, else 2 (transformers' default).
    pub fn num_labels(&self) -> usize {
        match (&self.id2label, self.num_labels) {
            (Some(map), _) => map.len(),
            (None, Some(n)) => n,
            (None, None) => 2,
        }
    }

    /// The name of label `id`: from `id2label`, else `LABEL_{id}` as transformers names them.
    pub fn label_name(&self, id: usize) -> String {
        self.id2label
            .as_ref()
            .and_then(|m| m.get(&id.to_string()).cloned())
            .unwrap_or_else(|| format!("LABEL_{id}"))
    }

    /// Width of one attention head.
    pub fn head_size(&self) -> usize {
        self.hidden_size / self.num_attention_heads.max(1)
    }

    /// Every problem of the configuration, each naming its field.
    fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        let mut positive = |name: &str, value: usize| {
            if value == 0 {
                problems.push(format!("`{name}` must be at least 1, found 0"));
            }
        };
        positive("vocab_size", self.vocab_size);
        positive("hidden_size", self.hidden_size);
        positive("num_hidden_layers", self.num_hidden_layers);
        positive("num_attention_heads", self.num_attention_heads);
        positive("intermediate_size", self.intermediate_size);
        positive("max_position_embeddings", self.max_position_embeddings);
        positive("type_vocab_size", self.type_vocab_size);
        if self.num_attention_heads > 0 && self.hidden_size % self.num_attention_heads != 0 {
            problems.push(format!(
                "`hidden_size` ({}) must be a multiple of `num_attention_heads` ({})",
                self.hidden_size, self.num_attention_heads
            ));
        }
        let probabilities = [
            ("hidden_dropout_prob", Some(self.hidden_dropout_prob)),
            (
                "attention_probs_dropout_prob",
                Some(self.attention_probs_dropout_prob),
            ),
            ("classifier_dropout", self.classifier_dropout),
        ];
        for (name, value) in probabilities {
            if let Some(p) = value {
                if !(0.0..1.0).contains(&p) {
                    problems.push(format!("`{name}` must be in [0, 1), found {p}"));
                }
            }
        }
        if self.layer_norm_eps.is_nan() || self.layer_norm_eps <= 0.0 {
            problems.push(format!(
                "`layer_norm_eps` must be positive, found {}",
                self.layer_norm_eps
            ));
        }
        if self.initializer_range.is_nan() || self.initializer_range < 0.0 {
            problems.push(format!(
                "`initializer_range` must be non-negative, found {}",
                self.initializer_range
            ));
        }
        if self.pad_token_id >= self.vocab_size && self.vocab_size > 0 {
            problems.push(format!(
                "`pad_token_id` ({}) must be below `vocab_size` ({})",
                self.pad_token_id, self.vocab_size
            ));
        }
        if let Some(kind) = self.position_embedding_type.as_deref() {
            if kind != "absolute" {
                problems.push(format!(
                    "`position_embedding_type` {kind:?} is not supported: only \"absolute\" (relative position embeddings are not implemented)"
                ));
            }
        }
        for (key, why) in [
            (
                "is_decoder",
                "causal (decoder) BERT is not implemented; only the bidirectional encoder",
            ),
            (
                "add_cross_attention",
                "cross-attention (encoder-decoder BERT) is not implemented",
            ),
        ] {
            if self.extra.get(key) == Some(&Value::Bool(true)) {
                problems.push(format!("`{key}` true is not supported: {why}"));
            }
        }
        if self.extra.get("tie_word_embeddings") == Some(&Value::Bool(false)) {
            problems.push(
                "`tie_word_embeddings` false is not supported: the masked-LM decoder is always the \
                 word-embedding matrix"
                    .to_string(),
            );
        }
        self.label_problems(&mut problems);
        problems
    }

    fn label_problems(&self, problems: &mut Vec<String>) {
        if let Some(id2label) = &self.id2label {
            let n = id2label.len();
            for key in id2label.keys() {
                match key.parse::<usize>() {
                    Ok(id) if id < n => {}
                    _ => problems.push(format!(
                        "`id2label` key {key:?} must be an id from 0 to {}",
                        n.saturating_sub(1)
                    )),
                }
            }
            if let Some(num_labels) = self.num_labels {
                if num_labels != n {
                    problems.push(format!(
                        "`num_labels` ({num_labels}) disagrees with `id2label` ({n} labels)"
                    ));
                }
            }
            if let Some(label2id) = &self.label2id {
                for (name, &id) in label2id {
                    if id2label.get(&id.to_string()) != Some(name) {
                        problems.push(format!(
                            "`label2id` maps {name:?} to {id}, but `id2label` does not map {id} to {name:?}"
                        ));
                    }
                }
            }
        }
        if self.num_labels() == 0 {
            problems.push("`num_labels` must be at least 1".to_string());
        }
        if let Some(kind) = &self.problem_type {
            let known = [
                "regression",
                "single_label_classification",
                "multi_label_classification",
            ];
            if !known.contains(&kind.as_str()) {
                problems.push(format!(
                    "`problem_type` {kind:?} is not one of {}",
                    known.join(", ")
                ));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<BertConfig, ConfigError> {
        BertConfig::from_json_str(text, Path::new("config.json"))
    }

    #[test]
    fn reads_a_published_config_and_keeps_unknown_keys() {
        // all-MiniLM-L6-v2's config.json.
        let c = parse(
            r#"{"_name_or_path": "nreimers/MiniLM-L6-H384-uncased", "architectures": ["BertModel"],
                "attention_probs_dropout_prob": 0.1, "gradient_checkpointing": false, "hidden_act": "gelu",
                "hidden_dropout_prob": 0.1, "hidden_size": 384, "initializer_range": 0.02,
                "intermediate_size": 1536, "layer_norm_eps": 1e-12, "max_position_embeddings": 512,
                "model_type": "bert", "num_attention_heads": 12, "num_hidden_layers": 6, "pad_token_id": 0,
                "position_embedding_type": "absolute", "transformers_version": "4.8.2", "type_vocab_size": 2,
                "use_cache": true, "vocab_size": 30522}"#,
        )
        .unwrap();
        assert_eq!(c.hidden_size, 384);
        assert_eq!(c.num_hidden_layers, 6);
        assert_eq!(c.head_size(), 32);
        assert_eq!(c.hidden_act, HiddenAct::Gelu);
        assert_eq!(c.layer_norm_eps, 1e-12);
        assert_eq!(
            c.architectures.as_deref(),
            Some(&["BertModel".to_string()][..])
        );
        assert_eq!(c.extra["transformers_version"], "4.8.2");
        // Written back, every key survives.
        let back: Value = serde_json::from_str(&c.to_json()).unwrap();
        assert_eq!(back["use_cache"], true);
        assert_eq!(back["model_type"], "bert");
        assert_eq!(back["hidden_size"], 384);
    }

    #[test]
    fn missing_keys_take_transformers_defaults() {
        let c = parse("{}").unwrap();
        assert_eq!(c, BertConfig::default());
        // transformers 5 leaves position_embedding_type out or null.
        assert_eq!(parse(r#"{"position_embedding_type": null}"#).unwrap(), c);
        assert_eq!(c.num_labels(), 2);
        assert_eq!(c.label_name(1), "LABEL_1");
    }

    #[test]
    fn every_activation_name() {
        for (name, act) in [
            ("gelu", HiddenAct::Gelu),
            ("gelu_new", HiddenAct::GeluNew),
            ("gelu_pytorch_tanh", HiddenAct::GeluPytorchTanh),
            ("relu", HiddenAct::Relu),
            ("silu", HiddenAct::Silu),
            ("swish", HiddenAct::Silu),
        ] {
            let c = parse(&format!(r#"{{"hidden_act": "{name}"}}"#)).unwrap();
            assert_eq!(c.hidden_act, act);
        }
        let e = parse(r#"{"hidden_act": "tanh"}"#).unwrap_err().to_string();
        assert!(e.contains("hidden_act") && e.contains("tanh"), "{e}");
    }

    #[test]
    fn labels_from_id2label() {
        let c =
            parse(r#"{"id2label": {"0": "NEG", "1": "POS"}, "label2id": {"NEG": 0, "POS": 1}}"#)
                .unwrap();
        assert_eq!(c.num_labels(), 2);
        assert_eq!(c.label_name(1), "POS");
        let c = parse(r#"{"num_labels": 1, "problem_type": "regression"}"#).unwrap();
        assert_eq!(c.num_labels(), 1);
    }

    #[test]
    fn every_problem_is_reported_at_once() {
        let e = parse(
            r#"{"hidden_size": 100, "num_attention_heads": 12, "hidden_dropout_prob": 1.5,
                "position_embedding_type": "relative_key", "layer_norm_eps": 0,
                "id2label": {"0": "a", "2": "b"}, "problem_type": "ranking",
                "is_decoder": true, "tie_word_embeddings": false}"#,
        )
        .unwrap_err();
        let ConfigError::Invalid { problems, .. } = &e else {
            panic!("{e}")
        };
        let all = problems.join("\n");
        for field in [
            "hidden_size",
            "hidden_dropout_prob",
            "position_embedding_type",
            "layer_norm_eps",
            "id2label",
            "problem_type",
            "is_decoder",
            "tie_word_embeddings",
        ] {
            assert!(all.contains(field), "{field} missing from:\n{all}");
        }
        assert!(e
            .to_string()
            .starts_with("config.json: invalid configuration"));
    }

    #[test]
    fn wrong_types_name_the_field_and_line() {
        let e = parse("{\n\"hidden_size\": \"big\"\n}")
            .unwrap_err()
            .to_string();
        assert!(e.contains("config.json") && e.contains("line 2"), "{e}");
    }

    #[test]
    fn label_maps_must_agree() {
        let e = parse(r#"{"id2label": {"0": "a", "1": "b"}, "label2id": {"a": 1, "b": 0}}"#)
            .unwrap_err()
            .to_string();
        assert!(e.contains("label2id"), "{e}");
        let e = parse(r#"{"id2label": {"0": "a"}, "num_labels": 3}"#)
            .unwrap_err()
            .to_string();
        assert!(e.contains("num_labels"), "{e}");
    }

    #[test]
    fn missing_file_names_it() {
        let e = BertConfig::from_file("/no/such/config.json").unwrap_err();
        assert!(e.to_string().contains("/no/such/config.json"));
    }
}
