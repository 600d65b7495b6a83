//! The result of encoding a text or a pair of texts, and truncation.

use super::TokenizerError;

/// Which sequence loses tokens when a text (or pair) is longer than the maximum length.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum TruncationStrategy {
    /// Take tokens from the longer sequence first (for a single text, from the text).
    #[default]
    LongestFirst,
    /// Take tokens from the first sequence only.
    OnlyFirst,
    /// Take tokens from the second sequence only.
    OnlySecond,
}

impl std::str::FromStr for TruncationStrategy {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "longest_first" | "longest-first" => Ok(Self::LongestFirst),
            "only_first" | "only-first" => Ok(Self::OnlyFirst),
            "only_second" | "only-second" => Ok(Self::OnlySecond),
            _ => Err(format!(
                "unknown truncation strategy {s:?}: expected longest_first, only_first or only_second"
            )),
        }
    }
}

/// Truncation to a maximum length, special tokens included.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Truncation {
    /// Maximum number of tokens, `[CLS]` and `[SEP]` included.
    pub max_length: usize,
    /// Which sequence gives up tokens.
    pub strategy: TruncationStrategy,
}

/// The word pieces of one text, without special tokens.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TokenizedText {
    /// Token ids.
    pub ids: Vec<u32>,
    /// Character offsets `(start, end)` of each token in the text (end exclusive). Characters are
    /// Unicode scalar values, as Python string indices.
    pub offsets: Vec<(usize, usize)>,
    /// Index of the word (as the basic tokenizer split it) each token belongs to.
    pub word_ids: Vec<u32>,
    /// Positions whose token text is not the vocabulary's text for its id: `never_split` words
    /// missing from the vocabulary keep their own text though their id is `[UNK]`.
    pub(crate) literal: Vec<(usize, String)>,
}

impl TokenizedText {
    /// Number of tokens.
    pub fn len(&self) -> usize {
        self.ids.len()
    }

    /// True when the text gave no token.
    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    pub(crate) fn truncate(&mut self, len: usize) {
        self.ids.truncate(len);
        self.offsets.truncate(len);
        self.word_ids.truncate(len);
        self.literal.retain(|(i, _)| *i < len);
    }

    /// Tokens `start..end` (offsets and word indices unchanged: they still refer to the text).
    pub(crate) fn slice(&self, start: usize, end: usize) -> TokenizedText {
        TokenizedText {
            ids: self.ids[start..end].to_vec(),
            offsets: self.offsets[start..end].to_vec(),
            word_ids: self.word_ids[start..end].to_vec(),
            literal: self
                .literal
                .iter()
                .filter(|(i, _)| (start..end).contains(i))
                .map(|(i, text)| (i - start, text.clone()))
                .collect(),
        }
    }
}

/// Model inputs for one text or one pair: `[CLS] A [SEP]` or `[CLS] A [SEP] B [SEP]`.
///
/// Every vector has one entry per token.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Encoding {
    /// Token ids (`input_ids`).
    pub ids: Vec<u32>,
    /// Segment ids (`token_type_ids`): 0 for `[CLS] A [SEP]`, 1 for `B [SEP]`.
    pub type_ids: Vec<u32>,
    /// 1 for every token (padding is added by batching, with 0).
    pub attention_mask: Vec<u32>,
    /// 1 for `[CLS]` and `[SEP]`, 0 for word pieces.
    pub special_tokens_mask: Vec<u32>,
    /// Character offsets of each token into its own text (`text` for sequence 0, `text_pair`
    /// for sequence 1); `(0, 0)` for special tokens.
    pub offsets: Vec<(usize, usize)>,
    /// Which text each token comes from: `Some(0)`, `Some(1)`, or `None` for special tokens.
    pub sequence_ids: Vec<Option<u8>>,
    /// Word index of each token within its text; `None` for special tokens.
    pub word_ids: Vec<Option<u32>>,
}

impl Encoding {
    /// Number of tokens.
    pub fn len(&self) -> usize {
        self.ids.len()
    }

    /// True when there is no token at all.
    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    fn push_special(&mut self, id: u32, type_id: u32) {
        self.ids.push(id);
        self.type_ids.push(type_id);
        self.attention_mask.push(1);
        self.special_tokens_mask.push(1);
        self.offsets.push((0, 0));
        self.sequence_ids.push(None);
        self.word_ids.push(None);
    }

