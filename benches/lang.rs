//! Language identification: ragops's `language` step (whatlang) beside lingua (all 75
//! languages, through its Python binding), on `fixtures/lang/paragraphs.jsonl` (240 paragraphs
//! in 16 languages) and `fixtures/lang/short.jsonl` (30 one-line sentences).
//!
//! ```sh
//! cargo bench --bench lang              # sets up .cache/bench-venv-lang (lingua-language-detector) once
//! cargo bench --bench lang -- --no-lingua --errors
//! ```

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

#[derive(serde::Deserialize)]
struct Line {
    lang: String,
    text: String,
}

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn load(path: &Path) -> Vec<Line> {
    std::fs::read_to_string(path)
        .expect("language set")
        .lines()
        .map(|l| serde_json::from_str(l).expect("line"))
        .collect()
}

/// Guesses per file, in order.
type Guesses = BTreeMap<String, Vec<Option<String>>>;

/// lingua's guesses per file, and its seconds for all of them.
fn lingua(files: &[PathBuf]) -> Option<(Guesses, f64)> {
    let py = ragops_test_support::venv::python(
        &repo(),
        "bench-venv-lang",
        &["lingua-language-detector"],
    )?;
    let out = Command::new(py)
        .arg(repo().join("benches/lang_lingua.py"))
        .args(files)
        .output()
        .ok()?;
    if !out.status.success() {
        eprintln!("lingua failed: {}", String::from_utf8_lossy(&out.stderr));
        return None;
    }
    let mut by_file = Guesses::new();
    let mut secs = 0.0;
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let v: serde_json::Value = serde_json::from_str(line).expect("lingua line");
        if let Some(s) = v.get("seconds").and_then(serde_json::Value::as_f64) {
            secs = s;
            continue;
        }
        let file = v["file"].as_str().expect("file").to_string();
        by_file
            .entry(file)
            .or_default()
            .push(v["lang"].as_str().map(str::to_string));
    }
    Some((by_file, secs))
}

/// Correct guesses per language, and in all.
fn accuracy(lines: &[Line], guesses: &[Option<String>]) -> (BTreeMap<String, (usize, usize)>, f64) {
    let mut per: BTreeMap<String, (usize, usize)> = BTreeMap::new();
    for (l, g) in lines.iter().zip(guesses) {
        let e = per.entry(l.lang.clone()).or_default();
        e.1 += 1;
        if g.as_deref() == Some(l.lang.as_str()) {
            e.0 += 1;
        }
    }
    let right: usize = per.values().map(|v| v.0).sum();
    (per, right as f64 / lines.len().max(1) as f64)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let flag = |f: &str| args.iter().any(|a| a == f);
    let files: Vec<PathBuf> = ["paragraphs", "short"]
        .iter()
        .map(|n| repo().join(format!("fixtures/lang/{n}.jsonl")))
        .collect();
    let theirs = if flag("--no-lingua") {
        None
    } else {
        lingua(&files)
    };
    for file in &files {
        let lines = load(file);
        let t = Instant::now();
        let ours: Vec<Option<String>> = lines
            .iter()
            .map(|l| ragops_enrich::language::detect(&l.text).map(|g| g.code))
            .collect();
        let secs = t.elapsed().as_secs_f64();
        let (per, acc) = accuracy(&lines, &ours);
        let their = theirs
            .as_ref()
            .and_then(|(m, _)| m.get(&file.display().to_string()))
            .map(|g| accuracy(&lines, g));
        let bytes: usize = lines.iter().map(|l| l.text.len()).sum();
        println!(
            "\n{}: {} texts in {} languages\n",
            file.display(),
            lines.len(),
            per.len()
        );
        println!("| language | texts | ragops (whatlang) | lingua |");
        println!("|---|---|---|---|");
        for (lang, (right, n)) in &per {
            let l = their
                .as_ref()
                .and_then(|(p, _)| p.get(lang))
                .map_or("not run".to_string(), |(r, _)| format!("{r}/{n}"));
            println!("| {lang} | {n} | {right}/{n} | {l} |");
        }
        println!(
            "| **all** | {} | **{:.3}** | {} |",
            lines.len(),
            acc,
            their
                .as_ref()
                .map_or("not run".to_string(), |(_, a)| format!("{a:.3}"))
        );
        println!(
            "\nspeed: ragops {:.1} ms ({:.2} MB/s, one thread)",
            secs * 1e3,
            bytes as f64 / secs / 1e6
        );
        if flag("--errors") {
            for (l, g) in lines.iter().zip(&ours) {
                if g.as_deref() != Some(l.lang.as_str()) {
                    let head: String = l.text.chars().take(60).collect();
                    println!("  {} read as {:?}: {head}", l.lang, g);
                }
            }
        }
    }
    if let Some((_, secs)) = &theirs {
        println!(
            "lingua: {:.1} ms for both sets (detection only, models preloaded)",
            secs * 1e3
        );
    }
}
