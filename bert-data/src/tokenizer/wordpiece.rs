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
        WordPiece {
            words: vocab.ids.clone(),
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

/// Pieces in a byte trie: the longest piece a text starts with, in one walk over its bytes
/// (rather than a hash lookup for every candidate length).
#[derive(Clone, Debug)]
struct Trie {
    /// Per node: its piece's id (`u32::MAX` for none) and its range in `edges`.
    nodes: Vec<(u32, u32, u32)>,
    /// Children, each node's sorted by byte.
    edges: Vec<(u8, u32)>,
    /// The root's child for each first byte (0 for none: the root is no one's child).
    root: Box<[u32; 256]>,
}

impl Trie {
    fn new(mut pieces: Vec<(&[u8], u32)>) -> Self {
        pieces.sort();
        // Nodes are numbered breadth-first by building each level's children at once.
        let mut nodes = vec![(u32::MAX, 0, 0)];
        let mut edges = Vec::new();
        // (node, the range of `pieces` under it, its depth)
        let mut queue = std::collections::VecDeque::from([(0usize, 0usize, pieces.len(), 0usize)]);
        while let Some((node, lo, hi, depth)) = queue.pop_front() {
            let mut i = lo;
            // A piece that ends here is first among its node's pieces (sorted).
            if i < hi && pieces[i].0.len() == depth {
                nodes[node].0 = pieces[i].1;
                i += 1;
            }
            let first_edge = edges.len() as u32;
            while i < hi {
                let byte = pieces[i].0[depth];
                let mut j = i;
                while j < hi && pieces[j].0[depth] == byte {
                    j += 1;
                }
                let child = nodes.len();
                nodes.push((u32::MAX, 0, 0));
                edges.push((byte, child as u32));
                queue.push_back((child, i, j, depth + 1));
                i = j;
            }
            nodes[node].1 = first_edge;
            nodes[node].2 = edges.len() as u32;
        }
        let mut root = Box::new([0u32; 256]);
        for &(byte, child) in &edges[nodes[0].1 as usize..nodes[0].2 as usize] {
            root[byte as usize] = child;
        }
        Trie { nodes, edges, root }
    }

    /// The id and byte length of the longest non-empty piece that `text` starts with.
    fn longest_prefix(&self, text: &[u8]) -> Option<(u32, usize)> {
        let mut node = 0usize;
        let mut best = None;
        for (depth, &byte) in text.iter().enumerate() {
            if depth == 0 {
                node = self.root[byte as usize] as usize;
                if node == 0 {
                    break;
                }
            } else {
                let (_, lo, hi) = self.nodes[node];
                let children = &self.edges[lo as usize..hi as usize];
                match children.binary_search_by_key(&byte, |&(b, _)| b) {
                    Ok(k) => node = children[k].1 as usize,
                    Err(_) => break,
                }
            }
            let id = self.nodes[node].0;
            if id != u32::MAX {
                best = Some((id, depth + 1));
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
