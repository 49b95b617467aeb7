//! Incremental rebuilds, the embedding cache, `ragops check`, snapshot diff/untag/gc, and
//! crash safety of incremental builds and gc. Tiny random BERT for speed (real code path).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use ragops_engine::ops::{GcReport, SearchResults, SnapshotDiff};

use crate::common::*;

/// A private, writable copy of the fixture corpus.
fn corpus_copy(dir: &Path) -> PathBuf {
    let dst = dir.join("docs");
    copy_dir(&fixtures().join("corpus"), &dst);
    dst
}

fn copy_dir(src: &Path, dst: &Path) {
    std::fs::create_dir_all(dst).expect("mkdir");
    for e in std::fs::read_dir(src).expect("read_dir").flatten() {
        let to = dst.join(e.file_name());
        if e.path().is_dir() {
            copy_dir(&e.path(), &to);
        } else {
            std::fs::copy(e.path(), &to).expect("copy");
        }
    }
}

/// A temp dir with the tiny model, a writable corpus copy and a 64-token pipeline over it.
fn setup() -> (tempfile::TempDir, PathBuf, PathBuf, PathBuf) {
    let tmp = tempfile::tempdir().expect("tempdir");
    let model = tiny_model(tmp.path());
    let docs = corpus_copy(tmp.path());
    let p = pipeline(
        tmp.path(),
        "p.toml",
        std::slice::from_ref(&docs),
        s(&model),
        64,
        "",
    );
    (tmp, model, docs, p)
}

fn same_table(a: &BTreeMap<String, Row>, b: &BTreeMap<String, Row>) {
    assert_eq!(
        a.keys().collect::<Vec<_>>(),
        b.keys().collect::<Vec<_>>(),
        "same chunk ids"
    );
    for (id, (doc, text, v)) in a {
        let (doc2, text2, v2) = &b[id];
        assert_eq!((doc, text), (doc2, text2), "chunk {id}");
        let diff = v
            .iter()
            .zip(v2)
            .map(|(x, y)| (x - y).abs())
            .fold(0f32, f32::max);
        assert!(diff < 1e-5, "chunk {id}: vectors differ by {diff}");
    }
}

#[test]
fn incremental_build_equals_full_build_and_skips_unchanged_work() {
    let (tmp, _model, docs, p) = setup();
    let store = tmp.path().join("store");

    let first = build(&p, &[]);
    let total_docs = first.counts.documents;
    assert_eq!(first.incremental.documents_added, total_docs);
    // A first build serves nothing from the cache: only texts repeated within a slice (the
    // fixtures repeat a few) are embedded once and counted as served.
    let repeats = first.incremental.embeddings_cached;
    assert!(repeats < 10, "{:?}", first.incremental);
    assert!(first.incremental.embeddings_computed > 0);
    assert_eq!(
        first.incremental.embeddings_computed + repeats,
        first.counts.chunks
    );

    // Nothing changed: nothing is written.
    let again = build(&p, &[]);
    assert!(again.up_to_date);
    assert_eq!(again.snapshot, first.snapshot);
    assert_eq!(list(s(&store)).len(), 1);

    // One file edited (a paragraph appended), one deleted, one added.
    let edited = docs.join("handbook/backup-restore.md");
    let mut text = std::fs::read_to_string(&edited).expect("read");
    text.push_str("\n\nRestores of cold archives take up to four hours; plan the window.\n");
    std::fs::write(&edited, text).expect("edit");
    std::fs::remove_file(docs.join("notes/glossary.txt")).expect("delete");
    std::fs::write(
        docs.join("notes/new-runbook.txt"),
        "Runbook: rotating the TLS certificates of the query nodes every ninety days.",
    )
    .expect("add");

    let inc = build(&p, &[]);
    let i = &inc.incremental;
    assert_eq!(i.no_reuse_reason, None);
    assert_eq!(i.documents_added, 1);
    assert_eq!(i.documents_changed, 1);
    assert_eq!(i.documents_deleted, 1);
    assert_eq!(i.documents_processed, 2, "{i:?}");
    assert_eq!(i.documents_reused, total_docs - 2);
    assert_eq!(i.documents_unchanged, total_docs - 2);
    // The edited document's leading chunks are unchanged: their vectors come from the cache.
    assert!(i.embeddings_cached > 0, "{i:?}");
    let computed = i.embeddings_computed;
    assert!(
        computed > 0 && computed < 5,
        "only the new text is embedded: {i:?}"
    );
    assert_eq!(i.chunks_reused + i.chunks_new, inc.counts.chunks);

    // The incremental snapshot holds exactly what a full rebuild produces.
    let full = build(&p, &["--full", "--no-publish"]);
    assert_eq!(full.incremental.documents_reused, 0);
    assert_eq!(full.incremental.embeddings_cached, repeats);
    let (t_inc, t_full) = (table(&store, &inc.snapshot), table(&store, &full.snapshot));
    same_table(&t_inc, &t_full);
    assert!(t_inc
        .values()
        .all(|(doc, _, _)| doc != "notes/glossary.txt"));
    assert!(t_inc
        .values()
        .any(|(doc, _, _)| doc == "notes/new-runbook.txt"));
    let (m, m_full) = (
        catalog(&store, &inc.snapshot),
        catalog(&store, &full.snapshot),
    );
    assert_eq!(m.sources, m_full.sources);
    assert_eq!(m.source_files, m_full.source_files);
    // BM25 finds the deleted document no more, and the new one.
    let hits: SearchResults = json(&[
        "search",
        "rotating the TLS certificates",
        "-p",
        s(&p),
        "--mode",
        "bm25",
        "-k",
        "1",
        "--json",
    ]);
    assert_eq!(hits.results[0].doc_id, "notes/new-runbook.txt");

    // diff names what changed.
    let d = diff(&p, &first.snapshot, &inc.snapshot);
    assert_eq!(d.documents_added, vec!["notes/new-runbook.txt"]);
    assert_eq!(d.documents_removed, vec!["notes/glossary.txt"]);
    assert_eq!(d.documents_changed[0].id, "handbook/backup-restore.md");
    assert!(d.config_changes.is_empty());
}

