#!/usr/bin/env bash
# Incremental rebuild cost: a full build of N python3.11-doc HTML pages (Debian package,
# downloaded with apt-get), then 1% of the pages edited (a paragraph appended), then an
# incremental rebuild. Prints both wall times, the ratio, and what the rebuild reused.
# Usage: benches/incremental.sh [N]   (default 200 pages)
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-200}
work=.cache/bench/incremental
mkdir -p "$work"
pydoc=.cache/bench/memory/pydoc
if [ ! -d "$pydoc" ]; then
  mkdir -p .cache/bench/memory
  (cd .cache/bench/memory && apt-get download python3.11-doc >/dev/null && dpkg -x python3.11-doc_*.deb pydoc)
fi
./scripts/setup.sh >/dev/null
bin="${CARGO_TARGET_DIR:-target}/release/ragops"
mapfile -t pages < <(find "$pydoc/usr/share/doc/python3.11/html" -name '*.html' -size +8k | sort)
rm -rf "$work/docs" "$work/store" && mkdir -p "$work/docs"
for p in "${pages[@]:0:$n}"; do cp "$p" "$work/docs/$(echo "${p#*/html/}" | tr / _)"; done
sed -e "s|^paths = .*|paths = [\"docs\"]|" -e "s|^dir = .*|dir = \"store\"|" pipelines/default.toml > "$work/pipeline.toml"

/usr/bin/time -f "%e" -o "$work/full.time" "$bin" build -p "$work/pipeline.toml" -q --json > "$work/full.json"
changed=$(( (n + 99) / 100 ))
i=0
for f in $(ls "$work/docs" | awk 'NR % 100 == 50'); do
  [ "$i" -ge "$changed" ] && break
  # A new paragraph at the start of the page's main text (the part the HTML loader keeps).
  sed -i 's|<div class="body" role="main">|&<p>Edited for the incremental benchmark: a new opening paragraph.</p>|' "$work/docs/$f"
  i=$((i + 1))
done
/usr/bin/time -f "%e" -o "$work/inc.time" "$bin" build -p "$work/pipeline.toml" -q --json > "$work/inc.json"
python3 - "$work" "$i" <<'PY'
import json, sys
w, changed = sys.argv[1], int(sys.argv[2])
full, inc = json.load(open(f"{w}/full.json")), json.load(open(f"{w}/inc.json"))
tf, ti = float(open(f"{w}/full.time").read()), float(open(f"{w}/inc.time").read())
c, i = full["counts"], inc["incremental"]
print(f"full build: {c['documents']} documents, {c['chunks']} chunks, {tf:.1f} s")
print(f"rebuild after editing {changed} file(s): {ti:.2f} s = {100 * ti / tf:.1f}% of the full build")
print(f"  documents: {i['documents_reused']} reused, {i['documents_processed']} processed "
      f"({i['documents_changed']} changed)")
print(f"  chunks: {i['chunks_reused']} copied, {i['chunks_new']} new; embeddings: "
      f"{i['embeddings_computed']} computed, {i['embeddings_cached']} from the cache")
print("  stage seconds: " + ", ".join(f"{k} {v:.2f}" for k, v in sorted(inc["timings"].items())))
PY
