//! `ragops build`.

use ragops_engine::{BuildReport, CommitReport, ShardReport, ShardStatus};
use ragops_store::BuildPlanRecord;

use super::{line, short};

pub(crate) fn build(report: &BuildReport) -> String {
    let mut s = String::new();
    if report.up_to_date {
        line(
            &mut s,
            format_args!(
                "up to date: snapshot {} matches the sources, config and model (nothing written)",
                report.snapshot
            ),
        );
        return s;
    }
    let c = &report.counts;
    let state = if report.published {
        "published as current"
    } else {
        "written (not published)"
    };
    line(&mut s, format_args!("snapshot {} {state}", report.snapshot));
    line(
        &mut s,
        format_args!("  store      {}", report.store.display()),
    );
    line(
        &mut s,
        format_args!(
            "  documents  {}   chunks {}   tokens {}   skipped {}",
            c.documents, c.chunks, c.tokens, c.skipped
        ),
    );
    if c.truncated > 0 {
        line(
            &mut s,
            format_args!(
                "  truncated  {} embedded texts exceeded {} tokens",
                c.truncated, report.model.max_tokens
            ),
        );
    }
    line(
        &mut s,
        format_args!(
            "  model      {} @ {}{}",
            report.model.id,
            short(&report.model.revision),
            if report.model.precision.is_default() {
                String::new()
            } else {
                format!(" ({})", report.model.precision)
            }
        ),
    );
    line(
        &mut s,
        format_args!(
            "  time       {:.1}s total, embed {:.1}s ({:.1} chunks/s)",
            report.timings.total, report.timings.embed, report.embeddings_per_sec
        ),
    );
    if let Some(p) = &report.pii {
        pii(&mut s, p);
    }
    if let Some(d) = &report.dedup {
        let done = match d.action {
            ragops_core::DedupAction::Drop => format!("{} chunk(s) dropped", d.chunks_dropped),
            ragops_core::DedupAction::Mark => "marked with duplicate_of".to_string(),
        };
        line(
            &mut s,
            format_args!(
                "  dedup      {} duplicate document(s), {} duplicate chunk(s); {done}",
                d.documents, d.chunks
            ),
        );
    }
    incremental(&mut s, report);
    for sk in &report.skipped {
        line(
            &mut s,
            format_args!("  skipped    {}: {}", sk.path, sk.reason),
        );
    }
    s
}

/// What the build took from its parent and from the cache.
fn incremental(s: &mut String, report: &BuildReport) {
    let i = &report.incremental;
    if let Some(p) = &report.parent {
        line(s, format_args!("  parent     {p}"));
        line(
            s,
            format_args!(
                "  changes    {} added, {} changed, {} deleted, {} unchanged document(s)",
                i.documents_added, i.documents_changed, i.documents_deleted, i.documents_unchanged
            ),
        );
        match i.no_reuse_reason {
            // The flag the user gave, as the line has always said it.
            Some(ragops_engine::NoReuse::FullRebuild) => {
                line(s, format_args!("  reuse      none (--full)"))
            }
            Some(r) => line(s, format_args!("  reuse      none ({r})")),
            None => line(
                s,
                format_args!(
                    "  reuse      {} document(s), {} chunk(s) reused from the parent{}",
                    i.documents_reused,
                    i.chunks_reused,
                    if i.compacted {
                        " (compacted: every live row rewritten into one fragment)"
                    } else {
                        ""
                    }
                ),
            ),
        }
    }
    let torn = if i.cache_entries_torn > 0 {
        format!(" ({} torn cache entries recomputed)", i.cache_entries_torn)
    } else {
        String::new()
    };
    line(
        s,
        format_args!(
            "  vectors    {} computed, {} from the embedding cache or repeated{torn}",
            i.embeddings_computed, i.embeddings_cached
        ),
    );
}

