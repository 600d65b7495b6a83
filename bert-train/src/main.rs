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
    /// Time inference and a training step on each device (see experiments/bench).
    Bench(commands::bench::BenchArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Tokenize(args) => commands::tokenize::run(&args),
        Command::Predict(args) => commands::predict::run(&args),
        Command::Bench(args) => commands::bench::run(&args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
