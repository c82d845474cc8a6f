#!/usr/bin/env bash
# The full training run, prepared for one GPU lease (docs/training.md, "The GPU run"): a 30-second pre-flight on the
# GPU (the smoke configuration on 4 prepared images), then `train.py run --preset full`: target cache, 180 s of
# sandwich training with noise regularization, the same number of steps without it (ablation), evaluation on the
# held-out images, weights and table. About 8 minutes on an H100; the command must stay under the lease's
# 10-minute command limit. Needs build/teacher/package/models (scripts/fetch-teacher) and build/train-data
# (`training/train.py prepare-data`) carried along. Results (at most 8 files) go to $OUT, or build/training/gpu.
# Usage: training/run_gpu.sh [extra `train.py run` options, e.g. --time-budget 150]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
out=${OUT:-$root/build/training/gpu}
work=${SLIMTRAIN_WORK:-/tmp/slimtrain-gpu}
py=${PYTHON:-python3}
device=${SLIMTRAIN_DEVICE:-cuda}  # cpu: a dry run of this script on a machine without a GPU
export PYTHONUNBUFFERED=1
mkdir -p "$out" "$work"
for f in build/teacher/package/models/centernet.json build/teacher/package/models/centernet.bin \
         build/train-data/manifest.json; do
  [ -f "$f" ] || { echo "run_gpu: $f is missing (carry build/teacher/package/models, build/train-data)" >&2; exit 1; }
done
nvidia-smi -L 2>/dev/null || true
"$py" -c 'import torch, numpy; print("torch", torch.__version__, "cuda", torch.cuda.is_available(),
                                   "numpy", numpy.__version__)'

start=$(date +%s)
echo "=== pre-flight: smoke configuration on the GPU ==="
"$py" training/train.py run --preset smoke --device "$device" --data build/train-data --train-limit 4 --heldout-limit 2 \
  --out "$work/preflight" --no-torchscript --check-loss-falls 0.95 2>&1 | tee "$out/preflight.log" | grep -v '^\['
echo "pre-flight took $(( $(date +%s) - start )) s"

echo "=== full run ==="
# TorchScript is exported afterwards on the CPU machine (Debian's torch 1.13 = the LibTorch the C++ backend links).
"$py" training/train.py run --preset full --device "$device" --name centernet-256 --out "$work/full" --no-torchscript \
  "$@" 2>&1 | tee "$out/train.log"
for f in accuracy-centernet-256.json accuracy-centernet-256.md accuracy-centernet-256.png \
         slimcodec-centernet-256.safetensors slimcodec-centernet-256-no-noise.safetensors summary.json; do
  cp "$work/full/$f" "$out/"
done
echo "run_gpu: done in $(( $(date +%s) - start )) s; results in $out"
