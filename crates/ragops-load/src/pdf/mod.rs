//! PDF text extraction: lopdf parses the file, [`content::Lexer`] streams each page's content.
//!
//! Work per file is bounded by its [`Budget`]: the bytes streams may inflate to (objects kept
//! at load time and page contents together), the number of pages and the time. A file over
//! a budget is skipped with the reason. Pages are found with one walk of the page tree, so
//! extraction is linear in the page count.

mod content;

use std::cell::Cell;
use std::collections::BTreeMap;
use std::panic::{catch_unwind, AssertUnwindSafe};

use lopdf::{Document, Encoding, Object, ObjectId};
use ragops_core::PageSpan;

use ragops_core::SkipReason;

use crate::Budget;
use content::{Lexer, Operand};

pub(crate) struct ExtractedPdf {
    pub title: Option<String>,
    pub text: String,
    pub pages: Vec<PageSpan>,
}

/// Most bytes a single stream may inflate to while the file is parsed (object streams).
const MAX_STREAM_BYTES: u64 = 64 << 20;

/// Extracts text page by page. Pages that fail to decode are left out (the others are kept);
/// a file with no extractable text at all is an error that says why.
pub(crate) fn extract(bytes: &[u8], budget: &Budget) -> Result<ExtractedPdf, SkipReason> {
    if !bytes.starts_with(b"%PDF")
        && !bytes[..bytes.len().min(1024)]
            .windows(4)
            .any(|w| w == b"%PDF")
    {
        return Err(SkipReason::Pdf {
            detail: "not a PDF file (no %PDF header)".into(),
        });
    }
    // lopdf is robust, but a parser bug on hostile input must not take the build down.
    match catch_unwind(AssertUnwindSafe(|| extract_inner(bytes, budget))) {
        Ok(r) => r,
        Err(panic) => {
            let msg = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic".into());
            Err(SkipReason::Pdf {
                detail: format!("parser failed: {msg}"),
            })
        }
    }
}

thread_local! {
    /// Bytes the objects kept by the current load may still take, and whether the budget ran
    /// out. lopdf's load filter is a plain function, so the budget lives here; loading runs
    /// on one thread (lopdf's rayon feature is off).
    static LOAD_BUDGET: Cell<(u64, bool)> = const { Cell::new((0, false)) };
}

/// Approximate heap bytes of an object (iterative: nesting depth costs no stack).
fn object_size(obj: &Object) -> u64 {
    const NODE: u64 = 48;
    let mut total = 0u64;
    let mut stack = vec![obj];
    while let Some(o) = stack.pop() {
        total += NODE;
        match o {
            Object::Name(n) => total += n.len() as u64,
            Object::String(s, _) => total += s.len() as u64,
            Object::Array(a) => stack.extend(a.iter()),
            Object::Dictionary(d) => {
                for (k, v) in d.iter() {
                    total += k.len() as u64;
                    stack.push(v);
                }
            }
            Object::Stream(s) => {
                total += s.content.len() as u64;
                for (k, v) in s.dict.iter() {
                    total += k.len() as u64;
                    stack.push(v);
                }
            }
            _ => {}
        }
    }
    total
}

/// lopdf load filter: keeps objects while the budget lasts, then drops the rest and marks
/// the budget as spent (the file is then skipped).
///
/// lopdf keeps the object it passed in for top-level objects and the returned one for
/// members of object streams. Streams are never members of object streams, so a stream is
/// left in place (no copy of its data); other objects, small as a rule, are returned as a copy.
fn keep_within_budget(id: ObjectId, obj: &mut Object) -> Option<(ObjectId, Object)> {
    let size = object_size(obj);
    let keep = LOAD_BUDGET.with(|b| {
        let (left, spent) = b.get();
        if spent || size > left {
            b.set((0, true));
            false
        } else {
            b.set((left - size, false));
            true
        }
    });
    if !keep {
        return None;
    }
    match obj {
        Object::Stream(_) => Some((id, Object::Null)),
        other => Some((id, other.clone())),
    }
}