    fn push_text(&mut self, text: &TokenizedText, type_id: u32, sequence: u8) {
        self.ids.extend_from_slice(&text.ids);
        let n = text.ids.len();
        self.type_ids.extend(std::iter::repeat_n(type_id, n));
        self.attention_mask.extend(std::iter::repeat_n(1, n));
        self.special_tokens_mask.extend(std::iter::repeat_n(0, n));
        self.offsets.extend_from_slice(&text.offsets);
        self.sequence_ids
            .extend(std::iter::repeat_n(Some(sequence), n));
        self.word_ids.extend(text.word_ids.iter().map(|&w| Some(w)));
    }

    /// Assembles `[CLS] A [SEP]` or `[CLS] A [SEP] B [SEP]`.
    pub(crate) fn assemble(
        first: &TokenizedText,
        second: Option<&TokenizedText>,
        cls_id: u32,
        sep_id: u32,
    ) -> Encoding {
        let capacity = first.len() + second.map_or(0, TokenizedText::len) + 3;
        let mut e = Encoding {
            ids: Vec::with_capacity(capacity),
            ..Encoding::default()
        };
        e.push_special(cls_id, 0);
        e.push_text(first, 0, 0);
        e.push_special(sep_id, 0);
        if let Some(second) = second {
            e.push_text(second, 1, 1);
            e.push_special(sep_id, 1);
        }
        e
    }
}

/// Number of special tokens around one text (`[CLS] A [SEP]`) or a pair.
pub(crate) fn special_count(pair: bool) -> usize {
    if pair {
        3
    } else {
        2
    }
}

/// Shortens `first` (and `second`) so that, with special tokens, they fit `truncation.max_length`.
///
/// For pairs under `LongestFirst`, the split is the one transformers' BertTokenizer makes: when
/// the shorter sequence fits in half the budget it is kept whole and the longer one gets the
/// rest; otherwise each gets half, and an odd token goes to the sequence that was longer (to the
/// second when both had the same length).
pub(crate) fn truncate(
    first: &mut TokenizedText,
    second: Option<&mut TokenizedText>,
    truncation: Truncation,
) -> Result<(), TokenizerError> {
    let specials = special_count(second.is_some());
    if truncation.max_length < specials {
        return Err(TokenizerError::Truncation(format!(
            "max_length {} leaves no room for the {specials} special tokens",
            truncation.max_length
        )));
    }
    let budget = truncation.max_length - specials;
    let total = first.len() + second.as_ref().map_or(0, |s| s.len());
    if total <= budget {
        return Ok(());
    }
    let to_remove = total - budget;
    match (truncation.strategy, second) {
        (TruncationStrategy::LongestFirst, None) => first.truncate(budget),
        (TruncationStrategy::LongestFirst, Some(second)) => {
            let (mut short, mut long) = (first.len(), second.len());
            let swapped = short > long;
            if swapped {
                std::mem::swap(&mut short, &mut long);
            }
            long = if short > budget {
                short
            } else {
                short.max(budget - short)
            };
            if short + long > budget {
                short = budget / 2;
                long = short + budget % 2;
            }
            let (keep_first, keep_second) = if swapped {
                (long, short)
            } else {
                (short, long)
            };
            first.truncate(keep_first);
            second.truncate(keep_second);
        }
        (TruncationStrategy::OnlyFirst, second) => {
            truncate_one(first, to_remove, "first", second.is_some(), truncation)?
        }
        (TruncationStrategy::OnlySecond, Some(second)) => {
            truncate_one(second, to_remove, "second", true, truncation)?
        }
        (TruncationStrategy::OnlySecond, None) => {
            return Err(TokenizerError::Truncation(
                "only_second needs a pair of texts".to_string(),
            ))
        }
    }
    Ok(())
}

