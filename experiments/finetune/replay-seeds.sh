#!/usr/bin/env bash
# Masked LM from a shared start on the same batches, each side with its own dropout: for each
# seed S, `bert-train fine-tune` and `replay.py train` (torch, fed bert-train's epoch order and
# masks) both start from runs/mlm-start-sS/model (made by `replay.py prepare --seed S
# --dropout 0.1`, done here when missing) and train 2 epochs of configs/lee-mlm.toml; both
# evaluate on bert-train's fixed evaluation masks. What still differs between the sides is the
# dropout masks (and float noise). Results: experiments/finetune/results/mlm-replay-dropout/.
#   BERT_TRAIN_BIN=path SEEDS="1 2 3" experiments/finetune/mlm-replay-seeds.sh
# DROPOUT="d1 d2 ..." keeps the data (order and masks) of seed S and draws only dropout anew:
# bert-train with `training.seed=d training.data_seed=S`, torch with `--torch-seed d`; files
# sS-dD-*. Without it, bert-train's dropout comes from S and torch's from seed 0 (files sS-*).
set -euo pipefail
cd "$(dirname "$0")/../.."
CACHE="${BERT_RS_CACHE:-$HOME/.cache/bert-rs}"
bash scripts/fetch-assets.sh >/dev/null
bash scripts/fetch-data.sh >/dev/null
mkdir -p models
ln -sfn "$CACHE/all-MiniLM-L6-v2" models/all-MiniLM-L6-v2
VENV="$(bash scripts/torch-venv.sh accelerate==1.15.0 scikit-learn scipy seqeval)"
BIN="${BERT_TRAIN_BIN:?the bert-train binary to run}"
OUT=experiments/finetune/results/mlm-replay-dropout
mkdir -p "$OUT"
for S in ${SEEDS:-1 2 3}; do
  start="runs/mlm-start-s$S"
  [ -d "$start/model" ] || "$VENV/bin/python" experiments/finetune/replay.py prepare \
    --config configs/lee-mlm.toml --out "$start" --seed "$S" --dropout 0.1
  for D in ${DROPOUT:-own}; do
    if [ "$D" = own ]; then
      name="s$S" ours=(--set "training.seed=$S") torch_seed=0
    else
      name="s$S-d$D" ours=(--set "training.seed=$D" --set "training.data_seed=$S") torch_seed=$D
    fi
    sets=(--set training.epochs=2 --set training.checkpoint_every_steps=1000000)
    "$BIN" fine-tune --config configs/lee-mlm.toml "${sets[@]}" "${ours[@]}" \
      --set "model=$start/model" --set "output_dir=runs/replay-$name-bert" \
      --set training.log_every_steps=1 > "$OUT/$name-bert.log" 2>&1
    cp "runs/replay-$name-bert/eval_results.json" "$OUT/$name-bert-eval.json"
    "$VENV/bin/python" experiments/finetune/replay.py train --config configs/lee-mlm.toml \
      "${sets[@]}" --set "training.seed=$S" --torch-seed "$torch_seed" --model "$start/model" \
      --out "$OUT/$name-torch.csv" > "$OUT/$name-torch.log" 2>&1
    python3 - "$OUT" "$name" <<'PY'
import csv, json, math, sys
out, name = sys.argv[1:]
ours = json.load(open(f"{out}/{name}-bert-eval.json"))["perplexity"]
torch = math.exp(float([r for r in csv.reader(open(f"{out}/{name}-torch.csv"))][-1][1]))
print(f"{name}: bert-train {ours:.1f}, torch {torch:.1f}, {100 * (ours / torch - 1):+.2f}%")
PY
  done
done
