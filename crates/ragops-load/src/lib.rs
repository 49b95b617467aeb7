//! Load stage: walk the configured sources and turn files into [`Document`]s.
//!
//! Every file either yields documents or a [`Skipped`] record naming the path and the typed
//! [`SkipReason`] (binary content, invalid UTF-8, empty, too large, corrupt or encrypted PDF,
//! bad JSONL line...). Loading never panics on input data: the PDF parser runs under
//! `catch_unwind`, no loader recurses over the input's nesting, and every file's work is
//! bounded by a [`Budget`] (bytes read and inflated, pages, time) whose breach is a skip reason.

mod budget;
mod html;
mod jsonl;
mod markdown;
mod pdf;
mod text;
mod walk;

use std::collections::HashSet;
use std::io::Read;
use std::path::Path;

use ragops_core::{DocId, Document, Format, Sha256, SkipReason, Skipped, SourcesConfig};
use rayon::prelude::*;

pub use budget::Budget;
pub use markdown::markdown_sections;
pub use walk::{discover, normalize_path, SourceFile};

/// Longest title or heading kept, in characters. Titles and heading paths are copied into
/// every chunk of a document, so an unbounded one would multiply memory by the chunk count.
pub const MAX_TITLE_CHARS: usize = 256;

/// A title or heading cut to [`MAX_TITLE_CHARS`] characters (an ellipsis marks the cut).
pub fn cap_title(t: &str) -> String {
    match t.char_indices().nth(MAX_TITLE_CHARS) {
        Some((i, _)) => format!("{}…", t[..i].trim_end()),
        None => t.to_string(),
    }
}

/// What one file yields: its documents, and skip records for parts of it (JSONL lines).
pub type Loaded = (Vec<Document>, Vec<Skipped>);

/// Result of loading a batch of files.
#[derive(Debug, Default)]
pub struct LoadOutcome {
    /// Documents, ordered by id.
    pub documents: Vec<Document>,
    pub skipped: Vec<Skipped>,
}

/// Loads every file in parallel (rayon). Order of the result is deterministic (by document id).
/// Two roots can yield the same relative id: the first is kept, the rest reported.
pub fn load_all(files: &[SourceFile], sources: &SourcesConfig) -> LoadOutcome {
    let results: Vec<Loaded> = files
        .par_iter()
        .map(|f| match load_file(f, sources) {
            Ok(ok) => ok,
            Err(reason) => (Vec::new(), vec![Skipped::new(&f.display_path, reason)]),
        })
        .collect();
    let mut out = LoadOutcome::default();
    for (docs, skipped) in results {
        out.documents.extend(docs);
        out.skipped.extend(skipped);
    }
    out.documents.sort_by(|a, b| a.id.cmp(&b.id));
    let mut seen = HashSet::new();
    let (documents, duplicates) = keep_first(std::mem::take(&mut out.documents), &mut seen);
    out.documents = documents;
    out.skipped.extend(duplicates);
    out.skipped.sort_by(|a, b| a.path.cmp(&b.path));
    out
}

/// Keeps the documents whose id is not in `seen` yet (adding it); the others become skip
/// records. Used across the waves of a build, whose first ids are the reused documents'.
pub fn keep_first(docs: Vec<Document>, seen: &mut HashSet<DocId>) -> (Vec<Document>, Vec<Skipped>) {
    let mut kept = Vec::with_capacity(docs.len());
    let mut skipped = Vec::new();
    for d in docs {
        if seen.insert(d.id.clone()) {
            kept.push(d);
        } else {
            skipped.push(Skipped::new(
                &d.source_path,
                SkipReason::DuplicateId {
                    id: d.id.to_string(),
                },
            ));
        }
    }
    (kept, skipped)
}

/// Loads one file. JSONL files yield one document per valid record plus a skip record per bad
/// line; other formats yield exactly one document.
pub fn load_file(f: &SourceFile, sources: &SourcesConfig) -> Result<Loaded, SkipReason> {
    if f.size > sources.max_file_bytes {
        return Err(SkipReason::TooLarge {
            size: f.size,
            limit: sources.max_file_bytes,
        });
    }
    // Read at most one byte past the limit: a file that grew since the walk is still refused
    // without reading it all.
    let mut bytes = Vec::new();
    std::fs::File::open(&f.path)
        .and_then(|file| {
            file.take(sources.max_file_bytes.saturating_add(1))
                .read_to_end(&mut bytes)
        })
        .map_err(|e| SkipReason::Unreadable {
            detail: e.to_string(),
        })?;
    load_bytes(f, &bytes, sources)
}

