//! Fonts (ISO 32000-1 §9.5–9.10): how a shown string's bytes become glyphs, each with its text
//! and its width.
//!
//! * Simple fonts (Type1, TrueType, Type3): one byte per code; text from the ToUnicode CMap,
//!   else the encoding (base encoding, `/Differences`, glyph names); widths from `/Widths`,
//!   else the standard 14 fonts' metrics.
//! * Composite fonts (Type0): codes split by the encoding CMap (Identity-H/V, an embedded CMap,
//!   or a predefined one); text from ToUnicode, else from the predefined CMap's character set
//!   (UCS-2/UTF-16/UTF-8/UTF-32, or the legacy CJK encodings through encoding_rs); widths by CID
//!   from `/W` and `/DW`.

use std::collections::HashMap;

use lopdf::{Dictionary, Document, Object};

use super::cmap::CMap;
use super::encoding::{self, Base};
use super::fontfile;
use super::tables;

/// Most bytes a font's ToUnicode or encoding CMap may inflate to.
const MAX_CMAP_BYTES: usize = 8 << 20;

/// What a composite font's encoding CMap is.
#[derive(Debug, Clone, PartialEq)]
enum Codes {
    /// Two-byte codes that are their own CIDs.
    Identity,
    /// A CMap stream in the file.
    Embedded(CMap),
    /// A predefined Unicode CMap (`Uni…-UCS2-H`, `-UTF16-`, `-UTF8-`, `-UTF32-`).
    Unicode(Form),
    /// A predefined CMap of a legacy CJK character set.
    Legacy(&'static encoding_rs::Encoding),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Form {
    Utf16,
    Utf8,
    Utf32,
}

/// Widths in glyph units (1/1000 of text space unless the font says otherwise).
#[derive(Debug, Clone, PartialEq)]
enum Widths {
    Simple {
        first: u32,
        widths: Vec<f64>,
        missing: f64,
        /// The standard 14 font's metrics by character, for fonts without `/Widths`.
        core: Option<&'static [(u32, u16)]>,
    },
    Cid {
        default: f64,
        single: HashMap<u32, f64>,
        ranges: Vec<(u32, u32, f64)>,
    },
}

/// A loaded font.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Font {
    /// Simple fonts: the text of each code.
    simple: Option<Vec<Option<String>>>,
    /// Composite fonts: the encoding CMap and the ToUnicode CMap.
    composite: Option<(Codes, Option<CMap>)>,
    widths: Widths,
    /// Glyph units to text space (0.001, or a Type3 font's matrix).
    pub(super) scale: f64,
    /// Vertical writing (Identity-V, `/WMode 1`).
    pub(super) vertical: bool,
    /// Whether widths come from the file or known metrics (else they are estimated, and the
    /// layout is careful with gaps).
    pub(super) widths_known: bool,
}

/// One glyph of a shown string.
pub(super) struct Glyph<'a> {
    /// Its text; `None` when the font gives no way to know it.
    pub text: Option<std::borrow::Cow<'a, str>>,
    /// Advance in text space units per unit of font size.
    pub width: f64,
    /// A single-byte code 32, to which word spacing applies.
    pub word_space: bool,
}

fn name<'a>(doc: &'a Document, d: &'a Dictionary, key: &[u8]) -> Option<&'a [u8]> {
    let o = d.get(key).ok()?;
    let (_, o) = doc.dereference(o).ok()?;
    o.as_name().ok()
}

fn dict<'a>(doc: &'a Document, d: &'a Dictionary, key: &[u8]) -> Option<&'a Dictionary> {
    let o = d.get(key).ok()?;
    let (_, o) = doc.dereference(o).ok()?;
    o.as_dict().ok()
}

fn number(doc: &Document, o: &Object) -> Option<f64> {
    let (_, o) = doc.dereference(o).ok()?;
    match o {
        Object::Integer(i) => Some(*i as f64),
        Object::Real(r) => Some(f64::from(*r)),
        _ => None,
    }
}

