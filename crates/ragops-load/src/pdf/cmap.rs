//! CMaps (ISO 32000-1 §9.7.5, §9.10.3): how a string's bytes split into character codes, and
//! what each code means: a CID (encoding CMaps of Type0 fonts) or Unicode text (ToUnicode).
//!
//! Parsed with the content-stream lexer (CMaps are PostScript-like token streams). Ranges are
//! kept as ranges, so a `<0000> <FFFF>` range costs one entry, and a lookup is a binary search.

use std::collections::HashMap;

use super::content::{Lexer, Operand};

/// Most entries kept from one CMap (bfchar/cidchar pairs plus ranges); a larger one is cut.
const MAX_ENTRIES: usize = 1 << 20;
/// Most operands one CMap section may carry (a section of 100 pairs has 200).
const MAX_OPERANDS: usize = 1 << 14;

/// A codespace range: codes of `len` bytes from `lo` to `hi`, compared byte by byte.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Codespace {
    len: u8,
    lo: u32,
    hi: u32,
}

impl Codespace {
    /// Whether `bytes` (of this range's length) fall in the range, byte by byte.
    fn contains(&self, bytes: &[u8]) -> bool {
        let n = self.len as usize;
        (0..n).all(|i| {
            let shift = 8 * (n - 1 - i);
            let lo = (self.lo >> shift) as u8;
            let hi = (self.hi >> shift) as u8;
            (lo..=hi).contains(&bytes[i])
        })
    }
}

/// What a range of codes maps to.
#[derive(Debug, Clone, PartialEq)]
enum Target {
    /// Text: the first code's UTF-16 units; each next code adds one to the last unit.
    Utf16(Vec<u16>),
    /// Text for each code in turn.
    Each(Vec<String>),
    /// CIDs: the first code's; each next code adds one.
    Cid(u32),
}

#[derive(Debug, Clone, PartialEq)]
struct Range {
    lo: u32,
    hi: u32,
    target: Target,
}

/// A parsed CMap.
#[derive(Debug, Clone, Default, PartialEq)]
pub(super) struct CMap {
    codespaces: Vec<Codespace>,
    /// Single-code text mappings (bfchar).
    chars: HashMap<u32, String>,
    /// Single-code CID mappings (cidchar).
    cids: HashMap<u32, u32>,
    /// Ranges sorted by `lo`.
    ranges: Vec<Range>,
    /// Source code lengths seen in mappings (for CMaps without a codespace).
    lens_seen: [bool; 5],
    /// `/WMode 1`: vertical writing.
    pub(super) vertical: bool,
    /// The name of a CMap this one extends (`/Name usecmap`).
    pub(super) uses: Option<Vec<u8>>,
}

fn code_of(bytes: &[u8]) -> u32 {
    bytes
        .iter()
        .take(4)
        .fold(0u32, |a, &b| a << 8 | u32::from(b))
}

/// UTF-16BE bytes as units; a single byte is a code point of its own.
fn units(bytes: &[u8]) -> Vec<u16> {
    if bytes.len() == 1 {
        return vec![u16::from(bytes[0])];
    }
    bytes
        .chunks(2)
        .map(|c| u16::from(c[0]) << 8 | u16::from(*c.get(1).unwrap_or(&0)))
        .collect()
}

fn text_of(units: &[u16]) -> String {
    char::decode_utf16(units.iter().copied())
        .map(|r| r.unwrap_or(char::REPLACEMENT_CHARACTER))
        .collect()
}

