//! Page layout: glyphs in content order → text in reading order.
//!
//! 1. Glyphs are grouped by text direction (0°, 90°, 180°, 270°) and seen in a frame where the
//!    text runs left to right.
//! 2. Runs: glyphs that continue one another in content order (same baseline, next position).
//!    A space goes where the gap exceeds a fraction of the font size; a glyph drawn again at
//!    the same place (fake bold) is kept once.
//! 3. Lines: runs on one baseline, left to right; a line splits into segments at wide gaps
//!    (column gutters, table cells), and a run drawn twice over itself is kept once.
//! 4. Order: a recursive XY-cut of the segments (columns at wide vertical gaps with text on
//!    both sides, blocks at wide horizontal gaps), then top to bottom in each block.
//! 5. Right-to-left runs are put in logical order (Unicode bidi classes), and a word hyphenated
//!    at a line end is joined.

use compact_str::CompactString;
use unicode_bidi::BidiClass;

use super::interp::PageGlyph;

/// A gap wider than this fraction of the font size is a space.
const SPACE_GAP: f64 = 0.11;
/// Same, when widths are estimated (no `/Widths`, no known metrics).
const SPACE_GAP_ESTIMATED: f64 = 0.35;
/// A glyph this far before the end of the previous one still continues the run (accents).
const RUN_BACK: f64 = 0.7;
/// Runs on one baseline farther apart than this (in font sizes) are separate segments.
const SEGMENT_GAP: f64 = 0.9;
/// Baselines closer than this fraction of the font size are one line.
const SAME_LINE: f64 = 0.35;
/// A horizontal gap between blocks at least this tall (in font sizes) is a cut.
const BLOCK_GAP: f64 = 0.6;
/// Each side of a column cut must be at least this wide (in font sizes).
const MIN_COLUMN: f64 = 6.0;
/// XY-cut recursion bound.
const MAX_CUT_DEPTH: usize = 64;

/// A glyph in its direction's frame: text runs towards +x, lines stack towards -y.
#[derive(Debug, Clone)]
struct G {
    text: CompactString,
    x: f64,
    y: f64,
    end: f64,
    size: f64,
    estimated: bool,
}

#[derive(Debug, Clone)]
struct Run {
    pieces: Vec<CompactString>,
    x0: f64,
    x1: f64,
    y: f64,
    size: f64,
}

impl Run {
    fn text(&self) -> String {
        self.pieces.iter().map(|p| p.as_str()).collect()
    }
}

/// Runs on one baseline that belong together (no wide gap between them).
#[derive(Debug, Clone)]
struct Segment {
    pieces: Vec<CompactString>,
    x0: f64,
    x1: f64,
    y: f64,
    size: f64,
}

impl Segment {
    fn top(&self) -> f64 {
        self.y + 0.8 * self.size
    }
    fn bottom(&self) -> f64 {
        self.y - 0.25 * self.size
    }
}

/// The frame rotation (in quarter turns) for a direction, and the glyph's coordinates in it.
fn frame(dir: (f64, f64)) -> u8 {
    let (dx, dy) = dir;
    if dx.abs() >= dy.abs() {
        if dx >= 0.0 {
            0
        } else {
            2
        }
    } else if dy > 0.0 {
        1
    } else {
        3
    }
}

fn to_frame(q: u8, x: f64, y: f64) -> (f64, f64) {
    match q {
        0 => (x, y),
        1 => (y, -x),
        2 => (-x, -y),
        _ => (-y, x),
    }
}

/// The page's text in reading order.
pub(super) fn page_text(glyphs: &[PageGlyph], page_box: Option<[f64; 4]>) -> String {
    let mut by_frame: [Vec<G>; 4] = Default::default();
    for g in glyphs {
        if let Some([x0, y0, x1, y1]) = page_box {
            let m = g.size;
            if g.x < x0 - m || g.x > x1 + m || g.y < y0 - m || g.y > y1 + m {
                continue; // outside the page: not visible
            }
        }
        let q = frame(g.dir);
        let (x, y) = to_frame(q, g.x, g.y);
        let (end, _) = to_frame(q, g.end_x, g.end_y);
        by_frame[q as usize].push(G {
            text: g.text.clone(),
            x,
            y,
            end: end.max(x),
            size: g.size,
            estimated: !g.widths_known,
        });
    }
    let mut blocks: Vec<String> = Vec::new();
    for glyphs in &by_frame {
        if glyphs.is_empty() {
            continue;
        }
        let runs = runs(glyphs);
        let segments = segments(runs);
        let mut order = Vec::new();
        xy_cut(segments, 0, &mut order);
        for block in order {
            let text = block_text(block);
            if !text.trim().is_empty() {
                blocks.push(text);
            }
        }
    }
    dehyphenate(&blocks.join("\n\n"))
}

