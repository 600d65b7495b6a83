//! [`BertTokenizer`]: BERT's basic tokenizer followed by WordPiece.
//!
//! The output is identical, token for token and offset for offset, to transformers'
//! `BertTokenizer` (which in transformers 5 runs on the `tokenizers` library); `never_split` and
//! `do_basic_tokenize = false` follow the original BERT tokenizer (transformers'
//! `BertTokenizerLegacy`), the only one that has them.
//!
//! The pipeline for one text:
//! 1. special tokens (`[CLS]`, `[SEP]`, `[PAD]`, `[MASK]`, `[UNK]`, and any other special token of
//!    a `tokenizer.json`) written in the text are cut out first and kept as they are;
//! 2. the rest is cleaned (control characters removed, whitespace made a space), CJK ideographs
//!    are surrounded by spaces, accents are stripped (NFD, then non-spacing marks removed), and
//!    the text is lowercased, as the options say;
//! 3. the result is split on whitespace and around each punctuation character;
//! 4. each word is cut into WordPiece pieces, or becomes `[UNK]`.

mod basic;
mod chars;
mod encoding;
mod error;
mod files;
mod ids;
mod windows;
mod wordpiece;

use std::path::Path;

use rustc_hash::FxHashSet;

pub use encoding::{Encoding, TokenizedText, Truncation, TruncationStrategy};
pub use error::TokenizerError;
pub use ids::PieceIds;
pub use windows::{window_ranges, WindowOptions};

use basic::{BasicTokenizer, Scratch, Word};
use ids::AsciiClasses;
use wordpiece::{Piece, Vocab, WordPiece};

/// How text is split before WordPiece. Defaults are those of transformers' `BertTokenizer`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TokenizerOptions {
    /// Lowercase the text (`do_lower_case`). Default true.
    pub do_lower_case: bool,
    /// Strip accents (`strip_accents`); `None` follows `do_lower_case`. Default `None`.
    pub strip_accents: Option<bool>,
    /// Put each CJK ideograph in a word of its own (`tokenize_chinese_chars`). Default true.
    pub tokenize_chinese_chars: bool,
    /// Run the basic tokenizer (`do_basic_tokenize`). When false, WordPiece runs on the
    /// whitespace-separated words of the raw text: no cleaning, lowercasing or punctuation
    /// splitting. Default true.
    pub do_basic_tokenize: bool,
    /// Whitespace-delimited words never lowercased, split or cut into pieces (`never_split`).
    pub never_split: Vec<String>,
    /// Remove control characters and map whitespace to spaces. Default true.
    pub clean_text: bool,
    /// Words longer than this (in characters) become `[UNK]`. Default 100.
    pub max_input_chars_per_word: usize,
    /// Prefix of pieces that continue a word. Default `##`.
    pub continuing_subword_prefix: String,
    /// When decoding, remove the spaces tokenization put before `.`, `?`, `!`, `,` and in
    /// front of each word piece of a contraction (`clean_up_tokenization_spaces`), over the whole
    /// text. Default false, as in transformers 5. (Spaces before `.`, `?`, `!` and `,` pieces
    /// go in any case, as transformers' WordPiece decoder removes them.)
    pub clean_up_tokenization_spaces: bool,
}

impl Default for TokenizerOptions {
    fn default() -> Self {
        TokenizerOptions {
            do_lower_case: true,
            strip_accents: None,
            tokenize_chinese_chars: true,
            do_basic_tokenize: true,
            never_split: Vec::new(),
            clean_text: true,
            max_input_chars_per_word: 100,
            continuing_subword_prefix: "##".to_string(),
            clean_up_tokenization_spaces: false,
        }
    }
}