fn array<'a>(doc: &'a Document, d: &'a Dictionary, key: &[u8]) -> Option<&'a Vec<Object>> {
    let o = d.get(key).ok()?;
    let (_, o) = doc.dereference(o).ok()?;
    o.as_array().ok()
}

/// The decoded data of a stream-valued entry (a CMap), within the limit.
fn stream_data(doc: &Document, d: &Dictionary, key: &[u8]) -> Option<Vec<u8>> {
    let o = d.get(key).ok()?;
    let (_, o) = doc.dereference(o).ok()?;
    let s = o.as_stream().ok()?;
    s.get_plain_content_with_limit(MAX_CMAP_BYTES).ok()
}

/// The base font name without a subset prefix (`ABCDEF+Times-Roman` → `Times-Roman`).
fn base_font(doc: &Document, d: &Dictionary) -> String {
    let raw = name(doc, d, b"BaseFont").unwrap_or_default();
    let s = String::from_utf8_lossy(raw);
    match s.split_once('+') {
        Some((prefix, rest)) if prefix.len() == 6 => rest.to_string(),
        _ => s.into_owned(),
    }
}

/// The standard 14 font a base font name stands for (also the usual aliases: Arial,
/// TimesNewRoman, CourierNew).
fn core_metrics(base: &str) -> Option<&'static [(u32, u16)]> {
    let lower = base.to_ascii_lowercase().replace([' ', '-', ','], "");
    let bold = lower.contains("bold");
    let italic = lower.contains("italic") || lower.contains("oblique");
    let family = if lower.starts_with("courier") {
        "Courier"
    } else if lower.starts_with("helvetica") || lower.starts_with("arial") {
        "Helvetica"
    } else if lower.starts_with("times") {
        "Times"
    } else if lower.starts_with("symbol") {
        "Symbol"
    } else if lower.starts_with("zapfdingbats") {
        "ZapfDingbats"
    } else {
        return None;
    };
    let full = match (family, bold, italic) {
        ("Times", false, false) => "Times-Roman".to_string(),
        ("Times", true, false) => "Times-Bold".into(),
        ("Times", false, true) => "Times-Italic".into(),
        ("Times", true, true) => "Times-BoldItalic".into(),
        ("Symbol" | "ZapfDingbats", _, _) => family.into(),
        (f, true, true) => format!("{f}-BoldOblique"),
        (f, true, false) => format!("{f}-Bold"),
        (f, false, true) => format!("{f}-Oblique"),
        (f, false, false) => f.into(),
    };
    tables::CORE_WIDTHS
        .iter()
        .find(|(n, _)| *n == full)
        .map(|(_, w)| *w)
}

/// The text of each code of a simple font, before its ToUnicode map: the base encoding (named,
/// the font program's own, or the standard one by font kind), then `/Differences`.
fn simple_encoding(
    doc: &Document,
    d: &Dictionary,
    subtype: &[u8],
    base: &str,
    descriptor: Option<&Dictionary>,
) -> Vec<Option<String>> {
    let flags = descriptor
        .and_then(|fd| fd.get(b"Flags").ok())
        .and_then(|o| number(doc, o))
        .unwrap_or(0.0) as u32;
    let symbolic = flags & 4 != 0;
    let mut base_enc = if base.starts_with("Symbol") {
        Some(Base::Symbol)
    } else if base.starts_with("ZapfDingbats") || base.starts_with("Dingbats") {
        Some(Base::ZapfDingbats)
    } else if subtype == b"TrueType" && !symbolic {
        Some(Base::WinAnsi)
    } else {
        Some(Base::Standard)
    };
    let mut differences: Vec<(u8, Vec<u8>)> = Vec::new();
    // Without a named base encoding, the font program's own encoding is the base.
    let mut named_base = false;
    match d
        .get(b"Encoding")
        .ok()
        .and_then(|o| doc.dereference(o).ok())
    {
        Some((_, Object::Name(n))) => {
            named_base = Base::from_name(n).is_some();
            base_enc = Base::from_name(n).or(base_enc);
        }
        Some((_, Object::Dictionary(e))) => {
            if let Some(n) = name(doc, e, b"BaseEncoding") {
                named_base = Base::from_name(n).is_some();
                base_enc = Base::from_name(n).or(base_enc);
            }
            differences = parse_differences(doc, e);
        }
        _ => {}
    }
    let mut table: Vec<Option<String>> = (0..=255u8)
        .map(|c| base_enc.and_then(|b| b.char(c)).map(String::from))
        .collect();
    if !named_base {
        for (code, glyph) in descriptor
            .and_then(|fd| built_in(doc, fd))
            .unwrap_or_default()
        {
            if let Some(t) = encoding::glyph_text(&glyph) {
                table[code as usize] = Some(t);
            }
        }
    }
    for (code, glyph) in &differences {
        table[*code as usize] = encoding::glyph_text(glyph);
    }
    table
}

