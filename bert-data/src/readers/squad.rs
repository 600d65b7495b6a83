//! Extractive question answering data: a question, a context and the answers as character
//! spans of the context.
//!
//! - SQuAD v1.1 / v2.0 JSON: `{"data": [{"paragraphs": [{"context": "...", "qas": [{"id",
//!   "question", "answers": [{"text", "answer_start"}], "is_impossible"}]}]}]}`;
//! - JSONL rows `{"id", "question", "context", "answers": {"text": [...], "answer_start":
//!   [...]}}` (the layout of HF datasets' `squad`).
//!
//! Offsets count characters (Unicode scalar values, as Python indexes strings). An answer whose
//! text is not at its `answer_start` is a bad row; empty answer lists mean no answer. Problems in
//! a SQuAD JSON file name the entry (`data[0].paragraphs[2].qas[1]`), since such files are often
//! one line.

use std::path::Path;

use serde_json::Value;

use super::{io_error, read_jsonl, BadRow, DataError, OnBadRow, Read};

/// One question.
#[derive(Debug, Clone, PartialEq)]
pub struct QaExample {
    /// The JSONL line (1-based), or 0 for an entry of a SQuAD JSON file.
    pub line: usize,
    /// Its id (`id`; the line number when a JSONL row has none).
    pub id: String,
    /// The question.
    pub question: String,
    /// The paragraph the answers are cut from.
    pub context: String,
    /// Gold answers; empty when the question has no answer in the context.
    pub answers: Vec<Answer>,
}

/// One gold answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    /// Its text, as it stands in the context.
    pub text: String,
    /// The character where it starts in the context.
    pub start: usize,
}

impl Answer {
    /// The character just after it.
    pub fn end(&self) -> usize {
        self.start + self.text.chars().count()
    }
}

/// Reads a SQuAD JSON file or a JSONL file of questions (told apart by their content).
pub fn read_qa_examples(path: &Path, on_bad: OnBadRow) -> Result<Read<QaExample>, DataError> {
    let text = std::fs::read_to_string(path).map_err(io_error(path))?;
    match serde_json::from_str::<Value>(&text) {
        Ok(Value::Object(doc)) if doc.contains_key("data") => read_squad(path, &doc, on_bad),
        _ => read_jsonl(path, on_bad, jsonl_row),
    }
}

fn read_squad(
    path: &Path,
    doc: &serde_json::Map<String, Value>,
    on_bad: OnBadRow,
) -> Result<Read<QaExample>, DataError> {
    let entry_error = |entry: String, message: String| DataError::Entry {
        path: path.to_path_buf(),
        entry,
        message,
    };
    let articles = doc["data"]
        .as_array()
        .ok_or_else(|| entry_error("data".into(), "must be a list of articles".into()))?;
    let mut out = Read {
        rows: Vec::new(),
        skipped: Vec::new(),
    };
    for (a, article) in articles.iter().enumerate() {
        let paragraphs =
            list(article, "paragraphs").map_err(|m| entry_error(format!("data[{a}]"), m))?;
        for (p, paragraph) in paragraphs.iter().enumerate() {
            let at = format!("data[{a}].paragraphs[{p}]");
            let context = string(paragraph, "context").map_err(|m| entry_error(at.clone(), m))?;
            let qas = list(paragraph, "qas").map_err(|m| entry_error(at.clone(), m))?;
            for (q, qa) in qas.iter().enumerate() {
                let row = squad_question(qa, &context);
                let entry = format!("{at}.qas[{q}]");
                match (row, on_bad) {
                    (Ok(row), _) => out.rows.push(row),
                    (Err(message), OnBadRow::Error) => return Err(entry_error(entry, message)),
                    (Err(message), OnBadRow::Skip) => out.skipped.push(BadRow {
                        line: 0,
                        message: format!("{entry}: {message}"),
                    }),
                }
            }
        }
    }
    Ok(out)
}