/// Step 2: runs in content order.
fn runs(glyphs: &[G]) -> Vec<Run> {
    let mut out: Vec<Run> = Vec::new();
    let mut last: Option<&G> = None;
    for g in glyphs {
        if let Some(p) = last {
            // The same glyph drawn again at (nearly) the same place: fake bold.
            if p.text == g.text
                && (p.x - g.x).abs() < 0.15 * g.size
                && (p.y - g.y).abs() < 0.15 * g.size
            {
                continue;
            }
        }
        let threshold = if g.estimated {
            SPACE_GAP_ESTIMATED
        } else {
            SPACE_GAP
        };
        let joined = match (out.last_mut(), last) {
            (Some(run), Some(p)) => {
                let gap = g.x - p.end;
                if gap >= -RUN_BACK * g.size
                    && gap <= SEGMENT_GAP * g.size.max(run.size)
                    && on_baseline(run, g)
                {
                    let is_space = g.text.trim().is_empty();
                    if gap > threshold * g.size
                        && !is_space
                        && !run.pieces.last().is_some_and(|t| t.ends_with(' '))
                    {
                        run.pieces.push(CompactString::const_new(" "));
                    }
                    if is_space {
                        if !run.pieces.last().is_some_and(|t| t.ends_with(' ')) {
                            run.pieces.push(CompactString::const_new(" "));
                        }
                    } else {
                        run.pieces.push(g.text.clone());
                    }
                    run.x1 = run.x1.max(g.end);
                    true
                } else {
                    false
                }
            }
            _ => false,
        };
        if !joined && !g.text.trim().is_empty() {
            out.push(Run {
                pieces: vec![g.text.clone()],
                x0: g.x,
                x1: g.end,
                y: g.y,
                size: g.size,
            });
        }
        last = Some(g);
    }
    out
}

/// Whether `g` continues `run`'s line: on its baseline, or a smaller sub- or superscript within
/// its height (then it joins without a space, as `x²` or `a₀`), or a larger glyph the run was
/// a script of (the run takes its baseline).
fn on_baseline(run: &mut Run, g: &G) -> bool {
    let dy = g.y - run.y;
    if dy.abs() <= 0.25 * run.size.max(g.size) {
        return true;
    }
    if g.size <= 0.9 * run.size && dy >= -0.4 * run.size && dy <= 0.65 * run.size {
        return true;
    }
    if run.size <= 0.9 * g.size && -dy >= -0.4 * g.size && -dy <= 0.65 * g.size {
        run.y = g.y;
        run.size = g.size;
        return true;
    }
    false
}

/// Items (runs or segments) grouped into lines: top to bottom, baselines closer than
/// [`SAME_LINE`] font sizes together, each line left to right. `pos` gives an item's left edge,
/// baseline and font size.
fn lines<T>(mut items: Vec<T>, pos: impl Fn(&T) -> (f64, f64, f64)) -> Vec<Vec<T>> {
    items.sort_by(|a, b| {
        let ((ax, ay, _), (bx, by, _)) = (pos(a), pos(b));
        by.total_cmp(&ay).then(ax.total_cmp(&bx))
    });
    let same_line = |a: &T, b: &T| {
        let ((_, ay, asize), (_, by, bsize)) = (pos(a), pos(b));
        (ay - by).abs() <= SAME_LINE * asize.max(bsize)
    };
    let mut out: Vec<Vec<T>> = Vec::new();
    for it in items {
        match out.last_mut() {
            Some(line) if same_line(&line[0], &it) => line.push(it),
            _ => out.push(vec![it]),
        }
    }
    for line in &mut out {
        line.sort_by(|a, b| pos(a).0.total_cmp(&pos(b).0));
    }
    out
}