#[test]
fn torn_cache_entries_are_recomputed_not_served() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let model = tiny_model(tmp.path());
    let docs = corpus_copy(tmp.path());
    let a = pipeline(
        tmp.path(),
        "a.toml",
        std::slice::from_ref(&docs),
        s(&model),
        64,
        "",
    );
    let b = pipeline(tmp.path(), "b.toml", &[docs], s(&model), 48, "");
    let store = tmp.path().join("store");
    let first = build(&a, &[]);
    build(&b, &[]);
    // Damage one byte in every entry of the first build's cache segment.
    let seg = std::fs::read_dir(
        std::fs::read_dir(store.join("cache/embeddings"))
            .expect("cache")
            .flatten()
            .next()
            .expect("model dir")
            .path(),
    )
    .expect("segments")
    .flatten()
    .map(|e| e.path())
    .find(|p| p.to_string_lossy().contains(first.snapshot.as_str()))
    .expect("first build's segment");
    let mut bytes = std::fs::read(&seg).expect("read segment");
    let dim = 32; // the tiny model's hidden size
    let rec = 32 + 8 + dim * 4 + 8;
    let entries = (bytes.len() - 16) / rec;
    for i in 0..entries {
        bytes[16 + i * rec + 50] ^= 0x5a;
    }
    std::fs::write(&seg, bytes).expect("write");
    // Back to config a: its parent (config b) cannot be reused, so every text is looked up.
    let again = build(&a, &[]);
    let i = &again.incremental;
    // Every lookup of a damaged entry is counted (a text may occur in several chunks).
    assert!(i.cache_entries_torn >= entries as u64, "{i:?}");
    // No torn entry is served: what counts as served is only the repeats the first build had.
    assert_eq!(
        i.embeddings_cached, first.incremental.embeddings_cached,
        "no torn entry is served: {i:?}"
    );
    same_table(
        &table(&store, &first.snapshot),
        &table(&store, &again.snapshot),
    );
}