/// Options given on a command line or in code that win over a model directory's files; `None`
/// leaves the file's (or the default) value.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TokenizerOverrides {
    /// Overrides `do_lower_case`.
    pub do_lower_case: Option<bool>,
    /// Overrides `strip_accents` (`Some(x)` sets it to `x`).
    pub strip_accents: Option<bool>,
    /// Overrides `tokenize_chinese_chars`.
    pub tokenize_chinese_chars: Option<bool>,
    /// Overrides `do_basic_tokenize`.
    pub do_basic_tokenize: Option<bool>,
}

impl TokenizerOptions {
    /// Applies the values `overrides` sets.
    pub fn apply(&mut self, overrides: &TokenizerOverrides) {
        if let Some(v) = overrides.do_lower_case {
            self.do_lower_case = v;
        }
        if let Some(v) = overrides.strip_accents {
            self.strip_accents = Some(v);
        }
        if let Some(v) = overrides.tokenize_chinese_chars {
            self.tokenize_chinese_chars = v;
        }
        if let Some(v) = overrides.do_basic_tokenize {
            self.do_basic_tokenize = v;
        }
    }

    /// Whether accents are stripped once `strip_accents` is resolved against lowercasing.
    pub fn strips_accents(&self) -> bool {
        self.strip_accents.unwrap_or(self.do_lower_case)
    }
}

/// The special tokens' texts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SpecialTokens {
    /// Unknown token, `[UNK]`.
    pub unk: String,
    /// Separator, `[SEP]`.
    pub sep: String,
    /// Padding, `[PAD]`.
    pub pad: String,
    /// Classification token, `[CLS]`.
    pub cls: String,
    /// Mask, `[MASK]`.
    pub mask: String,
}

impl Default for SpecialTokens {
    fn default() -> Self {
        SpecialTokens {
            unk: "[UNK]".into(),
            sep: "[SEP]".into(),
            pad: "[PAD]".into(),
            cls: "[CLS]".into(),
            mask: "[MASK]".into(),
        }
    }
}

/// Ids of the special tokens.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SpecialIds {
    /// `[UNK]`.
    pub unk: u32,
    /// `[SEP]`.
    pub sep: u32,
    /// `[PAD]`.
    pub pad: u32,
    /// `[CLS]`.
    pub cls: u32,
    /// `[MASK]`.
    pub mask: u32,
}

/// BERT's tokenizer: basic tokenization, then WordPiece.
#[derive(Clone, Debug)]
pub struct BertTokenizer {
    vocab: Vocab,
    wordpiece: WordPiece,
    /// `None` when basic tokenization is off.
    basic: Option<BasicTokenizer>,
    /// What `basic` does with each ASCII character (for [`Self::tokenize_ids`]).
    ascii_classes: Option<Box<AsciiClasses>>,
    options: TokenizerOptions,
    specials: SpecialTokens,
    special_ids: SpecialIds,
    /// Texts cut out of the input before anything else, longest first, with their ids.
    split_out: Vec<(String, u32)>,
    /// The bytes that start one of `split_out`'s texts (the places worth comparing).
    split_out_starts: Box<[bool; 256]>,
    /// Ids that `decode(.., skip_special_tokens = true)` drops.
    special_id_set: FxHashSet<u32>,
    /// Largest number of tokens one sequence may have, from `model_max_length`, if known.
    model_max_length: Option<usize>,
}

impl BertTokenizer {
    /// Builds a tokenizer from a vocabulary (tokens in id order).
    pub fn new(
        vocab: Vec<String>,
        options: TokenizerOptions,
        specials: SpecialTokens,
    ) -> Result<Self, TokenizerError> {
        Self::build(vocab, options, specials, &[])
    }

