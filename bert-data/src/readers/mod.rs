//! Reading fine-tuning data: CSV / TSV / JSONL rows for sequence classification and regression,
//! JSONL or CoNLL sentences for token classification, JSONL or SWAG CSV rows for multiple
//! choice, SQuAD JSON or JSONL questions for question answering, raw text for language models.
//!
//! Every problem names the file, the line and the field. With [`OnBadRow::Skip`] a bad row is
//! counted and kept in the returned [`BadRow`] list instead of stopping the read.

use std::fs::File;
use std::io::BufReader;
use std::path::{Path, PathBuf};

use serde_json::Value;

mod choices;
mod lines;
mod squad;
mod text;

pub use choices::{read_choice_examples, ChoiceColumns, ChoiceExample};
pub use lines::numbered_lines;
use lines::LineIndex;
pub use squad::{read_qa_examples, Answer, QaExample};
pub use text::{read_documents, Documents, TextDocument};

/// A problem with a data file.
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    /// The file could not be opened or read.
    #[error("cannot read {path}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// A row is malformed.
    #[error("{path}:{line}: {message}")]
    Row {
        /// The file.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// What is wrong, naming the field.
        message: String,
    },
    /// An entry of a file that is one JSON document (SQuAD) is malformed.
    #[error("{path}: {entry}: {message}")]
    Entry {
        /// The file.
        path: PathBuf,
        /// Where, as a path into the document (`data[0].paragraphs[2].qas[1]`).
        entry: String,
        /// What is wrong, naming the field.
        message: String,
    },
    /// The file's format could not be told from its name.
    #[error("cannot tell the format of {path} from its extension; set `format` (csv, tsv, jsonl, conll)")]
    UnknownFormat {
        /// The file.
        path: PathBuf,
    },
}

/// File formats.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize, serde::Serialize, schemars::JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    /// Comma-separated with a header row.
    Csv,
    /// Tab-separated with a header row.
    Tsv,
    /// One JSON object per line.
    Jsonl,
    /// Whitespace-separated columns, one token per line, blank lines between sentences.
    Conll,
    /// Raw text: documents separated by blank lines, or one text per line (language modelling;
    /// never implied by a file name).
    Text,
}

impl Format {
    /// The format a file name implies: `.csv`, `.tsv`, `.jsonl`/`.json`, `.conll`/`.txt`/`.iob`.
    pub fn from_path(path: &Path) -> Result<Format, DataError> {
        let ext = path
            .extension()
            .and_then(|e| e.to_str())
            .map(str::to_ascii_lowercase);
        match ext.as_deref() {
            Some("csv") => Ok(Format::Csv),
            Some("tsv") => Ok(Format::Tsv),
            Some("jsonl") | Some("json") | Some("ndjson") => Ok(Format::Jsonl),
            Some("conll") | Some("txt") | Some("iob") | Some("bio") => Ok(Format::Conll),
            _ => Err(DataError::UnknownFormat {
                path: path.to_path_buf(),
            }),
        }
    }
}

/// What to do with a malformed row.
#[derive(
    Debug,
    Clone,
    Copy,
    Default,
    PartialEq,
    Eq,
    serde::Deserialize,
    serde::Serialize,
    schemars::JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum OnBadRow {
    /// Stop with an error naming the file, line and reason.
    #[default]
    Error,
    /// Leave the row out, and report it.
    Skip,
}

/// A row left out under [`OnBadRow::Skip`].
#[derive(Debug, Clone, PartialEq)]
pub struct BadRow {
    /// 1-based line number; 0 for an entry of a one-document JSON file (the message names it).
    pub line: usize,
    /// Why.
    pub message: String,
}

/// A label as read: a class name or a number.
#[derive(Debug, Clone, PartialEq)]
pub enum LabelValue {
    /// A class (integers are kept as their text, e.g. "0", "1").
    Class(String),
    /// A regression target.
    Score(f32),
}

/// One text or pair with its label.
#[derive(Debug, Clone, PartialEq)]
pub struct TextExample {
    /// The line it came from (1-based).
    pub line: usize,
    /// The text.
    pub text: String,
    /// The second text of a pair.
    pub text_pair: Option<String>,
    /// The label, if the file has a label column.
    pub label: Option<LabelValue>,
}

