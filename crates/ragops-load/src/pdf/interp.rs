//! The content-stream interpreter (ISO 32000-1 §8.4, §9.3, §9.4): runs a page's operators with
//! the graphics and text state (CTM, q/Q, Tm/Tlm, Tc, Tw, Tz, TL, Ts, TJ adjustments) and
//! Form XObjects, and emits every shown glyph with its text and its position on the page.
//!
//! Bounded: Form XObjects nest at most [`MAX_FORM_DEPTH`] deep and never recurse into
//! themselves, q/Q nests at most [`MAX_STATE_DEPTH`], a page emits at most [`MAX_GLYPHS`], and
//! every stream read counts against the file's inflate budget.

use std::collections::HashMap;
use std::rc::Rc;

use lopdf::{Dictionary, Document, Object, ObjectId};
use ragops_core::SkipReason;

use super::content::{Lexer, Operand};
use super::font::Font;
use crate::Budget;

const MAX_FORM_DEPTH: usize = 8;
const MAX_STATE_DEPTH: usize = 64;
/// Most glyphs kept from one page (a page of text has a few thousand).
const MAX_GLYPHS: usize = 1 << 20;

/// An affine matrix `[a b c d e f]` (row vectors: `p' = p × M`).
pub(super) type Matrix = [f64; 6];

const IDENTITY: Matrix = [1.0, 0.0, 0.0, 1.0, 0.0, 0.0];

/// The first six operands as a matrix (`cm`, `Tm`).
fn matrix(o: &[Operand]) -> Matrix {
    std::array::from_fn(|i| num(o, i))
}

/// `m × n`.
fn mul(m: &Matrix, n: &Matrix) -> Matrix {
    [
        m[0] * n[0] + m[1] * n[2],
        m[0] * n[1] + m[1] * n[3],
        m[2] * n[0] + m[3] * n[2],
        m[2] * n[1] + m[3] * n[3],
        m[4] * n[0] + m[5] * n[2] + n[4],
        m[4] * n[1] + m[5] * n[3] + n[5],
    ]
}

fn translate(tx: f64, ty: f64) -> Matrix {
    [1.0, 0.0, 0.0, 1.0, tx, ty]
}

/// A shown glyph, in page space (default user space).
#[derive(Debug, Clone, PartialEq)]
pub(super) struct PageGlyph {
    /// Inline up to 24 bytes: a page of glyphs costs no allocation per glyph.
    pub text: compact_str::CompactString,
    /// Origin of the glyph.
    pub x: f64,
    pub y: f64,
    /// Where the next glyph would start without adjustments (origin + advance).
    pub end_x: f64,
    pub end_y: f64,
    /// Font size in page space (the height of an em).
    pub size: f64,
    /// The text's direction in page space (unit vector).
    pub dir: (f64, f64),
    /// Widths came from the file or known metrics.
    pub widths_known: bool,
}

/// Fonts already loaded for this file, by object (a font shared by 2,000 pages is parsed once).
#[derive(Default)]
pub(super) struct FontCache {
    by_id: HashMap<ObjectId, Rc<Font>>,
}

/// The resource dictionaries in force, nearest first.
#[derive(Clone)]
pub(super) struct Resources<'a> {
    dicts: Vec<&'a Dictionary>,
}

impl<'a> Resources<'a> {
    /// A page's resources (its own and those it inherits).
    pub(super) fn of_page(doc: &'a Document, page: ObjectId) -> Resources<'a> {
        let mut dicts = Vec::new();
        if let Ok((direct, ids)) = doc.get_page_resources(page) {
            dicts.extend(direct);
            dicts.extend(ids.iter().filter_map(|id| doc.get_dictionary(*id).ok()));
        }
        Resources { dicts }
    }

    /// Entry `name` of category `cat` (`Font`, `XObject`), with its object id when indirect.
    fn get(
        &self,
        doc: &'a Document,
        cat: &[u8],
        name: &[u8],
    ) -> Option<(Option<ObjectId>, &'a Object)> {
        for d in &self.dicts {
            let Some(table) = d
                .get(cat)
                .ok()
                .and_then(|o| doc.dereference(o).ok())
                .and_then(|(_, o)| o.as_dict().ok())
            else {
                continue;
            };
            if let Ok(o) = table.get(name) {
                let id = o.as_reference().ok();
                if let Ok((_, obj)) = doc.dereference(o) {
                    return Some((id, obj));
                }
            }
        }
        None
    }
}

#[derive(Clone)]
struct State {
    ctm: Matrix,
    font: Option<Rc<Font>>,
    size: f64,
    char_space: f64,
    word_space: f64,
    /// Horizontal scaling, as a fraction.
    scale: f64,
    leading: f64,
    rise: f64,
}

impl Default for State {
    fn default() -> Self {
        State {
            ctm: IDENTITY,
            font: None,
            size: 0.0,
            char_space: 0.0,
            word_space: 0.0,
            scale: 1.0,
            leading: 0.0,
            rise: 0.0,
        }
    }
}

/// Runs content streams and collects their glyphs.
pub(super) struct Interpreter<'a> {
    doc: &'a Document,
    fonts: &'a mut FontCache,
    budget: &'a Budget,
    /// Bytes the file's streams may still inflate to.
    pub(super) inflate_left: u64,
    pub(super) glyphs: Vec<PageGlyph>,
    state: State,
    stack: Vec<State>,
    tm: Matrix,
    tlm: Matrix,
    /// Form XObjects being run (no form runs inside itself).
    forms: Vec<ObjectId>,
    ops: u64,
}

