#!/usr/bin/env bash
# Alternated comparison of bert-train binaries (a lever's before and after) on the training step
# and forward of `bert-train bench`, for a machine whose speed drifts within minutes: ROUNDS
# rounds, each running every binary once, the order rotated by one each round; prints each
# binary's per-round medians, their mean, and the fastest single step.
#   experiments/model-bench/ab.sh BATCH SEQ label=PATH label=PATH ...
#   CONFIG=minilm|base (default minilm)  ROUNDS=4  DEVICE=cpu  OUT=dir for the JSON files
set -euo pipefail
[ $# -ge 3 ] || { echo "usage: $0 BATCH SEQ label=PATH ..." >&2; exit 2; }
batch=$1 seq=$2; shift 2
bins=("$@")
config="${CONFIG:-minilm}" rounds="${ROUNDS:-4}" device="${DEVICE:-cpu}"
out="${OUT:-$(mktemp -d)}"
mkdir -p "$out"
n=${#bins[@]}
for r in $(seq 1 "$rounds"); do
  for i in $(seq 0 $((n - 1))); do
    entry="${bins[$(((i + r) % n))]}"
    label="${entry%%=*}" bin="${entry#*=}"
    "$bin" bench --config "$config" --batch "$batch" --seq "$seq" --warmup 2 --iters 5 \
      --devices "$device" --out "$out/$label-$r.json" > /dev/null
  done
done
python3 - "$out" "$config" "$batch" "$seq" "${bins[@]}" <<'PY'
import glob, json, statistics, sys
out, config, batch, seq, *bins = sys.argv[1:]
print(f"| {config} {batch} x {seq} | training step per round (median s) | mean | fastest step | backward (mean) | forward (mean) |")
print("|---|---|---|---|---|---|")
for entry in bins:
    label = entry.split("=", 1)[0]
    runs = [json.load(open(f))["devices"][0]["results"]
            for f in sorted(glob.glob(f"{out}/{label}-*.json"))]
    step = [r[1]["median_s"] for r in runs]
    print(f"| {label} | {' / '.join(f'{s:.3f}' for s in step)} | {statistics.mean(step):.3f} | "
          f"{min(r[1]['min_s'] for r in runs):.3f} | "
          f"{statistics.mean(r[1]['backward_median_s'] for r in runs):.3f} | "
          f"{statistics.mean(r[0]['median_s'] for r in runs):.3f} |")
PY
