//! A streaming lexer for PDF content streams (ISO 32000-1 §7.8.2).
//!
//! It yields one operator at a time with its operands and keeps nothing else: memory is the
//! operands of the current operator (their number and nesting are capped), not the number of
//! operators in the stream. A stream of 40 million path operators costs no more than one.
//! Inline images (`BI … ID <binary> EI`) are skipped. Malformed input never fails: stray
//! delimiters are skipped and a truncated token ends the stream.

/// Most operands kept for one operator; older ones are dropped (no operator takes more).
const MAX_OPERANDS: usize = 64;
/// Deepest array nesting kept; deeper arrays are skipped whole.
const MAX_DEPTH: usize = 8;
/// Most elements kept in one array (a `TJ` array of a whole page is far below this).
const MAX_ARRAY: usize = 1 << 16;

/// One operand.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Operand {
    Number(f64),
    Name(Vec<u8>),
    Str(Vec<u8>),
    Array(Vec<Operand>),
    /// A boolean, `null`, a dictionary or anything skipped.
    Other,
}

impl Operand {
    pub(crate) fn as_number(&self) -> Option<f64> {
        match self {
            Operand::Number(n) => Some(*n),
            _ => None,
        }
    }
}

/// An operator and its operands.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Op<'a> {
    pub operator: &'a [u8],
    pub operands: Vec<Operand>,
}

pub(crate) struct Lexer<'a> {
    buf: &'a [u8],
    pos: usize,
    max_operands: usize,
}

fn is_white(b: u8) -> bool {
    matches!(b, b'\0' | b'\t' | b'\n' | b'\x0c' | b'\r' | b' ')
}

fn is_delim(b: u8) -> bool {
    matches!(
        b,
        b'(' | b')' | b'<' | b'>' | b'[' | b']' | b'{' | b'}' | b'/' | b'%'
    )
}

fn is_regular(b: u8) -> bool {
    !is_white(b) && !is_delim(b)
}