/// Step 3: runs → lines → segments.
fn segments(runs: Vec<Run>) -> Vec<Segment> {
    let mut out = Vec::new();
    for line in lines(runs, |r| (r.x0, r.y, r.size)) {
        // A run drawn twice over itself (fake bold): keep the first.
        let mut kept: Vec<Run> = Vec::with_capacity(line.len());
        for r in line {
            let dup = kept
                .iter()
                .any(|k| (k.x0 - r.x0).abs() < 0.3 * r.size && k.text().trim() == r.text().trim());
            if !dup {
                kept.push(r);
            }
        }
        let mut seg: Option<Segment> = None;
        for r in kept {
            match seg.as_mut() {
                Some(s) if r.x0 - s.x1 <= SEGMENT_GAP * r.size.max(s.size) => {
                    let gap = r.x0 - s.x1;
                    if gap > SPACE_GAP * r.size
                        && !s.pieces.last().is_some_and(|t| t.ends_with(' '))
                        && !r.pieces.first().is_some_and(|t| t.starts_with(' '))
                    {
                        s.pieces.push(CompactString::const_new(" "));
                    }
                    s.pieces.extend(r.pieces);
                    s.x1 = s.x1.max(r.x1);
                }
                _ => {
                    out.extend(seg.take());
                    seg = Some(Segment {
                        pieces: r.pieces,
                        x0: r.x0,
                        x1: r.x1,
                        y: r.y,
                        size: r.size,
                    });
                }
            }
        }
        out.extend(seg);
    }
    out
}

/// Step 4: recursive XY-cut; leaves are blocks, in reading order.
fn xy_cut(segs: Vec<Segment>, depth: usize, out: &mut Vec<Vec<Segment>>) {
    if segs.len() <= 1 || depth >= MAX_CUT_DEPTH {
        if !segs.is_empty() {
            out.push(segs);
        }
        return;
    }
    let size = median_size(&segs);
    if let Some(x) = column_cut(&segs, size) {
        let (left, right): (Vec<_>, Vec<_>) = segs.into_iter().partition(|s| s.x1 <= x);
        xy_cut(left, depth + 1, out);
        xy_cut(right, depth + 1, out);
        return;
    }
    if let Some(y) = block_cut(&segs, size) {
        let (top, bottom): (Vec<_>, Vec<_>) = segs.into_iter().partition(|s| s.bottom() >= y);
        xy_cut(top, depth + 1, out);
        xy_cut(bottom, depth + 1, out);
        return;
    }
    out.push(segs);
}

fn median_size(segs: &[Segment]) -> f64 {
    let mut sizes: Vec<f64> = segs.iter().map(|s| s.size).collect();
    sizes.sort_by(f64::total_cmp);
    sizes[sizes.len() / 2].max(1e-6)
}

/// Free intervals of a projection: the gaps between merged `[lo, hi]` intervals, as
/// `(gap start, gap end)`.
fn gaps(mut spans: Vec<(f64, f64)>) -> Vec<(f64, f64)> {
    spans.sort_by(|a, b| a.0.total_cmp(&b.0));
    let mut out = Vec::new();
    let mut end = f64::NEG_INFINITY;
    for (lo, hi) in spans {
        if end.is_finite() && lo > end {
            out.push((end, lo));
        }
        end = end.max(hi);
    }
    out
}

/// The widest vertical gap with a column at least [`MIN_COLUMN`] wide on each side.
fn column_cut(segs: &[Segment], size: f64) -> Option<f64> {
    let lo = segs.iter().map(|s| s.x0).fold(f64::INFINITY, f64::min);
    let hi = segs.iter().map(|s| s.x1).fold(f64::NEG_INFINITY, f64::max);
    gaps(segs.iter().map(|s| (s.x0, s.x1)).collect())
        .into_iter()
        .filter(|(a, b)| a - lo >= MIN_COLUMN * size && hi - b >= MIN_COLUMN * size)
        .max_by(|a, b| (a.1 - a.0).total_cmp(&(b.1 - b.0)))
        .map(|(a, b)| (a + b) / 2.0)
}

