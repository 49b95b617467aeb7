//! `ragops build`.

use ragops_engine::BuildReport;

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
            "  model      {} @ {}",
            report.model.id,
            short(&report.model.revision)
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
