//! The vocabulary and WordPiece: greedy longest-match-first segmentation of a word into pieces,
//! pieces after the first carrying the `##` continuation prefix.

use rustc_hash::FxHashMap;

/// A vocabulary: token strings indexed by id.
#[derive(Clone, Debug)]
pub(crate) struct Vocab {
    tokens: Vec<String>,
    ids: FxHashMap<String, u32>,
}

impl Vocab {
    /// Builds a vocabulary from tokens in id order. When a token appears twice, the later id wins
    /// for token -> id, as in transformers (both ids still decode to it).
    pub(crate) fn new(tokens: Vec<String>) -> Self {
        let mut ids = FxHashMap::default();
        ids.reserve(tokens.len());
        for (id, token) in tokens.iter().enumerate() {
            ids.insert(token.clone(), id as u32);
        }
        Vocab { tokens, ids }
    }

    pub(crate) fn len(&self) -> usize {
        self.tokens.len()
    }

    pub(crate) fn id(&self, token: &str) -> Option<u32> {
        self.ids.get(token).copied()
    }

    pub(crate) fn token(&self, id: u32) -> Option<&str> {
        self.tokens.get(id as usize).map(String::as_str)
    }

    pub(crate) fn tokens(&self) -> &[String] {
        &self.tokens
    }
}

/// WordPiece over a vocabulary.
#[derive(Clone, Debug)]
pub(crate) struct WordPiece {
    /// Pieces that can start a word.
    starts: FxHashMap<String, u32>,
    /// Pieces that continue a word, keyed without their prefix.
    continuations: FxHashMap<String, u32>,
    /// Longest start piece, in characters.
    max_start_chars: usize,
    /// Longest continuation piece without its prefix, in characters.
    max_continuation_chars: usize,
    pub unk_id: u32,
    /// Words with more characters than this become one unknown token.
    pub max_input_chars_per_word: usize,
}

/// A piece of a word: its id and its character range within the word.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Piece {
    pub id: u32,
    pub start: usize,
    pub end: usize,
}

impl WordPiece {
    pub(crate) fn new(
        vocab: &Vocab,
        continuation_prefix: &str,
        unk_id: u32,
        max_input_chars_per_word: usize,
    ) -> Self {
        let mut starts = FxHashMap::default();
        let mut continuations = FxHashMap::default();
        let (mut max_start_chars, mut max_continuation_chars) = (0, 0);
        for (token, &id) in &vocab.ids {
            starts.insert(token.clone(), id);
            max_start_chars = max_start_chars.max(token.chars().count());
            if !continuation_prefix.is_empty() {
                if let Some(rest) = token.strip_prefix(continuation_prefix) {
                    continuations.insert(rest.to_string(), id);
                    max_continuation_chars = max_continuation_chars.max(rest.chars().count());
                }
            }
        }
        WordPiece {
            starts,
            continuations,
            max_start_chars,
            max_continuation_chars,
            unk_id,
            max_input_chars_per_word,
        }
    }

    /// Cuts `word` into pieces, appended to `out`. A word longer than
    /// `max_input_chars_per_word` characters, or one with a part no piece matches, becomes a
    /// single unknown piece covering the whole word. `bounds` is scratch space.
    pub(crate) fn tokenize(&self, word: &str, bounds: &mut Vec<usize>, out: &mut Vec<Piece>) {
        bounds.clear();
        bounds.extend(word.char_indices().map(|(b, _)| b));
        let n = bounds.len();
        bounds.push(word.len());
        if n == 0 {
            return;
        }
        if n > self.max_input_chars_per_word {
            out.push(Piece {
                id: self.unk_id,
                start: 0,
                end: n,
            });
            return;
        }
        let first = out.len();
        let mut start = 0;
        while start < n {
            let (table, longest) = if start == 0 {
                (&self.starts, self.max_start_chars)
            } else {
                (&self.continuations, self.max_continuation_chars)
            };
            let mut end = n.min(start + longest);
            let mut found = None;
            while end > start {
                if let Some(&id) = table.get(&word[bounds[start]..bounds[end]]) {
                    found = Some(id);
                    break;
                }
                end -= 1;
            }
            match found {
                Some(id) => {
                    out.push(Piece { id, start, end });
                    start = end;
                }
                None => {
                    out.truncate(first);
                    out.push(Piece {
                        id: self.unk_id,
                        start: 0,
                        end: n,
                    });
                    return;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wordpiece(tokens: &[&str], max_chars: usize) -> (Vocab, WordPiece) {
        let vocab = Vocab::new(tokens.iter().map(|t| t.to_string()).collect());
        let unk = vocab.id("[UNK]").unwrap();
        let wp = WordPiece::new(&vocab, "##", unk, max_chars);
        (vocab, wp)
    }

    fn pieces(vocab: &Vocab, wp: &WordPiece, word: &str) -> Vec<String> {
        let mut out = Vec::new();
        wp.tokenize(word, &mut Vec::new(), &mut out);
        out.iter()
            .map(|p| vocab.token(p.id).unwrap().to_string())
            .collect()
    }

    const TOKENS: &[&str] = &[
        "[UNK]", "un", "##aff", "##able", "una", "##ff", "a", "##a", "é", "##é", "##ble",
    ];

    #[test]
    fn greedy_longest_match_first() {
        let (v, wp) = wordpiece(TOKENS, 100);
        // "una" is longer than "un" and is taken first, even though "un ##aff ##able" exists.
        assert_eq!(pieces(&v, &wp, "unaffable"), ["una", "##ff", "##able"]);
    }

    #[test]
    fn continuation_pieces_carry_the_prefix() {
        let (v, wp) = wordpiece(TOKENS, 100);
        assert_eq!(pieces(&v, &wp, "aaa"), ["a", "##a", "##a"]);
    }

    #[test]
    fn unmatched_rest_makes_the_whole_word_unknown() {
        let (v, wp) = wordpiece(TOKENS, 100);
        assert_eq!(pieces(&v, &wp, "unaffablez"), ["[UNK]"]);
        assert_eq!(pieces(&v, &wp, "z"), ["[UNK]"]);
    }

    #[test]
    fn words_over_the_limit_are_unknown() {
        let (v, wp) = wordpiece(TOKENS, 3);
        assert_eq!(pieces(&v, &wp, "aaa"), ["a", "##a", "##a"]);
        assert_eq!(pieces(&v, &wp, "aaaa"), ["[UNK]"]);
    }

    #[test]
    fn the_limit_counts_characters_not_bytes() {
        let (v, wp) = wordpiece(TOKENS, 3);
        assert_eq!(pieces(&v, &wp, "ééé"), ["é", "##é", "##é"]);
    }

    #[test]
    fn pieces_report_character_ranges() {
        let (_, wp) = wordpiece(TOKENS, 100);
        let mut out = Vec::new();
        wp.tokenize("éé", &mut Vec::new(), &mut out);
        assert_eq!(
            out.iter().map(|p| (p.start, p.end)).collect::<Vec<_>>(),
            [(0, 1), (1, 2)]
        );
        out.clear();
        wp.tokenize("ézz", &mut Vec::new(), &mut out);
        assert_eq!(
            out.iter().map(|p| (p.start, p.end)).collect::<Vec<_>>(),
            [(0, 3)]
        );
    }

    #[test]
    fn later_duplicate_wins() {
        let vocab = Vocab::new(vec!["a".into(), "b".into(), "a".into()]);
        assert_eq!(vocab.id("a"), Some(2));
        assert_eq!(vocab.token(0), Some("a"));
    }
}
