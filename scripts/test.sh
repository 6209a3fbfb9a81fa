#!/usr/bin/env bash
# Lint and type check (scripts/lint.sh), then the whole test suite (sets itself up first).
# Extra arguments go to pytest.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$ROOT/scripts/setup.sh"
cd "$ROOT"
bash scripts/cpu_info.sh
bash scripts/lint.sh
exec .venv/bin/python -m pytest -q --durations=15 "$@"
