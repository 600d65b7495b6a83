//! Reading a text file into blocks of tokens while it is read: documents (blank-line
//! separated) each encoded as `[CLS] text [SEP]`, concatenated and cut into blocks of
//! `max_len` tokens (the remainder dropped, unless it is the only block), or with
//! `line_by_line` one block per non-blank line cut to `max_len`. Documents are tokenized in
//! parallel, a chunk at a time; blocks come out in file order.

use std::sync::mpsc;

use rayon::prelude::*;
use serde::Serialize;

use bert_data::readers::{Documents, TextDocument};
use bert_data::shards::TokenRow;
use bert_data::BertTokenizer;

use super::progress::Progress;
use super::{Source, Tokens};
use crate::TrainError;

/// How text becomes blocks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct BlockOptions {
    /// Tokens per block, `[CLS]` and `[SEP]` included.
    pub max_len: usize,
    /// One block per non-blank line instead of documents packed into full blocks.
    pub line_by_line: bool,
}

/// Text read before a chunk of documents is tokenized (in parallel).
const CHUNK_BYTES: usize = 4 << 20;

/// A chunk of documents as read: the documents, or the error that ended the reading, and the
/// bytes of the file read by then.
type Chunk<T> = (Result<Vec<T>, TrainError>, u64);

/// Reads `source` and hands each block to `sink`, in order; the documents read and the bytes.
/// Three stages overlap, so that no core waits: a thread reads chunks of documents, another
/// has them tokenized by the rayon pool, and this one packs them and calls `sink`.
pub fn read_blocks(
    source: &Source,
    tokenizer: &BertTokenizer,
    progress: &mut dyn Progress,
    sink: &mut dyn FnMut(TokenRow<'_>) -> Result<(), TrainError>,
) -> Result<(usize, u64), TrainError> {
    let total = std::fs::metadata(source.path).map(|m| m.len()).unwrap_or(0);
    let mut documents = Documents::open(source.path, source.options.line_by_line)?.without_lines();
    let mut packer = Packer::new(source.options);
    let (mut count, mut bytes) = (0, 0);
    std::thread::scope(|scope| -> Result<(), TrainError> {
        let (read_tx, read_rx) = mpsc::sync_channel::<Chunk<TextDocument>>(2);
        let (encoded_tx, encoded_rx) = mpsc::sync_channel::<Chunk<Tokens>>(2);
        scope.spawn(move || {
            let mut left = source.limit.unwrap_or(usize::MAX);
            loop {
                let chunk = next_chunk(&mut documents, &mut left);
                let end = matches!(&chunk, Ok(c) if c.is_empty()) || chunk.is_err();
                // The receiver is gone when packing failed.
                if read_tx.send((chunk, documents.bytes_read())).is_err() || end {
                    break;
                }
            }
        });
        scope.spawn(move || {
            for (chunk, bytes) in read_rx {
                let encoded = chunk.map(|documents| {
                    let encode = |d: &TextDocument| encode(tokenizer, d, source);
                    documents.par_iter().map(encode).collect()
                });
                if encoded_tx.send((encoded, bytes)).is_err() {
                    break;
                }
            }
        });
        for (encoded, read) in encoded_rx {
            let encoded = encoded?;
            count += encoded.len();
            for tokens in encoded {
                packer.push(tokens, sink)?;
            }
            bytes = read;
            progress.update(bytes, total);
        }
        Ok(())
    })?;
    packer.finish(sink)?;
    Ok((count, bytes))
}

/// The next documents, up to about [`CHUNK_BYTES`] of text and at most `left` of them.
fn next_chunk(
    documents: &mut Documents,
    left: &mut usize,
) -> Result<Vec<TextDocument>, TrainError> {
    let mut chunk = Vec::new();
    let mut bytes = 0;
    while bytes < CHUNK_BYTES && *left > 0 {
        let Some(document) = documents.next() else {
            break;
        };
        let document = document?;
        bytes += document.text.len();
        *left -= 1;
        chunk.push(document);
    }
    Ok(chunk)
}

/// `[CLS] text [SEP]` of one document (cut to the block length, line by line): what
/// `BertTokenizer::encode` gives with longest-first truncation, without the offsets and masks
/// blocks do not keep.
fn encode(tokenizer: &BertTokenizer, document: &TextDocument, source: &Source) -> Tokens {
    let pieces = tokenizer.tokenize_with_offsets(&document.text);
    let n = match source.options.line_by_line {
        true => pieces
            .ids
            .len()
            .min(source.options.max_len.saturating_sub(2)),
        false => pieces.ids.len(),
    };
    let special = tokenizer.special_ids();
    let mut ids = Vec::with_capacity(n + 2);
    ids.push(special.cls);
    ids.extend_from_slice(&pieces.ids[..n]);
    ids.push(special.sep);
    let mut flags = vec![0u8; n + 2];
    flags[0] = 1;
    flags[n + 1] = 1;
    let words = &pieces.word_ids;
    let mut word_start = Vec::with_capacity(n + 2);
    word_start.push(1);
    word_start.extend((0..n).map(|k| u8::from(k == 0 || words[k] != words[k - 1])));
    word_start.push(1);
    Tokens {
        ids,
        special: flags,
        word_start,
    }
}

/// Cuts encoded documents into blocks as they come.
pub struct Packer {
    options: BlockOptions,
    pending: Tokens,
    blocks: usize,
}

impl Packer {
    /// A packer of blocks of `options.max_len` tokens.
    pub fn new(options: BlockOptions) -> Self {
        Packer {
            options,
            pending: Tokens::default(),
            blocks: 0,
        }
    }

    /// Adds one encoded document; hands on the blocks it completes.
    pub fn push(
        &mut self,
        document: Tokens,
        sink: &mut dyn FnMut(TokenRow<'_>) -> Result<(), TrainError>,
    ) -> Result<(), TrainError> {
        if self.options.line_by_line {
            self.blocks += 1;
            return sink(document.row());
        }
        self.pending.extend(document.row());
        let n = self.options.max_len.max(1);
        let full = self.pending.ids.len() / n;
        for b in 0..full {
            let range = b * n..(b + 1) * n;
            sink(TokenRow {
                ids: &self.pending.ids[range.clone()],
                special: &self.pending.special[range.clone()],
                word_start: &self.pending.word_start[range],
            })?;
        }
        self.blocks += full;
        self.pending.ids.drain(..full * n);
        self.pending.special.drain(..full * n);
        self.pending.word_start.drain(..full * n);
        Ok(())
    }

    /// The end of the text: the tokens left over are dropped, unless no block was made (a
    /// text shorter than one block is one block).
    pub fn finish(
        self,
        sink: &mut dyn FnMut(TokenRow<'_>) -> Result<(), TrainError>,
    ) -> Result<(), TrainError> {
        if self.blocks == 0 && !self.pending.ids.is_empty() {
            sink(self.pending.row())?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bert_data::{Encoding, TokenizerOptions, Truncation, TruncationStrategy};

    /// The tokens of an encoding, with `[CLS]`/`[SEP]` marked special and word starts marked.
    fn tokens_of(encoding: Encoding) -> Tokens {
        let words = &encoding.word_ids;
        Tokens {
            ids: encoding.ids,
            special: encoding
                .special_tokens_mask
                .iter()
                .map(|&s| u8::from(s == 1))
                .collect(),
            word_start: (0..words.len())
                .map(|i| u8::from(words[i].is_none() || i == 0 || words[i - 1] != words[i]))
                .collect(),
        }
    }

    #[test]
    fn documents_encode_as_the_tokenizer_encodes_them() {
        let dir = tempfile::tempdir().unwrap();
        let vocab = dir.path().join("vocab.txt");
        let words = "[PAD] [UNK] [CLS] [SEP] [MASK] the cat sat on mat . , un ##aff ##able é";
        std::fs::write(&vocab, words.replace(' ', "\n")).unwrap();
        let options = TokenizerOptions::default();
        let tokenizer = BertTokenizer::from_vocab_file(&vocab, options).unwrap();
        let texts = [
            "The cat sat on the mat.",
            "unaffable cats, [MASK] the mat",
            "É é zzz the",
            "",
        ];
        for line_by_line in [false, true] {
            let source = Source {
                path: &vocab,
                options: BlockOptions {
                    max_len: 6,
                    line_by_line,
                },
                limit: None,
                cache_dir: None,
            };
            for text in texts {
                let document = TextDocument {
                    line: 1,
                    text: text.into(),
                    lines: vec![],
                };
                let truncation = line_by_line.then_some(Truncation {
                    max_length: 6,
                    strategy: TruncationStrategy::LongestFirst,
                });
                let want = tokens_of(tokenizer.encode(text, None, truncation).unwrap());
                assert_eq!(encode(&tokenizer, &document, &source), want, "{text:?}");
            }
        }
    }
}
