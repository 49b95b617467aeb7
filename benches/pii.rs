//! PII detection quality and speed, side by side with Microsoft Presidio's pattern
//! recognizers, on two labelled sets: `fixtures/pii/labelled.jsonl` (written by
//! `scripts/gen-pii-fixtures.py`, alongside the recognisers) and `fixtures/pii/heldout.jsonl`
//! (written independently, without sight of them).
//!
//! ```sh
//! cargo bench --bench pii                 # sets up .cache/bench-venv-pii (presidio-analyzer) once
//! cargo bench --bench pii -- --no-presidio
//! cargo bench --bench pii -- --errors --by-kind   # misses, false positives, time per type
//! cargo bench --bench pii -- --corpus ../shared/data/chunking-eval/corpora   # speed on prose
//! ```
//!
//! A finding counts as correct when a labelled span of the same type overlaps it with an
//! intersection over union of at least 0.5; each labelled span is matched once. Hard negatives
//! (order numbers failing Luhn, dates, versions, hashes, UUIDs, ISBNs...) carry no label, so
//! anything found on them is a false positive.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use ragops_enrich::pii::{Detector, PiiKind};

#[derive(serde::Deserialize)]
struct Span {
    #[serde(rename = "type")]
    kind: String,
    start: usize,
    end: usize,
}

#[derive(serde::Deserialize)]
struct Passage {
    id: usize,
    text: String,
    spans: Vec<Span>,
}

#[derive(serde::Deserialize)]
struct PresidioLine {
    id: usize,
    findings: Vec<Span>,
}

/// (type, start, end) in code points.
type Labelled = (String, usize, usize);

#[derive(Default, Clone, Copy)]
struct Score {
    gold: usize,
    found: usize,
    correct_found: usize,
    correct_gold: usize,
}

impl Score {
    fn precision(&self) -> f64 {
        if self.found == 0 {
            f64::NAN
        } else {
            self.correct_found as f64 / self.found as f64
        }
    }
    fn recall(&self) -> f64 {
        if self.gold == 0 {
            f64::NAN
        } else {
            self.correct_gold as f64 / self.gold as f64
        }
    }
    fn add(&mut self, o: &Score) {
        self.gold += o.gold;
        self.found += o.found;
        self.correct_found += o.correct_found;
        self.correct_gold += o.correct_gold;
    }
}

fn iou(a: (usize, usize), b: (usize, usize)) -> f64 {
    let inter = a.1.min(b.1).saturating_sub(a.0.max(b.0));
    let union = a.1.max(b.1) - a.0.min(b.0);
    inter as f64 / union.max(1) as f64
}

/// Scores per type: `found` against `gold`, passage by passage.
fn score(gold: &[Vec<Labelled>], found: &[Vec<Labelled>]) -> BTreeMap<String, Score> {
    let mut by_type: BTreeMap<String, Score> = BTreeMap::new();
    for (g, f) in gold.iter().zip(found) {
        let mut used = vec![false; g.len()];
        for s in g {
            by_type.entry(s.0.clone()).or_default().gold += 1;
        }
        for p in f {
            let e = by_type.entry(p.0.clone()).or_default();
            e.found += 1;
            let best = g
                .iter()
                .enumerate()
                .filter(|(i, s)| !used[*i] && s.0 == p.0)
                .map(|(i, s)| (i, iou((s.1, s.2), (p.1, p.2))))
                .filter(|(_, v)| *v >= 0.5)
                .max_by(|a, b| a.1.total_cmp(&b.1));
            if let Some((i, _)) = best {
                used[i] = true;
                e.correct_found += 1;
                e.correct_gold += 1;
            }
        }
    }
    by_type
}

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn presidio(labelled: &Path, n: usize) -> Option<(Vec<Vec<Labelled>>, f64)> {
    let py = ragops_test_support::venv::python(&repo(), "bench-venv-pii", &["presidio-analyzer"])?;
    let t = Instant::now();
    let out = Command::new(py)
        .arg(repo().join("benches/pii_presidio.py"))
        .arg(labelled)
        .output()
        .ok()?;
    let secs = t.elapsed().as_secs_f64();
    if !out.status.success() {
        eprintln!(
            "presidio failed: {}",
            String::from_utf8_lossy(&out.stderr)
                .lines()
                .last()
                .unwrap_or("")
        );
        return None;
    }
    let mut found = vec![Vec::new(); n];
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let l: PresidioLine = serde_json::from_str(line).expect("presidio line");
        found[l.id] = l
            .findings
            .into_iter()
            .map(|s| (s.kind, s.start, s.end))
            .collect();
    }
    Some((found, secs))
}

