//! Token byte spans of a text, as the embedding model's tokenizer produces them, fast.
//!
//! The Hugging Face `tokenizers` crate runs at about 3 MB/s here: it builds a normalised copy of
//! the text with alignment tables, pre-token strings and an `Encoding` with ids, type ids and
//! masks. Chunking needs only where the tokens are. For the BERT family (BertNormalizer,
//! BertPreTokenizer, WordPiece: all-MiniLM-L6-v2 and most sentence-transformers models) this
//! module computes the same spans directly on the original bytes:
//!
//! * The text is cut into segments at ASCII space, tab, CR and LF. Every normalisation step is
//!   local to a character and all four are whitespace to the pre-tokenizer, so each segment
//!   tokenises independently of its neighbours.
//! * A segment of printable ASCII (plus General Punctuation such as `’ “ ” —`) takes the fast
//!   path: each punctuation character is a pre-token of its own, runs of letters and digits are
//!   the words; a word is lowercased (when the normaliser lowercases) and cut by greedy
//!   longest-match-first WordPiece against the vocabulary, or is one `[UNK]` when it has more than
//!   `max_input_chars_per_word` characters or cannot be matched.
//! * Any other segment (accents, CJK, control characters, or text containing an added token such
//!   as `[SEP]`) is tokenised by the real tokenizer, and its offsets are shifted into place.
//!
//! Any other tokenizer pipeline uses the real tokenizer for the whole text. Tests compare the
//! spans with the real tokenizer's offsets on the shared corpora and on edge cases.

use rustc_hash::FxHashSet;
use tokenizers::Tokenizer;
use unicode_categories::UnicodeCategories;

/// Computes token spans (byte offsets, special tokens excluded) for a tokenizer.
#[derive(Clone)]
pub struct TokenSpans {
    fast: Option<FastWordPiece>,
    tokenizer: Tokenizer,
}

#[derive(Clone)]
struct FastWordPiece {
    lowercase: bool,
    /// Vocabulary entries that may start a word.
    starts: Pieces,
    /// Vocabulary entries that continue a word, without their prefix (`##`).
    conts: Pieces,
    max_chars: usize,
    /// Contents of the added tokens (special tokens); segments containing one go to the real
    /// tokenizer, which matches them on the raw text.
    added: Vec<String>,
    /// `added_first[b]`: some added token starts with byte `b` (a cheap pre-check).
    added_first: [bool; 256],
}

/// A set of vocabulary pieces. Pieces of up to 15 bytes (nearly all) are packed into a `u128`
/// with their length, so a lookup hashes and compares integers instead of strings.
#[derive(Clone, Default)]
struct Pieces {
    short: FxHashSet<u128>,
    long: FxHashSet<Box<str>>,
}

impl Pieces {
    fn insert(&mut self, piece: &str) {
        match pack(piece) {
            Some(k) => self.short.insert(k),
            None => self.long.insert(piece.into()),
        };
    }

    #[inline]
    fn contains(&self, piece: &str) -> bool {
        match pack(piece) {
            Some(k) => self.short.contains(&k),
            None => self.long.contains(piece),
        }
    }
}

/// The bytes of `s` (at most 15) and its length in one integer; `None` when longer.
#[inline]
fn pack(s: &str) -> Option<u128> {
    let b = s.as_bytes();
    if b.len() > 15 {
        return None;
    }
    let mut buf = [0u8; 16];
    buf[..b.len()].copy_from_slice(b);
    buf[15] = b.len() as u8;
    Some(u128::from_le_bytes(buf))
}

impl TokenSpans {
    /// Wraps `tokenizer` (truncation and padding are switched off on a copy).
    pub fn new(tokenizer: &Tokenizer) -> Self {
        let mut tokenizer = tokenizer.clone();
        // Sizes must reflect the whole text; neither call can fail without a truncation config.
        let _ = tokenizer.with_truncation(None);
        tokenizer.with_padding(None);
        let fast = tokenizer
            .to_string(false)
            .ok()
            .and_then(|json| serde_json::from_str::<serde_json::Value>(&json).ok())
            .and_then(|v| FastWordPiece::from_json(&v));
        Self { fast, tokenizer }
    }

    /// Whether the fast WordPiece path is in use (else every text goes to the real tokenizer).
    pub fn is_fast(&self) -> bool {
        self.fast.is_some()
    }

    /// Byte spans of the tokens of `text`, in order.
    pub fn spans(&self, text: &str) -> Vec<(usize, usize)> {
        let mut out = Vec::with_capacity(text.len() / 4 + 1);
        match &self.fast {
            Some(fast) => fast.spans(text, &self.tokenizer, &mut out),
            None => slow_spans(&self.tokenizer, text, 0, &mut out),
        }
        out
    }

    /// Number of tokens of `text` tokenised alone.
    pub fn count(&self, text: &str) -> usize {
        self.spans(text).len()
    }
}

