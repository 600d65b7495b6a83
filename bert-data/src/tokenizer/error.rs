//! Errors of the tokenizer.

use std::path::PathBuf;

/// What can go wrong when loading or using a [`super::BertTokenizer`].
#[derive(Debug, thiserror::Error)]
pub enum TokenizerError {
    /// A file could not be read.
    #[error("cannot read {path}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// A JSON file (tokenizer.json, tokenizer_config.json) is not valid JSON or has a field of
    /// the wrong type.
    #[error("{path}: {message}")]
    Json {
        /// The file.
        path: PathBuf,
        /// What is wrong, with the line and column where serde_json could tell.
        message: String,
    },
    /// A vocabulary file holds no token.
    #[error("{path}: the vocabulary is empty")]
    EmptyVocab {
        /// The file.
        path: PathBuf,
    },
    /// A tokenizer.json describes something other than a BERT WordPiece tokenizer.
    #[error("{path}: unsupported tokenizer.json: {reason}")]
    Unsupported {
        /// The file.
        path: PathBuf,
        /// Which field and why.
        reason: String,
    },
    /// A special token the tokenizer needs is not in the vocabulary.
    #[error("the special token {role} = {token:?} is not in the vocabulary")]
    MissingSpecialToken {
        /// `unk_token`, `cls_token`, ...
        role: &'static str,
        /// Its text.
        token: String,
    },
    /// A model directory holds no vocabulary.
    #[error("no vocabulary in {dir}: looked for {}", looked.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(" and "))]
    NoVocab {
        /// The directory.
        dir: PathBuf,
        /// The files looked for.
        looked: Vec<PathBuf>,
    },
    /// An id outside the vocabulary.
    #[error("token id {id} is outside the vocabulary (size {vocab_size})")]
    UnknownId {
        /// The id.
        id: u32,
        /// The vocabulary size.
        vocab_size: usize,
    },
    /// Truncation cannot reach the requested length.
    #[error("truncation: {0}")]
    Truncation(String),
}
