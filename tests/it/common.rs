//! Helpers for the end-to-end tests: they drive the built `ragops` binary over `fixtures/` and
//! read its JSON output into the library's own types.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use ragops_core::SnapshotId;
use ragops_store::{Counts, Manifest, VerifyReport};
use serde::de::DeserializeOwned;
use serde::Deserialize;

pub use ragops_test_support::context::TestContext;

/// The binary under test: this build's, or `RAGOPS_TEST_BIN` (to show that a test fails on
/// an older build).
pub fn bin() -> PathBuf {
    std::env::var_os("RAGOPS_TEST_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_ragops")))
}

/// A test context for the binary under test.
pub fn ctx() -> TestContext {
    TestContext::new(bin())
}

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn fixtures() -> PathBuf {
    repo().join("fixtures")
}

/// A command for the binary, with test hooks cleared.
pub fn ragops(args: &[&str]) -> Command {
    let mut c = Command::new(bin());
    c.args(args)
        .env_remove("RAGOPS_FAILPOINT")
        .env_remove("RAGOPS_FAILPOINT_RESUME")
        .env_remove("RAGOPS_STORE");
    c
}

pub fn run(args: &[&str]) -> Output {
    ragops(args).output().expect("ragops runs")
}

/// Runs and asserts success; returns stdout.
pub fn ok(args: &[&str]) -> String {
    let out = run(args);
    assert!(
        out.status.success(),
        "ragops {args:?} failed ({}):\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8 stdout")
}

