//! The experiment report: leaderboard table (terminal), Markdown, and a self-contained HTML
//! page with two SVG charts.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use ragops_eval::{ExperimentReport, VariantResult};

fn pct(x: f64) -> String {
    format!("{:.1}", x * 100.0)
}

fn human_bytes(b: u64) -> String {
    if b >= 1 << 20 {
        format!("{:.1} MiB", b as f64 / (1u64 << 20) as f64)
    } else {
        format!("{:.0} KiB", b as f64 / 1024.0)
    }
}

/// The leaderboard as a plain-text table.
pub(crate) fn table(r: &ExperimentReport) -> String {
    let span = r
        .variants
        .iter()
        .any(|v| r.primary(v).is_some_and(|m| m.span_iou.is_some()));
    let mut s = String::new();
    let _ = writeln!(
        s,
        "{} — {} questions, ranked by {}@{} ({}), model {}",
        r.name, r.question_count, r.metric, r.k, r.mode, r.model
    );
    let _ = write!(
        s,
        "{:>3}  {:<40} {:>7} {:>7} {:>7} {:>7}",
        "#", "variant", "recall", "MRR", "nDCG", "prec"
    );
    if span {
        let _ = write!(s, " {:>7} {:>7} {:>7}", "sp.rec", "sp.prec", "sp.IoU");
    }
    let _ = writeln!(s, " {:>7} {:>10} {:>8}", "chunks", "index", "build s");
    for (i, v) in r.variants.iter().enumerate() {
        let Some(m) = r.primary(v) else { continue };
        let _ = write!(
            s,
            "{:>3}  {:<40} {:>7} {:>7} {:>7} {:>7}",
            i + 1,
            v.name,
            pct(m.recall),
            pct(m.mrr),
            pct(m.ndcg),
            pct(m.precision)
        );
        if span {
            let f = |x: Option<f64>| x.map(pct).unwrap_or_else(|| "-".into());
            let _ = write!(
                s,
                " {:>7} {:>7} {:>7}",
                f(m.span_recall),
                f(m.span_precision),
                f(m.span_iou)
            );
        }
        let _ = writeln!(
            s,
            " {:>7} {:>10} {:>8.1}",
            v.chunks,
            human_bytes(v.index_bytes),
            v.build_seconds
        );
    }
    if let Some(w) = &r.winner {
        let _ = writeln!(s, "winner: {w}");
    }
    s
}

/// The leaderboard as a Markdown table (every mode and k of each variant).
pub(crate) fn markdown(r: &ExperimentReport) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "Ranked by **{}@{}** ({} mode); {} questions from `{}`; model {}. Percentages.\n",
        r.metric, r.k, r.mode, r.question_count, r.questions, r.model
    );
    let _ = writeln!(
        s,
        "| # | variant | mode | k | recall | MRR | nDCG | span recall | span precision | span IoU | chunks | index | build s | embedded / cached | truncated |"
    );
    let _ = writeln!(
        s,
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"
    );
    let f = |x: Option<f64>| x.map(pct).unwrap_or_else(|| "–".into());
    for (i, v) in r.variants.iter().enumerate() {
        let mut first = true;
        for m in &v.metrics {
            let (rank, name, cost) = if first {
                (
                    (i + 1).to_string(),
                    format!("`{}`", v.name),
                    format!(
                        "{} | {} | {:.1} | {} / {} | {}",
                        v.chunks,
                        human_bytes(v.index_bytes),
                        v.build_seconds,
                        v.embeddings_computed,
                        v.embeddings_cached,
                        v.truncated
                    ),
                )
            } else {
                (String::new(), String::new(), " |  |  |  | ".to_string())
            };
            first = false;
            let _ = writeln!(
                s,
                "| {rank} | {name} | {} | {} | {} | {} | {} | {} | {} | {} | {cost} |",
                m.mode,
                m.k,
                pct(m.recall),
                pct(m.mrr),
                pct(m.ndcg),
                f(m.span_recall),
                f(m.span_precision),
                f(m.span_iou)
            );
        }
    }
    s
}

