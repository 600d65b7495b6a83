//! `model`: the checkpoint to start from, or the architecture of a model trained from scratch.

use std::path::Path;

use bert_model::BertConfig;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value as Json};
use toml::Value;

use super::read::read;

/// The keys of a `[model]` table. `model = "NAME"` is short for `[model] pretrained = "NAME"`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default)]
pub struct ModelTable {
    /// A model directory in the HF layout, or a hub id, to start from.
    pub pretrained: Option<String>,
    /// Keys of config.json: with `pretrained`, the ones to replace (`{ hidden_dropout_prob =
    /// 0.0 }`); without it, the architecture of a model trained from scratch.
    pub config: Option<Map<String, Json>>,
    /// Without `pretrained`: the model directory or vocab.txt whose tokenizer to use.
    pub tokenizer: Option<String>,
}

/// Where the model comes from.
#[derive(Debug, Clone, PartialEq)]
pub enum ModelSource {
    /// A pretrained checkpoint: a directory in the HF layout or a hub id, with keys of its
    /// config.json replaced by `overrides`.
    Pretrained {
        /// The directory or hub id.
        name: String,
        /// config.json keys to replace.
        overrides: Map<String, Json>,
    },
    /// Random initialisation from a config, with the tokenizer of a model directory or a
    /// `vocab.txt`.
    Random {
        /// The architecture.
        config: Box<BertConfig>,
        /// A model directory or a vocab.txt.
        tokenizer: String,
    },
}

impl ModelSource {
    /// A pretrained model by directory or hub id, config.json as it is.
    pub fn pretrained(name: impl Into<String>) -> Self {
        ModelSource::Pretrained {
            name: name.into(),
            overrides: Map::new(),
        }
    }

    /// Reads `model` (a string or a table), noting every problem.
    pub fn read(value: Option<Value>, problems: &mut Vec<String>) -> Option<Self> {
        let table = match value {
            Some(Value::String(name)) => return Some(ModelSource::pretrained(name)),
            Some(Value::Table(t)) => t,
            Some(other) => {
                problems.push(format!(
                    "`model`: expected a path or hub id, or a [model] table, found {}",
                    other.type_str()
                ));
                return None;
            }
            None => {
                problems.push("`model`: missing (required)".into());
                return None;
            }
        };
        let table: ModelTable = read(table, "model.", &[], problems)?;
        Self::from_table(table, problems)
    }

    fn from_table(table: ModelTable, problems: &mut Vec<String>) -> Option<Self> {
        let ModelTable {
            pretrained,
            config,
            tokenizer,
        } = table;
        let Some(name) = pretrained else {
            return Self::random(config, tokenizer, problems);
        };
        let before = problems.len();
        if tokenizer.is_some() {
            problems.push("`model.tokenizer`: not with `pretrained`, which brings its own".into());
        }
        let overrides = config.unwrap_or_default();
        for (key, value) in &overrides {
            if let Some(problem) = override_problem(key, value) {
                problems.push(format!("`model.config.{key}`: {problem}"));
            }
        }
        (problems.len() == before).then_some(ModelSource::Pretrained { name, overrides })
    }

    fn random(
        config: Option<Map<String, Json>>,
        tokenizer: Option<String>,
        problems: &mut Vec<String>,
    ) -> Option<Self> {
        if tokenizer.is_none() {
            problems.push("`model.tokenizer`: missing (required without `pretrained`)".into());
        }
        let Some(config) = config else {
            problems.push("`model.config`: missing (a table of config.json keys)".into());
            return None;
        };
        let json = Json::Object(config).to_string();
        match BertConfig::from_json_str(&json, Path::new("[model.config]")) {
            Ok(config) => Some(ModelSource::Random {
                config: Box::new(config),
                tokenizer: tokenizer?,
            }),
            Err(e) => {
                problems.push(format!("`model.config`: {e}"));
                None
            }
        }
    }

    /// The source as the file writes it: `"NAME"`, or a `[model]` table.
    pub fn to_toml(&self) -> Value {
        let table = match self {
            ModelSource::Pretrained { name, overrides } if overrides.is_empty() => {
                return Value::String(name.clone())
            }
            ModelSource::Pretrained { name, overrides } => ModelTable {
                pretrained: Some(name.clone()),
                config: Some(overrides.clone()),
                tokenizer: None,
            },
            ModelSource::Random { config, tokenizer } => ModelTable {
                pretrained: None,
                // TOML has no null: a key without a value is left out.
                config: serde_json::to_value(config).ok().and_then(|v| {
                    let keys = v.as_object()?.iter();
                    Some(
                        keys.filter(|(_, v)| !v.is_null())
                            .map(|(k, v)| (k.clone(), v.clone()))
                            .collect(),
                    )
                }),
                tokenizer: Some(tokenizer.clone()),
            },
        };
        Value::try_from(table).unwrap_or(Value::Table(Default::default()))
    }
}

/// Why `key = value` cannot override a pretrained model's config.json, if it cannot: a key
/// BertConfig does not know (a typo would change nothing), a value of the wrong type, or a key
/// the task sets itself.
fn override_problem(key: &str, value: &Json) -> Option<String> {
    let set_by_task = [
        "num_labels",
        "id2label",
        "label2id",
        "problem_type",
        "architectures",
    ];
    if set_by_task.contains(&key) {
        return Some("set by the task (labels from the data, `problem_type` at the top)".into());
    }
    match serde_json::from_value::<BertConfig>(serde_json::json!({ key: value })) {
        Err(e) => Some(e.to_string()),
        Ok(parsed) if !parsed.extra.is_empty() => {
            Some("not a key of BERT's config.json (hidden_dropout_prob, ...)".into())
        }
        Ok(_) => None,
    }
}