    fn build(
        tokens: Vec<String>,
        options: TokenizerOptions,
        specials: SpecialTokens,
        extra_special: &[String],
    ) -> Result<Self, TokenizerError> {
        let vocab = Vocab::new(tokens);
        let id_of = |role: &'static str, token: &str| {
            vocab
                .id(token)
                .ok_or_else(|| TokenizerError::MissingSpecialToken {
                    role,
                    token: token.to_string(),
                })
        };
        let special_ids = SpecialIds {
            unk: id_of("unk_token", &specials.unk)?,
            sep: id_of("sep_token", &specials.sep)?,
            pad: id_of("pad_token", &specials.pad)?,
            cls: id_of("cls_token", &specials.cls)?,
            mask: id_of("mask_token", &specials.mask)?,
        };
        let mut split_out: Vec<(String, u32)> = Vec::new();
        let names = [
            &specials.pad,
            &specials.unk,
            &specials.cls,
            &specials.sep,
            &specials.mask,
        ];
        for token in names.into_iter().chain(extra_special) {
            if token.is_empty() || split_out.iter().any(|(t, _)| t == token) {
                continue;
            }
            if let Some(id) = vocab.id(token) {
                split_out.push((token.clone(), id));
            }
        }
        // Longest first, so that of two special tokens starting at the same place the longer wins.
        split_out.sort_by_key(|(token, _)| std::cmp::Reverse(token.len()));
        let special_id_set = split_out.iter().map(|&(_, id)| id).collect();
        let mut split_out_starts = Box::new([false; 256]);
        for (token, _) in &split_out {
            split_out_starts[token.as_bytes()[0] as usize] = true;
        }

