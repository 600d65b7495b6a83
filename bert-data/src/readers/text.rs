//! Raw text for language-model training: documents separated by blank lines, or one text per
//! line.

use std::io::BufReader;
use std::ops::Range;
use std::path::{Path, PathBuf};

use super::{io_error, numbered_lines, DataError};

/// One text: a document (its lines joined by spaces) or a line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TextDocument {
    /// The line it starts on (1-based).
    pub line: usize,
    /// Its text.
    pub text: String,
    /// Where its lines lie in `text` (byte ranges), when read as a document: each is one
    /// sentence or line of it.
    pub lines: Vec<Range<usize>>,
}

/// Reads `path` as blank-line-separated documents, or with `line_by_line` one text per
/// non-blank line. Lines that are not UTF-8 are errors naming the line.
pub fn read_documents(path: &Path, line_by_line: bool) -> Result<Vec<TextDocument>, DataError> {
    Documents::open(path, line_by_line)?.collect()
}

/// The documents of a text file, one at a time (what [`read_documents`] collects): a corpus is
/// read in the memory of its longest document.
pub struct Documents {
    path: PathBuf,
    line_by_line: bool,
    lines: Box<dyn Iterator<Item = (usize, std::io::Result<String>)> + Send>,
    current: Option<TextDocument>,
    bytes_read: u64,
    keep_lines: bool,
}

impl Documents {
    /// Opens `path`; documents as [`read_documents`] reads them.
    pub fn open(path: &Path, line_by_line: bool) -> Result<Self, DataError> {
        let file = std::fs::File::open(path).map_err(io_error(path))?;
        Ok(Documents {
            path: path.to_path_buf(),
            line_by_line,
            lines: Box::new(numbered_lines(BufReader::with_capacity(1 << 20, file))),
            current: None,
            bytes_read: 0,
            keep_lines: true,
        })
    }

    /// Leaves [`TextDocument::lines`] empty (for readers that want the text alone).
    pub fn without_lines(mut self) -> Self {
        self.keep_lines = false;
        self
    }

    /// Bytes of the file read so far (line ends counted as one byte).
    pub fn bytes_read(&self) -> u64 {
        self.bytes_read
    }

    /// The next document, `None` at the end of the file.
    fn next_document(&mut self) -> Result<Option<TextDocument>, DataError> {
        while let Some((number, line)) = self.lines.next() {
            let line = line.map_err(|e| match e.kind() {
                std::io::ErrorKind::InvalidData => DataError::Row {
                    path: self.path.clone(),
                    line: number,
                    message: "not UTF-8 text".into(),
                },
                _ => io_error(&self.path)(e),
            })?;
            self.bytes_read += line.len() as u64 + 1;
            let text = line.trim();
            if text.is_empty() {
                match self.current.take() {
                    Some(document) => return Ok(Some(document)),
                    None => continue,
                }
            }
            if self.line_by_line {
                return Ok(Some(TextDocument {
                    line: number,
                    text: text.to_string(),
                    lines: match self.keep_lines {
                        true => vec![0..text.len()],
                        false => Vec::new(),
                    },
                }));
            }
            let document = self.current.get_or_insert_with(|| TextDocument {
                line: number,
                text: String::new(),
                lines: Vec::new(),
            });
            if !document.text.is_empty() {
                document.text.push(' ');
            }
            let start = document.text.len();
            document.text.push_str(text);
            if self.keep_lines {
                document.lines.push(start..document.text.len());
            }
        }
        Ok(self.current.take())
    }
}

impl Iterator for Documents {
    type Item = Result<TextDocument, DataError>;

    fn next(&mut self) -> Option<Self::Item> {
        self.next_document().transpose()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documents_are_blank_line_separated_or_one_per_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("text.txt");
        std::fs::write(&path, "First line.\nSecond line.\n\n\n  Third.  \n").unwrap();
        let documents = read_documents(&path, false).unwrap();
        assert_eq!(documents.len(), 2);
        assert_eq!(documents[0].text, "First line. Second line.");
        let lines = &documents[0].lines;
        assert_eq!(&documents[0].text[lines[1].clone()], "Second line.");
        assert_eq!(
            (documents[1].line, documents[1].text.as_str()),
            (5, "Third.")
        );
        let lines = read_documents(&path, true).unwrap();
        assert_eq!(lines.len(), 3);
        assert_eq!(lines[1].line, 2);
        std::fs::write(&path, b"ok\n\xff\xfe\n").unwrap();
        let error = read_documents(&path, false).unwrap_err().to_string();
        assert!(error.contains(":2:") && error.contains("UTF-8"), "{error}");
    }
}
