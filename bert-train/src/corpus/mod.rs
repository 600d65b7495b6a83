//! Raw-text corpora as blocks of tokens, for masked-LM training on more text than memory holds.
//!
//! A text file is read one document at a time, tokenized in parallel and packed into blocks
//! while it is read ([`blocks`]). The blocks are kept in memory, or written once to Arrow
//! shards in a cache folder keyed by the content of the text and the settings ([`cache`]),
//! and read back through a memory map: a run then holds the pages it touches, not the corpus.

pub mod blocks;
pub mod cache;
pub mod progress;

use std::path::{Path, PathBuf};

use bert_data::shards::{Shards, TokenRow};
use bert_data::BertTokenizer;

use crate::TrainError;
use blocks::BlockOptions;
use progress::Progress;

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

/// The blocks of one text file, in memory or in mapped shards.
pub struct Corpus {
    rows: Rows,
    /// `[MASK]`'s id.
    pub mask_id: u32,
    /// The vocabulary size (random replacements are drawn below it).
    pub vocab_size: u32,
}

enum Rows {
    Memory(Vec<Tokens>),
    Shards(Shards),
}

/// Where a corpus comes from and how it is cut.
#[derive(Debug, Clone)]
pub struct Source<'a> {
    /// The text file.
    pub path: &'a Path,
    /// Block length and layout.
    pub options: BlockOptions,
    /// Read only the first N documents (lines, with `line_by_line`).
    pub limit: Option<usize>,
    /// The shard cache folder; `None` keeps the blocks in memory.
    pub cache_dir: Option<PathBuf>,
}

impl Corpus {
    /// The blocks of `source`: from the cache when prepared before, else read (and, with a
    /// cache folder, prepared into it first), reporting to `progress`.
    pub fn load(
        source: &Source,
        tokenizer: &BertTokenizer,
        progress: &mut dyn Progress,
    ) -> Result<Corpus, TrainError> {
        let rows = match &source.cache_dir {
            Some(dir) => Rows::Shards(cache::prepared(source, dir, tokenizer, progress)?),
            None => {
                let mut blocks = Vec::new();
                blocks::read_blocks(source, tokenizer, progress, &mut |row| {
                    let mut tokens = Tokens::default();
                    tokens.extend(row);
                    blocks.push(tokens);
                    Ok(())
                })?;
                Rows::Memory(blocks)
            }
        };
        Ok(Corpus {
            rows,
            mask_id: tokenizer.special_ids().mask,
            vocab_size: tokenizer.vocab_size() as u32,
        })
    }

    /// Blocks in the corpus.
    pub fn len(&self) -> usize {
        match &self.rows {
            Rows::Memory(blocks) => blocks.len(),
            Rows::Shards(shards) => shards.len(),
        }
    }

    /// Whether the corpus has no blocks.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Block `i`.
    ///
    /// # Panics
    /// If `i` is not below [`Corpus::len`].
    pub fn row(&self, i: usize) -> TokenRow<'_> {
        match &self.rows {
            Rows::Memory(blocks) => blocks[i].row(),
            Rows::Shards(shards) => shards.row(i),
        }
    }

    /// Whether the blocks are read from mapped shards.
    pub fn is_mapped(&self) -> bool {
        matches!(self.rows, Rows::Shards(_))
    }
}

impl std::fmt::Debug for Corpus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Corpus")
            .field("blocks", &self.len())
            .field("mapped", &self.is_mapped())
            .finish()
    }
}