fn fmt(x: f64) -> String {
    if x.is_nan() {
        "    –".to_string()
    } else {
        format!("{x:5.3}")
    }
}

fn load(labelled: &Path) -> (Vec<Passage>, Vec<Vec<Labelled>>) {
    let passages: Vec<Passage> = std::fs::read_to_string(labelled)
        .expect("fixtures/pii/labelled.jsonl")
        .lines()
        .map(|l| serde_json::from_str(l).expect("labelled passage"))
        .collect();
    for (i, p) in passages.iter().enumerate() {
        assert_eq!(p.id, i, "ids in order");
    }
    let gold = passages
        .iter()
        .map(|p| {
            p.spans
                .iter()
                .map(|s| (s.kind.clone(), s.start, s.end))
                .collect()
        })
        .collect();
    (passages, gold)
}

/// ragops's findings, byte ranges turned into code points.
fn ours(detector: &Detector, passages: &[Passage]) -> Vec<Vec<Labelled>> {
    let to_chars = |text: &str, b: usize| text[..b].chars().count();
    passages
        .iter()
        .map(|p| {
            detector
                .find(&p.text)
                .into_iter()
                .map(|f| {
                    (
                        f.kind.label().to_string(),
                        to_chars(&p.text, f.start),
                        to_chars(&p.text, f.end),
                    )
                })
                .collect()
        })
        .collect()
}

const REPS: u32 = 50;

/// Seconds for one pass of `detector` over the set (the mean of [`REPS`]).
fn time(detector: &Detector, passages: &[Passage]) -> f64 {
    let t = Instant::now();
    for _ in 0..REPS {
        for p in passages {
            std::hint::black_box(detector.find(&p.text));
        }
    }
    t.elapsed().as_secs_f64() / f64::from(REPS)
}

const PRESIDIO_TYPES: [&str; 6] = [
    "CREDIT_CARD",
    "EMAIL",
    "IBAN",
    "IP_ADDRESS",
    "PHONE",
    "US_SSN",
];

fn print_table(ours: &BTreeMap<String, Score>, theirs: Option<&BTreeMap<String, Score>>) {
    println!("| type | spans | ragops precision | ragops recall | Presidio precision | Presidio recall |");
    println!("|---|---|---|---|---|---|");
    let (mut total_ours, mut shared_ours) = (Score::default(), Score::default());
    let (mut shared_theirs, mut all_theirs) = (Score::default(), Score::default());
    for kind in PiiKind::ALL {
        let label = kind.label();
        let o = ours.get(label).copied().unwrap_or_default();
        total_ours.add(&o);
        let shared = PRESIDIO_TYPES.contains(&label);
        let t = theirs.map(|m| m.get(label).copied().unwrap_or_default());
        if let Some(t) = &t {
            if shared {
                shared_ours.add(&o);
                shared_theirs.add(t);
            }
            all_theirs.add(&Score { gold: o.gold, ..*t });
        }
        let (tp, tr) = match (&t, shared) {
            (Some(t), true) => (fmt(t.precision()), fmt(t.recall())),
            (Some(_), false) => ("no recognizer".into(), fmt(0.0)),
            (None, _) => ("not run".into(), "not run".into()),
        };
        println!(
            "| {label} | {} | {} | {} | {tp} | {tr} |",
            o.gold,
            fmt(o.precision()),
            fmt(o.recall())
        );
    }
    let run = theirs.is_some();
    let or_not = |x: f64| if run { fmt(x) } else { "not run".into() };
    println!(
        "| **all {} types** | {} | **{}** | **{}** | {} | {} |",
        PiiKind::ALL.len(),
        total_ours.gold,
        fmt(total_ours.precision()),
        fmt(total_ours.recall()),
        or_not(all_theirs.precision()),
        or_not(all_theirs.recall()),
    );
    if run {
        println!(
            "| the 6 types Presidio covers | {} | {} | {} | {} | {} |",
            shared_ours.gold,
            fmt(shared_ours.precision()),
            fmt(shared_ours.recall()),
            fmt(shared_theirs.precision()),
            fmt(shared_theirs.recall()),
        );
    }
}

