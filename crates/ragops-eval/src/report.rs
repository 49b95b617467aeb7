//! Evaluation results and the experiment report (JSON, terminal table, self-contained HTML
//! with SVG charts).

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

/// Metrics of one snapshot for one retrieval mode and cut-off, averaged over the questions.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModeMetrics {
    pub mode: String,
    pub k: usize,
    /// Questions with at least one relevant document (the means are over these).
    pub evaluated: usize,
    /// Questions left out: no relevant document.
    pub skipped: usize,
    pub recall: f64,
    pub precision: f64,
    pub mrr: f64,
    pub ndcg: f64,
    /// Span-level metrics (span question sets only).
    pub span_recall: Option<f64>,
    pub span_precision: Option<f64>,
    pub span_iou: Option<f64>,
}

/// Metric names accepted in experiment files and `--metric`.
pub const METRICS: [&str; 7] = [
    "recall",
    "precision",
    "mrr",
    "ndcg",
    "span_recall",
    "span_precision",
    "span_iou",
];

impl ModeMetrics {
    pub fn get(&self, metric: &str) -> Option<f64> {
        match metric {
            "recall" => Some(self.recall),
            "precision" => Some(self.precision),
            "mrr" => Some(self.mrr),
            "ndcg" => Some(self.ndcg),
            "span_recall" => self.span_recall,
            "span_precision" => self.span_precision,
            "span_iou" => self.span_iou,
            _ => None,
        }
    }
}

/// One variant of an experiment: its settings, its cost and its scores.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VariantResult {
    pub name: String,
    /// The grid values that define the variant (dotted pipeline keys).
    pub settings: BTreeMap<String, serde_json::Value>,
    pub snapshot: String,
    /// Chunk size and unit after the grid was applied.
    pub chunk_size: usize,
    pub unit: String,
    pub chunks: u64,
    /// Bytes of the snapshot's data files (chunk table and full-text index).
    pub index_bytes: u64,
    pub build_seconds: f64,
    pub embed_seconds: f64,
    pub embeddings_computed: u64,
    pub embeddings_cached: u64,
    /// Embedded texts longer than the model's limit (cut for embedding, stored whole).
    pub truncated: u64,
    pub metrics: Vec<ModeMetrics>,
    /// The ranking metric at the primary mode and k.
    pub score: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExperimentReport {
    pub name: String,
    pub questions: String,
    pub question_count: usize,
    pub metric: String,
    pub mode: String,
    pub k: usize,
    pub model: String,
    /// Best first.
    pub variants: Vec<VariantResult>,
    pub winner: Option<String>,
}

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

fn primary<'a>(r: &ExperimentReport, v: &'a VariantResult) -> Option<&'a ModeMetrics> {
    v.metrics.iter().find(|m| m.mode == r.mode && m.k == r.k)
}

impl ExperimentReport {
    /// Sorts variants best first (ties: fewer chunks, then name) and names the winner.
    pub fn rank(&mut self) {
        self.variants.sort_by(|a, b| {
            b.score
                .total_cmp(&a.score)
                .then(a.chunks.cmp(&b.chunks))
                .then(a.name.cmp(&b.name))
        });
        self.winner = self.variants.first().map(|v| v.name.clone());
    }

