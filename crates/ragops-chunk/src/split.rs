//! Token-sized splitting on precomputed token spans.
//!
//! The document is tokenised once ([`crate::TokenSpans`]). A cut may fall before any token; the
//! size of a chunk is the number of tokens between its two cuts, so sizing is a subtraction
//! instead of a re-tokenisation. Each cut gets a semantic rank from the text between the two
//! tokens it separates (lower is stronger):
//!
//! | rank | boundary |
//! |---|---|
//! | 1-6 | a Markdown heading of that level starts here (Markdown strategy only) |
//! | 7 | paragraph: a blank line |
//! | 8 | line break |
//! | 9 | sentence: whitespace after `.`, `!` or `?` (closing quotes and brackets allowed) |
//! | 10 | word: any other whitespace |
//! | 11 | BERT punctuation (ASCII or Unicode category P) on one side, no whitespace (`foo` `,`) |
//! | 12 | inside a word (`un` `##believ` `##able`), next to a symbol (`5` `##€`), between CJK characters |
//!
//! A chunk starting at cut `s` may end at any cut `e` with `e - s <= capacity`; the splitter takes
//! the strongest rank in that window and, among cuts of that rank, the furthest. So the boundary
//! is always at the highest semantic level that fits, and chunks are as large as that level
//! allows. Chunks never include the whitespace around them.
//!
//! Re-tokenising a chunk alone gives exactly its token count when both of its cuts have rank
//! ≤ 11 (a pre-token boundary). A cut inside a word (rank 12, only chosen when one word is longer
//! than the capacity) can change how the cut word's pieces are matched, so such a chunk is
//! re-counted alone and shortened until it fits.
//!
//! Overlap: a chunk that ends at a heading is followed by the new section as it is, with no
//! overlap (repeating the end of the previous section would only blur the new one). Otherwise
//! the next chunk starts at the earliest cut among the last `overlap` tokens of the previous
//! chunk that is at least as strong as a sentence boundary (or, when the previous chunk ended
//! at a weaker boundary, as strong as that end) and that leaves the new chunk room for at least
//! one token beyond the previous one within its own capacity; if there is none, it starts where
//! the previous chunk ended. A chunk with overlap always ends after the previous one.

const PARAGRAPH: u8 = 7;
const LINE: u8 = 8;
const SENTENCE: u8 = 9;
const WORD: u8 = 10;
const PUNCT: u8 = 11;
const SUBWORD: u8 = 12;

/// Cuts `text` into chunks; returns byte ranges.
///
/// `spans` are the token spans of `text`; `headings` are `(byte offset, level)` of the Markdown
/// headings to treat as boundaries; `capacity(i)` is the most tokens a chunk starting at token
/// `i` may hold (it always takes at least one token beyond the previous chunk); `recount`
/// tokenises a text alone (used only for chunks that start or end inside a word).
pub(crate) fn split_tokens(
    text: &str,
    spans: &[(usize, usize)],
    headings: &[(usize, u8)],
    mut capacity: impl FnMut(usize) -> usize,
    overlap: usize,
    recount: impl Fn(&str) -> usize,
) -> Vec<(usize, usize)> {
    let n = spans.len();
    if n == 0 {
        return Vec::new();
    }
    let rank = ranks(text, spans, headings);
    let range = |s: usize, e: usize| (spans[s].0, spans[e - 1].1.max(spans[s].0));
    let mut out = Vec::new();
    let (mut start, mut prev_end) = (0, 0);
    loop {
        let lo = start.max(prev_end);
        let cap = capacity(start).max(lo - start + 1);
        let mut limit = (start + cap).min(n);
        let end = loop {
            let e = best_cut(&rank, lo + 1, limit, n);
            let (a, b) = range(start, e);
            let exact = rank[start] < SUBWORD && rank[e] < SUBWORD;
            if exact || e == lo + 1 || recount(&text[a..b]) <= cap {
                break e;
            }
            limit = e - 1;
        };
        out.push(range(start, end));
        if end == n {
            break;
        }
        prev_end = end;
        // The overlap must leave room for a new token within the next chunk's own capacity
        // (which is smaller under a long contextual header).
        start = match overlap_start(&rank, start, end, overlap) {
            Some(s) if end - s < capacity(s) => s,
            _ => end,
        };
    }
    out
}

