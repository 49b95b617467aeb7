//! Property tests over every loader (Markdown, text, HTML, PDF, JSONL): arbitrary bytes and
//! mutations of valid files never panic, never abort, and what loads is well-formed (section
//! and page offsets inside the text on character boundaries, titles capped).
//!
//! `RAGOPS_FUZZ_CASES` sets the cases per target (default 256, seconds in the test suite);
//! `benches/fuzz.sh` runs them long.

use std::path::PathBuf;

use proptest::prelude::*;
use proptest::test_runner::{Config, FileFailurePersistence};
use ragops_core::{Document, Format, SourcesConfig};
use ragops_load::{load_bytes, SourceFile, MAX_TITLE_CHARS};

fn cases() -> u32 {
    std::env::var("RAGOPS_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(256)
}

fn config() -> Config {
    Config {
        cases: cases(),
        failure_persistence: Some(Box::new(FileFailurePersistence::Off)),
        ..Config::default()
    }
}

fn sources() -> SourcesConfig {
    let mut s = ragops_core::PipelineConfig::from_toml(
        "[sources]\npaths=[\".\"]\n",
        std::path::Path::new("t.toml"),
    )
    .expect("config")
    .sources;
    // Small budgets keep each case fast; breaching one is a skip reason like any other.
    s.max_inflated_bytes = 8 << 20;
    s.max_pages = 200;
    s.max_load_seconds = 10;
    s
}

fn file(format: Format) -> SourceFile {
    let ext = match format {
        Format::Markdown => "md",
        Format::Text => "txt",
        Format::Html => "html",
        Format::Pdf => "pdf",
        Format::Jsonl => "jsonl",
    };
    SourceFile {
        path: PathBuf::from(format!("fuzz.{ext}")),
        id: format!("fuzz.{ext}"),
        display_path: format!("fuzz.{ext}"),
        format,
        size: 0,
        mtime: None,
    }
}

fn check_document(d: &Document) {
    assert!(
        d.title.chars().count() <= MAX_TITLE_CHARS + 1,
        "title not capped"
    );
    for s in &d.sections {
        assert!(s.byte_start <= d.text.len(), "section outside the text");
        assert!(
            d.text.is_char_boundary(s.byte_start),
            "section inside a char"
        );
        assert!(s.title.chars().count() <= MAX_TITLE_CHARS + 1);
    }
    let mut last = 0;
    for p in &d.pages {
        assert!(p.byte_start >= last && p.byte_start <= d.text.len());
        assert!(d.text.is_char_boundary(p.byte_start));
        last = p.byte_start;
    }
}

fn load(format: Format, bytes: &[u8]) {
    let f = file(format);
    if let Ok((docs, _skipped)) = load_bytes(&f, bytes, &sources()) {
        for d in &docs {
            check_document(d);
        }
    }
}

/// A valid file of each format, to mutate.
fn seed(format: Format) -> Vec<u8> {
    match format {
        Format::Markdown => b"# Title\n\nSome *text* with a [link](x).\n\n## Sub \xc3\xa9\n\n```\n# not\n```\n- a\n- b\n".to_vec(),
        Format::Text => "First line\n\nSecond paragraph, caf\u{e9}.\n".as_bytes().to_vec(),
        Format::Html => b"<html><head><title>T</title></head><body><main><h1>H</h1><p>a <b>b</b></p><ul><li>x</li></ul><table><tr><td>1</td></tr></table><pre>c\n d</pre></main></body></html>".to_vec(),
        Format::Pdf => ragops_test_support::pdf::text_pdf(
            "Fuzz",
            &[vec!["Hello world".to_string(), "second line".to_string()], vec!["Page two".to_string()]],
        )
        .expect("pdf"),
        Format::Jsonl => b"{\"id\":\"a\",\"title\":\"A\",\"text\":\"alpha\"}\n{\"id\":2,\"text\":\"two\"}\nnot json\n".to_vec(),
    }
}

/// Byte edits: (position as a fraction of the length, new byte, insert or overwrite).
fn edits() -> impl Strategy<Value = Vec<(f64, u8, bool)>> {
    prop::collection::vec((0.0f64..1.0, any::<u8>(), any::<bool>()), 1..16)
}

fn mutate(mut bytes: Vec<u8>, edits: &[(f64, u8, bool)]) -> Vec<u8> {
    for &(at, b, insert) in edits {
        let i = ((bytes.len() as f64) * at) as usize;
        if insert || i >= bytes.len() {
            bytes.insert(i.min(bytes.len()), b);
        } else {
            bytes[i] = b;
        }
    }
    bytes
}

const FORMATS: [Format; 5] = [
    Format::Markdown,
    Format::Text,
    Format::Html,
    Format::Pdf,
    Format::Jsonl,
];

proptest! {
    #![proptest_config(config())]

    #[test]
    fn arbitrary_bytes_never_break_a_loader(
        bytes in prop::collection::vec(any::<u8>(), 0..2048),
        which in 0usize..5,
    ) {
        load(FORMATS[which], &bytes);
    }

    #[test]
    fn mutated_valid_files_never_break_a_loader(e in edits(), which in 0usize..5) {
        let format = FORMATS[which];
        load(format, &mutate(seed(format), &e));
    }

    #[test]
    fn truncated_valid_files_never_break_a_loader(cut in 0.0f64..1.0, which in 0usize..5) {
        let format = FORMATS[which];
        let s = seed(format);
        let n = (s.len() as f64 * cut) as usize;
        load(format, &s[..n]);
    }

    #[test]
    fn markup_soup_never_breaks_html_or_markdown(
        parts in prop::collection::vec(
            prop::sample::select(vec![
                "<div>", "</div>", "<h2>", "</h2>", "<pre>", "</pre>", "<li>", "<td>", "<br>",
                "<!--", "-->", "<script>", "</script>", "# ", "## ", "```", "\n", "\n\n", "x",
                "é", "<", ">", "&amp;", "<p>", "<table>", "<tr>",
            ]),
            0..400,
        ),
        html in any::<bool>(),
    ) {
        let text = parts.concat();
        load(if html { Format::Html } else { Format::Markdown }, text.as_bytes());
    }
}

/// Regressions found by these properties or by review, kept as plain tests.
#[test]
fn regressions() {
    // A Markdown heading line that is the whole (huge) file.
    load(
        Format::Markdown,
        format!("# {}", "w ".repeat(100_000)).as_bytes(),
    );
    // A PDF header followed by nothing usable.
    load(Format::Pdf, b"%PDF-1.7\n1 0 obj << /Type /Pages /Kids [1 0 R] /Count 1 >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF");
    // A JSONL line with a huge id.
    let line = format!("{{\"id\":\"{}\",\"text\":\"t\"}}\n", "i".repeat(5000));
    let (docs, skipped) =
        load_bytes(&file(Format::Jsonl), line.as_bytes(), &sources()).unwrap_or_default();
    assert!(docs.is_empty() && skipped.len() == 1, "{skipped:?}");
}
