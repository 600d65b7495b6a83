//! `bert-train config`: the key reference, and a config file as a run would read it.

use std::path::PathBuf;

use anyhow::Result;
use bert_train::config::{reference, FineTuneConfig};
use bert_train::tasks::TaskConfig;
use clap::Args;

/// Arguments of `bert-train config`.
#[derive(Args, Debug)]
#[command(group = clap::ArgGroup::new("what").required(true))]
pub struct ConfigArgs {
    /// Print every key of every task with its type, default and meaning (docs/CONFIG.md).
    #[arg(long, group = "what")]
    pub keys: bool,
    /// Check a config and print every key as the run would read it, defaults included.
    #[arg(long, value_name = "FILE", group = "what")]
    pub show: Option<PathBuf>,
    /// With --show: override a key, as for fine-tune (repeatable).
    #[arg(long = "set", value_name = "KEY=VALUE", requires = "show")]
    pub overrides: Vec<String>,
}

/// Runs `bert-train config`.
pub fn run(args: &ConfigArgs) -> Result<()> {
    match &args.show {
        Some(path) => {
            let config = FineTuneConfig::<TaskConfig>::load(path, &args.overrides)?;
            print!("{}", config.to_toml());
        }
        None => print!("{}", reference::markdown::<TaskConfig>()),
    }
    Ok(())
}
