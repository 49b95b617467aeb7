//! HTML to text: main content only (no script, style, nav, footer...), headings kept as
//! Markdown-style `#` lines so the Markdown-aware chunker sees the structure.

use ego_tree::NodeRef;
use ragops_core::Section;
use scraper::{Html, Node, Selector};

use ragops_core::SkipReason;

use crate::{cap_title, Budget};

pub(crate) struct RenderedPage {
    pub title: Option<String>,
    pub text: String,
    pub sections: Vec<Section>,
    /// `<meta>` description, keywords, author and date, and `<html lang>` (as `lang`).
    pub metadata: std::collections::BTreeMap<String, String>,
}

const SKIP: &[&str] = &[
    "script", "style", "noscript", "template", "nav", "footer", "svg", "iframe", "head", "button",
    "select", "input", "canvas", "object", "embed", "form", "aside",
];
const BLOCK: &[&str] = &[
    "p",
    "div",
    "section",
    "article",
    "main",
    "header",
    "ul",
    "ol",
    "table",
    "thead",
    "tbody",
    "tfoot",
    "blockquote",
    "dl",
    "figure",
    "figcaption",
    "address",
    "details",
    "summary",
    "body",
    "caption",
];

/// Deepest element nesting rendered. Browsers stop nesting at 512 (Chromium's parser); the HTML
/// tree builder's scope checks cost time in proportion to the depth for every element, so a
/// page nested 200,000 deep would take minutes to parse. Deeper pages are skipped.
pub(crate) const MAX_DEPTH: usize = 1024;

/// Bytes fed to the parser between two checks of the time budget.
const PARSE_SLICE: usize = 64 << 10;

/// Renders a page. It is parsed a slice at a time (checking the time budget between slices)
/// and the DOM is walked with an explicit stack (no recursion), so nesting costs heap, not
/// stack. A page nested deeper than [`MAX_DEPTH`] is refused before parsing.
pub(crate) fn render(source: &str, budget: &Budget) -> Result<RenderedPage, SkipReason> {
    let depth = nesting_depth(source.as_bytes(), MAX_DEPTH);
    if depth > MAX_DEPTH {
        return Err(SkipReason::TooDeep { limit: MAX_DEPTH });
    }
    let doc = parse(source, budget)?;
    let title = Selector::parse("title")
        .ok()
        .and_then(|s| doc.select(&s).next())
        .map(|t| cap_title(&collapse(&t.text().collect::<String>())))
        .filter(|t| !t.is_empty());
    // Prefer the page's main content when it marks it.
    let root = ["main", "article", "[role=main]", "body"]
        .iter()
        .filter_map(|s| Selector::parse(s).ok())
        .find_map(|s| doc.select(&s).next())
        .unwrap_or_else(|| doc.root_element());
    let mut r = Renderer::default();
    r.walk(*root, budget)?;
    let text = r.out.trim_end().to_string();
    let sections: Vec<Section> = r
        .sections
        .into_iter()
        .filter(|s| !s.title.is_empty() && s.byte_start < text.len())
        .collect();
    let title = title.or_else(|| sections.first().map(|s| s.title.clone()));
    Ok(RenderedPage {
        title,
        text,
        sections,
        metadata: meta_tags(&doc),
    })
}

/// The page's declared metadata: `<meta name=description|keywords|author|date>`,
/// `<meta property=article:published_time>` (as `date`) and `<html lang>` (as `lang`); each
/// value collapsed and capped at 1,000 characters, the first of each name kept.
fn meta_tags(doc: &Html) -> std::collections::BTreeMap<String, String> {
    let mut out = std::collections::BTreeMap::new();
    if let Ok(sel) = Selector::parse("meta[content]") {
        for m in doc.select(&sel) {
            let e = m.value();
            let key = e.attr("name").or_else(|| e.attr("property")).unwrap_or("");
            let name = match key.to_ascii_lowercase().as_str() {
                "description" => "description",
                "keywords" => "keywords",
                "author" => "author",
                "date" | "article:published_time" | "dc.date" => "date",
                _ => continue,
            };
            let v: String = collapse(e.attr("content").unwrap_or(""))
                .chars()
                .take(1000)
                .collect();
            if !v.is_empty() {
                out.entry(name.to_string()).or_insert(v);
            }
        }
    }
    let lang = doc.root_element().value().attr("lang").map(str::trim);
    if let Some(l) = lang.filter(|l| !l.is_empty() && l.len() <= 35) {
        out.insert("lang".to_string(), l.to_string());
    }
    out
}

