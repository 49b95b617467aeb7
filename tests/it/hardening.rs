//! Hardening: hostile files never abort a build, a store never cleans what is not its own,
//! queries use the pinned model, integrity covers the manifest, and a published store is
//! read-only to readers. (Rollbacks that never wait for a build: `failpoints.rs`.)

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use ragops_engine::ops::{GcReport, SearchResults};
use ragops_engine::BuildReport;

use crate::common::*;

/// Exit code, stdout, stderr, peak RSS (KiB) and wall time of a command, measured with
/// `wait4` on that child alone.
struct Measured {
    code: i32,
    stdout: String,
    stderr: String,
    max_rss_kib: i64,
    wall: Duration,
}

// The child is reaped by `wait4` (which also gives its resource usage), not `Child::wait`.
#[allow(clippy::zombie_processes)]
fn run_measured(mut cmd: Command) -> Measured {
    let start = Instant::now();
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let mut out = child.stdout.take().expect("stdout");
    let mut err = child.stderr.take().expect("stderr");
    let o = std::thread::spawn(move || {
        let mut s = String::new();
        out.read_to_string(&mut s).expect("read stdout");
        s
    });
    let e = std::thread::spawn(move || {
        let mut s = String::new();
        err.read_to_string(&mut s).expect("read stderr");
        s
    });
    let mut status = 0;
    // SAFETY: rusage is plain data; wait4 fills it for this child only.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let pid = child.id() as libc::pid_t;
    // SAFETY: waits for our own child; `status` and `usage` outlive the call.
    let r = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    assert_eq!(r, pid, "wait4");
    let code = if libc::WIFEXITED(status) {
        libc::WEXITSTATUS(status)
    } else {
        -1
    };
    Measured {
        code,
        stdout: o.join().expect("stdout thread"),
        stderr: e.join().expect("stderr thread"),
        max_rss_kib: usage.ru_maxrss,
        wall: start.elapsed(),
    }
}

/// Why the build skipped `file`, as the report says it.
fn skipped_reason(report: &BuildReport, file: &str) -> Option<String> {
    report
        .skipped
        .iter()
        .find(|s| s.path.ends_with(file))
        .map(|s| s.reason.to_string())
}

#[test]
fn hostile_inputs_never_abort_the_build() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let model = tiny_model(tmp.path());
    let docs = tmp.path().join("docs");
    ragops_test_support::hostile::write_corpus(&docs).expect("hostile corpus");
    let p = pipeline(tmp.path(), "p.toml", &[docs], s(&model), 64, "");
    let m = run_measured(ragops(&["build", "-p", s(&p), "--json", "-q"]));
    assert_eq!(m.code, 0, "{}", m.stderr);
    let report: BuildReport = serde_json::from_str(&m.stdout).expect("report");
    assert!(
        m.max_rss_kib < 1536 * 1024,
        "peak RSS {} MiB",
        m.max_rss_kib / 1024
    );
    assert!(m.wall < Duration::from_secs(600), "{:?}", m.wall);
    let reason = |f: &str| skipped_reason(&report, f).unwrap_or_default();
    assert!(reason("deep.html").contains("nested deeper"), "{report:?}");
    assert!(reason("many-pages.pdf").contains("pages"), "{report:?}");
    assert!(reason("huge.txt").contains("over the limit"), "{report:?}");
    // The bomb is either refused by its budget or streamed through (it shows no text).
    let bomb = reason("bomb.pdf");
    assert!(
        bomb.contains("inflate") || bomb.contains("no text layer"),
        "{report:?}"
    );
    assert_eq!(skipped_reason(&report, "long-heading.md"), None, "loaded");
    assert_eq!(skipped_reason(&report, "normal.md"), None, "loaded");

    let store = tmp.path().join("store");
    let hits: SearchResults = json(&[
        "search",
        ragops_test_support::hostile::NORMAL_WORD,
        "--store",
        s(&store),
        "--mode",
        "bm25",
        "--json",
    ]);
    assert_eq!(hits.results[0].doc_id, "normal.md", "{hits:?}");
    // The 4 MB heading is capped in every chunk's title and heading path.
    let hits: SearchResults = json(&[
        "search",
        "w w w",
        "--store",
        s(&store),
        "--mode",
        "bm25",
        "--json",
        "-k",
        "3",
    ]);
    for h in &hits.results {
        let chars = |t: &str| t.chars().count();
        assert!(chars(&h.title) <= 257, "{}", chars(&h.title));
        for heading in &h.heading_path {
            assert!(chars(heading) <= 257);
        }
    }
}

