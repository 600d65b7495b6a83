#!/usr/bin/env bash
# Tokenizer benchmark: bert-data's BertTokenizer beside the tokenizers crate, one thread, on the
# real corpus of scripts/tokenizer_corpus.py. Writes experiments/tokenizer-bench/RESULTS.md.
set -euo pipefail
cd "$(dirname "$0")/.."
CACHE="${BERT_RS_CACHE:-$HOME/.cache/bert-rs}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/bert-target}"
LINES="${BENCH_LINES:-100000}"
corpus="$CACHE/bench-corpus-$LINES.jsonl"
[ -f "$corpus" ] || python3 scripts/tokenizer_corpus.py --heldout "$corpus" --max-lines "$LINES"
out=experiments/tokenizer-bench/RESULTS.md
mkdir -p "$(dirname "$out")"
table=$(BERT_BENCH_CORPUS="$corpus" BERT_MINILM_DIR="$CACHE/all-MiniLM-L6-v2" \
  taskset -c 0 cargo bench -q -p bert-data --bench tokenizer)
{
  echo "# Tokenizer throughput"
  echo
  echo "Command: \`bash scripts/bench-tokenizer.sh\` (BENCH_LINES=$LINES), pinned to one core with taskset."
  echo "Machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //'), $(nproc) cores; $(rustc --version); $(date -u +%Y-%m-%d)."
  echo "Vocabulary and options: all-MiniLM-L6-v2 (uncased), from its directory on both sides."
  echo
  echo "$table"
} > "$out"
cat "$out"
