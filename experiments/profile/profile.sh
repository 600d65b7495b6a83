#!/usr/bin/env bash
# Where the time of a training step goes: `perf record` on `bert-train bench` (release build,
# default features: burn-flex on the CPU), one profile per shape, summed by kind of work
# (buckets.py). Writes experiments/profile/results/<name>.txt (perf's flat profile) and prints
# the bucket table for each.
#   PROFILE_SHAPES="minilm:32:64 base:8:128" (config:batch:seq; "" for none)   PROFILE_ITERS=8
#   PROFILE_FINETUNE="sentiment ner": also `fine-tune` itself on configs/<name>.toml, the loop as
#   users run it (PROFILE_STEPS=40 optimizer steps, 64 validation rows, no checkpoints), written
#   as results/finetune-<name>.txt
#   BERT_TRAIN_BIN=path (default: $CARGO_TARGET_DIR/release/bert-train, built here)
set -euo pipefail
cd "$(dirname "$0")/../.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/bert-target}"
SHAPES="${PROFILE_SHAPES-minilm:32:64 base:8:128}"
ITERS="${PROFILE_ITERS:-8}"
BIN="${BERT_TRAIN_BIN:-}"
if [ -z "$BIN" ]; then
  cargo build -q --release --locked -p bert-train
  BIN="$CARGO_TARGET_DIR/release/bert-train"
fi
command -v perf >/dev/null || { echo "profile.sh: perf is missing (apt-get install linux-perf)" >&2; exit 1; }
out=experiments/profile/results
mkdir -p "$out"
tmp="$(mktemp -d)"
for shape in $SHAPES; do
  IFS=: read -r config batch seq <<< "$shape"
  for part in forward train; do
    name="$config-$batch-$seq-$part"
    args=(bench --config "$config" --batch "$batch" --seq "$seq" --warmup 1 --iters "$ITERS")
    # Inference forward alone, or the training step alone (forward, backward, clipping, AdamW).
    if [ "$part" = forward ]; then args+=(--forward-only); else args+=(--train-only); fi
    perf record -q -F 499 -o "$tmp/$name.data" -- "$BIN" "${args[@]}" > "$tmp/$name.json"
    perf report -q -i "$tmp/$name.data" --stdio --no-children --sort dso,sym \
      --percent-limit 0.05 2>/dev/null > "$out/$name.txt"
    echo "== $name"
    python3 experiments/profile/buckets.py "$out/$name.txt"
  done
done
for config in ${PROFILE_FINETUNE:-}; do
  name="finetune-$config"
  perf record -q -F 499 -o "$tmp/$name.data" -- "$BIN" fine-tune --config "configs/$config.toml" \
    --set "training.max_steps=${PROFILE_STEPS:-40}" --set training.checkpoint_every_steps=1000000 \
    --set data.max_eval_rows=64 --set "output_dir=$tmp/$name" > /dev/null
  perf report -q -i "$tmp/$name.data" --stdio --no-children --sort dso,sym \
    --percent-limit 0.05 2>/dev/null > "$out/$name.txt"
  echo "== $name"
  python3 experiments/profile/buckets.py "$out/$name.txt"
done