/// Which columns (CSV/TSV header names, or JSONL keys) hold what.
#[derive(Debug, Clone, PartialEq)]
pub struct TextColumns {
    /// The text.
    pub text: String,
    /// The second text of pairs.
    pub text_pair: Option<String>,
    /// The label; `None` reads unlabelled rows.
    pub label: Option<String>,
    /// Labels are numbers (regression) rather than classes.
    pub regression: bool,
}

/// Rows read, and the ones left out.
#[derive(Debug, Clone, PartialEq)]
pub struct Read<T> {
    /// The good rows, in file order.
    pub rows: Vec<T>,
    /// Rows left out under [`OnBadRow::Skip`].
    pub skipped: Vec<BadRow>,
}

pub(crate) fn io_error(path: &Path) -> impl Fn(std::io::Error) -> DataError + '_ {
    move |source| DataError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Keeps a row, or records / raises its problem.
pub(crate) fn handle<T>(
    path: &Path,
    line: usize,
    row: Result<T, String>,
    on_bad: OnBadRow,
    out: &mut Read<T>,
) -> Result<(), DataError> {
    match row {
        Ok(row) => out.rows.push(row),
        Err(message) => match on_bad {
            OnBadRow::Error => {
                return Err(DataError::Row {
                    path: path.to_path_buf(),
                    line,
                    message,
                })
            }
            OnBadRow::Skip => out.skipped.push(BadRow { line, message }),
        },
    }
    Ok(())
}

fn parse_label(raw: &str, column: &str, regression: bool) -> Result<LabelValue, String> {
    let raw = raw.trim();
    if raw.is_empty() {
        return Err(format!("empty label in column `{column}`"));
    }
    if regression {
        match raw.parse::<f32>() {
            Ok(v) if v.is_finite() => Ok(LabelValue::Score(v)),
            _ => Err(format!(
                "label `{raw}` in column `{column}` is not a finite number"
            )),
        }
    } else {
        Ok(LabelValue::Class(raw.to_string()))
    }
}

/// Reads text examples from a CSV, TSV or JSONL file.
pub fn read_text_examples(
    path: &Path,
    format: Format,
    columns: &TextColumns,
    on_bad: OnBadRow,
) -> Result<Read<TextExample>, DataError> {
    match format {
        Format::Csv | Format::Tsv => read_delimited(path, format, columns, on_bad),
        Format::Jsonl => read_jsonl_texts(path, columns, on_bad),
        Format::Conll => Err(DataError::Row {
            path: path.to_path_buf(),
            line: 0,
            message: "CoNLL files hold token tags, not texts: use them for token-classification"
                .into(),
        }),
        Format::Text => Err(DataError::Row {
            path: path.to_path_buf(),
            line: 0,
            message: "raw text has no labels: use it for masked-lm or pretraining".into(),
        }),
    }
}

fn read_delimited(
    path: &Path,
    format: Format,
    columns: &TextColumns,
    on_bad: OnBadRow,
) -> Result<Read<TextExample>, DataError> {
    let bytes = std::fs::read(path).map_err(io_error(path))?;
    let lines = LineIndex::new(&bytes);
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(if format == Format::Tsv { b'\t' } else { b',' })
        .flexible(true)
        .from_reader(&bytes[..]);
    let row_error = |line: usize, message: String| DataError::Row {
        path: path.to_path_buf(),
        line,
        message,
    };
    let header = reader
        .headers()
        .map_err(|e| row_error(1, format!("cannot read the header: {e}")))?
        .clone();
    let find = |name: &str| -> Result<usize, DataError> {
        header.iter().position(|h| h.trim() == name).ok_or_else(|| {
            row_error(
                1,
                format!(
                    "no column `{name}` in the header (columns: {})",
                    header.iter().collect::<Vec<_>>().join(", ")
                ),
            )
        })
    };
    let text_at = find(&columns.text)?;
    let pair_at = columns.text_pair.as_deref().map(find).transpose()?;
    let label_at = columns.label.as_deref().map(find).transpose()?;
    let mut out = Read {
        rows: Vec::new(),
        skipped: Vec::new(),
    };
    for record in reader.records() {
        let record = match record {
            Ok(r) => r,
            Err(e) => {
                let line = lines.line(e.position());
                handle(
                    path,
                    line,
                    Err(format!("malformed row: {e}")),
                    on_bad,
                    &mut out,
                )?;
                continue;
            }
        };
        let line = lines.line(record.position());
        if record.len() != header.len() {
            let message = format!(
                "the row has {} fields, the header has {} ({}); quote fields that hold a {}",
                record.len(),
                header.len(),
                header.iter().collect::<Vec<_>>().join(", "),
                if format == Format::Tsv {
                    "tab"
                } else {
                    "comma"
                }
            );
            handle(path, line, Err(message), on_bad, &mut out)?;
            continue;
        }
        let row = (|| {
            let get = |at: usize, name: &str| {
                record.get(at).map(str::to_string).ok_or_else(|| {
                    format!("missing field `{name}` (row has {} fields)", record.len())
                })
            };
            let text = get(text_at, &columns.text)?;
            if text.trim().is_empty() {
                return Err(format!("empty text in column `{}`", columns.text));
            }
            let text_pair = match (pair_at, &columns.text_pair) {
                (Some(at), Some(name)) => Some(get(at, name)?),
                _ => None,
            };
            let label = match (label_at, &columns.label) {
                (Some(at), Some(name)) => {
                    Some(parse_label(&get(at, name)?, name, columns.regression)?)
                }
                _ => None,
            };
            Ok(TextExample {
                line,
                text,
                text_pair,
                label,
            })
        })();
        handle(path, line, row, on_bad, &mut out)?;
    }
    Ok(out)
}