fn hex_val(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// What [`Lexer::token`] found.
enum Token<'a> {
    Operand(Operand),
    Keyword(&'a [u8]),
    ArrayEnd,
    End,
}

impl<'a> Lexer<'a> {
    pub(crate) fn new(buf: &'a [u8]) -> Self {
        Self::with_max_operands(buf, MAX_OPERANDS)
    }

    /// A lexer that keeps up to `max_operands` operands per operator (CMaps put a whole
    /// section's pairs before its closing keyword).
    pub(crate) fn with_max_operands(buf: &'a [u8], max_operands: usize) -> Self {
        Self {
            buf,
            pos: 0,
            max_operands: max_operands.max(1),
        }
    }

    fn peek(&self) -> Option<u8> {
        self.buf.get(self.pos).copied()
    }

    fn skip_space(&mut self) {
        while let Some(b) = self.peek() {
            if is_white(b) {
                self.pos += 1;
            } else if b == b'%' {
                while let Some(c) = self.peek() {
                    if c == b'\n' || c == b'\r' {
                        break;
                    }
                    self.pos += 1;
                }
            } else {
                break;
            }
        }
    }

    fn regular_run(&mut self) -> &'a [u8] {
        let start = self.pos;
        while self.peek().is_some_and(is_regular) {
            self.pos += 1;
        }
        &self.buf[start..self.pos]
    }

    /// A literal string; `(` already consumed.
    fn literal(&mut self) -> Vec<u8> {
        let mut out = Vec::new();
        let mut depth = 1usize;
        while let Some(b) = self.peek() {
            self.pos += 1;
            match b {
                b'(' => {
                    depth += 1;
                    out.push(b);
                }
                b')' => {
                    depth -= 1;
                    if depth == 0 {
                        break;
                    }
                    out.push(b);
                }
                b'\\' => {
                    let Some(e) = self.peek() else { break };
                    self.pos += 1;
                    match e {
                        b'n' => out.push(b'\n'),
                        b'r' => out.push(b'\r'),
                        b't' => out.push(b'\t'),
                        b'b' => out.push(0x08),
                        b'f' => out.push(0x0c),
                        b'0'..=b'7' => {
                            let mut v = u32::from(e - b'0');
                            for _ in 0..2 {
                                match self.peek() {
                                    Some(d @ b'0'..=b'7') => {
                                        v = v * 8 + u32::from(d - b'0');
                                        self.pos += 1;
                                    }
                                    _ => break,
                                }
                            }
                            out.push((v & 0xff) as u8);
                        }
                        b'\r' => {
                            if self.peek() == Some(b'\n') {
                                self.pos += 1;
                            }
                        }
                        b'\n' => {}
                        other => out.push(other),
                    }
                }
                other => out.push(other),
            }
        }
        out
    }

    /// A hex string; `<` already consumed.
    fn hex(&mut self) -> Vec<u8> {
        let mut out = Vec::new();
        let mut hi: Option<u8> = None;
        while let Some(b) = self.peek() {
            self.pos += 1;
            if b == b'>' {
                break;
            }
            if let Some(v) = hex_val(b) {
                match hi.take() {
                    Some(h) => out.push(h << 4 | v),
                    None => hi = Some(v),
                }
            }
        }
        if let Some(h) = hi {
            out.push(h << 4);
        }
        out
    }

    /// Skips a dictionary; `<<` already consumed. Nested dictionaries and strings are skipped
    /// with it.
    fn skip_dict(&mut self) {
        let mut depth = 1usize;
        while let Some(b) = self.peek() {
            match b {
                b'(' => {
                    self.pos += 1;
                    self.literal();
                }
                b'<' if self.buf.get(self.pos + 1) == Some(&b'<') => {
                    self.pos += 2;
                    depth += 1;
                }
                b'>' if self.buf.get(self.pos + 1) == Some(&b'>') => {
                    self.pos += 2;
                    depth -= 1;
                    if depth == 0 {
                        return;
                    }
                }
                b'<' => {
                    self.pos += 1;
                    self.hex();
                }
                _ => self.pos += 1,
            }
        }
    }

    /// A name; `/` already consumed.
    fn name(&mut self) -> Vec<u8> {
        let raw = self.regular_run();
        let mut out = Vec::with_capacity(raw.len());
        let mut i = 0;
        while i < raw.len() {
            if raw[i] == b'#' {
                if let (Some(h), Some(l)) = (
                    raw.get(i + 1).and_then(|&b| hex_val(b)),
                    raw.get(i + 2).and_then(|&b| hex_val(b)),
                ) {
                    out.push(h << 4 | l);
                    i += 3;
                    continue;
                }
            }
            out.push(raw[i]);
            i += 1;
        }
        out
    }

    /// An array; `[` already consumed. Called below [`MAX_DEPTH`] only (deeper arrays are
    /// skipped whole by [`Lexer::skip_array`]).
    fn array(&mut self, depth: usize) -> Operand {
        let mut items = Vec::new();
        loop {
            match self.token(depth + 1) {
                Token::Operand(o) => {
                    if items.len() < MAX_ARRAY {
                        items.push(o);
                    }
                }
                // Operators cannot appear in arrays; `true`, `false` and `null` can.
                Token::Keyword(_) => {
                    if items.len() < MAX_ARRAY {
                        items.push(Operand::Other);
                    }
                }
                Token::ArrayEnd | Token::End => break,
            }
        }
        Operand::Array(items)
    }

    /// Skips an array without keeping it (used past the depth cap); `[` already consumed.
    fn skip_array(&mut self) {
        let mut depth = 1usize;
        while let Some(b) = self.peek() {
            self.pos += 1;
            match b {
                b'[' => depth += 1,
                b']' => {
                    depth -= 1;
                    if depth == 0 {
                        return;
                    }
                }
                b'(' => {
                    self.literal();
                }
                _ => {}
            }
        }
    }

    fn token(&mut self, depth: usize) -> Token<'a> {
        loop {
            self.skip_space();
            let Some(b) = self.peek() else {
                return Token::End;
            };
            match b {
                b'(' => {
                    self.pos += 1;
                    return Token::Operand(Operand::Str(self.literal()));
                }
                b'<' if self.buf.get(self.pos + 1) == Some(&b'<') => {
                    self.pos += 2;
                    self.skip_dict();
                    return Token::Operand(Operand::Other);
                }
                b'<' => {
                    self.pos += 1;
                    return Token::Operand(Operand::Str(self.hex()));
                }
                b'/' => {
                    self.pos += 1;
                    return Token::Operand(Operand::Name(self.name()));
                }
                b'[' => {
                    self.pos += 1;
                    if depth >= MAX_DEPTH {
                        self.skip_array();
                        return Token::Operand(Operand::Other);
                    }
                    return Token::Operand(self.array(depth));
                }
                b']' => {
                    self.pos += 1;
                    if depth > 0 {
                        return Token::ArrayEnd;
                    }
                }
                b'0'..=b'9' | b'+' | b'-' | b'.' => {
                    let run = self.regular_run();
                    return Token::Operand(
                        std::str::from_utf8(run)
                            .ok()
                            .and_then(parse_number)
                            .map(Operand::Number)
                            .unwrap_or(Operand::Other),
                    );
                }
                // Stray delimiters: skip.
                b')' | b'>' | b'{' | b'}' => self.pos += 1,
                _ => return Token::Keyword(self.regular_run()),
            }
        }
    }

    /// Skips inline image data: from after `ID` to the `EI` that ends it (`EI` between
    /// white space, as PDF readers look for it).
    fn skip_inline_image(&mut self) {
        // Find the `ID` keyword first (the image dictionary is key/value pairs).
        loop {
            match self.token(0) {
                Token::Keyword(b"ID") | Token::End => break,
                _ => {}
            }
        }
        // One white-space byte follows `ID`.
        self.pos += 1;
        while self.pos + 1 < self.buf.len() {
            if self.buf[self.pos] == b'E'
                && self.buf[self.pos + 1] == b'I'
                && (self.pos == 0 || is_white(self.buf[self.pos - 1]))
                && self.buf.get(self.pos + 2).is_none_or(|&c| is_white(c))
            {
                self.pos += 2;
                return;
            }
            self.pos += 1;
        }
        self.pos = self.buf.len();
    }
}

