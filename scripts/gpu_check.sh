#!/usr/bin/env bash
# The GPU path, proven on a machine with a CUDA GPU (about 3-6 minutes):
#   1. the CUDA tests (pytest -m cuda): bundled model on CUDA in fp32 and fp16 AMP against the CPU,
#      trace against forward, the app's model loading and the GUI worker on "auto" (= CUDA),
#      AMP training, and a one-GPU torchrun training step through the NCCL process group;
#   2. the GPU benchmark rows (benchmarks/bench_gpu.py): ResNet-50 FPN at 800 px and the bundled
#      model, images/s at batch 1 and 8 in fp32 and AMP, trace/forward; written into
#      docs/benchmarks.md with the GPU's name.
# Without a CUDA GPU it says so and exits 0. Logs and the updated docs/benchmarks.md also go to
# $OUT when it is set (the device tool brings that folder back).
#
#   bash scripts/gpu_check.sh            # PYTHON=... to choose the interpreter (default: .venv, else python3)
set -uo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
if [ -n "${PYTHON:-}" ]; then PY="$PYTHON"
elif [ -x .venv/bin/python ]; then PY=.venv/bin/python
else PY=python3; fi
export PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1

# Wheels for what that machine lacks (pycocotools, ...) travel in .whl/ (see docs/benchmarks.md, GPU).
if [ -d .whl ] && compgen -G ".whl/*.whl" >/dev/null; then
  "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/gpu_site .whl/*.whl \
    && export PYTHONPATH="$PYTHONPATH:/tmp/gpu_site"
fi

if ! gpu=$("$PY" -c 'import torch, sys
if not torch.cuda.is_available(): sys.exit(3)
print(torch.cuda.get_device_name(0))' 2>/dev/null); then
  echo "gpu_check: no CUDA GPU here (torch.cuda.is_available() is False with $PY): nothing to check"
  exit 0
fi
LOGS="${OUT:-$ROOT/.gpu_check}"
mkdir -p "$LOGS"
echo "gpu_check: $gpu; logs in $LOGS"
nvidia-smi 2>/dev/null | head -15

# Qt tests need PySide6 and pytest-qt; where they are missing the worker test is left out (said below).
tests=(tests/detection/test_cuda.py tests/detection/test_ddp.py tests/detection/test_training_formats.py)
if "$PY" -c 'import PySide6, pytestqt, pyqtgraph' 2>/dev/null; then
  tests+=(tests/qt/test_worker.py)
else
  echo "gpu_check: PySide6 / pytest-qt / pyqtgraph missing: the GUI worker's CUDA test is left out"
fi
status=0
timeout 300 "$PY" -m pytest -q -p no:cacheprovider -m cuda -rs "${tests[@]}" 2>&1 | tee "$LOGS/gpu_tests.log"
[ "${PIPESTATUS[0]}" -eq 0 ] || status=1

timeout 240 "$PY" benchmarks/bench_gpu.py --json "$LOGS/bench_gpu.json" --doc docs/benchmarks.md 2>&1 \
  | tee "$LOGS/bench_gpu.log"
[ "${PIPESTATUS[0]}" -eq 0 ] || status=1
cp docs/benchmarks.md "$LOGS/benchmarks.md" 2>/dev/null || true
echo "gpu_check: $([ $status -eq 0 ] && echo passed || echo FAILED) on $gpu"
exit $status