fn load(bytes: &[u8], budget: &Budget) -> Result<(Document, u64), SkipReason> {
    let attempt = |reconstruct: bool| {
        LOAD_BUDGET.with(|b| b.set((budget.max_inflated_bytes, false)));
        let opts = lopdf::LoadOptions {
            filter: Some(keep_within_budget),
            max_decompressed_size: Some(budget.max_inflated_bytes.min(MAX_STREAM_BYTES) as usize),
            force_reconstruct: reconstruct,
            ..Default::default()
        };
        let doc = Document::load_mem_with_options(bytes, opts);
        let (left, spent) = LOAD_BUDGET.with(|b| b.get());
        (doc, budget.max_inflated_bytes - left, spent)
    };
    let (mut doc, mut used, mut spent) = attempt(false);
    // A damaged file whose page tree did not load: scan it for objects, as lopdf does itself
    // for loads without a filter.
    if let Ok(d) = &doc {
        if !spent && d.xref_recovery.is_some() && d.page_iter().next().is_none() {
            (doc, used, spent) = attempt(true);
        }
    }
    if spent {
        return Err(budget.inflated());
    }
    match doc {
        Ok(d) => Ok((d, used)),
        Err(lopdf::Error::InvalidPassword) | Err(lopdf::Error::Decryption(_)) => {
            Err(SkipReason::Pdf {
                detail: "encrypted, a password is required".into(),
            })
        }
        Err(lopdf::Error::Decompress(lopdf::DecompressError::MemoryLimitExceeded { .. })) => {
            Err(budget.inflated())
        }
        Err(e) => Err(SkipReason::Pdf {
            detail: format!("cannot parse: {e}"),
        }),
    }
}

fn extract_inner(bytes: &[u8], budget: &Budget) -> Result<ExtractedPdf, SkipReason> {
    let (doc, mut inflated) = load(bytes, budget)?;
    let page_ids: Vec<ObjectId> = doc
        .page_iter()
        .take(budget.max_pages as usize + 1)
        .collect();
    if page_ids.len() > budget.max_pages as usize {
        return Err(SkipReason::TooManyPages {
            limit: budget.max_pages,
        });
    }
    if page_ids.is_empty() {
        if doc.is_encrypted() || doc.was_encrypted() {
            return Err(SkipReason::Pdf {
                detail: "encrypted, a password is required".into(),
            });
        }
        return Err(SkipReason::Pdf {
            detail: "no pages found (corrupt or truncated file?)".into(),
        });
    }
    let mut text = String::new();
    let mut spans = Vec::new();
    for (i, &page_id) in page_ids.iter().enumerate() {
        budget.check_time()?;
        let left = budget.max_inflated_bytes.saturating_sub(inflated);
        let content = match doc.get_page_content_with_limit(page_id, left as usize) {
            Ok(c) => c,
            Err(lopdf::Error::Decompress(lopdf::DecompressError::MemoryLimitExceeded {
                ..
            })) => return Err(budget.inflated()),
            Err(_) => continue,
        };
        inflated += content.len() as u64;
        let page_text = clean_page(&page_text(&doc, page_id, &content, budget)?);
        if page_text.is_empty() {
            continue;
        }
        if !text.is_empty() {
            text.push_str("\n\n");
        }
        spans.push(PageSpan {
            byte_start: text.len(),
            page: i as u32 + 1,
        });
        text.push_str(&page_text);
    }
    if text.is_empty() {
        let why = if doc.is_encrypted() {
            "encrypted, a password is required".to_string()
        } else {
            format!(
                "no extractable text in {} pages (image-only or scanned?)",
                page_ids.len()
            )
        };
        return Err(SkipReason::Pdf { detail: why });
    }
    let title = info_title(&doc).map(|t| crate::cap_title(&t));
    Ok(ExtractedPdf {
        title,
        text,
        pages: spans,
    })
}

/// The text a page's content shows, in content order (`Tj`, `TJ`, `'` and `"`, with a line
/// break at `T*` and `ET`), decoded with each font's encoding.
fn page_text(
    doc: &Document,
    page_id: ObjectId,
    content: &[u8],
    budget: &Budget,
) -> Result<String, SkipReason> {
    let fonts = doc.get_page_fonts(page_id).unwrap_or_default();
    let limit = budget.max_inflated_bytes.min(MAX_STREAM_BYTES) as usize;
    let mut encodings: BTreeMap<Vec<u8>, Option<Encoding>> = BTreeMap::new();
    let mut font: Option<Vec<u8>> = None;
    let mut out = String::new();
    for (n, op) in Lexer::new(content).enumerate() {
        if (n + 1).is_multiple_of(65_536) {
            budget.check_time()?;
        }
        let newline = |out: &mut String| {
            if !out.is_empty() && !out.ends_with('\n') {
                out.push('\n');
            }
        };
        let shown: &[Operand] = match op.operator {
            b"Tf" => {
                if let Some(Operand::Name(name)) = op.operands.first() {
                    if !encodings.contains_key(name) {
                        let enc = fonts
                            .get(name)
                            .and_then(|f| f.get_font_encoding_with_limit(doc, limit).ok());
                        encodings.insert(name.clone(), enc);
                    }
                    font = Some(name.clone());
                }
                continue;
            }
            b"Tj" | b"TJ" => &op.operands,
            b"'" => {
                newline(&mut out);
                &op.operands
            }
            b"\"" => {
                newline(&mut out);
                op.operands.get(2).map(std::slice::from_ref).unwrap_or(&[])
            }
            b"T*" | b"ET" => {
                newline(&mut out);
                continue;
            }
            _ => continue,
        };
        if let Some(Some(enc)) = font.as_ref().and_then(|f| encodings.get(f)) {
            collect_text(&mut out, enc, shown);
        }
    }
    Ok(out)
}