impl CMap {
    /// Parses a CMap stream. Never fails: what cannot be read is left out.
    pub(super) fn parse(data: &[u8]) -> CMap {
        let mut cmap = CMap::default();
        let mut entries = 0usize;
        for op in Lexer::with_max_operands(data, MAX_OPERANDS) {
            if entries > MAX_ENTRIES {
                break;
            }
            let ops = &op.operands;
            match op.operator {
                b"endcodespacerange" => {
                    for pair in ops.chunks(2) {
                        if let [Operand::Str(lo), Operand::Str(hi)] = pair {
                            if (1..=4).contains(&lo.len()) && lo.len() == hi.len() {
                                cmap.codespaces.push(Codespace {
                                    len: lo.len() as u8,
                                    lo: code_of(lo),
                                    hi: code_of(hi),
                                });
                            }
                        }
                    }
                }
                b"endbfchar" => {
                    for pair in ops.chunks(2) {
                        if let [Operand::Str(src), dst] = pair {
                            let text = match dst {
                                Operand::Str(d) => text_of(&units(d)),
                                Operand::Name(n) => {
                                    super::encoding::glyph_text(n).unwrap_or_default()
                                }
                                _ => continue,
                            };
                            cmap.see(src.len());
                            cmap.chars.insert(code_of(src), text);
                            entries += 1;
                        }
                    }
                }
                b"endbfrange" => {
                    for triple in ops.chunks(3) {
                        if let [Operand::Str(lo), Operand::Str(hi), dst] = triple {
                            let target = match dst {
                                Operand::Str(d) => Target::Utf16(units(d)),
                                Operand::Array(items) => Target::Each(
                                    items
                                        .iter()
                                        .map(|i| match i {
                                            Operand::Str(d) => text_of(&units(d)),
                                            _ => String::new(),
                                        })
                                        .collect(),
                                ),
                                _ => continue,
                            };
                            cmap.add_range(lo, hi, target);
                            entries += 1;
                        }
                    }
                }
                b"endcidchar" => {
                    for pair in ops.chunks(2) {
                        if let [Operand::Str(src), Operand::Number(cid)] = pair {
                            cmap.see(src.len());
                            cmap.cids.insert(code_of(src), *cid as u32);
                            entries += 1;
                        }
                    }
                }
                b"endcidrange" => {
                    for triple in ops.chunks(3) {
                        if let [Operand::Str(lo), Operand::Str(hi), Operand::Number(cid)] = triple {
                            cmap.add_range(lo, hi, Target::Cid(*cid as u32));
                            entries += 1;
                        }
                    }
                }
                b"def" => {
                    if let [Operand::Name(key), value] = ops.as_slice() {
                        if key == b"WMode" {
                            cmap.vertical = value.as_number() == Some(1.0);
                        }
                    }
                }
                b"usecmap" => {
                    if let Some(Operand::Name(n)) = ops.last() {
                        cmap.uses = Some(n.clone());
                    }
                }
                _ => {}
            }
        }
        cmap.ranges.sort_by_key(|r| r.lo);
        cmap
    }

    fn see(&mut self, len: usize) {
        if let Some(s) = self.lens_seen.get_mut(len) {
            *s = true;
        }
    }

    fn add_range(&mut self, lo: &[u8], hi: &[u8], target: Target) {
        if lo.is_empty() || lo.len() > 4 || lo.len() != hi.len() {
            return;
        }
        let (lo_c, hi_c) = (code_of(lo), code_of(hi));
        if hi_c < lo_c {
            return;
        }
        self.see(lo.len());
        self.ranges.push(Range {
            lo: lo_c,
            hi: hi_c,
            target,
        });
    }

    /// Whether this CMap has any codespace range.
    pub(super) fn has_codespace(&self) -> bool {
        !self.codespaces.is_empty()
    }

    /// The length of the code that starts `bytes`: the codespace range it falls in, else the
    /// shortest codespace length (or the mapping lengths seen, or `default`).
    pub(super) fn code_len(&self, bytes: &[u8], default: usize) -> usize {
        if !self.codespaces.is_empty() {
            for len in 1..=4usize {
                if bytes.len() >= len
                    && self
                        .codespaces
                        .iter()
                        .any(|c| c.len as usize == len && c.contains(&bytes[..len]))
                {
                    return len;
                }
            }
            let shortest = self.codespaces.iter().map(|c| c.len).min().unwrap_or(1);
            return (shortest as usize).min(bytes.len()).max(1);
        }
        if self.lens_seen[default.min(4)] {
            return default.min(bytes.len()).max(1);
        }
        let len = (1..=4).find(|&l| self.lens_seen[l]).unwrap_or(default);
        len.min(bytes.len()).max(1)
    }

    /// The range holding `code`, if any (the last one that starts at or before it and ends
    /// after it).
    fn range(&self, code: u32) -> Option<&Range> {
        let end = self.ranges.partition_point(|r| r.lo <= code);
        self.ranges[..end].iter().rev().find(|r| r.hi >= code)
    }

