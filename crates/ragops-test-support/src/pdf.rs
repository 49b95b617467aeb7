//! Writes PDFs with lopdf: simple multi-page text PDFs (the fixture PDFs come from here:
//! `cargo run -p ragops-test-support --example make_fixture_pdfs`), and hostile ones.

use lopdf::content::{Content, Operation};
use lopdf::{dictionary, Document, Object, Stream};

/// A PDF with one page per entry of `pages`, each a list of lines (ASCII, Helvetica 11pt),
/// and `title` in the document information dictionary.
pub fn text_pdf(title: &str, pages: &[Vec<String>]) -> Result<Vec<u8>, lopdf::Error> {
    let mut doc = Document::with_version("1.5");
    let pages_id = doc.new_object_id();
    let font_id = doc.add_object(dictionary! {
        "Type" => "Font",
        "Subtype" => "Type1",
        "BaseFont" => "Helvetica",
        "Encoding" => "WinAnsiEncoding",
    });
    let resources_id = doc.add_object(dictionary! {
        "Font" => dictionary! { "F1" => font_id },
    });
    let mut kids = Vec::new();
    for lines in pages {
        let mut ops = vec![
            Operation::new("BT", vec![]),
            Operation::new("Tf", vec!["F1".into(), 11.into()]),
            Operation::new("TL", vec![14.into()]),
            Operation::new("Td", vec![56.into(), 780.into()]),
        ];
        for line in lines {
            ops.push(Operation::new(
                "Tj",
                vec![Object::string_literal(line.as_str())],
            ));
            ops.push(Operation::new("T*", vec![]));
        }
        ops.push(Operation::new("ET", vec![]));
        let content = Content { operations: ops };
        let content_id = doc.add_object(Stream::new(dictionary! {}, content.encode()?));
        let page_id = doc.add_object(dictionary! {
            "Type" => "Page",
            "Parent" => pages_id,
            "Contents" => content_id,
        });
        kids.push(page_id.into());
    }
    let count = kids.len() as i64;
    doc.objects.insert(
        pages_id,
        Object::Dictionary(dictionary! {
            "Type" => "Pages",
            "Kids" => kids,
            "Count" => count,
            "Resources" => resources_id,
            "MediaBox" => vec![0.into(), 0.into(), 595.into(), 842.into()],
        }),
    );
    let catalog_id = doc.add_object(dictionary! {
        "Type" => "Catalog",
        "Pages" => pages_id,
    });
    let info_id = doc.add_object(dictionary! {
        "Title" => lopdf::text_string(title),
        "Producer" => "ragops pdf_writer",
    });
    doc.trailer.set("Root", catalog_id);
    doc.trailer.set("Info", info_id);
    doc.compress();
    let mut out = Vec::new();
    doc.save_to(&mut out)?;
    Ok(out)
}

/// A one-page PDF whose content stream is `op` repeated `times` times, Flate-compressed while
/// it is written (the inflated stream is never held in memory): `0 0 m\n` × 40 million is a
/// 240 MB content stream in a file of about 230 KB.
pub fn content_bomb_pdf(op: &[u8], times: usize) -> std::io::Result<Vec<u8>> {
    use std::io::Write;
    let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::best());
    let block: Vec<u8> = op.repeat(4096);
    let mut left = times;
    while left > 0 {
        let n = left.min(4096);
        z.write_all(&block[..n * op.len()])?;
        left -= n;
    }
    let stream = z.finish()?;
    let mut out = Vec::new();
    let mut offsets = Vec::new();
    out.extend_from_slice(b"%PDF-1.5\n%\xe2\xe3\xcf\xd3\n");
    let objects: Vec<Vec<u8>> = vec![
        b"<< /Type /Catalog /Pages 2 0 R >>".to_vec(),
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 /MediaBox [0 0 595 842] >>".to_vec(),
        b"<< /Type /Page /Parent 2 0 R /Contents 4 0 R >>".to_vec(),
        {
            let mut s = format!(
                "<< /Length {} /Filter /FlateDecode >>\nstream\n",
                stream.len()
            )
            .into_bytes();
            s.extend_from_slice(&stream);
            s.extend_from_slice(b"\nendstream");
            s
        },
    ];
    for (i, body) in objects.iter().enumerate() {
        offsets.push(out.len());
        out.extend_from_slice(format!("{} 0 obj\n", i + 1).as_bytes());
        out.extend_from_slice(body);
        out.extend_from_slice(b"\nendobj\n");
    }
    let xref = out.len();
    out.extend_from_slice(
        format!("xref\n0 {}\n0000000000 65535 f \n", objects.len() + 1).as_bytes(),
    );
    for o in offsets {
        out.extend_from_slice(format!("{o:010} 00000 n \n").as_bytes());
    }
    out.extend_from_slice(
        format!(
            "trailer\n<< /Size {} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n",
            objects.len() + 1
        )
        .as_bytes(),
    );
    Ok(out)
}

