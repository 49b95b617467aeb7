#!/usr/bin/env python3
"""Language identification with lingua (the PyPI package `lingua-language-detector`, the
Rust library behind a Python binding), all 75 of its languages, on the JSONL files given
({"lang", "text"} per line). Prints one JSON line per input line: {"file", "i", "lang"}
(ISO 639-1, lower case, or null), then a last line {"seconds": ...} for the detection alone
(model loading excluded: lingua loads its models lazily, so every language is warmed on the
first file before the clock starts). Used by benches/lang.rs."""

import json
import sys
import time

from lingua import LanguageDetectorBuilder


def main():
    files = sys.argv[1:]
    detector = LanguageDetectorBuilder.from_all_languages().with_preloaded_language_models().build()
    inputs = []
    for f in files:
        with open(f, encoding="utf-8") as fh:
            for i, line in enumerate(fh):
                inputs.append((f, i, json.loads(line)["text"]))
    t = time.perf_counter()
    out = []
    for f, i, text in inputs:
        lang = detector.detect_language_of(text)
        out.append({"file": f, "i": i, "lang": lang.iso_code_639_1.name.lower() if lang else None})
    secs = time.perf_counter() - t
    for o in out:
        sys.stdout.write(json.dumps(o) + "\n")
    sys.stdout.write(json.dumps({"seconds": secs}) + "\n")


if __name__ == "__main__":
    main()
