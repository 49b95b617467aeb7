//! The operations behind the CLI's read and maintenance commands.

mod check;
mod diff;
mod eval;
mod extract;
mod gc;
mod refs;
mod search;
mod snapshots;
mod store;

pub use check::{check, CheckOptions, CheckReport, ModelDrift, SourceDrift};
pub use diff::{diff, ChangedDocument, SnapshotDiff};
pub use eval::{eval, load_questions, EvalOptions, EvalReport, HitLocation, QuestionHits};
pub(crate) use eval::{evaluate, query_vectors};
pub use extract::{extract, Extracted, ExtractedDocument, ExtractedPage};
pub use gc::{gc, GcReport, Kept};
pub(crate) use refs::verified;
pub use refs::{rollback, tag, untag};
pub(crate) use search::open_searcher;
pub use search::{search, SearchResult, SearchResults};
pub use snapshots::{list, retention, show, ShownSnapshot};
pub use store::{resolve_serve_settings, resolve_store, DEFAULT_PIPELINE};