        let wordpiece = WordPiece::new(
            &vocab,
            &options.continuing_subword_prefix,
            special_ids.unk,
            options.max_input_chars_per_word,
        );
        let basic = options.do_basic_tokenize.then(|| BasicTokenizer {
            clean_text: options.clean_text,
            lowercase: options.do_lower_case,
            strip_accents: options.strips_accents(),
            split_chinese: options.tokenize_chinese_chars,
            never_split: options.never_split.iter().cloned().collect(),
        });
        let ascii_classes = basic
            .as_ref()
            .map(|b| Box::new(std::array::from_fn(|c| b.ascii_class(char::from(c as u8)))));
        Ok(BertTokenizer {
            vocab,
            wordpiece,
            basic,
            ascii_classes,
            options,
            specials,
            special_ids,
            split_out,
            split_out_starts,
            special_id_set,
            model_max_length: None,
        })
    }

    /// Reads a `vocab.txt` (one token per line) and uses `options`.
    pub fn from_vocab_file(
        path: impl AsRef<Path>,
        options: TokenizerOptions,
    ) -> Result<Self, TokenizerError> {
        let tokens = files::read_vocab_txt(path.as_ref())?;
        Self::new(tokens, options, SpecialTokens::default())
    }

    /// Reads a `tokenizer.json` (WordPiece model, BERT normalizer); `overrides` win over its
    /// normalizer settings.
    pub fn from_tokenizer_json(
        path: impl AsRef<Path>,
        overrides: &TokenizerOverrides,
    ) -> Result<Self, TokenizerError> {
        let json = files::read_tokenizer_json(path.as_ref())?;
        let mut options = TokenizerOptions::default();
        let mut specials = SpecialTokens::default();
        Self::apply_tokenizer_json(&json, &mut options, &mut specials);
        options.apply(overrides);
        Self::build(json.tokens, options, specials, &json.special_tokens)
    }

    fn apply_tokenizer_json(
        json: &files::TokenizerJson,
        options: &mut TokenizerOptions,
        specials: &mut SpecialTokens,
    ) {
        options.apply(&json.settings);
        if let Some(v) = json.clean_text {
            options.clean_text = v;
        }
        if let Some(v) = json.max_input_chars_per_word {
            options.max_input_chars_per_word = v;
        }
        if let Some(v) = &json.continuing_subword_prefix {
            options.continuing_subword_prefix = v.clone();
        }
        if let Some(v) = &json.unk_token {
            specials.unk = v.clone();
        }
    }

    /// Loads the tokenizer of a model directory in the Hugging Face layout: the vocabulary from
    /// `vocab.txt` (else `tokenizer.json`), settings from `tokenizer.json`'s normalizer, then
    /// `tokenizer_config.json`, then `overrides`, each winning over the one before.
    pub fn from_dir(
        dir: impl AsRef<Path>,
        overrides: &TokenizerOverrides,
    ) -> Result<Self, TokenizerError> {
        let dir = dir.as_ref();
        let found = files::ModelFiles::find(dir)?;
        let mut options = TokenizerOptions::default();
        let mut specials = SpecialTokens::default();
        let mut extra_special = Vec::new();
        let mut tokens = None;
        if let Some(path) = &found.tokenizer_json {
            let json = files::read_tokenizer_json(path)?;
            Self::apply_tokenizer_json(&json, &mut options, &mut specials);
            extra_special = json.special_tokens;
            tokens = Some(json.tokens);
        }
        if let Some(path) = &found.vocab_txt {
            tokens = Some(files::read_vocab_txt(path)?);
        }
        let mut model_max_length = None;
        if let Some(path) = &found.tokenizer_config {
            let config = files::read_tokenizer_config(path)?;
            options.apply(&config.settings);
            if config.settings.strip_accents.is_none() {
                options.strip_accents = None;
            }
            if let Some(never_split) = config.never_split {
                options.never_split = never_split;
            }
            if let Some(v) = config.clean_up_tokenization_spaces {
                options.clean_up_tokenization_spaces = v;
            }
            config.specials.apply(&mut specials);
            // Hub configs say 1e30 and the like when there is no limit.
            model_max_length = config.model_max_length.filter(|&n| n <= 1 << 20);
        }
        options.apply(overrides);
        let tokens = tokens.expect("ModelFiles::find guarantees a vocabulary file");
        let mut tokenizer = Self::build(tokens, options, specials, &extra_special)?;
        tokenizer.model_max_length = model_max_length;
        Ok(tokenizer)
    }

    /// The options in force.
    pub fn options(&self) -> &TokenizerOptions {
        &self.options
    }

    /// The special tokens' texts.
    pub fn special_tokens(&self) -> &SpecialTokens {
        &self.specials
    }

    /// The special tokens' ids.
    pub fn special_ids(&self) -> SpecialIds {
        self.special_ids
    }

    /// `model_max_length` from `tokenizer_config.json`, when the directory gave a real one.
    pub fn model_max_length(&self) -> Option<usize> {
        self.model_max_length
    }

    /// Number of tokens in the vocabulary.
    pub fn vocab_size(&self) -> usize {
        self.vocab.len()
    }

    /// The vocabulary, in id order.
    pub fn vocab(&self) -> &[String] {
        self.vocab.tokens()
    }

    /// The id of `token`, if it is in the vocabulary.
    pub fn token_to_id(&self, token: &str) -> Option<u32> {
        self.vocab.id(token)
    }

    /// The text of token `id`, if it is in the vocabulary.
    pub fn id_to_token(&self, id: u32) -> Option<&str> {
        self.vocab.token(id)
    }

    /// Ids of `tokens`; a token not in the vocabulary gets the `[UNK]` id.
    pub fn convert_tokens_to_ids<S: AsRef<str>>(&self, tokens: &[S]) -> Vec<u32> {
        tokens
            .iter()
            .map(|t| self.vocab.id(t.as_ref()).unwrap_or(self.special_ids.unk))
            .collect()
    }

    /// Texts of the tokens `ids`; an id outside the vocabulary is an error.
    pub fn convert_ids_to_tokens(&self, ids: &[u32]) -> Result<Vec<String>, TokenizerError> {
        ids.iter()
            .map(|&id| {
                self.vocab
                    .token(id)
                    .map(str::to_string)
                    .ok_or(TokenizerError::UnknownId {
                        id,
                        vocab_size: self.vocab.len(),
                    })
            })
            .collect()
    }

    /// Word pieces of `text` (no special tokens added), as strings.
    pub fn tokenize(&self, text: &str) -> Vec<String> {
        let t = self.tokenize_with_offsets(text);
        self.texts_of(&t)
    }

    /// The texts of the tokens of `t`.
    pub fn texts_of(&self, t: &TokenizedText) -> Vec<String> {
        let mut out: Vec<String> = t
            .ids
            .iter()
            .map(|&id| {
                self.vocab
                    .token(id)
                    .unwrap_or(&self.specials.unk)
                    .to_string()
            })
            .collect();
        for (i, text) in &t.literal {
            out[*i] = text.clone();
        }
        out
    }

    /// Word pieces of `text` with their ids, character offsets and word indices; no special
    /// tokens are added.
    pub fn tokenize_with_offsets(&self, text: &str) -> TokenizedText {
        let mut out = TokenizedText::default();
        // About one token per 4 bytes of text: most texts need no regrowth.
        let guess = text.len() / 4 + 1;
        out.ids.reserve(guess);
        out.offsets.reserve(guess);
        out.word_ids.reserve(guess);
        let mut scratch = Scratch::default();
        let mut state = PieceState::default();
        let mut char_base = 0u32;
        let mut rest = text;
        while !rest.is_empty() {
            let (before, special) = self.next_special(rest);
            self.split_words(before, char_base, &mut scratch, &mut state, &mut out);
            char_base += before.chars().count() as u32;
            match special {
                Some((len, id)) => {
                    let n = rest[before.len()..before.len() + len].chars().count() as u32;
                    out.ids.push(id);
                    out.offsets
                        .push((char_base as usize, (char_base + n) as usize));
                    out.word_ids.push(state.word);
                    state.word += 1;
                    char_base += n;
                    rest = &rest[before.len() + len..];
                }
                None => break,
            }
        }
        out
    }

    /// The text before the first special token in `text`, and that token's byte length and id.
    fn next_special<'t>(&self, text: &'t str) -> (&'t str, Option<(usize, u32)>) {
        if self.split_out.is_empty() {
            return (text, None);
        }
        let bytes = text.as_bytes();
        for start in 0..bytes.len() {
            if !self.split_out_starts[bytes[start] as usize] || !text.is_char_boundary(start) {
                continue;
            }
            for (token, id) in &self.split_out {
                if bytes[start..].starts_with(token.as_bytes()) {
                    return (&text[..start], Some((token.len(), *id)));
                }
            }
        }
        (text, None)
    }

    fn split_words(
        &self,
        text: &str,
        char_base: u32,
        scratch: &mut Scratch,
        state: &mut PieceState,
        out: &mut TokenizedText,
    ) {
        if text.is_empty() {
            return;
        }
        let PieceState {
            pieces,
            bounds,
            word,
        } = state;
        let mut emit = |w: Word<'_>| {
            let first_char = w.align[0] as usize;
            let last_char = w.align[w.align.len() - 1] as usize;
            if w.protected {
                let id = self.vocab.id(w.text);
                if id.is_none() {
                    out.literal.push((out.ids.len(), w.text.to_string()));
                }
                out.ids.push(id.unwrap_or(self.special_ids.unk));
                out.offsets.push((first_char, last_char + 1));
                out.word_ids.push(*word);
            } else {
                pieces.clear();
                self.wordpiece.tokenize(w.text, bounds, pieces);
                for &Piece { id, start, end } in pieces.iter() {
                    out.ids.push(id);
                    out.offsets
                        .push((w.align[start] as usize, w.align[end - 1] as usize + 1));
                    out.word_ids.push(*word);
                }
            }
            *word += 1;
        };
        match &self.basic {
            Some(basic) => basic.split(text, char_base, scratch, &mut emit),
            None => basic::split_whitespace_only(text, char_base, scratch, &mut emit),
        }
    }

    /// Encodes a text, or a pair, into model inputs: `[CLS] A [SEP]` or `[CLS] A [SEP] B [SEP]`,
    /// truncated to `truncation` if given.
    pub fn encode(
        &self,
        text: &str,
        text_pair: Option<&str>,
        truncation: Option<Truncation>,
    ) -> Result<Encoding, TokenizerError> {
        let mut first = self.tokenize_with_offsets(text);
        let mut second = text_pair.map(|t| self.tokenize_with_offsets(t));
        self.assemble(&mut first, second.as_mut(), truncation)
    }

    /// `[CLS] first [SEP] window [SEP]` for each window of `second` (see [`WindowOptions`]):
    /// the encodings of extractive question answering over a long context. Offsets refer to
    /// each text, as in [`Self::encode`].
    pub fn encode_windows(
        &self,
        first: &str,
        second: &str,
        options: WindowOptions,
    ) -> Result<Vec<Encoding>, TokenizerError> {
        let mut first = self.tokenize_with_offsets(first);
        let second = self.tokenize_with_offsets(second);
        windows::assemble_windows(
            &mut first,
            &second,
            options,
            self.special_ids.cls,
            self.special_ids.sep,
        )
    }

    /// Truncates tokenized texts in place (if `truncation` is given) and assembles them into
    /// model inputs with `[CLS]` and `[SEP]`. With [`Self::tokenize_with_offsets`], this is
    /// [`Self::encode`] for callers that also want the pieces of each text.
    pub fn assemble(
        &self,
        first: &mut TokenizedText,
        mut second: Option<&mut TokenizedText>,
        truncation: Option<Truncation>,
    ) -> Result<Encoding, TokenizerError> {
        if let Some(truncation) = truncation {
            encoding::truncate(first, second.as_deref_mut(), truncation)?;
        }
        Ok(Encoding::assemble(
            first,
            second.as_deref(),
            self.special_ids.cls,
            self.special_ids.sep,
        ))
    }

    /// Turns ids back into text as transformers' `decode` does: pieces joined with spaces,
    /// continuation pieces glued to the piece before, the space before a `.`, `?`, `!` or `,`
    /// piece removed, and, if `clean_up_tokenization_spaces`, the whole text cleaned up too.
    /// `skip_special_tokens` drops `[CLS]`, `[SEP]`, `[PAD]` and the like.
    pub fn decode(&self, ids: &[u32], skip_special_tokens: bool) -> Result<String, TokenizerError> {
        let prefix = self.options.continuing_subword_prefix.as_str();
        let cleanup = self.options.clean_up_tokenization_spaces;
        let mut text = String::new();
        let mut first = true;
        for &id in ids {
            if skip_special_tokens && self.special_id_set.contains(&id) {
                continue;
            }
            let token = self.vocab.token(id).ok_or(TokenizerError::UnknownId {
                id,
                vocab_size: self.vocab.len(),
            })?;
            let piece = match token.strip_prefix(prefix) {
                Some(rest) if !first && !prefix.is_empty() => rest.to_string(),
                _ if first => token.to_string(),
                _ => format!(" {token}"),
            };
            first = false;
            text.push_str(&clean_up_spaces(&piece, true));
        }
        Ok(if cleanup {
            clean_up_spaces(&text, false)
        } else {
            text
        })
    }
}

