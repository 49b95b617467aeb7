//! How the engine tells its caller what is happening: typed events and progress counters. The
//! CLI renders them (lines on stderr, bars on a terminal); a library user may ignore them.

use std::path::Path;

use ragops_core::{ModelIdentity, Skipped, SnapshotId};
use ragops_eval::Metric;

/// Something a long operation did that people may want to know as it happens.
#[derive(Debug, Clone, Copy)]
pub enum Event<'a> {
    /// A build waits for another writer to release the store.
    WaitingForLock,
    /// Leftovers of interrupted builds or gc were removed.
    CleanedUp {
        leftovers: usize,
    },
    ModelLoaded(&'a ModelIdentity),
    Skipped(&'a Skipped),
    /// Sources, config and model match the parent: nothing to build.
    UpToDate {
        snapshot: &'a SnapshotId,
    },
    /// The parent's chunk table fails its checksum: everything is rebuilt.
    ParentDamaged {
        parent: &'a SnapshotId,
    },
    Incremental {
        parent: &'a SnapshotId,
        reused: usize,
        processing: usize,
        files: usize,
    },
    ExperimentStarted {
        name: &'a str,
        variants: usize,
        questions: usize,
        store: &'a Path,
    },
    VariantReused {
        index: usize,
        total: usize,
        name: &'a str,
    },
    VariantScored {
        index: usize,
        total: usize,
        name: &'a str,
        chunks: u64,
        build_seconds: f64,
        embedded: u64,
        cached: u64,
        metric: Metric,
        k: usize,
        score: f64,
    },
    Promoted {
        snapshot: &'a SnapshotId,
        variant: &'a str,
    },
    /// Time per encoder op (`RAGOPS_PROFILE=1`).
    Profile {
        op: &'static str,
        seconds: f64,
        share: f64,
    },
}

/// A stage's progress counter.
pub trait Progress: Send + Sync {
    fn set(&self, done: u64);
    /// Ends the stage with `done` items.
    fn finish(&self, done: u64);
}

/// Where the engine reports to.
pub trait Reporter: Sync {
    fn event(&self, event: Event<'_>);
    /// A stage of `total` `unit`s (files, texts) starts.
    fn progress(
        &self,
        stage: &'static str,
        total: u64,
        unit: &'static str,
    ) -> Box<dyn Progress + '_>;
}

/// A reporter that drops everything.
#[derive(Debug, Clone, Copy, Default)]
pub struct Silent;

impl Progress for Silent {
    fn set(&self, _done: u64) {}
    fn finish(&self, _done: u64) {}
}

impl Reporter for Silent {
    fn event(&self, _event: Event<'_>) {}
    fn progress(
        &self,
        _stage: &'static str,
        _total: u64,
        _unit: &'static str,
    ) -> Box<dyn Progress + '_> {
        Box::new(Silent)
    }
}