/// Parses a PDF number: an optional sign, digits and at most one point (`-.5`, `3.`, `+17`).
fn parse_number(s: &str) -> Option<f64> {
    let body = s.strip_prefix(['+', '-']).unwrap_or(s);
    if body.is_empty() || body == "." || body.matches('.').count() > 1 {
        return None;
    }
    if !body.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        // PDF writers sometimes emit `--5` or `1-2`; treat as not a number.
        return None;
    }
    let v: f64 = body.parse().ok()?;
    Some(if s.starts_with('-') { -v } else { v })
}

impl<'a> Iterator for Lexer<'a> {
    type Item = Op<'a>;

    fn next(&mut self) -> Option<Op<'a>> {
        let mut operands = Vec::new();
        loop {
            let operand = match self.token(0) {
                Token::Operand(o) => o,
                Token::Keyword(b"true" | b"false" | b"null") => Operand::Other,
                Token::Keyword(b"BI") => {
                    self.skip_inline_image();
                    operands.clear();
                    continue;
                }
                Token::Keyword(operator) => return Some(Op { operator, operands }),
                Token::ArrayEnd => continue,
                Token::End => return None,
            };
            if operands.len() == self.max_operands {
                // Operators take the operands nearest them: drop the older half (amortised
                // O(1) per operand, however long the run).
                operands.drain(..self.max_operands / 2);
            }
            operands.push(operand);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ops(s: &[u8]) -> Vec<(String, Vec<Operand>)> {
        Lexer::new(s)
            .map(|o| (String::from_utf8_lossy(o.operator).into_owned(), o.operands))
            .collect()
    }

    #[test]
    fn text_operators_and_operands() {
        let got =
            ops(b"BT /F1 12 Tf 1 0 0 1 72.5 -.5 Tm (Hi \\(x\\)\\101) Tj [(A) -120 (B)] TJ ET");
        assert_eq!(got[0], ("BT".into(), vec![]));
        assert_eq!(
            got[1],
            (
                "Tf".into(),
                vec![Operand::Name(b"F1".to_vec()), Operand::Number(12.0)]
            )
        );
        assert_eq!(got[2].1[4], Operand::Number(72.5));
        assert_eq!(got[2].1[5], Operand::Number(-0.5));
        assert_eq!(got[3].1, vec![Operand::Str(b"Hi (x)A".to_vec())]);
        assert_eq!(
            got[4].1,
            vec![Operand::Array(vec![
                Operand::Str(b"A".to_vec()),
                Operand::Number(-120.0),
                Operand::Str(b"B".to_vec())
            ])]
        );
        assert_eq!(got[5].0, "ET");
    }

    #[test]
    fn hex_names_dicts_comments_and_inline_images() {
        let got = ops(
            b"% comment\n/P <</MCID 0 /X <</Y (a>>b)>> >> BDC <48 65 6c6>Tj /A#42 gs \
              BI /W 2 /H 1 ID \x00EI\xffEI EI 0 0 m EMC",
        );
        let names: Vec<&str> = got.iter().map(|(o, _)| o.as_str()).collect();
        assert_eq!(names, vec!["BDC", "Tj", "gs", "m", "EMC"]);
        assert_eq!(got[1].1, vec![Operand::Str(b"Hel`".to_vec())]);
        assert_eq!(got[2].1, vec![Operand::Name(b"AB".to_vec())]);
    }

    #[test]
    fn hostile_input_is_bounded_and_never_fails() {
        // Deep arrays, unbalanced delimiters, many operands, truncated strings.
        let mut s = Vec::new();
        s.extend(std::iter::repeat_n(b'[', 10_000));
        s.extend_from_slice(b" 1 ");
        s.extend(std::iter::repeat_n(b']', 10_000));
        s.extend_from_slice(b" Tj ))>> } { ");
        for _ in 0..10_000 {
            s.extend_from_slice(b"1 ");
        }
        s.extend_from_slice(b"re (unterminated");
        let got = ops(&s);
        assert_eq!(got[0].0, "Tj");
        assert_eq!(got[1].0, "re");
        assert!(got[1].1.len() <= MAX_OPERANDS && got[1].1.len() >= MAX_OPERANDS / 2);
    }

    #[test]
    fn numbers_parse_like_pdf_readers() {
        assert_eq!(parse_number("-.5"), Some(-0.5));
        assert_eq!(parse_number("3."), Some(3.0));
        assert_eq!(parse_number("+17"), Some(17.0));
        assert_eq!(parse_number("--5"), None);
        assert_eq!(parse_number("1.2.3"), None);
        assert_eq!(parse_number("."), None);
    }
}
