//! Turning the configured files into encoded rows with label ids, for each task.

use std::path::{Path, PathBuf};

use bert_data::batch::{LabelSet, Row};
use bert_data::readers::{
    align_word_labels, read_tagged_sentences, read_text_examples, BadRow, ConllColumns, Format,
    LabelValue, TextColumns,
};
use bert_data::{BertTokenizer, Truncation, TruncationStrategy};

use crate::config::{FineTuneConfig, TaskKind};
use crate::TrainError;

/// What a row is trained towards.
#[derive(Debug, Clone, PartialEq)]
pub enum Target {
    /// A class id.
    Class(i64),
    /// A regression target.
    Score(f32),
    /// One label id per position (-100 where no label: special tokens, continuation pieces).
    Tags(Vec<i64>),
}

/// One encoded row.
#[derive(Debug, Clone, PartialEq)]
pub struct Example {
    /// Token ids and token type ids.
    pub row: Row,
    /// The label.
    pub target: Target,
    /// The line of the file it came from.
    pub line: usize,
}

/// One data file, encoded.
#[derive(Debug, Clone)]
pub struct Split {
    /// `train`, `validation` or `test`.
    pub name: &'static str,
    /// The file.
    pub path: PathBuf,
    /// Its rows.
    pub examples: Vec<Example>,
    /// Rows left out under `on_bad_row = "skip"`.
    pub skipped: Vec<BadRow>,
}

impl Split {
    /// Token counts, for batching.
    pub fn lengths(&self) -> Vec<usize> {
        self.examples.iter().map(|e| e.row.ids.len()).collect()
    }
}

/// Raw labels of one split before they become ids.
enum RawSplit {
    Texts(Vec<(Row, Option<LabelValue>, usize)>),
    Tagged(Vec<(Row, Vec<Option<u32>>, Vec<String>, usize)>),
}

/// The encoded data of a run and its label set (`None` for regression).
#[derive(Debug, Clone)]
pub struct TaskData {
    /// Class or tag names in id order.
    pub labels: Option<LabelSet>,
    /// Training rows.
    pub train: Split,
    /// Validation rows.
    pub validation: Option<Split>,
    /// Test rows.
    pub test: Option<Split>,
}

fn format_of(config: &FineTuneConfig, path: &Path) -> Result<Format, TrainError> {
    match config.data.format {
        Some(f) => Ok(f),
        None => Ok(Format::from_path(path)?),
    }
}

fn encode_words(
    tokenizer: &BertTokenizer,
    words: &[String],
    max_len: usize,
) -> (Row, Vec<Option<u32>>) {
    let special = tokenizer.special_ids();
    let mut ids = vec![special.cls];
    let mut word_ids = vec![None];
    for (w, word) in words.iter().enumerate() {
        for id in tokenizer.tokenize_with_offsets(word).ids {
            if ids.len() + 1 >= max_len {
                break;
            }
            ids.push(id);
            word_ids.push(Some(w as u32));
        }
    }
    ids.push(special.sep);
    word_ids.push(None);
    let type_ids = vec![0; ids.len()];
    (Row { ids, type_ids }, word_ids)
}

fn read_raw(
    config: &FineTuneConfig,
    tokenizer: &BertTokenizer,
    path: &Path,
    limit: Option<usize>,
) -> Result<(RawSplit, Vec<BadRow>), TrainError> {
    let data = &config.data;
    let format = format_of(config, path)?;
    let take = limit.unwrap_or(usize::MAX);
    match config.task {
        TaskKind::SequenceClassification => {
            let columns = TextColumns {
                text: data.text_column.clone(),
                text_pair: data.text_pair_column.clone(),
                label: Some(data.label_column.clone()),
                regression: config.regression,
            };
            let read = read_text_examples(path, format, &columns, data.on_bad_row)?;
            let truncation = Some(Truncation {
                max_length: data.max_seq_length,
                strategy: TruncationStrategy::LongestFirst,
            });
            let mut rows = Vec::new();
            for ex in read.rows.into_iter().take(take) {
                let enc = tokenizer
                    .encode(&ex.text, ex.text_pair.as_deref(), truncation)
                    .map_err(|e| TrainError::Row {
                        path: path.to_path_buf(),
                        line: ex.line,
                        message: e.to_string(),
                    })?;
                let row = Row {
                    ids: enc.ids,
                    type_ids: enc.type_ids,
                };
                rows.push((row, ex.label, ex.line));
            }
            Ok((RawSplit::Texts(rows), read.skipped))
        }
        TaskKind::TokenClassification => {
            let columns = ConllColumns {
                token: data.token_column,
                tag: data.tag_column,
            };
            let read = read_tagged_sentences(path, format, columns, data.on_bad_row)?;
            let mut rows = Vec::new();
            for s in read.rows.into_iter().take(take) {
                if s.tags.len() != s.tokens.len() {
                    return Err(TrainError::Row {
                        path: path.to_path_buf(),
                        line: s.line,
                        message: format!("{} tokens but {} tags", s.tokens.len(), s.tags.len()),
                    });
                }
                let (row, word_ids) = encode_words(tokenizer, &s.tokens, data.max_seq_length);
                rows.push((row, word_ids, s.tags, s.line));
            }
            Ok((RawSplit::Tagged(rows), read.skipped))
        }
    }
}