/// The strongest cut in `from..=to`, the furthest among equals; the document end is strongest.
fn best_cut(rank: &[u8], from: usize, to: usize, n: usize) -> usize {
    if to == n {
        return n;
    }
    let mut best = to;
    for e in (from..=to).rev() {
        if rank[e] < rank[best] {
            best = e;
        }
    }
    best
}

fn overlap_start(rank: &[u8], start: usize, end: usize, overlap: usize) -> Option<usize> {
    if overlap == 0 || rank[end] < PARAGRAPH {
        return None;
    }
    let level = rank[end].max(SENTENCE);
    let first = (start + 1).max(end.saturating_sub(overlap));
    (first..end).find(|&i| rank[i] <= level)
}

/// Rank of the cut before each token (index 0 and `n` are the document edges, rank 0).
fn ranks(text: &str, spans: &[(usize, usize)], headings: &[(usize, u8)]) -> Vec<u8> {
    let n = spans.len();
    let mut rank = vec![0u8; n + 1];
    for i in 1..n {
        let (prev_start, prev_end) = spans[i - 1];
        let next_start = spans[i].0;
        let gap = text.get(prev_end..next_start).unwrap_or("");
        // A gap of characters the normaliser removes (U+200B, control characters) joins the
        // tokens on either side like no gap at all: only whitespace separates pre-tokens.
        rank[i] = if !gap.chars().any(char::is_whitespace) {
            let before = text.get(..prev_end).and_then(|t| t.chars().next_back());
            let after = text.get(next_start..).and_then(|t| t.chars().next());
            // Without whitespace, BERT separates pre-tokens only at its punctuation (ASCII or
            // Unicode category P); a symbol (`€`, `°`, emoji) stays inside its word.
            match (before, after) {
                (Some(b), Some(a)) if bert_punctuation(b) || bert_punctuation(a) => PUNCT,
                _ => SUBWORD,
            }
        } else if blank_line(gap) {
            PARAGRAPH
        } else if gap.contains('\n') {
            LINE
        } else if sentence_end(text, spans, i - 1, prev_start) {
            SENTENCE
        } else {
            WORD
        };
    }
    for &(byte, level) in headings {
        let i = spans.partition_point(|s| s.0 < byte);
        // A heading inside a word (offsets that do not fall on a token start) stays in-word.
        if i > 0 && i < n && rank[i] < SUBWORD {
            rank[i] = rank[i].min(level.clamp(1, 6));
        }
    }
    rank
}

fn bert_punctuation(c: char) -> bool {
    use unicode_categories::UnicodeCategories;
    // BERT counts every ASCII symbol as punctuation; the Unicode table is for the rest.
    if c.is_ascii() {
        c.is_ascii_punctuation()
    } else {
        c.is_punctuation()
    }
}

fn blank_line(gap: &str) -> bool {
    // The text before the first newline ends the previous line and the text after the last
    // one starts the next: a blank line lies wholly between two newlines.
    let (Some(first), Some(last)) = (gap.find('\n'), gap.rfind('\n')) else {
        return false;
    };
    first < last
        && gap[first + 1..last]
            .split('\n')
            .any(|l| l.trim().is_empty())
}

