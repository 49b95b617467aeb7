//! The built-in encoding of an embedded font program: what a simple font's codes mean when the
//! PDF gives no `/Encoding` (TeX's Computer Modern fonts, subset CFF fonts). Glyph names are
//! read from the program and mapped to text by the caller.
//!
//! * Type 1 (`/FontFile`): the `dup <code> /<name> put` entries of the cleartext `/Encoding`.
//! * CFF (`/FontFile3` of subtype `Type1C`): the Top DICT's encoding and charset, names from the
//!   standard strings and the String INDEX.
//!
//! Every read is bounds-checked; a malformed program yields no encoding.

use super::tables::CFF_STRINGS;

/// Code → glyph name, for the codes the program encodes.
pub(super) type BuiltIn = Vec<(u8, Vec<u8>)>;

/// The built-in encoding of a Type 1 font program (its cleartext part).
pub(super) fn type1(data: &[u8]) -> Option<BuiltIn> {
    let start = find(data, b"/Encoding")?;
    let rest = &data[start + 9..];
    let head = &rest[..rest.len().min(64)];
    if find(head, b"StandardEncoding").is_some() {
        return None;
    }
    let end = find(rest, b"readonly def")
        .or_else(|| find(rest, b" def"))
        .unwrap_or(rest.len().min(64 << 10));
    let body = &rest[..end];
    let mut out = Vec::new();
    let mut i = 0;
    while let Some(p) = find(&body[i..], b"dup ") {
        let s = i + p + 4;
        let digits = body[s..].iter().take_while(|b| b.is_ascii_digit()).count();
        let code: Option<u8> = std::str::from_utf8(&body[s..s + digits])
            .ok()
            .and_then(|t| t.parse().ok());
        let mut j = s + digits;
        while body.get(j) == Some(&b' ') {
            j += 1;
        }
        if let (Some(code), Some(b'/')) = (code, body.get(j)) {
            let name_len = body[j + 1..]
                .iter()
                .take_while(|b| !b.is_ascii_whitespace() && **b != b'/')
                .count();
            out.push((code, body[j + 1..j + 1 + name_len].to_vec()));
            i = j + 1 + name_len;
        } else {
            i = s;
        }
    }
    (!out.is_empty()).then_some(out)
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// A CFF INDEX: its items' byte ranges, and where it ends.
fn index(data: &[u8], at: usize) -> Option<(Vec<(usize, usize)>, usize)> {
    let count = u16::from_be_bytes([*data.get(at)?, *data.get(at + 1)?]) as usize;
    if count == 0 {
        return Some((Vec::new(), at + 2));
    }
    let off_size = *data.get(at + 2)? as usize;
    if !(1..=4).contains(&off_size) {
        return None;
    }
    let offsets_at = at + 3;
    let off = |i: usize| -> Option<usize> {
        let p = offsets_at + i * off_size;
        let bytes = data.get(p..p + off_size)?;
        Some(bytes.iter().fold(0usize, |a, &b| a << 8 | b as usize))
    };
    let base = offsets_at + (count + 1) * off_size - 1;
    let mut items = Vec::with_capacity(count.min(1 << 16));
    for i in 0..count {
        let (s, e) = (base + off(i)?, base + off(i + 1)?);
        if s > e || e > data.len() {
            return None;
        }
        items.push((s, e));
    }
    let end = base + off(count)?;
    Some((items, end))
}

/// The Top DICT's integer operands for `charset` (15), `Encoding` (16) and `CharStrings` (17),
/// and whether the font is CID-keyed (`ROS`, 12 30).
fn top_dict(d: &[u8]) -> (Option<usize>, Option<usize>, Option<usize>, bool) {
    let (mut charset, mut encoding, mut charstrings, mut cid) = (None, None, None, false);
    let mut operands: Vec<i64> = Vec::new();
    let mut i = 0;
    while i < d.len() {
        let b0 = d[i];
        match b0 {
            0..=21 => {
                let op = if b0 == 12 {
                    i += 1;
                    1200 + u16::from(*d.get(i).unwrap_or(&0))
                } else {
                    u16::from(b0)
                };
                let last = operands
                    .last()
                    .copied()
                    .filter(|v| *v >= 0)
                    .map(|v| v as usize);
                match op {
                    15 => charset = last,
                    16 => encoding = last,
                    17 => charstrings = last,
                    1230 => cid = true,
                    _ => {}
                }
                operands.clear();
                i += 1;
            }
            28 => {
                let v =
                    i16::from_be_bytes([*d.get(i + 1).unwrap_or(&0), *d.get(i + 2).unwrap_or(&0)]);
                operands.push(i64::from(v));
                i += 3;
            }
            29 => {
                let bytes = [0, 1, 2, 3].map(|k| *d.get(i + 1 + k).unwrap_or(&0));
                operands.push(i64::from(i32::from_be_bytes(bytes)));
                i += 5;
            }
            30 => {
                // A real: nibbles up to 0xf; only skipped here.
                i += 1;
                while i < d.len() {
                    let b = d[i];
                    i += 1;
                    if b & 0x0f == 0x0f || b >> 4 == 0x0f {
                        break;
                    }
                }
                operands.push(0);
            }
            32..=246 => {
                operands.push(i64::from(b0) - 139);
                i += 1;
            }
            247..=250 => {
                let b1 = i64::from(*d.get(i + 1).unwrap_or(&0));
                operands.push((i64::from(b0) - 247) * 256 + b1 + 108);
                i += 2;
            }
            251..=254 => {
                let b1 = i64::from(*d.get(i + 1).unwrap_or(&0));
                operands.push(-(i64::from(b0) - 251) * 256 - b1 - 108);
                i += 2;
            }
            _ => i += 1,
        }
    }
    (charset, encoding, charstrings, cid)
}

/// The built-in encoding of a CFF font program; `None` for the standard encoding (the caller
/// already has it), CID-keyed fonts and malformed data.
pub(super) fn cff(data: &[u8]) -> Option<BuiltIn> {
    let hdr_size = *data.get(2)? as usize;
    let (_names, after_names) = index(data, hdr_size)?;
    let (tops, after_tops) = index(data, after_names)?;
    let (strings, _) = index(data, after_tops)?;
    let &(ts, te) = tops.first()?;
    let (charset_at, encoding_at, charstrings_at, cid) = top_dict(&data[ts..te]);
    let encoding_at = encoding_at?;
    if cid || encoding_at <= 1 {
        return None;
    }
    let n_glyphs = index(data, charstrings_at?)?.0.len();
    let sid_of = charset(data, charset_at.unwrap_or(0), n_glyphs)?;
    let name = |sid: u16| -> Option<Vec<u8>> {
        let sid = sid as usize;
        if sid < CFF_STRINGS.len() {
            Some(CFF_STRINGS[sid].as_bytes().to_vec())
        } else {
            let (s, e) = *strings.get(sid - CFF_STRINGS.len())?;
            Some(data[s..e].to_vec())
        }
    };
    let mut out = Vec::new();
    let format = *data.get(encoding_at)?;
    let mut p = encoding_at + 1;
    match format & 0x7f {
        0 => {
            let n = *data.get(p)? as usize;
            p += 1;
            for gid in 1..=n {
                let code = *data.get(p)?;
                p += 1;
                if let Some(n) = sid_of.get(gid).and_then(|&sid| name(sid)) {
                    out.push((code, n));
                }
            }
        }
        1 => {
            let n = *data.get(p)? as usize;
            p += 1;
            let mut gid = 1usize;
            for _ in 0..n {
                let first = *data.get(p)?;
                let left = *data.get(p + 1)?;
                p += 2;
                for k in 0..=left {
                    let code = first.checked_add(k)?;
                    if let Some(n) = sid_of.get(gid).and_then(|&sid| name(sid)) {
                        out.push((code, n));
                    }
                    gid += 1;
                }
            }
        }
        _ => return None,
    }
    if format & 0x80 != 0 {
        let n = *data.get(p)? as usize;
        p += 1;
        for _ in 0..n {
            let code = *data.get(p)?;
            let sid = u16::from_be_bytes([*data.get(p + 1)?, *data.get(p + 2)?]);
            p += 3;
            if let Some(n) = name(sid) {
                out.push((code, n));
            }
        }
    }
    (!out.is_empty()).then_some(out)
}

/// SID of every glyph id (gid 0 is `.notdef`).
fn charset(data: &[u8], at: usize, n_glyphs: usize) -> Option<Vec<u16>> {
    let n_glyphs = n_glyphs.min(1 << 16);
    if at <= 2 {
        // ISOAdobe (and the expert charsets, read the same way: names beyond are rare).
        return Some((0..n_glyphs as u16).collect());
    }
    let mut sids = vec![0u16];
    let format = *data.get(at)?;
    let mut p = at + 1;
    while sids.len() < n_glyphs {
        match format {
            0 => {
                sids.push(u16::from_be_bytes([*data.get(p)?, *data.get(p + 1)?]));
                p += 2;
            }
            1 | 2 => {
                let first = u16::from_be_bytes([*data.get(p)?, *data.get(p + 1)?]);
                let left = if format == 1 {
                    p += 3;
                    u16::from(*data.get(p - 1)?)
                } else {
                    p += 4;
                    u16::from_be_bytes([*data.get(p - 2)?, *data.get(p - 1)?])
                };
                for k in 0..=left {
                    if sids.len() >= n_glyphs {
                        break;
                    }
                    sids.push(first.saturating_add(k));
                }
            }
            _ => return None,
        }
    }
    Some(sids)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn type1_encoding_entries() {
        let prog = b"%!PS-AdobeFont-1.0: CMMI10\n/Encoding 256 array\n0 1 255 {1 index exch /.notdef put} for\ndup 11 /alpha put\ndup 13 /gamma put\nreadonly def\ncurrentdict end";
        assert_eq!(
            type1(prog),
            Some(vec![(11, b"alpha".to_vec()), (13, b"gamma".to_vec())])
        );
        assert_eq!(type1(b"/Encoding StandardEncoding def"), None);
    }

    /// A minimal CFF: header, one name, a Top DICT pointing at a format-0 charset, a format-0
    /// encoding and a CharStrings INDEX of three glyphs; one custom string.
    fn tiny_cff() -> Vec<u8> {
        let mut d = vec![1, 0, 4, 1];
        // Name INDEX: "F".
        d.extend([0, 1, 1, 1, 2, b'F']);
        // Top DICT INDEX, filled in below (3 operators with 29-encoded ints: 18 bytes).
        let top_at = d.len();
        d.extend([0, 1, 1, 1, 19]);
        d.extend([0u8; 18]);
        // String INDEX: "gammaAlt".
        d.extend([0, 1, 1, 1, 9]);
        d.extend(b"gammaAlt");
        // Global subrs: empty.
        d.extend([0, 0]);
        let charset_at = d.len();
        d.extend([0, 0, 71, 1, 135]); // gid1 = "f" (SID 71), gid2 = custom (SID 391)
        let enc_at = d.len();
        d.extend([0, 2, 102, 103]); // code 102 → gid1, 103 → gid2
        let cs_at = d.len();
        d.extend([0, 3, 1, 1, 2, 3, 4, 0, 0, 0]);
        let mut top = Vec::new();
        for (v, op) in [(charset_at, 15u8), (enc_at, 16), (cs_at, 17)] {
            top.push(29);
            top.extend((v as i32).to_be_bytes());
            top.push(op);
        }
        d[top_at + 5..top_at + 23].copy_from_slice(&top);
        d
    }

    #[test]
    fn cff_custom_encoding_and_charset() {
        let enc = cff(&tiny_cff()).expect("an encoding");
        assert_eq!(enc, vec![(102, b"f".to_vec()), (103, b"gammaAlt".to_vec())]);
    }

    #[test]
    fn malformed_programs_yield_nothing() {
        assert_eq!(cff(&[1, 0, 4]), None);
        assert_eq!(cff(&[1, 0, 200, 1, 0, 5, 9, 9]), None);
        assert_eq!(type1(b"garbage"), None);
    }
}
