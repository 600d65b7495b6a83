#!/usr/bin/env bash
# Fine-tuning from a shared start on the same batches, each side with its own dropout: for each
# seed S, `bert-train fine-tune` and `replay.py train` (torch, fed bert-train's epoch order and,
# for masked LM, its masks) both start from runs/<task>-start-sS/model (made by `replay.py
# prepare --seed S --dropout 0.1`, done here when missing) and train 2 epochs of CONFIG; the
# torch model is saved and scored by `bert-train evaluate` on the same split, so both sides are
# scored by the same code (masked LM: on bert-train's fixed evaluation masks). What still
# differs between the sides is the dropout masks (and float noise).
#   BERT_TRAIN_BIN=path SEEDS="1 2 3" experiments/finetune/replay-seeds.sh
#   CONFIG=configs/ner-qa.toml METRICS="exact_match f1" ...   (default: configs/lee-mlm.toml,
#   perplexity). Results: experiments/finetune/results/<task>-replay-dropout/, where <task> is
#   the config's file name without .toml ("mlm" for lee-mlm, the directory of sessions 15-16).
# DROPOUT="d1 d2 ..." keeps the data (order and masks) of seed S and draws only dropout anew:
# bert-train with `training.seed=d training.data_seed=S`, torch with `--torch-seed d`; files
# sS-dD-*. Without it, bert-train's dropout comes from S and torch's from seed 0 (files sS-*).
# SIDES=bert: bert-train only (from transformers' head draw for S; no torch run).
set -euo pipefail
cd "$(dirname "$0")/../.."
source experiments/finetune/setup.sh
CONFIG="${CONFIG:-configs/lee-mlm.toml}"
METRICS="${METRICS:-perplexity}"
task=$(basename "$CONFIG" .toml)
[ "$task" = lee-mlm ] && task=mlm
OUT="experiments/finetune/results/$task-replay-dropout"
mkdir -p "$OUT"
for S in ${SEEDS:-1 2 3}; do
  start="runs/$task-start-s$S"
  [ -d "$start/model" ] || "$VENV/bin/python" experiments/finetune/replay.py prepare \
    --config "$CONFIG" --out "$start" --seed "$S" --dropout 0.1
  for D in ${DROPOUT:-own}; do
    if [ "$D" = own ]; then
      name="s$S" ours=(--set "training.seed=$S") torch_seed=0
    else
      name="s$S-d$D" ours=(--set "training.seed=$D" --set "training.data_seed=$S") torch_seed=$D
    fi
    sets=(--set training.epochs=2 --set training.checkpoint_every_steps=1000000)
    "$BIN" fine-tune --config "$CONFIG" "${sets[@]}" "${ours[@]}" \
      --set "model=$start/model" --set "output_dir=runs/replay-$task-$name-bert" \
      --set training.log_every_steps=1 > "$OUT/$name-bert.log" 2>&1
    cp "runs/replay-$task-$name-bert/eval_results.json" "$OUT/$name-bert-eval.json"
    [ "${SIDES:-both}" = bert ] && { echo "$name: bert-train only"; continue; }
    "$VENV/bin/python" experiments/finetune/replay.py train --config "$CONFIG" \
      "${sets[@]}" --set "training.seed=$S" --torch-seed "$torch_seed" --model "$start/model" \
      --save "runs/replay-$task-$name-torch" --out "$OUT/$name-torch.csv" \
      > "$OUT/$name-torch.log" 2>&1
    "$BIN" evaluate --config "$CONFIG" "${sets[@]}" --model "runs/replay-$task-$name-torch" \
      --json | tail -1 > "$OUT/$name-torch-eval.json"
    python3 - "$OUT" "$name" $METRICS <<'PY'
import json, sys
out, name, *metrics = sys.argv[1:]
ours = json.load(open(f"{out}/{name}-bert-eval.json"))
torch = json.load(open(f"{out}/{name}-torch-eval.json"))
print(f"{name}: " + ", ".join(f"{m} bert-train {ours[m]:.4f} torch {torch[m]:.4f}"
                              for m in metrics))
PY
  done
done
