//! Reading a serde struct from a TOML table while noting every problem at once.
//!
//! serde stops at the first error; a config should report them all. [`read`] walks the table
//! along the struct's JSON schema (derived with `schemars`, so it knows the keys from the same
//! declarations as serde): a key the struct lacks is reported with the closest valid one, and
//! every other value is tried on its own, so that each value that does not fit its field is
//! reported and leaves that field at its default.

use schemars::JsonSchema;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value as Json};
use toml::{Table, Value};

use super::ConfigError;

/// The checks serde cannot make: ranges, and keys that depend on each other.
pub trait Validate {
    /// Every problem, each naming its key path (`training.learning_rate`).
    fn problems(&self) -> Vec<String>;
}

/// The JSON schema of `T`, as generated from its serde declarations.
pub fn schema_of<T: JsonSchema>() -> Json {
    serde_json::to_value(schemars::schema_for!(T)).unwrap_or_default()
}

/// Follows `$ref` links of `schema` inside `root`.
pub fn resolve<'a>(root: &'a Json, schema: &'a Json) -> &'a Json {
    match schema.get("$ref").and_then(Json::as_str) {
        Some(link) => link
            .strip_prefix("#/$defs/")
            .and_then(|name| root.get("$defs")?.get(name))
            .map_or(schema, |target| resolve(root, target)),
        None => schema,
    }
}

/// The keys of the struct that `schema` describes, with their schemas; for an enum tagged by
/// a key (`task = "..."`), those of the variant that `table` names.
pub fn properties(root: &Json, schema: &Json, table: &Table) -> Map<String, Json> {
    let mut out = Map::new();
    if let Some(own) = schema.get("properties").and_then(Json::as_object) {
        out.extend(own.iter().map(|(k, v)| (k.clone(), v.clone())));
    }
    if schema.get("$ref").is_some() {
        let target = resolve(root, schema);
        if !std::ptr::eq(target, schema) {
            out.extend(properties(root, target, table));
        }
    }
    if let Some(variants) = schema.get("oneOf").and_then(Json::as_array) {
        if let Some(variant) = variants.iter().find(|v| variant_matches(v, table)) {
            out.extend(properties(root, variant, table));
        }
    }
    out
}

/// Whether `variant` (one `oneOf` branch) is the one whose tag `table` holds.
fn variant_matches(variant: &Json, table: &Table) -> bool {
    let Some(own) = variant.get("properties").and_then(Json::as_object) else {
        return false;
    };
    own.iter().any(|(key, schema)| {
        let tag = schema.get("const").and_then(Json::as_str);
        tag.is_some() && table.get(key).and_then(Value::as_str) == tag
    })
}

/// The tag key of an enum schema (`task`), if `schema` is one.
fn tag_key(root: &Json, schema: &Json) -> Option<String> {
    let variants = resolve(root, schema).get("oneOf")?.as_array()?;
    let own = variants.first()?.get("properties")?.as_object()?;
    own.iter()
        .find(|(_, s)| s.get("const").is_some())
        .map(|(k, _)| k.clone())
}

/// Reads a `T` from `table`, whose keys sit under `prefix` (`"training."`, `""` at the top),
/// noting each problem in `problems`: a value that does not fit leaves its field at the
/// default; `None` only when the tag of an enum names no variant. An unknown key is
/// suggested the closest of the struct's keys at its place, or of `also_valid`'s keys for
/// that place (`""` the table itself, `"data"` its `data` table): keys another struct reads
/// from the same table of the file.
pub fn read<T: DeserializeOwned + JsonSchema>(
    table: Table,
    prefix: &str,
    also_valid: &[(&str, Vec<String>)],
    problems: &mut Vec<String>,
) -> Option<T> {
    let root = schema_of::<T>();
    let mut base = Table::new();
    if let Some(tag) = tag_key(&root, &root) {
        // The tag alone decides the variant: read it first, and stop if it is not one.
        if let Some(value) = table.get(&tag) {
            base.insert(tag.clone(), value.clone());
            if let Err(e) = Value::Table(base.clone()).try_into::<T>() {
                problems.push(format!("`{prefix}{tag}`: {}", plain(&e.to_string())));
                return None;
            }
        }
    }
    let mut walk = Walk {
        root: &root,
        base: &base,
        also_valid,
        problems,
    };
    let good = walk.table::<T>(&root, table, &mut Vec::new(), prefix);
    match Value::Table(good).try_into::<T>() {
        Ok(value) => Some(value),
        Err(e) => {
            problems.push(format!(
                "`{}`: {}",
                prefix.trim_end_matches('.'),
                plain(&e.to_string())
            ));
            None
        }
    }
}