/// A self-contained HTML page: the leaderboard and two SVG charts.
pub(crate) fn html(r: &ExperimentReport) -> String {
    let esc = |t: &str| {
        t.replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;")
    };
    let mut rows = String::new();
    for (i, v) in r.variants.iter().enumerate() {
        let Some(m) = r.primary(v) else { continue };
        let f = |x: Option<f64>| x.map(pct).unwrap_or_else(|| "–".into());
        let _ = writeln!(
            rows,
            "<tr{}><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{:.1}</td><td>{}</td></tr>",
            if i == 0 { " class=\"win\"" } else { "" },
            i + 1,
            esc(&v.name),
            pct(m.recall),
            pct(m.mrr),
            pct(m.ndcg),
            pct(m.precision),
            f(m.span_recall),
            f(m.span_precision),
            f(m.span_iou),
            v.chunks,
            human_bytes(v.index_bytes),
            v.build_seconds,
            v.truncated
        );
    }
    let quality = chart(
        r,
        "Quality vs chunk size",
        "chunk size (model tokens; character variants ÷ 4)",
        |v| {
            if v.unit == ragops_core::ChunkUnit::Chars {
                v.chunk_size as f64 / 4.0
            } else {
                v.chunk_size as f64
            }
        },
    );
    let cost = chart(r, "Cost vs quality", "index size (MiB)", |v| {
        v.index_bytes as f64 / (1u64 << 20) as f64
    });
    format!(
        r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>ragops experiment {name}</title>
<style>
body {{ font: 14px/1.4 system-ui, sans-serif; margin: 2em; color: #222; }}
table {{ border-collapse: collapse; }} td, th {{ padding: 3px 8px; text-align: right; border-bottom: 1px solid #ddd; }}
td:nth-child(2), th:nth-child(2) {{ text-align: left; font-family: monospace; }}
tr.win {{ background: #e8f5e9; font-weight: 600; }}
.charts {{ display: flex; gap: 2em; flex-wrap: wrap; margin-top: 2em; }}
</style></head><body>
<h1>Experiment {name}</h1>
<p>{count} questions from <code>{questions}</code>; ranked by <b>{metric}@{k}</b> in {mode} mode; model {model}.
Winner: <b>{winner}</b>. Percentages; span metrics are over character positions of the retrieved chunks vs the reference excerpts.</p>
<table><tr><th>#</th><th>variant</th><th>recall</th><th>MRR</th><th>nDCG</th><th>precision</th><th>span recall</th><th>span precision</th><th>span IoU</th><th>chunks</th><th>index</th><th>build s</th><th>truncated</th></tr>
{rows}</table>
<div class="charts">{quality}{cost}</div>
</body></html>
"#,
        name = esc(&r.name),
        count = r.question_count,
        questions = esc(&r.questions),
        metric = esc(r.metric.as_str()),
        k = r.k,
        mode = esc(r.mode.as_str()),
        model = esc(&r.model),
        winner = esc(r.winner.as_deref().unwrap_or("-")),
    )
}

/// The lowest and highest value, widened by `pad` on each side when they are equal.
fn range(values: impl Iterator<Item = f64>, pad: f64) -> (f64, f64) {
    let (lo, hi) = values.fold((f64::MAX, f64::MIN), |(a, b), v| (a.min(v), b.max(v)));
    if hi - lo < 1e-9 {
        (lo - pad, hi + pad)
    } else {
        (lo, hi)
    }
}

/// Points grouped into series: variants whose settings other than the chunk size are equal.
fn series(pts: &[(f64, f64, &VariantResult)]) -> BTreeMap<String, Vec<(f64, f64)>> {
    let mut series: BTreeMap<String, Vec<(f64, f64)>> = BTreeMap::new();
    for (px, py, v) in pts {
        let key: Vec<String> = v
            .settings
            .iter()
            .filter(|(k, _)| k.as_str() != "chunking.size")
            .map(|(k, val)| format!("{}={}", k.rsplit('.').next().unwrap_or(k), val))
            .collect();
        series.entry(key.join(" ")).or_default().push((*px, *py));
    }
    series
}

/// An SVG scatter plot of the ranking metric (y) against `x` for every variant; points of
/// variants that differ only in x are joined.
fn chart(
    r: &ExperimentReport,
    title: &str,
    xlabel: &str,
    x: impl Fn(&VariantResult) -> f64,
) -> String {
    let (w, h, pad) = (520.0, 360.0, 50.0);
    let pts: Vec<(f64, f64, &VariantResult)> =
        r.variants.iter().map(|v| (x(v), v.score, v)).collect();
    if pts.is_empty() {
        return String::new();
    }
    let (x0, x1) = range(pts.iter().map(|p| p.0), 1.0);
    let (y0, y1) = range(pts.iter().map(|p| p.1), 0.01);
    let sx = |v: f64| pad + (v - x0) / (x1 - x0) * (w - 2.0 * pad);
    let sy = |v: f64| h - pad - (v - y0) / (y1 - y0) * (h - 2.0 * pad);
    let palette = [
        "#1b9e77", "#d95f02", "#7570b3", "#e7298a", "#66a61e", "#e6ab02", "#a6761d", "#666666",
    ];
    let series = series(&pts);
    let mut svg = String::new();
    let _ = write!(
        svg,
        r##"<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{hh}" font-size="11"><text x="{tx}" y="18" font-size="14" text-anchor="middle">{title}</text><line x1="{pad}" y1="{yb}" x2="{xr}" y2="{yb}" stroke="#333"/><line x1="{pad}" y1="{pad}" x2="{pad}" y2="{yb}" stroke="#333"/><text x="{tx}" y="{xl}" text-anchor="middle">{xlabel}</text><text x="14" y="{ty}" transform="rotate(-90 14 {ty})" text-anchor="middle">{metric}@{k}</text>"##,
        hh = h + 16.0 * series.len().min(8) as f64,
        tx = w / 2.0,
        yb = h - pad,
        xr = w - pad,
        xl = h - pad + 32.0,
        ty = h / 2.0,
        metric = r.metric,
        k = r.k,
    );
    for i in 0..=4 {
        let fx = x0 + (x1 - x0) * i as f64 / 4.0;
        let fy = y0 + (y1 - y0) * i as f64 / 4.0;
        let _ = write!(
            svg,
            r##"<text x="{}" y="{}" text-anchor="middle">{:.0}</text><text x="{}" y="{}" text-anchor="end">{}</text>"##,
            sx(fx),
            h - pad + 15.0,
            fx,
            pad - 4.0,
            sy(fy) + 4.0,
            pct(fy)
        );
    }
    for (i, (name, mut points)) in series.into_iter().enumerate() {
        let color = palette[i % palette.len()];
        points.sort_by(|a, b| a.0.total_cmp(&b.0));
        let path: Vec<String> = points
            .iter()
            .map(|(a, b)| format!("{:.1},{:.1}", sx(*a), sy(*b)))
            .collect();
        let _ = write!(
            svg,
            r##"<polyline fill="none" stroke="{color}" stroke-width="1.5" points="{}"/>"##,
            path.join(" ")
        );
        for (a, b) in &points {
            let _ = write!(
                svg,
                r##"<circle cx="{:.1}" cy="{:.1}" r="3.5" fill="{color}"><title>{name}: {:.3}</title></circle>"##,
                sx(*a),
                sy(*b),
                b
            );
        }
        if i < 8 {
            let _ = write!(
                svg,
                r##"<rect x="{pad}" y="{}" width="10" height="10" fill="{color}"/><text x="{}" y="{}">{}</text>"##,
                h + 4.0 + 16.0 * i as f64,
                pad + 14.0,
                h + 13.0 + 16.0 * i as f64,
                name.replace('&', "&amp;").replace('<', "&lt;")
            );
        }
    }
    svg.push_str("</svg>");
    svg
}

#[cfg(test)]
mod tests {
    use super::*;
    use ragops_core::{ChunkUnit, Mode, SnapshotId};
    use ragops_eval::{Metric, ModeMetrics};

    fn variant(name: &str, size: usize, score: f64, chunks: u64) -> VariantResult {
        VariantResult {
            name: name.into(),
            settings: [("chunking.size".to_string(), serde_json::json!(size))].into(),
            snapshot: SnapshotId::parse("20260101T000000000Z-00000000").unwrap(),
            chunk_size: size,
            unit: ChunkUnit::Tokens,
            chunks,
            index_bytes: 1000,
            build_seconds: 1.0,
            embed_seconds: 1.0,
            embeddings_computed: 1,
            embeddings_cached: 0,
            truncated: 0,
            metrics: vec![ModeMetrics {
                mode: Mode::Vector,
                k: 5,
                evaluated: 3,
                skipped: 0,
                recall: score,
                precision: 0.1,
                mrr: 0.2,
                ndcg: 0.3,
                span_recall: Some(0.4),
                span_precision: Some(0.05),
                span_iou: Some(score),
            }],
            score,
        }
    }

    #[test]
    fn renders_table_markdown_and_charts() {
        let mut r = ExperimentReport {
            name: "e".into(),
            questions: "q.jsonl".into(),
            question_count: 3,
            metric: Metric::SpanIou,
            mode: Mode::Vector,
            k: 5,
            model: "m".into(),
            variants: vec![
                variant("a", 200, 0.3, 10),
                variant("b", 400, 0.5, 9),
                variant("c", 800, 0.5, 5),
            ],
            winner: None,
        };
        r.rank();
        let t = table(&r);
        assert!(t.contains("winner: c") && t.contains("sp.IoU"), "{t}");
        assert!(markdown(&r).contains("| 1 | `c` |"));
        let page = html(&r);
        assert!(page.contains("<svg") && page.contains("class=\"win\""));
        assert_eq!(
            page.matches("<circle").count(),
            6,
            "3 points in each of 2 charts"
        );
    }
}
