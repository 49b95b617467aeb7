//! `TestContext`: a temporary directory with the tiny model, a pipeline over chosen sources, a
//! store, and helpers that run the `ragops` binary there.
//!
//! ```no_run
//! # use ragops_test_support::context::TestContext;
//! # let bin = std::path::PathBuf::from("ragops");
//! let ctx = TestContext::new(bin).corpus(&["fixtures/corpus/kb".into()]).chunk_size(64);
//! let p = ctx.pipeline();
//! ctx.ok(&["build", "-p", p.to_str().unwrap(), "-q"]);
//! ```

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde::de::DeserializeOwned;

/// Test hooks and settings that must never leak into a test from the environment.
const CLEARED_ENV: &[&str] = &[
    "RAGOPS_FAILPOINT",
    "RAGOPS_FAILPOINT_RESUME",
    "RAGOPS_STORE",
];

/// What a test pipeline file says.
pub struct PipelineSpec<'a> {
    pub sources: &'a [PathBuf],
    pub model: &'a str,
    /// Chunk size in tokens; the overlap is an eighth of it.
    pub size: usize,
    /// More `[sources]` settings, as TOML lines.
    pub sources_toml: &'a str,
    /// More `[store]` settings, as TOML lines.
    pub store_toml: &'a str,
}

/// Writes `dir/name`, a pipeline with absolute paths whose store is `dir/store`.
pub fn write_pipeline(dir: &Path, name: &str, spec: &PipelineSpec<'_>) -> PathBuf {
    let paths: Vec<String> = spec
        .sources
        .iter()
        .map(|p| format!("{:?}", p.to_string_lossy()))
        .collect();
    let text = format!(
        "[sources]\npaths = [{}]\n{}\n[chunking]\nsize = {}\noverlap = {}\n\n[embedding]\nmodel = {:?}\n\n[store]\ndir = {:?}\n{}\n",
        paths.join(", "),
        spec.sources_toml,
        spec.size,
        spec.size / 8,
        spec.model,
        dir.join("store").to_string_lossy(),
        spec.store_toml,
    );
    let p = dir.join(name);
    std::fs::write(&p, text).expect("write pipeline");
    p
}

/// A temporary workspace for one test.
pub struct TestContext {
    bin: PathBuf,
    tmp: tempfile::TempDir,
    model: String,
    sources: Vec<PathBuf>,
    size: usize,
    sources_toml: String,
    store_toml: String,
    env: Vec<(String, OsString)>,
}

impl TestContext {
    /// A fresh directory holding the tiny model (seed 42); sources none yet, chunk size 64.
    pub fn new(bin: PathBuf) -> Self {
        let tmp = tempfile::tempdir().expect("tempdir");
        let model = tmp.path().join("tiny-model");
        crate::tiny_model::write_tiny_model(&model, 42).expect("tiny model");
        Self {
            bin,
            model: model.to_string_lossy().into_owned(),
            tmp,
            sources: Vec::new(),
            size: 64,
            sources_toml: String::new(),
            store_toml: String::new(),
            env: Vec::new(),
        }
    }

    /// The source paths of the pipeline.
    pub fn corpus(mut self, paths: &[PathBuf]) -> Self {
        self.sources = paths.to_vec();
        self
    }

    /// Chunk size (tokens); the overlap is an eighth of it.
    pub fn chunk_size(mut self, size: usize) -> Self {
        self.size = size;
        self
    }

    /// The embedding model: a hub id or a path.
    pub fn model(mut self, model: &str) -> Self {
        self.model = model.to_string();
        self
    }

    /// More `[sources]` settings, as TOML lines.
    pub fn sources_toml(mut self, toml: &str) -> Self {
        self.sources_toml = toml.to_string();
        self
    }

    /// More `[store]` settings, as TOML lines.
    pub fn store_toml(mut self, toml: &str) -> Self {
        self.store_toml = toml.to_string();
        self
    }

    /// An environment variable for every command this context runs.
    pub fn env(mut self, key: &str, value: impl Into<OsString>) -> Self {
        self.env.push((key.to_string(), value.into()));
        self
    }

    /// The temporary directory.
    pub fn dir(&self) -> &Path {
        self.tmp.path()
    }

    /// The store directory (`<dir>/store`).
    pub fn store(&self) -> PathBuf {
        self.dir().join("store")
    }

    /// The tiny model's directory (or the configured model).
    pub fn model_ref(&self) -> &str {
        &self.model
    }

    /// Writes `p.toml` with the current settings and returns its path.
    pub fn pipeline(&self) -> PathBuf {
        self.pipeline_named("p.toml")
    }

    /// Writes a pipeline file named `name` with the current settings.
    pub fn pipeline_named(&self, name: &str) -> PathBuf {
        write_pipeline(
            self.dir(),
            name,
            &PipelineSpec {
                sources: &self.sources,
                model: &self.model,
                size: self.size,
                sources_toml: &self.sources_toml,
                store_toml: &self.store_toml,
            },
        )
    }

    /// A command for the binary, test hooks cleared, this context's environment set.
    pub fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(&self.bin);
        c.args(args);
        for k in CLEARED_ENV {
            c.env_remove(k);
        }
        for (k, v) in &self.env {
            c.env(k, v);
        }
        c
    }

    pub fn run(&self, args: &[&str]) -> Output {
        self.cmd(args).output().expect("ragops runs")
    }

    /// Runs and asserts success; returns stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "ragops {args:?} failed ({}):\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).expect("utf-8 stdout")
    }

    /// Runs and asserts failure; returns stderr.
    pub fn fails(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(!out.status.success(), "ragops {args:?} should have failed");
        String::from_utf8_lossy(&out.stderr).into_owned()
    }

    /// Runs a command that prints JSON and reads it as `T`.
    pub fn json<T: DeserializeOwned>(&self, args: &[&str]) -> T {
        let out = self.ok(args);
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("{args:?}: {e}\n{out}"))
    }
}
