//! The snapshots being served: the followed one (swapped atomically when its ref moves) and
//! the few others requests named, each with its reader lease and its model.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use ragops_core::{Mode, ModelIdentity, Precision, SnapshotId};
use ragops_embed::Embedder;
use ragops_search::Searcher;
use ragops_store::{ReaderLease, RefStamp, Store};

use crate::{ServeConfig, ServeError, ServeEvent};

/// Other snapshots (named by requests) kept open, most recent last.
const OTHERS: usize = 4;

/// A snapshot opened for queries, with the lease that keeps gc away from it.
pub(crate) struct Loaded {
    pub(crate) id: SnapshotId,
    pub(crate) searcher: Searcher,
    pub(crate) embedder: Arc<Embedder>,
    model: ModelIdentity,
    pub(crate) created_unix: i64,
    lease: ReaderLease,
}

impl Loaded {
    /// Takes a lease, opens the snapshot and its model (the model of `like` when it is the
    /// same), and warms it: the vectors' and graphs' pages are mapped in, and one query of
    /// each kind touches the rest of what a query reads.
    pub(crate) fn open(
        store: &Store,
        id: &SnapshotId,
        like: Option<&Loaded>,
        holder: &str,
        ttl: Duration,
        precision: Option<Precision>,
    ) -> Result<Loaded, ServeError> {
        let lease = store.lease(id, holder, ttl)?;
        let searcher = Searcher::open(store, id)?;
        let manifest = searcher.manifest();
        let model = manifest.model.clone();
        let created_unix = manifest.created_unix;
        let embedder = match like.filter(|l| l.model == model) {
            Some(l) => l.embedder.clone(),
            None => Arc::new(ragops_engine::load_for_snapshot_at(manifest, precision)?),
        };
        searcher.warm()?;
        let q = "warm up";
        let v = embedder
            .embed_query(q)
            .map_err(|e| ServeError::Worker(e.to_string()))?;
        searcher.search_with(q, Some(&v), Mode::Hybrid, 10, false)?;
        Ok(Loaded {
            id: id.clone(),
            searcher,
            embedder,
            model,
            created_unix,
            lease,
        })
    }
}

/// The followed snapshot and the others open.
pub(crate) struct Live {
    pub(crate) store: Store,
    follow: String,
    holder: String,
    ttl: Duration,
    precision: Option<Precision>,
    pub(crate) current: ArcSwap<Loaded>,
    others: Mutex<VecDeque<Arc<Loaded>>>,
    /// Every snapshot still open somewhere (in-flight requests included), for lease renewal.
    open: Mutex<Vec<Weak<Loaded>>>,
    /// Refresh attempts begun (each reads the ref after taking its number).
    attempts: AtomicU64,
    /// What [`Live::ref_target`] last read, with the stamp of the ref's file then.
    ref_seen: Mutex<Option<(RefStamp, Option<SnapshotId>)>>,
}

impl Live {
    /// Opens the snapshot `config.follow` names.
    pub(crate) fn start(config: &ServeConfig, holder: String) -> Result<(Live, f64), ServeError> {
        let store = Store::open(&config.store)?;
        let id = store.resolve(&config.follow)?;
        let t = Instant::now();
        let loaded = Arc::new(Loaded::open(
            &store,
            &id,
            None,
            &holder,
            config.lease_ttl,
            config.query_precision,
        )?);
        let live = Live {
            store,
            follow: config.follow.clone(),
            holder,
            ttl: config.lease_ttl,
            precision: config.query_precision,
            current: ArcSwap::new(loaded.clone()),
            others: Mutex::new(VecDeque::new()),
            open: Mutex::new(vec![Arc::downgrade(&loaded)]),
            attempts: AtomicU64::new(0),
            ref_seen: Mutex::new(None),
        };
        Ok((live, t.elapsed().as_secs_f64()))
    }

    fn track(&self, l: &Arc<Loaded>) {
        if let Ok(mut open) = self.open.lock() {
            open.retain(|w| w.strong_count() > 0);
            open.push(Arc::downgrade(l));
        }
    }