fn parse(source: &str, budget: &Budget) -> Result<Html, SkipReason> {
    use html5ever::tendril::TendrilSink;
    let mut parser = html5ever::driver::parse_document(
        scraper::HtmlTreeSink::new(Html::new_document()),
        Default::default(),
    );
    let mut rest = source;
    while !rest.is_empty() {
        let mut cut = rest.len().min(PARSE_SLICE);
        while !rest.is_char_boundary(cut) {
            cut += 1;
        }
        let (slice, tail) = rest.split_at(cut);
        parser.process(slice.into());
        rest = tail;
        budget.check_time()?;
    }
    Ok(parser.finish())
}

/// Elements that never hold children, or that the parser closes when a sibling opens: they do
/// not deepen the tree.
const FLAT: &[&[u8]] = &[
    b"area",
    b"base",
    b"br",
    b"col",
    b"embed",
    b"hr",
    b"img",
    b"input",
    b"link",
    b"meta",
    b"param",
    b"source",
    b"track",
    b"wbr",
    b"p",
    b"li",
    b"dt",
    b"dd",
    b"tr",
    b"td",
    b"th",
    b"option",
    b"!doctype",
];
/// Elements whose content is text up to their end tag.
const RAW: &[&[u8]] = &[
    b"script",
    b"style",
    b"textarea",
    b"title",
    b"xmp",
    b"plaintext",
];

fn find(hay: &[u8], needle: &[u8], from: usize) -> Option<usize> {
    hay.get(from..)?
        .windows(needle.len())
        .position(|w| w.eq_ignore_ascii_case(needle))
        .map(|p| p + from)
}

/// The deepest element nesting of a page, from a scan of its tags (start tags deepen, end tags
/// return; void and self-closing elements, and those closed by a sibling, do not count).
/// An end tag closes the innermost open element of its name and those inside it; an end tag
/// that matches no open element is ignored, as the parser ignores it (so `<div></x>` repeated
/// still deepens). Linear in the page size; an estimate of what the parser builds, never below
/// it by much. Stops as soon as the depth passes `limit` (returning `limit + 1`), so its stack
/// of open names never holds more than `limit + 1` entries.
pub(crate) fn nesting_depth(html: &[u8], limit: usize) -> usize {
    let (mut open, mut max, mut i): (Vec<Vec<u8>>, usize, usize) = (Vec::new(), 0, 0);
    while let Some(p) = html
        .get(i..)
        .and_then(|s| s.iter().position(|&b| b == b'<'))
    {
        i += p + 1;
        if html[i..].starts_with(b"!--") {
            i = find(html, b"-->", i).map_or(html.len(), |e| e + 3);
            continue;
        }
        let close = html.get(i) == Some(&b'/');
        let start = i + close as usize;
        let end = start
            + html[start..]
                .iter()
                .position(|b| !(b.is_ascii_alphanumeric() || *b == b'!' || *b == b'-'))
                .unwrap_or(html.len() - start);
        let name = html[start..end].to_ascii_lowercase();
        let Some(gt) = html[end..].iter().position(|&b| b == b'>').map(|g| g + end) else {
            break;
        };
        i = gt + 1;
        if name.is_empty() || FLAT.contains(&name.as_slice()) {
            continue;
        }
        if close {
            if let Some(at) = open.iter().rposition(|n| *n == name) {
                open.truncate(at);
            }
        } else if html[..gt].ends_with(b"/") {
            // Self-closing: no depth.
        } else if RAW.contains(&name.as_slice()) {
            let mut end_tag = b"</".to_vec();
            end_tag.extend_from_slice(&name);
            i = find(html, &end_tag, i).unwrap_or(html.len());
        } else {
            open.push(name);
            max = max.max(open.len());
            if max > limit {
                return max;
            }
        }
    }
    max
}

