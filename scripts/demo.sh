#!/usr/bin/env bash
# The README's main-job command: a virtualenv with the package, then the demo on the bundled emulator.
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m venv .venv
.venv/bin/pip install -q --upgrade pip
.venv/bin/pip install -q -e .
.venv/bin/ac-sync demo "$@"
