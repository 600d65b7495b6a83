//! `bert-data`: turning text into what a BERT model reads.
//!
//! - [`tokenizer`]: [`BertTokenizer`], basic tokenization followed by WordPiece, token for token
//!   identical to transformers' `BertTokenizer`, with character offsets into the original text.
//!
//! - [`readers`]: fine-tuning data from CSV / TSV / JSONL (texts, pairs, class or score labels)
//!   and CoNLL / JSONL (tagged words), with errors naming file, line and field, and word-tag to
//!   word-piece alignment.
//! - [`batch`]: label sets, the seeded (resumable) order of batches with optional length
//!   grouping, and padding rows onto a device.
//! - [`shards`]: tokenized rows in Arrow IPC files read through a memory map, for corpora
//!   larger than memory.

pub mod batch;
pub mod readers;
pub mod shards;
pub mod tokenizer;
pub mod values;

pub use tokenizer::{
    BertTokenizer, Encoding, PieceIds, SpecialTokens, TokenizedText, TokenizerError,
    TokenizerOptions, TokenizerOverrides, Truncation, TruncationStrategy, WindowOptions,
};