fn collapse(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[derive(Default)]
struct Renderer {
    out: String,
    sections: Vec<Section>,
    pre: usize,
}

/// What to do when an element's children are done.
enum Close {
    Heading {
        start: usize,
        level: u8,
        text_start: usize,
    },
    Pre,
    Newline,
    BlankLine,
}

/// One step of the walk: render a node (and schedule its children), or close an element.
enum Step<'a> {
    Node(NodeRef<'a, Node>),
    Close(Close),
}

/// Nodes rendered between two checks of the time budget.
const BUDGET_CHECK_EVERY: usize = 4096;

impl Renderer {
    fn newline(&mut self) {
        while self.out.ends_with(' ') {
            self.out.pop();
        }
        if !self.out.is_empty() && !self.out.ends_with('\n') {
            self.out.push('\n');
        }
    }

    fn blank_line(&mut self) {
        self.newline();
        if !self.out.is_empty() && !self.out.ends_with("\n\n") {
            self.out.push('\n');
        }
    }

    fn text(&mut self, t: &str) {
        if self.pre > 0 {
            self.out.push_str(t);
            return;
        }
        let at_line_start = self.out.is_empty() || self.out.ends_with('\n');
        let leading_space = t.starts_with(char::is_whitespace);
        let trailing_space = t.ends_with(char::is_whitespace);
        let words = collapse(t);
        if words.is_empty() {
            if !at_line_start && !self.out.ends_with(' ') && !t.is_empty() {
                self.out.push(' ');
            }
            return;
        }
        if leading_space && !at_line_start && !self.out.ends_with(' ') {
            self.out.push(' ');
        }
        self.out.push_str(&words);
        if trailing_space {
            self.out.push(' ');
        }
    }

    /// Renders `root` and everything under it, depth first, in document order.
    fn walk<'a>(&mut self, root: NodeRef<'a, Node>, budget: &Budget) -> Result<(), SkipReason> {
        let mut stack = vec![Step::Node(root)];
        let mut steps = 0usize;
        while let Some(step) = stack.pop() {
            steps += 1;
            if steps.is_multiple_of(BUDGET_CHECK_EVERY) {
                budget.check_time()?;
            }
            match step {
                Step::Close(c) => self.close(c),
                Step::Node(node) => match node.value() {
                    Node::Text(t) => self.text(t),
                    Node::Element(e) => {
                        if let Some(close) = self.open(e.name()) {
                            let descend = close.is_some() || !LEAF.contains(&e.name());
                            if let Some(c) = close {
                                stack.push(Step::Close(c));
                            }
                            if descend {
                                // Children go on the stack last first, so the first pops first.
                                let at = stack.len();
                                stack.extend(node.children().map(Step::Node));
                                stack[at..].reverse();
                            }
                        }
                    }
                    _ => {}
                },
            }
        }
        Ok(())
    }

    /// Renders an element's opening. `None`: skip the element and its children.
    /// `Some(close)`: render its children, then `close` (if any).
    fn open(&mut self, name: &str) -> Option<Option<Close>> {
        if SKIP.contains(&name) {
            return None;
        }
        Some(match name {
            "h1" | "h2" | "h3" | "h4" | "h5" | "h6" => {
                let level = name.as_bytes()[1] - b'0';
                self.blank_line();
                let start = self.out.len();
                self.out.push_str(&"#".repeat(level as usize));
                self.out.push(' ');
                Some(Close::Heading {
                    start,
                    level,
                    text_start: self.out.len(),
                })
            }
            "pre" => {
                self.blank_line();
                self.out.push_str("```\n");
                self.pre += 1;
                Some(Close::Pre)
            }
            "br" => {
                self.newline();
                None
            }
            "hr" => {
                self.blank_line();
                None
            }
            "li" => {
                self.newline();
                self.out.push_str("- ");
                Some(Close::Newline)
            }
            "tr" | "dt" | "dd" => {
                self.newline();
                Some(Close::Newline)
            }
            "td" | "th" => {
                if !self.out.is_empty() && !self.out.ends_with('\n') {
                    while self.out.ends_with(' ') {
                        self.out.pop();
                    }
                    self.out.push_str(" | ");
                }
                None
            }
            _ if BLOCK.contains(&name) => {
                self.blank_line();
                Some(Close::BlankLine)
            }
            _ => None,
        })
    }

    fn close(&mut self, c: Close) {
        match c {
            Close::Heading {
                start,
                level,
                text_start,
            } => {
                let title = collapse(&self.out[text_start..]);
                self.out.truncate(text_start);
                self.out.push_str(&title);
                // A heading nested in this one (`<h2><pre><h3>`) became part of its title.
                self.sections.retain(|s| s.byte_start < start);
                self.sections.push(Section {
                    byte_start: start,
                    level,
                    title: cap_title(&title),
                });
                self.blank_line();
            }
            Close::Pre => {
                self.pre -= 1;
                self.newline();
                self.out.push_str("```");
                self.blank_line();
            }
            Close::Newline => self.newline(),
            Close::BlankLine => self.blank_line(),
        }
    }
}