#[test]
fn check_reports_fresh_stale_and_errors_with_stable_exit_codes() {
    let (tmp, model, docs, p) = setup();

    // No store yet: an error, not "stale".
    let (code, v) = check(&p, &[]);
    assert_eq!(code, 2, "{v:?}");
    assert!(
        matches!(&v, CheckOutput::Error { error } if error.contains("no ragops store")),
        "{v:?}"
    );

    build(&p, &[]);
    let (code, v) = check(&p, &[]);
    assert_eq!((code, v.report().fresh), (0, true), "{v:?}");
    assert!(v.report().reasons.is_empty());

    // Sources: one of each kind of change.
    std::fs::write(
        docs.join("handbook/dr-drill.md"),
        "# DR drill\n\nRewritten.\n",
    )
    .expect("edit");
    std::fs::remove_file(docs.join("site/pricing.html")).expect("delete");
    std::fs::write(docs.join("notes/extra.txt"), "An extra note.").expect("add");
    let (code, v) = check(&p, &[]);
    assert_eq!(code, 1, "{v:?}");
    let r = v.report();
    assert!(!r.fresh);
    let path = |rel: &str| docs.join(rel).to_string_lossy().into_owned();
    assert_eq!(r.sources.added, vec![path("notes/extra.txt")]);
    assert_eq!(r.sources.changed, vec![path("handbook/dr-drill.md")]);
    assert_eq!(r.sources.deleted, vec![path("site/pricing.html")]);
    build(&p, &[]);
    assert_eq!(check(&p, &[]).0, 0, "fresh again after a rebuild");

    // Config drift names the keys; batching knobs are not drift.
    let drift = pipeline(
        tmp.path(),
        "p.toml",
        std::slice::from_ref(&docs),
        s(&model),
        96,
        "",
    );
    let (code, v) = check(&drift, &[]);
    assert_eq!(code, 1);
    assert_eq!(v.changed_keys(), vec!["chunking.overlap", "chunking.size"]);
    let text = std::fs::read_to_string(&drift).expect("read");
    std::fs::write(
        &drift,
        text.replace("size = 96", "size = 64")
            .replace("overlap = 12", "overlap = 8")
            .replace("[embedding]", "[embedding]\nbatch_size = 3"),
    )
    .expect("write");
    assert_eq!(check(&drift, &[]).0, 0, "batch size is not content");

    // Model drift: other weights under the same path.
    ragops_test_support::tiny_model::write_tiny_model(&model, 7).expect("new weights");
    let (code, v) = check(&drift, &[]);
    assert_eq!(code, 1);
    assert!(v.report().model.changed, "{v:?}");

    // Age.
    ragops_test_support::tiny_model::write_tiny_model(&model, 42).expect("old weights");
    assert_eq!(check(&drift, &[]).0, 0);
    std::thread::sleep(std::time::Duration::from_millis(2100));
    let (code, v) = check(&drift, &["--max-age", "1s"]);
    assert_eq!(code, 1);
    assert!(
        v.report().reasons[0].contains("more than the maximum age of 1s"),
        "{v:?}"
    );
    assert_eq!(check(&drift, &["--max-age", "1h"]).0, 0);
    let out = run(&["check", "-p", s(&drift), "--json", "--max-age", "soon"]);
    assert_eq!(out.status.code(), Some(2), "bad duration is an error");
}

