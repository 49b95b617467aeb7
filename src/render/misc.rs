//! `ragops embed`, `ragops extract`, `ragops model ...` and `ragops questions convert`.

use std::path::Path;

use ragops_core::ModelSource;
use ragops_embed::ModelInfo;
use ragops_engine::EmbedFileReport;
use ragops_eval::Conversion;
use ragops_hub::CachedModel;

use super::{line, short};

pub(crate) fn embed(r: &EmbedFileReport) -> String {
    let mut s = String::new();
    line(
        &mut s,
        format_args!(
            "embedded {} texts ({} tokens, {} truncated) in {:.2}s with {} thread{}{}",
            r.texts,
            r.tokens,
            r.truncated,
            r.seconds,
            r.threads,
            if r.threads == 1 { "" } else { "s" },
            if r.kernel.is_empty() {
                String::new()
            } else {
                format!(", linear layers: {}", r.kernel)
            }
        ),
    );
    line(
        &mut s,
        format_args!(
            "  {:.1} texts/s, {:.0} tokens/s, {:.1} GFLOP/s",
            r.texts_per_sec, r.tokens_per_sec, r.gflops_per_sec
        ),
    );
    line(&mut s, format_args!("  wrote {}", r.output.display()));
    s
}

pub(crate) fn model_pulled(m: &ModelSource) -> String {
    format!("{} @ {} in {}\n", m.id, m.revision, m.dir.display())
}

pub(crate) fn model_imported(m: &ModelSource) -> String {
    format!(
        "imported {} @ {} into {}\n",
        m.id,
        m.revision,
        m.dir.display()
    )
}

pub(crate) fn model_show(m: &ModelSource, i: &ModelInfo) -> String {
    let mut s = String::new();
    line(&mut s, format_args!("{} @ {}", m.id, m.revision));
    line(&mut s, format_args!("  dir      {}", m.dir.display()));
    line(
        &mut s,
        format_args!(
            "  dim {}, max {} tokens, {} pooling, normalize {}",
            i.dim, i.max_tokens, i.pooling, i.normalize
        ),
    );
    s
}

pub(crate) fn model_list(models: &[CachedModel], cache: &Path) -> String {
    let mut s = String::new();
    if models.is_empty() {
        line(&mut s, format_args!("no models in {}", cache.display()));
        return s;
    }
    line(&mut s, format_args!("cache {}", cache.display()));
    for m in models {
        let refs: Vec<String> = m
            .refs
            .iter()
            .map(|(r, c)| format!("{r}={}", short(c)))
            .collect();
        let complete = m.snapshots.iter().filter(|(_, ok)| *ok).count();
        line(
            &mut s,
            format_args!(
                "  {:<45} {}  ({} snapshot(s), {complete} complete)",
                m.id,
                refs.join(" "),
                m.snapshots.len()
            ),
        );
    }
    s
}

pub(crate) fn converted(c: &Conversion, output: &Path) -> String {
    format!(
        "wrote {} questions ({} reference excerpts) to {}\n",
        c.questions,
        c.references,
        output.display()
    )
}

/// `ragops extract`: per file a header line, then the text (page by page for paginated
/// documents), or the reason the file would be skipped.
pub(crate) fn extracted(files: &[ragops_engine::ops::Extracted]) -> String {
    let mut s = String::new();
    for f in files {
        if let Some(reason) = &f.skipped {
            line(
                &mut s,
                format_args!("== {}: skipped: {reason}", f.path.display()),
            );
            continue;
        }
        for d in &f.documents {
            line(
                &mut s,
                format_args!(
                    "== {} ({}, {} characters{})",
                    d.id,
                    d.format,
                    d.text.chars().count(),
                    if d.pages.is_empty() {
                        String::new()
                    } else {
                        format!(", {} pages with text", d.pages.len())
                    }
                ),
            );
            if d.pages.is_empty() {
                line(&mut s, format_args!("{}", d.text));
            }
            for p in &d.pages {
                line(&mut s, format_args!("-- page {}", p.page));
                line(
                    &mut s,
                    format_args!("{}", &d.text[p.start..p.end].trim_end()),
                );
            }
        }
    }
    s
}
