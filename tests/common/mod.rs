//! Helpers for the end-to-end tests: they drive the built `ragops` binary over `fixtures/`.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The binary under test: this build's, or `RAGOPS_TEST_BIN` (to show that a test fails on
/// an older build).
pub fn bin() -> PathBuf {
    std::env::var_os("RAGOPS_TEST_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_ragops")))
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
        .env_remove("RAGOPS_TEST_PAUSE_AT")
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

/// Runs with `--json` semantics already in `args`; parses stdout.
pub fn ok_json(args: &[&str]) -> serde_json::Value {
    serde_json::from_str(&ok(args)).expect("JSON on stdout")
}

/// Writes a tiny random BERT into `dir/tiny-model` and returns its path.
pub fn tiny_model(dir: &Path) -> PathBuf {
    let p = dir.join("tiny-model");
    ragops_embed::tiny::write_tiny_model(&p, 42).expect("tiny model");
    p
}

/// Writes a pipeline file with absolute paths; returns its path.
pub fn pipeline(
    dir: &Path,
    name: &str,
    sources: &[PathBuf],
    model: &str,
    size: usize,
    extra: &str,
) -> PathBuf {
    let paths: Vec<String> = sources
        .iter()
        .map(|p| format!("{:?}", p.to_string_lossy()))
        .collect();
    let text = format!(
        "[sources]\npaths = [{}]\n{extra}\n[chunking]\nsize = {size}\noverlap = {}\n\n[embedding]\nmodel = {:?}\n\n[store]\ndir = {:?}\n",
        paths.join(", "),
        size / 8,
        model,
        dir.join("store").to_string_lossy()
    );
    let p = dir.join(name);
    std::fs::write(&p, text).expect("write pipeline");
    p
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
