//! The `dedup` step's signatures and index: an exact hash of the normalised text (case, spacing
//! and punctuation ignored) and a MinHash of its word 3-shingles (character 5-grams for text
//! without spaces), with LSH banding to find near-duplicate candidates, which are kept when
//! their estimated Jaccard similarity reaches the threshold. This is the scheme of datatrove
//! and text-dedup; every hash is a fixed function, so signatures are the same on every machine
//! and can be stored and compared across builds.

use std::collections::HashMap;

/// MinHash permutations.
pub const PERMS: usize = 64;
/// LSH bands of [`ROWS`] values: a pair is a candidate when one band is equal. With 16 × 4,
/// a pair at Jaccard 0.9 is a candidate with probability 1 − (1 − 0.9⁴)¹⁶ > 0.9999, and at
/// 0.5 with 0.64 (the estimate then rejects it).
pub const BANDS: usize = 16;
pub const ROWS: usize = PERMS / BANDS;

/// A text's signatures.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signature {
    pub exact: u64,
    pub minhash: Vec<u32>,
}

/// What the step found in a build (reused documents were not compared again).
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct DedupTally {
    pub action: ragops_core::DedupAction,
    /// Documents that duplicate an earlier one.
    pub documents: u64,
    /// Chunks that duplicate an earlier one (in documents that were not duplicates).
    pub chunks: u64,
    /// Chunks left out (action `drop`): those of duplicate documents and duplicate chunks.
    pub chunks_dropped: u64,
}

/// The signature as stored: 8 bytes of exact hash (little-endian), then the MinHash.
pub fn encode(sig: &Signature) -> Vec<u8> {
    let mut out = sig.exact.to_le_bytes().to_vec();
    out.extend(to_bytes(&sig.minhash));
    out
}

/// A stored signature, or `None` when it is too short.
pub fn decode(bytes: &[u8]) -> Option<Signature> {
    let exact = u64::from_le_bytes(bytes.get(..8)?.try_into().ok()?);
    Some(Signature {
        exact,
        minhash: from_bytes(&bytes[8..]),
    })
}

