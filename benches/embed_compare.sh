#!/usr/bin/env bash
# Side-by-side embedding benchmark: ragops (candle) vs sentence-transformers (PyTorch, CPU) vs
# ONNX Runtime (fp32 and dynamically quantised int8 exports of the same model).
# Sets up a venv in .cache/bench-venv from PyPI (first run downloads PyTorch: a few GB), builds
# ragops, exports the model to ONNX once (.cache/bench-ort, benches/embed_ort_export.py), then
# runs benches/embed_compare.py. Arguments are passed on, e.g. --threads 2 --runs 5.
# RAGOPS_BIN=path/to/ragops skips the build and benchmarks that binary instead.
set -euo pipefail
cd "$(dirname "$0")/.."
venv=.cache/bench-venv
# Versions the ONNX path was verified with (torch 2.15.0, sentence-transformers 6.3.0).
ort_pkgs=(onnxruntime==1.32.0 onnx==1.23.2 onnxscript==0.7.2)
if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --upgrade pip
  "$venv/bin/pip" install --quiet sentence-transformers numpy "${ort_pkgs[@]}"
elif ! "$venv/bin/python" -c 'import onnxruntime, onnx, onnxscript' 2>/dev/null; then
  "$venv/bin/pip" install --quiet "${ort_pkgs[@]}"
fi
args=("$@")
if [ -n "${RAGOPS_BIN:-}" ]; then
  args=(--ragops "$RAGOPS_BIN" "$@")
else
  ./scripts/setup.sh >/dev/null
fi
# Everything the Python side loads comes from the local model directory.
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
exec "$venv/bin/python" benches/embed_compare.py "${args[@]}"