/// Elements whose children are not rendered (their opening is all there is).
const LEAF: &[&str] = &["br", "hr"];

#[cfg(test)]
mod tests {
    use super::*;

    fn budget() -> Budget {
        Budget::new(1 << 30, 1000, std::time::Duration::from_secs(60))
    }

    #[test]
    fn deep_nesting_renders_without_recursion() {
        // Just under the cap: rendered on a 2 MiB stack, as rayon's workers have (a recursive
        // renderer needs far more per level).
        let depth = MAX_DEPTH - 4;
        let html = format!(
            "<html><body>{}x{}</body></html>",
            "<span><b>".repeat(depth / 2),
            "</b></span>".repeat(depth / 2)
        );
        let page = std::thread::Builder::new()
            .stack_size(2 << 20)
            .spawn(move || render(&html, &budget()))
            .unwrap()
            .join()
            .expect("no stack overflow")
            .unwrap();
        assert_eq!(page.text, "x");
    }

    #[test]
    fn hostile_nesting_is_refused_quickly() {
        let depth = 200_000;
        let html = format!("{}x{}", "<div>".repeat(depth), "</div>".repeat(depth));
        let t = std::time::Instant::now();
        assert!(matches!(
            render(&html, &budget()),
            Err(SkipReason::TooDeep { limit: MAX_DEPTH })
        ));
        assert!(t.elapsed().as_secs() < 5);
        // Stray end tags between the start tags do not hide the depth from the check.
        assert!(matches!(
            render(&"<div></x>".repeat(depth), &budget()),
            Err(SkipReason::TooDeep { limit: MAX_DEPTH })
        ));
    }

    #[test]
    fn a_heading_nested_in_a_heading_becomes_part_of_its_title() {
        // Found by the markup-soup property: the inner section pointed into re-collapsed text.
        let page = render("<h2>é<pre><h3>x  y</h3></pre></h2><p>after</p>", &budget()).unwrap();
        assert_eq!(page.sections.len(), 1, "{:?}", page.sections);
        for s in &page.sections {
            assert!(page.text.is_char_boundary(s.byte_start));
            assert!(page.text[s.byte_start..].starts_with("## "));
        }
    }