/// A PDF with `pages` empty pages (one shared empty content stream), written directly: 60,000
/// pages take about 3 MB.
pub fn empty_pages_pdf(pages: usize) -> Vec<u8> {
    let mut out = Vec::new();
    let mut offsets = Vec::new();
    out.extend_from_slice(b"%PDF-1.5\n");
    let mut obj = |out: &mut Vec<u8>, n: usize, body: &[u8]| {
        offsets.push((n, out.len()));
        out.extend_from_slice(format!("{n} 0 obj\n").as_bytes());
        out.extend_from_slice(body);
        out.extend_from_slice(b"\nendobj\n");
    };
    obj(&mut out, 1, b"<< /Type /Catalog /Pages 2 0 R >>");
    let kids: Vec<String> = (0..pages).map(|i| format!("{} 0 R", i + 4)).collect();
    obj(
        &mut out,
        2,
        format!(
            "<< /Type /Pages /Kids [{}] /Count {pages} /MediaBox [0 0 595 842] >>",
            kids.join(" ")
        )
        .as_bytes(),
    );
    obj(&mut out, 3, b"<< /Length 0 >>\nstream\n\nendstream");
    for i in 0..pages {
        obj(
            &mut out,
            i + 4,
            b"<< /Type /Page /Parent 2 0 R /Contents 3 0 R >>",
        );
    }
    offsets.sort();
    let xref = out.len();
    out.extend_from_slice(format!("xref\n0 {}\n0000000000 65535 f \n", pages + 4).as_bytes());
    for (_, o) in &offsets {
        out.extend_from_slice(format!("{o:010} 00000 n \n").as_bytes());
    }
    out.extend_from_slice(
        format!(
            "trailer\n<< /Size {} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n",
            pages + 4
        )
        .as_bytes(),
    );
    out
}

/// Builds PDFs with chosen fonts and raw content streams, for tests of the font and layout
/// paths of PDF extraction (simple fonts with `/Differences`, CID fonts with ToUnicode maps,
/// Type3 fonts, right-to-left runs, columns).
///
/// ```
/// use ragops_test_support::pdf::PdfBuilder;
/// let mut b = PdfBuilder::new();
/// b.simple_font("F1", "Helvetica", Some("WinAnsiEncoding"), &[]);
/// b.page(b"BT /F1 12 Tf 72 700 Td (Hello) Tj ET");
/// let bytes = b.finish("Hello").unwrap();
/// assert!(bytes.starts_with(b"%PDF"));
/// ```
pub struct PdfBuilder {
    doc: Document,
    pages_id: lopdf::ObjectId,
    fonts: lopdf::Dictionary,
    kids: Vec<Object>,
}

impl Default for PdfBuilder {
    fn default() -> Self {
        Self::new()
    }
}

impl PdfBuilder {
    pub fn new() -> Self {
        let mut doc = Document::with_version("1.5");
        let pages_id = doc.new_object_id();
        Self {
            doc,
            pages_id,
            fonts: lopdf::Dictionary::new(),
            kids: Vec::new(),
        }
    }

    /// Adds an object (a font program, a CharProc) and returns its reference.
    pub fn add(&mut self, obj: impl Into<Object>) -> Object {
        Object::Reference(self.doc.add_object(obj.into()))
    }

    /// Adds a stream and returns its reference.
    pub fn stream(&mut self, dict: lopdf::Dictionary, bytes: &[u8]) -> Object {
        self.add(Stream::new(dict, bytes.to_vec()))
    }

    /// Registers a font dictionary under a resource name (`/F1`), for every page.
    pub fn font(&mut self, name: &str, dict: lopdf::Dictionary) {
        let r = self.add(dict);
        self.fonts.set(name, r);
    }

