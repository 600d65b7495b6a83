#!/usr/bin/env bash
# Corpora larger than memory (experiments/corpus/RESULTS.md): a 100 MB and a 1 GB text corpus
# (experiments/corpus/make_corpus.py: real text this machine ships, repeated to size) are
# prepared into Arrow shards with `bert-train prepare` (2 threads), then all-MiniLM-L6-v2 trains
# masked LM on each for STEPS steps (batch 32, 128 tokens) from the shards. Prints, per corpus:
# the preparation's MB/s (text bytes over wall seconds, hashing included; the median of 3 runs
# below 1 GB) and peak RSS, and the training run's peak RSS; also the 100 MB corpus trained with
# `in_memory = true`, the path that holds the blocks in memory, and the preparation of 80 MB of
# news prose (the Lee corpus of data/lee/train.txt, repeated). With TASK=pretraining the same
# for pre-training instances (masked LM + next sentence, segment pairs of 128 tokens) and a
# model of MiniLM's size trained from scratch (it has no next-sentence head to start from).
#
#   bash experiments/corpus/run.sh     # TASK=masked-lm SIZES="100 1000" STEPS=20 [BIN=bert-train]
set -euo pipefail
cd "$(dirname "$0")/../.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/bert-target}"
MINILM="${BERT_MINILM_DIR:-$HOME/.cache/bert-rs/all-MiniLM-L6-v2}"
SIZES="${SIZES:-100 1000}"
STEPS="${STEPS:-20}"
TASK="${TASK:-masked-lm}"
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
echo "| corpus | step ($TASK) | wall (s) | MB/s of text | peak RSS (MB) | rows |"
echo "|---|---|---:|---:|---:|---:|"

peak_mb() { sed -n 's/.*Maximum resident set size (kbytes): //p' "$1" | awk '{printf "%.0f", $1/1024}'; }
wall_s() { sed -n 's/.*Elapsed (wall clock) time (h:mm:ss or m:ss): //p' "$1" | awk -F: '{s=0; for (i=1;i<=NF;i++) s=s*60+$i; printf "%.1f", s}'; }

model_keys() {
  if [ "$TASK" = pretraining ]; then
    printf '[model]\ntokenizer = "%s"\n[model.config]\nvocab_size = 30522\nhidden_size = 384\n' "$MINILM"
    printf 'num_hidden_layers = 6\nnum_attention_heads = 12\nintermediate_size = 1536\n'
    printf 'max_position_embeddings = 512\n'
  else
    printf 'model = "%s"\n' "$MINILM"
  fi
}

config() { # CORPUS IN_MEMORY
  { echo "task = \"$TASK\""; echo "output_dir = \"$WORK/run\""; model_keys; } > "$WORK/run.toml"
  cat >> "$WORK/run.toml" <<TOML
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

prepare_row() { # NAME CORPUS RUNS
  local bytes walls=() peak blocks
  bytes=$(stat -c %s "$2")
  for _ in $(seq "$3"); do
    rm -rf "$WORK/cache" "$WORK/run"
    /usr/bin/time -v "$BIN" prepare --config "$WORK/run.toml" > "$WORK/prepare.out" 2> "$WORK/prepare.time"
    walls+=("$(wall_s "$WORK/prepare.time")")
    peak=$(peak_mb "$WORK/prepare.time")
  done
  blocks=$(sed -n 's/^train: .*: \([0-9]*\) features.*/\1/p' "$WORK/prepare.out")
  wall=$(printf '%s\n' "${walls[@]}" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
  rate=$(awk -v b="$bytes" -v s="$wall" 'BEGIN {printf "%.1f", b/1e6/s}')
  echo "| $1 | prepare (median of $3: ${walls[*]} s) | $wall | $rate | $peak | $blocks |"
}

prose="$CORPORA/lee-80.txt"
if [ ! -f "$prose" ]; then
  for _ in $(seq 280); do cat data/lee/train.txt; echo; done > "$prose"
fi
config "$prose" false
prepare_row "80 MB news prose" "$prose" 3

first=$(echo $SIZES | awk '{print $1}')
for size in $SIZES; do
  corpus="$CORPORA/text-$size.txt"
  [ -f "$corpus" ] || python3 experiments/corpus/make_corpus.py "$corpus" "$size"
  config "$corpus" false
  runs=3; [ "$size" -ge 1000 ] && runs=1
  prepare_row "$size MB" "$corpus" "$runs"
  blocks=$(sed -n 's/^train: .*: \([0-9]*\) features.*/\1/p' "$WORK/prepare.out")
  /usr/bin/time -v "$BIN" fine-tune --config "$WORK/run.toml" > "$WORK/train.out" 2> "$WORK/train.time"
  echo "| $size MB | train $STEPS steps (shards) | $(wall_s "$WORK/train.time") | | $(peak_mb "$WORK/train.time") | $blocks |"
  if [ "$size" = "$first" ]; then
    rm -rf "$WORK/run"
    config "$corpus" true
    /usr/bin/time -v "$BIN" fine-tune --config "$WORK/run.toml" > "$WORK/train.out" 2> "$WORK/train.time"
    echo "| $size MB | train $STEPS steps (in memory) | $(wall_s "$WORK/train.time") | | $(peak_mb "$WORK/train.time") | $blocks |"
  fi
done
