#!/usr/bin/env bash
# The hostile build of the hardening issue, with the default pipeline and the real model: a
# folder holding HTML nested 200,000 deep, a 1-page PDF whose Flate content stream inflates to
# 240 MB, a PDF with 60,000 empty pages, a 6 GB sparse .txt, a Markdown file whose first heading
# is 4 MB long, and one normal file. Prints what happened to each file, the wall time and the
# peak RSS, against the goals (exit 0, under 1.5 GB, under 10 minutes, the normal file found).
# Usage: benches/hostile.sh
set -euo pipefail
cd "$(dirname "$0")/.."
work=.cache/bench/hostile
rm -rf "$work" && mkdir -p "$work"
./scripts/setup.sh >/dev/null
cargo run --release -q -p ragops-test-support --example hostile_corpus -- "$work/docs"
bin="${CARGO_TARGET_DIR:-target}/release/ragops"
sed -e "s|^paths = .*|paths = [\"docs\"]|" -e "s|^dir = .*|dir = \"store\"|" pipelines/default.toml > "$work/pipeline.toml"
set +e
/usr/bin/time -f "%M %e" -o "$work/time" "$bin" build -p "$work/pipeline.toml" -q --json > "$work/report.json"
code=$?
set -e
read -r rss secs < "$work/time"
found=$("$bin" search zanzibarite --store "$work/store" --mode bm25 --json -k 1 | python3 -c 'import json,sys; print(json.load(sys.stdin)["results"][0]["doc_id"])')
python3 - "$work/report.json" "$code" "$rss" "$secs" "$found" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
code, rss_mib, secs, found = int(sys.argv[2]), int(sys.argv[3]) / 1024, float(sys.argv[4]), sys.argv[5]
skipped = {s["path"].rsplit("/", 1)[-1]: s["reason"] for s in r["skipped"]}
for f in ["deep.html", "bomb.pdf", "many-pages.pdf", "huge.txt", "long-heading.md", "normal.md"]:
    print(f"  {f:<16} {'skipped: ' + skipped[f] if f in skipped else 'loaded'}")
c = r["counts"]
print(f"exit {code}; {c['documents']} documents, {c['chunks']} chunks; {secs:.1f} s wall "
      f"(embed {r['timings'].get('embed', 0):.1f} s, {r['embeddings_per_sec']:.1f} chunks/s); "
      f"peak RSS {rss_mib:.0f} MiB; normal file found: {found == 'normal.md'}")
ok = code == 0 and rss_mib < 1536 and secs < 600 and found == "normal.md"
print("goals (exit 0, < 1.5 GB, < 10 min, normal file searchable):", "met" if ok else "NOT met")
PY
