//! PDF text extraction: lopdf parses the file; the layer above does what pdf.js and pypdf do.
//!
//! * [`content`]: a streaming lexer of content streams.
//! * [`interp`]: the interpreter (graphics and text state, Form XObjects) → positioned glyphs.
//! * [`font`], [`cmap`], [`encoding`]: codes → text and widths (simple and composite fonts,
//!   ToUnicode, predefined CMaps, `/Differences`, the Adobe Glyph List).
//! * [`layout`]: glyphs → text in reading order (spaces, lines, columns, right-to-left runs,
//!   fake bold, hyphenation).
//!
//! Work per file is bounded by its [`Budget`]: the bytes streams may inflate to (objects kept
//! at load time, page contents and forms together), the number of pages and the time. A file
//! over a budget is skipped with the reason. Pages are found with one walk of the page tree and
//! fonts are parsed once per file, so extraction is linear in the page count.

mod cmap;
mod content;
mod encoding;
mod font;
mod fontfile;
mod interp;
mod layout;
mod tables;

use std::cell::Cell;
use std::panic::{catch_unwind, AssertUnwindSafe};

use lopdf::{Document, Object, ObjectId};
use ragops_core::PageSpan;

use ragops_core::SkipReason;

use crate::Budget;
use interp::{FontCache, Interpreter, Resources};

pub(crate) struct ExtractedPdf {
    pub title: Option<String>,
    pub text: String,
    pub pages: Vec<PageSpan>,
    /// The Info dictionary's author, subject, keywords and dates (`date`: CreationDate as
    /// `YYYY-MM-DD`, `modified`: ModDate).
    pub metadata: std::collections::BTreeMap<String, String>,
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
        // lopdf loads encrypted files without calling the filter: account for what it kept
        // afterwards, so the budget still decides (each stream was capped while inflating).
        Ok(d) if d.encryption_state.is_some() => {
            let kept: u64 = d.objects.values().map(object_size).sum();
            if kept > budget.max_inflated_bytes {
                return Err(budget.inflated());
            }
            Ok((d, kept))
        }
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
    let mut fonts = FontCache::default();
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
        let res = Resources::of_page(&doc, page_id);
        let mut interp = Interpreter::new(
            &doc,
            &mut fonts,
            budget,
            budget.max_inflated_bytes.saturating_sub(inflated),
        );
        interp.run(&content, &res)?;
        inflated = budget
            .max_inflated_bytes
            .saturating_sub(interp.inflate_left);
        let page_text = layout::page_text(&interp.glyphs, page_box(&doc, page_id));
        let page_text = clean_page(&page_text);
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
        if doc.is_encrypted() {
            return Err(SkipReason::Pdf {
                detail: "encrypted, a password is required".into(),
            });
        }
        return Err(SkipReason::NoTextLayer {
            pages: page_ids.len() as u32,
        });
    }
    let title = info_title(&doc).map(|t| crate::cap_title(&t));
    Ok(ExtractedPdf {
        metadata: info_metadata(&doc),
        title,
        text,
        pages: spans,
    })
}

/// The visible area of a page: its CropBox, else its MediaBox (inherited through the page
/// tree), as `[x0, y0, x1, y1]`.
fn page_box(doc: &Document, page: ObjectId) -> Option<[f64; 4]> {
    let mut node = doc.get_dictionary(page).ok()?;
    let mut media = None;
    for _ in 0..32 {
        for key in [b"CropBox".as_slice(), b"MediaBox".as_slice()] {
            if let Some(b) = node
                .get(key)
                .ok()
                .and_then(|o| doc.dereference(o).ok())
                .and_then(|(_, o)| o.as_array().ok())
                .and_then(|a| rect(a))
            {
                if key == b"CropBox" {
                    return Some(b);
                }
                media = media.or(Some(b));
            }
        }
        match node.get(b"Parent").ok().and_then(|o| o.as_reference().ok()) {
            Some(parent) => node = doc.get_dictionary(parent).ok()?,
            None => break,
        }
    }
    media
}

