#!/usr/bin/env bash
# The project's test command (README): unit, parity and CLI tests; the held-out tokenizer parity
# check against transformers; bert-train built with the tch and wgpu features; the model
# parity tests again on the wgpu and libtorch devices when their prerequisites are installed (a
# Vulkan driver; the torch venv of scripts/torch-venv.sh).
# Fetches the model and the data it lacks first (both scripts do nothing twice), so it runs on a
# fresh clone before or after the quickstart.
set -euo pipefail
cd "$(dirname "$0")/.."
CACHE="${BERT_RS_CACHE:-$HOME/.cache/bert-rs}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/bert-target}"
TORCH_VENV="${BERT_TORCH_VENV:-$CACHE/venv-torch}"

bash scripts/fetch-assets.sh
bash scripts/fetch-data.sh

# With Open MPI installed (.ci/run installs it), bert-train is built with its `mpi` feature, and
# tests/distributed.rs runs 2-rank jobs under mpirun; without it those tests are left out.
ws_features=()
if command -v mpirun >/dev/null && command -v mpicc >/dev/null; then
  ws_features=(--features bert-train/mpi)
else
  echo "test.sh: no Open MPI (mpirun, mpicc), the MPI tests are skipped (apt-get install libopenmpi-dev openmpi-bin libclang-dev)" >&2
fi

cargo test --workspace --locked "${ws_features[@]}"

# The held-out tokenizer check against transformers (the default-feature binary just built).
"$CACHE/venv-reference/bin/python" scripts/tokenizer_parity.py \
  --bert-train "$CARGO_TARGET_DIR/debug/bert-train" \
  --model "$CACHE/all-MiniLM-L6-v2" \
  --max-lines "${HELDOUT_LINES:-100000}"

# The CPU backend's matmul picks the gemm crate's AVX-512 kernels at run time where the CPU has
# them (the default `x86-v4` feature), else its AVX2/FMA ones. The tests above ran whichever this
# CPU has; on an AVX-512 CPU the model parity runs again under qemu's `-cpu max` (AVX2, no
# AVX-512), so both paths are checked (.ci/run installs qemu-user).
if grep -qw avx512f /proc/cpuinfo 2>/dev/null; then
  if command -v qemu-x86_64 >/dev/null; then
    echo "test.sh: model parity without AVX-512 (qemu-x86_64 -cpu max)" >&2
    CARGO_TARGET_X86_64_UNKNOWN_LINUX_GNU_RUNNER="qemu-x86_64 -cpu max" \
      cargo test --workspace --locked "${ws_features[@]}" --test model_parity -- every_head_and_layout
  else
    echo "test.sh: no qemu-x86_64, the CPU path without AVX-512 is not tested here" >&2
  fi
else
  echo "test.sh: this CPU has no AVX-512: the tests above ran the AVX2/FMA matmul path" >&2
fi

# The `cuda` feature (burn-cuda) with `mpi`, checked offline with PyPI's LLVM 23
# (scripts/cuda-llvm.sh); not run: no GPU here (scripts/gpu-check.sh runs it on one).
if [ ${#ws_features[@]} -gt 0 ]; then
  if llvm=$(bash scripts/cuda-llvm.sh); then
    echo "test.sh: cargo check --features cuda,mpi (LLVM 23 at $llvm)" >&2
    cargo check --locked -p bert-train --features cuda,mpi
  else
    echo "test.sh: scripts/cuda-llvm.sh failed, the cuda feature is not checked" >&2
  fi
fi

# The same model parity on the other devices, and bert-train built with them (the torch venv's
# torch is a CUDA build, so this binary runs `tch-cuda:N`). One feature list for every build
# below, so that Burn compiles once for them. The `cuda` feature (burn-cuda) is not built here:
# cubecl-cuda 0.11.3 builds cubecl-llvm, whose build script downloads an LLVM bundle from GitHub
# releases, which this network does not reach (MAINTAINING.md); scripts/gpu-check.sh builds it.
features=()
if ls /usr/share/vulkan/icd.d/*.json >/dev/null 2>&1; then features+=(wgpu); else
  echo "test.sh: no Vulkan driver, wgpu parity skipped (apt-get install mesa-vulkan-drivers)" >&2; fi
if "$TORCH_VENV/bin/python" -c "import torch" 2>/dev/null; then features+=(tch); else
  echo "test.sh: no torch venv at $TORCH_VENV, libtorch skipped (scripts/torch-venv.sh)" >&2; fi
[ ${#features[@]} -gt 0 ] || exit 0
list=$(IFS=,; echo "${features[*]}")
# The parity tests select bert-model beside bert-train with bert-train's features: the same
# feature resolution as the build above, so nothing is compiled twice.
train_features=$(printf 'bert-train/%s,' "${features[@]}")
torch_lib=$(ls -d "$TORCH_VENV"/lib/python3*/site-packages/torch/lib 2>/dev/null | head -1 || true)
run() {
  VIRTUAL_ENV="$TORCH_VENV" PATH="$TORCH_VENV/bin:$PATH" LIBTORCH_USE_PYTORCH=1 \
    LD_LIBRARY_PATH="${torch_lib}${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" "$@"
}
echo "test.sh: cargo build -p bert-train --features $list" >&2
run cargo build --locked -p bert-train --features "$list"
for device in "${features[@]}"; do
  echo "test.sh: model parity on --device $device" >&2
  run env BERT_TEST_DEVICE="$device" \
    cargo test --locked -p bert-model -p bert-train --features "${train_features%,}" --test model_parity
done
