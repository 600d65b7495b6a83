//! Reading tokenizer files in the Hugging Face layout: `vocab.txt`, `tokenizer.json` and
//! `tokenizer_config.json`.

use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

use super::{SpecialTokens, TokenizerError, TokenizerOverrides};

fn read_to_string(path: &Path) -> Result<String, TokenizerError> {
    std::fs::read_to_string(path).map_err(|source| TokenizerError::Io {
        path: path.to_path_buf(),
        source,
    })
}

fn read_json(path: &Path) -> Result<Map<String, Value>, TokenizerError> {
    let text = read_to_string(path)?;
    match serde_json::from_str::<Value>(&text) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(TokenizerError::Json {
            path: path.to_path_buf(),
            message: "expected a JSON object at the top level".to_string(),
        }),
        Err(e) => Err(TokenizerError::Json {
            path: path.to_path_buf(),
            message: e.to_string(),
        }),
    }
}

/// Reads `vocab.txt`: one token per line, the id being the line number (from 0).
pub(crate) fn read_vocab_txt(path: &Path) -> Result<Vec<String>, TokenizerError> {
    let text = read_to_string(path)?;
    let mut tokens: Vec<String> = text
        .split('\n')
        .map(|line| line.strip_suffix('\r').unwrap_or(line).to_string())
        .collect();
    // The newline that ends the last line does not start another token.
    if tokens.last().is_some_and(String::is_empty) {
        tokens.pop();
    }
    if tokens.is_empty() {
        return Err(TokenizerError::EmptyVocab {
            path: path.to_path_buf(),
        });
    }
    Ok(tokens)
}

/// What a `tokenizer.json` says about a BERT WordPiece tokenizer.
#[derive(Debug, Default)]
pub(crate) struct TokenizerJson {
    pub tokens: Vec<String>,
    pub settings: TokenizerOverrides,
    pub unk_token: Option<String>,
    pub continuing_subword_prefix: Option<String>,
    pub max_input_chars_per_word: Option<usize>,
    /// Contents of the added tokens marked special.
    pub special_tokens: Vec<String>,
    pub clean_text: Option<bool>,
}

fn field_error(path: &Path, field: &str, expected: &str) -> TokenizerError {
    TokenizerError::Json {
        path: path.to_path_buf(),
        message: format!("field `{field}` must be {expected}"),
    }
}

fn opt_bool(
    map: &Map<String, Value>,
    key: &str,
    path: &Path,
    prefix: &str,
) -> Result<Option<bool>, TokenizerError> {
    match map.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(_) => Err(field_error(
            path,
            &format!("{prefix}{key}"),
            "true, false or null",
        )),
    }
}

/// A token given as a string or as a serialised `AddedToken` object with a `content` field.
fn opt_token(
    map: &Map<String, Value>,
    key: &str,
    path: &Path,
) -> Result<Option<String>, TokenizerError> {
    match map.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(Value::Object(o)) => match o.get("content") {
            Some(Value::String(s)) => Ok(Some(s.clone())),
            _ => Err(field_error(path, &format!("{key}.content"), "a string")),
        },
        Some(_) => Err(field_error(
            path,
            key,
            "a string or an object with `content`",
        )),
    }
}

/// Reads a `tokenizer.json` whose model is WordPiece and whose normalizer is BERT's.
pub(crate) fn read_tokenizer_json(path: &Path) -> Result<TokenizerJson, TokenizerError> {
    let root = read_json(path)?;
    let model = match root.get("model") {
        Some(Value::Object(m)) => m,
        _ => return Err(field_error(path, "model", "an object")),
    };
    let mut out = wordpiece_model(model, path)?;
    normalizer(&root, &mut out, path)?;
    match root.get("pre_tokenizer") {
        None | Some(Value::Null) => {}
        Some(p) => match p.get("type").and_then(Value::as_str) {
            Some("BertPreTokenizer") => {}
            Some("WhitespaceSplit") => out.settings.do_basic_tokenize = Some(false),
            other => {
                return Err(unsupported(path, format!(
                    "pre_tokenizer.type is {other:?}; only BertPreTokenizer and WhitespaceSplit are supported"
                )))
            }
        },
    }
    out.special_tokens = special_added_tokens(&root, path)?;
    Ok(out)
}

