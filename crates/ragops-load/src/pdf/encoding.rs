//! Simple-font encodings (ISO 32000-1 §9.6.6, Annex D): the base encodings, `/Differences`,
//! and glyph names to Unicode through the Adobe Glyph List (with `uniXXXX`, `uXXXX[XX]` and
//! ligature names), as pdf.js and pypdf do.

use super::tables;

/// A base encoding of a simple font.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Base {
    Standard,
    WinAnsi,
    MacRoman,
    PdfDoc,
    Symbol,
    ZapfDingbats,
}

impl Base {
    pub(super) fn from_name(name: &[u8]) -> Option<Base> {
        Some(match name {
            b"StandardEncoding" => Base::Standard,
            b"WinAnsiEncoding" => Base::WinAnsi,
            b"MacRomanEncoding" | b"MacExpertEncoding" => Base::MacRoman,
            b"PDFDocEncoding" => Base::PdfDoc,
            _ => return None,
        })
    }

    fn table(self) -> &'static [u16; 256] {
        match self {
            Base::Standard => &tables::STANDARD,
            Base::WinAnsi => &tables::WIN_ANSI,
            Base::MacRoman => &tables::MAC_ROMAN,
            Base::PdfDoc => &tables::PDF_DOC,
            Base::Symbol => &tables::SYMBOL,
            Base::ZapfDingbats => &tables::ZAPF_DINGBATS,
        }
    }

    /// The character `code` stands for in this encoding.
    pub(super) fn char(self, code: u8) -> Option<char> {
        match self.table()[code as usize] {
            0 => None,
            u => char::from_u32(u32::from(u)),
        }
    }
}

/// The text a glyph name stands for: the Adobe Glyph List, `uniXXXX…` (one or more BMP
/// values), `uXXXX`–`uXXXXXX`, names with a suffix (`a.sc`, `f_i`: components joined by `_`).
pub(super) fn glyph_text(name: &[u8]) -> Option<String> {
    let name = std::str::from_utf8(name).ok()?;
    // Suffixes after a period do not change the character (`A.swash`).
    let base = name.split('.').next().unwrap_or(name);
    if base.is_empty() {
        return None;
    }
    if let Some(t) = lookup(base) {
        return Some(t.to_string());
    }
    if base.contains('_') {
        let parts: Option<Vec<String>> = base.split('_').map(component).collect();
        return parts.map(|p| p.concat());
    }
    component(base)
}

fn lookup(name: &str) -> Option<&'static str> {
    tables::GLYPH_LIST
        .binary_search_by(|(n, _)| (*n).cmp(name))
        .ok()
        .map(|i| tables::GLYPH_LIST[i].1)
}

/// One component of a glyph name: the list, `uniXXXX…`, or `uXXXX`..`uXXXXXX`.
fn component(name: &str) -> Option<String> {
    if let Some(t) = lookup(name) {
        return Some(t.to_string());
    }
    if let Some(hex) = name.strip_prefix("uni") {
        if hex.len() >= 4 && hex.len() % 4 == 0 && hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            let units: Vec<u16> = hex
                .as_bytes()
                .chunks(4)
                .filter_map(|c| u16::from_str_radix(std::str::from_utf8(c).ok()?, 16).ok())
                .collect();
            let s: String = char::decode_utf16(units).filter_map(Result::ok).collect();
            return (!s.is_empty()).then_some(s);
        }
    }
    if let Some(hex) = name.strip_prefix('u') {
        if (4..=6).contains(&hex.len()) && hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            let v = u32::from_str_radix(hex, 16).ok()?;
            return char::from_u32(v).map(String::from);
        }
    }
    None
}

/// The ligatures fonts map single glyphs to, expanded: a search for "find" must match the text
/// drawn with an "ﬁ" glyph.
pub(super) fn expand_ligatures(text: &str) -> std::borrow::Cow<'_, str> {
    if !text.chars().any(|c| ('\u{FB00}'..='\u{FB06}').contains(&c)) {
        return std::borrow::Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 4);
    for c in text.chars() {
        match c {
            '\u{FB00}' => out.push_str("ff"),
            '\u{FB01}' => out.push_str("fi"),
            '\u{FB02}' => out.push_str("fl"),
            '\u{FB03}' => out.push_str("ffi"),
            '\u{FB04}' => out.push_str("ffl"),
            '\u{FB05}' | '\u{FB06}' => out.push_str("st"),
            c => out.push(c),
        }
    }
    std::borrow::Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn glyph_names_through_the_list_and_conventions() {
        assert_eq!(glyph_text(b"A").as_deref(), Some("A"));
        assert_eq!(glyph_text(b"eacute").as_deref(), Some("é"));
        assert_eq!(glyph_text(b"fi").as_deref(), Some("\u{FB01}"));
        assert_eq!(glyph_text(b"uni0627").as_deref(), Some("\u{627}"));
        assert_eq!(glyph_text(b"uni00660069").as_deref(), Some("fi"));
        assert_eq!(glyph_text(b"u1D400").as_deref(), Some("\u{1D400}"));
        assert_eq!(glyph_text(b"a.sc").as_deref(), Some("a"));
        assert_eq!(glyph_text(b"f_f_i").as_deref(), Some("ffi"));
        assert_eq!(glyph_text(b"g123"), None);
        assert_eq!(glyph_text(b""), None);
    }

    #[test]
    fn base_encodings_differ_where_they_should() {
        assert_eq!(Base::WinAnsi.char(0x93), Some('\u{201C}'));
        assert_eq!(Base::MacRoman.char(0x8E), Some('é'));
        assert_eq!(Base::Standard.char(0x27), Some('\u{2019}'));
        assert_eq!(Base::Symbol.char(0x61), Some('α'));
    }

    #[test]
    fn ligatures_expand() {
        assert_eq!(
            expand_ligatures("\u{FB01}nd the \u{FB02}ow"),
            "find the flow"
        );
        assert!(matches!(
            expand_ligatures("plain"),
            std::borrow::Cow::Borrowed(_)
        ));
    }
}
