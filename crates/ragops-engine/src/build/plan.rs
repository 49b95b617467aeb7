//! Before anything is written: the store, the model, the source walk, and what to do with the
//! parent snapshot.

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::time::Instant;

use ragops_core::{DocId, LoadedPipeline, Sha256, SkipReason, Skipped, SourceDiff};
use ragops_load::SourceFile;
use ragops_store::{
    BuildPlanRecord, Catalog, Fragment, Manifest, ShardLock, Snapshot, SourceRecord, Store,
    StoreLock, Timings,
};
use rayon::prelude::*;

use super::report::NoReuse;
use super::shard::ShardAssign;
use super::BuildOptions;
use crate::model::{load_model, LoadedModel};
use crate::{EngineError, Event, Reporter};

/// What the build knows before it writes anything.
pub(super) struct Session<'a> {
    pub pipeline: &'a LoadedPipeline,
    pub store_dir: PathBuf,
    pub store: Store,
    pub writer: Writer,
    /// The manifest of the snapshot `current` named when the build started (for a shard: the
    /// one its build's plan names).
    pub parent: Option<Manifest>,
    /// Its catalog (`None` when unreadable: nothing is then reused).
    pub parent_catalog: Option<Catalog>,
    pub model: LoadedModel,
    pub reuse_key: String,
    pub walk: Walk,
    pub timings: Timings,
}

/// What makes this process the writer: the store's writer lock, or a shard's lock.
pub(super) enum Writer {
    Store(StoreLock),
    Shard {
        lock: ShardLock,
        plan: BuildPlanRecord,
        assign: ShardAssign,
    },
}

impl Session<'_> {
    /// The shard this build is, if it is one.
    pub(super) fn shard(&self) -> Option<(&ShardLock, &BuildPlanRecord, &ShardAssign)> {
        match &self.writer {
            Writer::Store(_) => None,
            Writer::Shard { lock, plan, assign } => Some((lock, plan, assign)),
        }
    }
}

/// The source walk: every file found, its SHA-256, and what could not be walked.
pub(super) struct Walk {
    pub files: Vec<SourceFile>,
    /// Per file; `None` when unreadable or over `max_file_bytes` (the loader says why).
    pub hashes: Vec<Option<Sha256>>,
    pub skipped: Vec<Skipped>,
}

/// What the build does.
pub(super) enum BuildPlan {
    /// Sources, config and model match the parent: nothing to write.
    UpToDate(Box<Manifest>),
    Build(Box<Work>),
}

/// The documents a build copies from its parent, and the files it processes.
pub(super) struct Work {
    pub reuse: Option<ReusePlan>,
    pub to_process: Vec<SourceFile>,
    /// Skip records of reused files (bad JSONL lines), kept in the new snapshot.
    pub carried_skips: Vec<Skipped>,
    /// Why nothing is reused (no parent, a full rebuild, changed settings or model...).
    pub no_reuse_reason: Option<NoReuse>,
}

/// Documents of the parent that the build reuses, with the file's current path and mtime.
/// Those kept by reference stay in the parent's fragments (the new snapshot lists them); the
/// others' rows are copied into the new fragment.
pub(super) struct ReusePlan {
    /// Unchanged files' documents at an unchanged path, in a parent with fragments.
    pub by_ref: HashMap<DocId, SourceRecord>,
    /// Documents of unchanged files that moved, or of a format-1 parent: rows copied.
    pub copy: HashMap<DocId, SourceRecord>,
    /// The parent's documents not reused with their file, for reusing single unchanged
    /// records of changed files (JSONL): by reference, or copied when the file moved or the
    /// parent is format 1.
    pub records: HashMap<DocId, SourceRecord>,
    pub parent: Snapshot,
    pub fragments: Vec<Fragment>,
}

impl ReusePlan {
    /// Documents reused from unchanged files.
    pub(super) fn files_reused(&self) -> usize {
        self.by_ref.len() + self.copy.len()
    }
}

/// The reuse decision: a plan, or why there is none, and the skips reused files carry.
struct Reuse {
    plan: Option<ReusePlan>,
    no_reuse_reason: Option<NoReuse>,
    carried_skips: Vec<Skipped>,
}

/// SHA-256 of each file's bytes, streamed (memory does not follow file size). `None` when
/// the file is unreadable or over `max_file_bytes`: the loader reports why, without reading it.
pub(crate) fn hash_files(files: &[SourceFile], max_file_bytes: u64) -> Vec<Option<Sha256>> {
    files
        .par_iter()
        .map(|f| {
            if f.size > max_file_bytes {
                return None;
            }
            ragops_core::sha256_file(&f.path).ok().map(|d| d.sha256)
        })
        .collect()
}

