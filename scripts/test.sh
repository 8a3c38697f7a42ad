#!/usr/bin/env bash
# The README's test command: a virtualenv with the dev extra, then the whole suite.
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m venv .venv
.venv/bin/pip install -q --upgrade pip
.venv/bin/pip install -q -e '.[dev]'
.venv/bin/ruff check .
.venv/bin/python -m pytest -q "$@"
