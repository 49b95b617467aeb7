#!/usr/bin/env python3
"""Runs Microsoft Presidio's pattern recognizers over fixtures/pii/labelled.jsonl and prints one
JSON line per passage: {"id", "findings": [{"type", "start", "end", "score"}]} (code-point
offsets, Presidio's entity names mapped onto the labelled set's).

The recognizers are called directly, as Presidio's AnalyzerEngine would call them (duplicates
removed the same way), without an NLP engine: spaCy's models are not on PyPI, so the context words that raise a low-scoring
match are not applied. Every result is kept (AnalyzerEngine's default threshold is 0), and
`--min-score` raises the cut. Used by benches/pii.rs.
"""

import argparse
import json
import logging
import sys

# The e-mail recognizer's tldextract tries to download the public suffix list (no network
# here) and falls back to its bundled copy, logging a traceback per try.
logging.getLogger("tldextract").setLevel(logging.CRITICAL)

from presidio_analyzer import EntityRecognizer
from presidio_analyzer.predefined_recognizers import (
    CreditCardRecognizer,
    EmailRecognizer,
    IbanRecognizer,
    IpRecognizer,
    PhoneRecognizer,
    UsSsnRecognizer,
)

MAP = {
    "EMAIL_ADDRESS": "EMAIL",
    "PHONE_NUMBER": "PHONE",
    "CREDIT_CARD": "CREDIT_CARD",
    "IBAN_CODE": "IBAN",
    "IP_ADDRESS": "IP_ADDRESS",
    "US_SSN": "US_SSN",
}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("labelled")
    ap.add_argument("--min-score", type=float, default=0.0)
    args = ap.parse_args()
    recognizers = [
        CreditCardRecognizer(),
        EmailRecognizer(),
        IbanRecognizer(),
        IpRecognizer(),
        PhoneRecognizer(),
        UsSsnRecognizer(),
    ]
    with open(args.labelled, encoding="utf-8") as f:
        for line in f:
            rec = json.loads(line)
            results = []
            for r in recognizers:
                results += r.analyze(rec["text"], r.supported_entities, None) or []
            # as AnalyzerEngine does: a result inside another of its type is dropped
            results = EntityRecognizer.remove_duplicates(results)
            findings = []
            for res in results:
                    if res.score < args.min_score or res.entity_type not in MAP:
                        continue
                    findings.append(
                        {
                            "type": MAP[res.entity_type],
                            "start": res.start,
                            "end": res.end,
                            "score": res.score,
                        }
                    )
            sys.stdout.write(json.dumps({"id": rec["id"], "findings": findings}) + "\n")


if __name__ == "__main__":
    main()
