//! Properties of the tokenizer and the readers on generated input (proptest): no panic on any
//! text or file, offsets inside the text, pieces that spell their text, encodings that fit
//! their limits, and rows found at the line where they are, in every line-ending convention
//! and with or without a byte-order mark.
//!
//! Needs the uncased vocabulary of all-MiniLM-L6-v2 (`scripts/fetch-assets.sh`). The fuzz
//! targets in `fuzz/` search the same invariants far longer.

use std::path::PathBuf;
use std::sync::OnceLock;

use bert_data::readers::{
    read_tagged_sentences, read_text_examples, ConllColumns, Format, OnBadRow, TextColumns,
};
use bert_data::{
    BertTokenizer, PieceIds, TokenizerOptions, Truncation, TruncationStrategy, WindowOptions,
};
use proptest::prelude::*;

fn tokenizer() -> &'static BertTokenizer {
    static TOKENIZER: OnceLock<BertTokenizer> = OnceLock::new();
    TOKENIZER.get_or_init(|| {
        let dir = std::env::var("BERT_MINILM_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|_| {
                PathBuf::from(std::env::var("HOME").unwrap())
                    .join(".cache/bert-rs/all-MiniLM-L6-v2")
            });
        BertTokenizer::from_vocab_file(dir.join("vocab.txt"), TokenizerOptions::default())
            .expect("all-MiniLM-L6-v2's vocab.txt (run scripts/fetch-assets.sh)")
    })
}

