//! Token counting without re-tokenising: the document is tokenised once, and the size of any
//! candidate chunk (a slice of the document) is counted from the token byte offsets with two
//! binary searches. text-splitter asks for the size of many overlapping candidates per chunk, so
//! this turns chunking from "tokenise every candidate" into one tokenisation per document.
//!
//! The count is exact when the slice starts and ends on token boundaries (text-splitter cuts at
//! words and above), and an upper bound otherwise: a token cut by the slice counts as many tokens
//! as it has characters inside the slice (re-tokenising a cut word gives at most one piece per
//! character). A chunk sized with it never holds more tokens than the limit when tokenised alone.

use text_splitter::ChunkSizer;
use tokenizers::Tokenizer;

pub struct OffsetSizer<'t> {
    text: &'t str,
    /// Token start and end byte offsets, in order.
    starts: Vec<usize>,
    ends: Vec<usize>,
    tokenizer: &'t Tokenizer,
}

impl<'t> OffsetSizer<'t> {
    /// Tokenises `text` once. On a tokenizer error, every size falls back to tokenising the
    /// candidate itself.
    pub fn new(tokenizer: &'t Tokenizer, text: &'t str) -> Self {
        let (starts, ends) = match tokenizer.encode(text, false) {
            Ok(enc) => enc
                .get_offsets()
                .iter()
                .filter(|(s, e)| e > s)
                .map(|&(s, e)| (s, e))
                .unzip(),
            Err(_) => (Vec::new(), Vec::new()),
        };
        Self {
            text,
            starts,
            ends,
            tokenizer,
        }
    }

    /// Byte range of `chunk` inside the document, if it is a slice of it.
    fn range(&self, chunk: &str) -> Option<(usize, usize)> {
        let base = self.text.as_ptr() as usize;
        let p = chunk.as_ptr() as usize;
        (p >= base && p + chunk.len() <= base + self.text.len())
            .then(|| (p - base, p - base + chunk.len()))
    }

    fn tokenize_count(&self, chunk: &str) -> usize {
        self.tokenizer
            .encode_fast(chunk, false)
            .map(|e| e.get_ids().len())
            .unwrap_or(chunk.len())
    }
}

impl ChunkSizer for OffsetSizer<'_> {
    fn size(&self, chunk: &str) -> usize {
        if self.starts.is_empty() && !self.text.trim().is_empty() {
            return self.tokenize_count(chunk);
        }
        let Some((a, b)) = self.range(chunk) else {
            return self.tokenize_count(chunk);
        };
        // Tokens overlapping [a, b): start < b and end > a.
        let first = self.ends.partition_point(|&e| e <= a);
        let last = self.starts.partition_point(|&s| s < b);
        if last <= first {
            return 0;
        }
        let mut n = last - first;
        let chars = |from: usize, to: usize| {
            self.text
                .get(from..to)
                .map_or(to - from, |t| t.chars().count())
        };
        if first == last - 1 && (self.starts[first] < a || self.ends[first] > b) {
            // One token, cut on one or both sides.
            return chars(a.max(self.starts[first]), b.min(self.ends[first]));
        }
        if self.starts[first] < a {
            n += chars(a, self.ends[first]) - 1;
        }
        if self.ends[last - 1] > b {
            n += chars(self.starts[last - 1], b) - 1;
        }
        n
    }
}
