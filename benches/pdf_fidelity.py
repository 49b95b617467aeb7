#!/usr/bin/env python3
"""PDF text fidelity and speed: ragops against pdftotext (poppler) and pypdf, side by side.

For every PDF in the given directories (default ../shared/data/pdfs) it extracts the text with
`ragops extract --json`, `pdftotext` and pypdf, and prints per file the bag-of-words F1 of
ragops against each of them (and of pypdf against pdftotext, for scale), then the means over
the files that have a text layer. Words are NFKC-normalised, lower-cased runs of letters and
digits (Unicode \\w).

Right-to-left text: pdftotext writes each right-to-left run in visual order (characters
reversed) between the embedding marks U+202B and U+202C, with left-to-right runs inside it
between U+202A and U+202C. ragops and pypdf write logical order, as the Unicode bidi algorithm
defines it. Before words are compared, such runs of pdftotext's output are put back into
logical order (reversed, nested left-to-right runs kept as they are); the raw score is
printed for the files where this applied. With --speed FILE it also times the three extractors on FILE (best of
--runs, wall clock, one process each).

Usage: benches/pdf_fidelity.py [--ragops target/release/ragops] [--speed refman.pdf] [DIR...]
"""
import argparse
import collections
import json
import logging
import os
import re
import statistics
import subprocess
import sys
import time
import unicodedata

WORD = re.compile(r"\w+", re.UNICODE)


def words(text):
    text = unicodedata.normalize("NFKC", text).lower()
    return collections.Counter(WORD.findall(text))


def f1(a, b):
    """Bag-of-words F1 of a against b (symmetric)."""
    if not a and not b:
        return 1.0
    overlap = sum((a & b).values())
    total = sum(a.values()) + sum(b.values())
    return 2.0 * overlap / total if total else 0.0


def ragops_texts(binary, files):
    # Exit status 1 means some file was skipped: its reason is in the JSON.
    p = subprocess.run([binary, "extract", "--json", *files], capture_output=True)
    if p.returncode not in (0, 1):
        sys.exit(f"ragops extract failed: {p.stderr.decode(errors='replace')}")
    out = p.stdout
    result = {}
    for f in json.loads(out):
        text = "\n".join(d["text"] for d in f["documents"])
        result[f["path"]] = (text, f["skipped"])
    return result


def pdftotext(path):
    p = subprocess.run(
        ["pdftotext", "-q", "-enc", "UTF-8", path, "-"], capture_output=True
    )
    return p.stdout.decode("utf-8", "replace") if p.returncode == 0 else ""


RLE, LRE, PDF_MARK = "\u202b", "\u202a", "\u202c"


def logical(text):
    """pdftotext's visual-order right-to-left runs (RLE ... PDF) in logical order."""

    def parse(i, rtl):
        items = []  # characters, or lists (nested runs, already in logical order)
        while i < len(text):
            c = text[i]
            if c in (RLE, LRE):
                sub, i = parse(i + 1, c == RLE)
                items.append(sub)
                continue
            i += 1
            if c == PDF_MARK:
                break
            items.append(c)
        if rtl:
            items.reverse()
        return "".join(x if isinstance(x, str) else x for x in items), i

    out, i = [], 0
    while i < len(text):
        s, i = parse(i, False)
        out.append(s)
    return "".join(out)


def pypdf_text(path):
    import pypdf

    logging.getLogger("pypdf").setLevel(logging.CRITICAL)  # its warnings about damaged files

    try:
        reader = pypdf.PdfReader(path)
        if reader.is_encrypted:
            return ""
        return "\n".join((page.extract_text() or "") for page in reader.pages)
    except Exception:  # a peer failing on a file scores as empty, as ragops would
        return ""


def fidelity(args):
    files = []
    for d in args.dirs:
        files += sorted(
            os.path.join(d, f) for f in os.listdir(d) if f.lower().endswith(".pdf")
        )
    ours = ragops_texts(args.ragops, files)
    raw_rtl = []
    rows = []
    print(f"{'file':40} {'words':>7} {'vs pdftotext':>13} {'vs pypdf':>9} {'pypdf vs pdftotext':>19}  ragops")
    for path in files:
        text, skipped = ours[path]
        poppler = pdftotext(path)
        a, p, y = words(text), words(logical(poppler)), words(pypdf_text(path))
        if RLE in poppler:
            raw_rtl.append((os.path.basename(path), f1(a, words(poppler))))
        layer = sum(p.values()) > 0 or sum(y.values()) > 0
        name = os.path.basename(path)
        if not layer:
            print(f"{name:40} {'-':>7} {'-':>13} {'-':>9} {'-':>19}  no text layer in either peer; ragops: {skipped or 'text'}")
            continue
        row = (name, sum(p.values()), f1(a, p), f1(a, y), f1(y, p))
        rows.append(row)
        note = f"skipped: {skipped}" if skipped else ""
        print(f"{name:40} {row[1]:>7} {row[2]:>13.3f} {row[3]:>9.3f} {row[4]:>19.3f}  {note}")
    if rows:
        print(
            f"{'mean over ' + str(len(rows)) + ' files with a text layer':40} {'':>7} "
            f"{statistics.mean(r[2] for r in rows):>13.3f} {statistics.mean(r[3] for r in rows):>9.3f} "
            f"{statistics.mean(r[4] for r in rows):>19.3f}"
        )
        worst = min(rows, key=lambda r: r[2])
        print(f"lowest vs pdftotext: {worst[0]} {worst[2]:.3f}")
    for name, raw in raw_rtl:
        print(f"right-to-left: {name} vs pdftotext's raw visual-order output: {raw:.3f}")


def best_of(runs, cmd):
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        times.append(time.perf_counter() - t)
    return min(times), statistics.median(times)


def speed(args):
    path = args.speed
    pages = subprocess.run(["pdfinfo", path], capture_output=True, text=True).stdout
    n = next((l.split()[-1] for l in pages.splitlines() if l.startswith("Pages:")), "?")
    print(f"\nspeed on {os.path.basename(path)} ({n} pages), best / median of {args.runs} runs:")
    peers = [
        ("ragops extract", [args.ragops, "extract", "--json", path]),
        ("pdftotext", ["pdftotext", "-q", "-enc", "UTF-8", path, "/dev/null"]),
    ]
    if not args.no_pypdf_speed:
        peers.append(("pypdf", [sys.executable, "-c",
                                "import pypdf,sys; r=pypdf.PdfReader(sys.argv[1]); [p.extract_text() for p in r.pages]",
                                path]))
    for name, cmd in peers:
        best, med = best_of(args.runs if name != "pypdf" else 1, cmd)
        print(f"  {name:16} {best:8.2f} s  {med:8.2f} s")
    ours = words(ragops_texts(args.ragops, [path])[path][0])
    print(f"  F1 of ragops vs pdftotext on it: {f1(ours, words(pdftotext(path))):.3f}")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("dirs", nargs="*", default=["../shared/data/pdfs"])
    ap.add_argument("--ragops", default="target/release/ragops")
    ap.add_argument("--speed", help="a large PDF to time the extractors on")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--no-pypdf-speed", action="store_true", help="skip pypdf in the timing (slow)")
    args = ap.parse_args()
    fidelity(args)
    if args.speed:
        speed(args)


if __name__ == "__main__":
    main()