/// Runs `parse` on each non-blank line of a JSONL file (as a JSON value), keeping or reporting
/// each row as `on_bad` says.
pub(crate) fn read_jsonl<T>(
    path: &Path,
    on_bad: OnBadRow,
    parse: impl Fn(usize, &Value) -> Result<T, String>,
) -> Result<Read<T>, DataError> {
    let file = File::open(path).map_err(io_error(path))?;
    let mut out = Read {
        rows: Vec::new(),
        skipped: Vec::new(),
    };
    for (number, line) in numbered_lines(BufReader::new(file)) {
        let line = line.map_err(io_error(path))?;
        if line.trim().is_empty() {
            continue;
        }
        let row = serde_json::from_str::<Value>(&line)
            .map_err(|e| format!("not valid JSON: {e}"))
            .and_then(|value| match value {
                Value::Object(_) => parse(number, &value),
                other => Err(format!(
                    "expected a JSON object ({{\"field\": ...}}), found {}",
                    json_kind(&other)
                )),
            });
        handle(path, number, row, on_bad, &mut out)?;
    }
    Ok(out)
}

/// What a JSON value is, for messages: `an array`, `a string`, ...
pub fn json_kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn read_jsonl_texts(
    path: &Path,
    columns: &TextColumns,
    on_bad: OnBadRow,
) -> Result<Read<TextExample>, DataError> {
    read_jsonl(path, on_bad, |number, value| {
        let string = |name: &str| match value.get(name) {
            Some(Value::String(s)) => Ok(s.clone()),
            Some(other) => Err(format!("field `{name}` must be a string, found {other}")),
            None => Err(format!("missing field `{name}`")),
        };
        let text = string(&columns.text)?;
        if text.trim().is_empty() {
            return Err(format!("empty text in field `{}`", columns.text));
        }
        let text_pair = columns.text_pair.as_deref().map(string).transpose()?;
        let label = match &columns.label {
            None => None,
            Some(name) => Some(match value.get(name) {
                Some(Value::String(s)) => parse_label(s, name, columns.regression)?,
                Some(Value::Number(n)) if columns.regression => {
                    LabelValue::Score(n.as_f64().unwrap_or(f64::NAN) as f32)
                }
                Some(Value::Number(n)) if n.is_i64() || n.is_u64() => {
                    LabelValue::Class(n.to_string())
                }
                Some(Value::Bool(b)) => LabelValue::Class(b.to_string()),
                Some(other) => {
                    return Err(format!("field `{name}` must be a label, found {other}"))
                }
                None => return Err(format!("missing field `{name}`")),
            }),
        };
        Ok(TextExample {
            line: number,
            text,
            text_pair,
            label,
        })
    })
}

/// One sentence of words with their tags.
#[derive(Debug, Clone, PartialEq)]
pub struct TaggedSentence {
    /// The line of its first token (1-based).
    pub line: usize,
    /// The words.
    pub tokens: Vec<String>,
    /// One tag per word (empty when the file has no tags).
    pub tags: Vec<String>,
}

/// Which CoNLL columns hold the token and the tag (0-based; `None` for the tag means the last).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ConllColumns {
    /// Token column (default 0).
    pub token: usize,
    /// Tag column (default: the last column).
    pub tag: Option<usize>,
}

