#!/usr/bin/env bash
# Corpora larger than memory (experiments/corpus/RESULTS.md): a 100 MB and a 1 GB text corpus
# (experiments/corpus/make_corpus.py: real text this machine ships, repeated to size) are
# prepared into Arrow shards with `bert-train prepare` (2 threads), then all-MiniLM-L6-v2 trains
# masked LM on each for STEPS steps (batch 32, 128 tokens) from the shards. Prints, per corpus:
# the preparation's MB/s (text bytes over wall seconds, hashing included) and peak RSS, and the
# training run's peak RSS; also the 100 MB corpus trained with `in_memory = true`, the path
# that holds the blocks in memory.
#
#   bash experiments/corpus/run.sh            # SIZES="100 1000" STEPS=20 [BIN=a built bert-train]
set -euo pipefail
cd "$(dirname "$0")/../.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/bert-target}"
MINILM="${BERT_MINILM_DIR:-$HOME/.cache/bert-rs/all-MiniLM-L6-v2}"
SIZES="${SIZES:-100 1000}"
STEPS="${STEPS:-20}"
CORPORA="${CORPORA:-$HOME/.cache/bert-rs/bench-corpora}"
if [ -z "${BIN:-}" ]; then
  cargo build --release --locked -p bert-train --bin bert-train >&2
  BIN="$CARGO_TARGET_DIR/release/bert-train"
fi
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
export HF_HUB_OFFLINE=1 RAYON_NUM_THREADS=2
mkdir -p "$CORPORA"

echo "# $(date -u +%F) | $(lscpu | sed -n 's/^Model name: *//p') (family $(lscpu | sed -n 's/^CPU family: *//p'), model $(lscpu | sed -n 's/^Model: *//p')), $(nproc) cores, $(free -g | awk '/^Mem:/ {print $2}') GB"
echo "| corpus | step | wall (s) | MB/s of text | peak RSS (MB) | blocks |"
echo "|---|---|---:|---:|---:|---:|"

peak_mb() { sed -n 's/.*Maximum resident set size (kbytes): //p' "$1" | awk '{printf "%.0f", $1/1024}'; }
wall_s() { sed -n 's/.*Elapsed (wall clock) time (h:mm:ss or m:ss): //p' "$1" | awk -F: '{s=0; for (i=1;i<=NF;i++) s=s*60+$i; printf "%.1f", s}'; }

config() { # CORPUS IN_MEMORY
  cat > "$WORK/run.toml" <<TOML
task = "masked-lm"
model = "$MINILM"
output_dir = "$WORK/run"
[data]
train = "$1"
format = "text"
max_seq_length = 128
cache_dir = "$WORK/cache"
in_memory = $2
[training]
max_steps = $STEPS
batch_size = 32
learning_rate = 5e-5
warmup_steps = 0
log_every_steps = 5
checkpoint_every_steps = 100000
progress = "plain"
TOML
}

for size in $SIZES; do
  corpus="$CORPORA/text-$size.txt"
  [ -f "$corpus" ] || python3 experiments/corpus/make_corpus.py "$corpus" "$size"
  bytes=$(stat -c %s "$corpus")
  rm -rf "$WORK/cache" "$WORK/run"
  config "$corpus" false
  /usr/bin/time -v "$BIN" prepare --config "$WORK/run.toml" > "$WORK/prepare.out" 2> "$WORK/prepare.time"
  blocks=$(sed -n 's/^train: .*: \([0-9]*\) features.*/\1/p' "$WORK/prepare.out")
  wall=$(wall_s "$WORK/prepare.time")
  rate=$(awk -v b="$bytes" -v s="$wall" 'BEGIN {printf "%.1f", b/1e6/s}')
  echo "| $size MB | prepare | $wall | $rate | $(peak_mb "$WORK/prepare.time") | $blocks |"
  /usr/bin/time -v "$BIN" fine-tune --config "$WORK/run.toml" > "$WORK/train.out" 2> "$WORK/train.time"
  echo "| $size MB | train $STEPS steps (shards) | $(wall_s "$WORK/train.time") | | $(peak_mb "$WORK/train.time") | $blocks |"
  if [ "$size" = "$(echo $SIZES | awk '{print $1}')" ]; then
    rm -rf "$WORK/run"
    config "$corpus" true
    /usr/bin/time -v "$BIN" fine-tune --config "$WORK/run.toml" > "$WORK/train.out" 2> "$WORK/train.time"
    echo "| $size MB | train $STEPS steps (in memory) | $(wall_s "$WORK/train.time") | | $(peak_mb "$WORK/train.time") | $blocks |"
  fi
done
