//! End-to-end tests of the build, bad-input handling and snapshot commands. They use a tiny
//! random BERT (same code path as the real model, meaningless vectors) for speed; BM25 results
//! are real.

use std::path::PathBuf;

use ragops_engine::ops::SearchResults;
use ragops_engine::BuildReport;
use ragops_hub::CachedModel;

use crate::common::*;

fn corpus_subset(dir: &std::path::Path) -> PathBuf {
    // A few real fixture documents of each format.
    let src = fixtures().join("corpus");
    let dst = dir.join("docs");
    for f in [
        "handbook/index-rollback.md",
        "handbook/backup-restore.md",
        "notes/glossary.txt",
        "site/status-faq.html",
        "kb/faq.jsonl",
        "manuals/query-language.pdf",
    ] {
        let to = dst.join(f);
        std::fs::create_dir_all(to.parent().expect("parent")).expect("mkdir");
        std::fs::copy(src.join(f), &to).expect("copy fixture");
    }
    dst
}

#[test]
fn bad_inputs_are_reported_and_skipped_or_fail_with_strict() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let model = tiny_model(tmp.path());
    let docs = corpus_subset(tmp.path());
    let p = pipeline(
        tmp.path(),
        "p.toml",
        &[docs, fixtures().join("bad")],
        s(&model),
        64,
        "",
    );
    let store = tmp.path().join("store");

    // --strict: non-zero exit, every bad file named with its reason, nothing written.
    let out = run(&["build", "-p", s(&p), "--strict", "-q"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    for (file, reason) in [
        ("empty.md", "empty file"),
        ("encrypted.pdf", "encrypted"),
        ("latin1-notes.txt", "invalid UTF-8"),
        ("random-bytes.md", "binary"),
        ("truncated.pdf", "PDF"),
    ] {
        let line = err
            .lines()
            .find(|l| l.contains(file))
            .unwrap_or_else(|| panic!("{file} not in: {err}"));
        assert!(line.contains(reason), "{file}: {line}");
    }
    assert!(
        list(s(&store)).is_empty(),
        "strict failure wrote a snapshot"
    );

    // Without --strict: exit 0, the same files listed in the report and the manifest.
    let report: BuildReport = json(&["build", "-p", s(&p), "--json", "-q"]);
    assert_eq!(report.counts.skipped, 5);
    let shown = show_verified(s(&store), "current");
    assert!(shown.verify.expect("verified").ok);
    let manifest = shown.manifest;
    assert_eq!(shown.skipped.len(), 5);
    assert!(shown
        .skipped
        .iter()
        .all(|s| !s.reason.to_string().is_empty()));
    // JSONL records are documents of their own; the PDF keeps its pages.
    let sources = catalog(&store, &manifest.id).sources;
    let ids: Vec<&str> = sources.iter().map(|s| s.id.as_str()).collect();
    assert!(ids.contains(&"kb/faq.jsonl#faq-001"), "{ids:?}");
    assert!(ids.contains(&"manuals/query-language.pdf"), "{ids:?}");
    assert_eq!(manifest.model.weights_sha256.as_str().len(), 64);
    assert_eq!(manifest.config["chunking"]["size"], 64);
}

#[test]
fn shared_pdfs_yield_text_or_a_reason() {
    let pdfs = repo().join("../shared/data/pdfs");
    let count = std::fs::read_dir(&pdfs)
        .expect("../shared/data/pdfs is required")
        .flatten()
        .filter(|e| e.path().extension().is_some_and(|x| x == "pdf"))
        .count();
    assert!(count >= 30, "expected the 32 shared PDFs, found {count}");
    let tmp = tempfile::tempdir().expect("tempdir");
    let model = tiny_model(tmp.path());
    let p = pipeline(
        tmp.path(),
        "p.toml",
        &[pdfs],
        s(&model),
        128,
        "include = [\"**/*.pdf\"]",
    );
    let report: BuildReport = json(&["build", "-p", s(&p), "--json", "-q"]);
    let docs = report.counts.documents as usize;
    let skipped = &report.skipped;
    assert_eq!(
        docs + skipped.len(),
        count,
        "every PDF is indexed or reported: {skipped:?}"
    );
    assert!(
        docs >= count / 2,
        "most shared PDFs have text: {docs}/{count}"
    );
    let encrypted = skipped
        .iter()
        .find(|s| s.path.ends_with("libreoffice-writer-password.pdf"))
        .expect("the encrypted PDF is reported");
    assert!(
        encrypted.reason.to_string().contains("encrypted"),
        "{encrypted:?}"
    );
}

#[test]
fn snapshot_commands_tag_rollback_and_no_publish() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let model = tiny_model(tmp.path());
    let docs = corpus_subset(tmp.path());
    let store = tmp.path().join("store");
    let st = s(&store);
    let p1 = pipeline(
        tmp.path(),
        "a.toml",
        std::slice::from_ref(&docs),
        s(&model),
        64,
        "",
    );
    let p2 = pipeline(
        tmp.path(),
        "b.toml",
        std::slice::from_ref(&docs),
        s(&model),
        200,
        "",
    );

    let a = json::<BuildReport>(&["build", "-p", s(&p1), "--json", "-q"]).snapshot;
    ok(&["snapshots", "tag", "current", "stable", "--store", st]);
    let b = json::<BuildReport>(&["build", "-p", s(&p2), "--json", "-q"]).snapshot;
    // --no-publish writes a complete snapshot that current does not name.
    let c: BuildReport = json(&["build", "-p", s(&p1), "--json", "-q", "--no-publish"]);
    assert!(!c.published);
    let c = c.snapshot.to_string();
    let (a, b) = (a.to_string(), b.to_string());

    let rows = list(st);
    assert_eq!(rows.len(), 3);
    let marked: Vec<&str> = rows
        .iter()
        .filter(|r| r.current)
        .map(|r| r.id.as_str())
        .collect();
    assert_eq!(marked, vec![b.as_str()]);
    assert!(rows
        .iter()
        .any(|r| r.id.as_str() == a && r.tags == vec!["stable".to_string()]));

    // Search by tag and by id prefix; BM25 needs no model.
    let q = [
        "search",
        "roll back a bad index generation",
        "--store",
        st,
        "--mode",
        "bm25",
        "--json",
    ];
    let by_tag: SearchResults = json(&[&q[..], &["--snapshot", "stable"]].concat());
    assert_eq!(by_tag.snapshot.as_str(), a);
    assert!(!by_tag.results.is_empty());
    let by_prefix: SearchResults = json(&[&q[..], &["--snapshot", &c[..c.len() - 3]]].concat());
    assert_eq!(by_prefix.snapshot.as_str(), c);
    // Hybrid runs the snapshot's own (tiny) model for the query.
    let hybrid: SearchResults = json(&["search", "rollback", "--store", st, "--json", "-k", "3"]);
    assert_eq!(hybrid.results.len(), 3);

    // Output into a closed pipe (`ragops search ... | head` after head is done) ends the
    // process the Unix way, by SIGPIPE, without a panic.
    #[cfg(unix)]
    {
        use std::os::unix::process::ExitStatusExt;
        let (reader, writer) = std::io::pipe().expect("pipe");
        drop(reader);
        let out = ragops(&q)
            .stdout(writer)
            .stderr(std::process::Stdio::piped())
            .output()
            .expect("ragops runs");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!stderr.contains("panicked"), "{stderr}");
        assert_eq!(out.status.signal(), Some(13), "{:?}: {stderr}", out.status);
    }

    // Rollback without a target goes to the parent; with a target, to that snapshot.
    let out = ok(&["snapshots", "rollback", "--store", st]);
    assert!(out.contains(&format!("{b} -> {a}")), "{out}");
    ok(&["snapshots", "rollback", &c, "--store", st]);
    assert_eq!(current(st).as_str(), c);

    // Unknown references are clear errors.
    let out = run(&["snapshots", "show", "nope", "--store", st]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no snapshot matches `nope`"));
}

