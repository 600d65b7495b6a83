#!/usr/bin/env bash
# The project's test command (README): unit, parity and CLI tests; the model parity tests again on
# the wgpu and libtorch devices when their prerequisites are installed (a Vulkan driver; the torch
# venv of scripts/torch-venv.sh); then the held-out tokenizer parity check against transformers.
# Fetches the model and the data it lacks first (both scripts do nothing twice), so it runs on a
# fresh clone before or after the quickstart.
set -euo pipefail
cd "$(dirname "$0")/.."
CACHE="${BERT_RS_CACHE:-$HOME/.cache/bert-rs}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/bert-target}"
TORCH_VENV="${BERT_TORCH_VENV:-$CACHE/venv-torch}"

bash scripts/fetch-assets.sh
bash scripts/fetch-data.sh

cargo test --workspace --locked

# The same model parity on the other devices, one build holding every backend.
features=()
if ls /usr/share/vulkan/icd.d/*.json >/dev/null 2>&1; then features+=(wgpu); else
  echo "test.sh: no Vulkan driver, wgpu parity skipped (apt-get install mesa-vulkan-drivers)" >&2; fi
if "$TORCH_VENV/bin/python" -c "import torch" 2>/dev/null; then features+=(tch); else
  echo "test.sh: no torch venv at $TORCH_VENV, libtorch parity skipped (scripts/torch-venv.sh)" >&2; fi
if [ ${#features[@]} -gt 0 ]; then
  list=$(IFS=,; echo "${features[*]}")
  torch_lib=$(ls -d "$TORCH_VENV"/lib/python3*/site-packages/torch/lib 2>/dev/null | head -1 || true)
  run() {
    VIRTUAL_ENV="$TORCH_VENV" PATH="$TORCH_VENV/bin:$PATH" LIBTORCH_USE_PYTORCH=1 \
      LD_LIBRARY_PATH="${torch_lib}${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" "$@"
  }
  for device in "${features[@]}"; do
    echo "test.sh: model parity on --device $device" >&2
    run env BERT_TEST_DEVICE="$device" \
      cargo test --locked -p bert-model --features "$list" --test model_parity
  done
fi

"$CACHE/venv-reference/bin/python" scripts/tokenizer_parity.py \
  --bert-train "$CARGO_TARGET_DIR/debug/bert-train" \
  --model "$CACHE/all-MiniLM-L6-v2" \
  --max-lines "${HELDOUT_LINES:-100000}"
