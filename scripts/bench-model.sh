#!/usr/bin/env bash
# Model benchmark: `bert-train bench` (each CPU device compiled in) beside transformers on the same
# machine, BertModel forward and one BertForSequenceClassification training step (AdamW, clipping
# at 1.0), batch 8 x 128. Appends a table to experiments/model-bench/RESULTS.md.
#   BENCH_CONFIG=base|minilm   (default base)     BENCH_DEVICES=cpu,ndarray,tch (default)
#   BENCH_FEATURES=ndarray,flex,tch,x86-v4 (cargo features)  BENCH_ITERS=5  BENCH_WARMUP=2
#   BENCH_THREADS=2  BENCH_BATCH=8  BENCH_SEQ=128  BENCH_MATMUL=1 (also the dense layers' matmuls)
#   BENCH_BINS="before=PATH after=PATH": compare these bert-train binaries (no build; one row set
#   each, e.g. a lever's before and after) instead of building one.
#   ATEN_CPU_CAPABILITY=avx2 ONEDNN_MAX_CPU_ISA=AVX2 MKL_ENABLE_INSTRUCTIONS=AVX2 keep PyTorch off
#   AVX-512 (with a binary built without x86-v4: both sides as on an AVX2-only CPU).
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/bert-target}"
CONFIG="${BENCH_CONFIG:-base}"
DEVICES="${BENCH_DEVICES:-cpu,ndarray,tch}"
FEATURES="${BENCH_FEATURES:-ndarray,flex,tch,x86-v4}"
BATCH="${BENCH_BATCH:-8}"
SEQ="${BENCH_SEQ:-128}"
BINS="${BENCH_BINS:-}"
ITERS="${BENCH_ITERS:-5}"
WARMUP="${BENCH_WARMUP:-2}"
THREADS="${BENCH_THREADS:-2}"
VENV="$(bash scripts/torch-venv.sh)"
tmp="$(mktemp -d)"
# libtorch (feature tch) is the one of the torch venv, at build and at run time.
export VIRTUAL_ENV="$VENV" PATH="$VENV/bin:$PATH" LIBTORCH_USE_PYTORCH=1
export LD_LIBRARY_PATH="$(ls -d "$VENV"/lib/python3*/site-packages/torch/lib | head -1)${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
if [ -z "$BINS" ]; then
  cargo build -q --release -p bert-train --no-default-features --features "$FEATURES"
  BINS="$CARGO_TARGET_DIR/release/bert-train"
fi
shape=(--config "$CONFIG" --batch "$BATCH" --seq "$SEQ" --warmup "$WARMUP" --iters "$ITERS")
[ -n "${BENCH_MATMUL:-}" ] && shape+=(--matmul)
"$VENV/bin/python" scripts/bench_torch.py "${shape[@]}" --threads "$THREADS" \
  --out "$tmp/torch.json" > /dev/null
rust=()
for bin in $BINS; do
  label=""; [[ "$bin" == *=* ]] && { label="${bin%%=*}="; bin="${bin#*=}"; }
  n=${#rust[@]}
  "$bin" bench "${shape[@]}" --devices "$DEVICES" --out "$tmp/rust$n.json" > /dev/null
  rust+=("$label$tmp/rust$n.json")
done
# PyTorch's instruction-set caps, if set (an AVX2-only machine imitated on an AVX-512 one):
# they belong in the recorded command.
isa_caps=""
for var in ATEN_CPU_CAPABILITY ONEDNN_MAX_CPU_ISA MKL_ENABLE_INSTRUCTIONS; do
  [ -n "${!var:-}" ] && isa_caps+="$var=${!var} "
done
out=experiments/model-bench/RESULTS.md
mkdir -p "$(dirname "$out")"
python3 scripts/bench_table.py "$tmp/torch.json" "${rust[@]}" \
  --command "${isa_caps}${BENCH_MATMUL:+BENCH_MATMUL=1 }BENCH_CONFIG=$CONFIG BENCH_BATCH=$BATCH BENCH_SEQ=$SEQ BENCH_DEVICES=$DEVICES ${BENCH_BINS:+BENCH_BINS=\"$BENCH_BINS\" }BENCH_FEATURES=$FEATURES bash scripts/bench-model.sh" \
  >> "$out"
tail -n 20 "$out"
