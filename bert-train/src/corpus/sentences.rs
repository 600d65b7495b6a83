//! The sentences of a text, for drawing pre-training instances: each line of each document
//! (blank-line separated) tokenized, the sentences without tokens left out. Drawing needs any
//! document at any time, so with a scratch folder the sentences go to flat files there and are
//! copied back a few documents at a time into a [`Window`] (the process holds what it copied,
//! not the text); otherwise they stay in memory.
//!
//! A token is kept as one `u32`: its id, and in the top bit whether it starts a word.

use std::ops::Range;
use std::path::Path;

use bert_data::readers::TextDocument;
use bert_data::values::{ValuesFile, ValuesWriter};
use bert_data::{BertTokenizer, PieceIds};

use super::pipeline::{read_encoded, Read};
use super::progress::Progress;
use super::Source;
use crate::TrainError;

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
        let encode = |pieces: &mut PieceIds, d: &TextDocument| encode(tokenizer, pieces, d);
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
        };
        Ok((sentences, read))
    }

    /// Documents read (some may have no sentence).
    pub fn documents(&self) -> usize {
        self.documents.len()
    }

    /// The sentences of document `d`.
    pub fn document(&self, d: usize, buffer: &mut Vec<u64>) -> Result<Range<usize>, TrainError> {
        self.documents.read(d.saturating_sub(1)..d + 1, buffer)?;
        let start = if d == 0 { 0 } else { buffer[0] };
        Ok(start as usize..buffer[buffer.len() - 1] as usize)
    }

    /// Copies documents `documents` into `window`, their sentences whole.
    pub fn load_documents(
        &self,
        documents: Range<usize>,
        window: &mut Window,
    ) -> Result<(), TrainError> {
        let Window {
            first_document,
            document_ends,
            ..
        } = window;
        *first_document = documents.start;
        let from = documents.start.saturating_sub(1);
        self.documents.read(from..documents.end, document_ends)?;
        if documents.start == 0 {
            document_ends.insert(0, 0);
        }
        let first = document_ends[0] as usize;
        let last = document_ends[document_ends.len() - 1] as usize;
        self.load(first..last, window)
    }

    /// Copies into `window` the sentences of `sentences` from the first on, as many as it takes
    /// to reach `target` tokens (all of them when they hold fewer).
    pub fn load_until(
        &self,
        sentences: Range<usize>,
        target: usize,
        window: &mut Window,
    ) -> Result<(), TrainError> {
        // A sentence holds a token or more: `target` sentences always reach `target` tokens.
        let end = sentences.end.min(sentences.start + target.max(1));
        self.sentence_ends(sentences.start..end, window)?;
        let ends = &window.ends;
        let reached = ends[1..].partition_point(|&e| e - ends[0] < target as u64);
        window.ends.truncate(reached + 2);
        self.load_tokens(window)
    }

    /// Copies sentences `sentences` into `window`.
    fn load(&self, sentences: Range<usize>, window: &mut Window) -> Result<(), TrainError> {
        self.sentence_ends(sentences, window)?;
        self.load_tokens(window)
    }

    /// Copies into `window` the tokens of the sentences whose ends it holds.
    fn load_tokens(&self, window: &mut Window) -> Result<(), TrainError> {
        let tokens = window.ends[0] as usize..window.ends[window.ends.len() - 1] as usize;
        self.tokens.read(tokens, &mut window.tokens)
    }

    /// Reads into `window.ends` the token offset where sentence `sentences.start` starts and
    /// where each sentence of `sentences` ends.
    fn sentence_ends(
        &self,
        sentences: Range<usize>,
        window: &mut Window,
    ) -> Result<(), TrainError> {
        window.first_sentence = sentences.start;
        self.ends.read(
            sentences.start.saturating_sub(1)..sentences.end,
            &mut window.ends,
        )?;
        if sentences.start == 0 {
            window.ends.insert(0, 0);
        }
        Ok(())
    }
}

/// Sentences copied out of [`Sentences`]: a run of documents, or sentences of one.
#[derive(Default)]
pub struct Window {
    first_document: usize,
    /// Where document `first_document` starts, in sentences, then where each one ends.
    document_ends: Vec<u64>,
    first_sentence: usize,
    /// Where sentence `first_sentence` starts, in tokens of the whole text, then where each
    /// one ends.
    ends: Vec<u64>,
    tokens: Vec<u32>,
}

impl Window {
    /// The sentences of document `d` (loaded with [`Sentences::load_documents`]).
    pub fn document(&self, d: usize) -> Range<usize> {
        let k = d - self.first_document;
        self.document_ends[k] as usize..self.document_ends[k + 1] as usize
    }

    /// The sentences held.
    pub fn sentences(&self) -> Range<usize> {
        self.first_sentence..self.first_sentence + self.ends.len() - 1
    }

    /// The tokens of sentence `s` (see [`unpack`]).
    pub fn sentence(&self, s: usize) -> &[u32] {
        let k = s - self.first_sentence;
        let base = self.ends[0];
        &self.tokens[(self.ends[k] - base) as usize..(self.ends[k + 1] - base) as usize]
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
            Column::File(writer) => Values::File(writer.finish()?),
        })
    }
}

/// Stored numbers: in memory or in a file.
enum Values<T> {
    Memory(Vec<T>),
    File(ValuesFile<T>),
}

impl<T: bytemuck::Pod> Values<T> {
    fn len(&self) -> usize {
        match self {
            Values::Memory(all) => all.len(),
            Values::File(file) => file.len(),
        }
    }

    /// Replaces the contents of `out` with the numbers in `range`.
    fn read(&self, range: Range<usize>, out: &mut Vec<T>) -> Result<(), TrainError> {
        match self {
            Values::Memory(all) => {
                out.clear();
                out.extend_from_slice(&all[range]);
            }
            Values::File(file) => file.read(range, out)?,
        }
        Ok(())
    }
}

/// The sentences of one document, packed, and their lengths: its lines tokenized, those
/// without tokens left out.
fn encode(
    tokenizer: &BertTokenizer,
    pieces: &mut PieceIds,
    document: &TextDocument,
) -> (Vec<u32>, Vec<u32>) {
    let mut tokens = Vec::with_capacity(document.text.len() / 3);
    let mut lengths = Vec::with_capacity(document.lines.len());
    for line in &document.lines {
        pieces.clear();
        tokenizer.tokenize_ids(&document.text[line.clone()], pieces);
        if pieces.ids.is_empty() {
            continue;
        }
        let starts = &pieces.word_start;
        tokens.extend(
            pieces
                .ids
                .iter()
                .zip(starts)
                .map(|(&id, &start)| id | if start == 1 { WORD_START } else { 0 }),
        );
        lengths.push(pieces.ids.len() as u32);
    }
    (tokens, lengths)
}