/// Spans from the real tokenizer, shifted by `base`. On a tokenizer error every character counts
/// as a token: an overestimate for BERT vocabularies, and every span stays on character
/// boundaries.
fn slow_spans(tokenizer: &Tokenizer, text: &str, base: usize, out: &mut Vec<(usize, usize)>) {
    match tokenizer.encode(text, false) {
        Ok(enc) => out.extend(
            enc.get_offsets()
                .iter()
                .map(|&(s, e)| (base + s, base + e.max(s))),
        ),
        Err(_) => char_spans(text, base, out),
    }
}

/// One span per character of `text`, shifted by `base`.
fn char_spans(text: &str, base: usize, out: &mut Vec<(usize, usize)>) {
    out.extend(
        text.char_indices()
            .map(|(i, c)| (base + i, base + i + c.len_utf8())),
    );
}

impl FastWordPiece {
    fn from_json(v: &serde_json::Value) -> Option<Self> {
        let norm = &v["normalizer"];
        let model = &v["model"];
        if norm["type"] != "BertNormalizer"
            || v["pre_tokenizer"]["type"] != "BertPreTokenizer"
            || model["type"] != "WordPiece"
        {
            return None;
        }
        let lowercase = norm["lowercase"].as_bool()?;
        let prefix = model["continuing_subword_prefix"].as_str()?;
        let unk = model["unk_token"].as_str()?;
        let max_chars = usize::try_from(model["max_input_chars_per_word"].as_u64()?).ok()?;
        let vocab = model["vocab"].as_object()?;
        if !vocab.contains_key(unk) || prefix.is_empty() {
            return None;
        }
        let mut starts = Pieces::default();
        let mut conts = Pieces::default();
        for piece in vocab.keys() {
            // At a word's start WordPiece matches against the whole vocabulary, prefixed
            // entries included; after it, against the prefixed entries only.
            starts.insert(piece);
            if let Some(rest) = piece.strip_prefix(prefix).filter(|r| !r.is_empty()) {
                conts.insert(rest);
            }
        }
        // Added tokens are matched on the raw text; one matched after normalisation (any case),
        // one that swallows the whitespace beside it or one that contains whitespace would make
        // segments depend on each other.
        let added_tokens = v["added_tokens"]
            .as_array()
            .map(Vec::as_slice)
            .unwrap_or(&[]);
        if added_tokens.iter().any(|t| {
            ["normalized", "lstrip", "rstrip", "single_word"]
                .iter()
                .any(|flag| t[*flag] == true)
                || t["content"]
                    .as_str()
                    .is_some_and(|c| c.chars().any(char::is_whitespace))
        }) {
            return None;
        }
        let added: Vec<String> = added_tokens
            .iter()
            .filter_map(|t| t["content"].as_str())
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect();
        let mut added_first = [false; 256];
        for a in &added {
            added_first[usize::from(a.as_bytes()[0])] = true;
        }
        Some(Self {
            lowercase,
            starts,
            conts,
            max_chars,
            added,
            added_first,
        })
    }

    fn spans(&self, text: &str, tokenizer: &Tokenizer, out: &mut Vec<(usize, usize)>) {
        let bytes = text.as_bytes();
        let mut buf = String::new();
        let mut i = 0;
        while i < bytes.len() {
            if matches!(bytes[i], b' ' | b'\t' | b'\n' | b'\r') {
                i += 1;
                continue;
            }
            let start = i;
            let (mut ascii, mut maybe_added) = (true, false);
            while i < bytes.len() && !matches!(bytes[i], b' ' | b'\t' | b'\n' | b'\r') {
                ascii &= (0x21..=0x7e).contains(&bytes[i]);
                maybe_added |= self.added_first[usize::from(bytes[i])];
                i += 1;
            }
            let seg = &text[start..i];
            let fast = (ascii || fast_unicode(seg))
                && !(maybe_added && self.added.iter().any(|a| seg.contains(a.as_str())));
            if fast {
                self.segment(seg, start, &mut buf, out);
            } else {
                slow_spans(tokenizer, seg, start, out);
            }
        }
    }

    /// One whitespace-free segment of ASCII and fast punctuation.
    fn segment(&self, seg: &str, base: usize, buf: &mut String, out: &mut Vec<(usize, usize)>) {
        let mut word_start = None;
        for (i, c) in seg.char_indices() {
            if c.is_ascii_alphanumeric() {
                word_start.get_or_insert(i);
                continue;
            }
            if let Some(w) = word_start.take() {
                self.word(&seg[w..i], base + w, buf, out);
            }
            // A punctuation character is a word of its own: its vocabulary entry or [UNK].
            out.push((base + i, base + i + c.len_utf8()));
        }
        if let Some(w) = word_start {
            self.word(&seg[w..], base + w, buf, out);
        }
    }

