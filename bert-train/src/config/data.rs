//! `[data]`: the files of a run and how they are read. A task adds keys of its own to this
//! table (its columns, masking, windows); they are declared in its config type.

use std::path::{Path, PathBuf};

use bert_data::readers::{DataError, Format, OnBadRow};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::read::Validate;

/// The `[data]` keys every task has.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default)]
pub struct DataConfig {
    /// Training file (required).
    pub train: PathBuf,
    /// Validation file, evaluated during training and at the end.
    pub validation: Option<PathBuf>,
    /// Test file, evaluated at the end.
    pub test: Option<PathBuf>,
    /// File format; unset, from each file's extension (`.csv`, `.tsv`, `.jsonl`, `.conll`).
    pub format: Option<Format>,
    /// Maximum tokens per row, `[CLS]` and `[SEP]` included; unset, 128 (384 for
    /// question-answering).
    pub max_seq_length: usize,
    /// What to do with a malformed row: `error` stops with its file, line and field; `skip`
    /// leaves it out and reports it.
    pub on_bad_row: OnBadRow,
    /// Use only the first N training rows.
    pub max_train_rows: Option<usize>,
    /// Use only the first N rows of the validation and test files.
    pub max_eval_rows: Option<usize>,
    /// Folder of prepared text corpora (`masked-lm`'s blocks as Arrow shards, one subfolder
    /// per file and settings); unset, `$XDG_CACHE_HOME/bert-rs/corpora` or
    /// `~/.cache/bert-rs/corpora`.
    pub cache_dir: Option<PathBuf>,
}

impl Default for DataConfig {
    fn default() -> Self {
        DataConfig {
            train: PathBuf::new(),
            validation: None,
            test: None,
            format: None,
            max_seq_length: 128,
            on_bad_row: OnBadRow::Error,
            max_train_rows: None,
            max_eval_rows: None,
            cache_dir: None,
        }
    }
}

impl DataConfig {
    /// The format of `path`: `format` when set, else from the file's extension.
    pub fn format_of(&self, path: &Path) -> Result<Format, DataError> {
        match self.format {
            Some(f) => Ok(f),
            None => Format::from_path(path),
        }
    }
}

impl Validate for DataConfig {
    fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        if self.train.as_os_str().is_empty() {
            problems.push("`data.train`: missing (required)".into());
        }
        if self.max_seq_length < 3 {
            problems
                .push("`data.max_seq_length`: must be at least 3 ([CLS], a token, [SEP])".into());
        }
        problems
    }
}
