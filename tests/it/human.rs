//! The human output of build, search, `snapshots list/show/diff/gc`, check and experiment, as
//! insta snapshots (`tests/it/snapshots/`). Filters replace what differs between runs: snapshot
//! ids, times, durations and rates, byte sizes, config hashes and the temporary directory.
//! Review a change with `cargo insta review` (or set `INSTA_UPDATE=always` and read the diff).

use std::process::Output;

use ragops_test_support::context::TestContext;

use crate::common::*;

/// Regex-escapes a literal.
fn escape(text: &str) -> String {
    let mut out = String::new();
    for ch in text.chars() {
        if "\\.+*?()|[]{}^$#&-~".contains(ch) {
            out.push('\\');
        }
        out.push(ch);
    }
    out
}

/// Runs `f` with the filters that make the output of this context stable.
fn stable(c: &TestContext, f: impl FnOnce()) {
    let mut settings = insta::Settings::clone_current();
    settings.set_prepend_module_to_snapshot(false);
    settings.add_filter(&escape(&c.dir().to_string_lossy()), "[TMP]");
    settings.add_filter(r"\d{8}T\d{9}Z-[0-9a-f]{8}", "[SNAPSHOT]");
    settings.add_filter(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z", "[TIME]");
    settings.add_filter(r"\b\d+(\.\d+)?s\b", "[SECS]");
    settings.add_filter(r"\d+(\.\d+)?( chunks)?/s\b", "[RATE]");
    settings.add_filter(r"\b\d+ bytes\b", "[BYTES]");
    settings.add_filter(r"\b[0-9a-f]{32}\b", "[FRAGMENT]");
    settings.add_filter(r"\b[0-9a-f]{12}\b", "[HASH]");
    settings.bind(f);
}

/// Stdout, then stderr when there is any, with the exit code.
fn both(out: &Output) -> String {
    let mut s = format!("exit: {}\n", out.status.code().unwrap_or(-1));
    s.push_str(&String::from_utf8_lossy(&out.stdout));
    let err = String::from_utf8_lossy(&out.stderr);
    if !err.is_empty() {
        s.push_str("--- stderr\n");
        s.push_str(&err);
    }
    s
}

fn handbook() -> TestContext {
    ctx().corpus(&[
        fixtures().join("corpus/handbook"),
        fixtures().join("corpus/kb"),
    ])
}

#[test]
fn build_search_list_show_check() {
    let c = handbook();
    let p = c.pipeline();
    let ps = s(&p);
    stable(&c, || {
        insta::assert_snapshot!("build", both(&c.run(&["build", "-p", ps])));
        insta::assert_snapshot!(
            "search",
            both(&c.run(&["search", "restore a backup", "-p", ps, "-k", "3"]))
        );
        insta::assert_snapshot!(
            "search_bm25_empty",
            both(&c.run(&["search", "zzzqqq", "-p", ps, "--mode", "bm25"]))
        );
        insta::assert_snapshot!("list", both(&c.run(&["snapshots", "list", "-p", ps])));
        insta::assert_snapshot!(
            "show",
            both(&c.run(&["snapshots", "show", "current", "-p", ps, "--verify"]))
        );
        insta::assert_snapshot!("check_fresh", both(&c.run(&["check", "-p", ps])));
    });
}

#[test]
fn rebuild_diff_check_stale_gc() {
    let docs = tempfile::tempdir().expect("tempdir");
    for f in ["backup-restore.md", "index-rollback.md", "dr-drill.md"] {
        std::fs::copy(
            fixtures().join("corpus/handbook").join(f),
            docs.path().join(f),
        )
        .expect("copy");
    }
    let c = ctx().corpus(&[docs.path().to_path_buf()]);
    let p = c.pipeline();
    let ps = s(&p);
    c.ok(&["build", "-p", ps, "-q"]);
    c.ok(&["snapshots", "tag", "current", "before", "-p", ps]);
    std::fs::remove_file(docs.path().join("dr-drill.md")).expect("delete");
    std::fs::write(docs.path().join("new.md"), "# New\n\nA new runbook page.\n").expect("add");
    let mut text = std::fs::read_to_string(docs.path().join("backup-restore.md")).expect("read");
    text.push_str("\n\nA paragraph added at the end.\n");
    std::fs::write(docs.path().join("backup-restore.md"), text).expect("edit");
    let docs_filter = escape(&docs.path().to_string_lossy());
    stable(&c, || {
        let mut settings = insta::Settings::clone_current();
        settings.add_filter(&docs_filter, "[DOCS]");
        settings.bind(|| {
            insta::assert_snapshot!("check_stale", both(&c.run(&["check", "-p", ps])));
            insta::assert_snapshot!("build_incremental", both(&c.run(&["build", "-p", ps])));
            insta::assert_snapshot!(
                "diff",
                both(&c.run(&["snapshots", "diff", "before", "current", "-p", ps]))
            );
            c.ok(&["snapshots", "untag", "before", "-p", ps]);
            insta::assert_snapshot!(
                "gc_dry_run",
                both(&c.run(&["snapshots", "gc", "--keep", "0", "--dry-run", "-p", ps]))
            );
        });
    });
}

#[test]
fn experiment_table() {
    let c = ctx();
    let corpus = fixtures().join("beir-mini").join("corpus.jsonl");
    std::fs::write(
        c.dir().join("base.toml"),
        format!(
            "[sources]\npaths = [{:?}]\n[sources.jsonl]\nid_field = \"_id\"\ntext_field = \"text\"\ntitle_field = \"title\"\n[chunking]\nsize = 64\noverlap = 0\n[embedding]\nmodel = {:?}\n[store]\ndir = \"store\"\n",
            s(&corpus),
            c.model_ref()
        ),
    )
    .expect("base");
    let grid = c.dir().join("grid.toml");
    std::fs::write(
        &grid,
        format!(
            "name = \"sizes\"\nbase = \"base.toml\"\nquestions = {:?}\nmetric = \"ndcg\"\nmodes = [\"bm25\"]\nk = [5]\n\n[[grid]]\n\"chunking.size\" = [16, 64]\n",
            s(&fixtures().join("beir-mini"))
        ),
    )
    .expect("grid");
    let gs = s(&grid);
    let reports = c.dir().join("reports");
    stable(&c, || {
        let mut settings = insta::Settings::clone_current();
        // The index size (tantivy's segment files vary a little) and the build-time column.
        settings.add_filter(r"\d+ KiB", "[SIZE]");
        settings.add_filter(r"(?m)  +\d+\.\d$", "  [SECS]");
        settings.bind(|| {
            insta::assert_snapshot!(
                "experiment",
                both(&c.run(&["experiment", gs, "--report", s(&reports)]))
            );
        });
    });
}
