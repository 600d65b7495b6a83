//! Multiple-choice rows: a context, two or more choices and the index of the right one.
//!
//! - JSONL: `{"context": "...", "choices": ["...", ...], "label": 2}` (keys settable);
//! - CSV in SWAG's layout: `sent1`, `sent2`, `ending0` .. `endingN`, `label`; the context is
//!   `sent1` and each choice `sent2 + " " + ending`.
//!
//! Every row of a file has the same number of choices (the first good row sets it); a row with
//! another count, or a label outside the choices, is a bad row.

use std::path::Path;

use serde_json::Value;

use super::{handle, io_error, read_jsonl, DataError, Format, OnBadRow, Read};

/// One multiple-choice row.
#[derive(Debug, Clone, PartialEq)]
pub struct ChoiceExample {
    /// The line it came from (1-based).
    pub line: usize,
    /// The text every choice is paired with.
    pub context: String,
    /// The choices, in order.
    pub choices: Vec<String>,
    /// The index of the right choice, if the file has labels.
    pub label: Option<usize>,
}

/// The JSONL keys of the context, the choice list and the label (SWAG CSV files have fixed
/// column names).
#[derive(Debug, Clone, PartialEq)]
pub struct ChoiceColumns {
    /// Key of the context (default `context`).
    pub context: String,
    /// Key of the list of choices (default `choices`).
    pub choices: String,
    /// Key of the label; `None` reads unlabelled rows.
    pub label: Option<String>,
}

/// Reads multiple-choice rows from a JSONL file or a SWAG-layout CSV file.
pub fn read_choice_examples(
    path: &Path,
    format: Format,
    columns: &ChoiceColumns,
    on_bad: OnBadRow,
) -> Result<Read<ChoiceExample>, DataError> {
    match format {
        Format::Jsonl => {
            // The first good row sets the number of choices of the file.
            let count = std::cell::Cell::new(None);
            read_jsonl(path, on_bad, |line, value| {
                let row = json_row(line, value, columns)?;
                match count.get() {
                    Some(n) if n != row.choices.len() => Err(format!(
                        "field `{}`: {} choices, but the file's first row has {n}",
                        columns.choices,
                        row.choices.len()
                    )),
                    _ => {
                        count.set(Some(row.choices.len()));
                        Ok(row)
                    }
                }
            })
        }
        // SWAG's header fixes the number of endings.
        Format::Csv => read_swag(path, columns.label.is_some(), on_bad),
        other => {
            return Err(DataError::Row {
                path: path.to_path_buf(),
                line: 0,
                message: format!(
                    "multiple choice reads JSONL or SWAG-layout CSV files, not {other:?}"
                ),
            })
        }
    }
}

/// The names errors give the three fields: the JSONL keys, or SWAG's columns.
struct Names<'a> {
    context: &'a str,
    /// The field of the whole list.
    list: &'a str,
    /// The field of choice `i`.
    choice: &'a dyn Fn(usize) -> String,
    label: &'a str,
}

fn check(
    context: String,
    choices: Vec<String>,
    label: Option<i64>,
    line: usize,
    names: &Names,
) -> Result<ChoiceExample, String> {
    if context.trim().is_empty() {
        return Err(format!("field `{}`: empty context", names.context));
    }
    if choices.len() < 2 {
        return Err(format!(
            "field `{}`: {} choice(s); at least 2 are needed",
            names.list,
            choices.len()
        ));
    }
    if let Some(i) = choices.iter().position(|c| c.trim().is_empty()) {
        return Err(format!(
            "field `{}`: choice {i} is empty",
            (names.choice)(i)
        ));
    }
    let label = match label {
        None => None,
        Some(l) if l >= 0 && (l as usize) < choices.len() => Some(l as usize),
        Some(l) => {
            return Err(format!(
                "field `{}`: {l} is not the index of one of the {} choices",
                names.label,
                choices.len()
            ))
        }
    };
    Ok(ChoiceExample {
        line,
        context,
        choices,
        label,
    })
}

fn json_row(line: usize, value: &Value, columns: &ChoiceColumns) -> Result<ChoiceExample, String> {
    let context = match value.get(&columns.context) {
        Some(Value::String(s)) => s.clone(),
        Some(other) => {
            return Err(format!(
                "field `{}` must be a string, found {other}",
                columns.context
            ))
        }
        None => return Err(format!("missing field `{}`", columns.context)),
    };
    let name = &columns.choices;
    let choices = match value.get(name) {
        Some(Value::Array(items)) => items
            .iter()
            .map(|c| match c {
                Value::String(s) => Ok(s.clone()),
                other => Err(format!(
                    "field `{name}`: every choice must be a string, found {other}"
                )),
            })
            .collect::<Result<Vec<_>, _>>()?,
        Some(other) => {
            return Err(format!(
                "field `{name}` must be a list of strings, found {other}"
            ))
        }
        None => return Err(format!("missing field `{name}`")),
    };
    let label = match &columns.label {
        None => None,
        Some(key) => Some(match value.get(key) {
            Some(Value::Number(n)) if n.is_i64() => n.as_i64().unwrap_or(-1),
            Some(Value::String(s)) => s
                .trim()
                .parse()
                .map_err(|_| format!("field `{key}`: `{s}` is not a choice index"))?,
            Some(other) => {
                return Err(format!(
                    "field `{key}` must be a choice index, found {other}"
                ))
            }
            None => return Err(format!("missing field `{key}`")),
        }),
    };
    let name = &columns.choices;
    let names = Names {
        context: &columns.context,
        list: name,
        choice: &|i| format!("{name}[{i}]"),
        label: columns.label.as_deref().unwrap_or("label"),
    };
    check(context, choices, label, line, &names)
}

