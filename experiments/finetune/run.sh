#!/usr/bin/env bash
# Fine-tunes all-MiniLM-L6-v2 with bert-train and with transformers' Trainer, one after the other,
# from the same config files with the same overrides, and writes one results JSON per side and
# task under experiments/finetune/results/. `table.py` turns them into RESULTS.md's table.
#
#   experiments/finetune/run.sh [sentiment|regression|ner|social-iqa|disfl-qa|lee-mlm|lee-nsp|disfl-qa-v1|lee-pretraining|lee-choice|ner-qa ...]
#   (social-iqa, disfl-qa and disfl-qa-v1 need the bigbench sdist: configs/README.md)
#   (default: the first four)
#
# Nothing else should run on the machine meanwhile: both sides use every core.
set -euo pipefail
cd "$(dirname "$0")/../.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/bert-target}"
CACHE="${BERT_RS_CACHE:-$HOME/.cache/bert-rs}"
bash scripts/fetch-assets.sh >/dev/null
bash scripts/fetch-data.sh
mkdir -p models
ln -sfn "$CACHE/all-MiniLM-L6-v2" models/all-MiniLM-L6-v2
VENV="$(bash scripts/torch-venv.sh accelerate==1.15.0 scikit-learn scipy seqeval)"
# BERT_TRAIN_BIN: an already built binary (e.g. the debug one, whose dependencies are built at
# opt-level 2) instead of a release build.
if [ -z "${BERT_TRAIN_BIN:-}" ] && [ "${SIDES:-both}" != hf ]; then
  cargo build -q --release -p bert-train
fi
BIN="${BERT_TRAIN_BIN:-$CARGO_TARGET_DIR/release/bert-train}"
RESULTS=experiments/finetune/results
mkdir -p "$RESULTS"

# task name -> config file and the overrides both sides get (shorter than the configs' own runs,
# so that the six runs fit in about an hour on a 2-core CPU; no checkpoints inside the loop).
declare -A CONFIG=(
  [sentiment]=configs/sentiment.toml
  [regression]=configs/sentiment-regression.toml
  [ner]=configs/ner.toml
  [social-iqa]=configs/social-iqa.toml
  [disfl-qa]=configs/disfl-qa.toml
  [lee-mlm]=configs/lee-mlm.toml
  [lee-nsp]=configs/lee-next-sentence.toml
  [disfl-qa-v1]=configs/disfl-qa.toml
  [lee-pretraining]=configs/lee-pretraining.toml
  [lee-choice]=configs/lee-choice.toml
  [ner-qa]=configs/ner-qa.toml
)
declare -A EPOCHS=([sentiment]=1 [regression]=1 [ner]=3 [social-iqa]=1 [disfl-qa]=2 [lee-mlm]=2 [lee-nsp]=2 [disfl-qa-v1]=2 [lee-pretraining]=3 [lee-choice]=1 [ner-qa]=2)
# More overrides per task (QA: 600 training questions, windows of 256 tokens, stride 64).
declare -A EXTRA=(
  [disfl-qa]="data.max_train_rows=600 data.max_eval_rows=300 data.max_seq_length=256 data.doc_stride=64"
  [disfl-qa-v1]="data.version_2_with_negative=false data.on_bad_row=skip data.max_train_rows=600 data.max_eval_rows=300 data.max_seq_length=256 data.doc_stride=64"
)

# SEED=N: both sides run with training.seed=N, and the results are named TASK-sN-{bert,hf}.
# SIDES=bert: run bert-train only and keep Trainer's results (after a change on our side only);
# SIDES=hf: run Trainer only and keep bert-train's results.
# SETS="key=value ...": more overrides for both sides (e.g. model=DIR, a model with its head
# already initialised, made by `replay.py prepare`); TAG=label: results named TASK-label-....
for task in "${@:-sentiment regression ner social-iqa}"; do
  for task_name in $task; do
    config="${CONFIG[$task_name]}"
    sets=(--set "training.epochs=${EPOCHS[$task_name]}" --set training.checkpoint_every_steps=1000000)
    for extra in ${EXTRA[$task_name]:-}; do sets+=(--set "$extra"); done
    for extra in ${SETS:-}; do sets+=(--set "$extra"); done
    name="$task_name${TAG:+-$TAG}"
    if [ -n "${SEED:-}" ]; then
      sets+=(--set "training.seed=$SEED")
      name="$name-s$SEED"
    fi
    out="runs/compare-$name"
    if [ "${SIDES:-both}" != hf ]; then
      rm -rf "$out-bert"
      echo "== $name: bert-train"
      before="{}"
      if [ "$task_name" = lee-mlm ]; then
        # Perplexity of the pretrained model (its new MLM head) before training.
        before_model=models/all-MiniLM-L6-v2
        for extra in ${SETS:-}; do
          case "$extra" in model=*) before_model="${extra#model=}" ;; esac
        done
        before=$("$BIN" evaluate --config "$config" "${sets[@]}" --model "$before_model" \
          --json | tail -1)
      fi
      "$BIN" fine-tune --config "$config" "${sets[@]}" --set "output_dir=$out-bert" \
        | tee "$RESULTS/$name-bert.log" | grep -v '^step ' || true
      python3 - "$out-bert" "$config" "$RESULTS/$name-bert.json" "$before" "${sets[@]}" <<'EOF'
import json, sys
out, config, dest, before, *sets = sys.argv[1:]
train = json.load(open(f"{out}/train_results.json"))
metrics = json.load(open(f"{out}/eval_results.json"))
json.dump({"config": config, "overrides": sets[1::2], "metrics": metrics,
           "metrics_before": json.loads(before) or None, **train}, open(dest, "w"), indent=2)
EOF
    fi
    [ "${SIDES:-both}" = bert ] && continue
    echo "== $name: transformers Trainer"
    rm -rf "$out-hf"
    "$VENV/bin/python" experiments/finetune/hf_trainer.py --config "$config" "${sets[@]}" \
      --out "$out-hf" > "$RESULTS/$name-hf.log" 2>&1
    cp "$out-hf/results.json" "$RESULTS/$name-hf.json"
    grep -A8 '"metrics"' "$RESULTS/$name-hf.json"
  done
done
python3 experiments/finetune/table.py "$RESULTS"
