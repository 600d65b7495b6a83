//! Parity with transformers' BertTokenizer on the golden fixtures of
//! `tests/fixtures/tokenizer/` (made by `make_fixtures.py` there), token for token and offset
//! for offset, for every option set.
//!
//! Needs the uncased vocabulary of all-MiniLM-L6-v2: `scripts/fetch-assets.sh` puts it in
//! `~/.cache/bert-rs/all-MiniLM-L6-v2`; `BERT_MINILM_DIR` points elsewhere.

use std::path::PathBuf;

use bert_data::tokenizer::{
    BertTokenizer, PieceIds, TokenizerOptions, Truncation, TruncationStrategy,
};
use serde_json::Value;

fn model_dir() -> PathBuf {
    let dir = match std::env::var_os("BERT_MINILM_DIR") {
        Some(d) => PathBuf::from(d),
        None => {
            let cache = std::env::var_os("BERT_RS_CACHE")
                .map(PathBuf::from)
                .unwrap_or_else(|| {
                    PathBuf::from(std::env::var_os("HOME").expect("HOME is set"))
                        .join(".cache/bert-rs")
                });
            cache.join("all-MiniLM-L6-v2")
        }
    };
    assert!(
        dir.join("vocab.txt").is_file(),
        "{} has no vocab.txt: run scripts/fetch-assets.sh (or set BERT_MINILM_DIR)",
        dir.display()
    );
    dir
}

fn fixture(name: &str) -> Vec<Value> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/tokenizer")
        .join(name);
    std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn tokenizer(options: TokenizerOptions) -> BertTokenizer {
    BertTokenizer::from_vocab_file(model_dir().join("vocab.txt"), options).unwrap()
}

fn u32s(v: &Value) -> Vec<u32> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_u64().unwrap() as u32)
        .collect()
}

fn flat_offsets(offsets: &[(usize, usize)]) -> Vec<u32> {
    offsets
        .iter()
        .flat_map(|&(s, e)| [s as u32, e as u32])
        .collect()
}

