//! What several test files share.

use std::path::PathBuf;

/// all-MiniLM-L6-v2's directory: `BERT_MINILM_DIR`, else the cache `scripts/fetch-assets.sh`
/// fills.
pub fn minilm() -> PathBuf {
    let dir = std::env::var("BERT_MINILM_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| {
            PathBuf::from(std::env::var("HOME").unwrap()).join(".cache/bert-rs/all-MiniLM-L6-v2")
        });
    assert!(
        dir.join("config.json").is_file(),
        "all-MiniLM-L6-v2 not found at {} (run scripts/fetch-assets.sh)",
        dir.display()
    );
    dir
}
