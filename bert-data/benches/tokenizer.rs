//! Tokenizer throughput, one thread: our `BertTokenizer` beside the `tokenizers` crate (the engine
//! of transformers' BertTokenizer) on the same texts, same vocabulary, same options.
//!
//! Run through `scripts/bench-tokenizer.sh`, which builds the corpus and writes the table to
//! `experiments/tokenizer-bench/`. By hand:
//!     BERT_BENCH_CORPUS=corpus.jsonl BERT_MINILM_DIR=dir cargo bench -p bert-data --bench tokenizer
//! The corpus is JSONL with a `text` field per line. Every text is also checked to give the same
//! ids and offsets on both sides, so the comparison is of equal work.

use std::path::PathBuf;
use std::time::Instant;

use bert_data::tokenizer::{BertTokenizer, TokenizerOverrides};

fn env_path(name: &str) -> PathBuf {
    PathBuf::from(std::env::var_os(name).unwrap_or_else(|| panic!("set {name}")))
}

/// Best of `rounds` timings of `f` over all texts, in seconds.
fn best_of(rounds: usize, mut f: impl FnMut() -> usize) -> (f64, usize) {
    let mut best = f64::INFINITY;
    let mut tokens = 0;
    for _ in 0..rounds {
        let start = Instant::now();
        tokens = f();
        best = best.min(start.elapsed().as_secs_f64());
    }
    (best, tokens)
}

fn main() {
    let corpus = env_path("BERT_BENCH_CORPUS");
    let model = env_path("BERT_MINILM_DIR");
    let texts: Vec<String> = std::fs::read_to_string(&corpus)
        .unwrap()
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            v["text"].as_str().unwrap().to_string()
        })
        .collect();
    let bytes: usize = texts.iter().map(String::len).sum();

    let ours = BertTokenizer::from_dir(&model, &TokenizerOverrides::default()).unwrap();
    let mut theirs = tokenizers::Tokenizer::from_file(model.join("tokenizer.json")).unwrap();
    theirs.with_truncation(None).unwrap();
    theirs.with_padding(None);

    // Same work on both sides: identical ids and character offsets for every text.
    for text in &texts {
        let a = ours.encode(text, None, None).unwrap();
        let b = theirs.encode_char_offsets(text.as_str(), true).unwrap();
        assert_eq!(a.ids, b.get_ids(), "{text:?}");
        assert_eq!(a.offsets, b.get_offsets(), "{text:?}");
    }

    let rounds = 3;
    let (t_ours, n_ours) = best_of(rounds, || {
        texts
            .iter()
            .map(|t| ours.encode(t, None, None).unwrap().ids.len())
            .sum()
    });
    let (t_char, n_char) = best_of(rounds, || {
        texts
            .iter()
            .map(|t| theirs.encode_char_offsets(t.as_str(), true).unwrap().len())
            .sum()
    });
    let (t_fast, n_fast) = best_of(rounds, || {
        texts
            .iter()
            .map(|t| theirs.encode_fast(t.as_str(), true).unwrap().len())
            .sum()
    });
    assert_eq!(n_ours, n_char);
    assert_eq!(n_ours, n_fast);

    let mb = bytes as f64 / 1e6;
    let n = texts.len() as f64;
    println!(
        "corpus: {} texts, {:.2} MB UTF-8, {} tokens with [CLS]/[SEP]; best of {rounds} rounds, one thread",
        texts.len(),
        mb,
        n_ours
    );
    println!();
    println!(
        "| tokenizer | call | texts/s | MB/s | time (s) | vs tokenizers `encode_char_offsets` |"
    );
    println!("|---|---|---:|---:|---:|---:|");
    for (name, call, t) in [
        (
            "bert-data BertTokenizer",
            "`encode` (ids, char offsets, word ids)",
            t_ours,
        ),
        ("tokenizers 0.22.2", "`encode_char_offsets`", t_char),
        ("tokenizers 0.22.2", "`encode_fast` (no offsets)", t_fast),
    ] {
        println!(
            "| {name} | {call} | {:.0} | {:.2} | {:.3} | {:.2}x |",
            n / t,
            mb / t,
            t,
            t_char / t
        );
    }
}
