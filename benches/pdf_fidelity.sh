#!/usr/bin/env bash
# PDF fidelity and speed, side by side with pdftotext (poppler-utils) and pypdf:
#   1. bag-of-words F1 of `ragops extract` against both peers on every PDF of ../shared/data/pdfs
#      (or the directories given as arguments);
#   2. extraction time of the three on the R reference manual (2,415 pages, from the Debian
#      package r-doc-pdf), best and median of 3 runs.
# Installs what it needs: poppler-utils (apt), pypdf (a venv in .cache/pdf-venv), the manual
# (apt-get download, unpacked into .cache/bench/pdf). Usage: benches/pdf_fidelity.sh [DIR...]
set -euo pipefail
cd "$(dirname "$0")/.."
sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
if ! command -v pdftotext >/dev/null; then
  $sudo apt-get update -qq && $sudo apt-get install -y -qq poppler-utils >/dev/null
fi
venv=.cache/pdf-venv
if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet "pypdf==7.1.1" "fonttools==4.61.1"
fi
work=.cache/bench/pdf
manual="$work/usr/share/R/doc/manual/refman.pdf"
if [ ! -f "$manual" ]; then
  mkdir -p "$work"
  (cd "$work" && apt-get download -qq r-doc-pdf 2>/dev/null && dpkg-deb -x r-doc-pdf_*.deb . && rm -f r-doc-pdf_*.deb)
fi
cargo build --release --locked -q --bin ragops
bin="${CARGO_TARGET_DIR:-target}/release/ragops"
exec "$venv/bin/python" benches/pdf_fidelity.py --ragops "$bin" --speed "$manual" "$@"
