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
    /// Pieces that can start a word, by text: most words are one of them (one lookup).
    words: FxHashMap<String, u32>,
    /// The piece of each one-byte word, or the unknown id (punctuation is frequent).
    ascii_chars: Box<[u32; 128]>,
    /// Pieces that can start a word.
    starts: Trie,
    /// Pieces that continue a word, keyed without their prefix.
    continuations: Trie,
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
        let mut starts = Vec::new();
        let mut continuations = Vec::new();
        for (token, &id) in &vocab.ids {
            starts.push((token.as_bytes(), id));
            if !continuation_prefix.is_empty() {
                if let Some(rest) = token.strip_prefix(continuation_prefix) {
                    continuations.push((rest.as_bytes(), id));
                }
            }
        }
        let ascii_chars = Box::new(std::array::from_fn(|b| {
            let c = char::from(b as u8).to_string();
            vocab.id(&c).unwrap_or(unk_id)
        }));
        WordPiece {
            words: vocab.ids.clone(),
            ascii_chars,
            starts: Trie::new(starts),
            continuations: Trie::new(continuations),
            unk_id,
            max_input_chars_per_word,
        }
    }

    /// Cuts `word` into pieces, appended to `out`. A word longer than
    /// `max_input_chars_per_word` characters, or one with a part no piece matches, becomes a
    /// single unknown piece covering the whole word. `bounds` is scratch space.
    pub(crate) fn tokenize(&self, word: &str, bounds: &mut Vec<usize>, out: &mut Vec<Piece>) {
        if word.is_empty() {
            return;
        }
        // Pieces are given in characters; in an ASCII word those are its bytes.
        let ascii = word.is_ascii();
        let n = match ascii {
            true => word.len(),
            false => word.chars().count(),
        };
        let unknown = Piece {
            id: self.unk_id,
            start: 0,
            end: n,
        };
        if n > self.max_input_chars_per_word {
            out.push(unknown);
            return;
        }
        if let Some(&id) = self.words.get(word) {
            out.push(Piece {
                id,
                start: 0,
                end: n,
            });
            return;
        }
        bounds.clear();
        if !ascii {
            bounds.extend(word.char_indices().map(|(b, _)| b));
            bounds.push(word.len());
        }
        let char_at = |byte: usize| match ascii {
            true => byte,
            false => bounds.partition_point(|&b| b < byte),
        };
        let first = out.len();
        let mut start = 0;
        while start < word.len() {
            let table = if start == 0 {
                &self.starts
            } else {
                &self.continuations
            };
            // The longest piece that `word` continues with at `start` (pieces are whole
            // characters, so it ends on a character boundary).
            match table.longest_prefix(&word.as_bytes()[start..]) {
                Some((id, len)) => {
                    out.push(Piece {
                        id,
                        start: char_at(start),
                        end: char_at(start + len),
                    });
                    start += len;
                }
                None => {
                    out.truncate(first);
                    out.push(unknown);
                    return;
                }
            }
        }
    }
}

impl WordPiece {
    /// Cuts an ASCII `word` into pieces as [`Self::tokenize`] does, appending their ids to `out`.
    pub(crate) fn ascii_ids(&self, word: &str, out: &mut Vec<u32>) {
        debug_assert!(word.is_ascii());
        match word.len() {
            0 => return,
            n if n > self.max_input_chars_per_word => return out.push(self.unk_id),
            1 => return out.push(self.ascii_chars[word.as_bytes()[0] as usize]),
            _ => {}
        }
        if let Some(&id) = self.words.get(word) {
            return out.push(id);
        }
        let first = out.len();
        let mut start = 0;
        while start < word.len() {
            let table = match start {
                0 => &self.starts,
                _ => &self.continuations,
            };
            match table.longest_prefix(&word.as_bytes()[start..]) {
                Some((id, len)) => {
                    out.push(id);
                    start += len;
                }
                None => {
                    out.truncate(first);
                    return out.push(self.unk_id);
                }
            }
        }
    }
}

/// Pieces in a byte trie: the longest piece a text starts with, in one walk over its bytes
/// (rather than a hash lookup for every candidate length). Each node keeps a bitmap of the bytes
/// it has children for, and its children are numbered consecutively, so a step is a bit test
/// and a count of the bits below.
#[derive(Clone, Debug)]
struct Trie {
    nodes: Vec<Node>,
}

#[derive(Clone, Debug)]
struct Node {
    /// Bit `b` set: a child for byte `b`.
    children: [u64; 4],
    /// The index of the first child (the one of the lowest byte).
    first_child: u32,
    /// Children for the bytes below each 64 of `children`.
    below: [u8; 4],
    /// The node's piece, `u32::MAX` for none.
    id: u32,
}

impl Node {
    /// The child for `byte`, if any.
    fn child(&self, byte: u8) -> Option<u32> {
        let (word, bit) = ((byte >> 6) as usize, byte & 63);
        if self.children[word] >> bit & 1 == 0 {
            return None;
        }
        let mask = (1u64 << bit) - 1;
        let rank = u32::from(self.below[word]) + (self.children[word] & mask).count_ones();
        Some(self.first_child + rank)
    }
}

impl Trie {
    fn new(mut pieces: Vec<(&[u8], u32)>) -> Self {
        pieces.sort();
        let empty = Node {
            children: [0; 4],
            first_child: 0,
            below: [0; 4],
            id: u32::MAX,
        };
        // Nodes are numbered breadth-first, each node's children built at once, so they are
        // consecutive and in byte order.
        let mut nodes = vec![empty.clone()];
        // (node, the range of `pieces` under it, its depth)
        let mut queue = std::collections::VecDeque::from([(0usize, 0usize, pieces.len(), 0usize)]);
        while let Some((node, lo, hi, depth)) = queue.pop_front() {
            let mut i = lo;
            // A piece that ends here is first among its node's pieces (sorted).
            if i < hi && pieces[i].0.len() == depth {
                nodes[node].id = pieces[i].1;
                i += 1;
            }
            nodes[node].first_child = nodes.len() as u32;
            while i < hi {
                let byte = pieces[i].0[depth];
                let mut j = i;
                while j < hi && pieces[j].0[depth] == byte {
                    j += 1;
                }
                nodes[node].children[(byte >> 6) as usize] |= 1 << (byte & 63);
                queue.push_back((nodes.len(), i, j, depth + 1));
                nodes.push(empty.clone());
                i = j;
            }
            let c = nodes[node].children.map(u64::count_ones);
            nodes[node].below = [0, c[0], c[0] + c[1], c[0] + c[1] + c[2]].map(|n| n as u8);
        }
        Trie { nodes }
    }

    /// The id and byte length of the longest non-empty piece that `text` starts with.
    fn longest_prefix(&self, text: &[u8]) -> Option<(u32, usize)> {
        let mut node = &self.nodes[0];
        let mut best = None;
        for (depth, &byte) in text.iter().enumerate() {
            match node.child(byte) {
                Some(child) => node = &self.nodes[child as usize],
                None => break,
            }
            if node.id != u32::MAX {
                best = Some((node.id, depth + 1));
            }
        }
        best
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
