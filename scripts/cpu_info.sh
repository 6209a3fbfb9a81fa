#!/usr/bin/env bash
# One paragraph on the CPU the tests run on, so a slow host is visible in every log:
# model, cores, the flags that decide the fast paths (avx2, avx512*, amx*), the ISA
# limits set in the environment, and the measured bf16-vs-fp32 probe.
set -uo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
model=$(grep -m1 'model name' /proc/cpuinfo 2>/dev/null | cut -d: -f2- | sed 's/^ *//')
flags=$(grep -m1 '^flags' /proc/cpuinfo 2>/dev/null | tr ' ' '\n' | grep -E '^(avx2|avx512.*|amx.*)$' | sort -u | tr '\n' ' ')
echo "[cpu] ${model:-unknown}, $(nproc) cores usable"
echo "[cpu] flags: ${flags:-none of avx2 / avx512* / amx*}"
echo "[cpu] ONEDNN_MAX_CPU_ISA=${ONEDNN_MAX_CPU_ISA:-unset} ATEN_CPU_CAPABILITY=${ATEN_CPU_CAPABILITY:-unset}"
if [ -x "$ROOT/.venv/bin/python" ]; then
  "$ROOT/.venv/bin/python" - <<'PY' 2>/dev/null || echo "[cpu] (bf16 probe failed)"
import torch
from detector_app.detection.precision import bf16_is_fast, bf16_probe
print(f"[cpu] torch {torch.__version__}, ATen capability {torch.backends.cpu.get_cpu_capability()}, "
      f"{torch.get_num_threads()} threads; {bf16_probe().reason()}; auto precision: "
      f"{'bf16' if bf16_is_fast() else 'fp32'}")
PY
fi
