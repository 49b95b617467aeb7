#!/usr/bin/env python3
"""Lines of Rust code per crate and the longest functions.

Counts non-blank lines that are not comments; "unit" is the lines from the first
`#[cfg(test)]` of a file on, plus a crate's `tests/` and `examples/`. Function lengths come from matching braces after `fn name(`,
with strings and comments stripped. Usage: scripts/code-stats.py [--top N] [--over N]
"""
import os
import re
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def strip(text):
    """Removes comments, string and char literals (keeps newlines)."""
    out, i, n = [], 0, len(text)
    while i < n:
        c = text[i]
        if text.startswith("//", i):
            j = text.find("\n", i)
            i = n if j < 0 else j
        elif text.startswith("/*", i):
            j = text.find("*/", i + 2)
            seg = text[i:n if j < 0 else j + 2]
            out.append("\n" * seg.count("\n"))
            i = n if j < 0 else j + 2
        elif c == "r" and re.match(r'r#*"', text[i:i + 10]) and (i == 0 or not text[i - 1].isalnum()):
            m = re.match(r'r(#*)"', text[i:])
            end = '"' + m.group(1)
            j = text.find(end, i + len(m.group(0)))
            seg = text[i:n if j < 0 else j + len(end)]
            out.append('""' + "\n" * seg.count("\n"))
            i = n if j < 0 else j + len(end)
        elif c == '"':
            j = i + 1
            while j < n and text[j] != '"':
                j += 2 if text[j] == "\\" else 1
            out.append('""' + "\n" * text[i:j].count("\n"))
            i = j + 1
        elif c == "'" and re.match(r"'(\\.|[^\\'])'", text[i:i + 4]):
            m = re.match(r"'(\\.|[^\\'])'", text[i:])
            out.append("' '")
            i += len(m.group(0))
        else:
            out.append(c)
            i += 1
    return "".join(out)


def files():
    for base in ["src", "crates", "tests", "benches"]:
        for d, _, fs in os.walk(os.path.join(ROOT, base)):
            if "/target" in d:
                continue
            for f in fs:
                if f.endswith(".rs"):
                    yield os.path.join(d, f)


def group(path):
    rel = os.path.relpath(path, ROOT)
    parts = rel.split(os.sep)
    if parts[0] == "crates":
        return parts[1]
    if parts[0] == "src":
        return "ragops (bin)"
    return parts[0] + "/"


def main():
    top = int(sys.argv[sys.argv.index("--top") + 1]) if "--top" in sys.argv else 20
    over = int(sys.argv[sys.argv.index("--over") + 1]) if "--over" in sys.argv else 0
    counts, funcs = {}, []
    for path in files():
        raw = open(path, encoding="utf-8").read()
        code = strip(raw)
        lines = code.split("\n")
        g = group(path)
        # Integration tests and examples of a crate count as its test lines.
        whole_test = g not in ("tests/", "benches/") and ("/tests/" in path or "/examples/" in path)
        test_at = 0 if whole_test else next(
            (i for i, l in enumerate(lines) if "#[cfg(test)]" in l), len(lines)
        )
        c, u = counts.get(g, (0, 0))
        for i, l in enumerate(lines):
            if l.strip():
                if i < test_at:
                    c += 1
                else:
                    u += 1
        counts[g] = (c, u)
        in_tests_dir = g in ("tests/", "benches/")
        for m in re.finditer(r"\bfn\s+([A-Za-z_][A-Za-z0-9_]*)", code):
            start = code.find("{", m.end())
            semi = code.find(";", m.end())
            if start < 0 or (0 <= semi < start):
                continue
            depth, j = 0, start
            while j < len(code):
                if code[j] == "{":
                    depth += 1
                elif code[j] == "}":
                    depth -= 1
                    if depth == 0:
                        break
                j += 1
            first = code.count("\n", 0, m.start())
            body = code[m.start():j + 1].split("\n")
            n = sum(1 for l in body if l.strip())
            is_test = in_tests_dir or first >= test_at
            funcs.append((n, os.path.relpath(path, ROOT), first + 1, m.group(1), is_test))
    print(f"{'crate':<24} {'code':>7} {'unit':>7}")
    for g in sorted(counts):
        c, u = counts[g]
        print(f"{g:<24} {c:>7} {u:>7}")
    total = [sum(v[i] for v in counts.values()) for i in (0, 1)]
    print(f"{'total':<24} {total[0]:>7} {total[1]:>7}")
    funcs.sort(reverse=True)
    prod = [f for f in funcs if not f[4]]
    print(f"\nlongest functions outside tests (top {top}):")
    for n, p, line, name, _ in prod[:top]:
        print(f"{n:>5}  {p}:{line} {name}")
    if over:
        big = [f for f in prod if f[0] > over]
        print(f"\n{len(big)} function(s) outside tests over {over} lines")


main()