fn squad_question(qa: &Value, context: &str) -> Result<QaExample, String> {
    let id = id_of(qa, 0)?;
    let question = non_empty(qa, "question")?;
    let impossible = matches!(qa.get("is_impossible"), Some(Value::Bool(true)));
    let mut answers = Vec::new();
    if !impossible {
        for (i, answer) in list(qa, "answers")?.iter().enumerate() {
            let text = string(answer, "text").map_err(|m| format!("answers[{i}]: {m}"))?;
            let start = match answer.get("answer_start") {
                Some(Value::Number(n)) if n.is_u64() => n.as_u64().unwrap_or(0) as usize,
                Some(other) => {
                    return Err(format!(
                        "field `answers[{i}].answer_start` must be a character offset, found \
                         {other}"
                    ))
                }
                None => return Err(format!("missing field `answers[{i}].answer_start`")),
            };
            answers.push(checked(context, text, start, &format!("answers[{i}]"))?);
        }
    }
    Ok(QaExample {
        line: 0,
        id,
        question,
        context: context.to_string(),
        answers,
    })
}

fn jsonl_row(line: usize, row: &Value) -> Result<QaExample, String> {
    let id = id_of(row, line)?;
    let question = non_empty(row, "question")?;
    let context = non_empty(row, "context")?;
    let answers = match row.get("answers") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Object(fields)) => {
            let texts = string_list(fields.get("text"), "answers.text")?;
            let starts = offset_list(fields.get("answer_start"))?;
            if texts.len() != starts.len() {
                return Err(format!(
                    "field `answers`: {} texts but {} answer_start offsets",
                    texts.len(),
                    starts.len()
                ));
            }
            let pairs = texts.into_iter().zip(starts).enumerate();
            pairs
                .map(|(i, (text, start))| {
                    checked(&context, text, start, &format!("answers.text[{i}]"))
                })
                .collect::<Result<_, _>>()?
        }
        Some(other) => {
            return Err(format!(
            "field `answers` must be {{\"text\": [...], \"answer_start\": [...]}}, found {other}"
        ))
        }
    };
    Ok(QaExample {
        line,
        id,
        question,
        context,
        answers,
    })
}

/// The answer, if its text stands at `start` in `context`.
fn checked(context: &str, text: String, start: usize, field: &str) -> Result<Answer, String> {
    let n = text.chars().count();
    let found: String = context.chars().skip(start).take(n).collect();
    if n == 0 || found != text {
        return Err(format!(
            "field `{field}`: the answer {text:?} is not at character {start} of the context \
             (found {found:?})"
        ));
    }
    Ok(Answer { text, start })
}

fn id_of(row: &Value, line: usize) -> Result<String, String> {
    match row.get("id") {
        Some(Value::String(s)) => Ok(s.clone()),
        Some(Value::Number(n)) => Ok(n.to_string()),
        None if line > 0 => Ok(line.to_string()),
        Some(other) => Err(format!("field `id` must be a string, found {other}")),
        None => Err("missing field `id`".into()),
    }
}

fn string(value: &Value, name: &str) -> Result<String, String> {
    match value.get(name) {
        Some(Value::String(s)) => Ok(s.clone()),
        Some(other) => Err(format!("field `{name}` must be a string, found {other}")),
        None => Err(format!("missing field `{name}`")),
    }
}

fn non_empty(value: &Value, name: &str) -> Result<String, String> {
    let s = string(value, name)?;
    if s.trim().is_empty() {
        return Err(format!("field `{name}` is empty"));
    }
    Ok(s)
}

fn list<'v>(value: &'v Value, name: &str) -> Result<&'v Vec<Value>, String> {
    match value.get(name) {
        Some(Value::Array(items)) => Ok(items),
        Some(other) => Err(format!("field `{name}` must be a list, found {other}")),
        None => Err(format!("missing field `{name}`")),
    }
}