/// The tallest horizontal gap at least [`BLOCK_GAP`] font sizes tall.
fn block_cut(segs: &[Segment], size: f64) -> Option<f64> {
    gaps(segs.iter().map(|s| (s.bottom(), s.top())).collect())
        .into_iter()
        .filter(|(a, b)| b - a >= BLOCK_GAP * size)
        .max_by(|a, b| (a.1 - a.0).total_cmp(&(b.1 - b.0)))
        .map(|(a, b)| (a + b) / 2.0)
}

/// A block's lines top to bottom, segments on one baseline joined by a space.
fn block_text(block: Vec<Segment>) -> String {
    let mut out = String::new();
    for line in lines(block, |s| (s.x0, s.y, s.size)) {
        let mut pieces: Vec<CompactString> = Vec::new();
        for s in line {
            if !pieces.is_empty() {
                pieces.push(CompactString::const_new(" "));
            }
            pieces.extend(s.pieces);
        }
        let text = logical_order(pieces);
        let text = text.trim();
        if text.is_empty() {
            continue;
        }
        if !out.is_empty() {
            out.push('\n');
        }
        out.push_str(text);
    }
    out
}

/// The direction a piece (a glyph's text) sets: right-to-left, left-to-right (digits count as
/// left to right: numbers keep their order inside right-to-left text), or none.
/// Whether `c` is a strong right-to-left character (bidi class R or AL). Nothing below U+0590
/// is, so Latin text never reaches the table lookup.
fn is_rtl(c: char) -> bool {
    c >= '\u{590}' && matches!(unicode_bidi::bidi_class(c), BidiClass::R | BidiClass::AL)
}

fn piece_dir(p: &str) -> Option<bool> {
    for c in p.chars() {
        if c.is_ascii() {
            if c.is_ascii_alphanumeric() {
                return Some(false);
            }
            continue;
        }
        match unicode_bidi::bidi_class(c) {
            BidiClass::R | BidiClass::AL => return Some(true),
            BidiClass::L | BidiClass::EN | BidiClass::AN => return Some(false),
            _ => {}
        }
    }
    None
}

/// Step 5: a line's pieces, left to right on the page, in logical order. A mostly
/// right-to-left line is read from the right, its left-to-right runs (words, numbers) kept in
/// their order; in a left-to-right line, right-to-left runs are reversed.
fn logical_order(pieces: Vec<CompactString>) -> String {
    let concat = |pieces: &[CompactString]| pieces.iter().map(|p| p.as_str()).collect();
    if !pieces.iter().any(|p| p.chars().any(is_rtl)) {
        return concat(&pieces);
    }
    let dirs: Vec<Option<bool>> = pieces.iter().map(|p| piece_dir(p)).collect();
    // Pieces that hold whole right-to-left words (a ToUnicode entry per cluster, as some
    // writers emit) are already in logical order: reorder only glyph by glyph text.
    let rtl_chars = |p: &CompactString| p.chars().filter(|c| is_rtl(*c)).count();
    let (clustered, single): (usize, usize) =
        pieces.iter().fold((0, 0), |(c, s), p| match rtl_chars(p) {
            0 => (c, s),
            1 => (c, s + 1),
            n => (c + n, s),
        });
    if clustered >= single {
        return concat(&pieces);
    }
    // The base direction: the one most letters have.
    let (mut rtl, mut ltr) = (0usize, 0usize);
    for c in pieces.iter().flat_map(|p| p.chars()) {
        match unicode_bidi::bidi_class(c) {
            BidiClass::R | BidiClass::AL => rtl += 1,
            BidiClass::L => ltr += 1,
            _ => {}
        }
    }
    let base_rtl = rtl > ltr;
    // Resolve neutrals: between two pieces of one direction they take it; else the base.
    let n = pieces.len();
    let mut resolved = vec![base_rtl; n];
    for i in 0..n {
        resolved[i] = match dirs[i] {
            Some(d) => d,
            None => {
                let before = dirs[..i].iter().rev().find_map(|d| *d);
                let after = dirs[i + 1..].iter().find_map(|d| *d);
                match (before, after) {
                    (Some(a), Some(b)) if a == b => a,
                    _ => base_rtl,
                }
            }
        };
    }
    // Runs of one resolved direction, in visual order.
    let mut runs: Vec<(bool, Vec<CompactString>)> = Vec::new();
    for (p, d) in pieces.into_iter().zip(resolved) {
        match runs.last_mut() {
            Some((rd, items)) if *rd == d => items.push(p),
            _ => runs.push((d, vec![p])),
        }
    }
    for (d, items) in runs.iter_mut() {
        if *d {
            items.reverse();
        }
    }
    if base_rtl {
        runs.reverse();
    }
    runs.iter()
        .flat_map(|(_, items)| items.iter().map(|p| p.as_str()))
        .collect()
}

