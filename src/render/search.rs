//! `ragops search`.

use ragops_engine::ops::SearchResults;

use super::{line, page_range, preview};

pub(crate) fn search(res: &SearchResults) -> String {
    let mut s = String::new();
    line(
        &mut s,
        format_args!(
            "{} result(s) from snapshot {} ({})",
            res.results.len(),
            res.snapshot,
            res.mode
        ),
    );
    for r in &res.results {
        let mut loc = r.doc_id.clone();
        if !r.heading_path.is_empty() {
            loc.push_str(&format!(" › {}", r.heading_path.join(" › ")));
        }
        loc.push_str(&page_range(r.page_start, r.page_end));
        line(
            &mut s,
            format_args!("\n{:>2}. {loc}  [score {:.4}]", r.rank, r.score),
        );
        line(&mut s, format_args!("    {}", preview(&r.text, 240)));
    }
    s
}