fn unsupported(path: &Path, reason: String) -> TokenizerError {
    TokenizerError::Unsupported {
        path: path.to_path_buf(),
        reason,
    }
}

/// The WordPiece `model` object: vocabulary, unknown token, prefix and word length limit.
fn wordpiece_model(
    model: &Map<String, Value>,
    path: &Path,
) -> Result<TokenizerJson, TokenizerError> {
    match model.get("type").and_then(Value::as_str) {
        Some("WordPiece") | None if model.contains_key("vocab") => {}
        other => {
            return Err(unsupported(
                path,
                format!("model.type is {other:?}; only WordPiece is supported"),
            ))
        }
    }
    let mut out = TokenizerJson {
        tokens: vocab_tokens(model, path)?,
        unk_token: opt_token(model, "unk_token", path)?,
        ..TokenizerJson::default()
    };
    out.continuing_subword_prefix = match model.get("continuing_subword_prefix") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(_) => {
            return Err(field_error(
                path,
                "model.continuing_subword_prefix",
                "a string",
            ))
        }
    };
    out.max_input_chars_per_word = match model.get("max_input_chars_per_word") {
        None | Some(Value::Null) => None,
        Some(v) => Some(v.as_u64().ok_or_else(|| {
            field_error(
                path,
                "model.max_input_chars_per_word",
                "a non-negative integer",
            )
        })? as usize),
    };
    Ok(out)
}

/// The tokens of `model.vocab` in id order; ids must run from 0 without gaps.
fn vocab_tokens(model: &Map<String, Value>, path: &Path) -> Result<Vec<String>, TokenizerError> {
    let vocab = match model.get("vocab") {
        Some(Value::Object(v)) => v,
        _ => return Err(field_error(path, "model.vocab", "an object of token -> id")),
    };
    let mut by_id: Vec<Option<String>> = vec![None; vocab.len()];
    for (token, id) in vocab {
        let id = id
            .as_u64()
            .ok_or_else(|| field_error(path, &format!("model.vocab[{token:?}]"), "an integer id"))?
            as usize;
        if id >= by_id.len() {
            by_id.resize(id + 1, None);
        }
        by_id[id] = Some(token.clone());
    }
    let mut tokens = Vec::with_capacity(by_id.len());
    for (id, token) in by_id.into_iter().enumerate() {
        match token {
            Some(t) => tokens.push(t),
            None => {
                return Err(unsupported(
                    path,
                    format!(
                        "model.vocab has no token with id {id}: ids must run from 0 without gaps"
                    ),
                ))
            }
        }
    }
    if tokens.is_empty() {
        return Err(TokenizerError::EmptyVocab {
            path: path.to_path_buf(),
        });
    }
    Ok(tokens)
}

/// The settings of a `BertNormalizer`; no normalizer at all means none of its steps.
fn normalizer(
    root: &Map<String, Value>,
    out: &mut TokenizerJson,
    path: &Path,
) -> Result<(), TokenizerError> {
    match root.get("normalizer") {
        None | Some(Value::Null) => {
            // No normaliser at all: nothing is cleaned, lowercased or split around CJK.
            out.clean_text = Some(false);
            out.settings.do_lower_case = Some(false);
            out.settings.strip_accents = Some(false);
            out.settings.tokenize_chinese_chars = Some(false);
        }
        Some(Value::Object(n))
            if n.get("type").and_then(Value::as_str) == Some("BertNormalizer") =>
        {
            out.clean_text = opt_bool(n, "clean_text", path, "normalizer.")?;
            out.settings.do_lower_case = opt_bool(n, "lowercase", path, "normalizer.")?;
            out.settings.strip_accents = opt_bool(n, "strip_accents", path, "normalizer.")?;
            out.settings.tokenize_chinese_chars =
                opt_bool(n, "handle_chinese_chars", path, "normalizer.")?;
        }
        Some(other) => {
            return Err(unsupported(
                path,
                format!(
                    "normalizer.type is {:?}; only BertNormalizer is supported",
                    other.get("type").and_then(Value::as_str).unwrap_or("?")
                ),
            ))
        }
    }
    Ok(())
}

