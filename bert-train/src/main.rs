//! The `bert-train` command line.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod commands;

/// BERT in Rust: tokenize, fine-tune, evaluate, predict and export.
#[derive(Parser, Debug)]
#[command(name = "bert-train", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Tokenize a JSONL file with a BERT tokenizer, identically to transformers' BertTokenizer.
    Tokenize(commands::tokenize::TokenizeArgs),
    /// Run a model (any BERT head) over a JSONL file: features, fill-mask, classification,
    /// tagging, question answering, multiple choice.
    Predict(commands::predict::PredictArgs),
    /// Sentence embeddings of a JSONL file's texts, as sentence-transformers computes them.
    Embed(commands::embed::EmbedArgs),
    /// Read and encode a config's data ahead of the run: errors show first, and text corpora
    /// (masked-lm, pretraining) are prepared into the shard cache (`[data] cache_dir`) with a
    /// progress bar.
    Prepare(commands::prepare::PrepareArgs),
    /// Fine-tune a pretrained model on CSV/TSV/JSONL/CoNLL data (configs/*.toml).
    FineTune(commands::fine_tune::FineTuneArgs),
    /// Metrics of a fine-tuned model on the validation or test split of a config.
    Evaluate(commands::fine_tune::EvaluateArgs),
    /// Write a checkpoint as an HF model directory that transformers loads.
    Export(commands::fine_tune::ExportArgs),
    /// Print the config reference (`--keys`), or check a config and print it resolved (`--show`).
    Config(commands::config::ConfigArgs),
    /// Time inference and a training step on each device (see experiments/model-bench).
    Bench(commands::bench::BenchArgs),
}

fn main() -> ExitCode {
    bert_train::allocator::keep_freed_memory();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Tokenize(args) => commands::tokenize::run(&args),
        Command::Predict(args) => commands::predict::run(&args),
        Command::Bench(args) => commands::bench::run(&args),
        Command::Config(args) => commands::config::run(&args),
        Command::Embed(args) => commands::embed::run(&args),
        Command::Prepare(args) => commands::prepare::run(&args),
        Command::FineTune(args) => commands::fine_tune::run(&args),
        Command::Evaluate(args) => commands::fine_tune::evaluate(&args),
        Command::Export(args) => commands::fine_tune::export(&args),
    };
    let stopped = matches!(
        result.as_ref().map_err(|e| e.downcast_ref()),
        Err(Some(bert_train::TrainError::Stopped { .. }))
    );
    let ok = result.is_ok();
    match result {
        Err(e) if stopped => eprintln!("{e:#}"),
        Err(e) => eprintln!("error: {e:#}"),
        Ok(()) => {}
    }
    // A run a signal stopped ends with 128 + its number, as the shell reports such a stop.
    match (commands::signals::exit_status(), stopped) {
        (Some(status), _) => ExitCode::from(status),
        (None, true) => ExitCode::from(130),
        (None, false) if ok => ExitCode::SUCCESS,
        (None, false) => ExitCode::FAILURE,
    }
}
