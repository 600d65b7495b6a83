#!/usr/bin/env bash
# Runs the cargo-fuzz targets of fuzz/ (nightly toolchain), each for SECONDS (default 600),
# from the seed corpora in fuzz/corpus/TARGET (what it finds goes to a scratch corpus, so that
# the repo keeps only the seeds). Crashes land in fuzz/artifacts/TARGET; each one found becomes a
# regression test. Prints one line per target: executions, seconds, crashes.
#
#   bash scripts/fuzz.sh [SECONDS] [TARGET...]      # targets: tokenizer readers weights config
#   JOBS=2 bash scripts/fuzz.sh 600                  # two targets at a time
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-600}"
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(tokenizer readers weights config)
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked
[ -d "${BERT_MINILM_DIR:-$HOME/.cache/bert-rs/all-MiniLM-L6-v2}" ] || bash scripts/fetch-assets.sh
export CARGO_TARGET_DIR="${FUZZ_TARGET_DIR:-$HOME/.cache/bert-fuzz-target}"
cd fuzz
cargo +nightly fuzz build -O -s none
scratch="${FUZZ_SCRATCH:-$HOME/.cache/bert-fuzz-corpus}"
logs="$scratch/logs"
mkdir -p "$logs"
run_one() {
  local target="$1"
  mkdir -p "$scratch/$target"
  cargo +nightly fuzz run -O -s none "$target" "$scratch/$target" corpus/"$target" -- \
    -max_total_time="$seconds" -rss_limit_mb=4096 -max_len=65536 -print_final_stats=1 \
    >"$logs/$target.log" 2>&1 || true
  local runs crashes
  runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$logs/$target.log" | grep -o '[0-9]*$' || echo 0)
  crashes=$(ls artifacts/"$target" 2>/dev/null | wc -l)
  echo "$target: ${runs:-0} executions in ${seconds} s, ${crashes} crash files (log: $logs/$target.log)"
}
pids=()
for target in "${targets[@]}"; do
  run_one "$target" &
  pids+=($!)
  if [ ${#pids[@]} -ge "${JOBS:-1}" ]; then wait "${pids[0]}"; pids=("${pids[@]:1}"); fi
done
wait