fn snapshot_dirs(store: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(store.join("snapshots"))
        .expect("snapshots")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

fn tree_bytes(p: &Path) -> u64 {
    if p.is_dir() {
        std::fs::read_dir(p)
            .expect("read_dir")
            .flatten()
            .map(|e| tree_bytes(&e.path()))
            .sum()
    } else {
        std::fs::metadata(p).map(|m| m.len()).unwrap_or(0)
    }
}

#[test]
fn gc_keeps_current_tags_and_newest_and_reclaims_bytes() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let model = tiny_model(tmp.path());
    let docs = corpus_copy(tmp.path());
    let store = tmp.path().join("store");
    let st = s(&store);
    let mut ids = Vec::new();
    for size in [64, 48, 40, 56] {
        let p = pipeline(
            tmp.path(),
            "p.toml",
            std::slice::from_ref(&docs),
            s(&model),
            size,
            "",
        );
        ids.push(build(&p, &[]).snapshot.to_string());
    }
    assert_eq!(snapshot_dirs(&store), ids, "ids sort in creation order");
    ok(&["snapshots", "tag", &ids[0], "golden", "--store", st]);
    ok(&["snapshots", "rollback", &ids[2], "--store", st]);
    // current = ids[2], tagged = ids[0], newest = ids[3]; ids[1] goes.
    let cache = store.join("cache");
    let before_cache = tree_bytes(&cache);
    let doomed_bytes = tree_bytes(&store.join("snapshots").join(&ids[1]));
    let dry: GcReport = json(&[
        "snapshots",
        "gc",
        "--keep",
        "1",
        "--dry-run",
        "--store",
        st,
        "--json",
    ]);
    assert_eq!(
        dry.deleted,
        vec![ids[1].parse::<ragops_core::SnapshotId>().expect("id")]
    );
    assert_eq!(dry.snapshot_bytes, doomed_bytes);
    assert_eq!(snapshot_dirs(&store).len(), 4, "dry run deletes nothing");
    assert_eq!(tree_bytes(&cache), before_cache);

    let r: GcReport = json(&["snapshots", "gc", "--keep", "1", "--store", st, "--json"]);
    assert_eq!(r.deleted, dry.deleted);
    assert_eq!(r.bytes_reclaimed, dry.bytes_reclaimed);
    assert_eq!(
        snapshot_dirs(&store),
        vec![ids[0].clone(), ids[2].clone(), ids[3].clone()]
    );
    // Snapshot 1's cache entries (chunk size 48) are used by no kept snapshot: gone from disk.
    let cache_reclaimed = r.cache.bytes_reclaimed;
    assert!(cache_reclaimed > 0, "{r:?}");
    assert_eq!(tree_bytes(&cache), before_cache - cache_reclaimed);
    // Every kept snapshot still searches and verifies; rebuilding a kept config hits the cache.
    for id in [&ids[0], &ids[2], &ids[3]] {
        let v = show_verified(st, id);
        assert!(v.verify.expect("verify report").ok);
        ok(&[
            "search",
            "backup",
            "--snapshot",
            id,
            "--store",
            st,
            "--mode",
            "bm25",
        ]);
    }
    let p = pipeline(
        tmp.path(),
        "p.toml",
        std::slice::from_ref(&docs),
        s(&model),
        64,
        "",
    );
    let again = build(&p, &["--no-publish"]);
    assert_eq!(again.incremental.embeddings_computed, 0, "{again:?}");

    // Untag: the snapshot stays until gc; current can never be deleted.
    ok(&["snapshots", "untag", "golden", "--store", st]);
    let err = fails(&["snapshots", "untag", "golden", "--store", st]);
    assert!(err.contains("no tag named"), "{err}");
    let r: GcReport = json(&["snapshots", "gc", "--keep", "0", "--store", st, "--json"]);
    let kept: Vec<&str> = r.kept.iter().map(|k| k.id.as_str()).collect();
    assert_eq!(
        kept,
        vec![ids[2].as_str()],
        "only current survives --keep 0"
    );
    assert_eq!(snapshot_dirs(&store), vec![ids[2].clone()]);
    ok(&["search", "backup", "--store", st, "--mode", "bm25"]);
}

#[test]
fn a_snapshot_chunked_by_an_older_splitter_is_stale_and_rechunked() {
    let (tmp, _, _, p) = setup();
    let first = build(&p, &[]);
    let dir = tmp
        .path()
        .join("store/snapshots")
        .join(first.snapshot.as_str());
    // What a snapshot from before the token splitter looks like: same settings, other hashes.
    rewrite_manifest(&dir, |m| {
        m["chunking_hash"] = serde_json::json!("chunked-by-text-splitter");
        m["reuse_key"] = serde_json::json!("reuse-key-of-text-splitter");
    });

    let (code, v) = check(&p, &[]);
    assert_eq!(code, 1, "{v:?}");
    let r = v.report();
    assert!(r.chunker_changed);
    assert!(r.config_changes.is_empty());
    assert!(r.reasons[0].contains("chunking algorithm changed"), "{r:?}");
    let second = build(&p, &[]);
    let inc = &second.incremental;
    assert_eq!(inc.documents_reused, 0, "{inc:?}");
    assert_eq!(
        second.counts.chunks, first.counts.chunks,
        "the same splitter cuts the same chunks"
    );
    let (code, v) = check(&p, &[]);
    assert_eq!((code, v.report().chunker_changed), (0, false), "{v:?}");
}

