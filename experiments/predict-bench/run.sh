#!/usr/bin/env bash
# `bert-train predict` beside transformers' `pipeline` on all-MiniLM-L6-v2 with a seeded new
# head (hf_predict.py prepare): sequence classification of the 1,057 dev sentences of
# data/sentiment and token classification (entities grouped per word) of the tweet NER's dev
# tweets, batch 32, one after the other, each side's whole job (start, load, predict, write
# JSONL) timed three times; and the largest difference between the two sides' scores.
#
#   experiments/predict-bench/run.sh        (BERT_TRAIN_BIN=... to use an already built binary)
set -euo pipefail
cd "$(dirname "$0")/../.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/bert-target}"
CACHE="${BERT_RS_CACHE:-$HOME/.cache/bert-rs}"
bash scripts/fetch-assets.sh >/dev/null
bash scripts/fetch-data.sh >/dev/null
VENV="$(bash scripts/torch-venv.sh)"
if [ -z "${BERT_TRAIN_BIN:-}" ]; then cargo build -q --release -p bert-train; fi
BIN="${BERT_TRAIN_BIN:-$CARGO_TARGET_DIR/release/bert-train}"
work=$(mktemp -d)
python3 - data/sentiment/dev.csv data/ner/dev.conll "$work" <<'PY'
import csv, json, sys
sentences, conll, work = sys.argv[1:]
with open(f"{work}/text-classification.jsonl", "w") as out:
    for r in csv.DictReader(open(sentences, encoding="utf-8")):
        out.write(json.dumps({"id": r["id"], "text": r["sentence"]}) + "\n")
tweets, words = [], []
for line in open(conll, encoding="utf-8"):
    if line.strip():
        words.append(line.split("\t")[0])
    elif words:
        tweets.append(" ".join(words))
        words = []
if words:
    tweets.append(" ".join(words))
with open(f"{work}/token-classification.jsonl", "w") as out:
    for i, text in enumerate(tweets):
        out.write(json.dumps({"id": i, "text": text}) + "\n")
PY
for task in text-classification token-classification; do
  "$VENV/bin/python" experiments/predict-bench/hf_predict.py prepare --task "$task" \
    --source "$CACHE/all-MiniLM-L6-v2" --out "$work/$task-model" 2>/dev/null
  for i in 1 2 3; do
    start=$(date +%s.%N)
    "$BIN" predict --model "$work/$task-model" --input "$work/$task.jsonl" \
      --output "$work/$task-ours.jsonl" --batch-size 32
    end=$(date +%s.%N)
    echo "$task: bert-train predict, whole job: $(echo "$end - $start" | bc) s"
    "$VENV/bin/python" experiments/predict-bench/hf_predict.py run --task "$task" \
      --model "$work/$task-model" --input "$work/$task.jsonl" \
      --output "$work/$task-theirs.jsonl" --batch-size 32 2>/dev/null
  done
  python3 - "$task" "$work/$task-ours.jsonl" "$work/$task-theirs.jsonl" <<'PY'
import json, sys
task, ours, theirs = sys.argv[1:]
ours = [json.loads(l) for l in open(ours)]
theirs = [json.loads(l)["prediction"] for l in open(theirs)]
if task == "text-classification":
    same = sum(o["label"] == t["label"] for o, t in zip(ours, theirs))
    diff = max(abs(o["score"] - t["score"]) for o, t in zip(ours, theirs))
    print(f"{task}: {len(ours)} texts, same label {same}, max |score difference| {diff:.2e}")
else:
    entities = sum(len(o["entities"]) for o in ours), sum(len(t) for t in theirs)
    print(f"{task}: {len(ours)} texts, entities (ours, pipeline's) {entities}")
PY
done
rm -rf "$work"
