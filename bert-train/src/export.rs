//! Writing a model directory that transformers loads: config.json, model.safetensors,
//! vocab.txt, tokenizer_config.json and special_tokens_map.json.

use std::path::Path;

use bert_data::BertTokenizer;
use bert_model::write_text_atomically;
use serde_json::{json, Value};

use crate::TrainError;

/// Writes the tokenizer files of `tokenizer` into `dir` (which must exist), each atomically.
pub fn write_tokenizer(
    tokenizer: &BertTokenizer,
    dir: &Path,
    max_len: usize,
) -> Result<(), TrainError> {
    let mut vocab = tokenizer.vocab().join("\n");
    vocab.push('\n');
    write_text_atomically(&dir.join("vocab.txt"), &vocab)?;
    let specials = tokenizer.special_tokens();
    let options = tokenizer.options();
    let map = json!({
        "unk_token": specials.unk,
        "sep_token": specials.sep,
        "pad_token": specials.pad,
        "cls_token": specials.cls,
        "mask_token": specials.mask,
    });
    let mut config = json!({
        "tokenizer_class": "BertTokenizer",
        "do_lower_case": options.do_lower_case,
        "strip_accents": options.strip_accents,
        "tokenize_chinese_chars": options.tokenize_chinese_chars,
        "do_basic_tokenize": options.do_basic_tokenize,
        "never_split": options.never_split,
        "clean_up_tokenization_spaces": options.clean_up_tokenization_spaces,
        "model_max_length": tokenizer.model_max_length().unwrap_or(max_len),
    });
    if let (Value::Object(c), Value::Object(m)) = (&mut config, &map) {
        for (k, v) in m {
            c.insert(k.clone(), v.clone());
        }
    }
    let pretty = |v: &Value| serde_json::to_string_pretty(v).expect("JSON values serialise");
    write_text_atomically(&dir.join("tokenizer_config.json"), &pretty(&config))?;
    write_text_atomically(&dir.join("special_tokens_map.json"), &pretty(&map))?;
    Ok(())
}