/// The `/Differences` array of an encoding dictionary as (code, glyph name) pairs.
fn parse_differences(doc: &Document, e: &Dictionary) -> Vec<(u8, Vec<u8>)> {
    let mut differences = Vec::new();
    if let Some(diffs) = array(doc, e, b"Differences") {
        let mut code: i64 = 0;
        for item in diffs {
            match doc.dereference(item).map(|(_, o)| o) {
                Ok(Object::Integer(i)) => code = *i,
                Ok(Object::Real(r)) => code = *r as i64,
                Ok(Object::Name(n)) => {
                    if (0..256).contains(&code) {
                        differences.push((code as u8, n.clone()));
                    }
                    code += 1;
                }
                _ => {}
            }
        }
    }
    differences
}

impl Font {
    /// Loads a font dictionary. Never fails: what cannot be read falls back (no text for a
    /// code, estimated widths).
    pub(super) fn load(doc: &Document, d: &Dictionary) -> Font {
        let subtype = name(doc, d, b"Subtype").unwrap_or_default();
        let to_unicode = stream_data(doc, d, b"ToUnicode").map(|data| CMap::parse(&data));
        if subtype == b"Type0" {
            return Self::composite(doc, d, to_unicode);
        }
        let base = base_font(doc, d);
        let descriptor = dict(doc, d, b"FontDescriptor");
        let mut table = simple_encoding(doc, d, subtype, &base, descriptor);
        if let Some(tu) = &to_unicode {
            for (code, slot) in table.iter_mut().enumerate() {
                if let Some(t) = tu.text(code as u32) {
                    if !t.is_empty() && t != "\0" {
                        *slot = Some(t);
                    }
                }
            }
        }
        let scale = if subtype == b"Type3" {
            array(doc, d, b"FontMatrix")
                .and_then(|m| m.first())
                .and_then(|o| number(doc, o))
                .filter(|v| v.abs() > 1e-9)
                .unwrap_or(0.001)
        } else {
            0.001
        };
        let first = d
            .get(b"FirstChar")
            .ok()
            .and_then(|o| number(doc, o))
            .unwrap_or(0.0)
            .max(0.0) as u32;
        let widths: Vec<f64> = array(doc, d, b"Widths")
            .map(|a| a.iter().map(|o| number(doc, o).unwrap_or(0.0)).collect())
            .unwrap_or_default();
        let missing = descriptor
            .and_then(|fd| fd.get(b"MissingWidth").ok())
            .and_then(|o| number(doc, o))
            .unwrap_or(0.0);
        let core = if widths.is_empty() {
            core_metrics(&base)
        } else {
            None
        };
        Font {
            widths_known: !widths.is_empty() || core.is_some(),
            simple: Some(table),
            composite: None,
            widths: Widths::Simple {
                first,
                widths,
                missing,
                core,
            },
            scale,
            vertical: false,
        }
    }