    /// Greedy longest-match-first WordPiece over one ASCII word.
    fn word(&self, word: &str, base: usize, buf: &mut String, out: &mut Vec<(usize, usize)>) {
        let whole = (base, base + word.len());
        if word.len() > self.max_chars {
            out.push(whole);
            return;
        }
        let w = if self.lowercase && word.bytes().any(|b| b.is_ascii_uppercase()) {
            buf.clear();
            buf.push_str(word);
            buf.make_ascii_lowercase();
            buf.as_str()
        } else {
            word
        };
        let mark = out.len();
        let mut s = 0;
        while s < w.len() {
            let set = if s == 0 { &self.starts } else { &self.conts };
            let Some(e) = (s + 1..=w.len()).rev().find(|&e| set.contains(&w[s..e])) else {
                // Unmatchable: the whole word is one [UNK].
                out.truncate(mark);
                out.push(whole);
                return;
            };
            out.push((base + s, base + e));
            s = e;
        }
    }
}

/// A segment whose non-ASCII characters are all General Punctuation (U+2010..U+205E, category P):
/// such characters have no case and no canonical decomposition, so the normaliser leaves them
/// alone and the pre-tokenizer isolates them like ASCII punctuation.
fn fast_unicode(seg: &str) -> bool {
    seg.chars().all(|c| {
        if c.is_ascii() {
            (0x21..=0x7e).contains(&(c as u32))
        } else {
            (0x2010..=0x205e).contains(&(c as u32)) && c.is_punctuation()
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tiny() -> (tempfile::TempDir, Tokenizer) {
        let dir = tempfile::tempdir().unwrap();
        ragops_test_support::tiny_model::write_tiny_tokenizer(dir.path()).unwrap();
        let t = Tokenizer::from_file(dir.path().join("tokenizer.json")).unwrap();
        (dir, t)
    }

    fn hf(t: &Tokenizer, s: &str) -> Vec<(usize, usize)> {
        t.encode(s, false).unwrap().get_offsets().to_vec()
    }

    #[test]
    fn matches_the_real_tokenizer_on_edge_cases() {
        let (_d, t) = tiny();
        let spans = TokenSpans::new(&t);
        assert!(spans.is_fast());
        let cases = [
            "The index rebuild takes 42 minutes; rollback (to generation 17) is instant.",
            "Zoë's naïve café-query returned 3 shards — unbelievably fast!",
            "“Quoted” text… with ‘curly’ quotes and a–dash.",
            "CamelCase HTTPServer x86_64 foo.bar@baz.com https://example.org/a?b=c#d",
            "a\u{b}b vertical\u{c}tab and\u{0}nul \u{7f} and\u{a0}nbsp and\u{2028}ls",
            "中文字符 mixed 戦場のヴァルキュリア3 한국어 text",
            "[CLS] special [SEP] tokens [MASK]x [UNK] [PAD]",
            &"x".repeat(150),
            &format!("{} tail", "index".repeat(30)),
            "  \t\n\r  ",
            "",
            "Ünïcode ÀÉÎÕÜ ﬁ ligature İstanbul straße",
            "tabs\tand\r\nwindows\nlines  double  spaces",
        ];
        for c in cases {
            assert_eq!(spans.spans(c), hf(&t, c), "{c:?}");
            assert_eq!(spans.count(c), hf(&t, c).len(), "{c:?}");
        }
    }

    #[test]
    fn error_fallback_spans_whole_characters() {
        let mut out = Vec::new();
        char_spans("zé€", 10, &mut out);
        assert_eq!(out, vec![(10, 11), (11, 13), (13, 16)]);
    }

    #[test]
    fn other_pipelines_use_the_real_tokenizer() {
        let (_d, t) = tiny();
        let mut json: serde_json::Value =
            serde_json::from_str(&t.to_string(false).unwrap()).unwrap();
        json["pre_tokenizer"] = serde_json::json!({"type": "Whitespace"});
        let other: Tokenizer = json.to_string().parse().unwrap();
        let spans = TokenSpans::new(&other);
        assert!(!spans.is_fast());
        let s = "Shard sizing, latency alerts.";
        assert_eq!(spans.spans(s), hf(&other, s));

        // An added token containing whitespace is matched across segments: declined.
        let mut json: serde_json::Value =
            serde_json::from_str(&t.to_string(false).unwrap()).unwrap();
        json["added_tokens"][0]["content"] = serde_json::json!("two words");
        let spaced: Tokenizer = json.to_string().parse().unwrap();
        assert!(!TokenSpans::new(&spaced).is_fast());

        // An added token matched after normalisation: the fast path declines too.
        let mut json: serde_json::Value =
            serde_json::from_str(&t.to_string(false).unwrap()).unwrap();
        json["added_tokens"][0]["normalized"] = serde_json::json!(true);
        let normalized: Tokenizer = json.to_string().parse().unwrap();
        assert!(!TokenSpans::new(&normalized).is_fast());
    }
}
