#!/usr/bin/env bash
# Lint and type check: ruff over the code, tests, benchmarks and scripts (rules in pyproject.toml),
# mypy --strict over the whole package (torchvision's untyped classes in detection/ are the one
# relaxation, pyproject.toml). Run by scripts/test.sh.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
echo "[lint] ruff"
.venv/bin/ruff check detector_app tests benchmarks scripts
echo "[lint] mypy (strict, the whole package)"
.venv/bin/mypy --follow-imports=silent detector_app