/// Whether token `i` (starting at `start`), skipping closing quotes and brackets, is `.`/`!`/`?`.
fn sentence_end(text: &str, spans: &[(usize, usize)], mut i: usize, mut start: usize) -> bool {
    loop {
        let tok = text.get(start..spans[i].1).unwrap_or("");
        match tok {
            "." | "!" | "?" | "…" => return true,
            ")" | "]" | "\"" | "'" | "’" | "”" | "»" if i > 0 => {
                i -= 1;
                start = spans[i].0;
            }
            _ => return false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Whitespace-separated words, punctuation isolated: a stand-in tokenizer for the splitter.
    fn words(text: &str) -> Vec<(usize, usize)> {
        let mut out = Vec::new();
        let mut start = None;
        for (i, c) in text.char_indices() {
            if c.is_alphanumeric() {
                start.get_or_insert(i);
                continue;
            }
            if let Some(s) = start.take() {
                out.push((s, i));
            }
            if !c.is_whitespace() {
                out.push((i, i + c.len_utf8()));
            }
        }
        if let Some(s) = start {
            out.push((s, text.len()));
        }
        out
    }

    fn chunks<'t>(
        text: &'t str,
        headings: &[(usize, u8)],
        cap: usize,
        overlap: usize,
    ) -> Vec<&'t str> {
        let spans = words(text);
        split_tokens(text, &spans, headings, |_| cap, overlap, |t| words(t).len())
            .into_iter()
            .map(|(a, b)| &text[a..b])
            .collect()
    }

    #[test]
    fn prefers_the_strongest_boundary_that_fits() {
        let text = "One two three. Four five six.\n\nSeven eight. Nine ten eleven twelve.";
        // The first paragraph is 8 tokens; the rest fits in one chunk.
        assert_eq!(
            chunks(text, &[], 8, 0),
            vec![
                "One two three. Four five six.",
                "Seven eight. Nine ten eleven twelve."
            ]
        );
        // Everything fits: one chunk.
        assert_eq!(chunks(text, &[], 100, 0), vec![text]);
        // 5 tokens: sentence boundaries where they fit.
        assert_eq!(
            chunks(text, &[], 5, 0),
            vec![
                "One two three.",
                "Four five six.",
                "Seven eight.",
                "Nine ten eleven twelve.",
            ]
        );
        assert_eq!(
            chunks(text, &[], 3, 0),
            vec![
                "One two",
                "three.",
                "Four five",
                "six.",
                "Seven eight.",
                "Nine ten eleven",
                "twelve."
            ]
        );
    }

    #[test]
    fn headings_outrank_paragraphs() {
        let text = "# A\n\nalpha beta\n\ngamma\n\n## B\n\ndelta epsilon";
        let h = [(0, 1u8), (text.find("## B").unwrap(), 2)];
        // 10 tokens; the 9-token window holds paragraph cuts and the level-2 heading: the
        // heading wins even though a later paragraph cut would give a longer chunk.
        let c = chunks(text, &h, 9, 0);
        assert_eq!(
            c,
            vec!["# A\n\nalpha beta\n\ngamma", "## B\n\ndelta epsilon"]
        );
    }

    #[test]
    fn never_exceeds_capacity_and_covers_every_token() {
        let text = "Lorem ipsum, dolor sit amet! Consectetur (adipiscing) elit; sed do.\n"
            .repeat(40)
            + "\n\nsupercalifragilisticexpialidocious "
            + &"word ".repeat(50);
        let spans = words(&text);
        for cap in [1usize, 2, 3, 7, 16, 50] {
            for overlap in [0, cap / 2, cap.saturating_sub(1)] {
                let got = split_tokens(&text, &spans, &[], |_| cap, overlap, |t| words(t).len());
                let mut covered = 0;
                let mut last_end = 0;
                for &(a, b) in &got {
                    assert!(
                        words(&text[a..b]).len() <= cap,
                        "cap {cap}: {:?}",
                        &text[a..b]
                    );
                    assert!(b > last_end, "progress");
                    if a > covered {
                        assert!(text[covered..a].trim().is_empty(), "gap before {a}");
                    }
                    covered = covered.max(b);
                    last_end = b;
                }
                assert_eq!(
                    covered,
                    text.trim_end().len(),
                    "cap {cap} overlap {overlap}"
                );
            }
        }
    }

    #[test]
    fn overlap_repeats_at_most_overlap_tokens_from_a_sentence_start() {
        let text = "Aa bb cc dd. Ee ff gg hh. Ii jj kk ll. Mm nn oo pp.";
        let c = chunks(text, &[], 10, 5);
        assert_eq!(
            c,
            vec![
                "Aa bb cc dd. Ee ff gg hh.",
                "Ee ff gg hh. Ii jj kk ll.",
                "Ii jj kk ll. Mm nn oo pp."
            ]
        );
    }

    #[test]
    fn no_overlap_across_a_heading() {
        let text = "# A\n\nOne two three. Four five six.\n\n# B\n\nSeven eight nine. Ten eleven.";
        let h = [(0, 1u8), (text.find("# B").unwrap(), 1)];
        assert_eq!(
            chunks(text, &h, 12, 6),
            vec![
                "# A\n\nOne two three. Four five six.",
                "# B\n\nSeven eight nine. Ten eleven."
            ]
        );
        // The same text without headings: 19 tokens; the furthest paragraph cut within 12
        // tokens is before "Seven", and sentence or paragraph starts carry the overlap.
        assert_eq!(
            chunks(text, &[], 12, 6),
            vec![
                "# A\n\nOne two three. Four five six.\n\n# B",
                "Four five six.\n\n# B\n\nSeven eight nine.",
                "# B\n\nSeven eight nine. Ten eleven."
            ]
        );
    }

    #[test]
    fn gaps_without_whitespace_are_not_word_boundaries() {
        // BERT drops U+200B, so "foo\u{200b}bar" is one word ("foo", "##bar"); the cut between
        // them must be recounted like any in-word cut, unlike the real space before "baz".
        let text = "foo\u{200b}bar baz.\u{0}qux";
        let spans = [(0, 3), (6, 9), (10, 13), (13, 14), (15, 18)];
        let r = ranks(text, &spans, &[]);
        assert_eq!(&r[1..5], &[SUBWORD, WORD, PUNCT, PUNCT]);

        // BERT keeps symbols inside words: "5€" is "5", "##€", a cut to recount; "5’" splits.
        let text = "5€ 5’";
        let spans = [(0, 1), (1, 4), (5, 6), (6, 9)];
        let r = ranks(text, &spans, &[]);
        assert_eq!(&r[1..4], &[SUBWORD, WORD, PUNCT]);
        // A heading offset inside a word does not make the in-word cut a heading cut.
        let r = ranks(text, &spans, &[(1, 1)]);
        assert_eq!(r[1], SUBWORD);
    }

    #[test]
    fn overlap_stays_within_a_smaller_capacity() {
        // Sentences of 5 tokens; chunks starting from token 5 on may hold only 5 tokens (a long
        // header there), so starting the second chunk 5 tokens back (overlap 5) would leave no
        // room for a new token: it starts where the first ended instead.
        let text = "Aa bb cc dd. Ee ff gg hh. Ii jj kk ll. Mm nn oo pp. Qq rr ss tt.";
        let spans = words(text);
        let cap = |start: usize| if start >= 5 { 5 } else { 10 };
        let got = split_tokens(text, &spans, &[], cap, 5, |t| words(t).len());
        for &(a, b) in &got {
            let start = spans.partition_point(|s| s.0 < a);
            assert!(words(&text[a..b]).len() <= cap(start), "{:?}", &text[a..b]);
        }
        let chunks: Vec<&str> = got.iter().map(|&(a, b)| &text[a..b]).collect();
        assert_eq!(
            chunks,
            vec![
                "Aa bb cc dd. Ee ff gg hh.",
                "Ii jj kk ll.",
                "Mm nn oo pp.",
                "Qq rr ss tt."
            ]
        );
    }

    #[test]
    fn in_word_cuts_are_recounted() {
        // The stand-in "tokenizer" splits "abcdef" into 6 pieces globally, but counts 10 for
        // any text starting inside it: the splitter must shrink such chunks.
        let text = "abcdef";
        let spans: Vec<_> = (0..6).map(|i| (i, i + 1)).collect();
        let got = split_tokens(
            text,
            &spans,
            &[],
            |_| 4,
            0,
            |t| {
                if t.starts_with('a') {
                    t.len()
                } else {
                    10
                }
            },
        );
        assert_eq!(got[0], (0, 4));
        // The rest start inside the word: each is shrunk to one piece.
        assert_eq!(&got[1..], &[(4, 5), (5, 6)]);
    }
}