    /// A simple Type1 font: a base encoding (`None`: the font's own) and `/Differences`
    /// entries of (code, glyph name), one per code.
    pub fn simple_font(
        &mut self,
        name: &str,
        base_font: &str,
        encoding: Option<&str>,
        differences: &[(u8, &str)],
    ) {
        let mut enc = lopdf::Dictionary::new();
        enc.set("Type", "Encoding");
        if let Some(e) = encoding {
            enc.set("BaseEncoding", e);
        }
        let mut diffs = Vec::new();
        for (code, glyph) in differences {
            diffs.push(Object::Integer(i64::from(*code)));
            diffs.push(Object::Name(glyph.as_bytes().to_vec()));
        }
        enc.set("Differences", diffs);
        self.font(
            name,
            dictionary! {
                "Type" => "Font",
                "Subtype" => "Type1",
                "BaseFont" => base_font,
                "Encoding" => enc,
            },
        );
    }

    /// A Type0 font with the Identity-H encoding (two-byte codes) over a TrueType CID font
    /// whose glyphs are all `width` thousandths of an em wide, and a ToUnicode map.
    pub fn cid_font(&mut self, name: &str, to_unicode: &str, width: i64) {
        let cmap = self.stream(dictionary! {}, to_unicode.as_bytes());
        let descendant = self.add(dictionary! {
            "Type" => "Font",
            "Subtype" => "CIDFontType2",
            "BaseFont" => "TestCID",
            "CIDSystemInfo" => dictionary! {
                "Registry" => Object::string_literal("Adobe"),
                "Ordering" => Object::string_literal("Identity"),
                "Supplement" => 0,
            },
            "DW" => width,
        });
        self.font(
            name,
            dictionary! {
                "Type" => "Font",
                "Subtype" => "Type0",
                "BaseFont" => "TestCID",
                "Encoding" => "Identity-H",
                "DescendantFonts" => vec![descendant],
                "ToUnicode" => cmap,
            },
        );
    }

    /// A page (595 × 842 points) with this content stream.
    pub fn page(&mut self, content: &[u8]) {
        let content_id = self
            .doc
            .add_object(Stream::new(dictionary! {}, content.to_vec()));
        let page_id = self.doc.add_object(dictionary! {
            "Type" => "Page",
            "Parent" => self.pages_id,
            "Contents" => content_id,
        });
        self.kids.push(page_id.into());
    }

    pub fn finish(mut self, title: &str) -> Result<Vec<u8>, lopdf::Error> {
        let resources = self.doc.add_object(dictionary! { "Font" => self.fonts });
        let count = self.kids.len() as i64;
        self.doc.objects.insert(
            self.pages_id,
            Object::Dictionary(dictionary! {
                "Type" => "Pages",
                "Kids" => self.kids,
                "Count" => count,
                "Resources" => resources,
                "MediaBox" => vec![0.into(), 0.into(), 595.into(), 842.into()],
            }),
        );
        let catalog_id = self.doc.add_object(dictionary! {
            "Type" => "Catalog",
            "Pages" => self.pages_id,
        });
        let info_id = self.doc.add_object(dictionary! {
            "Title" => lopdf::text_string(title),
        });
        self.doc.trailer.set("Root", catalog_id);
        self.doc.trailer.set("Info", info_id);
        self.doc.compress();
        let mut out = Vec::new();
        self.doc.save_to(&mut out)?;
        Ok(out)
    }
}

/// A ToUnicode CMap with `bfchar` entries (code → text) and `bfrange` entries whose target is
/// an array (first code → one text per code). Codes are two bytes.
pub fn to_unicode_cmap(chars: &[(u16, &str)], ranges: &[(u16, &[&str])]) -> String {
    fn hex(s: &str) -> String {
        s.encode_utf16().map(|u| format!("{u:04X}")).collect()
    }
    let mut out = String::from(
        "/CIDInit /ProcSet findresource begin\n12 dict begin\nbegincmap\n\
         /CMapName /Test-UCS def\n/CMapType 2 def\n\
         1 begincodespacerange\n<0000> <FFFF>\nendcodespacerange\n",
    );
    if !chars.is_empty() {
        out.push_str(&format!("{} beginbfchar\n", chars.len()));
        for (code, text) in chars {
            out.push_str(&format!("<{code:04X}> <{}>\n", hex(text)));
        }
        out.push_str("endbfchar\n");
    }
    if !ranges.is_empty() {
        out.push_str(&format!("{} beginbfrange\n", ranges.len()));
        for (first, texts) in ranges {
            let last = *first + texts.len().saturating_sub(1) as u16;
            let items: Vec<String> = texts.iter().map(|t| format!("<{}>", hex(t))).collect();
            out.push_str(&format!(
                "<{first:04X}> <{last:04X}> [{}]\n",
                items.join(" ")
            ));
        }
        out.push_str("endbfrange\n");
    }
    out.push_str("endcmap\nCMapName currentdict /CMap defineresource pop\nend\nend\n");
    out
}
