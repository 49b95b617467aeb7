#!/usr/bin/env bash
# Peak memory of `ragops build` against corpus size, with the default model. The corpus is the
# first N HTML pages of Debian's python3.11-doc package; "x10" is ten copies of that corpus (so
# only the corpus size changes, not the largest document); "next" is the first 10·N distinct
# pages (larger pages come in too). Prints documents, chunks, wall time and peak RSS, and the
# ratios of the peaks. Usage: benches/memory.sh [N]
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-10}
work=.cache/bench/memory
mkdir -p "$work"
if [ ! -d "$work/pydoc" ]; then
  (cd "$work" && apt-get download python3.11-doc >/dev/null && dpkg -x python3.11-doc_*.deb pydoc)
fi
./scripts/setup.sh >/dev/null
bin="${CARGO_TARGET_DIR:-target}/release/ragops"
mapfile -t pages < <(find "$work/pydoc/usr/share/doc/python3.11/html" -name '*.html' -size +8k | sort)
echo "python3.11-doc: ${#pages[@]} pages over 8 KiB; building the first $n and the first $((10 * n))"
for k in 1 10 next; do
  dir="$work/x$k"
  rm -rf "$dir" && mkdir -p "$dir/docs"
  case $k in
    1) for p in "${pages[@]:0:$n}"; do cp "$p" "$dir/docs/$(echo "${p#*/html/}" | tr / _)"; done ;;
    10) for c in $(seq 1 10); do mkdir -p "$dir/docs/copy$c" && cp "$work/x1/docs/"* "$dir/docs/copy$c/"; done ;;
    next) for p in "${pages[@]:0:$((10 * n))}"; do cp "$p" "$dir/docs/$(echo "${p#*/html/}" | tr / _)"; done ;;
  esac
  sed -e "s|^paths = .*|paths = [\"docs\"]|" -e "s|^dir = .*|dir = \"store\"|" pipelines/default.toml > "$dir/pipeline.toml"
  /usr/bin/time -f "%M %e" -o "$dir/time" "$bin" build -p "$dir/pipeline.toml" -q --json > "$dir/report.json"
  read -r rss secs < "$dir/time"
  bytes=$(find "$dir/docs" -type f -printf '%s\n' | awk '{s += $1} END {print s}')
  python3 - "$dir/report.json" "$k" "$rss" "$secs" "$bytes" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
c = r["counts"]
secs, mb = float(sys.argv[4]), int(sys.argv[5]) / 1e6
print(f"x{sys.argv[2]:<4} {c['documents']:>5} documents {c['chunks']:>6} chunks {mb:>6.1f} MB  {secs:>7.1f} s  "
      f"{c['documents'] / secs:>5.2f} docs/s {c['chunks'] / secs:>5.1f} chunks/s {mb / secs:>5.3f} MB/s  "
      f"peak RSS {int(sys.argv[3]) / 1024:>7.1f} MiB")
PY
  echo "$rss" > "$dir/rss"
done
python3 -c "
a = int(open('$work/x1/rss').read())
for k in ('10', 'next'):
    b = int(open(f'$work/x{k}/rss').read())
    print(f'peak RSS x{k} / x1 = {b/a:.2f} ({(b/a-1)*100:+.0f}%)')"