fn string_list(value: Option<&Value>, name: &str) -> Result<Vec<String>, String> {
    match value {
        Some(Value::Array(items)) => items
            .iter()
            .map(|v| match v {
                Value::String(s) => Ok(s.clone()),
                other => Err(format!(
                    "field `{name}`: every item must be a string, found {other}"
                )),
            })
            .collect(),
        Some(other) => Err(format!("field `{name}` must be a list, found {other}")),
        None => Err(format!("missing field `{name}`")),
    }
}

fn offset_list(value: Option<&Value>) -> Result<Vec<usize>, String> {
    let name = "answers.answer_start";
    match value {
        Some(Value::Array(items)) => items
            .iter()
            .map(|v| match v.as_u64() {
                Some(n) => Ok(n as usize),
                None => Err(format!("field `{name}`: {v} is not a character offset")),
            })
            .collect(),
        Some(other) => Err(format!("field `{name}` must be a list, found {other}")),
        None => Err(format!("missing field `{name}`")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(text: &str, ext: &str) -> (tempfile::TempDir, std::path::PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(format!("qa.{ext}"));
        std::fs::write(&path, text).unwrap();
        (dir, path)
    }

    const SQUAD: &str = r#"{"version": "v2.0", "data": [{"title": "t", "paragraphs": [
        {"context": "Zoë lives in Paris. She was born in 1990.",
         "qas": [{"id": "a", "question": "Where?", "answers": [{"text": "Paris", "answer_start": 13}]},
                 {"id": "b", "question": "When?", "answers": [], "is_impossible": true,
                  "plausible_answers": [{"text": "x", "answer_start": 0}]},
                 {"id": "c", "question": "Who?", "answers": [{"text": "Zoë", "answer_start": 1}]}]}]}]}"#;

    #[test]
    fn squad_json_counts_characters_and_names_the_entry_of_a_bad_answer() {
        let (_dir, path) = write(SQUAD, "json");
        let error = read_qa_examples(&path, OnBadRow::Error)
            .unwrap_err()
            .to_string();
        assert!(error.contains("data[0].paragraphs[0].qas[2]"), "{error}");
        assert!(error.contains("not at character 1"), "{error}");
        let read = read_qa_examples(&path, OnBadRow::Skip).unwrap();
        assert_eq!(read.rows.len(), 2);
        assert_eq!(read.skipped.len(), 1);
        // "Zoë" is 3 characters (4 bytes): "Paris" starts at character 13.
        assert_eq!(
            read.rows[0].answers,
            [Answer {
                text: "Paris".into(),
                start: 13
            }]
        );
        assert_eq!(read.rows[0].answers[0].end(), 18);
        assert!(read.rows[1].answers.is_empty());
    }

    #[test]
    fn jsonl_rows_have_answer_lists_and_bad_rows_name_line_and_field() {
        let rows = "{\"id\": \"q1\", \"question\": \"Where?\", \"context\": \"In Rome.\", \"answers\": {\"text\": [\"Rome\"], \"answer_start\": [3]}}\n\
                    {\"question\": \"Who?\", \"context\": \"In Rome.\", \"answers\": {\"text\": [], \"answer_start\": []}}\n\
                    {\"question\": \"What?\", \"context\": \"In Rome.\", \"answers\": {\"text\": [\"Rome\"], \"answer_start\": [2]}}\n";
        let (_dir, path) = write(rows, "jsonl");
        let error = read_qa_examples(&path, OnBadRow::Error)
            .unwrap_err()
            .to_string();
        assert!(
            error.contains(":3:") && error.contains("answers.text[0]"),
            "{error}"
        );
        let read = read_qa_examples(&path, OnBadRow::Skip).unwrap();
        assert_eq!(read.rows.len(), 2);
        assert_eq!(read.rows[1].id, "2");
        assert!(read.rows[1].answers.is_empty());
        assert_eq!(read.skipped[0].line, 3);
    }
}