/// Joins words hyphenated at a line end: `exam-\nple` → `example` (a letter before the hyphen,
/// a lower-case letter after the break).
fn dehyphenate(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find("-\n") {
        let (head, tail) = rest.split_at(i);
        let before = head.chars().last();
        let after_break = tail[2..].trim_start_matches('\n');
        let next = after_break.chars().next();
        if before.is_some_and(char::is_alphabetic) && next.is_some_and(char::is_lowercase) {
            out.push_str(head);
            rest = after_break;
        } else {
            out.push_str(head);
            out.push_str("-\n");
            rest = &tail[2..];
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn glyph(text: &str, x: f64, y: f64, w: f64) -> PageGlyph {
        PageGlyph {
            text: text.into(),
            x,
            y,
            end_x: x + w,
            end_y: y,
            size: 10.0,
            dir: (1.0, 0.0),
            widths_known: true,
        }
    }

    /// A word's glyphs at 5 units each from `x`.
    fn word(w: &str, x: f64, y: f64) -> Vec<PageGlyph> {
        w.chars()
            .enumerate()
            .map(|(i, c)| glyph(&c.to_string(), x + 5.0 * i as f64, y, 5.0))
            .collect()
    }

    #[test]
    fn gaps_become_spaces_and_baselines_lines() {
        let mut g = word("Hello", 0.0, 100.0);
        g.extend(word("world", 28.0, 100.0)); // 3 units = 0.3 em after "Hello"
        g.extend(word("next", 0.0, 88.0));
        assert_eq!(page_text(&g, None), "Hello world\nnext");
    }

    #[test]
    fn two_columns_read_column_by_column() {
        let mut g = Vec::new();
        for (i, y) in [700.0, 688.0, 676.0].into_iter().enumerate() {
            g.extend(word(&format!("left{i}xxxxxxxxxxxx"), 0.0, y));
            g.extend(word(&format!("right{i}xxxxxxxxxxx"), 150.0, y));
        }
        let text = page_text(&g, None);
        assert_eq!(
            text,
            "left0xxxxxxxxxxxx\nleft1xxxxxxxxxxxx\nleft2xxxxxxxxxxxx\n\nright0xxxxxxxxxxx\nright1xxxxxxxxxxx\nright2xxxxxxxxxxx"
        );
    }

    #[test]
    fn fake_bold_and_hyphenation() {
        let mut g = word("Bold", 0.0, 100.0);
        g.extend(word("Bold", 0.3, 100.0));
        g.extend(word("exam-", 0.0, 88.0));
        g.extend(word("ple", 0.0, 76.0));
        assert_eq!(page_text(&g, None), "Bold\nexample");
    }

    #[test]
    fn right_to_left_lines_read_from_the_right() {
        // "שלום 42" drawn left to right on the page: "24" is not reversed, the letters are.
        let visual = ["4", "2", " ", "ם", "ו", "ל", "ש"];
        let pieces = visual.iter().map(|s| CompactString::from(*s)).collect();
        assert_eq!(logical_order(pieces), "שלום 42");
        let mixed = ["see", " ", "ם", "ו", "ל", "ש", " ", "now"]
            .iter()
            .map(|s| CompactString::from(*s))
            .collect();
        assert_eq!(logical_order(mixed), "see שלום now");
    }

    #[test]
    fn glyphs_outside_the_page_are_dropped() {
        let g = word("Hidden", 0.0, 900.0);
        assert_eq!(page_text(&g, Some([0.0, 0.0, 612.0, 792.0])), "");
    }
}
