#!/usr/bin/env bash
# `bert-train embed` beside sentence-transformers' `encode` on all-MiniLM-L6-v2: the same
# texts (the 1,057 dev sentences of data/sentiment), batch 32, one after the other, each side's
# whole job (start, load, encode, write JSONL) timed three times; and the largest difference
# between the two sides' vectors.
#
#   experiments/embed-bench/run.sh        (BERT_TRAIN_BIN=... to use an already built binary)
set -euo pipefail
cd "$(dirname "$0")/../.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/bert-target}"
CACHE="${BERT_RS_CACHE:-$HOME/.cache/bert-rs}"
bash scripts/fetch-assets.sh >/dev/null
bash scripts/fetch-data.sh >/dev/null
VENV="$(bash scripts/torch-venv.sh sentence-transformers==6.3.0)"
if [ -z "${BERT_TRAIN_BIN:-}" ]; then cargo build -q --release -p bert-train; fi
BIN="${BERT_TRAIN_BIN:-$CARGO_TARGET_DIR/release/bert-train}"
MODEL="$CACHE/all-MiniLM-L6-v2"
work=$(mktemp -d)
python3 - data/sentiment/dev.csv "$work/in.jsonl" <<'PY'
import csv, json, sys
with open(sys.argv[2], "w") as out:
    for r in csv.DictReader(open(sys.argv[1], encoding="utf-8")):
        out.write(json.dumps({"id": r["id"], "text": r["sentence"]}) + "\n")
PY
for i in 1 2 3; do
  start=$(date +%s.%N)
  "$BIN" embed --model "$MODEL" --input "$work/in.jsonl" --output "$work/ours.jsonl" --batch-size 32
  end=$(date +%s.%N)
  echo "bert-train embed: $(echo "$end - $start" | bc) s"
  "$VENV/bin/python" experiments/embed-bench/st_embed.py --model "$MODEL" \
    --input "$work/in.jsonl" --output "$work/theirs.jsonl" --batch-size 32
done
python3 - "$work/ours.jsonl" "$work/theirs.jsonl" <<'PY'
import json, sys
ours = [json.loads(l)["embedding"] for l in open(sys.argv[1])]
theirs = [json.loads(l)["embedding"] for l in open(sys.argv[2])]
print("texts", len(ours), "max |difference|",
      max(abs(a - b) for u, v in zip(ours, theirs) for a, b in zip(u, v)))
PY
rm -rf "$work"
