//! Raw-text corpora as rows of tokens, for masked-LM and pre-training on more text than memory
//! holds.
//!
//! A text file is read one document at a time and tokenized in parallel while it is read
//! ([`pipeline`]), then packed into blocks ([`blocks`]) or made into pre-training instances
//! ([`sentences`], [`instances`]). The rows are kept in memory, or written once to Arrow shards
//! in a cache folder keyed by the content of the text and the settings ([`cache`]), and read
//! back through a memory map: a run then holds the pages it touches, not the corpus.

pub mod blocks;
pub mod cache;
pub mod instances;
pub mod pipeline;
pub mod progress;
pub mod rows;
pub mod sentences;

use std::path::{Path, PathBuf};

use bert_data::shards::TokenRow;
use bert_data::BertTokenizer;
use serde::Serialize;

use crate::TrainError;
use blocks::BlockOptions;
use instances::InstanceOptions;
use pipeline::Read;
use progress::Progress;
use rows::{RowBuffer, Rows};

/// A block of tokens held in memory.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tokens {
    /// Token ids.
    pub ids: Vec<u32>,
    /// 1 for `[CLS]` and `[SEP]` (never masked), else 0.
    pub special: Vec<u8>,
    /// 1 for tokens that start a word, else 0.
    pub word_start: Vec<u8>,
}

impl Tokens {
    /// The block as a row.
    pub fn row(&self) -> TokenRow<'_> {
        TokenRow {
            ids: &self.ids,
            special: &self.special,
            word_start: &self.word_start,
        }
    }

    /// Appends `row`.
    pub fn extend(&mut self, row: TokenRow<'_>) {
        self.ids.extend_from_slice(row.ids);
        self.special.extend_from_slice(row.special);
        self.word_start.extend_from_slice(row.word_start);
    }
}

/// What the rows of a corpus are.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Layout {
    /// Blocks of tokens for masked LM.
    Blocks(BlockOptions),
    /// Segment pairs for pre-training, labelled for next-sentence prediction.
    Instances(InstanceOptions),
}

impl Layout {
    /// The name of the rows' label column in shards, if they have one.
    pub fn label_column(&self) -> Option<&'static str> {
        match self {
            Layout::Blocks(_) => None,
            Layout::Instances(_) => Some("next_sentence_label"),
        }
    }
}

/// The rows of one text file, in memory or in mapped shards.
pub struct Corpus {
    rows: Rows,
    /// `[MASK]`'s id.
    pub mask_id: u32,
    /// The vocabulary size (random replacements are drawn below it).
    pub vocab_size: u32,
}

/// Where a corpus comes from and how it is cut.
#[derive(Debug, Clone)]
pub struct Source<'a> {
    /// The text file.
    pub path: &'a Path,
    /// What its rows are.
    pub layout: Layout,
    /// Read only the first N documents (lines, for line-by-line blocks).
    pub limit: Option<usize>,
    /// The shard cache folder; `None` keeps the rows in memory.
    pub cache_dir: Option<PathBuf>,
}

impl Corpus {
    /// The rows of `source`: from the cache when prepared before, else read (and, with a
    /// cache folder, prepared into it first), reporting to `progress`.
    pub fn load(
        source: &Source,
        tokenizer: &BertTokenizer,
        progress: &mut dyn Progress,
    ) -> Result<Corpus, TrainError> {
        let rows = match &source.cache_dir {
            Some(dir) => Rows::Shards(cache::prepared(source, dir, tokenizer, progress)?),
            None => {
                let mut buffer = RowBuffer::default();
                read_rows(source, tokenizer, progress, None, &mut |row, label| {
                    buffer.push(row, label);
                    Ok(())
                })?;
                Rows::Memory(buffer)
            }
        };
        Ok(Corpus {
            rows,
            mask_id: tokenizer.special_ids().mask,
            vocab_size: tokenizer.vocab_size() as u32,
        })
    }

    /// Rows in the corpus.
    pub fn len(&self) -> usize {
        self.rows.len()
    }

    /// Whether the corpus has no rows.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Row `i`.
    ///
    /// # Panics
    /// If `i` is not below [`Corpus::len`].
    pub fn row(&self, i: usize) -> TokenRow<'_> {
        self.rows.row(i)
    }

    /// The label of row `i`, if its rows have one (instances: their next-sentence label).
    pub fn label(&self, i: usize) -> Option<i64> {
        self.rows.label(i)
    }

    /// Whether the rows are read from mapped shards.
    pub fn is_mapped(&self) -> bool {
        matches!(self.rows, Rows::Shards(_))
    }
}

/// Reads the rows of `source` and hands each to `sink` with its label, in order; instances
/// keep their sentences in shards in `scratch` while they are drawn, if given.
pub fn read_rows(
    source: &Source,
    tokenizer: &BertTokenizer,
    progress: &mut dyn Progress,
    scratch: Option<&Path>,
    sink: &mut dyn FnMut(TokenRow<'_>, Option<i64>) -> Result<(), TrainError>,
) -> Result<Read, TrainError> {
    match source.layout {
        Layout::Blocks(options) => {
            blocks::read_blocks(source, options, tokenizer, progress, &mut |row| {
                sink(row, None)
            })
        }
        Layout::Instances(options) => {
            let sink = &mut |row: TokenRow<'_>, next| sink(row, Some(next));
            instances::read_instances(source, options, tokenizer, progress, scratch, sink)
        }
    }
}

impl std::fmt::Debug for Corpus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Corpus")
            .field("rows", &self.len())
            .field("mapped", &self.is_mapped())
            .finish()
    }
}