    fn composite(doc: &Document, d: &Dictionary, to_unicode: Option<CMap>) -> Font {
        let mut vertical = false;
        let codes = match d
            .get(b"Encoding")
            .ok()
            .and_then(|o| doc.dereference(o).ok())
        {
            Some((_, Object::Name(n))) => {
                vertical = n.ends_with(b"-V");
                predefined(n)
            }
            Some((_, Object::Stream(s))) => {
                let mut cmap = s
                    .get_plain_content_with_limit(MAX_CMAP_BYTES)
                    .map(|data| CMap::parse(&data))
                    .unwrap_or_default();
                vertical = cmap.vertical;
                match cmap.uses.clone() {
                    Some(base) => match predefined(&base) {
                        Codes::Embedded(b) => {
                            cmap.extend_from(&b);
                            Codes::Embedded(cmap)
                        }
                        other if !cmap.has_codespace() => other,
                        _ => Codes::Embedded(cmap),
                    },
                    None => Codes::Embedded(cmap),
                }
            }
            _ => Codes::Identity,
        };
        let descendant = array(doc, d, b"DescendantFonts")
            .and_then(|a| a.first())
            .and_then(|o| doc.dereference(o).ok())
            .and_then(|(_, o)| o.as_dict().ok());
        let (default, single, ranges) = descendant.map(|df| cid_widths(doc, df)).unwrap_or((
            1000.0,
            HashMap::new(),
            Vec::new(),
        ));
        Font {
            widths_known: descendant.is_some(),
            simple: None,
            composite: Some((codes, to_unicode)),
            widths: Widths::Cid {
                default,
                single,
                ranges,
            },
            scale: 0.001,
            vertical,
        }
    }