#[test]
fn a_directory_that_is_not_a_store_is_never_used_or_cleaned() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let model = tiny_model(tmp.path());
    let docs = fixtures().join("corpus/kb");
    let proj = tmp.path().join("proj");
    std::fs::create_dir_all(proj.join("staging")).expect("mkdir");
    std::fs::create_dir_all(proj.join("trash")).expect("mkdir");
    std::fs::write(proj.join("staging/keep.txt"), "keep").expect("write");
    std::fs::write(proj.join("trash/keep.txt"), "keep").expect("write");
    let p = pipeline(tmp.path(), "p.toml", &[docs], s(&model), 64, "");
    let missing_model = pipeline(
        tmp.path(),
        "missing.toml",
        &[fixtures().join("corpus/kb")],
        "acme/not-in-any-cache",
        64,
        "",
    );
    for pl in [&missing_model, &p] {
        let err = fails(&["build", "-p", s(pl), "--store", s(&proj)]);
        assert!(err.contains("not a ragops store"), "{err}");
    }
    for f in ["staging/keep.txt", "trash/keep.txt"] {
        assert_eq!(std::fs::read_to_string(proj.join(f)).expect("kept"), "keep");
    }
    assert!(!proj.join("store.json").exists());
    let err = fails(&["snapshots", "gc", "--store", s(&proj)]);
    assert!(err.contains("not a ragops store"), "{err}");
    assert!(proj.join("trash/keep.txt").is_file());
}

/// Every file under `dir` with its size and modification time.
fn listing(dir: &Path) -> Vec<(PathBuf, u64, std::time::SystemTime)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).expect("read_dir").flatten() {
            let meta = e.metadata().expect("metadata");
            if meta.is_dir() {
                stack.push(e.path());
            }
            out.push((e.path(), meta.len(), meta.modified().expect("mtime")));
        }
    }
    out.sort();
    out
}

#[test]
fn gc_dry_run_has_no_side_effect_at_all() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let model = tiny_model(tmp.path());
    let docs = fixtures().join("corpus/kb");
    let p = pipeline(tmp.path(), "p.toml", &[docs], s(&model), 64, "");
    ok(&["build", "-p", s(&p), "-q"]);
    ok(&["build", "-p", s(&p), "-q", "--force"]);
    let store = tmp.path().join("store");
    // Leftovers of a killed gc and a killed build.
    let left = "20260101T000000000Z-0000abcd";
    std::fs::create_dir_all(store.join("trash").join(left)).expect("mkdir");
    std::fs::create_dir_all(store.join("staging").join(left)).expect("mkdir");
    std::fs::write(store.join("trash").join(left).join("x"), "x").expect("write");
    let before = listing(&store);
    let r: GcReport = json(&[
        "snapshots",
        "gc",
        "--keep",
        "0",
        "--dry-run",
        "--json",
        "--store",
        s(&store),
    ]);
    assert_eq!(r.deleted.len(), 1, "{r:?}");
    assert_eq!(listing(&store), before, "a dry run writes nothing");
    ok(&["snapshots", "gc", "--keep", "0", "--store", s(&store)]);
    assert!(!store.join("trash").join(left).exists());
}

/// A tiny model imported into the hub cache at `cache` as `id`.
fn import_tiny(tmp: &Path, cache: &Path, id: &str, seed: u64) {
    let dir = tmp.join(format!("tiny-{seed}"));
    ragops_test_support::tiny_model::write_tiny_model(&dir, seed).expect("tiny model");
    let out = ragops(&["model", "import", s(&dir), "--as", id])
        .env("HF_HUB_CACHE", cache)
        .output()
        .expect("runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn queries_use_the_model_the_snapshot_was_built_with() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let cache = tmp.path().join("hub");
    import_tiny(tmp.path(), &cache, "acme/tiny-bert", 42);
    let docs = fixtures().join("corpus/kb");
    let p = pipeline(tmp.path(), "p.toml", &[docs], "acme/tiny-bert", 64, "");
    let with_cache = |args: &[&str]| {
        let mut c = ragops(args);
        c.env("HF_HUB_CACHE", &cache).current_dir(tmp.path());
        c
    };
    ok_cmd(with_cache(&["build", "-p", s(&p), "-q"]));
    let store = tmp.path().join("store");
    let q = [
        "search",
        "backup",
        "--store",
        s(&store),
        "--mode",
        "vector",
        "--json",
    ];
    let before: SearchResults = json_cmd(with_cache(&q));

    // A directory named like the hub id in the working directory is not used.
    ragops_test_support::tiny_model::write_tiny_model(&tmp.path().join("acme/tiny-bert"), 2)
        .expect("tiny");
    let after: SearchResults = json_cmd(with_cache(&q));
    assert_eq!(before.results, after.results);

    // Other weights under the same blob name are found out by their bytes.
    let blob = std::fs::canonicalize(
        ragops_hub::repo_dir(&cache, "acme/tiny-bert")
            .join("snapshots")
            .join(
                std::fs::read_to_string(
                    ragops_hub::repo_dir(&cache, "acme/tiny-bert").join("refs/main"),
                )
                .expect("ref"),
            )
            .join("model.safetensors"),
    )
    .expect("blob");
    std::fs::copy(tmp.path().join("acme/tiny-bert/model.safetensors"), &blob).expect("swap");
    let out = with_cache(&q).output().expect("runs");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && err.contains("not the one snapshot"),
        "{err}"
    );
    let out = with_cache(&["check", "-p", s(&p), "--json"])
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(1), "stale: the model changed");
    let v: ragops_engine::ops::CheckReport = serde_json::from_slice(&out.stdout).expect("json");
    assert!(v.model.changed, "{v:?}");
}

