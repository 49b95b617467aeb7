//! `ragops snapshots list | show | diff | gc` and the ref moves.

use ragops_core::{Skipped, SnapshotId};
use ragops_engine::ops::{GcReport, ShownSnapshot, SnapshotDiff};
use ragops_store::{Manifest, SnapshotSummary, VerifyReport};
use serde::Serialize;

use super::{line, short};

/// A row of `snapshots list --json`.
#[derive(Serialize)]
#[serde(untagged)]
pub(crate) enum ListRow<'a> {
    Readable {
        id: &'a SnapshotId,
        current: bool,
        tags: &'a [String],
        created_at: &'a str,
        parent: &'a Option<SnapshotId>,
        counts: &'a ragops_store::Counts,
        config_hash: &'a str,
        model: &'a str,
    },
    Damaged {
        id: &'a SnapshotId,
        current: bool,
        tags: &'a [String],
        damaged: &'a str,
    },
}

pub(crate) fn list_rows(list: &[SnapshotSummary]) -> Vec<ListRow<'_>> {
    list.iter()
        .map(|s| match &s.manifest {
            Ok(m) => ListRow::Readable {
                id: &s.id,
                current: s.current,
                tags: &s.tags,
                created_at: &m.created_at,
                parent: &m.parent,
                counts: &m.counts,
                config_hash: &m.config_hash,
                model: &m.model.id,
            },
            Err(e) => ListRow::Damaged {
                id: &s.id,
                current: s.current,
                tags: &s.tags,
                damaged: e,
            },
        })
        .collect()
}

pub(crate) fn list(list: &[SnapshotSummary], store: &std::path::Path) -> String {
    let mut s = String::new();
    if list.is_empty() {
        line(&mut s, format_args!("no snapshots in {}", store.display()));
        return s;
    }
    line(
        &mut s,
        format_args!(
            "  {:<26} {:<21} {:>6} {:>7}  {:<12} tags",
            "id", "created", "docs", "chunks", "config"
        ),
    );
    for sn in list {
        let mark = if sn.current { "*" } else { " " };
        match &sn.manifest {
            Ok(m) => line(
                &mut s,
                format_args!(
                    "{mark} {:<26} {:<21} {:>6} {:>7}  {:<12} {}",
                    m.id.as_str(),
                    m.created_at,
                    m.counts.documents,
                    m.counts.chunks,
                    short(&m.config_hash),
                    sn.tags.join(",")
                ),
            ),
            Err(e) => line(
                &mut s,
                format_args!("{mark} {:<26} DAMAGED: {e}", sn.id.as_str()),
            ),
        }
    }
    s
}

/// `snapshots show --json`: the manifest, plus the verify report when asked for; only the id
/// and the report when the manifest cannot be read.
#[derive(Serialize)]
#[serde(untagged)]
pub(crate) enum Shown<'a> {
    Readable {
        #[serde(flatten)]
        manifest: &'a Manifest,
        skipped: &'a [Skipped],
        #[serde(skip_serializing_if = "Option::is_none")]
        verify: Option<&'a VerifyReport>,
    },
    Unreadable {
        id: &'a SnapshotId,
        verify: Option<&'a VerifyReport>,
    },
}

impl<'a> Shown<'a> {
    pub(crate) fn of(s: &'a ShownSnapshot) -> Self {
        match &s.manifest {
            Some(manifest) => Shown::Readable {
                manifest,
                skipped: &s.skipped,
                verify: s.verify.as_ref(),
            },
            None => Shown::Unreadable {
                id: &s.id,
                verify: s.verify.as_ref(),
            },
        }
    }
}

/// The human form of [`Shown`].
pub(crate) fn shown(s: &Shown<'_>) -> String {
    match s {
        Shown::Readable {
            manifest,
            skipped,
            verify,
        } => show(manifest, skipped, *verify),
        Shown::Unreadable { id, verify } => {
            let mut out = format!("snapshot   {id}\n");
            if let Some(r) = verify {
                out.push_str(&verify_line(r));
            }
            out
        }
    }
}

