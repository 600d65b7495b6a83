//! `bert-train fine-tune`, `evaluate` and `export`.

use std::path::PathBuf;

use anyhow::{anyhow, bail, Context, Result};
use bert_model::{parse_device, BertConfig, Checkpoint, HfModel};
use bert_train::config::{FineTuneConfig, ProgressStyle};
use bert_train::distributed::Ranks;
use bert_train::export::write_tokenizer;
use bert_train::tasks::Task;
use bert_train::tasks::TaskConfig;
use bert_train::trainer::{done_line, evaluate_dir, fine_tune_with, load_tokenizer, result_lines};
use bert_train::{Session, Start};
use clap::Args;

/// Arguments of `bert-train fine-tune`.
#[derive(Args, Debug)]
pub struct FineTuneArgs {
    /// The run's TOML configuration (see configs/).
    #[arg(long, value_name = "FILE")]
    pub config: PathBuf,
    /// Override a config key, e.g. `--set training.learning_rate=3e-5` (repeatable).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub overrides: Vec<String>,
    /// Continue from the newest complete checkpoint in the output directory.
    #[arg(long)]
    pub resume: bool,
    /// Write into an output directory that holds files no run wrote (refused otherwise).
    #[arg(long)]
    pub overwrite: bool,
}

/// Runs `bert-train fine-tune`.
pub fn run(args: &FineTuneArgs) -> Result<()> {
    let config = FineTuneConfig::<TaskConfig>::load(&args.config, &args.overrides)?;
    let ranks = Ranks::from_launcher()?;
    let (session, held) = match ranks.is_main() {
        // A job's log: plain lines.
        true if ranks.world_size() > 1 => super::console::session(ProgressStyle::Plain),
        true => super::console::session(config.training.progress),
        false => (Session::quiet(), Default::default()),
    };
    let session = session.on(ranks.clone());
    super::signals::stop_on_signals(session.interrupter.clone(), ranks.is_main());
    let start = Start {
        resume: args.resume,
        overwrite: args.overwrite,
    };
    let result = fine_tune_with(&config, start, session);
    if ranks.world_size() > 1 {
        end_rank(&ranks, &result);
        // A stop is reported (the exit status still says which signal).
        if let Err(bert_train::TrainError::Stopped { .. }) = result {
            return Ok(());
        }
        if !ranks.is_main() {
            result?;
            return Ok(());
        }
    }
    // The terminal UI has closed: what it held back goes to the screen now.
    for line in held.lock().expect("held lines").drain(..) {
        println!("{line}");
    }
    let summary = result?;
    for line in result_lines(&summary) {
        println!("{line}");
    }
    println!("{}", done_line(&summary));
    Ok(())
}

/// A rank that failed alone would leave the others waiting in a collective: it prints its
/// error and ends the whole job. A stop that every rank made together (a signal) ends normally,
/// rank 0 saying so before MPI shuts down (a rank that exits first could end the job before).
fn end_rank<T>(ranks: &Ranks, result: &Result<T, bert_train::TrainError>) {
    match result {
        Err(stop @ bert_train::TrainError::Stopped { .. }) => {
            if ranks.is_main() {
                eprintln!("{stop}");
            }
        }
        Ok(_) => {}
        Err(e) => {
            eprintln!(
                "error: rank {}: {}",
                ranks.rank(),
                bert_train::error_chain(e)
            );
            ranks.abort(1);
        }
    }
}

/// Arguments of `bert-train evaluate`.
#[derive(Args, Debug)]
pub struct EvaluateArgs {
    /// A fine-tuned model directory (a run's `model/`, a checkpoint, or an export).
    #[arg(long, value_name = "DIR")]
    pub model: PathBuf,
    /// The run's configuration (for the data files and columns).
    #[arg(long, value_name = "FILE")]
    pub config: PathBuf,
    /// Which split: validation or test.
    #[arg(long, default_value = "validation")]
    pub split: String,
    /// Print the metrics as one JSON object.
    #[arg(long)]
    pub json: bool,
    /// Override a config key (repeatable), as for fine-tune.
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub overrides: Vec<String>,
}