/// Runs a prepared command and asserts success; returns stdout.
pub fn ok_cmd(mut cmd: Command) -> Vec<u8> {
    let out = cmd.output().expect("ragops runs");
    assert!(
        out.status.success(),
        "{cmd:?} failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// Runs and asserts failure; returns stderr.
pub fn fails(args: &[&str]) -> String {
    let out = run(args);
    assert!(!out.status.success(), "ragops {args:?} should have failed");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Runs a command that prints JSON (`--json` in `args`) and reads it as `T`.
pub fn json<T: DeserializeOwned>(args: &[&str]) -> T {
    let out = ok(args);
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("{args:?}: {e}\n{out}"))
}

/// Runs a prepared command that prints JSON and reads it as `T`.
pub fn json_cmd<T: DeserializeOwned>(cmd: Command) -> T {
    let out = ok_cmd(cmd);
    serde_json::from_slice(&out)
        .unwrap_or_else(|e| panic!("{e}\n{}", String::from_utf8_lossy(&out)))
}

/// `snapshots show --json`: the manifest, and the verify report with `--verify`.
#[derive(Debug, Deserialize)]
pub struct Shown {
    #[serde(flatten)]
    pub manifest: Manifest,
    #[serde(default)]
    pub skipped: Vec<ragops_core::Skipped>,
    pub verify: Option<VerifyReport>,
}

/// A snapshot's catalog (documents, source files, skips), read through the store API.
pub fn catalog(store: &Path, id: &SnapshotId) -> ragops_store::Catalog {
    ragops_store::Store::open(store)
        .and_then(|s| s.snapshot(id))
        .and_then(|s| s.catalog())
        .expect("catalog")
}

/// A row of `snapshots list --json`.
#[derive(Debug, Deserialize)]
pub struct ListRow {
    pub id: SnapshotId,
    pub current: bool,
    pub tags: Vec<String>,
    pub counts: Option<Counts>,
    pub damaged: Option<String>,
}

/// `snapshots list --json` of a store.
pub fn list(store: &str) -> Vec<ListRow> {
    json(&["snapshots", "list", "--store", store, "--json"])
}

/// `snapshots show SNAPSHOT --verify --json` of a store.
pub fn show_verified(store: &str, snapshot: &str) -> Shown {
    json(&[
        "snapshots",
        "show",
        snapshot,
        "--store",
        store,
        "--json",
        "--verify",
    ])
}

/// The snapshot `current` names.
pub fn current(store: &str) -> SnapshotId {
    json::<Shown>(&["snapshots", "show", "current", "--store", store, "--json"])
        .manifest
        .id
}

/// Writes a tiny random BERT into `dir/tiny-model` and returns its path.
pub fn tiny_model(dir: &Path) -> PathBuf {
    let p = dir.join("tiny-model");
    ragops_test_support::tiny_model::write_tiny_model(&p, 42).expect("tiny model");
    p
}

/// Writes a pipeline file with absolute paths; returns its path. `sources_toml` goes into
/// the `[sources]` table.
pub fn pipeline(
    dir: &Path,
    name: &str,
    sources: &[PathBuf],
    model: &str,
    size: usize,
    sources_toml: &str,
) -> PathBuf {
    ragops_test_support::context::write_pipeline(
        dir,
        name,
        &ragops_test_support::context::PipelineSpec {
            sources,
            model,
            size,
            sources_toml,
            store_toml: "",
        },
    )
}

pub fn s(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

/// Rewrites a snapshot's manifest as a consistent writer would (its `manifest.sha256` updated):
/// how tests stand in for snapshots written by other ragops versions.
pub fn rewrite_manifest(snapshot_dir: &Path, edit: impl FnOnce(&mut serde_json::Value)) {
    let path = snapshot_dir.join("manifest.json");
    let mut m: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&path).expect("read manifest")).expect("json");
    edit(&mut m);
    let bytes = serde_json::to_vec_pretty(&m).expect("json");
    std::fs::write(&path, &bytes).expect("write manifest");
    let sha = ragops_core::sha256_hex(&bytes);
    std::fs::write(snapshot_dir.join("manifest.sha256"), format!("{sha}\n")).expect("sidecar");
}

/// `ragops build -p P --json -q EXTRA…`.
pub fn build(p: &Path, extra: &[&str]) -> ragops_engine::BuildReport {
    let mut args = vec!["build", "-p", s(p), "--json", "-q"];
    args.extend_from_slice(extra);
    json(&args)
}

/// What `ragops check --json` prints: the report, or an error (exit code 2).
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum CheckOutput {
    Report(Box<ragops_engine::ops::CheckReport>),
    Error { error: String },
}

impl CheckOutput {
    pub fn report(&self) -> &ragops_engine::ops::CheckReport {
        match self {
            CheckOutput::Report(r) => r,
            CheckOutput::Error { error } => panic!("check failed: {error}"),
        }
    }

    /// The configuration keys the report says changed.
    pub fn changed_keys(&self) -> Vec<&str> {
        let changes = &self.report().config_changes;
        changes.iter().map(|c| c.key.as_str()).collect()
    }
}

/// `ragops check -p P --json EXTRA…`: exit code and output.
pub fn check(p: &Path, extra: &[&str]) -> (i32, CheckOutput) {
    let mut args = vec!["check", "-p", s(p), "--json"];
    args.extend_from_slice(extra);
    let out = run(&args);
    let v = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{args:?}: {e}\n{}", String::from_utf8_lossy(&out.stdout)));
    (out.status.code().expect("exit code"), v)
}

/// A chunk row as the tests compare them: doc id, text, vector.
pub type Row = (String, String, Vec<f32>);

/// chunk id -> (doc id, text, vector) of a snapshot's live rows (every fragment, masked rows
/// left out), read through the store API.
pub fn table(store: &Path, id: &SnapshotId) -> std::collections::BTreeMap<String, Row> {
    let fragments = ragops_store::Store::open(store)
        .and_then(|s| s.snapshot(id))
        .and_then(|s| s.fragments())
        .expect("fragments");
    fragments
        .iter()
        .flat_map(|f| {
            let t = f.read_chunks().expect("chunk table");
            (0..t.rows.len())
                .filter(|&i| !f.is_deleted(i))
                .map(|i| {
                    let c = &t.rows[i].chunk;
                    (
                        c.id.to_string(),
                        (c.doc_id.to_string(), c.text.clone(), t.vector(i).to_vec()),
                    )
                })
                .collect::<Vec<_>>()
        })
        .collect()
}

/// Rewrites a format-2 snapshot as format 1 wrote it: the data files in the snapshot's own
/// directory, the catalog inside the manifest, no fragments.
pub fn downgrade_to_format_1(store: &Path, id: &SnapshotId) {
    let st = ragops_store::Store::open(store).expect("store");
    let snap = st.snapshot(id).expect("snapshot");
    let catalog = snap.catalog().expect("catalog");
    let m = snap.manifest().clone();
    assert_eq!(m.fragments.len(), 1);
    let dir = store.join("snapshots").join(id.as_str());
    let frag = store.join("fragments").join(m.fragments[0].id.as_str());
    let mut files = serde_json::Map::new();
    for (rel, rec) in &m.fragments[0].files {
        let to = dir.join(rel);
        std::fs::create_dir_all(to.parent().expect("parent")).expect("mkdir");
        std::fs::rename(frag.join(rel), &to).expect("move");
        files.insert(rel.clone(), serde_json::to_value(rec).expect("json"));
    }
    std::fs::remove_dir_all(&frag).expect("rm fragment");
    std::fs::remove_file(dir.join("catalog.json.lz4")).expect("rm catalog");
    rewrite_manifest(&dir, |v| {
        v["format_version"] = serde_json::json!(1);
        v.as_object_mut().expect("object").remove("fragments");
        v["files"] = serde_json::Value::Object(files);
        v["sources"] = serde_json::to_value(&catalog.sources).expect("json");
        v["source_files"] = serde_json::to_value(&catalog.source_files).expect("json");
        v["skipped"] = serde_json::to_value(&catalog.skipped).expect("json");
    });
}

/// The directory of a format-2 snapshot's first fragment.
pub fn first_fragment_dir(store: &Path, id: &SnapshotId) -> PathBuf {
    let m = ragops_store::Store::open(store)
        .and_then(|s| s.manifest(id))
        .expect("manifest");
    store
        .join("fragments")
        .join(m.fragments.first().expect("a fragment").id.as_str())
}
