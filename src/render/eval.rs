//! `ragops eval`.

use ragops_engine::ops::EvalReport;

use super::{line, page_range};

pub(crate) fn eval(r: &EvalReport) -> String {
    let mut s = String::new();
    let kind = match r.kind {
        ragops_eval::SetKind::Span => "Span",
        ragops_eval::SetKind::Beir => "Beir",
    };
    line(
        &mut s,
        format_args!(
            "snapshot {}: {} questions ({kind}) from {}",
            r.snapshot,
            r.question_count,
            r.questions.display()
        ),
    );
    line(
        &mut s,
        format_args!(
            "  {:<7} {:>3} {:>7} {:>7} {:>7} {:>7} {:>8} {:>8} {:>8}",
            "mode", "k", "recall", "prec", "MRR", "nDCG", "sp.rec", "sp.prec", "sp.IoU"
        ),
    );
    let f = |x: Option<f64>| x.map(|v| format!("{v:.4}")).unwrap_or("-".into());
    for m in &r.metrics {
        line(
            &mut s,
            format_args!(
                "  {:<7} {:>3} {:>7.4} {:>7.4} {:>7.4} {:>7.4} {:>8} {:>8} {:>8}",
                m.mode.as_str(),
                m.k,
                m.recall,
                m.precision,
                m.mrr,
                m.ndcg,
                f(m.span_recall),
                f(m.span_precision),
                f(m.span_iou)
            ),
        );
    }
    if let Some(m) = r.metrics.first().filter(|m| m.skipped > 0) {
        line(
            &mut s,
            format_args!(
                "  ({} question(s) without relevant documents left out)",
                m.skipped
            ),
        );
    }
    for q in &r.hits {
        line(
            &mut s,
            format_args!("\n[{}] {} ({})", q.question_id, q.query, q.mode),
        );
        for (i, h) in q.hits.iter().enumerate() {
            line(
                &mut s,
                format_args!(
                    "  {:>2}. {} {}{} chars {}..{}  [score {:.4}]",
                    i + 1,
                    if h.relevant { "+" } else { " " },
                    h.doc_id,
                    page_range(h.page_start, h.page_end),
                    h.start_char,
                    h.end_char,
                    h.score
                ),
            );
        }
    }
    s
}