fn label_of(
    value: Option<LabelValue>,
    labels: Option<&LabelSet>,
    path: &Path,
    line: usize,
    split: &str,
) -> Result<Target, TrainError> {
    let row_error = |message: String| TrainError::Row {
        path: path.to_path_buf(),
        line,
        message,
    };
    match (value, labels) {
        (Some(LabelValue::Score(s)), None) => Ok(Target::Score(s)),
        (Some(LabelValue::Class(c)), Some(set)) => match set.id(&c) {
            Ok(id) => Ok(Target::Class(id as i64)),
            Err(e) if split == "train" => Err(row_error(format!("field `label`: {e}"))),
            Err(e) => Err(row_error(format!(
                "field `label`: {e}; a {split} label must occur in the training data (or in \
                 `data.labels`)"
            ))),
        },
        (None, _) => Err(row_error("missing label".into())),
        (Some(other), _) => Err(row_error(format!("unexpected label {other:?}"))),
    }
}

fn finish(
    raw: RawSplit,
    skipped: Vec<BadRow>,
    labels: Option<&LabelSet>,
    name: &'static str,
    path: &Path,
) -> Result<Split, TrainError> {
    let mut examples = Vec::new();
    match raw {
        RawSplit::Texts(rows) => {
            for (row, label, line) in rows {
                let target = label_of(label, labels, path, line, name)?;
                examples.push(Example { row, target, line });
            }
        }
        RawSplit::Tagged(rows) => {
            let set = labels.expect("token classification always has a tag set");
            for (row, word_ids, tags, line) in rows {
                let mut ids = Vec::with_capacity(tags.len());
                for (i, tag) in tags.iter().enumerate() {
                    let id = set.id(tag).map_err(|e| TrainError::Row {
                        path: path.to_path_buf(),
                        line: line + i,
                        message: if name == "train" {
                            format!("tag: {e}")
                        } else {
                            format!(
                                "tag: {e}; a {name} tag must occur in the training data (or \
                                 in `data.labels`)"
                            )
                        },
                    })?;
                    ids.push(id as i64);
                }
                let target = Target::Tags(align_word_labels(&word_ids, &ids));
                examples.push(Example { row, target, line });
            }
        }
    }
    if examples.is_empty() {
        return Err(TrainError::Row {
            path: path.to_path_buf(),
            line: 0,
            message: "no usable rows".into(),
        });
    }
    Ok(Split {
        name,
        path: path.to_path_buf(),
        examples,
        skipped,
    })
}

/// Reads, encodes and labels every configured split. The label set comes from `data.labels`,
/// else from `known` (a model's `id2label`, when evaluating a fine-tuned model), else from the
/// training file, sorted.
pub fn load(
    config: &FineTuneConfig,
    tokenizer: &BertTokenizer,
    known: Option<LabelSet>,
    with_train: bool,
) -> Result<TaskData, TrainError> {
    let data = &config.data;
    let train_path = data.train.clone();
    let (train_raw, train_skipped) = if with_train || known.is_none() {
        let (raw, skipped) = read_raw(config, tokenizer, &train_path, data.max_train_rows)?;
        (Some(raw), skipped)
    } else {
        (None, Vec::new())
    };
    let labels = if config.regression {
        None
    } else if let Some(names) = &data.labels {
        Some(LabelSet::from_names(names))
    } else if let Some(known) = known {
        Some(known)
    } else {
        let names: Vec<String> = match train_raw.as_ref() {
            Some(RawSplit::Texts(rows)) => rows
                .iter()
                .filter_map(|(_, l, _)| match l {
                    Some(LabelValue::Class(c)) => Some(c.clone()),
                    _ => None,
                })
                .collect(),
            Some(RawSplit::Tagged(rows)) => rows
                .iter()
                .flat_map(|(_, _, t, _)| t.iter().cloned())
                .collect(),
            None => Vec::new(),
        };
        Some(LabelSet::collect(names.iter().map(String::as_str)))
    };
    let train = match train_raw {
        Some(raw) if with_train => {
            finish(raw, train_skipped, labels.as_ref(), "train", &train_path)?
        }
        _ => Split {
            name: "train",
            path: train_path,
            examples: Vec::new(),
            skipped: Vec::new(),
        },
    };
    let eval = |path: &Option<PathBuf>, name: &'static str| -> Result<Option<Split>, TrainError> {
        let Some(path) = path else { return Ok(None) };
        let (raw, skipped) = read_raw(config, tokenizer, path, data.max_eval_rows)?;
        finish(raw, skipped, labels.as_ref(), name, path).map(Some)
    };
    let validation = eval(&data.validation, "validation")?;
    let test = eval(&data.test, "test")?;
    Ok(TaskData {
        labels,
        train,
        validation,
        test,
    })
}
