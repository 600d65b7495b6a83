//! Rows of tokens, each with an optional label, held in one flat buffer in memory or read from
//! mapped shards: what a corpus's blocks, instances or sentences are kept in.

use bert_data::shards::{Shards, TokenRow};

use super::Tokens;

/// Rows in memory: their tokens one after another, where each ends, and their labels.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RowBuffer {
    tokens: Tokens,
    ends: Vec<usize>,
    labels: Vec<i64>,
}

impl RowBuffer {
    /// Appends `row` and its label (rows have labels all or none).
    pub fn push(&mut self, row: TokenRow<'_>, label: Option<i64>) {
        self.tokens.extend(row);
        self.ends.push(self.tokens.ids.len());
        self.labels.extend(label);
    }

    /// Rows held.
    pub fn len(&self) -> usize {
        self.ends.len()
    }

    /// Whether no row is held.
    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    /// Row `i`.
    ///
    /// # Panics
    /// If `i` is not below [`RowBuffer::len`].
    pub fn row(&self, i: usize) -> TokenRow<'_> {
        let start = if i == 0 { 0 } else { self.ends[i - 1] };
        let range = start..self.ends[i];
        TokenRow {
            ids: &self.tokens.ids[range.clone()],
            special: &self.tokens.special[range.clone()],
            word_start: &self.tokens.word_start[range],
        }
    }

    /// The label of row `i`, if the rows have labels.
    pub fn label(&self, i: usize) -> Option<i64> {
        self.labels.get(i).copied()
    }
}

/// Rows in memory or in mapped shards.
pub enum Rows {
    /// Held in memory.
    Memory(RowBuffer),
    /// Read through a memory map.
    Shards(Shards),
}

impl Rows {
    /// Rows held.
    pub fn len(&self) -> usize {
        match self {
            Rows::Memory(rows) => rows.len(),
            Rows::Shards(shards) => shards.len(),
        }
    }

    /// Whether there is no row.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Row `i`.
    ///
    /// # Panics
    /// If `i` is not below [`Rows::len`].
    pub fn row(&self, i: usize) -> TokenRow<'_> {
        match self {
            Rows::Memory(rows) => rows.row(i),
            Rows::Shards(shards) => shards.row(i),
        }
    }

    /// The label of row `i`, if the rows have labels.
    pub fn label(&self, i: usize) -> Option<i64> {
        match self {
            Rows::Memory(rows) => rows.label(i),
            Rows::Shards(shards) => shards.label(i),
        }
    }
}