#[test]
fn a_snapshot_of_a_newer_format_is_refused_clearly() {
    let (tmp, _, _, p) = setup();
    let id = build(&p, &[]).snapshot;
    let dir = tmp.path().join("store/snapshots").join(id.as_str());
    rewrite_manifest(&dir, |m| m["format_version"] = serde_json::json!(99));
    for args in [
        vec!["search", "backup", "-p", s(&p)],
        vec!["build", "-p", s(&p), "-q"],
        vec!["snapshots", "show", "current", "-p", s(&p)],
    ] {
        let err = fails(&args);
        assert!(
            err.contains("newer ragops (format 99") && err.contains("upgrade ragops"),
            "{args:?}: {err}"
        );
    }
    let out = run(&["check", "-p", s(&p)]);
    assert_eq!(out.status.code(), Some(2), "check: an error, not stale");
}

#[test]
fn skip_records_of_reused_files_are_kept_and_strict_still_refuses_them() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let model = tiny_model(tmp.path());
    let docs = tmp.path().join("docs");
    std::fs::create_dir_all(&docs).expect("mkdir");
    std::fs::write(
        docs.join("kb.jsonl"),
        "{\"id\": \"a\", \"text\": \"alpha record about backups\"}\nnot json\n",
    )
    .expect("jsonl");
    std::fs::write(docs.join("note.md"), "# Note\n\nFirst version.\n").expect("md");
    let p = pipeline(
        tmp.path(),
        "p.toml",
        std::slice::from_ref(&docs),
        s(&model),
        64,
        "",
    );
    let first = build(&p, &[]);
    let bad =
        |r: &ragops_engine::BuildReport| r.skipped.iter().any(|s| s.path.ends_with("kb.jsonl:2"));
    assert!(bad(&first), "{first:?}");
    std::fs::write(docs.join("note.md"), "# Note\n\nSecond version.\n").expect("edit");
    let out = run(&["build", "-p", s(&p), "--strict", "-q"]);
    assert!(
        !out.status.success(),
        "the reused file's bad line fails --strict"
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("kb.jsonl:2"));
    let second = build(&p, &[]);
    assert_eq!(second.incremental.documents_reused, 1, "{second:?}");
    assert!(
        bad(&second),
        "the skip record is carried with the reused file: {second:?}"
    );
}