#[test]
fn config_and_model_errors_are_clear() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let docs = corpus_subset(tmp.path());
    // Unknown key: named with the file.
    let p = pipeline(
        tmp.path(),
        "typo.toml",
        std::slice::from_ref(&docs),
        "x",
        64,
        "chunk_size = 3",
    );
    let err = fails(&["build", "-p", s(&p)]);
    assert!(
        err.contains("chunk_size") && err.contains("typo.toml"),
        "{err}"
    );
    // Missing model: names the commands that fix it; nothing is written.
    let p = pipeline(tmp.path(), "m.toml", &[docs], "acme/absent-model", 64, "");
    let out = ragops(&["build", "-p", s(&p)])
        .env("HF_HUB_CACHE", tmp.path().join("empty-cache"))
        .output()
        .expect("runs");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("ragops model pull acme/absent-model") && err.contains("ragops model import"),
        "{err}"
    );
    let store = tmp.path().join("store");
    assert!(!store.exists() || list(s(&store)).is_empty());
}

#[test]
fn model_import_then_build_resolves_through_the_cache() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let model = tiny_model(tmp.path());
    let cache = tmp.path().join("hf-cache");
    let with_cache = |args: &[&str]| {
        let mut c = ragops(args);
        c.env("HF_HUB_CACHE", &cache);
        c
    };
    ok_cmd(with_cache(&[
        "model",
        "import",
        s(&model),
        "--as",
        "acme/tiny-bert",
    ]));
    assert!(cache.join("models--acme--tiny-bert/refs/main").is_file());
    let docs = corpus_subset(tmp.path());
    let p = pipeline(tmp.path(), "p.toml", &[docs], "acme/tiny-bert", 64, "");
    let report: BuildReport = json_cmd(with_cache(&["build", "-p", s(&p), "--json", "-q"]));
    assert_eq!(report.model.id, "acme/tiny-bert");
    assert_eq!(report.model.revision.len(), 40);
    let models: Vec<CachedModel> = json_cmd(with_cache(&["model", "list", "--json"]));
    assert_eq!(models[0].id, "acme/tiny-bert");
}