/// FNV-1a, 64 bits.
fn fnv(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// splitmix64: the i-th permutation of a shingle hash.
fn mix(x: u64, i: u64) -> u64 {
    let mut z = x ^ i.wrapping_mul(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Lower-case words (letters and digits), in order.
fn words(text: &str) -> Vec<String> {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .collect()
}

/// The signatures of a text (the MinHash only `with_minhash`: exact dedup needs none), or
/// `None` for a text with no word.
pub fn signature(text: &str, with_minhash: bool) -> Option<Signature> {
    let w = words(text);
    if w.is_empty() {
        return None;
    }
    let joined = w.join(" ");
    let exact = fnv(joined.as_bytes());
    if !with_minhash {
        return Some(Signature {
            exact,
            minhash: Vec::new(),
        });
    }
    let spaced = w.len() >= 3 || text.contains(' ');
    let shingles: Vec<u64> = if spaced && w.len() >= 3 {
        w.windows(3).map(|s| fnv(s.join(" ").as_bytes())).collect()
    } else {
        let chars: Vec<char> = joined.chars().collect();
        if chars.len() <= 5 {
            vec![fnv(joined.as_bytes())]
        } else {
            chars
                .windows(5)
                .map(|s| fnv(s.iter().collect::<String>().as_bytes()))
                .collect()
        }
    };
    let minhash = (0..PERMS as u64)
        .map(|i| {
            shingles
                .iter()
                .map(|&h| (mix(h, i) >> 32) as u32)
                .min()
                .unwrap_or(u32::MAX)
        })
        .collect();
    Some(Signature { exact, minhash })
}

/// The share of equal MinHash values: an estimate of the Jaccard similarity of the shingles.
pub fn similarity(a: &[u32], b: &[u32]) -> f64 {
    let same = a.iter().zip(b).filter(|(x, y)| x == y).count();
    same as f64 / a.len().max(1) as f64
}

/// Signatures seen so far, with the id of the text each came from (the first kept).
#[derive(Default)]
pub struct Index {
    exact: HashMap<u64, String>,
    bands: Vec<HashMap<u64, Vec<usize>>>,
    kept: Vec<(Vec<u32>, String)>,
}

impl Index {
    /// The id of a text seen before that `sig` duplicates: the same normalised text, or (with
    /// `near`) an estimated Jaccard similarity of at least `threshold`.
    pub fn find(&self, sig: &Signature, near: bool, threshold: f64) -> Option<&str> {
        if let Some(id) = self.exact.get(&sig.exact) {
            return Some(id);
        }
        if !near || self.bands.is_empty() || sig.minhash.len() != PERMS {
            return None;
        }
        let mut best: Option<(f64, usize)> = None;
        for (b, band) in self.bands.iter().enumerate() {
            let Some(cands) = band.get(&band_key(&sig.minhash, b)) else {
                continue;
            };
            for &c in cands {
                let s = similarity(&sig.minhash, &self.kept[c].0);
                if s >= threshold && best.is_none_or(|(bs, bc)| s > bs || (s == bs && c < bc)) {
                    best = Some((s, c));
                }
            }
        }
        best.map(|(_, c)| self.kept[c].1.as_str())
    }

    /// Records a kept text's signature under `id` (an earlier text with the same exact hash
    /// keeps its place).
    pub fn insert(&mut self, sig: &Signature, id: &str) {
        self.exact
            .entry(sig.exact)
            .or_insert_with(|| id.to_string());
        if sig.minhash.len() != PERMS {
            return;
        }
        if self.bands.is_empty() {
            self.bands = vec![HashMap::new(); BANDS];
        }
        let at = self.kept.len();
        self.kept.push((sig.minhash.clone(), id.to_string()));
        for (b, band) in self.bands.iter_mut().enumerate() {
            band.entry(band_key(&sig.minhash, b)).or_default().push(at);
        }
    }
}

fn band_key(minhash: &[u32], band: usize) -> u64 {
    let rows = &minhash[band * ROWS..(band + 1) * ROWS];
    let bytes: Vec<u8> = rows.iter().flat_map(|v| v.to_le_bytes()).collect();
    fnv(&bytes)
}

/// A MinHash as little-endian bytes (the `minhash` column), and back.
pub fn to_bytes(minhash: &[u32]) -> Vec<u8> {
    minhash.iter().flat_map(|v| v.to_le_bytes()).collect()
}

pub fn from_bytes(bytes: &[u8]) -> Vec<u32> {
    bytes
        .chunks_exact(4)
        .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "Promote the standby database, then repoint the billing service at it and \
                     watch replication lag for ten minutes before closing the incident ticket.";

    #[test]
    fn exact_duplicates_ignore_case_spacing_and_punctuation() {
        let a = signature(A, true).unwrap();
        let b = signature(&A.to_uppercase().replace(", ", " ,  "), true).unwrap();
        assert_eq!(a.exact, b.exact);
        let mut idx = Index::default();
        idx.insert(&a, "a");
        assert_eq!(idx.find(&b, false, 0.9), Some("a"));
        assert!(signature("  ... ", true).is_none());
        let exact = signature(A, false).unwrap();
        assert!(exact.minhash.is_empty(), "exact dedup computes no MinHash");
        assert_eq!(exact.exact, a.exact);
    }

    #[test]
    fn near_duplicates_are_found_and_different_texts_are_not() {
        let a = signature(A, true).unwrap();
        let one_word = signature(&A.replace("billing", "payments"), true).unwrap();
        let other = signature(
            "Rotate the TLS certificates before they expire, then restart the proxy so that it \
             reads the new files and check the handshake from a client.",
            true,
        )
        .unwrap();
        assert!(similarity(&a.minhash, &one_word.minhash) > 0.6);
        assert!(similarity(&a.minhash, &other.minhash) < 0.2);
        let mut idx = Index::default();
        idx.insert(&a, "a");
        assert_eq!(idx.find(&one_word, true, 0.6), Some("a"));
        assert_eq!(idx.find(&one_word, false, 0.6), None, "exact only");
        assert_eq!(idx.find(&other, true, 0.6), None);
        assert_eq!(from_bytes(&to_bytes(&a.minhash)), a.minhash);
        assert_eq!(decode(&encode(&a)), Some(a.clone()));
        assert_eq!(decode(&[1, 2]), None);
    }

    #[test]
    fn signatures_are_fixed_functions() {
        // stored signatures are compared across builds and machines
        let s = signature("the quick brown fox jumps", true).unwrap();
        assert_eq!(s.minhash.len(), PERMS);
        assert_eq!(s, signature("The quick, brown fox jumps.", true).unwrap());
    }
}
