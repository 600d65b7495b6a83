//! Word-piece ids without offsets, for corpora: [`BertTokenizer::tokenize_ids`] gives the ids
//! and word starts of [`BertTokenizer::tokenize_with_offsets`] with less work. Words of ASCII
//! text are found byte by byte (ASCII needs no normalisation but lowercasing); a stretch
//! between two ASCII spaces that holds any other character goes through the basic tokenizer.

use super::basic::{split_whitespace_only, AsciiClass, Scratch, Word};
use super::wordpiece::Piece;
use super::BertTokenizer;

/// The part each ASCII character plays, by byte.
pub(crate) type AsciiClasses = [AsciiClass; 128];

/// Word-piece ids and where words start, appended text after text; also the buffers reused
/// from one text to the next.
#[derive(Default)]
pub struct PieceIds {
    /// The pieces' ids.
    pub ids: Vec<u32>,
    /// For each piece, 1 when it starts a word (a special token is a word), else 0.
    pub word_start: Vec<u8>,
    basic: Scratch,
    pieces: Vec<Piece>,
    bounds: Vec<usize>,
    /// The ASCII word being cut: cleaned, then lowercased.
    word: String,
}

impl PieceIds {
    /// Empties `ids` and `word_start`, keeping their memory.
    pub fn clear(&mut self) {
        self.ids.clear();
        self.word_start.clear();
    }
}

impl BertTokenizer {
    /// Appends the word pieces of `text` to `out`: the ids, and where words start, that
    /// [`Self::tokenize_with_offsets`] gives (its `ids`, and where its `word_ids` change).
    pub fn tokenize_ids(&self, text: &str, out: &mut PieceIds) {
        let mut rest = text;
        loop {
            let (before, special) = self.next_special(rest);
            self.words_ids(before, out);
            let Some((len, id)) = special else {
                return;
            };
            out.ids.push(id);
            out.word_start.push(1);
            rest = &rest[before.len() + len..];
        }
    }

    /// The pieces of text holding no special token.
    fn words_ids(&self, text: &str, out: &mut PieceIds) {
        let Some(classes) = self.ascii_classes.as_deref() else {
            return self.basic_ids(text, out);
        };
        let bytes = text.as_bytes();
        let is_space = |b: u8| b < 128 && classes[b as usize] == AsciiClass::Space;
        let mut i = 0;
        while i < bytes.len() {
            if is_space(bytes[i]) {
                i += 1;
                continue;
            }
            let start = i;
            let mut ascii = true;
            while i < bytes.len() && !is_space(bytes[i]) {
                ascii &= bytes[i] < 128;
                i += 1;
            }
            // Both ends are at an ASCII byte or an end of `text`: character boundaries.
            match ascii {
                true => self.ascii_word_ids(&text[start..i], classes, out),
                false => self.basic_ids(&text[start..i], out),
            }
        }
    }

    /// The pieces of an ASCII text holding no space.
    fn ascii_word_ids(&self, text: &str, classes: &AsciiClasses, out: &mut PieceIds) {
        let Some(basic) = &self.basic else {
            return self.basic_ids(text, out);
        };
        let PieceIds {
            ids,
            word_start,
            word,
            ..
        } = out;
        word.clear();
        word.extend(
            text.chars()
                .filter(|&c| classes[c as usize] != AsciiClass::Removed),
        );
        if word.is_empty() {
            return;
        }
        if !basic.never_split.is_empty() && basic.never_split.contains(word.as_str()) {
            ids.push(self.vocab.id(word).unwrap_or(self.special_ids.unk));
            word_start.push(1);
            return;
        }
        if basic.lowercase {
            word.make_ascii_lowercase();
        }
        let mut piece = |w: &str| {
            let before = ids.len();
            self.wordpiece.ascii_ids(w, ids);
            word_start.push(1);
            word_start.resize(word_start.len() + ids.len() - before - 1, 0);
        };
        let mut start = 0;
        for (k, b) in word.bytes().enumerate() {
            if classes[b as usize] == AsciiClass::Punctuation {
                if start < k {
                    piece(&word[start..k]);
                }
                piece(&word[k..k + 1]);
                start = k + 1;
            }
        }
        if start < word.len() {
            piece(&word[start..]);
        }
    }