fn rect(a: &[Object]) -> Option<[f64; 4]> {
    if a.len() != 4 {
        return None;
    }
    let v: Vec<f64> = a
        .iter()
        .map(|o| match o {
            Object::Integer(i) => Some(*i as f64),
            Object::Real(r) => Some(f64::from(*r)),
            _ => None,
        })
        .collect::<Option<_>>()?;
    Some([
        v[0].min(v[2]),
        v[1].min(v[3]),
        v[0].max(v[2]),
        v[1].max(v[3]),
    ])
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

/// Declared metadata from the Info dictionary: text fields as they are, dates (`D:YYYYMMDD...`)
/// as `YYYY-MM-DD`. Each value is capped at 1,000 characters.
fn info_metadata(doc: &Document) -> std::collections::BTreeMap<String, String> {
    let mut out = std::collections::BTreeMap::new();
    let Some(info) = doc
        .trailer
        .get(b"Info")
        .ok()
        .and_then(|i| doc.dereference(i).ok())
        .and_then(|(_, i)| i.as_dict().ok())
    else {
        return out;
    };
    for (key, name) in [
        (&b"Author"[..], "author"),
        (b"Subject", "subject"),
        (b"Keywords", "keywords"),
        (b"CreationDate", "date"),
        (b"ModDate", "modified"),
    ] {
        let Some(v) = info
            .get(key)
            .ok()
            .and_then(|v| doc.dereference(v).ok())
            .and_then(|(_, v)| lopdf::decode_text_string(v).ok())
        else {
            continue;
        };
        let v = v.trim();
        let v = if name == "date" || name == "modified" {
            match pdf_date(v) {
                Some(d) => d,
                None => continue,
            }
        } else {
            v.chars().take(1000).collect()
        };
        if !v.is_empty() {
            out.insert(name.to_string(), v);
        }
    }
    out
}

/// `D:20240315103000+01'00'` → `2024-03-15`.
fn pdf_date(v: &str) -> Option<String> {
    let d = v.strip_prefix("D:").unwrap_or(v);
    let digits: String = d.chars().take_while(char::is_ascii_digit).collect();
    if digits.len() < 4 {
        return None;
    }
    let y = &digits[..4];
    let m = digits.get(4..6).unwrap_or("01");
    let day = digits.get(6..8).unwrap_or("01");
    let date = format!("{y}-{m}-{day}");
    ragops_core::filter::parse_date(&date).map(|_| date)
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
    fn pdf_dates_become_iso_dates() {
        assert_eq!(
            pdf_date("D:20240315103000+01'00'").as_deref(),
            Some("2024-03-15")
        );
        assert_eq!(pdf_date("D:2024").as_deref(), Some("2024-01-01"));
        assert_eq!(pdf_date("D:20241399").as_deref(), None);
        assert_eq!(pdf_date("yesterday"), None);
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

    #[test]
    fn the_time_budget_is_a_skip_reason() {
        let pages = vec![vec!["x".to_string()]; 3];
        let bytes = ragops_test_support::pdf::text_pdf("T", &pages).unwrap();
        let spent = Budget::new(64 << 20, 1000, std::time::Duration::ZERO);
        std::thread::sleep(std::time::Duration::from_millis(2));
        assert!(matches!(
            extract(&bytes, &spent),
            Err(SkipReason::Timeout { seconds: 0 })
        ));
    }

    #[test]
    fn encrypted_files_are_held_to_the_inflate_budget_too() {
        // lopdf loads encrypted files without calling the load filter; the budget must still
        // decide. An empty user password, so the file opens; 200 arrays of 1,000 numbers in
        // it (about 10 MB once parsed).
        let pages = vec![vec!["Secret but readable".to_string()]];
        let plain = ragops_test_support::pdf::text_pdf("T", &pages).unwrap();
        let mut doc = Document::load_mem(&plain).unwrap();
        let padding: Vec<Object> = (0..200)
            .map(|_| Object::Reference(doc.add_object(vec![Object::Integer(7); 1000])))
            .collect();
        doc.trailer.set("Padding", padding);
        doc.trailer.set(
            "ID",
            Object::Array(vec![
                Object::string_literal(b"0123456789abcdef"),
                Object::string_literal(b"fedcba9876543210"),
            ]),
        );
        let state = lopdf::EncryptionState::try_from(lopdf::EncryptionVersion::V2 {
            document: &doc,
            owner_password: "owner",
            user_password: "",
            key_length: 128,
            permissions: lopdf::Permissions::all(),
        })
        .unwrap();
        doc.encrypt(&state).unwrap();
        let mut bytes = Vec::new();
        doc.save_to(&mut bytes).unwrap();

        let pdf = extract(&bytes, &budget()).unwrap();
        assert!(pdf.text.contains("Secret but readable"), "{:?}", pdf.text);
        let small = Budget::new(1 << 20, 1000, std::time::Duration::from_secs(60));
        assert!(matches!(
            extract(&bytes, &small),
            Err(SkipReason::Inflated { .. })
        ));
    }

    /// Regression tests of the font and layout paths, on PDFs the test-support writer makes.
    mod paths {
        use super::budget;
        use crate::pdf::extract;
        use lopdf::{dictionary, Object};
        use ragops_test_support::pdf::{to_unicode_cmap, PdfBuilder};

        fn text_of(b: PdfBuilder) -> String {
            let bytes = b.finish("t").unwrap();
            extract(&bytes, &budget()).unwrap().text
        }

        #[test]
        fn simple_font_differences_glyph_names_and_ligatures() {
            let mut b = PdfBuilder::new();
            b.simple_font(
                "F1",
                "Helvetica",
                Some("WinAnsiEncoding"),
                &[
                    (1, "fi"),
                    (2, "uni00E9"),
                    (3, "e.alt"),
                    (4, "fl"),
                    (5, "afii10017"),
                ],
            );
            b.page(b"BT /F1 12 Tf 72 700 Td (of\\001ce caf\\002 t\\003st \\004ow \\005) Tj ET");
            assert_eq!(text_of(b), "office caf\u{e9} test flow \u{410}");
        }

        #[test]
        fn cid_font_with_to_unicode_bfchar_and_bfrange_arrays() {
            let cmap = to_unicode_cmap(
                &[(1, "H"), (2, "i"), (3, "\u{FB01}"), (8, "n"), (7, "e")],
                &[(0x10, &["\u{D55C}", "\u{AD6D}", "\u{C5B4}"])],
            );
            let mut b = PdfBuilder::new();
            b.cid_font("F2", &cmap, 1000);
            b.page(
                b"BT /F2 12 Tf 72 700 Td <00010002> Tj 0 -14 Td <001000110012> Tj \
                  0 -14 Td <000300080007> Tj ET",
            );
            // The ligature code maps to U+FB01, which is written out as "fi".
            assert_eq!(text_of(b), "Hi\n\u{D55C}\u{AD6D}\u{C5B4}\nfine");
        }

        #[test]
        fn type3_font_with_to_unicode() {
            let mut b = PdfBuilder::new();
            let glyph = b.stream(dictionary! {}, b"600 0 0 0 500 700 d1 0 0 500 700 re f");
            let cmap = b.stream(
                dictionary! {},
                b"/CIDInit /ProcSet findresource begin 12 dict begin begincmap\n\
                  1 begincodespacerange <00> <FF> endcodespacerange\n\
                  2 beginbfchar <01> <004F> <02> <004B> endbfchar\n\
                  endcmap end end",
            );
            b.font(
                "T3",
                dictionary! {
                    "Type" => "Font",
                    "Subtype" => "Type3",
                    "FontMatrix" => vec![0.001.into(), 0.into(), 0.into(), 0.001.into(), 0.into(), 0.into()],
                    "FontBBox" => vec![0.into(), 0.into(), 600.into(), 700.into()],
                    "CharProcs" => dictionary! { "g1" => glyph.clone(), "g2" => glyph },
                    "Encoding" => dictionary! {
                        "Type" => "Encoding",
                        "Differences" => vec![1.into(), Object::Name(b"g1".to_vec()), Object::Name(b"g2".to_vec())],
                    },
                    "FirstChar" => 1,
                    "LastChar" => 2,
                    "Widths" => vec![600.into(), 600.into()],
                    "Resources" => dictionary! {},
                    "ToUnicode" => cmap,
                },
            );
            b.page(b"BT /T3 20 Tf 72 700 Td (\\001\\002) Tj ET");
            assert_eq!(text_of(b), "OK");
        }

        #[test]
        fn right_to_left_runs_come_out_in_logical_order() {
            // Hebrew drawn in visual order, as PDF producers write it: glyphs left to right.
            let cmap = to_unicode_cmap(
                &[
                    (1, "\u{5E9}"),
                    (2, "\u{5DC}"),
                    (3, "\u{5D5}"),
                    (4, "\u{5DD}"),
                    (5, "\u{5E2}"),
                ],
                &[],
            );
            let mut b = PdfBuilder::new();
            b.simple_font("F1", "Helvetica", Some("WinAnsiEncoding"), &[]);
            b.cid_font("F2", &cmap, 500);
            b.page(
                b"BT /F1 12 Tf 72 700 Td (ragops ) Tj /F2 12 Tf <0004000300020001> Tj ET \
                  BT /F2 12 Tf 72 686 Td [<0004000200030005> -300 <0004000300020001>] TJ ET",
            );
            assert_eq!(
                text_of(b),
                "ragops \u{5E9}\u{5DC}\u{5D5}\u{5DD}\n\
                 \u{5E9}\u{5DC}\u{5D5}\u{5DD} \u{5E2}\u{5D5}\u{5DC}\u{5DD}"
            );
        }

        #[test]
        fn two_columns_are_read_one_after_the_other() {
            let mut b = PdfBuilder::new();
            b.simple_font("F1", "Helvetica", Some("WinAnsiEncoding"), &[]);
            let words = [
                "one", "two", "three", "four", "five", "six", "seven", "eight",
            ];
            let mut content = String::from("BT /F1 10 Tf\n");
            // Columns at least six ems wide (narrower blocks side by side read as table
            // cells), drawn row by row, left then right, as some producers interleave them.
            for (i, w) in words.iter().enumerate() {
                let y = 700 - 14 * i as i32;
                content.push_str(&format!(
                    "1 0 0 1 50 {y} Tm (line {w} of the alpha column) Tj\n"
                ));
                content.push_str(&format!(
                    "1 0 0 1 320 {y} Tm (line {w} of the beta column) Tj\n"
                ));
            }
            content.push_str("ET");
            b.page(content.as_bytes());
            let text = text_of(b);
            let column = |name: &str| -> Vec<String> {
                words
                    .iter()
                    .map(|w| format!("line {w} of the {name} column"))
                    .collect()
            };
            let (left, right) = (column("alpha"), column("beta"));
            assert_eq!(text, format!("{}\n\n{}", left.join("\n"), right.join("\n")));
        }

        #[test]
        fn hyphenation_fake_bold_and_word_gaps() {
            let mut b = PdfBuilder::new();
            b.simple_font("F1", "Helvetica", Some("WinAnsiEncoding"), &[]);
            b.page(
                b"BT /F1 12 Tf 72 700 Td (An exam-) Tj 0 -14 Td (ple of it.) Tj ET \
                  BT /F1 12 Tf 72 650 Td (Bold) Tj ET BT /F1 12 Tf 72.3 650 Td (Bold) Tj ET \
                  BT /F1 12 Tf 72 630 Td [(spaced)-400(by)-400(kerning)] TJ ET",
            );
            assert_eq!(text_of(b), "An example of it.\n\nBold\n\nspaced by kerning");
        }
    }
}
