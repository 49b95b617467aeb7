#!/usr/bin/env bash
# Side-by-side embedding benchmark: ragops (candle) vs sentence-transformers (PyTorch, CPU).
# Sets up a venv in .cache/bench-venv from PyPI (first run downloads PyTorch: a few GB), builds
# ragops, then runs benches/embed_compare.py. Arguments are passed on, e.g. --threads 2 --runs 5.
set -euo pipefail
cd "$(dirname "$0")/.."
venv=.cache/bench-venv
if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --upgrade pip
  "$venv/bin/pip" install --quiet sentence-transformers numpy
fi
./scripts/setup.sh >/dev/null
exec "$venv/bin/python" benches/embed_compare.py "$@"