pub(crate) fn show(m: &Manifest, skipped: &[Skipped], verify: Option<&VerifyReport>) -> String {
    let mut s = String::new();
    line(&mut s, format_args!("snapshot   {}", m.id));
    line(
        &mut s,
        format_args!("created    {} by ragops {}", m.created_at, m.tool_version),
    );
    line(
        &mut s,
        format_args!(
            "parent     {}",
            m.parent.as_ref().map_or("-", |p| p.as_str())
        ),
    );
    line(
        &mut s,
        format_args!(
            "pipeline   {} (config {})",
            m.pipeline,
            short(&m.config_hash)
        ),
    );
    line(
        &mut s,
        format_args!(
            "model      {} @ {} (dim {}, max {} tokens, {} pooling{})",
            m.model.id,
            short(&m.model.revision),
            m.model.dim,
            m.model.max_tokens,
            m.model.pooling,
            if m.model.precision.is_default() {
                String::new()
            } else {
                format!(", {} linear layers", m.model.precision)
            }
        ),
    );
    line(
        &mut s,
        format_args!(
            "counts     {} documents, {} chunks, {} tokens, {} skipped",
            m.counts.documents, m.counts.chunks, m.counts.tokens, m.counts.skipped
        ),
    );
    let t = &m.timings;
    line(
        &mut s,
        format_args!(
            "timings    model_load {:.1}s, hash {:.1}s, reuse {:.1}s, load_chunk {:.1}s, embed {:.1}s, persist {:.1}s, total {:.1}s",
            t.model_load, t.hash, t.reuse, t.load_chunk, t.embed, t.persist, t.total
        ),
    );
    let bytes: u64 = m.files.values().map(|f| f.bytes).sum();
    let own = if m.fragments.is_empty() {
        ""
    } else {
        " of its own (catalog, deletion vectors)"
    };
    line(
        &mut s,
        format_args!("files      {} files{own}, {} bytes", m.files.len(), bytes),
    );
    for f in &m.fragments {
        line(
            &mut s,
            format_args!(
                "fragment   {}  {} rows ({} masked), {} files, {} bytes",
                f.id,
                f.rows,
                f.deleted,
                f.files.len(),
                f.bytes()
            ),
        );
    }
    for sk in skipped {
        line(
            &mut s,
            format_args!("skipped    {}: {}", sk.path, sk.reason),
        );
    }
    if let Some(r) = verify {
        s.push_str(&verify_line(r));
    }
    s
}

pub(crate) fn verify_line(r: &VerifyReport) -> String {
    let mut s = String::new();
    if r.ok {
        line(
            &mut s,
            format_args!("verify     ok: every checksum matches"),
        );
    } else {
        line(
            &mut s,
            format_args!("verify     FAILED: {}", r.problems().join("; ")),
        );
    }
    s
}

pub(crate) fn diff(d: &SnapshotDiff) -> String {
    let mut s = String::new();
    line(&mut s, format_args!("{} -> {}", d.a, d.b));
    line(
        &mut s,
        format_args!(
            "  documents  +{} -{} ~{} changed, {} re-chunked, {} unchanged",
            d.documents_added.len(),
            d.documents_removed.len(),
            d.documents_changed.len(),
            d.documents_rechunked.len(),
            d.documents_unchanged
        ),
    );
    line(
        &mut s,
        format_args!("  chunks     {} -> {}", d.chunks_a, d.chunks_b),
    );
    for id in &d.documents_added {
        line(&mut s, format_args!("  added      {id}"));
    }
    for id in &d.documents_removed {
        line(&mut s, format_args!("  removed    {id}"));
    }
    for c in &d.documents_changed {
        line(
            &mut s,
            format_args!(
                "  changed    {} ({} -> {} chunks)",
                c.id, c.chunks_a, c.chunks_b
            ),
        );
    }
    for c in &d.documents_rechunked {
        line(
            &mut s,
            format_args!(
                "  rechunked  {} ({} -> {} chunks)",
                c.id, c.chunks_a, c.chunks_b
            ),
        );
    }
    for c in &d.config_changes {
        line(
            &mut s,
            format_args!("  config     {}: {} -> {}", c.key, c.old, c.new),
        );
    }
    if let Some((x, y)) = &d.model_change {
        line(&mut s, format_args!("  model      {x} -> {y}"));
    }
    s
}

pub(crate) fn gc(r: &GcReport) -> String {
    let mut s = String::new();
    let verb = if r.dry_run { "would delete" } else { "deleted" };
    for k in &r.kept {
        line(
            &mut s,
            format_args!("  keep    {} ({})", k.id, k.reasons.join(", ")),
        );
    }
    for id in &r.deleted {
        line(&mut s, format_args!("  {verb:<7} {id}"));
    }
    line(
        &mut s,
        format_args!(
            "{verb} {} snapshot(s) ({} bytes), {} fragment(s) no snapshot lists ({} bytes) and {} cache entr(ies) in {} segment(s) ({} bytes); {} bytes in total",
            r.deleted.len(),
            r.snapshot_bytes,
            r.fragments_deleted.len(),
            r.fragment_bytes,
            r.cache.entries_dropped,
            r.cache.segments_deleted + r.cache.segments_rewritten,
            r.cache.bytes_reclaimed,
            r.bytes_reclaimed
        ),
    );
    for n in r.fragment_note.iter().chain(&r.cache_note) {
        line(&mut s, format_args!("  note: {n}"));
    }
    s
}