impl<'a> Session<'a> {
    /// Opens (creating) the store and takes the writer lock, loads the model, and walks and
    /// hashes the sources. A missing model fails before the walk.
    pub(super) fn open(
        pipeline: &'a LoadedPipeline,
        opts: &BuildOptions,
        reporter: &dyn Reporter,
    ) -> Result<Self, EngineError> {
        let cfg = &pipeline.config;
        let store_dir = opts.store.clone().unwrap_or_else(|| pipeline.store_dir());
        let store = Store::create(&store_dir)?;
        if cfg.store.private {
            store.make_private()?;
        }
        let (writer, parent) = match &opts.shard {
            None => {
                if !opts.wait.is_zero() {
                    reporter.event(Event::WaitingForLock);
                }
                let lock = store.lock_wait("ragops build", opts.wait)?;
                let leftovers = store.clean_staging(&lock)?;
                if leftovers > 0 {
                    reporter.event(Event::CleanedUp { leftovers });
                }
                (Writer::Store(lock), store.current()?)
            }
            Some(s) => {
                // Every shard reuses from the parent the plan fixed, wherever `current` is now.
                let plan = store.plan_build(&s.build, s.count)?;
                let lock = store.shard_lock(&s.build, s.index)?;
                let assign = ShardAssign::new(s)?;
                let parent = plan.parent.clone();
                (Writer::Shard { lock, plan, assign }, parent)
            }
        };
        let parent = match parent {
            Some(id) => Some(store.manifest(&id)?),
            None => None,
        };
        let parent_catalog = parent
            .as_ref()
            .and_then(|pm| store.snapshot(&pm.id).and_then(|s| s.catalog()).ok());
        let mut timings = Timings::default();
        let t = Instant::now();
        let model = load_model(
            &pipeline.model_ref(),
            &cfg.embedding.revision,
            cfg.embedding.max_tokens,
            cfg.embedding.precision,
        )?;
        timings.model_load = t.elapsed().as_secs_f64();
        reporter.event(Event::ModelLoaded(&model.identity));
        let reuse_key = cfg.reuse_key(&model.identity);
        let (mut files, mut skipped) = ragops_load::discover(&cfg.sources, &pipeline.base_dir);
        if let Writer::Shard { assign, .. } = &writer {
            assign.check_listed(&files)?;
            files.retain(|f| assign.owns(&f.id, &f.display_path));
            skipped.retain(|s| assign.owns(&s.path, &s.path));
        }
        for s in &skipped {
            reporter.event(Event::Skipped(s));
        }
        if opts.strict && !skipped.is_empty() {
            return Err(EngineError::Strict(skipped));
        }
        let t = Instant::now();
        let hashes = hash_files(&files, cfg.sources.max_file_bytes);
        timings.hash = t.elapsed().as_secs_f64();
        Ok(Session {
            pipeline,
            store_dir,
            store,
            writer,
            parent,
            parent_catalog,
            model,
            reuse_key,
            walk: Walk {
                files,
                hashes,
                skipped,
            },
            timings,
        })
    }

    /// Compares the walk with the parent: up to date, or what to copy and what to process.
    pub(super) fn plan(
        &self,
        opts: &BuildOptions,
        reporter: &dyn Reporter,
    ) -> Result<BuildPlan, EngineError> {
        let Reuse {
            plan: reuse,
            no_reuse_reason,
            carried_skips,
        } = self.reuse(opts, reporter)?;
        // Unchanged files keep their bad records (JSONL lines): strict mode still refuses them.
        if opts.strict && !carried_skips.is_empty() {
            return Err(EngineError::Strict(carried_skips));
        }
        if let (Some(pm), Some(pc), None) = (&self.parent, &self.parent_catalog, self.shard()) {
            if !opts.force && !opts.full && self.unchanged(pm, pc) {
                reporter.event(Event::UpToDate { snapshot: &pm.id });
                return Ok(BuildPlan::UpToDate(Box::new(pm.clone())));
            }
        }
        let reused_files: HashSet<&str> = reuse
            .iter()
            .flat_map(|plan| {
                plan.by_ref
                    .keys()
                    .chain(plan.copy.keys())
                    .map(DocId::file_id)
            })
            .collect();
        let to_process: Vec<SourceFile> = self
            .walk
            .files
            .iter()
            .filter(|f| !reused_files.contains(f.id.as_str()))
            .cloned()
            .collect();
        if let Some(plan) = &reuse {
            reporter.event(Event::Incremental {
                parent: plan.parent.id(),
                reused: plan.files_reused(),
                processing: to_process.len(),
                files: self.walk.files.len(),
            });
        }
        Ok(BuildPlan::Build(Box::new(Work {
            reuse,
            to_process,
            carried_skips,
            no_reuse_reason,
        })))
    }

