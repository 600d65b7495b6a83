//! Basic tokenization: text cleaning, CJK splitting, accent stripping, lowercasing, and splitting
//! into words on whitespace and punctuation.
//!
//! Each character of a word keeps the index of the character of the original text it came from,
//! so that word pieces can be given character offsets into the original text even when
//! normalisation removed characters (control characters, accents) or added some (`İ` lowercases to
//! two characters).

use rustc_hash::FxHashSet;
use unicode_normalization::char::decompose_canonical;

use super::chars::{
    is_chinese_char, is_control, is_nonspacing_mark, is_punctuation, is_python_whitespace,
    is_whitespace,
};

/// The basic tokenizer's settings, resolved (`strip_accents` already follows lowercasing when it
/// was left unset).
#[derive(Clone, Debug)]
pub(crate) struct BasicTokenizer {
    /// Remove control characters and map every whitespace character to a space.
    pub clean_text: bool,
    /// Lowercase every character.
    pub lowercase: bool,
    /// Decompose (NFD) and drop non-spacing marks.
    pub strip_accents: bool,
    /// Put every CJK ideograph in a word of its own.
    pub split_chinese: bool,
    /// Whitespace-delimited words kept exactly as they are: not lowercased, not split on
    /// punctuation, and not cut into word pieces.
    pub never_split: FxHashSet<String>,
}

/// Buffers reused from one word to the next.
#[derive(Default)]
pub(crate) struct Scratch {
    /// Characters of the current whitespace-delimited word, with their original index.
    raw: Vec<(char, u32)>,
    /// Normalised characters of the current whitespace-delimited word.
    normalized: Vec<(char, u32)>,
    /// The word being emitted.
    word: String,
    /// For each character of `word`, the index of the original character it came from.
    align: Vec<u32>,
}

/// The part an ASCII character plays in basic tokenization.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum AsciiClass {
    /// Dropped by text cleaning (control characters).
    Removed,
    /// Ends a word.
    Space,
    /// A word of its own.
    Punctuation,
    /// Part of a word.
    Letter,
}

/// A word handed to the caller.
pub(crate) struct Word<'a> {
    /// The normalised text of the word.
    pub text: &'a str,
    /// For each character of `text`, the index of the original character it came from.
    pub align: &'a [u32],
    /// True for a `never_split` word: its text is a token as it stands.
    pub protected: bool,
}

