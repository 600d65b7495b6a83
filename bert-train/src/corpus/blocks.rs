//! Reading a text file into blocks of tokens while it is read: documents (blank-line
//! separated) each encoded as `[CLS] text [SEP]`, concatenated and cut into blocks of
//! `max_len` tokens (the remainder dropped, unless it is the only block), or with
//! `line_by_line` one block per non-blank line cut to `max_len`. Documents are tokenized in
//! parallel while the file is read ([`read_encoded`]); blocks come out in file order.

use serde::Serialize;

use bert_data::readers::TextDocument;
use bert_data::shards::TokenRow;
use bert_data::{BertTokenizer, PieceIds};

use super::pipeline::{read_encoded, Read};
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

/// Reads the text of `source` and hands each block to `sink`, in order.
pub fn read_blocks(
    source: &Source,
    options: BlockOptions,
    tokenizer: &BertTokenizer,
    progress: &mut dyn Progress,
    sink: &mut dyn FnMut(TokenRow<'_>) -> Result<(), TrainError>,
) -> Result<Read, TrainError> {
    let mut packer = Packer::new(options);
    let encode = |pieces: &mut PieceIds, d: &TextDocument| encode(tokenizer, pieces, d, options);
    let line_by_line = options.line_by_line;
    let read = read_encoded(
        source,
        line_by_line,
        false,
        progress,
        &encode,
        &mut |tokens| packer.push(tokens, sink),
    )?;
    packer.finish(sink)?;
    Ok(read)
}

/// `[CLS] text [SEP]` of one document (cut to the block length, line by line): what
/// `BertTokenizer::encode` gives with longest-first truncation, without the offsets and masks
/// blocks do not keep.
fn encode(
    tokenizer: &BertTokenizer,
    pieces: &mut PieceIds,
    document: &TextDocument,
    options: BlockOptions,
) -> Tokens {
    pieces.clear();
    tokenizer.tokenize_ids(&document.text, pieces);
    let n = match options.line_by_line {
        true => pieces.ids.len().min(options.max_len.saturating_sub(2)),
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
    let mut word_start = Vec::with_capacity(n + 2);
    word_start.push(1);
    word_start.extend_from_slice(&pieces.word_start[..n]);
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
            let options = BlockOptions {
                max_len: 6,
                line_by_line,
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
                assert_eq!(
                    encode(&tokenizer, &mut PieceIds::default(), &document, options),
                    want,
                    "{text:?}"
                );
            }
        }
    }
}