/// One pass over a table: what [`read`] keeps while it descends.
struct Walk<'a> {
    root: &'a Json,
    base: &'a Table,
    also_valid: &'a [(&'a str, Vec<String>)],
    problems: &'a mut Vec<String>,
}

impl Walk<'_> {
    /// The keys of `table` (at `path` below the root) that fit, each tried on its own.
    fn table<T: DeserializeOwned>(
        &mut self,
        schema: &Json,
        table: Table,
        path: &mut Vec<String>,
        prefix: &str,
    ) -> Table {
        let keys = properties(self.root, schema, &self.tagged(&table, path));
        let mut good = Table::new();
        for (key, value) in table {
            let name = format!("{prefix}{}{key}", dotted(path));
            let Some(field) = keys.get(&key) else {
                let mut valid: Vec<String> = keys.keys().cloned().collect();
                let here = path.join(".");
                for (place, keys) in self.also_valid {
                    if *place == here {
                        valid.extend(keys.iter().cloned());
                    }
                }
                self.problems.push(unknown_key(&name, &key, &valid));
                continue;
            };
            let nested = !properties(self.root, field, &Table::new()).is_empty();
            let kept = match value {
                Value::Table(inner) if nested => {
                    path.push(key.clone());
                    let inner = self.table::<T>(field, inner, path, prefix);
                    path.pop();
                    Some(Value::Table(inner))
                }
                value => self.try_alone::<T>(path, &key, value, &name),
            };
            if let Some(value) = kept {
                good.insert(key, value);
            }
        }
        good
    }

    /// `table` with the tag of the root enum, when `path` is the root (to pick the variant).
    fn tagged(&self, table: &Table, path: &[String]) -> Table {
        let mut out = table.clone();
        if path.is_empty() {
            out.extend(self.base.clone());
        }
        out
    }

    /// `value` if a `T` with only it (and the tag) set deserializes.
    fn try_alone<T: DeserializeOwned>(
        &mut self,
        path: &[String],
        key: &str,
        value: Value,
        name: &str,
    ) -> Option<Value> {
        let mut alone = Table::new();
        alone.insert(key.to_string(), value.clone());
        for part in path.iter().rev() {
            let mut outer = Table::new();
            outer.insert(part.clone(), Value::Table(alone));
            alone = outer;
        }
        alone.extend(self.base.clone());
        match Value::Table(alone).try_into::<T>() {
            Ok(_) => Some(value),
            Err(e) => {
                self.problems
                    .push(format!("`{name}`: {}", plain(&e.to_string())));
                None
            }
        }
    }
}

fn dotted(path: &[String]) -> String {
    path.iter().map(|p| format!("{p}.")).collect()
}

/// A serde message in the words of a config file: its first line, as "expected X, found Y",
/// with Rust's type names replaced by what a TOML value is.
pub fn plain(message: &str) -> String {
    let first = message.lines().next().unwrap_or(message).trim();
    let wrong = first
        .strip_prefix("invalid type: ")
        .or_else(|| first.strip_prefix("invalid value: "))
        .and_then(|rest| rest.split_once(", expected "));
    let Some((found, expected)) = wrong else {
        return first.to_string();
    };
    let expected = match expected {
        "usize" | "u64" | "u32" | "u16" | "u8" => "a non-negative integer",
        "f64" | "f32" => "a number",
        "a boolean" => "true or false",
        "a borrowed string" => "a string",
        other => other,
    };
    format!("expected {expected}, found {found}")
}

/// The message for a key that is not valid here: the closest valid key when one is near,
/// else the list.
pub fn unknown_key(name: &str, key: &str, valid: &[String]) -> String {
    let closest = valid
        .iter()
        .map(|v| (edit_distance(key, v), v))
        .filter(|(d, v)| *d <= 2.max(v.len() / 3))
        .min_by_key(|(d, _)| *d);
    match closest {
        Some((_, v)) => {
            let place = name.strip_suffix(key).unwrap_or_default();
            format!("unknown key `{name}`; did you mean `{place}{v}`?")
        }
        None => {
            let mut sorted = valid.to_vec();
            sorted.sort();
            sorted.dedup();
            format!(
                "unknown key `{name}`; valid keys here: {}",
                sorted.join(", ")
            )
        }
    }
}