fn check_option_set(file: &str, options: TokenizerOptions) {
    let t = tokenizer(options);
    let records = fixture(file);
    assert!(
        records.len() > 100,
        "{file}: only {} records",
        records.len()
    );
    let mut failures = Vec::new();
    for r in &records {
        let text = r["text"].as_str().unwrap();
        let e = t.encode(text, None, None).unwrap();
        let want_ids = u32s(&r["ids"]);
        let want_offsets = u32s(&r["offsets"]);
        let want_words: Vec<Option<u32>> = r["word_ids"]
            .as_array()
            .unwrap()
            .iter()
            .map(|w| w.as_u64().map(|x| x as u32))
            .collect();
        // The ids-only path (corpora) too: the ids between [CLS] and [SEP], and word starts.
        let mut alone = PieceIds::default();
        t.tokenize_ids(text, &mut alone);
        let inner = &want_words[1..want_words.len() - 1];
        let want_starts: Vec<u8> = (0..inner.len())
            .map(|k| u8::from(k == 0 || inner[k] != inner[k - 1]))
            .collect();
        if e.ids != want_ids
            || flat_offsets(&e.offsets) != want_offsets
            || e.word_ids != want_words
            || alone.ids != want_ids[1..want_ids.len() - 1]
            || alone.word_start != want_starts
        {
            failures.push(format!(
                "{text:?}\n  ids  ours {:?}\n       want {:?}\n  offs ours {:?}\n       want {:?}\n  words ours {:?}\n       want {:?}",
                t.convert_ids_to_tokens(&e.ids).unwrap(),
                t.convert_ids_to_tokens(&want_ids).unwrap(),
                flat_offsets(&e.offsets),
                want_offsets,
                e.word_ids,
                want_words
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{file}: {} of {} texts differ:\n{}",
        failures.len(),
        records.len(),
        failures.join("\n")
    );
}

#[test]
fn uncased() {
    check_option_set("uncased.jsonl", TokenizerOptions::default());
}

#[test]
fn cased() {
    check_option_set(
        "cased.jsonl",
        TokenizerOptions {
            do_lower_case: false,
            ..TokenizerOptions::default()
        },
    );
}

#[test]
fn uncased_keep_accents() {
    check_option_set(
        "uncased-keep-accents.jsonl",
        TokenizerOptions {
            strip_accents: Some(false),
            ..TokenizerOptions::default()
        },
    );
}

#[test]
fn uncased_no_cjk_splitting() {
    check_option_set(
        "uncased-no-cjk.jsonl",
        TokenizerOptions {
            tokenize_chinese_chars: false,
            ..TokenizerOptions::default()
        },
    );
}

#[test]
fn cased_strip_accents() {
    check_option_set(
        "cased-strip-accents.jsonl",
        TokenizerOptions {
            do_lower_case: false,
            strip_accents: Some(true),
            ..TokenizerOptions::default()
        },
    );
}

#[test]
fn pairs_with_truncation() {
    let t = tokenizer(TokenizerOptions::default());
    let records = fixture("pairs.jsonl");
    let mut errors = 0;
    for r in &records {
        let strategy: TruncationStrategy = r["strategy"].as_str().unwrap().parse().unwrap();
        let truncation = Truncation {
            max_length: r["max_length"].as_u64().unwrap() as usize,
            strategy,
        };
        let text = r["text"].as_str().unwrap();
        let pair = r["text_pair"].as_str().unwrap();
        let got = t.encode(text, Some(pair), Some(truncation));
        if r.get("error").is_some() {
            errors += 1;
            assert!(got.is_err(), "{r}: transformers refused, we did not");
            continue;
        }
        let e = got.unwrap_or_else(|err| panic!("{r}: {err}"));
        assert_eq!(e.ids, u32s(&r["ids"]), "{r}");
        assert_eq!(e.type_ids, u32s(&r["type_ids"]), "{r}");
        assert_eq!(flat_offsets(&e.offsets), u32s(&r["offsets"]), "{r}");
    }
    assert!(records.len() > 100 && errors > 0 && errors < records.len());
}

#[test]
fn decode() {
    let t = tokenizer(TokenizerOptions::default());
    for r in fixture("decode.jsonl") {
        let ids = u32s(&r["ids"]);
        let skip = r["skip_special_tokens"].as_bool().unwrap();
        assert_eq!(
            t.decode(&ids, skip).unwrap(),
            r["text"].as_str().unwrap(),
            "{ids:?}"
        );
    }
}

fn check_legacy(file: &str, options: TokenizerOptions) {
    let t = tokenizer(options);
    let records = fixture(file);
    assert!(records.len() > 100);
    for r in &records {
        let text = r["text"].as_str().unwrap();
        let want: Vec<&str> = r["tokens"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap())
            .collect();
        assert_eq!(t.tokenize(text), want, "{file}: {text:?}");
        let mut alone = PieceIds::default();
        t.tokenize_ids(text, &mut alone);
        assert_eq!(
            alone.ids,
            t.tokenize_with_offsets(text).ids,
            "{file}: {text:?}"
        );
    }
}

#[test]
fn legacy_never_split() {
    check_legacy(
        "legacy-never-split.jsonl",
        TokenizerOptions {
            never_split: ["[FOO]", "Hello", "don't", "東京"]
                .iter()
                .map(|s| s.to_string())
                .collect(),
            ..TokenizerOptions::default()
        },
    );
}

#[test]
fn legacy_no_basic_tokenization() {
    // Without basic tokenization nothing is lowercased, whatever do_lower_case says.
    for do_lower_case in [true, false] {
        check_legacy(
            "legacy-no-basic.jsonl",
            TokenizerOptions {
                do_basic_tokenize: false,
                do_lower_case,
                ..TokenizerOptions::default()
            },
        );
    }
}
