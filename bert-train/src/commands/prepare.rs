//! `bert-train prepare`: reads a run's data ahead of the run; text corpora go to the shard
//! cache with a progress bar.

use std::path::PathBuf;

use anyhow::Result;
use bert_train::config::FineTuneConfig;
use bert_train::tasks::TaskConfig;
use bert_train::trainer::prepare::prepare;
use clap::Args;

/// Arguments of `bert-train prepare`.
#[derive(Args, Debug)]
pub struct PrepareArgs {
    /// The run's TOML configuration (see configs/).
    #[arg(long, value_name = "FILE")]
    pub config: PathBuf,
    /// Override a config key, e.g. `--set data.cache_dir=/scratch/corpora` (repeatable).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub overrides: Vec<String>,
}

/// Runs `bert-train prepare`: a line per split.
pub fn run(args: &PrepareArgs) -> Result<()> {
    let config = FineTuneConfig::<TaskConfig>::load(&args.config, &args.overrides)?;
    for split in prepare(&config, true)? {
        let skipped = match split.skipped {
            0 => String::new(),
            n => format!(" ({n} bad rows skipped)"),
        };
        println!(
            "{}: {}: {} features{skipped}",
            split.name,
            split.path.display(),
            split.features
        );
    }
    Ok(())
}