#[test]
fn a_text_repeated_within_a_build_is_embedded_once() {
    let c = ctx();
    let docs = c.dir().join("docs");
    std::fs::create_dir_all(&docs).expect("mkdir");
    let mut lines: Vec<String> = (0..30)
        .map(|i| {
            format!(r#"{{"id": "r{i}", "title": "Notice", "text": "This page is maintained by the platform team."}}"#)
        })
        .collect();
    lines.push(r#"{"id": "a", "title": "Backups", "text": "Backups run nightly."}"#.into());
    lines.push(r#"{"id": "b", "title": "Keys", "text": "Rotate keys every quarter."}"#.into());
    std::fs::write(docs.join("kb.jsonl"), lines.join("\n")).expect("write");
    let c = c.corpus(&[docs]);
    let r = build(&c.pipeline(), &[]);
    assert_eq!(r.counts.chunks, 32);
    assert_eq!(r.incremental.embeddings_computed, 3, "{:?}", r.incremental);
    assert_eq!(r.incremental.embeddings_cached, 29);
    // The repeats carry the vector computed for the first: the same score for each.
    let hits: SearchResults = c.json(&[
        "search",
        "platform team",
        "-p",
        s(&c.pipeline()),
        "--mode",
        "vector",
        "-k",
        "32",
        "--json",
    ]);
    let same: Vec<f32> = hits
        .results
        .iter()
        .filter(|h| h.text.contains("platform team"))
        .map(|h| h.score)
        .collect();
    assert_eq!(same.len(), 30);
    assert!(same.iter().all(|s| *s == same[0]), "{same:?}");
}

/// `[embedding] precision` is part of the model's identity: switching an f32 store to int8
/// re-embeds everything (nothing reused, nothing from the f32 cache), the manifest records the
/// precision, queries of the int8 snapshot are embedded at int8, `check` calls the f32
/// snapshot stale, and switching back finds the f32 vectors in the cache. Plumbing only: the
/// vectors themselves may or may not differ (the kernels decide).
#[test]
fn changing_the_precision_re_embeds_and_is_recorded() {
    let (tmp, _model, _docs, p) = setup();
    let store = tmp.path().join("store");
    let f32_build = build(&p, &[]);
    assert!(f32_build.model.precision.is_default());
    let repeats = f32_build.incremental.embeddings_cached;

    let text = std::fs::read_to_string(&p).expect("read");
    let int8_text = text.replace("[embedding]", "[embedding]\nprecision = \"int8\"");
    assert_ne!(int8_text, text);
    std::fs::write(&p, &int8_text).expect("write");

    // Stale before the build: the config and the model (its precision) changed.
    let (code, v) = check(&p, &[]);
    assert_eq!(code, 1, "{v:?}");
    assert_eq!(v.changed_keys(), vec!["embedding.precision"]);
    assert!(v.report().model.changed, "{v:?}");

    let int8 = build(&p, &[]);
    let i = &int8.incremental;
    assert!(!int8.up_to_date);
    assert_eq!(int8.parent.as_ref(), Some(&f32_build.snapshot));
    assert_eq!(
        i.no_reuse_reason,
        Some(ragops_engine::NoReuse::ModelChanged)
    );
    assert_eq!((i.documents_reused, i.chunks_reused), (0, 0), "{i:?}");
    // Only the texts repeated within the build come from the cache, as in a first build.
    assert_eq!(i.embeddings_cached, repeats, "{i:?}");
    assert_eq!(
        i.embeddings_computed,
        f32_build.incremental.embeddings_computed
    );
    assert_eq!(int8.model.precision, ragops_core::Precision::Int8);
    assert_eq!(
        int8.model.weights_sha256, f32_build.model.weights_sha256,
        "the same model files"
    );
    assert_eq!(int8.counts.chunks, f32_build.counts.chunks);

    // The manifest records the precision under `model`, and in the configuration.
    let manifest = manifest_json(&store, &int8.snapshot);
    assert_eq!(
        manifest["model"]["precision"], "int8",
        "{}",
        manifest["model"]
    );
    assert_eq!(manifest["config"]["embedding"]["precision"], "int8");
    let shown = show_verified(s(&store), "current");
    assert_eq!(shown.manifest.id, int8.snapshot);
    assert_eq!(shown.manifest.model.precision, ragops_core::Precision::Int8);
    let f32_manifest = manifest_json(&store, &f32_build.snapshot);
    assert!(f32_manifest["model"].get("precision").is_none());
    assert!(f32_manifest["config"]["embedding"]
        .get("precision")
        .is_none());

    // Fresh now; the same build again is up to date.
    assert_eq!(check(&p, &[]).0, 0);
    assert!(build(&p, &[]).up_to_date);

    // Queries of the int8 snapshot are embedded with the snapshot's model and precision.
    for mode in ["vector", "hybrid"] {
        let hits: SearchResults = json(&[
            "search",
            "restore from backup",
            "-p",
            s(&p),
            "--mode",
            mode,
            "-k",
            "3",
            "--json",
        ]);
        assert_eq!(hits.snapshot, int8.snapshot);
        assert_eq!(hits.results.len(), 3, "{mode}");
    }

    // diff names the precision on each side.
    let d = diff(&p, &f32_build.snapshot, &int8.snapshot);
    let (a, b) = d.model_change.expect("the model changed");
    assert!(!a.contains("int8") && b.ends_with("(int8)"), "{a} -> {b}");

    // Back to f32: the f32 vectors are still in the cache, in their own namespace.
    std::fs::write(&p, &text).expect("write");
    let back = build(&p, &[]);
    let i = &back.incremental;
    assert_eq!(
        i.no_reuse_reason,
        Some(ragops_engine::NoReuse::ModelChanged)
    );
    assert_eq!(i.embeddings_computed, 0, "{i:?}");
    assert!(back.model.precision.is_default());
}

/// `ragops snapshots diff A B --json` in the pipeline's store.
fn diff(p: &Path, a: &ragops_core::SnapshotId, b: &ragops_core::SnapshotId) -> SnapshotDiff {
    json(&[
        "snapshots",
        "diff",
        a.as_str(),
        b.as_str(),
        "-p",
        s(p),
        "--json",
    ])
}

/// A snapshot's `manifest.json` as written.
fn manifest_json(store: &Path, id: &ragops_core::SnapshotId) -> serde_json::Value {
    let path = store
        .join("snapshots")
        .join(id.as_str())
        .join("manifest.json");
    serde_json::from_slice(&std::fs::read(path).expect("manifest")).expect("json")
}

/// `ragops embed --precision` runs at the precision asked for and reports it (top level, and in
/// `model` when not f32); an unknown precision names the possible values.
#[test]
fn embed_reports_its_precision() {
    let (tmp, model, input) =
        embed_inputs("\"restore from backup\"\n{\"text\": \"rotate keys\"}\n");
    for precision in ["f32", "bf16", "int8"] {
        let out = tmp.path().join(format!("vectors-{precision}.jsonl"));
        let r: serde_json::Value = json_cmd(embed_cmd(&input, &out, &model, precision));
        assert_eq!(r["texts"], 2);
        assert_eq!(r["precision"], precision, "{r}");
        if precision == "f32" {
            assert!(r["model"].get("precision").is_none(), "{r}");
        } else {
            assert_eq!(r["model"]["precision"], precision, "{r}");
        }
        let lines = std::fs::read_to_string(&out).expect("output");
        assert_eq!(lines.lines().count(), 2);
    }
    let err = fails(&[
        "embed",
        "--input",
        s(&input),
        "--output",
        "x",
        "--precision",
        "fp8",
    ]);
    assert!(err.contains("f32, bf16, int8"), "{err}");
}

/// A directory with the tiny model and `texts.jsonl` holding `lines`.
fn embed_inputs(lines: &str) -> (tempfile::TempDir, std::path::PathBuf, std::path::PathBuf) {
    let tmp = tempfile::tempdir().expect("tempdir");
    let model = tiny_model(tmp.path());
    let input = tmp.path().join("texts.jsonl");
    std::fs::write(&input, lines).expect("in");
    (tmp, model, input)
}

/// `ragops embed --json -q` of `input` into `out` with `model` at `precision`, on the kernels
/// the CPU runs best (`RAGOPS_ISA` cleared).
fn embed_cmd(input: &Path, out: &Path, model: &Path, precision: &str) -> std::process::Command {
    let mut cmd = ragops(&[
        "embed",
        "--input",
        s(input),
        "--output",
        s(out),
        "--model",
        s(model),
        "--precision",
        precision,
        "--json",
        "-q",
    ]);
    cmd.env_remove("RAGOPS_ISA");
    cmd
}

/// `RAGOPS_ISA` forces the fallback kernels on purpose: the report names them, and the vectors
/// are those of the best kernels (int8 sums are exact on every level; only the f32 parts
/// round differently).
#[test]
fn a_forced_fallback_kernel_gives_the_vectors_of_the_best_one() {
    let (tmp, model, input) = embed_inputs(
        "\"restore from backup\"\n\"rotate the signing keys every ninety days\"\n\"x\"\n",
    );
    let vectors = |isa: Option<&str>, precision: &str| -> (String, Vec<Vec<f64>>) {
        let out = tmp
            .path()
            .join(format!("v-{}-{precision}.jsonl", isa.unwrap_or("best")));
        let mut cmd = embed_cmd(&input, &out, &model, precision);
        if let Some(isa) = isa {
            cmd.env("RAGOPS_ISA", isa);
        }
        let r: serde_json::Value = json_cmd(cmd);
        let kernel = r["kernel"].as_str().expect("kernel").to_string();
        let rows = std::fs::read_to_string(&out)
            .expect("output")
            .lines()
            .map(|l| {
                let v: serde_json::Value = serde_json::from_str(l).expect("line");
                v["embedding"]
                    .as_array()
                    .expect("embedding")
                    .iter()
                    .map(|x| x.as_f64().expect("number"))
                    .collect()
            })
            .collect();
        (kernel, rows)
    };
    for precision in ["f32", "bf16", "int8"] {
        let (best_kernel, best) = vectors(None, precision);
        assert!(best_kernel.starts_with(precision), "{best_kernel}");
        for isa in ["avx2", "scalar"] {
            let (kernel, got) = vectors(Some(isa), precision);
            assert!(kernel.starts_with(precision), "{kernel}");
            if isa == "scalar" {
                assert_eq!(kernel, format!("{precision} scalar"));
            } else if !best_kernel.ends_with("scalar") {
                assert!(kernel.contains("avx2"), "{kernel} under RAGOPS_ISA=avx2");
            }
            for (a, b) in best.iter().zip(&got) {
                let dot: f64 = a.iter().zip(b).map(|(x, y)| x * y).sum();
                assert!(
                    dot > 0.9999,
                    "{precision} {kernel} vs {best_kernel}: cosine {dot}"
                );
            }
        }
    }
}
