//! The tokenizer on any text: no panic; pieces inside the text, in order, with known ids;
//! decoding works; on lowercase words, each piece spells the text at its offsets and decoding
//! then encoding gives the same ids; encodings keep to their limits.
#![no_main]

use std::sync::OnceLock;

use bert_data::{BertTokenizer, TokenizerOptions, Truncation, TruncationStrategy, WindowOptions};
use libfuzzer_sys::fuzz_target;

fn tokenizer() -> &'static BertTokenizer {
    static TOKENIZER: OnceLock<BertTokenizer> = OnceLock::new();
    TOKENIZER.get_or_init(|| {
        let dir = std::env::var("BERT_MINILM_DIR").unwrap_or_else(|_| {
            format!("{}/.cache/bert-rs/all-MiniLM-L6-v2", std::env::var("HOME").unwrap())
        });
        BertTokenizer::from_vocab_file(format!("{dir}/vocab.txt"), TokenizerOptions::default())
            .expect("all-MiniLM-L6-v2's vocab.txt (scripts/fetch-assets.sh)")
    })
}

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let t = tokenizer();
    let tokens = t.tokenize_with_offsets(&text);
    let chars: Vec<char> = text.chars().collect();
    assert_eq!(tokens.ids.len(), tokens.offsets.len());
    assert_eq!(tokens.ids.len(), tokens.word_ids.len());
    for (i, &(start, end)) in tokens.offsets.iter().enumerate() {
        assert!(start <= end && end <= chars.len(), "piece {i}: ({start}, {end})");
        assert!((tokens.ids[i] as usize) < t.vocab_size());
        if i > 0 {
            assert!(start >= tokens.offsets[i - 1].0);
            assert!(tokens.word_ids[i] >= tokens.word_ids[i - 1]);
        }
    }
    let decoded = t.decode(&tokens.ids, false).expect("known ids decode");
    let plain = text.chars().all(|c| c.is_ascii_lowercase() || c == ' ' || c == '\n');
    if plain {
        for (i, &(start, end)) in tokens.offsets.iter().enumerate() {
            let piece = t.id_to_token(tokens.ids[i]).unwrap();
            if piece != "[UNK]" {
                let spelled: String = chars[start..end].iter().collect();
                assert_eq!(piece.trim_start_matches("##"), spelled);
            }
        }
        assert_eq!(t.tokenize_with_offsets(&decoded).ids, tokens.ids);
    }
    // The text cut in two as a pair, truncated and cut into windows.
    let cut = text.char_indices().nth(chars.len() / 2).map_or(0, |(i, _)| i);
    let (first, second) = text.split_at(cut);
    let max_length = 4 + data.first().map_or(0, |b| *b as usize % 60);
    let truncation = Truncation {
        max_length,
        strategy: TruncationStrategy::LongestFirst,
    };
    let e = t.encode(first, Some(second), Some(truncation)).expect("a pair encodes");
    assert!(e.ids.len() <= max_length);
    let options = WindowOptions {
        max_length: max_length + 8,
        stride: data.last().map_or(0, |b| *b as usize % 8),
        max_first_length: Some(4),
    };
    if let Ok(windows) = t.encode_windows(first, second, options) {
        assert!(windows.iter().all(|w| w.ids.len() <= max_length + 8));
    }
});
