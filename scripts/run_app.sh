#!/usr/bin/env bash
# Opens Faster R-CNN Studio on the bundled sample with the bundled model.
# Extra arguments go to `detector-app gui`. Without a display, runs under Xvfb.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$ROOT/scripts/setup.sh"
cd "$ROOT"
if [ -z "${DISPLAY:-}" ] && [ -z "${WAYLAND_DISPLAY:-}" ]; then
  echo "[run] no display found: starting the app under a virtual X server (xvfb-run)."
  exec xvfb-run -a -s "-screen 0 1600x1000x24" .venv/bin/detector-app gui "$@"
fi
exec .venv/bin/detector-app gui "$@"