/// Text of every kind: any Unicode, and runs of words, punctuation, accents, CJK, controls and
/// the special tokens' spellings.
fn any_text() -> impl Strategy<Value = String> {
    let pieces = prop::collection::vec(
        prop_oneof![
            "[a-zA-Z]{1,12}",
            "[ \t\n\r]{1,3}",
            "[.,!?'\"()\\-]{1,3}",
            "[éèàüñçØß]{1,4}",
            "[\u{4e00}-\u{4e2f}]{1,3}",
            "[\u{0}-\u{1f}\u{7f}\u{ad}\u{200b}\u{feff}\u{fffd}]",
            Just("[CLS]".to_string()),
            Just("[MASK]".to_string()),
            Just("[UNK]".to_string()),
            "\\PC{1,6}",
            any::<String>(),
        ],
        0..24,
    );
    pieces.prop_map(|p| p.concat())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    /// Every piece lies inside the text, in order, with a known id and its word.
    #[test]
    fn pieces_lie_inside_the_text_in_order(text in any_text()) {
        let t = tokenizer();
        let tokens = t.tokenize_with_offsets(&text);
        let chars = text.chars().count();
        prop_assert_eq!(tokens.ids.len(), tokens.offsets.len());
        prop_assert_eq!(tokens.ids.len(), tokens.word_ids.len());
        for (i, &(start, end)) in tokens.offsets.iter().enumerate() {
            prop_assert!(start <= end && end <= chars, "piece {i}: ({start}, {end}) in {chars}");
            prop_assert!((tokens.ids[i] as usize) < t.vocab_size());
            if i > 0 {
                prop_assert!(start >= tokens.offsets[i - 1].0);
                prop_assert!(tokens.word_ids[i] >= tokens.word_ids[i - 1]);
            }
        }
        let decoded = t.decode(&tokens.ids, false);
        prop_assert!(decoded.is_ok());
    }

    /// The ids-only path gives the ids and word starts of the full tokenization.
    #[test]
    fn ids_alone_are_those_of_the_full_tokenization(text in any_text()) {
        let t = tokenizer();
        let full = t.tokenize_with_offsets(&text);
        let starts: Vec<u8> = (0..full.ids.len())
            .map(|k| u8::from(k == 0 || full.word_ids[k] != full.word_ids[k - 1]))
            .collect();
        let mut out = PieceIds::default();
        t.tokenize_ids(&text, &mut out);
        prop_assert_eq!(out.ids, full.ids);
        prop_assert_eq!(out.word_start, starts);
    }

    /// On lowercase words, each piece spells the text at its offsets, and decoding then
    /// encoding gives the same ids.
    #[test]
    fn pieces_spell_their_text_and_decode_encodes_back(
        words in prop::collection::vec("[a-z]{1,20}", 1..12),
        gaps in prop::collection::vec("[ \t\n]{1,2}", 12),
    ) {
        let t = tokenizer();
        let text: String = words
            .iter()
            .zip(&gaps)
            .map(|(w, g)| format!("{w}{g}"))
            .collect();
        let tokens = t.tokenize_with_offsets(&text);
        let chars: Vec<char> = text.chars().collect();
        for (i, &(start, end)) in tokens.offsets.iter().enumerate() {
            let piece = t.id_to_token(tokens.ids[i]).unwrap();
            if piece == "[UNK]" {
                continue;
            }
            let spelled: String = chars[start..end].iter().collect();
            prop_assert_eq!(piece.trim_start_matches("##"), spelled.as_str());
        }
        let decoded = t.decode(&tokens.ids, false).unwrap();
        prop_assert_eq!(t.tokenize_with_offsets(&decoded).ids, tokens.ids);
    }

    /// Encodings of pairs and windows keep to their limits, with `[CLS]` first and `[SEP]`
    /// closing each text.
    #[test]
    fn encodings_keep_to_their_limits(
        first in any_text(),
        second in any_text(),
        max_length in 4usize..64,
        stride in 0usize..16,
    ) {
        let t = tokenizer();
        let special = t.special_ids();
        let truncation = Truncation { max_length, strategy: TruncationStrategy::LongestFirst };
        let e = t.encode(&first, Some(&second), Some(truncation)).unwrap();
        prop_assert!(e.ids.len() <= max_length);
        prop_assert_eq!(e.ids[0], special.cls);
        prop_assert_eq!(*e.ids.last().unwrap(), special.sep);
        prop_assert_eq!(e.ids.len(), e.offsets.len());
        let options = WindowOptions {
            max_length: max_length + 8,
            stride,
            max_first_length: Some(4),
        };
        if let Ok(windows) = t.encode_windows(&first, &second, options) {
            for w in windows {
                prop_assert!(w.ids.len() <= max_length + 8);
            }
        }
    }

    /// Any bytes in a data file give rows or an error naming the file, never a panic; a row's
    /// line is a line of the file.
    #[test]
    fn readers_never_panic_on_any_bytes(bytes in prop::collection::vec(any::<u8>(), 0..400)) {
        let dir = tempfile::tempdir().unwrap();
        let lines = bytes.iter().filter(|b| **b == b'\n').count() + 1;
        let columns = TextColumns {
            text: "text".into(),
            text_pair: None,
            label: Some("label".into()),
            regression: false,
        };
        for (name, format) in [("a.csv", Format::Csv), ("a.tsv", Format::Tsv), ("a.jsonl", Format::Jsonl)] {
            let path = dir.path().join(name);
            std::fs::write(&path, &bytes).unwrap();
            for on_bad in [OnBadRow::Error, OnBadRow::Skip] {
                if let Ok(read) = read_text_examples(&path, format, &columns, on_bad) {
                    prop_assert!(read.rows.iter().all(|r| r.line >= 1 && r.line <= lines));
                    prop_assert!(read.skipped.iter().all(|r| r.line <= lines));
                }
            }
        }
        let path = dir.path().join("a.conll");
        std::fs::write(&path, &bytes).unwrap();
        for on_bad in [OnBadRow::Error, OnBadRow::Skip] {
            if let Ok(read) = read_tagged_sentences(&path, Format::Conll, ConllColumns::default(), on_bad) {
                prop_assert!(read.rows.iter().all(|r| r.line >= 1 && r.line <= lines));
            }
        }
    }

    /// Rows written as CSV with `\n` or `\r\n` endings, with or without a byte-order mark, read
    /// back as written, each at its own line; one with an extra field is reported at its line.
    #[test]
    fn csv_rows_are_found_at_their_lines(
        texts in prop::collection::vec("[a-z][a-z ]{0,9}", 1..20),
        crlf in any::<bool>(),
        bom in any::<bool>(),
        bad in any::<prop::sample::Index>(),
    ) {
        let end = if crlf { "\r\n" } else { "\n" };
        let mut file = String::from(if bom { "\u{feff}" } else { "" });
        file.push_str(&format!("text,label{end}"));
        for (i, text) in texts.iter().enumerate() {
            file.push_str(&format!("\"{text}\",{}{end}", i % 2));
        }
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("rows.csv");
        std::fs::write(&path, &file).unwrap();
        let columns = TextColumns {
            text: "text".into(),
            text_pair: None,
            label: Some("label".into()),
            regression: false,
        };
        let read = read_text_examples(&path, Format::Csv, &columns, OnBadRow::Error).unwrap();
        let found: Vec<(usize, &str)> = read.rows.iter().map(|r| (r.line, r.text.as_str())).collect();
        let expected: Vec<(usize, &str)> = texts.iter().enumerate().map(|(i, t)| (i + 2, t.as_str())).collect();
        prop_assert_eq!(found, expected);

        let at = bad.index(texts.len());
        let mut lines: Vec<&str> = file.split(end).collect();
        let broken = format!("{},extra", lines[at + 1]);
        lines[at + 1] = &broken;
        std::fs::write(&path, lines.join(end)).unwrap();
        let err = read_text_examples(&path, Format::Csv, &columns, OnBadRow::Error).unwrap_err();
        let wanted = format!("rows.csv:{}: the row has 3 fields", at + 2);
        prop_assert!(err.to_string().contains(&wanted), "{err}");
    }
}
