//! `bert-train predict`: run any BERT head over a JSONL file, one output line per input line.
//! The work is the library's ([`bert_train::predict`]: each task module's inference side); this
//! command reads the options, prints the notes and writes the output atomically.

use std::io::Write;
use std::path::PathBuf;

use anyhow::{bail, Result};
use bert_model::parse_device;
use bert_train::predict::{predict, PredictOptions};
use clap::Args;

use super::io::{check_output, write_atomically};

/// Arguments of `bert-train predict`.
#[derive(Args, Debug)]
pub struct PredictArgs {
    /// A model directory in the HF layout, or a hub id found in the HF cache.
    #[arg(long, value_name = "DIR_OR_ID")]
    pub model: String,
    /// features, fill-mask (or masked-lm), next-sentence, pretraining, sequence-classification,
    /// token-classification, question-answering or multiple-choice [default: from config.json
    /// `architectures`; `features` for a bare encoder].
    #[arg(long)]
    pub task: Option<String>,
    /// Input JSONL: `text` (and optional `text_pair`); `question` and `context` for
    /// question-answering; `context` and `choices` (a list) for multiple-choice.
    #[arg(long, value_name = "IN.jsonl")]
    pub input: PathBuf,
    /// Output JSONL: each input object plus the task's outputs. Written only if every line
    /// succeeds.
    #[arg(long, value_name = "OUT.jsonl")]
    pub output: PathBuf,
    /// cpu, ndarray, flex, wgpu, tch, tch-cuda:N or cuda:N.
    #[arg(long, default_value = "cpu")]
    pub device: String,
    /// Rows per forward pass (padded to the longest row of the batch).
    #[arg(long, default_value_t = 8)]
    pub batch_size: usize,
    /// Truncate inputs to this many tokens [default: the tokenizer's model_max_length, at
    /// most max_position_embeddings].
    #[arg(long, value_name = "N")]
    pub max_seq_length: Option<usize>,
    /// Also write the full logits (fill-mask).
    #[arg(long)]
    pub raw: bool,
    /// Question answering: windows and post-processing.
    #[command(flatten)]
    pub qa: QaArgs,
}

/// The options of `predict --task question-answering` (the reference scripts' defaults).
#[derive(Args, Debug)]
pub struct QaArgs {
    /// Context tokens shared by consecutive windows of a long context [default: 128]; at most
    /// half of what a window holds of the context, and less than --max-seq-length.
    #[arg(long, value_name = "N")]
    pub doc_stride: Option<usize>,
    /// Questions are cut to this many tokens.
    #[arg(long, default_value_t = 64)]
    pub max_query_length: usize,
    /// The longest answer, in tokens.
    #[arg(long, default_value_t = 30)]
    pub max_answer_length: usize,
    /// Starts and ends considered per window.
    #[arg(long, default_value_t = 20)]
    pub n_best_size: usize,
    /// The model can say "no answer" (SQuAD v2): answer "" when the null score beats the best
    /// span by more than --null-score-diff-threshold.
    #[arg(long)]
    pub version_2_with_negative: bool,
    /// See --version-2-with-negative.
    #[arg(long, default_value_t = 0.0)]
    pub null_score_diff_threshold: f64,
}

/// Runs `bert-train predict`.
pub fn run(args: &PredictArgs) -> Result<()> {
    let qa = &args.qa;
    if qa.max_answer_length == 0 || qa.n_best_size == 0 || qa.max_query_length == 0 {
        bail!("--max-answer-length, --n-best-size and --max-query-length must be at least 1");
    }
    check_output(&args.output)?;
    let device = parse_device(&args.device)?;
    let mut data = toml::Table::new();
    let mut count = |key: &str, value: usize| data.insert(key.into(), (value as i64).into());
    if let Some(stride) = qa.doc_stride {
        count("doc_stride", stride);
    }
    count("max_query_length", qa.max_query_length);
    count("max_answer_length", qa.max_answer_length);
    count("n_best_size", qa.n_best_size);
    data.insert(
        "version_2_with_negative".into(),
        qa.version_2_with_negative.into(),
    );
    data.insert(
        "null_score_diff_threshold".into(),
        qa.null_score_diff_threshold.into(),
    );
    let options = PredictOptions {
        task: args.task.clone(),
        batch_size: args.batch_size,
        max_seq_length: args.max_seq_length,
        raw: args.raw,
        data,
    };
    let start = std::time::Instant::now();
    let predictions = predict(&args.model, &args.input, &device, &options)?;
    eprintln!(
        "predicted {} lines in {:.2} s (loading and tokenization included)",
        predictions.lines.len(),
        start.elapsed().as_secs_f64()
    );
    for note in &predictions.notes {
        eprintln!("warning: {note}");
    }
    write_atomically(&args.output, |out| {
        for line in &predictions.lines {
            serde_json::to_writer(&mut *out, line)?;
            out.write_all(b"\n")?;
        }
        Ok(())
    })
}
