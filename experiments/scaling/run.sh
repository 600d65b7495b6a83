#!/usr/bin/env bash
# Scaling on one machine (experiments/scaling/RESULTS.md): the same fine-tuning run as one
# process with 2 threads and as 2 MPI ranks with 1 thread each, for all-MiniLM-L6-v2 and a
# BERT-base (random weights, MiniLM's vocabulary; speed does not depend on the values), then the
# all-reduce of BERT-base's 440 MB of gradients between 2 local ranks.
#
#   bash experiments/scaling/run.sh            # STEPS_MINILM=40 STEPS_BASE=10 SEQ=128
#
# Sequence classification on data/sentiment at global batch 16 (one process: batch 16; two
# ranks: 8 each), dropout as configured, no evaluation. Prints one line per run: sequences/s,
# seconds per step, and the shares of the step spent summing gradients across ranks and waiting
# for the slower rank before that.
set -euo pipefail
cd "$(dirname "$0")/../.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/bert-target}"
MINILM="${BERT_MINILM_DIR:-$HOME/.cache/bert-rs/all-MiniLM-L6-v2}"
SEQ="${SEQ:-128}"
cargo build --release --locked -p bert-train --features mpi --bin bert-train --example allreduce >&2
BIN="$CARGO_TARGET_DIR/release/bert-train"
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
export OMPI_MCA_btl_vader_single_copy_mechanism=none HF_HUB_OFFLINE=1
MPIRUN=(mpirun --allow-run-as-root --oversubscribe --bind-to core -np 2 -x RAYON_NUM_THREADS=1)

echo "# $(date -u +%F) | $(lscpu | sed -n 's/^Model name: *//p') (family $(lscpu | sed -n 's/^CPU family: *//p'), model $(lscpu | sed -n 's/^Model: *//p')), $(nproc) cores | $(mpirun --version | head -1)"

model_table() {
  case "$1" in
    minilm) printf 'model = "%s"\n' "$MINILM" ;;
    bert-base) printf '[model]\ntokenizer = "%s/vocab.txt"\n[model.config]\nvocab_size = 30522\nhidden_size = 768\nnum_hidden_layers = 12\nnum_attention_heads = 12\nintermediate_size = 3072\n' "$MINILM" ;;
  esac
}

config() { # NAME MODEL BATCH STEPS
  local top="" table
  table=$(model_table "$2")
  [ "$2" = minilm ] && { top="$table"; table=""; }
  cat > "$WORK/$1.toml" <<TOML
task = "sequence-classification"
output_dir = "$WORK/$1"
$top
$table
[data]
train = "data/sentiment/train.csv"
text_column = "sentence"
max_seq_length = $SEQ
[training]
max_steps = $4
batch_size = $3
learning_rate = 2e-5
log_every_steps = 1000
checkpoint_every_steps = 100000
progress = "plain"
TOML
}

report() { # LABEL OUTPUT_DIR
  python3 - "$1" "$2/train_results.json" <<'PY'
import json, sys
label, path = sys.argv[1], sys.argv[2]
r = json.load(open(path))
step = r["train_seconds"] / r["step"]
share = r.get("exchange_seconds", 0.0) / r["train_seconds"]
wait = r.get("wait_seconds", 0.0) / r["train_seconds"]
print(f"{label:32s} {r['train_rows_per_second']:7.2f} seq/s {step:7.3f} s/step | exchange {100 * share:4.1f}%, waiting {100 * wait:4.1f}% of the step")
PY
}

for model in minilm bert-base; do
  steps=$([ "$model" = minilm ] && echo "${STEPS_MINILM:-40}" || echo "${STEPS_BASE:-10}")
  config "$model-one" "$model" 16 "$steps"
  config "$model-two" "$model" 8 "$steps"
  RAYON_NUM_THREADS=2 "$BIN" fine-tune --config "$WORK/$model-one.toml" > "$WORK/$model-one.log"
  report "$model 1 process x 2 threads" "$WORK/$model-one"
  "${MPIRUN[@]}" "$BIN" fine-tune --config "$WORK/$model-two.toml" > "$WORK/$model-two.log"
  report "$model 2 ranks x 1 thread" "$WORK/$model-two"
done
"${MPIRUN[@]}" "$CARGO_TARGET_DIR/release/examples/allreduce" 110000000 10
