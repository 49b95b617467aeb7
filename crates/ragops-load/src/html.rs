//! HTML to text: main content only (no script, style, nav, footer...), headings kept as
//! Markdown-style `#` lines so the Markdown-aware chunker sees the structure.

use ragops_core::Section;
use scraper::{ElementRef, Html, Node, Selector};

pub struct RenderedPage {
    pub title: Option<String>,
    pub text: String,
    pub sections: Vec<Section>,
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

pub fn render(source: &str) -> RenderedPage {
    let doc = Html::parse_document(source);
    let title = Selector::parse("title")
        .ok()
        .and_then(|s| doc.select(&s).next())
        .map(|t| collapse(&t.text().collect::<String>()))
        .filter(|t| !t.is_empty());
    // Prefer the page's main content when it marks it.
    let root = ["main", "article", "[role=main]", "body"]
        .iter()
        .filter_map(|s| Selector::parse(s).ok())
        .find_map(|s| doc.select(&s).next())
        .unwrap_or_else(|| doc.root_element());
    let mut r = Renderer::default();
    r.element(root);
    let text = r.out.trim_end().to_string();
    let sections: Vec<Section> = r
        .sections
        .into_iter()
        .filter(|s| !s.title.is_empty())
        .collect();
    let title = title.or_else(|| sections.first().map(|s| s.title.clone()));
    RenderedPage {
        title,
        text,
        sections,
    }
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

    fn children(&mut self, el: ElementRef) {
        for child in el.children() {
            match child.value() {
                Node::Text(t) => self.text(t),
                Node::Element(_) => {
                    if let Some(e) = ElementRef::wrap(child) {
                        self.element(e);
                    }
                }
                _ => {}
            }
        }
    }

    fn element(&mut self, el: ElementRef) {
        let name = el.value().name();
        if SKIP.contains(&name) {
            return;
        }
        match name {
            "h1" | "h2" | "h3" | "h4" | "h5" | "h6" => {
                let level = name.as_bytes()[1] - b'0';
                self.blank_line();
                let start = self.out.len();
                self.out.push_str(&"#".repeat(level as usize));
                self.out.push(' ');
                let text_start = self.out.len();
                self.children(el);
                let title = collapse(&self.out[text_start..]);
                self.out.truncate(text_start);
                self.out.push_str(&title);
                self.sections.push(Section {
                    byte_start: start,
                    level,
                    title,
                });
                self.blank_line();
            }
            "pre" => {
                self.blank_line();
                self.out.push_str("```\n");
                self.pre += 1;
                self.children(el);
                self.pre -= 1;
                self.newline();
                self.out.push_str("```");
                self.blank_line();
            }
            "br" => self.newline(),
            "hr" => self.blank_line(),
            "li" => {
                self.newline();
                self.out.push_str("- ");
                self.children(el);
                self.newline();
            }
            "tr" => {
                self.newline();
                self.children(el);
                self.newline();
            }
            "td" | "th" => {
                if !self.out.is_empty() && !self.out.ends_with('\n') {
                    while self.out.ends_with(' ') {
                        self.out.pop();
                    }
                    self.out.push_str(" | ");
                }
                self.children(el);
            }
            "dt" | "dd" => {
                self.newline();
                self.children(el);
                self.newline();
            }
            _ if BLOCK.contains(&name) => {
                self.blank_line();
                self.children(el);
                self.blank_line();
            }
            _ => self.children(el),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn main_text_headings_and_no_junk() {
        let page = render(
            "<html><head><title> Status  FAQ </title><style>body{color:red}</style>\
             <script>trackPageView('x')</script></head><body><nav>Home | Careers</nav>\
             <main><h1>Status <em>page</em></h1><p>We post   updates\nhere.</p>\
             <ul><li>one</li><li>two</li></ul><table><tr><th>a</th><th>b</th></tr>\
             <tr><td>1</td><td>2</td></tr></table><h2>Zoë</h2><pre><code>x  =  1\ny</code></pre>\
             </main><footer>© corp</footer></body></html>",
        );
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