/// Levenshtein distance between two keys.
pub fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let next = (diagonal + usize::from(ca != *cb))
                .min(row[j] + 1)
                .min(row[j + 1] + 1);
            diagonal = row[j + 1];
            row[j + 1] = next;
        }
    }
    row[b.len()]
}

/// Deserializes a list of label names, numbers taken as their text (`labels = [0, 1]`).
pub fn label_names<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<Vec<String>>, D::Error> {
    #[derive(serde::Deserialize)]
    #[serde(untagged)]
    enum Name {
        Text(String),
        Number(i64),
    }
    let names: Option<Vec<Name>> = serde::Deserialize::deserialize(deserializer)?;
    Ok(names.map(|names| {
        names
            .into_iter()
            .map(|n| match n {
                Name::Text(t) => t,
                Name::Number(i) => i.to_string(),
            })
            .collect()
    }))
}

/// Takes the table `key` out of `table` (empty when absent); a value that is not a table is
/// a problem.
pub fn take_table(table: &mut Table, key: &str, problems: &mut Vec<String>) -> Table {
    match table.remove(key) {
        None => Table::new(),
        Some(Value::Table(t)) => t,
        Some(other) => {
            problems.push(format!(
                "`{key}`: expected a table, found {}",
                other.type_str()
            ));
            Table::new()
        }
    }
}

/// Applies `key=value` overrides (`training.learning_rate=3e-5`, `output_dir=runs/x`): the value
/// is read as TOML, or taken as a string when it is not TOML (`device=cpu`).
pub fn apply_overrides(table: &mut Table, overrides: &[String]) -> Result<(), ConfigError> {
    for item in overrides {
        let Some((key, raw)) = item.split_once('=') else {
            return Err(ConfigError::Override(item.clone()));
        };
        let parts: Vec<&str> = key.trim().split('.').collect();
        if parts.iter().any(|p| p.is_empty()) {
            return Err(ConfigError::Override(item.clone()));
        }
        if !set_key(table, &parts, toml_value(raw.trim())) {
            return Err(ConfigError::Override(item.clone()));
        }
    }
    Ok(())
}

/// `raw` read as a TOML value, or as a string when it is not one.
pub fn toml_value(raw: &str) -> Value {
    match format!("v = {raw}").parse::<Table>() {
        Ok(mut t) => t.remove("v").unwrap_or(Value::String(raw.to_string())),
        Err(_) => Value::String(raw.to_string()),
    }
}

/// Sets the key at the dotted path `parts` (tables made as needed); `false` when a non-table
/// value is in the way. `model = "name"` becomes `[model] pretrained = "name"` when a key under
/// `model` is set.
pub fn set_key(table: &mut Table, parts: &[&str], value: Value) -> bool {
    let Some((last, parents)) = parts.split_last() else {
        return false;
    };
    let mut current = table;
    for part in parents {
        let entry = current
            .entry(part.to_string())
            .or_insert_with(|| Value::Table(Table::new()));
        if let (Value::String(name), true) = (&*entry, *part == "model") {
            let mut promoted = Table::new();
            promoted.insert("pretrained".to_string(), Value::String(name.clone()));
            *entry = Value::Table(promoted);
        }
        current = match entry {
            Value::Table(t) => t,
            _ => return false,
        };
    }
    current.insert(last.to_string(), value);
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn edit_distance_counts_edits() {
        assert_eq!(edit_distance("learnig_rate", "learning_rate"), 1);
        assert_eq!(edit_distance("epoch", "epochs"), 1);
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(edit_distance("batch-size", "batch_size"), 1);
    }

    #[test]
    fn unknown_keys_get_the_closest_or_the_list() {
        let valid = ["epochs".to_string(), "batch_size".to_string()];
        assert_eq!(
            unknown_key("training.epoch", "epoch", &valid),
            "unknown key `training.epoch`; did you mean `training.epochs`?"
        );
        assert_eq!(
            unknown_key("training.lr", "lr", &valid),
            "unknown key `training.lr`; valid keys here: batch_size, epochs"
        );
    }

    #[test]
    fn serde_messages_read_as_toml_words() {
        assert_eq!(
            plain("invalid type: string \"big\", expected usize\nin `batch_size`\n"),
            "expected a non-negative integer, found string \"big\""
        );
    }
}
