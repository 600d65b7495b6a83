#!/usr/bin/env bash
# Makes (once) the Python venv with torch 2.9.0 and transformers 5.24.0 that the model fixtures,
# the PyTorch benchmark and libtorch builds (burn-tch) use, and prints its path.
# Location: $BERT_TORCH_VENV, else ${BERT_RS_CACHE:-~/.cache/bert-rs}/venv-torch. About 4 GB.
# Arguments name extra packages to install into it (for example the HF Trainer comparison's
# `accelerate scikit-learn scipy seqeval`).
set -euo pipefail
CACHE="${BERT_RS_CACHE:-$HOME/.cache/bert-rs}"
VENV="${BERT_TORCH_VENV:-$CACHE/venv-torch}"
if ! "$VENV/bin/python" -c "import torch, transformers" 2>/dev/null; then
  python3 -m venv "$VENV" >&2
  "$VENV/bin/pip" install -q torch==2.9.0 transformers==5.24.0 >&2
fi
if [ "$#" -gt 0 ]; then
  "$VENV/bin/pip" install -q "$@" >&2
fi
echo "$VENV"