    #[test]
    fn nesting_depth_follows_what_parsers_build() {
        assert_eq!(
            nesting_depth(
                b"<html><body><div><p>a<p>b<br><img src=x/></div></body></html>",
                100
            ),
            3
        );
        assert_eq!(
            nesting_depth(
                b"<!-- <div><div> --><script>if (a<b) {}</script><svg/>",
                100
            ),
            0
        );
        assert_eq!(
            nesting_depth(b"<ul><li>a<li>b</ul><table><tr><td>x</table>", 100),
            1
        );
        assert_eq!(nesting_depth(b"<DIV><Div></div></DIV>", 100), 2);
        // A stray end tag closes nothing (the parser ignores it), so it cannot hide depth.
        assert_eq!(nesting_depth(&b"<div></x>".repeat(50), 100), 50);
        // An end tag closes what was opened inside its element too.
        assert_eq!(nesting_depth(b"<div><span><b>x</div><i>y</i>", 100), 3);
        // The scan stops once past the limit.
        assert_eq!(nesting_depth(&b"<div>".repeat(10_000), 8), 9);
    }

    #[test]
    fn long_headings_are_capped_in_sections_not_in_text() {
        let word = "w ".repeat(5000);
        let page = render(&format!("<h1>{word}</h1><p>body</p>"), &budget()).unwrap();
        assert!(page.sections[0].title.chars().count() <= crate::MAX_TITLE_CHARS + 1);
        assert!(page.title.unwrap().chars().count() <= crate::MAX_TITLE_CHARS + 1);
        assert!(page.text.len() > 9000);
    }

    #[test]
    fn meta_tags_and_lang_are_declared_metadata() {
        let page = render(
            "<html lang=\"de\"><head><title>T</title><meta name=\"description\" content=\" A  page \">\
             <meta name=\"author\" content=\"Jane\"><meta property=\"article:published_time\" content=\"2026-01-02\">\
             <meta name=\"viewport\" content=\"x\"></head><body><p>Text.</p></body></html>",
            &budget(),
        )
        .unwrap();
        let m = &page.metadata;
        assert_eq!(m.get("description").map(String::as_str), Some("A page"));
        assert_eq!(m.get("author").map(String::as_str), Some("Jane"));
        assert_eq!(m.get("date").map(String::as_str), Some("2026-01-02"));
        assert_eq!(m.get("lang").map(String::as_str), Some("de"));
        assert!(!m.contains_key("viewport"));
    }

    #[test]
    fn main_text_headings_and_no_junk() {
        let page = render(
            "<html><head><title> Status  FAQ </title><style>body{color:red}</style>\
             <script>trackPageView('x')</script></head><body><nav>Home | Careers</nav>\
             <main><h1>Status <em>page</em></h1><p>We post   updates\nhere.</p>\
             <ul><li>one</li><li>two</li></ul><table><tr><th>a</th><th>b</th></tr>\
             <tr><td>1</td><td>2</td></tr></table><h2>Zoë</h2><pre><code>x  =  1\ny</code></pre>\
             </main><footer>© corp</footer></body></html>",
            &budget(),
        )
        .unwrap();
        assert_eq!(page.title.as_deref(), Some("Status FAQ"));
        let t = &page.text;
        assert!(
            t.starts_with("# Status page\n\nWe post updates here."),
            "{t}"
        );
        assert!(t.contains("- one\n- two"), "{t}");
        assert!(t.contains("a | b\n1 | 2"), "{t}");
        assert!(t.contains("```\nx  =  1\ny\n```"), "{t}");
        for junk in ["trackPageView", "Careers", "corp", "color:red"] {
            assert!(!t.contains(junk), "{junk} leaked: {t}");
        }
        let s: Vec<_> = page
            .sections
            .iter()
            .map(|s| (s.level, s.title.as_str()))
            .collect();
        assert_eq!(s, vec![(1, "Status page"), (2, "Zoë")]);
        assert_eq!(&t[page.sections[1].byte_start..][..3], "## ");
    }
}