/// The misses and false positives (the labelled set's synthetic values, never a corpus's).
fn print_errors(passages: &[Passage], gold: &[Vec<Labelled>], ours: &[Vec<Labelled>]) {
    let matched = |set: &[Labelled], (k, s, e): &Labelled| {
        set.iter()
            .any(|g| &g.0 == k && iou((g.1, g.2), (*s, *e)) >= 0.5)
    };
    for (i, p) in passages.iter().enumerate() {
        let value = |s: usize, e: usize| p.text.chars().skip(s).take(e - s).collect::<String>();
        for f in ours[i].iter().filter(|f| !matched(&gold[i], f)) {
            println!("FP {}: {:?} in passage {i}", f.0, value(f.1, f.2));
        }
        for g in gold[i].iter().filter(|g| !matched(&ours[i], g)) {
            println!("FN {}: {:?} in passage {i}", g.0, value(g.1, g.2));
        }
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let flag = |f: &str| args.iter().any(|a| a == f);
    let detector = Detector::new(&[], &[]).expect("detector");
    // The labelled set was written with the recognisers; the held-out set was written
    // independently, by someone who never saw them.
    for set in ["labelled", "heldout"] {
        let path = repo().join(format!("fixtures/pii/{set}.jsonl"));
        score_set(&detector, &path, &flag);
    }
    if let Some(dir) = args
        .iter()
        .position(|a| a == "--corpus")
        .and_then(|i| args.get(i + 1))
    {
        corpus_speed(&detector, Path::new(dir));
    }
}

fn score_set(detector: &Detector, labelled: &Path, flag: &dyn Fn(&str) -> bool) {
    let (passages, gold) = load(labelled);
    let found = ours(detector, &passages);
    let bytes: usize = passages.iter().map(|p| p.text.len()).sum();
    let secs = time(detector, &passages);
    if flag("--by-kind") {
        for kind in PiiKind::ALL {
            let d = Detector::new(&[kind], &[]).expect("detector");
            let s = time(&d, &passages);
            println!("{:>12}: {:6.2} ms for the set", kind.label(), s * 1e3);
        }
    }
    let theirs = if flag("--no-presidio") {
        None
    } else {
        presidio(labelled, passages.len())
    };
    let spans: usize = gold.iter().map(Vec::len).sum();
    let s_ours = score(&gold, &found);
    println!(
        "\n{}: {} passages, {} spans over {} types\n",
        labelled.display(),
        passages.len(),
        spans,
        s_ours.values().filter(|s| s.gold > 0).count(),
    );
    let s_theirs = theirs.as_ref().map(|(f, _)| score(&gold, f));
    print_table(&s_ours, s_theirs.as_ref());
    println!(
        "\nspeed: ragops {:.1} ms for the set ({:.1} MB/s, one thread); Presidio {}",
        secs * 1e3,
        bytes as f64 / secs / 1e6,
        theirs.as_ref().map_or("not run".into(), |(_, s)| format!(
            "{:.0} ms (one process, including Python start-up and imports)",
            s * 1e3
        ))
    );
    if flag("--errors") {
        print_errors(&passages, &gold, &found);
    }
}

/// Speed and findings per type on every file of a directory of real text (for instance the
/// chunking-eval corpora): what the `pii` step costs on prose rather than on the dense
/// labelled set.
fn corpus_speed(detector: &Detector, dir: &Path) {
    let mut texts = Vec::new();
    for e in std::fs::read_dir(dir).expect("corpus dir").flatten() {
        if let Ok(t) = std::fs::read_to_string(e.path()) {
            texts.push(t);
        }
    }
    let bytes: usize = texts.iter().map(String::len).sum();
    let t = Instant::now();
    let mut found: BTreeMap<&str, usize> = BTreeMap::new();
    for text in &texts {
        for f in detector.find(text) {
            *found.entry(f.kind.label()).or_default() += 1;
        }
    }
    let secs = t.elapsed().as_secs_f64();
    println!(
        "\ncorpus {}: {} files, {:.1} MB in {:.0} ms ({:.1} MB/s, one thread); findings {found:?}",
        dir.display(),
        texts.len(),
        bytes as f64 / 1e6,
        secs * 1e3,
        bytes as f64 / secs / 1e6
    );
}