/// Appends the text of string operands; a `TJ` adjustment of more than 100 thousandths of an
/// em is a word gap.
fn collect_text(out: &mut String, enc: &Encoding, operands: &[Operand]) {
    for o in operands {
        match o {
            Operand::Str(bytes) => {
                let _ = enc.write_to_string(bytes, out);
            }
            Operand::Array(items) => {
                for item in items {
                    match item {
                        Operand::Str(bytes) => {
                            let _ = enc.write_to_string(bytes, out);
                        }
                        other if other.as_number().is_some_and(|n| n < -100.0) => out.push(' '),
                        _ => {}
                    }
                }
                out.push(' ');
            }
            _ => {}
        }
    }
}

/// Trims lines, drops control characters and collapses runs of blank lines.
fn clean_page(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    let mut blank = 0;
    for line in raw.lines() {
        let line: String = line
            .chars()
            .filter(|c| !c.is_control() || *c == '\t')
            .collect();
        let line = line.trim();
        if line.is_empty() {
            blank += 1;
            continue;
        }
        if !out.is_empty() {
            out.push_str(if blank > 0 { "\n\n" } else { "\n" });
        }
        blank = 0;
        out.push_str(line);
    }
    out
}

fn info_title(doc: &Document) -> Option<String> {
    let info = doc.trailer.get(b"Info").ok()?;
    let (_, info) = doc.dereference(info).ok()?;
    let title = info.as_dict().ok()?.get(b"Title").ok()?;
    let (_, title) = doc.dereference(title).ok()?;
    let t = lopdf::decode_text_string(title).ok()?;
    let t = t.trim();
    (!t.is_empty() && !t.eq_ignore_ascii_case("untitled")).then(|| t.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn budget() -> Budget {
        Budget::new(64 << 20, 1000, std::time::Duration::from_secs(60))
    }

    #[test]
    fn pages_and_title_round_trip() {
        let pages = vec![
            vec!["Page one line".to_string(), "second line".to_string()],
            vec!["Page two".to_string()],
            vec!["Page three".to_string()],
        ];
        let bytes = ragops_test_support::pdf::text_pdf("Runbook", &pages).unwrap();
        let pdf = extract(&bytes, &budget()).unwrap();
        assert_eq!(pdf.title.as_deref(), Some("Runbook"));
        let numbers: Vec<u32> = pdf.pages.iter().map(|p| p.page).collect();
        assert_eq!(numbers, vec![1, 2, 3]);
        let p2 = &pdf.text[pdf.pages[1].byte_start..pdf.pages[2].byte_start];
        assert!(p2.contains("Page two"), "{p2:?}");
        assert!(pdf.text.contains("second line"));
    }

    #[test]
    fn truncated_and_garbage_are_errors() {
        let pages = vec![vec!["Hello".to_string()]; 3];
        let bytes = ragops_test_support::pdf::text_pdf("T", &pages).unwrap();
        let cut = &bytes[..bytes.len() / 2];
        assert!(matches!(
            extract(cut, &budget()),
            Err(SkipReason::Pdf { .. }) | Ok(_)
        ));
        let err = extract(b"hello world, not a pdf", &budget()).err().unwrap();
        assert!(err.to_string().contains("not a PDF"), "{err}");
        let err = extract(b"%PDF-1.7\n%%garbage", &budget()).err().unwrap();
        assert!(matches!(err, SkipReason::Pdf { .. }));
    }

    #[test]
    fn page_count_budget_is_a_skip_reason() {
        let pages = vec![vec!["x".to_string()]; 5];
        let bytes = ragops_test_support::pdf::text_pdf("T", &pages).unwrap();
        let b = Budget::new(64 << 20, 4, std::time::Duration::from_secs(60));
        assert!(matches!(
            extract(&bytes, &b),
            Err(SkipReason::TooManyPages { limit: 4 })
        ));
    }
}
