#!/usr/bin/env bash
# Lint and type check: ruff over the code, tests, benchmarks and scripts (rules in pyproject.toml),
# mypy --strict over the whole package (torchvision's untyped classes in detection/ are the one
# relaxation, pyproject.toml), and the size limits (no module over 400 lines, class over 300,
# function over 60; scripts/code_sizes.py, its allow-list with reasons). Run by scripts/test.sh.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
echo "[lint] ruff"
.venv/bin/ruff check detector_app tests benchmarks scripts
echo "[lint] mypy (strict, the whole package)"
.venv/bin/mypy --follow-imports=silent detector_app
echo "[lint] code sizes (modules <= 400 lines, classes <= 300, functions <= 60)"
.venv/bin/python scripts/code_sizes.py detector_app