/// Reads tagged sentences from a CoNLL file (`-DOCSTART-` lines skipped, blank or
/// whitespace-only lines between sentences, tab or space separated) or a JSONL file of
/// `{"tokens": [...], "tags": [...]}`.
pub fn read_tagged_sentences(
    path: &Path,
    format: Format,
    columns: ConllColumns,
    on_bad: OnBadRow,
) -> Result<Read<TaggedSentence>, DataError> {
    match format {
        Format::Conll => read_conll(path, columns, on_bad),
        Format::Jsonl => read_jsonl_sentences(path, on_bad),
        Format::Csv | Format::Tsv | Format::Text => Err(DataError::Row {
            path: path.to_path_buf(),
            line: 0,
            message: "token classification reads CoNLL or JSONL files".into(),
        }),
    }
}

/// A CoNLL sentence being read, and the first problem in it (line, message).
type OpenSentence = (TaggedSentence, Option<(usize, String)>);

/// The sentences of a CoNLL file. Every token line must have as many columns as the first.
fn read_conll(
    path: &Path,
    columns: ConllColumns,
    on_bad: OnBadRow,
) -> Result<Read<TaggedSentence>, DataError> {
    let file = File::open(path).map_err(io_error(path))?;
    let mut out = Read {
        rows: Vec::new(),
        skipped: Vec::new(),
    };
    let mut current: Option<OpenSentence> = None;
    let finish = |current: &mut Option<OpenSentence>,
                  out: &mut Read<TaggedSentence>|
     -> Result<(), DataError> {
        if let Some((sentence, problem)) = current.take() {
            match problem {
                Some((line, p)) => handle(path, line, Err(p), on_bad, out)?,
                None => handle(path, sentence.line, Ok(sentence), on_bad, out)?,
            }
        }
        Ok(())
    };
    // The column count of the file's first token line, and that line.
    let mut first: Option<(usize, usize)> = None;
    for (number, line) in numbered_lines(BufReader::new(file)) {
        let line = line.map_err(io_error(path))?;
        let fields: Vec<&str> = line.split_whitespace().collect();
        if fields.is_empty() || fields[0].starts_with("-DOCSTART-") {
            finish(&mut current, &mut out)?;
            continue;
        }
        let entry = current.get_or_insert_with(|| {
            let sentence = TaggedSentence {
                line: number,
                tokens: Vec::new(),
                tags: Vec::new(),
            };
            (sentence, None)
        });
        let (count, since) = *first.get_or_insert((fields.len(), number));
        let tag_at = columns.tag.unwrap_or(fields.len() - 1);
        let problem = if fields.len() != count {
            Some(format!(
                "{} column(s), but line {since} has {count}: every token line needs the same \
                 columns (token ... tag)",
                fields.len()
            ))
        } else if fields.len() < 2 || columns.token >= fields.len() || tag_at >= fields.len() {
            Some(format!(
                "expected a token in column {} and a tag column, found {} column(s)",
                columns.token,
                fields.len()
            ))
        } else {
            None
        };
        if let Some(problem) = problem {
            entry.1.get_or_insert((number, problem));
            continue;
        }
        entry.0.tokens.push(fields[columns.token].to_string());
        entry.0.tags.push(fields[tag_at].to_string());
    }
    finish(&mut current, &mut out)?;
    Ok(out)
}

/// The sentences of a JSONL file of `{"tokens": [...], "tags": [...]}`.
fn read_jsonl_sentences(path: &Path, on_bad: OnBadRow) -> Result<Read<TaggedSentence>, DataError> {
    read_jsonl(path, on_bad, |number, value| {
        let list = |name: &str| -> Result<Vec<String>, String> {
            match value.get(name) {
                Some(Value::Array(items)) => items
                    .iter()
                    .enumerate()
                    .map(|(i, v)| match v {
                        Value::String(s) => Ok(s.clone()),
                        other => Err(format!("`{name}[{i}]` must be a string, found {other}")),
                    })
                    .collect(),
                Some(other) => Err(format!("field `{name}` must be a list, found {other}")),
                None => Err(format!("missing field `{name}`")),
            }
        };
        let tokens = list("tokens")?;
        let tags = list("tags")?;
        if tokens.is_empty() {
            return Err("field `tokens` is empty".into());
        }
        if tags.len() != tokens.len() {
            return Err(format!(
                "`tokens` has {} items but `tags` has {}",
                tokens.len(),
                tags.len()
            ));
        }
        Ok(TaggedSentence {
            line: number,
            tokens,
            tags,
        })
    })
}

