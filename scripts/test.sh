#!/usr/bin/env bash
# Runs the whole test suite (sets itself up first). Extra arguments go to pytest.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$ROOT/scripts/setup.sh"
cd "$ROOT"
bash scripts/cpu_info.sh
exec .venv/bin/python -m pytest -q --durations=15 "$@"