impl BasicTokenizer {
    /// Splits `text` into words and calls `emit` on each, in order. `char_base` is the index of
    /// the first character of `text` in the whole original text.
    pub(crate) fn split(
        &self,
        text: &str,
        char_base: u32,
        scratch: &mut Scratch,
        emit: &mut dyn FnMut(Word<'_>),
    ) {
        scratch.raw.clear();
        for (i, c) in text.chars().enumerate() {
            let index = char_base + i as u32;
            if self.clean_text {
                if c == '\0' || c == '\u{fffd}' || is_control(c) {
                    continue;
                }
                if is_whitespace(c) {
                    self.flush(scratch, emit);
                    continue;
                }
            } else if c.is_whitespace() {
                self.flush(scratch, emit);
                continue;
            }
            if self.split_chinese && is_chinese_char(c) {
                self.flush(scratch, emit);
                scratch.raw.push((c, index));
                self.flush(scratch, emit);
                continue;
            }
            scratch.raw.push((c, index));
        }
        self.flush(scratch, emit);
    }

    /// Normalises the pending whitespace-delimited word and emits its punctuation-split words.
    fn flush(&self, scratch: &mut Scratch, emit: &mut dyn FnMut(Word<'_>)) {
        if scratch.raw.is_empty() {
            return;
        }
        let Scratch {
            raw,
            normalized,
            word,
            align,
        } = scratch;
        if !self.never_split.is_empty() {
            word.clear();
            word.extend(raw.iter().map(|&(c, _)| c));
            if self.never_split.contains(word.as_str()) {
                align.clear();
                align.extend(raw.iter().map(|&(_, i)| i));
                emit(Word {
                    text: word,
                    align,
                    protected: true,
                });
                raw.clear();
                return;
            }
        }

        // An ASCII word needs no normalisation but lowercasing, done as it is split.
        let ascii = raw.iter().all(|&(c, _)| c.is_ascii());
        if !ascii {
            normalized.clear();
            for &(c, index) in raw.iter() {
                if c.is_ascii() {
                    let c = if self.lowercase {
                        c.to_ascii_lowercase()
                    } else {
                        c
                    };
                    normalized.push((c, index));
                } else if self.strip_accents {
                    // Canonical decomposition, character by character. Full NFD would also
                    // reorder runs of combining marks by combining class; every mark that can be
                    // reordered is a non-spacing mark except a handful of musical symbols and
                    // Hangul tone marks, and non-spacing marks are dropped here, so the order
                    // cannot show.
                    decompose_canonical(c, |d| {
                        if !is_nonspacing_mark(d) {
                            self.push_lowercased(d, index, normalized);
                        }
                    });
                } else {
                    self.push_lowercased(c, index, normalized);
                }
            }
        }
        let chars: &[(char, u32)] = if ascii { raw } else { normalized };

        word.clear();
        align.clear();
        for &(c, index) in chars {
            let c = if ascii && self.lowercase {
                c.to_ascii_lowercase()
            } else {
                c
            };
            if is_punctuation(c) {
                if !word.is_empty() {
                    emit(Word {
                        text: word,
                        align,
                        protected: false,
                    });
                    word.clear();
                    align.clear();
                }
                word.push(c);
                align.push(index);
                emit(Word {
                    text: word,
                    align,
                    protected: false,
                });
                word.clear();
                align.clear();
            } else {
                word.push(c);
                align.push(index);
            }
        }
        raw.clear();
        if !word.is_empty() {
            emit(Word {
                text: word,
                align,
                protected: false,
            });
        }
    }

    /// What [`Self::split`] does with ASCII character `c`, for splitting ASCII text byte by byte
    /// (ASCII needs no normalisation but lowercasing, which keeps a character's class).
    pub(crate) fn ascii_class(&self, c: char) -> AsciiClass {
        debug_assert!(c.is_ascii());
        if self.clean_text {
            if c == '\0' || is_control(c) {
                return AsciiClass::Removed;
            }
            if is_whitespace(c) {
                return AsciiClass::Space;
            }
        } else if c.is_whitespace() {
            return AsciiClass::Space;
        }
        match is_punctuation(c) {
            true => AsciiClass::Punctuation,
            false => AsciiClass::Letter,
        }
    }

    fn push_lowercased(&self, c: char, index: u32, out: &mut Vec<(char, u32)>) {
        if self.lowercase {
            out.extend(c.to_lowercase().map(|l| (l, index)));
        } else {
            out.push((c, index));
        }
    }
}

/// Splits `text` on whitespace as Python's `str.split()` does, with no other processing: what the
/// original BERT tokenizer does when basic tokenization is turned off.
pub(crate) fn split_whitespace_only(
    text: &str,
    char_base: u32,
    scratch: &mut Scratch,
    emit: &mut dyn FnMut(Word<'_>),
) {
    let Scratch { word, align, .. } = scratch;
    word.clear();
    align.clear();
    for (i, c) in text.chars().enumerate() {
        if is_python_whitespace(c) {
            if !word.is_empty() {
                emit(Word {
                    text: word,
                    align,
                    protected: false,
                });
                word.clear();
                align.clear();
            }
        } else {
            word.push(c);
            align.push(char_base + i as u32);
        }
    }
    if !word.is_empty() {
        emit(Word {
            text: word,
            align,
            protected: false,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn basic(lowercase: bool, strip_accents: bool, split_chinese: bool) -> BasicTokenizer {
        BasicTokenizer {
            clean_text: true,
            lowercase,
            strip_accents,
            split_chinese,
            never_split: FxHashSet::default(),
        }
    }

    /// (word, original char offsets of its first and one-past-last character)
    fn words(b: &BasicTokenizer, text: &str) -> Vec<(String, u32, u32)> {
        let mut out = Vec::new();
        let mut scratch = Scratch::default();
        b.split(text, 0, &mut scratch, &mut |w| {
            out.push((
                w.text.to_string(),
                w.align[0],
                w.align[w.align.len() - 1] + 1,
            ))
        });
        out
    }

    fn texts(b: &BasicTokenizer, text: &str) -> Vec<String> {
        words(b, text).into_iter().map(|(w, _, _)| w).collect()
    }

    #[test]
    fn splits_on_whitespace_of_every_kind() {
        let b = basic(false, false, true);
        assert_eq!(
            texts(&b, " a\tb\nc\r\nd\u{3000}e\u{a0}f  "),
            ["a", "b", "c", "d", "e", "f"]
        );
    }

    #[test]
    fn removes_control_characters_and_replacement_character() {
        let b = basic(false, false, true);
        // \x0b is a control character: removed, so it joins its neighbours.
        assert_eq!(texts(&b, "a\u{0}b\u{fffd}c\u{b}d \u{200b}e"), ["abcd", "e"]);
    }

    #[test]
    fn without_cleaning_control_characters_stay() {
        let mut b = basic(false, false, true);
        b.clean_text = false;
        assert_eq!(texts(&b, "a\u{7}b c"), ["a\u{7}b", "c"]);
    }

    #[test]
    fn isolates_each_punctuation_character() {
        let b = basic(false, false, true);
        assert_eq!(
            texts(&b, "Hello, world!? e-mail $5"),
            ["Hello", ",", "world", "!", "?", "e", "-", "mail", "$", "5"]
        );
    }

    #[test]
    fn unicode_punctuation_splits_but_symbols_do_not() {
        let b = basic(false, false, true);
        assert_eq!(
            texts(&b, "«oui»—non 5€ a😀b"),
            ["«", "oui", "»", "—", "non", "5€", "a😀b"]
        );
    }

    #[test]
    fn cjk_ideographs_become_words() {
        let b = basic(false, false, true);
        assert_eq!(texts(&b, "ab東京cd"), ["ab", "東", "京", "cd"]);
        // Kana and Hangul are not split.
        assert_eq!(texts(&b, "ひらがな 한국어"), ["ひらがな", "한국어"]);
    }

    #[test]
    fn cjk_splitting_can_be_turned_off() {
        let b = basic(false, false, false);
        assert_eq!(texts(&b, "ab東京cd"), ["ab東京cd"]);
    }

    #[test]
    fn lowercases_and_strips_accents() {
        let b = basic(true, true, true);
        assert_eq!(texts(&b, "Héllo WÖRLD Ça"), ["hello", "world", "ca"]);
    }

    #[test]
    fn lowercase_can_keep_accents() {
        let b = basic(true, false, true);
        assert_eq!(texts(&b, "Héllo WÖRLD"), ["héllo", "wörld"]);
    }

    #[test]
    fn strip_accents_without_lowercasing() {
        let b = basic(false, true, true);
        assert_eq!(texts(&b, "Héllo"), ["Hello"]);
    }

    #[test]
    fn accent_stripping_comes_before_lowercasing() {
        // İ decomposes to I + combining dot; the dot is stripped, then I lowercases to i.
        assert_eq!(texts(&basic(true, true, true), "İstanbul"), ["istanbul"]);
        // Lowercasing alone turns İ into i + combining dot above.
        assert_eq!(
            texts(&basic(true, false, true), "İstanbul"),
            ["i\u{307}stanbul"]
        );
    }

    #[test]
    fn offsets_point_into_the_original_text() {
        let b = basic(true, true, true);
        // "İ" gives one character, "é" loses its accent; offsets are in characters.
        assert_eq!(
            words(&b, "x İé, 東"),
            vec![
                ("x".to_string(), 0, 1),
                ("ie".to_string(), 2, 4),
                (",".to_string(), 4, 5),
                ("東".to_string(), 6, 7)
            ]
        );
        let lower_only = basic(true, false, true);
        assert_eq!(
            words(&lower_only, "İ"),
            vec![("i\u{307}".to_string(), 0, 1)]
        );
    }

    #[test]
    fn never_split_words_are_kept_whole() {
        let mut b = basic(true, true, true);
        b.never_split.insert("[FOO]".to_string());
        b.never_split.insert("Don't".to_string());
        let mut out = Vec::new();
        let mut scratch = Scratch::default();
        b.split("[FOO] Don't [FOO]x", 0, &mut scratch, &mut |w| {
            out.push((w.text.to_string(), w.protected))
        });
        assert_eq!(
            out,
            vec![
                ("[FOO]".to_string(), true),
                ("Don't".to_string(), true),
                ("[".to_string(), false),
                ("foo".to_string(), false),
                ("]".to_string(), false),
                ("x".to_string(), false),
            ]
        );
    }

    #[test]
    fn whitespace_only_splitting_keeps_everything_else() {
        let mut out = Vec::new();
        let mut scratch = Scratch::default();
        split_whitespace_only("Héllo,\u{1c}World \u{b}!", 10, &mut scratch, &mut |w| {
            out.push((w.text.to_string(), w.align.to_vec()))
        });
        assert_eq!(
            out,
            vec![
                ("Héllo,".to_string(), vec![10, 11, 12, 13, 14, 15]),
                ("World".to_string(), vec![17, 18, 19, 20, 21]),
                ("!".to_string(), vec![24]),
            ]
        );
    }
}