fn num(o: &[Operand], i: usize) -> f64 {
    o.get(i).and_then(Operand::as_number).unwrap_or(0.0)
}

impl<'a> Interpreter<'a> {
    pub(super) fn new(
        doc: &'a Document,
        fonts: &'a mut FontCache,
        budget: &'a Budget,
        inflate_left: u64,
    ) -> Self {
        Interpreter {
            doc,
            fonts,
            budget,
            inflate_left,
            glyphs: Vec::new(),
            state: State::default(),
            stack: Vec::new(),
            tm: IDENTITY,
            tlm: IDENTITY,
            forms: Vec::new(),
            ops: 0,
        }
    }

    /// Runs one content stream with `res` in force.
    pub(super) fn run(&mut self, content: &[u8], res: &Resources<'a>) -> Result<(), SkipReason> {
        for op in Lexer::new(content) {
            self.ops += 1;
            if self.ops.is_multiple_of(65_536) {
                self.budget.check_time()?;
            }
            self.op(op.operator, &op.operands, res)?;
        }
        Ok(())
    }

    fn op(
        &mut self,
        operator: &[u8],
        o: &[Operand],
        res: &Resources<'a>,
    ) -> Result<(), SkipReason> {
        let s = &mut self.state;
        match operator {
            b"q" if self.stack.len() < MAX_STATE_DEPTH => self.stack.push(s.clone()),
            b"Q" => {
                if let Some(prev) = self.stack.pop() {
                    *s = prev;
                }
            }
            b"cm" if o.len() >= 6 => s.ctm = mul(&matrix(o), &s.ctm),
            b"BT" => {
                self.tm = IDENTITY;
                self.tlm = IDENTITY;
            }
            b"Tf" => {
                let font = match o.first() {
                    Some(Operand::Name(name)) => self.font(res, name),
                    _ => None,
                };
                self.state.font = font;
                self.state.size = num(o, 1);
            }
            b"Tc" => s.char_space = num(o, 0),
            b"Tw" => s.word_space = num(o, 0),
            b"Tz" => s.scale = num(o, 0) / 100.0,
            b"TL" => s.leading = num(o, 0),
            b"Ts" => s.rise = num(o, 0),
            b"Td" => self.next_line(num(o, 0), num(o, 1)),
            b"TD" => {
                s.leading = -num(o, 1);
                self.next_line(num(o, 0), num(o, 1));
            }
            b"Tm" if o.len() >= 6 => {
                self.tlm = matrix(o);
                self.tm = self.tlm;
            }
            b"T*" => self.next_line(0.0, -self.state.leading),
            b"Tj" => {
                if let Some(Operand::Str(bytes)) = o.first() {
                    self.show(bytes);
                }
            }
            b"'" => {
                self.next_line(0.0, -self.state.leading);
                if let Some(Operand::Str(bytes)) = o.first() {
                    self.show(bytes);
                }
            }
            b"\"" => {
                s.word_space = num(o, 0);
                s.char_space = num(o, 1);
                self.next_line(0.0, -self.state.leading);
                if let Some(Operand::Str(bytes)) = o.get(2) {
                    self.show(bytes);
                }
            }
            b"TJ" => {
                if let Some(Operand::Array(items)) = o.first() {
                    for item in items {
                        match item {
                            Operand::Str(bytes) => self.show(bytes),
                            Operand::Number(n) => self.adjust(*n),
                            _ => {}
                        }
                    }
                }
            }
            b"Do" => {
                if let Some(Operand::Name(name)) = o.first() {
                    self.form(res, name)?;
                }
            }
            _ => {}
        }
        Ok(())
    }

    fn next_line(&mut self, tx: f64, ty: f64) {
        self.tlm = mul(&translate(tx, ty), &self.tlm);
        self.tm = self.tlm;
    }

    fn font(&mut self, res: &Resources<'a>, name: &[u8]) -> Option<Rc<Font>> {
        let (id, obj) = res.get(self.doc, b"Font", name)?;
        let dict = obj.as_dict().ok()?;
        if let Some(id) = id {
            if let Some(f) = self.fonts.by_id.get(&id) {
                return Some(f.clone());
            }
            let f = Rc::new(Font::load(self.doc, dict));
            self.fonts.by_id.insert(id, f.clone());
            return Some(f);
        }
        Some(Rc::new(Font::load(self.doc, dict)))
    }

