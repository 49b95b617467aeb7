//! Near-duplicate detection: recall on planted near-duplicates and false positives among
//! distinct texts, for the `dedup` step's signatures (MinHash of word 3-shingles, 64
//! permutations, 16 LSH bands of 4).
//!
//! ```sh
//! cargo bench --bench dedup              # paragraphs of ../shared/data/chunking-eval/corpora
//! cargo bench --bench dedup -- DIR       # paragraphs of the files in DIR
//! ```
//!
//! Each paragraph of 40 to 400 words is an original; for each, a copy with a share of its
//! words edited (replaced, deleted or a word inserted, at random positions) is planted. The
//! index holds the originals; a planted copy is found when the index names its original; a
//! false positive is an original that the index, holding the others, calls a duplicate.

use std::time::Instant;

use ragops_enrich::dedup::{signature, Index};

use ragops_test_support::rng::Rng;

fn edit(text: &str, share: f64, rng: &mut Rng) -> String {
    if share == 0.0 {
        return text.to_string();
    }
    let mut words: Vec<String> = text.split_whitespace().map(str::to_string).collect();
    let edits = ((words.len() as f64) * share).round().max(1.0) as usize;
    for _ in 0..edits {
        let at = rng.below(words.len());
        match rng.below(3) {
            0 => words[at] = format!("edited{}", rng.below(1000)),
            1 if words.len() > 2 => {
                words.remove(at);
            }
            _ => words.insert(at, format!("inserted{}", rng.below(1000))),
        }
    }
    words.join(" ")
}

/// The true Jaccard similarity of two texts' word 3-shingles (as the signatures see words:
/// lower-case runs of letters and digits).
fn jaccard(a: &str, b: &str) -> f64 {
    let shingles = |t: &str| -> std::collections::HashSet<String> {
        let w: Vec<String> = t
            .split(|c: char| !c.is_alphanumeric())
            .filter(|w| !w.is_empty())
            .map(str::to_lowercase)
            .collect();
        w.windows(3).map(|s| s.join(" ")).collect()
    };
    let (x, y) = (shingles(a), shingles(b));
    x.intersection(&y).count() as f64 / x.union(&y).count().max(1) as f64
}

fn main() {
    let dir = std::env::args()
        .skip(1)
        .find(|a| !a.starts_with('-'))
        .unwrap_or_else(|| {
            concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/../shared/data/chunking-eval/corpora"
            )
            .to_string()
        });
    let mut originals = paragraphs(&dir);
    originals.truncate(2000);
    println!(
        "{} original paragraphs of 40-400 words from {dir}\n",
        originals.len()
    );
    let t = Instant::now();
    let sigs: Vec<_> = originals
        .iter()
        .map(|o| signature(o, true).expect("words"))
        .collect();
    let secs = t.elapsed().as_secs_f64();
    let bytes: usize = originals.iter().map(String::len).sum();
    println!(
        "signatures: {:.1} MB/s (one thread)\n",
        bytes as f64 / secs / 1e6
    );
    println!(
        "| edited share | mean true Jaccard | recall at 0.9 (pairs ≥ 0.9) | at 0.8 | at 0.7 | \
         found below their threshold (0.9 / 0.8 / 0.7) | exact only: found |"
    );
    println!("|---|---|---|---|---|---|---|");
    let mut index = Index::default();
    for (i, s) in sigs.iter().enumerate() {
        index.insert(s, &i.to_string());
    }
    for share in [0.0, 0.01, 0.02, 0.05, 0.10, 0.20] {
        let mut rng = Rng(0x9e37_79b9 + (share * 1000.0) as u64);
        let copies: Vec<String> = originals.iter().map(|o| edit(o, share, &mut rng)).collect();
        let truth: Vec<f64> = originals
            .iter()
            .zip(&copies)
            .map(|(o, c)| jaccard(o, c))
            .collect();
        let planted: Vec<_> = copies
            .iter()
            .map(|c| signature(c, true).expect("words"))
            .collect();
        let found = |near: bool, thr: f64| -> Vec<bool> {
            planted
                .iter()
                .enumerate()
                .map(|(i, p)| index.find(p, near, thr) == Some(i.to_string().as_str()))
                .collect()
        };
        let mean = truth.iter().sum::<f64>() / truth.len() as f64;
        let mut row = format!("| {:.0}% | {mean:.3} |", share * 100.0);
        let mut below = Vec::new();
        for thr in [0.9, 0.8, 0.7] {
            let f = found(true, thr);
            let eligible: Vec<usize> = (0..truth.len()).filter(|&i| truth[i] >= thr).collect();
            let hit = eligible.iter().filter(|&&i| f[i]).count();
            if eligible.is_empty() {
                row.push_str(" – (none) |");
            } else {
                row.push_str(&format!(
                    " {:.3} ({}) |",
                    hit as f64 / eligible.len() as f64,
                    eligible.len()
                ));
            }
            below.push((0..truth.len()).filter(|&i| truth[i] < thr && f[i]).count());
        }
        let exact = found(false, 1.0).iter().filter(|&&x| x).count();
        row.push_str(&format!(
            " {} / {} / {} | {exact} of {} |",
            below[0],
            below[1],
            below[2],
            planted.len()
        ));
        println!("{row}");
    }
    false_positives(&sigs);
}

/// Paragraphs of 40 to 400 words of the files in `dir`, each once.
fn paragraphs(dir: &str) -> Vec<String> {
    let mut originals: Vec<String> = Vec::new();
    for e in std::fs::read_dir(dir).expect("corpus dir").flatten() {
        let text = std::fs::read_to_string(e.path()).unwrap_or_default();
        for p in text.split("\n\n") {
            let n = p.split_whitespace().count();
            if (40..=400).contains(&n) && !originals.iter().any(|o| o == p) {
                originals.push(p.to_string());
            }
        }
    }
    originals
}

/// Distinct paragraphs called duplicates: the second half of `sigs` against an index of the
/// first half.
fn false_positives(sigs: &[ragops_enrich::dedup::Signature]) {
    let originals = sigs;
    // False positives: each original against an index of the others.
    for thr in [0.9, 0.8, 0.7] {
        let mut fp = 0;
        let half = originals.len() / 2;
        let mut idx = Index::default();
        for (i, s) in sigs.iter().enumerate().take(half) {
            idx.insert(s, &i.to_string());
        }
        for s in sigs.iter().skip(half) {
            if idx.find(s, true, thr).is_some() {
                fp += 1;
            }
        }
        println!(
            "\nthreshold {thr}: {fp} of {} distinct paragraphs called near duplicates of {} others",
            originals.len() - half,
            half
        );
    }
}