#[test]
fn an_edited_manifest_fails_verification_and_is_never_published() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let model = tiny_model(tmp.path());
    let docs = fixtures().join("corpus/kb");
    let p = pipeline(tmp.path(), "p.toml", &[docs], s(&model), 64, "");
    let a = build(&p, &[]).snapshot.to_string();
    ok(&["build", "-p", s(&p), "-q", "--force"]);
    let store = tmp.path().join("store");
    let st = s(&store);
    let dir = store.join("snapshots").join(&a);
    // Drop chunks.parquet from the manifest's files (as if to hide a swapped table), without
    // updating its checksum.
    let path = dir.join("manifest.json");
    let mut m: ragops_store::Manifest =
        serde_json::from_slice(&std::fs::read(&path).expect("read")).expect("json");
    m.fragments[0]
        .files
        .remove("chunks.parquet")
        .expect("listed");
    std::fs::write(&path, serde_json::to_vec_pretty(&m).expect("json")).expect("write");

    let out = run(&["snapshots", "show", &a, "--verify", "--store", st]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(
        text.contains("FAILED") && text.contains("chunks.parquet"),
        "{text}"
    );
    let err = fails(&["snapshots", "rollback", &a, "--store", st]);
    assert!(err.contains("checksum") || err.contains("damaged"), "{err}");
    let listed = ok(&["snapshots", "list", "--store", st]);
    assert!(listed.contains("DAMAGED"), "{listed}");
}

#[test]
fn searching_writes_nothing_into_the_store() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let model = tiny_model(tmp.path());
    let docs = fixtures().join("corpus/kb");
    let p = pipeline(tmp.path(), "p.toml", &[docs], s(&model), 64, "");
    ok(&["build", "-p", s(&p), "-q"]);
    let store = tmp.path().join("store");
    let snaps = store.join("snapshots");
    let before = listing(&snaps);
    assert!(
        !before
            .iter()
            .any(|(p, _, _)| p.to_string_lossy().ends_with(".lock")),
        "no lock files in a published snapshot"
    );
    for mode in ["bm25", "hybrid", "vector"] {
        ok(&["search", "backup", "--store", s(&store), "--mode", mode]);
    }
    ok(&[
        "snapshots",
        "show",
        "current",
        "--verify",
        "--store",
        s(&store),
    ]);
    assert_eq!(listing(&snaps), before);
}

#[test]
fn reuse_respects_the_per_file_limits() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let model = tiny_model(tmp.path());
    let docs = fixtures().join("corpus");
    let p = pipeline(
        tmp.path(),
        "p.toml",
        std::slice::from_ref(&docs),
        s(&model),
        64,
        "",
    );
    ok(&["build", "-p", s(&p), "-q"]);
    let limited = pipeline(
        tmp.path(),
        "p.toml",
        &[docs],
        s(&model),
        64,
        "max_file_bytes = 3000",
    );
    let inc = build(&limited, &[]);
    let full = build(&limited, &["--full"]);
    let store = tmp.path().join("store");
    let ids = |r: &BuildReport| -> Vec<ragops_core::DocId> {
        catalog(&store, &r.snapshot)
            .sources
            .into_iter()
            .map(|s| s.id)
            .collect()
    };
    let (a, b) = (ids(&inc), ids(&full));
    assert_eq!(a, b);
    assert!(
        inc.skipped
            .iter()
            .any(|s| s.reason.to_string().contains("over the limit")),
        "{inc:?}"
    );
}