fn truncate_one(
    target: &mut TokenizedText,
    to_remove: usize,
    which: &str,
    pair: bool,
    truncation: Truncation,
) -> Result<(), TokenizerError> {
    if target.len() > to_remove {
        target.truncate(target.len() - to_remove);
        Ok(())
    } else {
        Err(TokenizerError::Truncation(format!(
            "the {which} sequence has {} tokens; removing {to_remove} of them cannot bring the {} to max_length {}",
            target.len(),
            if pair { "pair" } else { "text" },
            truncation.max_length
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(n: usize) -> TokenizedText {
        TokenizedText {
            ids: (0..n as u32).collect(),
            offsets: (0..n).map(|i| (i, i + 1)).collect(),
            word_ids: (0..n as u32).collect(),
            literal: Vec::new(),
        }
    }

    fn lengths(
        a: usize,
        b: usize,
        max_length: usize,
        strategy: TruncationStrategy,
    ) -> (usize, usize) {
        let (mut x, mut y) = (text(a), text(b));
        truncate(
            &mut x,
            Some(&mut y),
            Truncation {
                max_length,
                strategy,
            },
        )
        .unwrap();
        (x.len(), y.len())
    }

    #[test]
    fn longest_first_keeps_a_short_sequence_whole() {
        // budget 10 - 3 = 7: the 2-token text stays, the other gets 5.
        assert_eq!(lengths(2, 9, 10, TruncationStrategy::LongestFirst), (2, 5));
        assert_eq!(lengths(9, 2, 10, TruncationStrategy::LongestFirst), (5, 2));
    }

    #[test]
    fn longest_first_halves_when_both_are_long() {
        // budget 8: 4 and 4.
        assert_eq!(lengths(8, 6, 11, TruncationStrategy::LongestFirst), (4, 4));
        // budget 9: the longer sequence gets the extra token.
        assert_eq!(lengths(9, 8, 12, TruncationStrategy::LongestFirst), (5, 4));
        assert_eq!(lengths(8, 9, 12, TruncationStrategy::LongestFirst), (4, 5));
    }

    #[test]
    fn nothing_happens_when_it_fits() {
        assert_eq!(lengths(3, 4, 10, TruncationStrategy::OnlyFirst), (3, 4));
    }

    #[test]
    fn only_first_and_only_second() {
        assert_eq!(lengths(6, 4, 10, TruncationStrategy::OnlyFirst), (3, 4));
        assert_eq!(lengths(4, 6, 10, TruncationStrategy::OnlySecond), (4, 3));
    }

    #[test]
    fn only_first_errors_when_the_first_is_too_short() {
        let (mut x, mut y) = (text(2), text(20));
        let t = Truncation {
            max_length: 10,
            strategy: TruncationStrategy::OnlyFirst,
        };
        assert!(matches!(
            truncate(&mut x, Some(&mut y), t),
            Err(TokenizerError::Truncation(_))
        ));
    }

    #[test]
    fn only_second_needs_a_pair() {
        let mut x = text(20);
        let t = Truncation {
            max_length: 10,
            strategy: TruncationStrategy::OnlySecond,
        };
        assert!(truncate(&mut x, None, t).is_err());
    }

    #[test]
    fn single_text_keeps_room_for_special_tokens() {
        let mut x = text(20);
        let t = Truncation {
            max_length: 10,
            strategy: TruncationStrategy::LongestFirst,
        };
        truncate(&mut x, None, t).unwrap();
        assert_eq!(x.len(), 8);
        let t = Truncation {
            max_length: 1,
            strategy: TruncationStrategy::LongestFirst,
        };
        assert!(truncate(&mut x, None, t).is_err());
    }

    #[test]
    fn assemble_places_special_tokens_and_segments() {
        let e = Encoding::assemble(&text(2), Some(&text(1)), 101, 102);
        assert_eq!(e.ids, [101, 0, 1, 102, 0, 102]);
        assert_eq!(e.type_ids, [0, 0, 0, 0, 1, 1]);
        assert_eq!(e.special_tokens_mask, [1, 0, 0, 1, 0, 1]);
        assert_eq!(e.offsets, [(0, 0), (0, 1), (1, 2), (0, 0), (0, 1), (0, 0)]);
        assert_eq!(
            e.sequence_ids,
            [None, Some(0), Some(0), None, Some(1), None]
        );
        assert_eq!(e.word_ids, [None, Some(0), Some(1), None, Some(0), None]);
        assert_eq!(e.attention_mask, [1; 6]);
    }
}
