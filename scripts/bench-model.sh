#!/usr/bin/env bash
# Model benchmark: `bert-train bench` (each CPU device compiled in) beside transformers on the same
# machine, BertModel forward and one BertForSequenceClassification training step (AdamW, clipping
# at 1.0), batch 8 x 128. Appends a table to experiments/model-bench/RESULTS.md.
#   BENCH_CONFIG=base|minilm   (default base)     BENCH_DEVICES=cpu,ndarray,tch (default)
#   BENCH_FEATURES=ndarray,flex,tch (cargo features)  BENCH_ITERS=5  BENCH_WARMUP=2  BENCH_THREADS=2
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/bert-target}"
CONFIG="${BENCH_CONFIG:-base}"
DEVICES="${BENCH_DEVICES:-cpu,ndarray,tch}"
FEATURES="${BENCH_FEATURES:-ndarray,flex,tch}"
ITERS="${BENCH_ITERS:-5}"
WARMUP="${BENCH_WARMUP:-2}"
THREADS="${BENCH_THREADS:-2}"
VENV="$(bash scripts/torch-venv.sh)"
tmp="$(mktemp -d)"
# libtorch (feature tch) is the one of the torch venv, at build and at run time.
export VIRTUAL_ENV="$VENV" PATH="$VENV/bin:$PATH" LIBTORCH_USE_PYTORCH=1
export LD_LIBRARY_PATH="$(ls -d "$VENV"/lib/python3*/site-packages/torch/lib | head -1)${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
cargo build -q --release -p bert-train --no-default-features --features "$FEATURES"
"$VENV/bin/python" scripts/bench_torch.py --config "$CONFIG" --threads "$THREADS" \
  --warmup "$WARMUP" --iters "$ITERS" --out "$tmp/torch.json" > /dev/null
"$CARGO_TARGET_DIR/release/bert-train" bench --config "$CONFIG" --devices "$DEVICES" \
  --warmup "$WARMUP" --iters "$ITERS" --out "$tmp/rust.json" > /dev/null
out=experiments/model-bench/RESULTS.md
mkdir -p "$(dirname "$out")"
python3 scripts/bench_table.py "$tmp/torch.json" "$tmp/rust.json" \
  --command "BENCH_CONFIG=$CONFIG BENCH_DEVICES=$DEVICES BENCH_FEATURES=$FEATURES bash scripts/bench-model.sh" \
  >> "$out"
tail -n 20 "$out"