    /// Calls `f` for each glyph of a shown string.
    pub(super) fn glyphs(&self, bytes: &[u8], mut f: impl FnMut(Glyph<'_>)) {
        if let Some(table) = &self.simple {
            for &b in bytes {
                let text = table[b as usize].as_deref();
                f(Glyph {
                    width: self.simple_width(b, text) * self.scale,
                    text: text.map(encoding::expand_ligatures),
                    word_space: b == 32,
                });
            }
            return;
        }
        let Some((codes, to_unicode)) = &self.composite else {
            return;
        };
        let mut i = 0;
        while i < bytes.len() {
            let rest = &bytes[i..];
            let len = code_len(codes, to_unicode.as_ref(), rest);
            let raw = &rest[..len];
            let code = raw.iter().fold(0u32, |a, &b| a << 8 | u32::from(b));
            let cid = match codes {
                Codes::Identity => code,
                Codes::Embedded(c) => c.cid(code).unwrap_or(0),
                // The CID is not known without Adobe's CMap files; the text is.
                Codes::Unicode(_) | Codes::Legacy(_) => u32::MAX,
            };
            let text = to_unicode
                .as_ref()
                .and_then(|t| t.text(code))
                .filter(|t| !t.is_empty() && t != "\0")
                .or_else(|| charset_text(codes, raw));
            let width = if cid == u32::MAX {
                // Half width for one-byte (ASCII) codes, full width for the others.
                if len == 1 || text.as_deref().is_some_and(|t| t.is_ascii()) {
                    500.0
                } else {
                    1000.0
                }
            } else {
                self.cid_width(cid)
            };
            f(Glyph {
                text: text
                    .map(|t| std::borrow::Cow::Owned(encoding::expand_ligatures(&t).into_owned())),
                width: width * self.scale,
                word_space: len == 1 && code == 32,
            });
            i += len;
        }
    }

    fn simple_width(&self, code: u8, text: Option<&str>) -> f64 {
        let Widths::Simple {
            first,
            widths,
            missing,
            core,
        } = &self.widths
        else {
            return 500.0;
        };
        let c = u32::from(code);
        if c >= *first {
            if let Some(w) = widths.get((c - first) as usize) {
                return *w;
            }
        }
        if let (Some(core), Some(ch)) = (core, text.and_then(|t| t.chars().next())) {
            if let Ok(i) = core.binary_search_by_key(&(ch as u32), |(c, _)| *c) {
                return f64::from(core[i].1);
            }
        }
        if *missing > 0.0 {
            *missing
        } else {
            500.0
        }
    }

    fn cid_width(&self, cid: u32) -> f64 {
        let Widths::Cid {
            default,
            single,
            ranges,
        } = &self.widths
        else {
            return 1000.0;
        };
        if let Some(w) = single.get(&cid) {
            return *w;
        }
        ranges
            .iter()
            .find(|(lo, hi, _)| (*lo..=*hi).contains(&cid))
            .map(|r| r.2)
            .unwrap_or(*default)
    }
}

/// The built-in encoding of the embedded font program (Type 1 or CFF), if any.
fn built_in(doc: &Document, fd: &Dictionary) -> Option<fontfile::BuiltIn> {
    if let Some(data) = stream_data(doc, fd, b"FontFile") {
        return fontfile::type1(&data);
    }
    let o = fd.get(b"FontFile3").ok()?;
    let (_, o) = doc.dereference(o).ok()?;
    let s = o.as_stream().ok()?;
    let subtype = s.dict.get(b"Subtype").ok().and_then(|o| o.as_name().ok());
    if subtype != Some(b"Type1C".as_slice()) {
        return None;
    }
    let data = s.get_plain_content_with_limit(MAX_CMAP_BYTES).ok()?;
    fontfile::cff(&data)
}

/// A predefined CMap by name.
fn predefined(name: &[u8]) -> Codes {
    let n = String::from_utf8_lossy(name);
    if n.starts_with("Identity") {
        return Codes::Identity;
    }
    if n.starts_with("Uni") {
        if n.contains("UCS2") || n.contains("UTF16") {
            return Codes::Unicode(Form::Utf16);
        }
        if n.contains("UTF8") {
            return Codes::Unicode(Form::Utf8);
        }
        if n.contains("UTF32") {
            return Codes::Unicode(Form::Utf32);
        }
    }
    let legacy = if n.contains("RKSJ") {
        Some(encoding_rs::SHIFT_JIS)
    } else if n.starts_with("EUC") || n.starts_with("Ext-") {
        Some(encoding_rs::EUC_JP)
    } else if n.starts_with("GB") {
        Some(encoding_rs::GBK)
    } else if n.starts_with("B5") || n.starts_with("ETen") || n.starts_with("HKscs") {
        Some(encoding_rs::BIG5)
    } else if n.starts_with("KSC") {
        Some(encoding_rs::EUC_KR)
    } else {
        None
    };
    match legacy {
        Some(e) => Codes::Legacy(e),
        None => Codes::Identity,
    }
}

/// The length of the code at the start of `rest`.
fn code_len(codes: &Codes, to_unicode: Option<&CMap>, rest: &[u8]) -> usize {
    let n = rest.len();
    let len = match codes {
        Codes::Identity => 2,
        Codes::Embedded(c) => c.code_len(rest, 2),
        Codes::Unicode(Form::Utf16) => {
            if n >= 4 && (0xD8..0xDC).contains(&rest[0]) {
                4
            } else {
                2
            }
        }
        Codes::Unicode(Form::Utf8) => match rest[0] {
            0x00..=0x7F => 1,
            0xC0..=0xDF => 2,
            0xE0..=0xEF => 3,
            _ => 4,
        },
        Codes::Unicode(Form::Utf32) => 4,
        Codes::Legacy(e) => {
            let lead = rest[0];
            let two = if *e == encoding_rs::SHIFT_JIS {
                (0x81..=0x9F).contains(&lead) || (0xE0..=0xFC).contains(&lead)
            } else {
                lead >= 0x81
            };
            if two {
                2
            } else {
                1
            }
        }
    };
    let _ = to_unicode;
    len.min(n).max(1)
}

/// The text of a code from the predefined CMap's character set.
fn charset_text(codes: &Codes, raw: &[u8]) -> Option<String> {
    let s = match codes {
        Codes::Unicode(Form::Utf16) => {
            let units: Vec<u16> = raw
                .chunks(2)
                .map(|c| u16::from(c[0]) << 8 | u16::from(*c.get(1).unwrap_or(&0)))
                .collect();
            char::decode_utf16(units).filter_map(Result::ok).collect()
        }
        Codes::Unicode(Form::Utf8) => String::from_utf8_lossy(raw).into_owned(),
        Codes::Unicode(Form::Utf32) => {
            let v = raw.iter().fold(0u32, |a, &b| a << 8 | u32::from(b));
            char::from_u32(v).map(String::from).unwrap_or_default()
        }
        Codes::Legacy(e) => e.decode_without_bom_handling(raw).0.into_owned(),
        Codes::Identity | Codes::Embedded(_) => return None,
    };
    (!s.is_empty() && !s.contains('\u{FFFD}')).then_some(s)
}

/// A CIDFont's widths: the default (`/DW`), single CIDs and CID ranges (`/W`).
type CidWidths = (f64, HashMap<u32, f64>, Vec<(u32, u32, f64)>);

/// `/DW` and `/W` of a CIDFont.
fn cid_widths(doc: &Document, df: &Dictionary) -> CidWidths {
    let default = df
        .get(b"DW")
        .ok()
        .and_then(|o| number(doc, o))
        .unwrap_or(1000.0);
    let mut single = HashMap::new();
    let mut ranges = Vec::new();
    if let Some(w) = array(doc, df, b"W") {
        let items: Vec<&Object> = w
            .iter()
            .filter_map(|o| doc.dereference(o).ok().map(|(_, o)| o))
            .collect();
        let mut i = 0;
        while i < items.len() {
            let Some(start) = number(doc, items[i]) else {
                i += 1;
                continue;
            };
            match items.get(i + 1) {
                Some(Object::Array(ws)) => {
                    for (k, o) in ws.iter().enumerate().take(1 << 16) {
                        if let Some(v) = number(doc, o) {
                            single.insert(start as u32 + k as u32, v);
                        }
                    }
                    i += 2;
                }
                Some(end) => {
                    if let (Some(end), Some(v)) = (
                        number(doc, end),
                        items.get(i + 2).and_then(|o| number(doc, o)),
                    ) {
                        ranges.push((start as u32, end as u32, v));
                    }
                    i += 3;
                }
                None => break,
            }
        }
    }
    (default, single, ranges)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn predefined_cmaps_by_name() {
        assert_eq!(predefined(b"Identity-H"), Codes::Identity);
        assert_eq!(predefined(b"UniKS-UCS2-H"), Codes::Unicode(Form::Utf16));
        assert_eq!(predefined(b"UniJIS-UTF8-H"), Codes::Unicode(Form::Utf8));
        assert_eq!(
            predefined(b"90ms-RKSJ-H"),
            Codes::Legacy(encoding_rs::SHIFT_JIS)
        );
        assert_eq!(
            predefined(b"KSCms-UHC-H"),
            Codes::Legacy(encoding_rs::EUC_KR)
        );
        assert_eq!(predefined(b"GBK-EUC-H"), Codes::Legacy(encoding_rs::GBK));
    }

    #[test]
    fn legacy_and_unicode_codes_decode() {
        let sjis = Codes::Legacy(encoding_rs::SHIFT_JIS);
        assert_eq!(code_len(&sjis, None, b"\x82\xa0A"), 2);
        assert_eq!(code_len(&sjis, None, b"A\x82\xa0"), 1);
        assert_eq!(charset_text(&sjis, b"\x82\xa0").as_deref(), Some("あ"));
        let ks = Codes::Legacy(encoding_rs::EUC_KR);
        assert_eq!(charset_text(&ks, b"\xc7\xd1").as_deref(), Some("한"));
        let u16 = Codes::Unicode(Form::Utf16);
        assert_eq!(code_len(&u16, None, b"\xd8\x35\xdc\x00"), 4);
        assert_eq!(
            charset_text(&u16, b"\xd8\x35\xdc\x00").as_deref(),
            Some("\u{1D400}")
        );
    }

    #[test]
    fn core_metrics_for_aliases() {
        let helv = core_metrics("Arial,Bold").expect("Helvetica-Bold");
        let w = |c: char| helv.iter().find(|(k, _)| *k == c as u32).map(|p| p.1);
        assert_eq!(w('m'), Some(889));
        assert!(core_metrics("CMR10").is_none());
        assert!(core_metrics("Times-Roman").is_some());
    }
}