/// The contents of the `added_tokens` marked special.
fn special_added_tokens(
    root: &Map<String, Value>,
    path: &Path,
) -> Result<Vec<String>, TokenizerError> {
    let mut special = Vec::new();
    if let Some(Value::Array(added)) = root.get("added_tokens") {
        for (i, token) in added.iter().enumerate() {
            let content = token
                .get("content")
                .and_then(Value::as_str)
                .ok_or_else(|| {
                    field_error(path, &format!("added_tokens[{i}].content"), "a string")
                })?;
            if token
                .get("special")
                .and_then(Value::as_bool)
                .unwrap_or(false)
            {
                special.push(content.to_string());
            }
        }
    }
    Ok(special)
}

/// What a `tokenizer_config.json` says.
#[derive(Debug, Default)]
pub(crate) struct TokenizerConfig {
    pub settings: TokenizerOverrides,
    pub never_split: Option<Vec<String>>,
    pub specials: SpecialTokenOverrides,
    pub clean_up_tokenization_spaces: Option<bool>,
    pub model_max_length: Option<usize>,
}

/// Special tokens named in a configuration file.
#[derive(Debug, Default)]
pub(crate) struct SpecialTokenOverrides {
    pub unk: Option<String>,
    pub sep: Option<String>,
    pub pad: Option<String>,
    pub cls: Option<String>,
    pub mask: Option<String>,
}

impl SpecialTokenOverrides {
    pub(crate) fn apply(&self, specials: &mut SpecialTokens) {
        let pairs = [
            (&self.unk, &mut specials.unk),
            (&self.sep, &mut specials.sep),
            (&self.pad, &mut specials.pad),
            (&self.cls, &mut specials.cls),
            (&self.mask, &mut specials.mask),
        ];
        for (given, slot) in pairs {
            if let Some(t) = given {
                *slot = t.clone();
            }
        }
    }
}

/// Reads `tokenizer_config.json`. Keys we do not use are ignored (transformers writes many);
/// keys we use must have the right type.
pub(crate) fn read_tokenizer_config(path: &Path) -> Result<TokenizerConfig, TokenizerError> {
    let root = read_json(path)?;
    let mut config = TokenizerConfig::default();
    config.settings.do_lower_case = opt_bool(&root, "do_lower_case", path, "")?;
    config.settings.strip_accents = opt_bool(&root, "strip_accents", path, "")?;
    config.settings.tokenize_chinese_chars = opt_bool(&root, "tokenize_chinese_chars", path, "")?;
    config.settings.do_basic_tokenize = opt_bool(&root, "do_basic_tokenize", path, "")?;
    config.clean_up_tokenization_spaces =
        opt_bool(&root, "clean_up_tokenization_spaces", path, "")?;
    config.never_split = match root.get("never_split") {
        None | Some(Value::Null) => None,
        Some(Value::Array(items)) => Some(
            items
                .iter()
                .map(|v| v.as_str().map(str::to_string))
                .collect::<Option<Vec<_>>>()
                .ok_or_else(|| field_error(path, "never_split", "a list of strings"))?,
        ),
        Some(_) => {
            return Err(field_error(
                path,
                "never_split",
                "a list of strings or null",
            ))
        }
    };
    config.model_max_length = match root.get("model_max_length") {
        Some(v) => v.as_u64().map(|n| n as usize),
        None => None,
    };
    config.specials = SpecialTokenOverrides {
        unk: opt_token(&root, "unk_token", path)?,
        sep: opt_token(&root, "sep_token", path)?,
        pad: opt_token(&root, "pad_token", path)?,
        cls: opt_token(&root, "cls_token", path)?,
        mask: opt_token(&root, "mask_token", path)?,
    };
    Ok(config)
}

/// The tokenizer files of a model directory.
pub(crate) struct ModelFiles {
    pub vocab_txt: Option<PathBuf>,
    pub tokenizer_json: Option<PathBuf>,
    pub tokenizer_config: Option<PathBuf>,
}