    /// Renews the lease of every snapshot still open.
    pub(crate) fn renew_leases(&self) {
        let open: Vec<Arc<Loaded>> = match self.open.lock() {
            Ok(mut open) => {
                open.retain(|w| w.strong_count() > 0);
                open.iter().filter_map(Weak::upgrade).collect()
            }
            Err(_) => return,
        };
        for l in open {
            let _ = l.lease.renew();
        }
    }

    /// Refresh attempts begun so far.
    pub(crate) fn attempts(&self) -> u64 {
        self.attempts.load(Ordering::SeqCst)
    }

    /// The snapshot the followed ref names now, when it is a ref (not a pinned id).
    pub(crate) fn ref_target(&self) -> Option<SnapshotId> {
        // A stat per request; the ref is read again only when its file changed (reading it
        // per request cost an open, and a file-system event, each time).
        let stamp = self.store.ref_stamp(&self.follow);
        if let (Some(now), Ok(seen)) = (&stamp, self.ref_seen.lock()) {
            if let Some((_, id)) = seen.as_ref().filter(|(then, _)| then == now) {
                return id.clone();
            }
        }
        let id = (self.store.resolve(&self.follow).ok()).filter(|id| id.as_str() != self.follow);
        if let (Some(now), Ok(mut seen)) = (stamp, self.ref_seen.lock()) {
            *seen = Some((now, id.clone()));
        }
        id
    }

    /// Reads the followed ref; when it names another snapshot, opens and warms that one and
    /// swaps it in. Blocking: runs on the blocking pool. Returns the attempt's number (taken
    /// before the ref is read) and what happened.
    pub(crate) fn refresh(&self) -> (u64, Option<ServeEvent>) {
        let n = self.attempts.fetch_add(1, Ordering::SeqCst) + 1;
        (n, self.refresh_now())
    }

    fn refresh_now(&self) -> Option<ServeEvent> {
        let id = match self.store.resolve(&self.follow) {
            Ok(id) => id,
            Err(e) => {
                return Some(ServeEvent::SwapFailed {
                    to: self.follow.clone(),
                    reason: e.to_string(),
                })
            }
        };
        let old = self.current.load_full();
        if old.id == id {
            return None;
        }
        // Taken out of the others if a request opened it; the old one is not kept: it goes
        // with its last request.
        let kept = self.others.lock().ok().and_then(|mut o| {
            let i = o.iter().position(|l| l.id == id)?;
            o.remove(i)
        });
        let opened = match kept {
            Some(l) => Ok(l),
            None => self.open_tracked(&id, &old),
        };
        match opened {
            Ok(new) => {
                self.current.store(new);
                Some(ServeEvent::Swapped {
                    from: old.id.clone(),
                    to: id,
                })
            }
            Err(e) => Some(ServeEvent::SwapFailed {
                to: id.to_string(),
                reason: e.to_string(),
            }),
        }
    }

    /// A snapshot by name for one request: the followed one, one already open, or opened now
    /// (blocking) and kept among the few most recent.
    pub(crate) fn get(&self, name: &str) -> Result<Arc<Loaded>, ServeError> {
        let cur = self.current.load_full();
        if name == self.follow || name == cur.id.as_str() {
            return Ok(cur);
        }
        let id = self.store.resolve(name)?;
        if id == cur.id {
            return Ok(cur);
        }
        self.get_other(&id)
    }

    fn open_tracked(&self, id: &SnapshotId, like: &Loaded) -> Result<Arc<Loaded>, ServeError> {
        let l = Arc::new(Loaded::open(
            &self.store,
            id,
            Some(like),
            &self.holder,
            self.ttl,
            self.precision,
        )?);
        self.track(&l);
        Ok(l)
    }

    fn get_other(&self, id: &SnapshotId) -> Result<Arc<Loaded>, ServeError> {
        if let Ok(others) = self.others.lock() {
            if let Some(l) = others.iter().find(|l| &l.id == id) {
                return Ok(l.clone());
            }
        }
        let l = self.open_tracked(id, &self.current.load_full())?;
        if let Ok(mut others) = self.others.lock() {
            others.push_back(l.clone());
            while others.len() > OTHERS {
                others.pop_front();
            }
        }
        Ok(l)
    }
}