/// Runs `bert-train evaluate`.
pub fn evaluate(args: &EvaluateArgs) -> Result<()> {
    let config = FineTuneConfig::<TaskConfig>::load(&args.config, &args.overrides)?;
    let metrics = evaluate_dir(&config, &args.model, &args.split)?;
    if args.json {
        println!("{}", serde_json::to_string(&metrics)?);
    } else {
        for (k, v) in &metrics {
            println!("{}_{k} = {v:.6}", args.split);
        }
    }
    Ok(())
}

/// Arguments of `bert-train export`.
#[derive(Args, Debug)]
pub struct ExportArgs {
    /// A checkpoint (`OUTPUT_DIR/checkpoints/step-N`) or a run's `model/` directory.
    #[arg(long, value_name = "DIR")]
    pub checkpoint: PathBuf,
    /// The directory to write (created; must not exist or be empty).
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
}

fn load_and_save<M: HfModel>(
    config: &BertConfig,
    checkpoint: &Checkpoint,
    out: &std::path::Path,
) -> Result<()> {
    let device = parse_device("cpu")?;
    let (model, report) = bert_model::from_checkpoint::<M>(config, checkpoint, &device, 0)?;
    if !report.initialized.is_empty() {
        bail!(
            "the checkpoint lacks tensors of {}: {}",
            M::ARCHITECTURE,
            report.initialized.join(", ")
        );
    }
    bert_model::save_pretrained(&model, config, out)?;
    Ok(())
}

/// Loads a checkpoint as the head of `_task` and saves it.
fn save_as<T: Task>(
    _task: &T,
    config: &BertConfig,
    checkpoint: &Checkpoint,
    out: &std::path::Path,
) -> Result<()> {
    load_and_save::<T::Model>(config, checkpoint, out)
}

/// Runs `bert-train export`: reads the checkpoint's model, checks that it loads whole, and
/// writes an HF directory (config.json, model.safetensors, vocab.txt, tokenizer_config.json,
/// special_tokens_map.json) that transformers' `AutoModelFor...` and `AutoTokenizer` read.
pub fn export(args: &ExportArgs) -> Result<()> {
    let dir = &args.checkpoint;
    let config = BertConfig::from_file(dir.join("config.json"))
        .with_context(|| format!("{} is not a model directory", dir.display()))?;
    let checkpoint = Checkpoint::open_dir(dir)?;
    let tokenizer = load_tokenizer(dir)?;
    if args.out.exists()
        && std::fs::read_dir(&args.out)
            .map(|mut d| d.next().is_some())
            .unwrap_or(true)
    {
        bail!("{} exists and is not empty", args.out.display());
    }
    let parent = match args.out.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    std::fs::create_dir_all(&parent)?;
    let tmp = tempfile::Builder::new()
        .prefix(".export-")
        .tempdir_in(&parent)
        .with_context(|| format!("cannot create a directory in {}", parent.display()))?;
    let architecture = config
        .architectures
        .as_ref()
        .and_then(|a| a.first().cloned())
        .unwrap_or_default();
    let task = TaskConfig::for_architecture(&architecture).ok_or_else(|| {
        let known: Vec<&str> = TaskConfig::all().iter().map(|t| t.architecture()).collect();
        anyhow!(
            "{}: architecture `{architecture}` cannot be exported yet (fine-tuned heads: {})",
            dir.display(),
            known.join(", ")
        )
    })?;
    bert_train::with_task!(&task, task => save_as(&task, &config, &checkpoint, tmp.path()))?;
    let max_len = tokenizer
        .model_max_length()
        .unwrap_or(config.max_position_embeddings);
    write_tokenizer(&tokenizer, tmp.path(), max_len)?;
    if args.out.exists() {
        std::fs::remove_dir(&args.out)?;
    }
    let kept = tmp.keep();
    std::fs::rename(&kept, &args.out)
        .with_context(|| format!("cannot move the export to {}", args.out.display()))?;
    println!("exported {} to {}", architecture, args.out.display());
    Ok(())
}