/// Loads a file's bytes (already read) as `f` says: the same checks and documents as
/// [`load_file`], without touching the file system.
pub fn load_bytes(
    f: &SourceFile,
    bytes: &[u8],
    sources: &SourcesConfig,
) -> Result<Loaded, SkipReason> {
    if bytes.is_empty() {
        return Err(SkipReason::Empty);
    }
    if bytes.len() as u64 > sources.max_file_bytes {
        return Err(SkipReason::TooLarge {
            size: bytes.len() as u64,
            limit: sources.max_file_bytes,
        });
    }
    let budget = Budget::for_sources(sources);
    let doc = |title: Option<String>, text: String| Document {
        id: DocId::file(&f.id),
        source_path: f.display_path.clone(),
        format: f.format,
        title: cap_title(&title.unwrap_or_else(|| file_stem(&f.path))),
        text,
        sections: Vec::new(),
        pages: Vec::new(),
        content_hash: Sha256::of(bytes),
        size: bytes.len() as u64,
        mtime: f.mtime,
        metadata: Default::default(),
    };
    let document = match f.format {
        Format::Markdown => {
            let (text, sections, title) = text::markdown(bytes)?;
            Document {
                sections,
                ..doc(title, text)
            }
        }
        Format::Text => {
            let (text, title) = text::plain(bytes)?;
            doc(title, text)
        }
        Format::Html => {
            let source = text::decode_text(bytes, "HTML")?;
            let page = html::render(&source, &budget)?;
            if page.text.trim().is_empty() {
                return Err(SkipReason::NoText);
            }
            Document {
                sections: page.sections,
                metadata: page.metadata,
                ..doc(page.title, page.text)
            }
        }
        Format::Pdf => {
            let extracted = pdf::extract(bytes, &budget)?;
            Document {
                pages: extracted.pages,
                metadata: extracted.metadata,
                ..doc(extracted.title, extracted.text)
            }
        }
        Format::Jsonl => return jsonl::load_jsonl(f, bytes, &sources.jsonl),
    };
    Ok((vec![document], Vec::new()))
}

fn file_stem(path: &Path) -> String {
    path.file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// Convenience for tests and tools: loads a single path as a source file.
pub fn load_path(path: &Path, sources: &SourcesConfig) -> Result<Vec<Document>, SkipReason> {
    let f = SourceFile::for_path(path.to_path_buf()).ok_or(SkipReason::Unsupported)?;
    load_file(&f, sources).map(|(d, _)| d)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::path::PathBuf;

    fn sources() -> SourcesConfig {
        ragops_core::PipelineConfig::from_toml("[sources]\npaths=[\".\"]\n", Path::new("t.toml"))
            .unwrap()
            .sources
    }

    fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
        let p = dir.join(name);
        std::fs::File::create(&p).unwrap().write_all(bytes).unwrap();
        p
    }

    #[test]
    fn bad_text_inputs_get_reasons() {
        let dir = tempfile::tempdir().unwrap();
        let s = sources();
        let empty = write(dir.path(), "e.md", b"");
        assert_eq!(load_path(&empty, &s), Err(SkipReason::Empty));
        let bin = write(dir.path(), "b.md", &[0x89, b'P', b'N', b'G', 0, 0, 1]);
        assert_eq!(
            load_path(&bin, &s),
            Err(SkipReason::Binary {
                format: "Markdown".into()
            })
        );
        let latin = write(dir.path(), "l.txt", b"caf\xe9 au lait");
        assert_eq!(
            load_path(&latin, &s),
            Err(SkipReason::InvalidUtf8 { at: 3 })
        );
        let blank = write(dir.path(), "w.txt", b"  \n\n ");
        assert_eq!(load_path(&blank, &s), Err(SkipReason::NoText));
    }

    #[test]
    fn too_large_is_reported() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = sources();
        s.max_file_bytes = 4;
        let p = write(dir.path(), "big.txt", b"hello world");
        assert!(matches!(
            load_path(&p, &s),
            Err(SkipReason::TooLarge { size: 11, limit: 4 })
        ));
    }

    #[test]
    fn markdown_title_and_sections() {
        let dir = tempfile::tempdir().unwrap();
        let p = write(
            dir.path(),
            "doc.md",
            "intro\n# Main Title\ntext\n## Sub\nmore\n```\n# not a heading\n```\n".as_bytes(),
        );
        let d = load_path(&p, &sources()).unwrap().remove(0);
        assert_eq!(d.title, "Main Title");
        let titles: Vec<_> = d.sections.iter().map(|s| s.title.as_str()).collect();
        assert_eq!(titles, vec!["Main Title", "Sub"]);
        assert_eq!(&d.text[d.sections[1].byte_start..][..6], "## Sub");
    }

    #[test]
    fn jsonl_records_and_bad_lines() {
        let dir = tempfile::tempdir().unwrap();
        let p = write(
            dir.path(),
            "kb.jsonl",
            b"{\"id\":\"a\",\"title\":\"A\",\"text\":\"alpha\"}\nnot json\n{\"id\":\"b\",\"text\":\"\"}\n{\"id\":7,\"text\":\"seven\"}\n{\"id\":\"a\",\"text\":\"dup\"}\n\xff\xfe\n",
        );
        let f = SourceFile::for_path(p).unwrap();
        let (docs, skipped) = load_file(&f, &sources()).unwrap();
        let ids: Vec<_> = docs.iter().map(|d| d.id.as_str()).collect();
        assert_eq!(ids, vec!["kb.jsonl#a", "kb.jsonl#7"]);
        assert_eq!(docs[0].title, "A");
        assert_eq!(docs[1].title, "7");
        assert_eq!(skipped.len(), 4, "{skipped:?}");
        assert!(skipped[0].path.ends_with("kb.jsonl:2"));
        let reason = |i: usize| skipped[i].reason.to_string();
        assert!(reason(0).contains("invalid JSON"));
        assert!(reason(1).contains("text field"));
        assert!(reason(2).contains("duplicate"));
        assert!(reason(3).contains("UTF-8"));
    }
}