    /// A `TJ` number: moves the text position by `-n/1000` of the font size.
    fn adjust(&mut self, n: f64) {
        let s = &self.state;
        let d = -n / 1000.0 * s.size;
        let vertical = s.font.as_ref().is_some_and(|f| f.vertical);
        let m = if vertical {
            translate(0.0, d)
        } else {
            translate(d * s.scale, 0.0)
        };
        self.tm = mul(&m, &self.tm);
    }

    fn show(&mut self, bytes: &[u8]) {
        let Some(font) = self.state.font.clone() else {
            return;
        };
        let s = self.state.clone();
        let params: Matrix = [s.size * s.scale, 0.0, 0.0, s.size, 0.0, s.rise];
        let mut tm = self.tm;
        font.glyphs(bytes, |g| {
            let m = mul(&tm, &s.ctm);
            let trm = mul(&params, &m);
            let spacing = s.char_space + if g.word_space { s.word_space } else { 0.0 };
            let (tx, ty) = if font.vertical {
                (0.0, -(s.size) + spacing)
            } else {
                ((g.width * s.size + spacing) * s.scale, 0.0)
            };
            // Text space → page space: the matrix without its translation.
            let (ax, ay) = (tx * m[0] + ty * m[2], tx * m[1] + ty * m[3]);
            let size = s.size * (m[2] * m[2] + m[3] * m[3]).sqrt();
            let dir = if font.vertical {
                let (dx, dy) = (-m[2], -m[3]);
                let n = (dx * dx + dy * dy).sqrt().max(1e-12);
                (dx / n, dy / n)
            } else {
                let n = (m[0] * m[0] + m[1] * m[1]).sqrt().max(1e-12);
                (m[0] / n, m[1] / n)
            };
            if let Some(text) = g.text {
                if !text.is_empty()
                    && self.glyphs.len() < MAX_GLYPHS
                    && size.is_finite()
                    && size > 0.0
                {
                    self.glyphs.push(PageGlyph {
                        text: compact_str::CompactString::from(&*text),
                        x: trm[4],
                        y: trm[5],
                        end_x: trm[4] + ax,
                        end_y: trm[5] + ay,
                        size,
                        dir,
                        widths_known: font.widths_known,
                    });
                }
            }
            tm = mul(&translate(tx, ty), &tm);
        });
        self.tm = tm;
    }

    /// `Do`: runs a Form XObject (images and others are ignored).
    fn form(&mut self, res: &Resources<'a>, name: &[u8]) -> Result<(), SkipReason> {
        let doc = self.doc;
        let Some((Some(id), Object::Stream(stream))) = res.get(doc, b"XObject", name) else {
            return Ok(());
        };
        let is_form = stream
            .dict
            .get(b"Subtype")
            .ok()
            .and_then(|o| o.as_name().ok())
            == Some(b"Form".as_slice());
        if !is_form || self.forms.len() >= MAX_FORM_DEPTH || self.forms.contains(&id) {
            return Ok(());
        }
        let content = match stream.get_plain_content_with_limit(self.inflate_left as usize) {
            Ok(c) => c,
            Err(lopdf::Error::Decompress(lopdf::DecompressError::MemoryLimitExceeded {
                ..
            })) => {
                return Err(self.budget.inflated());
            }
            Err(_) => return Ok(()),
        };
        self.inflate_left = self.inflate_left.saturating_sub(content.len() as u64);
        let form_res = match stream
            .dict
            .get(b"Resources")
            .ok()
            .and_then(|o| doc.dereference(o).ok())
            .and_then(|(_, o)| o.as_dict().ok())
        {
            Some(d) => {
                let mut r = res.clone();
                r.dicts.insert(0, d);
                r
            }
            None => res.clone(),
        };
        let matrix = stream
            .dict
            .get(b"Matrix")
            .ok()
            .and_then(|o| o.as_array().ok())
            .filter(|a| a.len() == 6)
            .map(|a| {
                let v: Vec<f64> = a
                    .iter()
                    .map(|o| match o {
                        Object::Integer(i) => *i as f64,
                        Object::Real(r) => f64::from(*r),
                        _ => 0.0,
                    })
                    .collect();
                [v[0], v[1], v[2], v[3], v[4], v[5]]
            })
            .unwrap_or(IDENTITY);
        let saved = (self.state.clone(), self.tm, self.tlm, self.stack.len());
        self.state.ctm = mul(&matrix, &self.state.ctm);
        self.forms.push(id);
        let result = self.run(&content, &form_res);
        self.forms.pop();
        (self.state, self.tm, self.tlm) = (saved.0, saved.1, saved.2);
        self.stack.truncate(saved.3);
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matrices_compose_like_the_spec() {
        // Scale by 2, then translate by (10, 20): (1, 1) → (12, 22).
        let m = mul(&[2.0, 0.0, 0.0, 2.0, 0.0, 0.0], &translate(10.0, 20.0));
        assert_eq!((m[4], m[5]), (10.0, 20.0));
        let p = (
            1.0 * m[0] + 1.0 * m[2] + m[4],
            1.0 * m[1] + 1.0 * m[3] + m[5],
        );
        assert_eq!(p, (12.0, 22.0));
    }
}
