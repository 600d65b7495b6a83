//! Reading a run's data ahead of the run (`bert-train prepare`): every file is read and
//! encoded as `fine-tune` would, so its errors show before any training; text corpora of
//! `masked-lm` and `pretraining` are written to the shard cache, where the run then finds them.

use std::path::PathBuf;

use crate::config::FineTuneConfig;
use crate::tasks::{LoadContext, Split, Task, TaskConfig};
use crate::TrainError;

/// One split as prepared.
#[derive(Debug, Clone, PartialEq)]
pub struct PreparedSplit {
    /// `train`, `validation` or `test`.
    pub name: &'static str,
    /// Its file.
    pub path: PathBuf,
    /// Its features (rows, windows, blocks).
    pub features: usize,
    /// Rows left out under `on_bad_row = "skip"`.
    pub skipped: usize,
}

/// Reads and encodes every split of `config` (corpora into the cache), showing the progress of
/// long preparations on stderr when `progress` is set.
pub fn prepare(
    config: &FineTuneConfig<TaskConfig>,
    progress: bool,
) -> Result<Vec<PreparedSplit>, TrainError> {
    config.check()?;
    let (tokenizer, _, _) = super::model_source(config, None)?;
    with_task!(&config.task, task => {
        let data = task.load(&LoadContext {
            config,
            tokenizer: &tokenizer,
            trained_labels: None,
            with_train: true,
            progress,
        })?;
        let splits = std::iter::once(&data.train)
            .chain(data.validation.iter())
            .chain(data.test.iter());
        Ok(splits.map(summary).collect())
    })
}

fn summary<F>(split: &Split<F>) -> PreparedSplit {
    PreparedSplit {
        name: split.name,
        path: split.path.clone(),
        features: split.features.len(),
        skipped: split.skipped.len(),
    }
}