/// Labels of word pieces from word tags, as transformers' NER example aligns them: the first
/// piece of each word gets its word's tag id, the other pieces and special tokens get -100.
/// `word_ids` is the encoding's word index per position (`None` for special tokens).
pub fn align_word_labels(word_ids: &[Option<u32>], word_labels: &[i64]) -> Vec<i64> {
    let mut previous = None;
    word_ids
        .iter()
        .map(|word| {
            let label = match word {
                Some(w) if previous != Some(*w) => {
                    word_labels.get(*w as usize).copied().unwrap_or(-100)
                }
                _ => -100,
            };
            previous = *word;
            label
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &tempfile::TempDir, name: &str, text: &str) -> PathBuf {
        let path = dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        path
    }

    fn columns(pair: bool, regression: bool) -> TextColumns {
        TextColumns {
            text: "sentence".into(),
            text_pair: pair.then(|| "sentence2".into()),
            label: Some("label".into()),
            regression,
        }
    }

    #[test]
    fn csv_rows_with_quotes_pairs_and_labels() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(
            &dir,
            "a.csv",
            "id,sentence,sentence2,label\n1,\"Hello, world\",\"a \"\"quoted\"\" pair\",positive\n2,Plain,Other,negative\n",
        );
        let read =
            read_text_examples(&path, Format::Csv, &columns(true, false), OnBadRow::Error).unwrap();
        assert_eq!(read.rows.len(), 2);
        assert_eq!(read.rows[0].text, "Hello, world");
        assert_eq!(read.rows[0].text_pair.as_deref(), Some("a \"quoted\" pair"));
        assert_eq!(
            read.rows[1].label,
            Some(LabelValue::Class("negative".into()))
        );
        assert_eq!(read.rows[1].line, 3);
    }

    #[test]
    fn bad_rows_stop_or_are_skipped_and_counted() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(
            &dir,
            "r.tsv",
            "sentence\tlabel\ngood\t1.5\nbad\tabc\n\t2\nok\t-0.25\n",
        );
        let err = read_text_examples(&path, Format::Tsv, &columns(false, true), OnBadRow::Error)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("r.tsv:3") && err.contains("`abc`") && err.contains("label"),
            "{err}"
        );
        let read =
            read_text_examples(&path, Format::Tsv, &columns(false, true), OnBadRow::Skip).unwrap();
        assert_eq!(read.rows.len(), 2);
        assert_eq!(read.rows[1].label, Some(LabelValue::Score(-0.25)));
        assert_eq!(
            read.skipped.iter().map(|b| b.line).collect::<Vec<_>>(),
            vec![3, 4]
        );
        let missing = TextColumns {
            text: "text".into(),
            ..columns(false, true)
        };
        let err = read_text_examples(&path, Format::Tsv, &missing, OnBadRow::Skip).unwrap_err();
        assert!(err.to_string().contains("no column `text`"), "{err}");
    }

    #[test]
    fn jsonl_texts_with_integer_string_and_bad_labels() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(
            &dir,
            "t.jsonl",
            "{\"sentence\": \"a\", \"label\": 1}\n\n{\"sentence\": \"b\", \"label\": \"neg\"}\n{\"sentence\": 3, \"label\": 1}\n",
        );
        let err = read_text_examples(
            &path,
            Format::Jsonl,
            &columns(false, false),
            OnBadRow::Error,
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("t.jsonl:4") && err.contains("`sentence` must be a string"),
            "{err}"
        );
        let read = read_text_examples(&path, Format::Jsonl, &columns(false, false), OnBadRow::Skip)
            .unwrap();
        assert_eq!(read.rows[0].label, Some(LabelValue::Class("1".into())));
        assert_eq!(read.rows[1].line, 3);
    }

    #[test]
    fn extra_fields_columns_arrays_and_boms_are_named_at_their_line() {
        let dir = tempfile::tempdir().unwrap();
        let unlabelled = TextColumns {
            label: None,
            ..columns(false, false)
        };
        // An unquoted comma: one field more than the header, in any line ending.
        for text in [
            "\u{feff}sentence,label\nfine,1\nHello, world,1\n",
            "sentence,label\r\nfine,1\r\nHello, world,1\r\n",
        ] {
            let path = write(&dir, "x.csv", text);
            let err = read_text_examples(&path, Format::Csv, &unlabelled, OnBadRow::Error)
                .unwrap_err()
                .to_string();
            assert!(
                err.contains("x.csv:3: the row has 3 fields, the header has 2"),
                "{text:?}: {err}"
            );
        }
        // CoNLL: a third column on line 5 of a two-column file, CRLF and a BOM.
        let path = write(
            &dir,
            "x.conll",
            "\u{feff}EU B-ORG\r\nrejects O\r\n\r\nPeter B-PER\r\nBlackburn NNP I-PER\r\n",
        );
        let conll = ConllColumns::default();
        let err = read_tagged_sentences(&path, Format::Conll, conll, OnBadRow::Error)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("x.conll:5: 3 column(s), but line 1 has 2"),
            "{err}"
        );
        let read = read_tagged_sentences(&path, Format::Conll, conll, OnBadRow::Skip).unwrap();
        assert_eq!(read.rows[0].tokens, vec!["EU", "rejects"]);
        assert_eq!(read.skipped[0].line, 5);
        // JSONL: a BOM before the first object, an array on line 2.
        let path = write(
            &dir,
            "x.jsonl",
            "\u{feff}{\"sentence\": \"a\"}\r\n[\"b\"]\r\n",
        );
        let err = read_text_examples(&path, Format::Jsonl, &unlabelled, OnBadRow::Error)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("x.jsonl:2: expected a JSON object") && err.contains("found an array"),
            "{err}"
        );
    }

    #[test]
    fn conll_sentences_docstart_blank_lines_and_columns() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(
            &dir,
            "n.conll",
            "-DOCSTART- -X- O O\n\nEU NNP B-ORG\nrejects VBZ O\n \t\nPeter NNP B-PER\nBlackburn NNP I-PER\n",
        );
        let read = read_tagged_sentences(
            &path,
            Format::Conll,
            ConllColumns::default(),
            OnBadRow::Error,
        )
        .unwrap();
        assert_eq!(read.rows.len(), 2);
        assert_eq!(read.rows[0].tokens, vec!["EU", "rejects"]);
        assert_eq!(read.rows[0].tags, vec!["B-ORG", "O"]);
        assert_eq!(read.rows[1].line, 6);
        let pos = ConllColumns {
            token: 0,
            tag: Some(1),
        };
        let read = read_tagged_sentences(&path, Format::Conll, pos, OnBadRow::Error).unwrap();
        assert_eq!(read.rows[1].tags, vec!["NNP", "NNP"]);

        let bad = write(&dir, "b.conll", "a\tO\nlonely\n\nb\tO\n");
        let err = read_tagged_sentences(
            &bad,
            Format::Conll,
            ConllColumns::default(),
            OnBadRow::Error,
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("b.conll:2: 1 column(s), but line 1 has 2"),
            "{err}"
        );
        let read =
            read_tagged_sentences(&bad, Format::Conll, ConllColumns::default(), OnBadRow::Skip)
                .unwrap();
        assert_eq!(read.rows.len(), 1);
        assert_eq!(read.skipped.len(), 1);
    }

    #[test]
    fn jsonl_sentences_must_have_one_tag_per_token() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(
            &dir,
            "s.jsonl",
            "{\"tokens\": [\"a\", \"b\"], \"tags\": [\"O\", \"B-X\"]}\n{\"tokens\": [\"a\"], \"tags\": []}\n",
        );
        let err = read_tagged_sentences(
            &path,
            Format::Jsonl,
            ConllColumns::default(),
            OnBadRow::Error,
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("s.jsonl:2") && err.contains("`tags` has 0"),
            "{err}"
        );
    }

    #[test]
    fn word_labels_go_to_first_pieces() {
        let words = [None, Some(0), Some(1), Some(1), Some(2), None];
        assert_eq!(
            align_word_labels(&words, &[3, 1, 4]),
            vec![-100, 3, 1, -100, 4, -100]
        );
    }

    #[test]
    fn formats_from_extensions() {
        assert_eq!(
            Format::from_path(Path::new("a/b.CSV")).unwrap(),
            Format::Csv
        );
        assert_eq!(
            Format::from_path(Path::new("x.conll")).unwrap(),
            Format::Conll
        );
        assert!(Format::from_path(Path::new("x.parquet")).is_err());
    }
}
