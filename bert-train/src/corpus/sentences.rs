//! The sentences of a text, for drawing pre-training instances: each line of each document
//! (blank-line separated) tokenized, the sentences without tokens left out. Drawing needs any
//! document at any time, so with a scratch folder the sentences go to flat files there and are
//! read back through a memory map (its pages dropped every [`RELEASE_EVERY`] sentences read, so
//! the process holds what it read since, not the text); otherwise they stay in memory.
//!
//! A token is kept as one `u32`: its id, and in the top bit whether it starts a word.

use std::ops::Range;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};

use bert_data::mapped::{MappedValues, ValuesWriter};
use bert_data::readers::TextDocument;
use bert_data::BertTokenizer;

use super::pipeline::{read_encoded, Read};
use super::progress::Progress;
use super::Source;
use crate::TrainError;

/// Sentences read between two releases of the mapped pages.
const RELEASE_EVERY: usize = 1 << 10;

/// The bit of a token that says it starts a word.
const WORD_START: u32 = 1 << 31;

/// A token's id and whether it starts a word (1 or 0).
pub fn unpack(token: u32) -> (u32, u8) {
    (token & !WORD_START, u8::from(token & WORD_START != 0))
}

/// A text's sentences, document by document.
pub struct Sentences {
    /// Every sentence's tokens, one after another.
    tokens: Values<u32>,
    /// Where each sentence ends in `tokens`.
    ends: Values<u64>,
    /// Where each document ends, in sentences.
    documents: Values<u64>,
    reads: AtomicUsize,
}

impl Sentences {
    /// Reads and tokenizes the documents of `source`; into files in `scratch` if given.
    pub fn read(
        source: &Source,
        tokenizer: &BertTokenizer,
        progress: &mut dyn Progress,
        scratch: Option<&Path>,
    ) -> Result<(Sentences, Read), TrainError> {
        if let Some(dir) = scratch {
            std::fs::create_dir_all(dir).map_err(TrainError::io(dir))?;
        }
        let mut tokens = Column::new(scratch, "tokens.bin")?;
        let mut ends = Column::new(scratch, "ends.bin")?;
        let mut documents = Column::new(scratch, "documents.bin")?;
        let (mut token_count, mut sentence_count) = (0u64, 0u64);
        let encode = |document: &TextDocument| encode(tokenizer, document);
        let read = read_encoded(source, false, true, progress, &encode, &mut |document| {
            let (packed, lengths) = document;
            tokens.write(&packed)?;
            let document_ends: Vec<u64> = lengths
                .iter()
                .map(|&n| {
                    token_count += u64::from(n);
                    token_count
                })
                .collect();
            ends.write(&document_ends)?;
            sentence_count += lengths.len() as u64;
            documents.write(&[sentence_count])
        })?;
        let sentences = Sentences {
            tokens: tokens.finish()?,
            ends: ends.finish()?,
            documents: documents.finish()?,
            reads: AtomicUsize::new(0),
        };
        Ok((sentences, read))
    }

    /// Documents read (some may have no sentence).
    pub fn documents(&self) -> usize {
        self.documents.values().len()
    }

    /// The sentences of document `d`.
    pub fn document(&self, d: usize) -> Range<usize> {
        let ends = self.documents.values();
        let start = if d == 0 { 0 } else { ends[d - 1] };
        start as usize..ends[d] as usize
    }

    /// The tokens of sentence `i` (see [`unpack`]).
    pub fn sentence(&self, i: usize) -> &[u32] {
        if self.reads.fetch_add(1, Ordering::Relaxed) % RELEASE_EVERY == RELEASE_EVERY - 1 {
            self.tokens.release();
            self.ends.release();
            self.documents.release();
        }
        let ends = self.ends.values();
        let start = if i == 0 { 0 } else { ends[i - 1] };
        &self.tokens.values()[start as usize..ends[i] as usize]
    }
}

/// Numbers being stored: in memory, or written to a scratch file.
enum Column<T> {
    Memory(Vec<T>),
    File(ValuesWriter<T>),
}

impl<T: bytemuck::Pod> Column<T> {
    /// A column in memory, or in the file `name` of `scratch`.
    fn new(scratch: Option<&Path>, name: &str) -> Result<Self, TrainError> {
        Ok(match scratch {
            Some(dir) => Column::File(ValuesWriter::create(&dir.join(name))?),
            None => Column::Memory(Vec::new()),
        })
    }

    fn write(&mut self, values: &[T]) -> Result<(), TrainError> {
        match self {
            Column::Memory(all) => all.extend_from_slice(values),
            Column::File(writer) => writer.write(values)?,
        }
        Ok(())
    }

    fn finish(self) -> Result<Values<T>, TrainError> {
        Ok(match self {
            Column::Memory(all) => Values::Memory(all),
            Column::File(writer) => Values::Mapped(writer.finish()?),
        })
    }
}

/// Stored numbers: in memory or mapped.
enum Values<T> {
    Memory(Vec<T>),
    Mapped(MappedValues<T>),
}

impl<T: bytemuck::Pod> Values<T> {
    fn values(&self) -> &[T] {
        match self {
            Values::Memory(all) => all,
            Values::Mapped(mapped) => mapped.values(),
        }
    }

    fn release(&self) {
        if let Values::Mapped(mapped) = self {
            mapped.release();
        }
    }
}

/// The sentences of one document, packed, and their lengths: its lines tokenized, those
/// without tokens left out.
fn encode(tokenizer: &BertTokenizer, document: &TextDocument) -> (Vec<u32>, Vec<u32>) {
    let mut tokens = Vec::new();
    let mut lengths = Vec::with_capacity(document.lines.len());
    for line in &document.lines {
        let pieces = tokenizer.tokenize_with_offsets(line);
        if pieces.ids.is_empty() {
            continue;
        }
        let words = &pieces.word_ids;
        tokens.extend(pieces.ids.iter().enumerate().map(|(k, &id)| {
            let start = k == 0 || words[k] != words[k - 1];
            id | if start { WORD_START } else { 0 }
        }));
        lengths.push(pieces.ids.len() as u32);
    }
    (tokens, lengths)
}
