//! Hardening: hostile files never abort a build, a store never cleans what is not its own,
//! queries use the pinned model, integrity covers the manifest, rollbacks never wait for a
//! build, and a published store is read-only to readers.

mod common;

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use serde_json::Value;

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

fn skipped_reason<'a>(report: &'a Value, file: &str) -> Option<&'a str> {
    report["skipped"]
        .as_array()?
        .iter()
        .find(|s| s["path"].as_str().is_some_and(|p| p.ends_with(file)))
        .and_then(|s| s["reason"].as_str())
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
    let report: Value = serde_json::from_str(&m.stdout).expect("report");
    assert!(
        m.max_rss_kib < 1536 * 1024,
        "peak RSS {} MiB",
        m.max_rss_kib / 1024
    );
    assert!(m.wall < Duration::from_secs(600), "{:?}", m.wall);
    let reason = |f: &str| skipped_reason(&report, f).unwrap_or("");
    assert!(reason("deep.html").contains("nested deeper"), "{report}");
    assert!(reason("many-pages.pdf").contains("pages"), "{report}");
    assert!(reason("huge.txt").contains("over the limit"), "{report}");
    // The bomb is either refused by its budget or streamed through (it shows no text).
    let bomb = reason("bomb.pdf");
    assert!(
        bomb.contains("inflate") || bomb.contains("no extractable text"),
        "{report}"
    );
    assert_eq!(skipped_reason(&report, "long-heading.md"), None, "loaded");
    assert_eq!(skipped_reason(&report, "normal.md"), None, "loaded");

    let store = tmp.path().join("store");
    let hits = ok_json(&[
        "search",
        ragops_test_support::hostile::NORMAL_WORD,
        "--store",
        s(&store),
        "--mode",
        "bm25",
        "--json",
    ]);
    assert_eq!(hits["results"][0]["doc_id"], "normal.md", "{hits}");
    // The 4 MB heading is capped in every chunk's title and heading path.
    let hits = ok_json(&[
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
    for h in hits["results"].as_array().expect("results") {
        let chars = |v: &Value| v.as_str().map_or(0, |t| t.chars().count());
        assert!(chars(&h["title"]) <= 257, "{}", chars(&h["title"]));
        for heading in h["heading_path"].as_array().expect("headings") {
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
    let r = ok_json(&[
        "snapshots",
        "gc",
        "--keep",
        "0",
        "--dry-run",
        "--json",
        "--store",
        s(&store),
    ]);
    assert_eq!(r["deleted"].as_array().map(Vec::len), Some(1), "{r}");
    assert_eq!(listing(&store), before, "a dry run writes nothing");
    ok(&["snapshots", "gc", "--keep", "0", "--store", s(&store)]);
    assert!(!store.join("trash").join(left).exists());
}

/// A tiny model imported into the hub cache at `cache` as `id`.
fn import_tiny(tmp: &Path, cache: &Path, id: &str, seed: u64) {
    let dir = tmp.join(format!("tiny-{seed}"));
    ragops_embed::tiny::write_tiny_model(&dir, seed).expect("tiny model");
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
    let before: Value = serde_json::from_slice(&ok_cmd(with_cache(&q))).expect("json");

    // A directory named like the hub id in the working directory is not used.
    ragops_embed::tiny::write_tiny_model(&tmp.path().join("acme/tiny-bert"), 2).expect("tiny");
    let after: Value = serde_json::from_slice(&ok_cmd(with_cache(&q))).expect("json");
    assert_eq!(before["results"], after["results"]);

    // Other weights under the same blob name are found out by their bytes.
    let blob = std::fs::canonicalize(
        ragops_embed::hub::repo_dir(&cache, "acme/tiny-bert")
            .join("snapshots")
            .join(
                std::fs::read_to_string(
                    ragops_embed::hub::repo_dir(&cache, "acme/tiny-bert").join("refs/main"),
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
    let v: Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(v["model"]["changed"], true, "{v}");
}

#[test]
fn an_edited_manifest_fails_verification_and_is_never_published() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let model = tiny_model(tmp.path());
    let docs = fixtures().join("corpus/kb");
    let p = pipeline(tmp.path(), "p.toml", &[docs], s(&model), 64, "");
    let a = ok_json(&["build", "-p", s(&p), "-q", "--json"])["snapshot"]
        .as_str()
        .expect("id")
        .to_string();
    ok(&["build", "-p", s(&p), "-q", "--force"]);
    let store = tmp.path().join("store");
    let st = s(&store);
    let dir = store.join("snapshots").join(&a);
    // Drop chunks.parquet from the manifest's files (as if to hide a swapped table).
    let path = dir.join("manifest.json");
    let mut m: Value = serde_json::from_slice(&std::fs::read(&path).expect("read")).expect("json");
    m["files"]
        .as_object_mut()
        .expect("files")
        .remove("chunks.parquet");
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
fn rollback_and_tag_never_wait_for_a_build_and_the_build_does_not_publish_over_them() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let model = tiny_model(tmp.path());
    let docs = tmp.path().join("docs");
    std::fs::create_dir_all(&docs).expect("mkdir");
    std::fs::write(docs.join("a.md"), "# A\n\nAlpha restores backups.\n").expect("write");
    let p = pipeline(
        tmp.path(),
        "p.toml",
        std::slice::from_ref(&docs),
        s(&model),
        64,
        "",
    );
    let store = tmp.path().join("store");
    let st = s(&store);
    let first = ok_json(&["build", "-p", s(&p), "-q", "--json"])["snapshot"]
        .as_str()
        .expect("id")
        .to_string();
    std::fs::write(docs.join("b.md"), "# B\n\nBeta.\n").expect("write");
    ok(&["build", "-p", s(&p), "-q"]);
    std::fs::write(docs.join("c.md"), "# C\n\nGamma.\n").expect("write");

    let resume = tmp.path().join("resume");
    let mut build = ragops(&["build", "-p", s(&p), "--json"])
        .env("RAGOPS_TEST_PAUSE_AT", "after-embed")
        .env("RAGOPS_TEST_RESUME_FILE", &resume)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let mut stderr = build.stderr.take().expect("stderr");
    let paused = std::thread::spawn(move || {
        let mut seen = Vec::new();
        let mut buf = [0u8; 4096];
        while let Ok(n) = stderr.read(&mut buf) {
            if n == 0 {
                break;
            }
            seen.extend_from_slice(&buf[..n]);
            if String::from_utf8_lossy(&seen).contains("RAGOPS_PAUSED_AT after-embed") {
                return (true, stderr);
            }
        }
        (false, stderr)
    });
    let (reached, mut stderr) = paused.join().expect("reader");
    assert!(reached, "the build never paused");

    let t = Instant::now();
    ok(&["snapshots", "rollback", &first, "--store", st]);
    ok(&["snapshots", "tag", &first, "golden", "--store", st]);
    assert!(t.elapsed() < Duration::from_secs(10), "{:?}", t.elapsed());

    std::fs::write(&resume, "").expect("resume");
    let out = build.wait_with_output().expect("build ends");
    let mut err = String::new();
    stderr.read_to_string(&mut err).expect("stderr");
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("`current` moved"), "{err}");
    let current = ok_json(&["snapshots", "show", "current", "--store", st, "--json"]);
    assert_eq!(current["id"], first.as_str(), "the rollback stands");
    let listed = ok_json(&["snapshots", "list", "--store", st, "--json"]);
    assert_eq!(
        listed.as_array().map(Vec::len),
        Some(3),
        "the build's snapshot was written, not published"
    );
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
    let inc = ok_json(&["build", "-p", s(&limited), "-q", "--json"]);
    let full = ok_json(&["build", "-p", s(&limited), "-q", "--json", "--full"]);
    let ids = |r: &Value| -> Vec<String> {
        let snap = r["snapshot"].as_str().expect("id");
        let m = ok_json(&[
            "snapshots",
            "show",
            snap,
            "--store",
            s(&tmp.path().join("store")),
            "--json",
        ]);
        m["sources"]
            .as_array()
            .expect("sources")
            .iter()
            .map(|s| s["id"].as_str().expect("id").to_string())
            .collect()
    };
    let (a, b) = (ids(&inc), ids(&full));
    assert_eq!(a, b);
    assert!(
        inc["skipped"]
            .as_array()
            .expect("skipped")
            .iter()
            .any(|s| s["reason"]
                .as_str()
                .is_some_and(|r| r.contains("over the limit"))),
        "{inc}"
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
    let v = ok_json(&["snapshots", "list", "--store", s(&store), "--json"]);
    assert!(v[0]["damaged"].is_string(), "{v}");
    let r = ok_json(&["snapshots", "gc", "--store", s(&store), "--json"]);
    assert_eq!(
        r["deleted"],
        serde_json::json!(["20260101T000000000Z-0000beef"])
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
    let id = ok_json(&["build", "-p", s(&p), "-q", "--json"])["snapshot"]
        .as_str()
        .expect("id")
        .to_string();
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
    let r = ok_json(&["snapshots", "gc", "--keep", "0", "--store", &st, "--json"]);
    done.store(true, std::sync::atomic::Ordering::SeqCst);
    assert_eq!(r["deleted"].as_array().map(Vec::len), Some(5), "{r}");
    for t in readers {
        assert!(t.join().expect("reader") >= 3);
    }
}