    /// The pieces of `text` through the basic tokenizer (or whitespace alone, without one).
    fn basic_ids(&self, text: &str, out: &mut PieceIds) {
        let PieceIds {
            ids,
            word_start,
            basic: scratch,
            pieces,
            bounds,
            ..
        } = out;
        let mut emit = |w: Word<'_>| {
            let before = ids.len();
            if w.protected {
                ids.push(self.vocab.id(w.text).unwrap_or(self.special_ids.unk));
            } else {
                pieces.clear();
                self.wordpiece.tokenize(w.text, bounds, pieces);
                ids.extend(pieces.iter().map(|p| p.id));
            }
            if ids.len() > before {
                word_start.push(1);
                word_start.resize(ids.len(), 0);
            }
        };
        match &self.basic {
            Some(basic) => basic.split(text, 0, scratch, &mut emit),
            None => split_whitespace_only(text, 0, scratch, &mut emit),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tokenizer::TokenizerOptions;

    const VOCAB: &[&str] = &[
        "[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "hello", "world", "un", "##aff", "##able",
        ",", ".", "!", "a", "##a", "é", "##é", "cafe", "caf", "x", "[keep]", "##b", "Hello", "中",
        "##1", "1",
    ];

    fn tokenizer(options: TokenizerOptions) -> BertTokenizer {
        let vocab = VOCAB.iter().map(|t| t.to_string()).collect();
        BertTokenizer::new(vocab, options, Default::default()).unwrap()
    }

    /// The ids and word starts of `tokenize_with_offsets`.
    fn reference(t: &BertTokenizer, text: &str) -> (Vec<u32>, Vec<u8>) {
        let full = t.tokenize_with_offsets(text);
        let starts = (0..full.ids.len())
            .map(|k| u8::from(k == 0 || full.word_ids[k] != full.word_ids[k - 1]))
            .collect();
        (full.ids, starts)
    }

    const TEXTS: &[&str] = &[
        "",
        "   ",
        "Hello, world!",
        "HELLO\tworld\r\nunaffable unaffablez",
        "hel\u{7}lo wor\u{0}ld \u{1}",
        "café Café naïve x\u{a0}x 中中a",
        "[CLS]hello[SEP] [MASK]. [keep] [KEEP] [Keep],",
        "aaaaaaaaaaaaaaaaaaaaaaaaa a1 1a1 ,,, .!.",
        "x\u{b}x\u{c}x\u{1c}x\u{85}x\u{2028}x",
    ];

    #[test]
    fn ids_are_those_of_the_full_tokenization() {
        let mut variants = Vec::new();
        for lower in [true, false] {
            for clean in [true, false] {
                for basic in [true, false] {
                    variants.push(TokenizerOptions {
                        do_lower_case: lower,
                        clean_text: clean,
                        do_basic_tokenize: basic,
                        never_split: vec!["[keep]".into(), "Hello".into()],
                        max_input_chars_per_word: 20,
                        ..Default::default()
                    });
                }
            }
        }
        variants.push(TokenizerOptions::default());
        for options in variants {
            let t = tokenizer(options.clone());
            let mut out = PieceIds::default();
            for text in TEXTS {
                out.clear();
                t.tokenize_ids(text, &mut out);
                let (ids, starts) = reference(&t, text);
                assert_eq!(
                    (&out.ids, &out.word_start),
                    (&ids, &starts),
                    "{text:?} {options:?}"
                );
            }
            // Appending: the texts one after another.
            out.clear();
            for text in TEXTS {
                t.tokenize_ids(text, &mut out);
            }
            let all: Vec<u32> = TEXTS.iter().flat_map(|x| reference(&t, x).0).collect();
            assert_eq!(out.ids, all);
        }
    }
}
