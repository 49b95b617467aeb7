//! PDF text extraction with lopdf: text per page, page numbers kept.

use std::panic::{catch_unwind, AssertUnwindSafe};

use ragops_core::PageSpan;

use crate::LoadError;

pub struct ExtractedPdf {
    pub title: Option<String>,
    pub text: String,
    pub pages: Vec<PageSpan>,
}

/// Extracts text page by page. Pages that fail to decode are left out (the others are kept);
/// a file with no extractable text at all is an error that says why.
pub fn extract(bytes: &[u8]) -> Result<ExtractedPdf, LoadError> {
    if !bytes.starts_with(b"%PDF")
        && !bytes[..bytes.len().min(1024)]
            .windows(4)
            .any(|w| w == b"%PDF")
    {
        return Err(LoadError::Pdf("not a PDF file (no %PDF header)".into()));
    }
    // lopdf is robust, but a parser bug on hostile input must not take the build down.
    match catch_unwind(AssertUnwindSafe(|| extract_inner(bytes))) {
        Ok(r) => r,
        Err(panic) => {
            let msg = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic".into());
            Err(LoadError::Pdf(format!("parser failed: {msg}")))
        }
    }
}

fn extract_inner(bytes: &[u8]) -> Result<ExtractedPdf, LoadError> {
    let doc = match lopdf::Document::load_mem(bytes) {
        Ok(d) => d,
        Err(lopdf::Error::InvalidPassword) | Err(lopdf::Error::Decryption(_)) => {
            return Err(LoadError::Pdf("encrypted, a password is required".into()))
        }
        Err(e) => return Err(LoadError::Pdf(format!("cannot parse: {e}"))),
    };
    let pages = doc.get_pages();
    if pages.is_empty() {
        if doc.is_encrypted() || doc.was_encrypted() {
            return Err(LoadError::Pdf("encrypted, a password is required".into()));
        }
        return Err(LoadError::Pdf(
            "no pages found (corrupt or truncated file?)".into(),
        ));
    }
    let mut text = String::new();
    let mut spans = Vec::new();
    let mut failed = 0usize;
    for &number in pages.keys() {
        let page_text = match doc.extract_text(&[number]) {
            Ok(t) => t,
            Err(_) => {
                failed += 1;
                continue;
            }
        };
        let page_text = clean_page(&page_text);
        if page_text.is_empty() {
            continue;
        }
        if !text.is_empty() {
            text.push_str("\n\n");
        }
        spans.push(PageSpan {
            byte_start: text.len(),
            page: number,
        });
        text.push_str(&page_text);
    }
    if text.is_empty() {
        let why = if doc.is_encrypted() {
            "encrypted, a password is required".to_string()
        } else if failed > 0 {
            format!(
                "text of {failed} of {} pages could not be decoded",
                pages.len()
            )
        } else {
            format!(
                "no extractable text in {} pages (image-only or scanned?)",
                pages.len()
            )
        };
        return Err(LoadError::Pdf(why));
    }
    let title = info_title(&doc);
    Ok(ExtractedPdf {
        title,
        text,
        pages: spans,
    })
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

fn info_title(doc: &lopdf::Document) -> Option<String> {
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

    #[test]
    fn pages_and_title_round_trip() {
        let pages = vec![
            vec!["Page one line".to_string(), "second line".to_string()],
            vec!["Page two".to_string()],
            vec!["Page three".to_string()],
        ];
        let bytes = crate::pdf_writer::text_pdf("Runbook", &pages).unwrap();
        let pdf = extract(&bytes).unwrap();
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
        let bytes = crate::pdf_writer::text_pdf("T", &pages).unwrap();
        let cut = &bytes[..bytes.len() / 2];
        assert!(matches!(extract(cut), Err(LoadError::Pdf(_)) | Ok(_)));
        let err = extract(b"hello world, not a pdf").err().unwrap();
        assert!(err.to_string().contains("not a PDF"), "{err}");
        let err = extract(b"%PDF-1.7\n%%garbage").err().unwrap();
        assert!(matches!(err, LoadError::Pdf(_)));
    }
}