    /// The text `code` maps to (ToUnicode).
    pub(super) fn text(&self, code: u32) -> Option<String> {
        if let Some(t) = self.chars.get(&code) {
            return Some(t.clone());
        }
        let r = self.range(code)?;
        let off = code - r.lo;
        match &r.target {
            Target::Utf16(start) => {
                let mut u = start.clone();
                if let Some(last) = u.last_mut() {
                    *last = last.wrapping_add(off as u16);
                }
                Some(text_of(&u))
            }
            Target::Each(items) => items.get(off as usize).cloned(),
            Target::Cid(_) => None,
        }
    }

    /// The CID `code` maps to (encoding CMaps).
    pub(super) fn cid(&self, code: u32) -> Option<u32> {
        if let Some(c) = self.cids.get(&code) {
            return Some(*c);
        }
        let r = self.range(code)?;
        match r.target {
            Target::Cid(start) => Some(start.saturating_add(code - r.lo)),
            _ => None,
        }
    }

    /// Adds the mappings of `base` that this CMap does not define (for `usecmap`).
    pub(super) fn extend_from(&mut self, base: &CMap) {
        for (k, v) in &base.chars {
            self.chars.entry(*k).or_insert_with(|| v.clone());
        }
        for (k, v) in &base.cids {
            self.cids.entry(*k).or_insert(*v);
        }
        if self.codespaces.is_empty() {
            self.codespaces = base.codespaces.clone();
        }
        self.ranges.extend(base.ranges.iter().cloned());
        self.ranges.sort_by_key(|r| r.lo);
        for (i, s) in base.lens_seen.iter().enumerate() {
            self.lens_seen[i] |= s;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TO_UNICODE: &[u8] = b"/CIDInit /ProcSet findresource begin 12 dict begin begincmap
/CMapName /Adobe-Identity-UCS def /CMapType 2 def
1 begincodespacerange <0000> <FFFF> endcodespacerange
3 beginbfchar <0003> <0020> <0011> <0041> <0050> <FB01> endbfchar
2 beginbfrange <0020> <0022> <0061> <0030> <0031> [<0066006C> <D835DC00>] endbfrange
endcmap CMapName currentdict /CMap defineresource pop end end";

    #[test]
    fn bfchar_bfrange_and_arrays() {
        let c = CMap::parse(TO_UNICODE);
        assert_eq!(c.text(0x0003).as_deref(), Some(" "));
        assert_eq!(c.text(0x0011).as_deref(), Some("A"));
        assert_eq!(c.text(0x0050).as_deref(), Some("\u{FB01}"));
        assert_eq!(c.text(0x0021).as_deref(), Some("b"));
        assert_eq!(c.text(0x0022).as_deref(), Some("c"));
        assert_eq!(c.text(0x0030).as_deref(), Some("fl"));
        assert_eq!(
            c.text(0x0031).as_deref(),
            Some("\u{1D400}"),
            "a surrogate pair"
        );
        assert_eq!(c.text(0x0099), None);
        assert_eq!(c.code_len(&[0, 3, 0, 17], 1), 2);
    }

    #[test]
    fn codespaces_split_mixed_lengths() {
        let c = CMap::parse(
            b"2 begincodespacerange <00> <80> <8140> <FEFE> endcodespacerange
              1 begincidrange <8140> <817E> 633 endcidrange 1 begincidchar <41> 34 endcidchar",
        );
        assert_eq!(c.code_len(b"A\x81\x40", 1), 1);
        assert_eq!(c.code_len(b"\x81\x40A", 1), 2);
        assert_eq!(c.cid(0x8141), Some(634));
        assert_eq!(c.cid(0x41), Some(34));
    }

    #[test]
    fn without_codespace_the_mapping_lengths_decide() {
        let c = CMap::parse(b"1 beginbfchar <01> <0041> endbfchar");
        assert_eq!(c.code_len(b"\x01\x02", 2), 1);
        let big = CMap::parse(b"1 beginbfrange <0000> <FFFF> <0000> endbfrange");
        assert_eq!(big.text(0x4E2D).as_deref(), Some("\u{4E2D}"));
        assert_eq!(big.ranges.len(), 1, "a range is one entry");
    }
}
