#!/usr/bin/env bash
# For a machine with an NVIDIA GPU: builds bert-train with burn-cuda (`cuda`) and libtorch
# (`tch`, the torch venv's CUDA build), runs the model parity tests on cuda:0 and tch-cuda:0,
# times BERT-base (batch 32 x 128, f32) on both beside PyTorch on the same GPU, fine-tunes the
# quickstart on the first GPU device, and prints one table (also appended to $GPU_CHECK_OUT,
# default experiments/model-bench/gpu-check.md). burn-cuda's build takes its LLVM from PyPI
# (scripts/cuda-llvm.sh); if it still fails the script checks tch-cuda alone and says so. With
# two GPUs or more and Open MPI, the quickstart also runs as a 2-rank job (`cuda:local`). bf16 is
# not measured: burn has no autocast, and the bench has no pure-bf16 mode yet.
#   GPU_CHECK_BATCH=32 GPU_CHECK_SEQ=128 GPU_CHECK_ITERS=10
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/bert-target}"
BATCH="${GPU_CHECK_BATCH:-32}"
SEQ="${GPU_CHECK_SEQ:-128}"
ITERS="${GPU_CHECK_ITERS:-10}"
OUT="${GPU_CHECK_OUT:-experiments/model-bench/gpu-check.md}"
command -v nvidia-smi >/dev/null || { echo "gpu-check: no nvidia-smi; this needs an NVIDIA GPU" >&2; exit 1; }
gpu="$(nvidia-smi --query-gpu=name,memory.total --format=csv,noheader | head -1)"

bash scripts/fetch-assets.sh >/dev/null
bash scripts/fetch-data.sh >/dev/null
mkdir -p models && ln -sfn "${BERT_RS_CACHE:-$HOME/.cache/bert-rs}/all-MiniLM-L6-v2" models/all-MiniLM-L6-v2
VENV="$(bash scripts/torch-venv.sh)"
export VIRTUAL_ENV="$VENV" PATH="$VENV/bin:$PATH" LIBTORCH_USE_PYTORCH=1
export LD_LIBRARY_PATH="$(ls -d "$VENV"/lib/python3*/site-packages/torch/lib | head -1)${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"

rows=()
row() { rows+=("| $1 | $2 |"); echo "gpu-check: $1: $2" >&2; }

# 1. Builds. burn-cuda's build (cubecl-llvm) wants LLVM 23: scripts/cuda-llvm.sh puts PyPI's
#    where cubecl-llvm looks. If the build fails, only libtorch's CUDA is checked.
bash scripts/cuda-llvm.sh >/dev/null || true
devices=(tch-cuda:0)
features=tch
mpi=""
command -v mpicc >/dev/null && mpi=",mpi"
if cargo build -q --release --locked -p bert-train --features "cuda,tch$mpi" >/tmp/gpu-check-build.log 2>&1; then
  devices=(cuda:0 tch-cuda:0); features="cuda,tch$mpi"
  row "build --features cuda,tch" "ok"
else
  row "build --features cuda,tch" "FAILED (see /tmp/gpu-check-build.log); tch only"
  cargo build -q --release --locked -p bert-train --features tch
fi

# 2. Parity with transformers on each GPU device (fixtures computed on the CPU, 1e-4).
for device in "${devices[@]}"; do
  log="/tmp/gpu-check-parity-${device%%:*}.log"
  if BERT_TEST_DEVICE="$device" cargo test -q --locked -p bert-model --features "$features" \
      --test model_parity >"$log" 2>&1; then
    row "model parity on $device" "pass ($(grep -o '[0-9]* passed' "$log" | head -1))"
  else
    row "model parity on $device" "FAIL (see $log)"
  fi
done

# 3. Speed beside PyTorch on the same GPU.
tmp="$(mktemp -d)"
python scripts/bench_torch.py --config base --device cuda --batch "$BATCH" --seq "$SEQ" \
  --warmup 3 --iters "$ITERS" --out "$tmp/torch.json" >/dev/null
"$CARGO_TARGET_DIR/release/bert-train" bench --config base --devices "$(IFS=,; echo "${devices[*]}")" \
  --batch "$BATCH" --seq "$SEQ" --warmup 3 --iters "$ITERS" --out "$tmp/rust.json" >/dev/null
table="$(python3 scripts/bench_table.py "$tmp/torch.json" "$tmp/rust.json" \
  --command "bash scripts/gpu-check.sh ($gpu)")"

# 4. The quickstart fine-tuned on the first GPU device.
rm -rf runs/gpu-quickstart
if "$CARGO_TARGET_DIR/release/bert-train" fine-tune --config configs/quickstart.toml \
    --set 'output_dir="runs/gpu-quickstart"' --set "training.device=\"${devices[0]}\"" \
    --set 'training.progress="plain"' >/tmp/gpu-check-quickstart.log 2>&1; then
  row "quickstart fine-tune on ${devices[0]}" "$(grep '^validation:' /tmp/gpu-check-quickstart.log); $(grep '^done:' /tmp/gpu-check-quickstart.log | sed 's/; model in.*//')"
else
  row "quickstart fine-tune on ${devices[0]}" "FAIL (see /tmp/gpu-check-quickstart.log)"
fi

# 5. Two ranks, one GPU each (MPI; gradients staged through host memory).
gpus=$(nvidia-smi --query-gpu=name --format=csv,noheader | wc -l)
if [ "$gpus" -ge 2 ] && [ -n "$mpi" ] && [ "$features" != tch ]; then
  rm -rf runs/gpu-two-ranks
  if OMPI_MCA_btl_vader_single_copy_mechanism=none mpirun --allow-run-as-root -np 2 \
      "$CARGO_TARGET_DIR/release/bert-train" fine-tune --config configs/quickstart.toml \
      --set 'output_dir="runs/gpu-two-ranks"' --set 'training.device="cuda:local"' \
      >/tmp/gpu-check-ranks.log 2>&1; then
    row "quickstart on 2 ranks x cuda:local" "$(grep '^validation:' /tmp/gpu-check-ranks.log); $(grep '^done:' /tmp/gpu-check-ranks.log | sed 's/; model in.*//')"
  else
    row "quickstart on 2 ranks x cuda:local" "FAIL (see /tmp/gpu-check-ranks.log)"
  fi
else
  row "quickstart on 2 ranks" "not run ($gpus GPU(s); needs 2, Open MPI and the cuda build)"
fi

{
  echo "## gpu-check on $gpu ($(date -u +%Y-%m-%d))"
  echo
  echo "| check | result |"
  echo "|---|---|"
  printf '%s\n' "${rows[@]}"
  echo
  echo "$table"
  echo
} | tee -a "$OUT"