fn read_swag(
    path: &Path,
    labelled: bool,
    on_bad: OnBadRow,
) -> Result<Read<ChoiceExample>, DataError> {
    let bytes = std::fs::read(path).map_err(io_error(path))?;
    let lines = super::LineIndex::new(&bytes);
    let mut reader = csv::ReaderBuilder::new()
        .flexible(true)
        .from_reader(&bytes[..]);
    let header_error = |message: String| DataError::Row {
        path: path.to_path_buf(),
        line: 1,
        message,
    };
    let header = reader
        .headers()
        .map_err(|e| header_error(format!("cannot read the header: {e}")))?
        .clone();
    let find = |name: &str| header.iter().position(|h| h.trim() == name);
    let need = |name: &str| {
        find(name).ok_or_else(|| {
            let columns: Vec<&str> = header.iter().collect();
            header_error(format!(
                "no column `{name}` in the header of a SWAG-layout file (columns: {})",
                columns.join(", ")
            ))
        })
    };
    let sent1 = need("sent1")?;
    let sent2 = need("sent2")?;
    let endings: Vec<usize> = (0..).map_while(|i| find(&format!("ending{i}"))).collect();
    if endings.len() < 2 {
        return Err(header_error(
            "a SWAG-layout file needs columns ending0 and ending1 at least".into(),
        ));
    }
    let label_at = if labelled { Some(need("label")?) } else { None };
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
        let get = |at: usize| record.get(at).unwrap_or("").to_string();
        let row = (|| {
            let lead = get(sent2);
            let choices = endings.iter().map(|&at| join(&lead, &get(at))).collect();
            let label =
                match label_at {
                    None => None,
                    Some(at) => Some(get(at).trim().parse::<i64>().map_err(|_| {
                        format!("field `label`: `{}` is not a choice index", get(at))
                    })?),
                };
            let names = Names {
                context: "sent1",
                list: "ending0..",
                choice: &|i| format!("ending{i}"),
                label: "label",
            };
            check(get(sent1), choices, label, line, &names)
        })();
        handle(path, line, row, on_bad, &mut out)?;
    }
    Ok(out)
}

/// `sent2 + " " + ending`, as the SWAG preprocessing of transformers' example builds a choice.
fn join(lead: &str, ending: &str) -> String {
    if ending.trim().is_empty() {
        return String::new();
    }
    format!("{lead} {ending}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn columns() -> ChoiceColumns {
        ChoiceColumns {
            context: "context".into(),
            choices: "choices".into(),
            label: Some("label".into()),
        }
    }

    fn write(dir: &tempfile::TempDir, name: &str, text: &str) -> std::path::PathBuf {
        let path = dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        path
    }

    #[test]
    fn jsonl_rows_with_good_and_bad_lines() {
        let dir = tempfile::tempdir().unwrap();
        let text = [
            r#"{"context": "Tom was hungry.", "choices": ["He ate.", "He slept.", "He ran."], "label": 0}"#,
            r#"{"context": "It rained.", "choices": ["Wet.", "Dry."], "label": 1}"#,
            r#"{"context": "A", "choices": ["x", "y", "z"], "label": 3}"#,
            r#"{"context": "B", "choices": ["x", "", "z"], "label": 0}"#,
            r#"{"context": "C", "choices": "x", "label": 0}"#,
            "",
            r#"{"context": "D", "choices": ["p", "q", "r"], "label": "2"}"#,
        ]
        .join("\n");
        let path = write(&dir, "mc.jsonl", &text);
        let err = read_choice_examples(&path, Format::Jsonl, &columns(), OnBadRow::Error)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("mc.jsonl:2:") && err.contains("2 choices"),
            "{err}"
        );
        let read = read_choice_examples(&path, Format::Jsonl, &columns(), OnBadRow::Skip).unwrap();
        assert_eq!(read.rows.len(), 2);
        assert_eq!(read.rows[0].choices.len(), 3);
        assert_eq!(read.rows[1].label, Some(2));
        assert_eq!(read.rows[1].line, 7);
        let lines: Vec<usize> = read.skipped.iter().map(|b| b.line).collect();
        assert_eq!(lines, vec![2, 3, 4, 5]);
        assert!(read.skipped[0]
            .message
            .contains("2 choices, but the file's first row has 3"));
        assert!(read.skipped[2]
            .message
            .contains("field `choices[1]`: choice 1 is empty"));
        assert!(read.skipped[3]
            .message
            .contains("must be a list of strings"));
    }

    #[test]
    fn swag_csv_pairs_sent2_with_each_ending() {
        let dir = tempfile::tempdir().unwrap();
        let text = "video-id,sent1,sent2,ending0,ending1,ending2,ending3,label\n\
                    v1,She opens the door.,She,walks in.,flies away.,\"sings, loudly.\",sleeps.,0\n\
                    v2,He sits.,He,reads.,eats.,runs.,jumps.,7\n";
        let path = write(&dir, "swag.csv", text);
        let read = read_choice_examples(&path, Format::Csv, &columns(), OnBadRow::Skip).unwrap();
        assert_eq!(read.rows.len(), 1);
        let row = &read.rows[0];
        assert_eq!(row.context, "She opens the door.");
        assert_eq!(row.choices[2], "She sings, loudly.");
        assert_eq!((row.label, row.line), (Some(0), 2));
        assert_eq!(read.skipped[0].line, 3);
        let header_only = write(&dir, "bad.csv", "sent1,sent2,ending0,label\n");
        let err = read_choice_examples(&header_only, Format::Csv, &columns(), OnBadRow::Error)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("bad.csv:1:") && err.contains("ending1"),
            "{err}"
        );
    }
}
