#!/usr/bin/env bash
# Does a run's result depend on its head draw together with the order and dropout of the same
# seed? For each seed S, bert-train starts from its own draw for seed S + OFFSET (written into a
# copy of the model by our_head_start.py) and trains with seed S (so S's epoch order and
# dropout). If our low runs need the head of S with the order of S, they vanish here; if our
# draws are unlucky as such, they stay as often.
#   BERT_TRAIN_BIN=path CONFIG=configs/ner-qa.toml OFFSET=1000 SEEDS="1 2 3" \
#     bash experiments/finetune/head-offset.sh
# Results: experiments/finetune/results/<task>-head-offset<OFFSET>/sS-eval.json.
set -euo pipefail
cd "$(dirname "$0")/../.."
source experiments/finetune/setup.sh
CONFIG="${CONFIG:-configs/ner-qa.toml}"
OFFSET="${OFFSET:-1000}"
task=$(basename "$CONFIG" .toml)
OUT="experiments/finetune/results/$task-head-offset$OFFSET"
mkdir -p "$OUT"
for S in ${SEEDS:-1 2 3}; do
  start="runs/$task-head-s$((S + OFFSET))"
  [ -d "$start" ] || "$VENV/bin/python" experiments/finetune/our_head_start.py \
    models/all-MiniLM-L6-v2 "$start" "$((S + OFFSET))" > /dev/null
  run="runs/$task-head-offset$OFFSET-s$S"
  "$BIN" fine-tune --config "$CONFIG" --set training.epochs=2 \
    --set training.checkpoint_every_steps=1000000 --set "training.seed=$S" \
    --set "model=$start" --set "output_dir=$run" > "$OUT/s$S.log" 2>&1
  cp "$run/eval_results.json" "$OUT/s$S-eval.json"
  python3 -c "import json,sys; m=json.load(open(sys.argv[1])); print(sys.argv[2], ' '.join(f'{k} {m[k]:.4f}' for k in ('exact_match','f1','accuracy') if k in m))" \
    "$OUT/s$S-eval.json" "s$S"
done
