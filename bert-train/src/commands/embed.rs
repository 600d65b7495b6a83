//! `bert-train embed`: one sentence embedding per input line, as sentence-transformers'
//! `encode` computes it (see `bert_train::embed`).

use std::fs::File;
use std::io::{BufReader, Write};
use std::path::PathBuf;

use anyhow::{anyhow, bail, Context, Result};
use bert_data::readers::{json_kind, numbered_lines};
use bert_model::parse_device;
use bert_train::embed::{Embedder, Pooling, SentenceOverrides};
use clap::Args;
use serde_json::{Map, Value};

use super::io::{check_output, write_atomically};

/// Arguments of `bert-train embed`.
#[derive(Args, Debug)]
pub struct EmbedArgs {
    /// A model directory in the HF layout (sentence-transformers' files read if present), or a
    /// hub id found in the HF cache.
    #[arg(long, value_name = "DIR_OR_ID")]
    pub model: String,
    /// Input JSONL with a `text` field per line.
    #[arg(long, value_name = "IN.jsonl")]
    pub input: PathBuf,
    /// Output JSONL: each input object plus `embedding`. Written only if every line succeeds.
    #[arg(long, value_name = "OUT.jsonl")]
    pub output: PathBuf,
    /// cls, mean or max [default: the model's Pooling module; cls without one].
    #[arg(long)]
    pub pooling: Option<Pooling>,
    /// Scale each vector to unit length [default: when the model lists a Normalize module].
    #[arg(long)]
    pub normalize: bool,
    /// Texts per forward pass (sorted by length, padded to the longest of the batch).
    #[arg(long, default_value_t = 32)]
    pub batch_size: usize,
    /// Cut texts to this many tokens [default: sentence_bert_config.json's max_seq_length, else
    /// the tokenizer's model_max_length, at most max_position_embeddings].
    #[arg(long, value_name = "N")]
    pub max_seq_length: Option<usize>,
    /// cpu, ndarray, flex, wgpu, tch, tch-cuda:N or cuda:N.
    #[arg(long, default_value = "cpu")]
    pub device: String,
}

/// Runs `bert-train embed`.
pub fn run(args: &EmbedArgs) -> Result<()> {
    if args.batch_size == 0 {
        bail!("--batch-size must be at least 1");
    }
    if matches!(args.max_seq_length, Some(n) if n < 2) {
        bail!("--max-seq-length must be at least 2 ([CLS] and [SEP])");
    }
    check_output(&args.output)?;
    let device = parse_device(&args.device)?;
    let overrides = SentenceOverrides {
        pooling: args.pooling,
        normalize: args.normalize.then_some(true),
        max_seq_length: args.max_seq_length,
    };
    let start = std::time::Instant::now();
    let embedder = Embedder::from_pretrained(&args.model, &device, overrides)?;
    eprintln!(
        "loaded {} in {:.3} s",
        args.model,
        start.elapsed().as_secs_f64()
    );
    let rows = read_rows(&args.input)?;
    let texts: Vec<&str> = rows.iter().map(|(_, text)| text.as_str()).collect();
    let start = std::time::Instant::now();
    let vectors = embedder.encode(&texts, args.batch_size)?;
    let seconds = start.elapsed().as_secs_f64();
    eprintln!(
        "embedded {} texts in {seconds:.2} s ({:.1} texts/s, tokenization included)",
        texts.len(),
        texts.len() as f64 / seconds.max(1e-9)
    );
    write_atomically(&args.output, |out| {
        for ((fields, _), vector) in rows.iter().zip(vectors) {
            let mut object = fields.clone();
            object.insert("embedding".into(), Value::from(vector));
            serde_json::to_writer(&mut *out, &Value::Object(object))?;
            out.write_all(b"\n")?;
        }
        Ok(())
    })
}

/// Each line's object and its `text`.
fn read_rows(path: &PathBuf) -> Result<Vec<(Map<String, Value>, String)>> {
    let file = File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    let mut rows = Vec::new();
    for (number, line) in numbered_lines(BufReader::new(file)) {
        let at = || format!("{}:{number}", path.display());
        let line = line.with_context(|| format!("cannot read {}", at()))?;
        let value: Value =
            serde_json::from_str(&line).map_err(|e| anyhow!("{}: not valid JSON: {e}", at()))?;
        let Value::Object(fields) = value else {
            bail!(
                "{}: expected a JSON object, found {}",
                at(),
                json_kind(&value)
            );
        };
        let text = match fields.get("text") {
            Some(Value::String(s)) => s.clone(),
            Some(other) => bail!("{}: field `text` must be a string, found {other}", at()),
            None => bail!("{}: missing field `text`", at()),
        };
        rows.push((fields, text));
    }
    Ok(rows)
}