impl ModelFiles {
    pub(crate) fn find(dir: &Path) -> Result<ModelFiles, TokenizerError> {
        let existing = |name: &str| {
            let p = dir.join(name);
            p.is_file().then_some(p)
        };
        let files = ModelFiles {
            vocab_txt: existing("vocab.txt"),
            tokenizer_json: existing("tokenizer.json"),
            tokenizer_config: existing("tokenizer_config.json"),
        };
        if files.vocab_txt.is_none() && files.tokenizer_json.is_none() {
            return Err(TokenizerError::NoVocab {
                dir: dir.to_path_buf(),
                looked: vec![dir.join("vocab.txt"), dir.join("tokenizer.json")],
            });
        }
        Ok(files)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
        let p = dir.join(name);
        std::fs::write(&p, text).unwrap();
        p
    }

    fn temp_dir(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("bert-data-files-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn vocab_txt_ids_are_line_numbers() {
        let d = temp_dir("vocab");
        let p = write(&d, "vocab.txt", "[PAD]\r\n[UNK]\n\nhello\n");
        assert_eq!(read_vocab_txt(&p).unwrap(), ["[PAD]", "[UNK]", "", "hello"]);
        let empty = write(&d, "empty.txt", "");
        assert!(matches!(
            read_vocab_txt(&empty),
            Err(TokenizerError::EmptyVocab { .. })
        ));
    }

    #[test]
    fn tokenizer_json_gives_vocab_and_normalizer() {
        let d = temp_dir("tj");
        let p = write(
            &d,
            "tokenizer.json",
            r###"{"added_tokens":[{"id":0,"content":"[UNK]","special":true}],
                "normalizer":{"type":"BertNormalizer","clean_text":true,"handle_chinese_chars":false,"strip_accents":null,"lowercase":false},
                "pre_tokenizer":{"type":"BertPreTokenizer"},
                "model":{"type":"WordPiece","unk_token":"[UNK]","continuing_subword_prefix":"##","max_input_chars_per_word":100,
                         "vocab":{"[UNK]":0,"a":1,"##b":2}}}"###,
        );
        let tj = read_tokenizer_json(&p).unwrap();
        assert_eq!(tj.tokens, ["[UNK]", "a", "##b"]);
        assert_eq!(tj.settings.do_lower_case, Some(false));
        assert_eq!(tj.settings.tokenize_chinese_chars, Some(false));
        assert_eq!(tj.settings.strip_accents, None);
        assert_eq!(tj.special_tokens, ["[UNK]"]);
        assert_eq!(tj.max_input_chars_per_word, Some(100));
    }

    #[test]
    fn tokenizer_json_errors_name_the_field() {
        let d = temp_dir("tjbad");
        let p = write(&d, "bpe.json", r#"{"model":{"type":"BPE","vocab":{}}}"#);
        let e = read_tokenizer_json(&p).unwrap_err().to_string();
        assert!(e.contains("model.type") && e.contains("BPE"), "{e}");
        let p = write(
            &d,
            "gap.json",
            r#"{"model":{"type":"WordPiece","vocab":{"a":0,"b":2}}}"#,
        );
        let e = read_tokenizer_json(&p).unwrap_err().to_string();
        assert!(e.contains("id 1"), "{e}");
        let p = write(&d, "notjson.json", "{");
        let e = read_tokenizer_json(&p).unwrap_err().to_string();
        assert!(e.contains("notjson.json") && e.contains("line 1"), "{e}");
    }

    #[test]
    fn tokenizer_config_reads_options_and_rejects_wrong_types() {
        let d = temp_dir("tc");
        let p = write(
            &d,
            "tokenizer_config.json",
            r#"{"do_lower_case": false, "strip_accents": null, "never_split": ["[X]"],
                "unk_token": {"__type": "AddedToken", "content": "<unk>"}, "anything_else": 3}"#,
        );
        let c = read_tokenizer_config(&p).unwrap();
        assert_eq!(c.settings.do_lower_case, Some(false));
        assert_eq!(c.settings.strip_accents, None);
        assert_eq!(c.never_split, Some(vec!["[X]".to_string()]));
        assert_eq!(c.specials.unk.as_deref(), Some("<unk>"));
        let bad = write(&d, "bad.json", r#"{"do_lower_case": "yes"}"#);
        let e = read_tokenizer_config(&bad).unwrap_err().to_string();
        assert!(e.contains("do_lower_case"), "{e}");
    }
}