/// Buffers for cutting words into pieces.
#[derive(Default)]
struct PieceState {
    pieces: Vec<Piece>,
    bounds: Vec<usize>,
    /// Index of the next word.
    word: u32,
}

/// Removes the spaces tokenization puts before punctuation and English contractions. The
/// WordPiece decoder applies it to each piece (where `" do not"` also becomes `" don't"`), and
/// transformers applies it once more to the whole text.
fn clean_up_spaces(text: &str, per_piece: bool) -> String {
    let mut s = text
        .replace(" .", ".")
        .replace(" ?", "?")
        .replace(" !", "!")
        .replace(" ,", ",")
        .replace(" ' ", "'")
        .replace(" n't", "n't")
        .replace(" 'm", "'m");
    if per_piece {
        s = s.replace(" do not", " don't");
    }
    s.replace(" 's", "'s")
        .replace(" 've", "'ve")
        .replace(" 're", "'re")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tokenizer(options: TokenizerOptions) -> BertTokenizer {
        let vocab = [
            "[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "hello", "world", ",", "!", "un",
            "##aff", "##able", "'", "s", "it", ".", "東", "hé", "##llo", "[X]",
        ];
        BertTokenizer::new(
            vocab.iter().map(|s| s.to_string()).collect(),
            options,
            SpecialTokens::default(),
        )
        .unwrap()
    }

    #[test]
    fn tokenize_runs_basic_then_wordpiece() {
        let t = tokenizer(TokenizerOptions::default());
        assert_eq!(
            t.tokenize("Hello, WORLD! unaffable 東x"),
            ["hello", ",", "world", "!", "un", "##aff", "##able", "東", "[UNK]"]
        );
    }

    #[test]
    fn special_tokens_in_text_are_kept_whole() {
        let t = tokenizer(TokenizerOptions::default());
        let out = t.tokenize_with_offsets("hello[SEP]world [MASK]");
        assert_eq!(t.texts_of(&out), ["hello", "[SEP]", "world", "[MASK]"]);
        assert_eq!(out.offsets, [(0, 5), (5, 10), (10, 15), (16, 22)]);
        assert_eq!(out.word_ids, [0, 1, 2, 3]);
        // Lowercase forms are ordinary text.
        assert_eq!(t.tokenize("[sep]"), ["[UNK]", "[UNK]", "[UNK]"]);
    }

    #[test]
    fn encode_single_and_pair() {
        let t = tokenizer(TokenizerOptions::default());
        let e = t.encode("Hello", Some("world!"), None).unwrap();
        assert_eq!(e.ids, [2, 5, 3, 6, 8, 3]);
        assert_eq!(e.type_ids, [0, 0, 0, 1, 1, 1]);
        assert_eq!(e.offsets, [(0, 0), (0, 5), (0, 0), (0, 5), (5, 6), (0, 0)]);
    }

    #[test]
    fn offsets_are_characters_of_the_original_text() {
        let t = tokenizer(TokenizerOptions::default());
        let out = t.tokenize_with_offsets("\u{0}Héllo  東");
        assert_eq!(t.texts_of(&out), ["hello", "東"]);
        assert_eq!(out.offsets, [(1, 6), (8, 9)]);
    }

    #[test]
    fn lowercase_keeping_accents() {
        let t = tokenizer(TokenizerOptions {
            strip_accents: Some(false),
            ..TokenizerOptions::default()
        });
        assert_eq!(t.tokenize("HÉLLO"), ["hé", "##llo"]);
    }

    #[test]
    fn no_basic_tokenization_is_wordpiece_on_raw_words() {
        let t = tokenizer(TokenizerOptions {
            do_basic_tokenize: false,
            ..TokenizerOptions::default()
        });
        assert_eq!(
            t.tokenize("hello world! Hello"),
            ["hello", "[UNK]", "[UNK]"]
        );
    }

    #[test]
    fn never_split_words_keep_their_text() {
        let t = tokenizer(TokenizerOptions {
            never_split: vec!["[X]".into(), "[Y]".into()],
            ..TokenizerOptions::default()
        });
        let out = t.tokenize_with_offsets("[X] [Y] hello");
        assert_eq!(t.texts_of(&out), ["[X]", "[Y]", "hello"]);
        assert_eq!(out.ids, [19, 1, 5]);
    }

    #[test]
    fn decode_glues_pieces_and_cleans_spaces() {
        let t = tokenizer(TokenizerOptions::default());
        let ids = t
            .encode("Hello, world! unaffable it's.", None, None)
            .unwrap()
            .ids;
        assert_eq!(
            t.decode(&ids, false).unwrap(),
            "[CLS] hello, world! unaffable it ' s. [SEP]"
        );
        assert_eq!(
            t.decode(&ids, true).unwrap(),
            "hello, world! unaffable it ' s."
        );
        let mut cleaning = t.clone();
        cleaning.options.clean_up_tokenization_spaces = true;
        assert_eq!(
            cleaning.decode(&ids, true).unwrap(),
            "hello, world! unaffable it's."
        );
        assert!(t.decode(&[999], false).is_err());
    }

    #[test]
    fn ids_and_tokens_convert_both_ways() {
        let t = tokenizer(TokenizerOptions::default());
        assert_eq!(t.convert_tokens_to_ids(&["hello", "nope"]), [5, 1]);
        assert_eq!(
            t.convert_ids_to_tokens(&[5, 10]).unwrap(),
            ["hello", "##aff"]
        );
        assert!(matches!(
            t.convert_ids_to_tokens(&[100]),
            Err(TokenizerError::UnknownId { id: 100, .. })
        ));
    }

    /// Random text from a mix of ASCII, Latin accents, CJK, Hangul, emoji, controls, combining
    /// marks, whitespace, private use and unassigned code points: whatever comes in, no panic,
    /// and offsets stay inside the text, in order, with ids in the vocabulary.
    #[test]
    fn random_text_keeps_the_invariants() {
        let pools: [&[char]; 4] = [
            &[
                'a', 'h', 'e', 'l', 'o', ' ', ',', '!', '[', ']', 'S', 'E', 'P', '#',
            ],
            &[
                'é', 'İ', 'ß', '東', '한', '😀', '\u{301}', '\u{0}', '\u{b}', '\u{3000}',
            ],
            &[
                '\u{fffd}', '\u{200b}', '\u{e000}', '\u{378}', '\t', '\n', 'ﬁ', 'Σ', '।', '\u{1c}',
            ],
            &['[', 'C', 'L', 'S', ']', 'M', 'A', 'K', 'U', 'N'],
        ];
        let mut state: u64 = 0x2545_f491_4f6c_dd1d;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        for options in [
            TokenizerOptions::default(),
            TokenizerOptions {
                do_lower_case: false,
                tokenize_chinese_chars: false,
                ..TokenizerOptions::default()
            },
            TokenizerOptions {
                do_basic_tokenize: false,
                ..TokenizerOptions::default()
            },
        ] {
            let t = tokenizer(options);
            for _ in 0..2000 {
                let len = (next() % 40) as usize;
                let text: String = (0..len)
                    .map(|_| {
                        let pool = pools[(next() % 4) as usize];
                        pool[(next() % pool.len() as u64) as usize]
                    })
                    .collect();
                let chars = text.chars().count();
                let out = t.tokenize_with_offsets(&text);
                assert_eq!(out.ids.len(), out.offsets.len());
                let mut last_start = 0;
                for (&id, &(start, end)) in out.ids.iter().zip(&out.offsets) {
                    assert!((id as usize) < t.vocab_size(), "{text:?}");
                    assert!(start < end && end <= chars, "{text:?}: {start}..{end}");
                    assert!(start >= last_start, "{text:?}");
                    last_start = start;
                }
                let e = t.encode(
                    &text,
                    Some(&text),
                    Some(Truncation {
                        max_length: 16,
                        strategy: TruncationStrategy::LongestFirst,
                    }),
                );
                assert!(e.unwrap().len() <= 16);
                t.decode(&out.ids, true).unwrap();
            }
        }
    }

    #[test]
    fn missing_special_token_is_an_error() {
        let e = BertTokenizer::new(
            vec!["[PAD]".into(), "[CLS]".into()],
            TokenizerOptions::default(),
            SpecialTokens::default(),
        )
        .unwrap_err();
        assert!(e.to_string().contains("unk_token"), "{e}");
    }
}
