//! The `pii` step over documents and chunks: count, redact (before chunking, with every offset
//! the loader recorded moved to the redacted text) or find the chunks to drop.

use std::collections::BTreeMap;

use ragops_core::{Chunk, Document, PiiMode};
use serde::{Deserialize, Serialize};

use super::{counts, redact, Detector, Finding, PiiKind};

/// What the step did in a build: findings per type (in the documents it processed; reused
/// documents are not scanned again), documents that held any, and chunks left out.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PiiTally {
    pub mode: PiiMode,
    /// Findings per type label (`EMAIL`...), never the values.
    pub found: BTreeMap<String, u64>,
    pub documents_with_findings: u64,
    pub documents_redacted: u64,
    pub chunks_dropped: u64,
}

impl PiiTally {
    pub fn add(&mut self, other: &PiiTally) {
        for (k, v) in &other.found {
            *self.found.entry(k.clone()).or_insert(0) += v;
        }
        self.documents_with_findings += other.documents_with_findings;
        self.documents_redacted += other.documents_redacted;
        self.chunks_dropped += other.chunks_dropped;
    }

    fn count(&mut self, c: &BTreeMap<PiiKind, u32>) {
        for (k, v) in c {
            *self.found.entry(k.label().to_string()).or_insert(0) += u64::from(*v);
        }
    }
}

/// Where byte offset `at` of the original text lands in the redacted text: shifted by the
/// length change of every finding before it; an offset inside a finding moves to the start of
/// its placeholder.
fn remap(at: usize, findings: &[Finding]) -> usize {
    let mut shift: isize = 0;
    for f in findings {
        if f.end <= at {
            shift += f.kind.placeholder().len() as isize - (f.end - f.start) as isize;
        } else if f.start < at {
            return (f.start as isize + shift) as usize;
        } else {
            break;
        }
    }
    (at as isize + shift) as usize
}

/// What the step did to one document: its counts, and the byte ranges of the findings in its
/// (unchanged) text under `Detect` and `Drop`, for [`overlaps_pii`].
#[derive(Debug, Clone, Default)]
pub struct Applied {
    pub tally: PiiTally,
    pub ranges: Vec<std::ops::Range<usize>>,
}

/// Runs the step on one document before it is chunked. `Detect` and `Drop` leave it as it is
/// (chunks are dropped after chunking, by [`overlaps_pii`] on the ranges returned);
/// `Redact` replaces every value in its text, title and section titles, and moves section and
/// page offsets to the new text.
pub fn apply(detector: &Detector, mode: PiiMode, doc: &mut Document) -> Applied {
    let findings = detector.find(&doc.text);
    let in_title = detector.find(&doc.title);
    let mut tally = PiiTally {
        mode,
        ..Default::default()
    };
    tally.count(&counts(&findings));
    tally.count(&counts(&in_title));
    if !findings.is_empty() || !in_title.is_empty() {
        tally.documents_with_findings = 1;
    }
    if mode != PiiMode::Redact {
        let ranges = findings.iter().map(|f| f.start..f.end).collect();
        return Applied { tally, ranges };
    }
    let mut changed = false;
    if !findings.is_empty() {
        for s in &mut doc.sections {
            s.byte_start = remap(s.byte_start, &findings);
        }
        for p in &mut doc.pages {
            p.byte_start = remap(p.byte_start, &findings);
        }
        doc.text = redact(&doc.text, &findings);
        changed = true;
    }
    if !in_title.is_empty() {
        doc.title = redact(&doc.title, &in_title);
        changed = true;
    }
    for s in &mut doc.sections {
        let f = detector.find(&s.title);
        if !f.is_empty() {
            s.title = redact(&s.title, &f);
            changed = true;
        }
    }
    tally.documents_redacted = u64::from(changed);
    Applied {
        tally,
        ranges: Vec::new(),
    }
}

/// Whether a chunk's byte range overlaps one of its document's findings (for `Drop`): a value
/// cut by a chunk boundary drops both chunks that hold a part of it.
pub fn overlaps_pii(ranges: &[std::ops::Range<usize>], chunk: &Chunk) -> bool {
    let (start, end) = (chunk.start_byte as usize, chunk.end_byte as usize);
    ranges.iter().any(|r| r.start < end && start < r.end)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ragops_core::{DocId, Format, PageSpan, Section, Sha256};

    fn doc(text: &str) -> Document {
        Document {
            id: DocId::from("d.md"),
            source_path: "d.md".into(),
            format: Format::Markdown,
            title: "Notes for jane@example.com".into(),
            text: text.into(),
            sections: Vec::new(),
            pages: Vec::new(),
            content_hash: Sha256::of(text.as_bytes()),
            size: text.len() as u64,
            mtime: None,
            metadata: Default::default(),
        }
    }

    #[test]
    fn redaction_moves_offsets_to_the_redacted_text() {
        let text = "# Intro\nMail jane.doe@example.com now.\n# Billing\nCard 4111 1111 1111 1111.\n# End\nbye";
        let mut d = doc(text);
        let at = |s: &str| text.find(s).unwrap();
        d.sections = ["# Intro", "# Billing", "# End"]
            .iter()
            .map(|h| Section {
                byte_start: at(h),
                level: 1,
                title: h[2..].to_string(),
            })
            .collect();
        d.pages = vec![
            PageSpan {
                byte_start: 0,
                page: 1,
            },
            PageSpan {
                byte_start: at("# Billing"),
                page: 2,
            },
            // a page break inside a value moves to the placeholder's start
            PageSpan {
                byte_start: at("1111 1111 1111."),
                page: 3,
            },
        ];
        let det = Detector::new(&[], &[]).unwrap();
        let t = apply(&det, PiiMode::Redact, &mut d).tally;
        assert_eq!(
            d.text,
            "# Intro\nMail [EMAIL] now.\n# Billing\nCard [CREDIT_CARD].\n# End\nbye"
        );
        assert_eq!(d.title, "Notes for [EMAIL]");
        for s in &d.sections {
            assert!(
                d.text[s.byte_start..].starts_with(&format!("# {}", s.title)),
                "{s:?}"
            );
        }
        assert_eq!(d.pages[1].byte_start, d.text.find("# Billing").unwrap());
        assert_eq!(d.pages[2].byte_start, d.text.find("[CREDIT_CARD]").unwrap());
        assert_eq!(t.found["EMAIL"], 2, "text and title");
        assert_eq!(t.found["CREDIT_CARD"], 1);
        assert_eq!((t.documents_with_findings, t.documents_redacted), (1, 1));
    }

    #[test]
    fn detect_counts_and_leaves_the_text() {
        let text = "Call +44 20 7946 0958.";
        let mut d = doc(text);
        let det = Detector::new(&[PiiKind::Phone], &[]).unwrap();
        let t = apply(&det, PiiMode::Detect, &mut d).tally;
        assert_eq!(d.text, text);
        assert_eq!(t.found.get("PHONE"), Some(&1));
        assert_eq!(t.found.get("EMAIL"), None, "only the chosen types");
        assert_eq!(t.documents_redacted, 0);
    }
}
