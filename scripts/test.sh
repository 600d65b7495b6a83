#!/usr/bin/env bash
# The project's test command (README): unit, parity and CLI tests, then the held-out tokenizer
# parity check against transformers. Needs scripts/fetch-assets.sh to have run.
set -euo pipefail
cd "$(dirname "$0")/.."
CACHE="${BERT_RS_CACHE:-$HOME/.cache/bert-rs}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/bert-target}"

cargo test --workspace --locked
"$CACHE/venv-reference/bin/python" scripts/tokenizer_parity.py \
  --bert-train "$CARGO_TARGET_DIR/debug/bert-train" \
  --model "$CACHE/all-MiniLM-L6-v2" \
  --max-lines "${HELDOUT_LINES:-100000}"