    /// The leaderboard as a plain-text table.
    pub fn table(&self) -> String {
        let span = self
            .variants
            .iter()
            .any(|v| primary(self, v).is_some_and(|m| m.span_iou.is_some()));
        let mut s = String::new();
        let _ = writeln!(
            s,
            "{} — {} questions, ranked by {}@{} ({}), model {}",
            self.name, self.question_count, self.metric, self.k, self.mode, self.model
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
        for (i, v) in self.variants.iter().enumerate() {
            let Some(m) = primary(self, v) else { continue };
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
        if let Some(w) = &self.winner {
            let _ = writeln!(s, "winner: {w}");
        }
        s
    }

    /// The leaderboard as a Markdown table (every mode and k of each variant).
    pub fn markdown(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(
            s,
            "Ranked by **{}@{}** ({} mode); {} questions from `{}`; model {}. Percentages.\n",
            self.metric, self.k, self.mode, self.question_count, self.questions, self.model
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
        for (i, v) in self.variants.iter().enumerate() {
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
    pub fn html(&self) -> String {
        let esc = |t: &str| {
            t.replace('&', "&amp;")
                .replace('<', "&lt;")
                .replace('>', "&gt;")
        };
        let mut rows = String::new();
        for (i, v) in self.variants.iter().enumerate() {
            let Some(m) = primary(self, v) else { continue };
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
        let quality = self.chart(
            "Quality vs chunk size",
            "chunk size (model tokens; character variants ÷ 4)",
            |v| {
                if v.unit == "chars" {
                    v.chunk_size as f64 / 4.0
                } else {
                    v.chunk_size as f64
                }
            },
        );
        let cost = self.chart("Cost vs quality", "index size (MiB)", |v| {
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
            name = esc(&self.name),
            count = self.question_count,
            questions = esc(&self.questions),
            metric = esc(&self.metric),
            k = self.k,
            mode = esc(&self.mode),
            model = esc(&self.model),
            winner = esc(self.winner.as_deref().unwrap_or("-")),
        )
    }

    /// An SVG scatter plot of the ranking metric (y) against `x` for every variant; points of
    /// variants that differ only in x are joined.
    fn chart(&self, title: &str, xlabel: &str, x: impl Fn(&VariantResult) -> f64) -> String {
        let (w, h, pad) = (520.0, 360.0, 50.0);
        let pts: Vec<(f64, f64, &VariantResult)> =
            self.variants.iter().map(|v| (x(v), v.score, v)).collect();
        if pts.is_empty() {
            return String::new();
        }
        let (mut x0, mut x1) = pts
            .iter()
            .fold((f64::MAX, f64::MIN), |(a, b), p| (a.min(p.0), b.max(p.0)));
        let (mut y0, mut y1) = pts
            .iter()
            .fold((f64::MAX, f64::MIN), |(a, b), p| (a.min(p.1), b.max(p.1)));
        if x1 - x0 < 1e-9 {
            x0 -= 1.0;
            x1 += 1.0;
        }
        if y1 - y0 < 1e-9 {
            y0 -= 0.01;
            y1 += 0.01;
        }
        let sx = |v: f64| pad + (v - x0) / (x1 - x0) * (w - 2.0 * pad);
        let sy = |v: f64| h - pad - (v - y0) / (y1 - y0) * (h - 2.0 * pad);
        let palette = [
            "#1b9e77", "#d95f02", "#7570b3", "#e7298a", "#66a61e", "#e6ab02", "#a6761d", "#666666",
        ];
        // Series: the settings other than the chunk size.
        let mut series: BTreeMap<String, Vec<(f64, f64)>> = BTreeMap::new();
        for (px, py, v) in &pts {
            let key: Vec<String> = v
                .settings
                .iter()
                .filter(|(k, _)| k.as_str() != "chunking.size")
                .map(|(k, val)| format!("{}={}", k.rsplit('.').next().unwrap_or(k), val))
                .collect();
            series.entry(key.join(" ")).or_default().push((*px, *py));
        }
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
            metric = self.metric,
            k = self.k,
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
}

#[cfg(test)]
mod tests {
    use super::*;

    fn variant(name: &str, size: usize, score: f64, chunks: u64) -> VariantResult {
        VariantResult {
            name: name.into(),
            settings: [("chunking.size".to_string(), serde_json::json!(size))].into(),
            snapshot: "s".into(),
            chunk_size: size,
            unit: "tokens".into(),
            chunks,
            index_bytes: 1000,
            build_seconds: 1.0,
            embed_seconds: 1.0,
            embeddings_computed: 1,
            embeddings_cached: 0,
            truncated: 0,
            metrics: vec![ModeMetrics {
                mode: "vector".into(),
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
    fn ranks_best_first_with_ties_on_cost_and_renders() {
        let mut r = ExperimentReport {
            name: "e".into(),
            questions: "q.jsonl".into(),
            question_count: 3,
            metric: "span_iou".into(),
            mode: "vector".into(),
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
        let names: Vec<&str> = r.variants.iter().map(|v| v.name.as_str()).collect();
        assert_eq!(
            names,
            vec!["c", "b", "a"],
            "tie on score: fewer chunks first"
        );
        assert_eq!(r.winner.as_deref(), Some("c"));
        let t = r.table();
        assert!(t.contains("winner: c") && t.contains("sp.IoU"), "{t}");
        let html = r.html();
        assert!(html.contains("<svg") && html.contains("class=\"win\""));
        assert_eq!(
            html.matches("<circle").count(),
            6,
            "3 points in each of 2 charts"
        );
    }
}