/// What the `pii` step found (types and counts, never values) and what it did.
fn pii(s: &mut String, p: &ragops_engine::PiiTally) {
    let found = if p.found.is_empty() {
        "nothing found".to_string()
    } else {
        p.found
            .iter()
            .map(|(k, v)| format!("{k} {v}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let done = match p.mode {
        ragops_core::PiiMode::Detect => String::new(),
        ragops_core::PiiMode::Redact => format!("; {} document(s) redacted", p.documents_redacted),
        ragops_core::PiiMode::Drop => format!("; {} chunk(s) dropped", p.chunks_dropped),
    };
    line(
        s,
        format_args!(
            "  pii        {found} in {} document(s){done}",
            p.documents_with_findings
        ),
    );
}

/// One shard of a sharded build.
pub(crate) fn shard(r: &ShardReport) -> String {
    let mut s = String::new();
    let c = &r.counts;
    line(
        &mut s,
        format_args!(
            "shard {}/{} of build {} staged (publish with `ragops commit {}`)",
            r.shard, r.shards, r.build_id, r.build_id
        ),
    );
    line(&mut s, format_args!("  store      {}", r.store.display()));
    line(
        &mut s,
        format_args!(
            "  parent     {}",
            r.parent.as_ref().map_or("none", |p| p.as_str())
        ),
    );
    line(
        &mut s,
        format_args!(
            "  documents  {}   chunks {}   new rows {}   kept in the parent {}   skipped {}",
            c.documents, c.chunks, r.fragment_rows, r.kept_documents, c.skipped
        ),
    );
    line(
        &mut s,
        format_args!(
            "  time       {:.1}s total, embed {:.1}s ({:.1} chunks/s)",
            r.timings.total, r.timings.embed, r.embeddings_per_sec
        ),
    );
    for sk in &r.skipped {
        line(
            &mut s,
            format_args!("  skipped    {}: {}", sk.path, sk.reason),
        );
    }
    s
}

pub(crate) fn plan(p: &BuildPlanRecord) -> String {
    let mut s = String::new();
    line(
        &mut s,
        format_args!(
            "build {}: {} shard(s), parent {} (planned {})",
            p.build_id,
            p.shards,
            p.parent.as_ref().map_or("none", |p| p.as_str()),
            p.created_at
        ),
    );
    line(
        &mut s,
        format_args!(
            "  run `ragops build --shard I/{} --build-id {}` for I in 0..{}, then `ragops commit {}`",
            p.shards, p.build_id, p.shards, p.build_id
        ),
    );
    s
}

pub(crate) fn status(st: &ShardStatus) -> String {
    let list = |v: &[u32]| {
        if v.is_empty() {
            "none".to_string()
        } else {
            v.iter().map(u32::to_string).collect::<Vec<_>>().join(", ")
        }
    };
    let mut s = String::new();
    line(
        &mut s,
        format_args!(
            "build {}: {} of {} shard(s) finished",
            st.build_id,
            st.present.len(),
            st.shards
        ),
    );
    line(&mut s, format_args!("  finished   {}", list(&st.present)));
    line(&mut s, format_args!("  missing    {}", list(&st.missing)));
    s
}

pub(crate) fn commit(r: &CommitReport) -> String {
    let mut s = String::new();
    if r.up_to_date {
        line(
            &mut s,
            format_args!(
                "up to date: the {} shard(s) of build {} changed nothing since snapshot {} \
                 (nothing published; the build was removed)",
                r.shards, r.build_id, r.snapshot
            ),
        );
        return s;
    }
    let c = &r.counts;
    line(
        &mut s,
        format_args!(
            "snapshot {} published as current (build {}, {} shard(s))",
            r.snapshot, r.build_id, r.shards
        ),
    );
    line(&mut s, format_args!("  store      {}", r.store.display()));
    line(
        &mut s,
        format_args!(
            "  documents  {}   chunks {}   tokens {}   skipped {}",
            c.documents, c.chunks, c.tokens, c.skipped
        ),
    );
    line(
        &mut s,
        format_args!(
            "  fragments  {} ({} of the parent, {} from the shards{})",
            r.fragments,
            r.carried_fragments,
            r.shard_fragments,
            if r.compacted { ", compacted" } else { "" }
        ),
    );
    line(&mut s, format_args!("  commit     {:.2}s", r.seconds));
    s
}
