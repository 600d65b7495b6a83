//! `bert-data`: turning text into what a BERT model reads.
//!
//! - [`tokenizer`]: [`BertTokenizer`], basic tokenization followed by WordPiece, token for token
//!   identical to transformers' `BertTokenizer`, with character offsets into the original text.
//!
//! Readers for CSV / JSONL / CoNLL files and batching onto a device come with the fine-tuning work
//! (see `NOTES.md` at the repository root).

pub mod tokenizer;

pub use tokenizer::{
    BertTokenizer, Encoding, SpecialTokens, TokenizedText, TokenizerError, TokenizerOptions,
    TokenizerOverrides, Truncation, TruncationStrategy,
};
