#!/usr/bin/env bash
# Makes the `cuda` feature (burn-cuda) build offline. cubecl-llvm's build script wants LLVM 23
# and otherwise downloads a bundle from GitHub releases; PyPI's mlc-llvm-static ships the same
# LLVM (with the NVPTX target and llvm-config). This installs it into a venv, links its prefix
# where the bundler looks (${XDG_DATA_HOME:-~/.local/share}/tracel/tracel-llvm-23.1.0-4) and
# marks it installed, so the bundler skips the download. Does nothing twice; prints the prefix.
set -euo pipefail
CACHE="${BERT_RS_CACHE:-$HOME/.cache/bert-rs}"
VENV="$CACHE/venv-llvm"
TARGET="${XDG_DATA_HOME:-$HOME/.local/share}/tracel/tracel-llvm-23.1.0-4"
if [ -e "$TARGET/.tracel-llvm-installed" ]; then
  echo "$TARGET"
  exit 0
fi
if ! "$VENV/bin/python" -c "import mlc_llvm_static" 2>/dev/null; then
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q "mlc-llvm-static[all]==23.1.1.post0" >&2
fi
prefix="$("$VENV/bin/python" -m mlc_llvm_static.config --prefix)"
[ -x "$prefix/bin/llvm-config" ] || { echo "cuda-llvm: no llvm-config under $prefix" >&2; exit 1; }
mkdir -p "$(dirname "$TARGET")"
ln -sfn "$prefix" "$TARGET"
touch "$TARGET/.tracel-llvm-installed"
echo "$TARGET"
