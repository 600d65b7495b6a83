//! The config reference (`bert-train config --keys`, `docs/CONFIG.md`), generated from the
//! declarations: each key's type, default and doc comment come from the serde structs' JSON
//! schemas, so the reference cannot drift from the code.

use serde_json::Value as Json;
use toml::Table;

use super::read::{properties, resolve, schema_of};
use super::{DataConfig, ModelTable, TaskKeys, TrainingConfig};

/// One documented key.
#[derive(Debug, Clone, PartialEq)]
pub struct Key {
    /// Its dotted path (`data.text_column`).
    pub path: String,
    /// What it takes (`integer`, `"linear" | "cosine"`, ...).
    pub kind: String,
    /// Its default as TOML writes it, `required`, or `unset`.
    pub default: String,
    /// Its doc comment, on one line.
    pub doc: String,
}

/// Every key of the struct whose schema is `schema` (within `root`), at `prefix`; nested
/// structs are listed key by key. `skip` names keys listed elsewhere.
fn keys(root: &Json, schema: &Json, prefix: &str, skip: &[&str]) -> Vec<Key> {
    let mut out = Vec::new();
    for (name, field) in properties(root, schema, &Table::new()) {
        if skip.contains(&name.as_str()) {
            continue;
        }
        let path = format!("{prefix}{name}");
        let nested = properties(root, &field, &Table::new());
        if !nested.is_empty() && resolve(root, &field).get("additionalProperties").is_none() {
            out.extend(keys(root, &field, &format!("{path}."), &[]));
            continue;
        }
        out.push(Key {
            path,
            kind: kind(root, &field),
            default: default(&field),
            doc: one_line(field.get("description")),
        });
    }
    out
}

/// What a value of `schema` is, in a config's words.
fn kind(root: &Json, schema: &Json) -> String {
    let schema = resolve(root, schema);
    for list in ["oneOf", "anyOf"] {
        if let Some(options) = schema.get(list).and_then(Json::as_array) {
            let kinds: Vec<String> = options
                .iter()
                .filter(|o| o.get("type").and_then(Json::as_str) != Some("null"))
                .map(|o| kind(root, o))
                .collect();
            return kinds.join(" \\| ");
        }
    }
    if let Some(value) = schema.get("const") {
        return format!("`{value}`");
    }
    if let Some(values) = schema.get("enum").and_then(Json::as_array) {
        let names: Vec<String> = values.iter().map(|v| format!("`{v}`")).collect();
        return names.join(" \\| ");
    }
    let types: Vec<&str> = match schema.get("type") {
        Some(Json::String(t)) => vec![t.as_str()],
        Some(Json::Array(ts)) => ts.iter().filter_map(Json::as_str).collect(),
        _ => vec![],
    };
    match types.iter().find(|t| **t != "null") {
        Some(&"array") => {
            let item = schema
                .get("items")
                .map_or("value".into(), |i| kind(root, i));
            format!("array of {item}")
        }
        Some(&"object") => "table".into(),
        Some(t) => t.to_string(),
        None => "value".into(),
    }
}

/// The default of a field: TOML's spelling, `unset` for none, `required` for an empty path.
fn default(field: &Json) -> String {
    match field.get("default") {
        None | Some(Json::Null) => "unset".into(),
        Some(Json::String(s)) if s.is_empty() => "required".into(),
        Some(Json::Number(n)) if n.is_f64() => {
            let x = n.as_f64().unwrap_or_default();
            if x != 0.0 && x.abs() < 1e-3 {
                format!("{x:e}")
            } else {
                format!("{x:?}")
            }
        }
        Some(value) => toml::Value::try_from(value).map_or(value.to_string(), |v| v.to_string()),
    }
}

fn one_line(text: Option<&Json>) -> String {
    let text = text.and_then(Json::as_str).unwrap_or_default();
    text.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .replace('|', "\\|")
}

/// The keys every task has: top level, `[model]`, `[data]`, `[training]`.
pub fn common_keys() -> Vec<Key> {
    let mut out = vec![
        Key {
            path: "task".into(),
            kind: "string".into(),
            default: "required".into(),
            doc: "The task: one of the names below.".into(),
        },
        Key {
            path: "model".into(),
            kind: "string \\| table".into(),
            default: "required".into(),
            doc: "A model directory or hub id to start from; short for `[model] pretrained = \
                  \"...\"`."
                .into(),
        },
        Key {
            path: "output_dir".into(),
            kind: "string".into(),
            default: "required".into(),
            doc: "Where checkpoints, metrics and the final model go.".into(),
        },
    ];
    out.extend(struct_keys::<ModelTable>("model."));
    out.extend(struct_keys::<DataConfig>("data."));
    out.extend(struct_keys::<TrainingConfig>("training."));
    out
}

/// The keys of the struct `S` at `prefix`.
pub fn struct_keys<S: schemars::JsonSchema>(prefix: &str) -> Vec<Key> {
    let root = schema_of::<S>();
    keys(&root, &root, prefix, &[])
}

/// Each task of `T`: its name, its doc comment and its own keys.
pub fn task_keys<T: TaskKeys>() -> Vec<(String, String, Vec<Key>)> {
    let root = schema_of::<T>();
    let variants = root.get("oneOf").and_then(Json::as_array).cloned();
    let mut out = Vec::new();
    for variant in variants.unwrap_or_default() {
        let tag = variant
            .get("properties")
            .and_then(|p| p.get("task"))
            .and_then(|t| t.get("const"))
            .and_then(Json::as_str)
            .unwrap_or_default()
            .to_string();
        let doc = one_line(variant.get("description"));
        out.push((tag, doc, keys(&root, &variant, "", &["task"])));
    }
    out
}

fn table(keys: &[Key]) -> String {
    let mut out = String::from("| key | type | default | meaning |\n|---|---|---|---|\n");
    for k in keys {
        out.push_str(&format!(
            "| `{}` | {} | {} | {} |\n",
            k.path, k.kind, k.default, k.doc
        ));
    }
    out
}

/// The whole reference as Markdown (`docs/CONFIG.md`).
pub fn markdown<T: TaskKeys>() -> String {
    let mut out = String::from(
        "# Configuration reference\n\n\
         Generated by `bert-train config --keys` from the structs that read the config; \
         `cargo test` fails when this file differs from what they generate. \
         Regenerate it with `bert-train config --keys > docs/CONFIG.md`.\n\n\
         A config is one TOML file: `task`, `model` and `output_dir` at the top, then the \
         tables `[data]` and `[training]` (and `[model]` for a model trained from scratch). \
         Any key can be replaced from the command line: `--set training.learning_rate=3e-5`.\n\n\
         ## Keys of every task\n\n",
    );
    out.push_str(&table(&common_keys()));
    out.push_str("\n## Keys of each task\n\nThese sit beside the keys above: at the top, or in `[data]` as `data.` says.\n");
    for (name, doc, keys) in task_keys::<T>() {
        out.push_str(&format!("\n### `task = \"{name}\"`\n\n{doc}\n\n"));
        out.push_str(&table(&keys));
    }
    out
}