    /// Whether the walk found exactly the parent's files (same ids, bytes and paths) and the
    /// content config and model are the same.
    fn unchanged(&self, pm: &Manifest, catalog: &Catalog) -> bool {
        let before = catalog
            .source_files
            .iter()
            .map(|r| (r.id.as_str(), (r.sha256.clone(), r.path.as_str())));
        let now = self
            .walk
            .files
            .iter()
            .zip(&self.walk.hashes)
            .map(|(f, h)| (f.id.as_str(), (h.clone(), f.display_path.as_str())));
        !self.walk.files.is_empty()
            && SourceDiff::between(before, now).is_unchanged()
            && pm.config_hash == self.pipeline.config.content_hash()
            && pm.reuse_key == self.reuse_key
    }

    /// The reuse plan, or why there is none; and the skip records reused files carry.
    fn reuse(&self, opts: &BuildOptions, reporter: &dyn Reporter) -> Result<Reuse, EngineError> {
        let none = |why: NoReuse| {
            Ok(Reuse {
                plan: None,
                no_reuse_reason: Some(why),
                carried_skips: Vec::new(),
            })
        };
        let Some(pm) = &self.parent else {
            return none(NoReuse::NoParent);
        };
        if opts.full {
            return none(NoReuse::FullRebuild);
        }
        if pm.reuse_key != self.reuse_key {
            return if !pm.model.differences(&self.model.identity).is_empty()
                || pm.model.id != self.model.identity.id
            {
                none(NoReuse::ModelChanged)
            } else {
                none(NoReuse::SettingsChanged)
            };
        }
        let parent = self.store.snapshot(&pm.id)?;
        let fragments = parent.fragments().unwrap_or_default();
        let catalog = match &self.parent_catalog {
            Some(c) if fragments.iter().all(Fragment::intact) => c,
            _ => {
                reporter.event(Event::ParentDamaged { parent: &pm.id });
                return none(NoReuse::ParentDamaged);
            }
        };
        let by_reference = parent.has_fragments();
        let (docs, carried_skips) = reusable_documents(catalog, &self.walk);
        let (mut by_ref, mut copy) = (HashMap::new(), HashMap::new());
        for (id, (doc, moved)) in docs {
            if by_reference && !moved {
                by_ref.insert(id, doc);
            } else {
                copy.insert(id, doc);
            }
        }
        let records = catalog
            .sources
            .iter()
            .filter(|s| !by_ref.contains_key(&s.id) && !copy.contains_key(&s.id))
            .map(|s| (s.id.clone(), s.clone()))
            .collect();
        Ok(Reuse {
            plan: Some(ReusePlan {
                by_ref,
                copy,
                records,
                parent,
                fragments,
            }),
            no_reuse_reason: None,
            carried_skips,
        })
    }
}

/// Documents of unchanged files (same id, same bytes, loaded last time), with the file's
/// current path and mtime and whether its path changed; plus the skip records of those files
/// (bad JSONL lines) so that they stay in the report.
fn reusable_documents(
    parent: &Catalog,
    walk: &Walk,
) -> (HashMap<DocId, (SourceRecord, bool)>, Vec<Skipped>) {
    let diff = SourceDiff::between(
        parent
            .source_files
            .iter()
            .map(|r| (r.id.as_str(), r.sha256.clone())),
        walk.files
            .iter()
            .zip(&walk.hashes)
            .map(|(f, h)| (f.id.as_str(), h.clone())),
    );
    let loaded: HashSet<&str> = parent
        .source_files
        .iter()
        .filter(|r| r.documents > 0 && r.sha256.is_some())
        .map(|r| r.id.as_str())
        .collect();
    let same: HashMap<&str, &SourceFile> = walk
        .files
        .iter()
        .filter(|f| diff.unchanged.binary_search(&f.id).is_ok() && loaded.contains(f.id.as_str()))
        .map(|f| (f.id.as_str(), f))
        .collect();
    let mut docs = HashMap::new();
    let mut paths: HashSet<String> = HashSet::new();
    for s in &parent.sources {
        if let Some(f) = same.get(s.id.file_id()) {
            let mut s = s.clone();
            paths.insert(s.path.clone());
            let moved = s.path != f.display_path;
            s.path = f.display_path.clone();
            s.mtime = f.mtime;
            docs.insert(s.id.clone(), (s, moved));
        }
    }
    let skips = parent
        .skipped
        .iter()
        .filter(|s| {
            // JSONL line records are `path:line`.
            let file = match (&s.reason, s.path.rsplit_once(':')) {
                (SkipReason::BadRecord { .. } | SkipReason::Other { .. }, Some((f, line)))
                    if line.chars().all(|c| c.is_ascii_digit()) =>
                {
                    f
                }
                _ => s.path.as_str(),
            };
            paths.contains(file)
        })
        .cloned()
        .collect();
    (docs, skips)
}