#[test]
fn damaged_snapshots_are_listed_and_collected() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let model = tiny_model(tmp.path());
    let docs = fixtures().join("corpus/kb");
    let p = pipeline(tmp.path(), "p.toml", &[docs], s(&model), 64, "");
    ok(&["build", "-p", s(&p), "-q"]);
    let store = tmp.path().join("store");
    let bogus = store.join("snapshots/20260101T000000000Z-0000beef");
    std::fs::create_dir_all(&bogus).expect("mkdir");
    std::fs::write(bogus.join("manifest.json"), "{").expect("write");
    let text = ok(&["snapshots", "list", "--store", s(&store)]);
    assert!(text.contains("DAMAGED"), "{text}");
    let v = list(s(&store));
    assert!(v[0].damaged.is_some(), "{v:?}");
    let r: GcReport = json(&["snapshots", "gc", "--store", s(&store), "--json"]);
    assert_eq!(
        r.deleted,
        vec!["20260101T000000000Z-0000beef"
            .parse::<ragops_core::SnapshotId>()
            .expect("id")]
    );
    assert!(!bogus.exists());
}

#[test]
fn k_is_bounded_and_a_private_store_is_closed_to_others() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let model = tiny_model(tmp.path());
    let docs = fixtures().join("corpus/kb");
    let p = pipeline(tmp.path(), "p.toml", &[docs], s(&model), 64, "");
    let text = std::fs::read_to_string(&p).expect("read") + "private = true\n";
    std::fs::write(&p, text).expect("write");
    ok(&["build", "-p", s(&p), "-q"]);
    let store = tmp.path().join("store");
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&store)
        .expect("meta")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o700);
    let out = run(&[
        "search",
        "x",
        "-k",
        "100000000000",
        "--store",
        s(&store),
        "--mode",
        "bm25",
    ]);
    assert_eq!(out.status.code(), Some(2), "a usage error, not an abort");
}

#[test]
fn verifying_a_large_snapshot_streams() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let model = tiny_model(tmp.path());
    let docs = fixtures().join("corpus/kb");
    let p = pipeline(tmp.path(), "p.toml", &[docs], s(&model), 64, "");
    let id = build(&p, &[]).snapshot.to_string();
    let store = tmp.path().join("store");
    let dir = store.join("snapshots").join(&id);
    // A 1 GiB data file (sparse: no disk), listed in the manifest with its checksum.
    let big = dir.join("big.bin");
    std::fs::File::create(&big)
        .and_then(|f| f.set_len(1 << 30))
        .expect("sparse file");
    let digest = ragops_core::sha256_file(&big).expect("hash");
    rewrite_manifest(&dir, |m| {
        m["files"]["big.bin"] = serde_json::json!({"bytes": digest.bytes, "sha256": digest.sha256});
    });
    let m = run_measured(ragops(&[
        "snapshots",
        "show",
        &id,
        "--verify",
        "--store",
        s(&store),
    ]));
    assert_eq!(m.code, 0, "{}{}", m.stdout, m.stderr);
    assert!(m.stdout.contains("verify     ok"), "{}", m.stdout);
    assert!(
        m.max_rss_kib < 200 * 1024,
        "peak RSS {} MiB",
        m.max_rss_kib / 1024
    );
}

#[test]
fn list_show_and_search_never_fail_while_gc_runs() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let model = tiny_model(tmp.path());
    let docs = fixtures().join("corpus/kb");
    let p = pipeline(tmp.path(), "p.toml", &[docs], s(&model), 64, "");
    for _ in 0..6 {
        ok(&["build", "-p", s(&p), "-q", "--force"]);
    }
    let store = tmp.path().join("store");
    let st = s(&store).to_string();
    let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let readers: Vec<_> = (0..2)
        .map(|_| {
            let (st, done) = (st.clone(), done.clone());
            std::thread::spawn(move || {
                let mut rounds = 0;
                while !done.load(std::sync::atomic::Ordering::SeqCst) || rounds < 3 {
                    ok(&["snapshots", "list", "--store", &st]);
                    ok(&["snapshots", "show", "current", "--store", &st]);
                    ok(&["search", "backup", "--store", &st, "--mode", "bm25"]);
                    rounds += 1;
                }
                rounds
            })
        })
        .collect();
    let r: GcReport = json(&["snapshots", "gc", "--keep", "0", "--store", &st, "--json"]);
    done.store(true, std::sync::atomic::Ordering::SeqCst);
    assert_eq!(r.deleted.len(), 5, "{r:?}");
    for t in readers {
        assert!(t.join().expect("reader") >= 3);
    }
}
