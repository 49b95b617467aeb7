//! Load stage: walk the configured sources and turn files into [`Document`]s.
//!
//! Every file either yields documents or a [`Skipped`] record naming the path and the reason
//! (binary content, invalid UTF-8, empty, too large, corrupt or encrypted PDF, bad JSONL line...).
//! Loading never panics on input data: the PDF parser runs under `catch_unwind`, no loader
//! recurses over the input's nesting, and every file's work is bounded by a [`Budget`] (bytes
//! read and inflated, pages, time) whose breach is a skip reason.

mod html;
mod markdown;
mod pdf;
mod walk;

use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use ragops_core::{sha256_hex, Document, Format, JsonlConfig, Skipped, SourcesConfig};
use rayon::prelude::*;

pub use markdown::markdown_sections;
pub use walk::{discover, normalize_path, SourceFile};

/// Why a file produced no document.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum LoadError {
    #[error("cannot read file: {0}")]
    Io(String),
    #[error("empty file")]
    Empty,
    #[error("file is {size} bytes, over the limit of {limit} bytes ([sources] max_file_bytes)")]
    TooLarge { size: u64, limit: u64 },
    #[error("binary content (NUL bytes), not a {0} file")]
    Binary(&'static str),
    #[error("invalid UTF-8 at byte {0}")]
    InvalidUtf8(usize),
    #[error("no text content")]
    NoText,
    #[error("PDF: {0}")]
    Pdf(String),
    #[error("no valid records in JSONL file")]
    NoRecords,
    #[error("more than {limit} pages ([sources] max_pages)")]
    TooManyPages { limit: u32 },
    #[error(
        "compressed streams inflate to more than {limit} bytes ([sources] max_inflated_bytes)"
    )]
    Inflated { limit: u64 },
    #[error("loading took longer than {seconds} s ([sources] max_load_seconds)")]
    Timeout { seconds: u64 },
    #[error("HTML nested deeper than {limit} elements")]
    TooDeep { limit: usize },
}

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

/// The work one file may cost: bytes its compressed streams inflate to, pages, and time.
#[derive(Debug, Clone)]
pub struct Budget {
    pub max_inflated_bytes: u64,
    pub max_pages: u32,
    timeout: Duration,
    deadline: Instant,
}

impl Budget {
    /// A budget whose clock starts now.
    pub fn new(max_inflated_bytes: u64, max_pages: u32, timeout: Duration) -> Self {
        Self {
            max_inflated_bytes,
            max_pages,
            timeout,
            deadline: Instant::now() + timeout,
        }
    }

    /// The budget of one file under `[sources]`, starting now.
    pub fn for_sources(s: &SourcesConfig) -> Self {
        Self::new(
            s.max_inflated_bytes,
            s.max_pages,
            Duration::from_secs(s.max_load_seconds),
        )
    }

    /// An error once the time is up.
    pub fn check_time(&self) -> Result<(), LoadError> {
        if Instant::now() > self.deadline {
            Err(LoadError::Timeout {
                seconds: self.timeout.as_secs(),
            })
        } else {
            Ok(())
        }
    }

    pub(crate) fn inflated(&self) -> LoadError {
        LoadError::Inflated {
            limit: self.max_inflated_bytes,
        }
    }
}

/// Result of loading a batch of files.
#[derive(Debug, Default)]
pub struct LoadOutcome {
    /// Documents, ordered by id.
    pub documents: Vec<Document>,
    pub skipped: Vec<Skipped>,
}

/// Loads every file in parallel (rayon). Order of the result is deterministic (by document id).
pub fn load_all(files: &[SourceFile], sources: &SourcesConfig) -> LoadOutcome {
    let results: Vec<(Vec<Document>, Vec<Skipped>)> = files
        .par_iter()
        .map(|f| match load_file(f, sources) {
            Ok(ok) => ok,
            Err(e) => (
                Vec::new(),
                vec![Skipped::new(&f.display_path, e.to_string())],
            ),
        })
        .collect();
    let mut out = LoadOutcome::default();
    for (docs, skipped) in results {
        out.documents.extend(docs);
        out.skipped.extend(skipped);
    }
    out.documents.sort_by(|a, b| a.id.cmp(&b.id));
    // Two roots can yield the same relative id: keep the first, report the rest.
    let mut seen = std::collections::HashSet::new();
    let mut unique = Vec::with_capacity(out.documents.len());
    for d in out.documents {
        if seen.insert(d.id.clone()) {
            unique.push(d);
        } else {
            out.skipped.push(Skipped::new(
                &d.source_path,
                format!("duplicate document id `{}`", d.id),
            ));
        }
    }
    out.documents = unique;
    out.skipped.sort_by(|a, b| a.path.cmp(&b.path));
    out
}

/// Loads one file. JSONL files yield one document per valid record plus a skip record per bad
/// line; other formats yield exactly one document.
pub fn load_file(
    f: &SourceFile,
    sources: &SourcesConfig,
) -> Result<(Vec<Document>, Vec<Skipped>), LoadError> {
    if f.size > sources.max_file_bytes {
        return Err(LoadError::TooLarge {
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
        .map_err(|e| LoadError::Io(e.to_string()))?;
    load_bytes(f, &bytes, sources)
}

/// Loads a file's bytes (already read) as `f` says: the same checks and documents as
/// [`load_file`], without touching the file system.
pub fn load_bytes(
    f: &SourceFile,
    bytes: &[u8],
    sources: &SourcesConfig,
) -> Result<(Vec<Document>, Vec<Skipped>), LoadError> {
    if bytes.is_empty() {
        return Err(LoadError::Empty);
    }
    if bytes.len() as u64 > sources.max_file_bytes {
        return Err(LoadError::TooLarge {
            size: bytes.len() as u64,
            limit: sources.max_file_bytes,
        });
    }
    let stem = file_stem(&f.path);
    let budget = Budget::for_sources(sources);
    let base = |title: String, text: String| Document {
        id: f.id.clone(),
        source_path: f.display_path.clone(),
        format: f.format,
        title: cap_title(&title),
        text,
        sections: Vec::new(),
        pages: Vec::new(),
        content_hash: sha256_hex(bytes),
        size: bytes.len() as u64,
        mtime: f.mtime,
    };
    let doc = match f.format {
        Format::Markdown => {
            let text = decode_text(bytes, "Markdown")?;
            let sections = markdown_sections(&text);
            let title = sections
                .iter()
                .find(|s| s.level == 1)
                .or(sections.first())
                .map(|s| s.title.clone())
                .unwrap_or_else(|| stem.clone());
            Document {
                sections,
                ..base(title, text)
            }
        }
        Format::Text => {
            let text = decode_text(bytes, "text")?;
            let title = text
                .lines()
                .map(str::trim)
                .find(|l| !l.is_empty())
                .filter(|l| l.chars().count() <= 120)
                .map(str::to_string)
                .unwrap_or_else(|| stem.clone());
            base(title, text)
        }
        Format::Html => {
            let source = decode_text(bytes, "HTML")?;
            let page = html::render(&source, &budget)?;
            if page.text.trim().is_empty() {
                return Err(LoadError::NoText);
            }
            let title = page.title.unwrap_or_else(|| stem.clone());
            Document {
                sections: page.sections,
                ..base(title, page.text)
            }
        }
        Format::Pdf => {
            let extracted = pdf::extract(bytes, &budget)?;
            let title = extracted.title.unwrap_or_else(|| stem.clone());
            Document {
                pages: extracted.pages,
                ..base(title, extracted.text)
            }
        }
        Format::Jsonl => return load_jsonl(f, bytes, &sources.jsonl),
    };
    Ok((vec![doc], Vec::new()))
}

/// Checks for binary content and decodes UTF-8. The text is kept byte-for-byte (offsets into it
/// are offsets into the file), except for a leading byte-order mark.
fn decode_text(bytes: &[u8], kind: &'static str) -> Result<String, LoadError> {
    let probe = &bytes[..bytes.len().min(8192)];
    if probe.contains(&0) {
        return Err(LoadError::Binary(kind));
    }
    let text = std::str::from_utf8(bytes).map_err(|e| LoadError::InvalidUtf8(e.valid_up_to()))?;
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    if text.trim().is_empty() {
        return Err(LoadError::NoText);
    }
    Ok(text.to_string())
}

fn file_stem(path: &Path) -> String {
    path.file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// Longest JSONL record id accepted (ids go into every chunk row and the manifest).
const MAX_RECORD_ID_BYTES: usize = 1024;

fn load_jsonl(
    f: &SourceFile,
    bytes: &[u8],
    cfg: &JsonlConfig,
) -> Result<(Vec<Document>, Vec<Skipped>), LoadError> {
    let mut docs = Vec::new();
    let mut skipped = Vec::new();
    let mut ids = std::collections::HashSet::new();
    for (i, line) in bytes.split(|&b| b == b'\n').enumerate() {
        let lineno = i + 1;
        let at = format!("{}:{lineno}", f.display_path);
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let text = match std::str::from_utf8(line) {
            Ok(t) => t,
            Err(e) => {
                skipped.push(Skipped::new(
                    at,
                    format!("invalid UTF-8 at byte {} of the line", e.valid_up_to()),
                ));
                continue;
            }
        };
        let value: serde_json::Value = match serde_json::from_str(text) {
            Ok(v) => v,
            Err(e) => {
                skipped.push(Skipped::new(at, format!("invalid JSON: {e}")));
                continue;
            }
        };
        let id = match value.get(&cfg.id_field) {
            Some(serde_json::Value::String(s)) if !s.is_empty() => s.clone(),
            Some(serde_json::Value::Number(n)) => n.to_string(),
            _ => {
                skipped.push(Skipped::new(
                    at,
                    format!("missing or empty id field `{}`", cfg.id_field),
                ));
                continue;
            }
        };
        if id.len() > MAX_RECORD_ID_BYTES {
            skipped.push(Skipped::new(
                at,
                format!("record id longer than {MAX_RECORD_ID_BYTES} bytes"),
            ));
            continue;
        }
        let body = match value.get(&cfg.text_field) {
            Some(serde_json::Value::String(s)) if !s.trim().is_empty() => s.clone(),
            _ => {
                skipped.push(Skipped::new(
                    at,
                    format!("missing or empty text field `{}`", cfg.text_field),
                ));
                continue;
            }
        };
        if !ids.insert(id.clone()) {
            skipped.push(Skipped::new(at, format!("duplicate record id `{id}`")));
            continue;
        }
        let own_title = cfg
            .title_field
            .as_ref()
            .and_then(|t| value.get(t))
            .and_then(|v| v.as_str())
            .filter(|t| !t.trim().is_empty())
            .map(str::to_string);
        let body = match (&own_title, cfg.title_in_text) {
            (Some(t), true) => format!("{t} {body}"),
            _ => body,
        };
        let title = cap_title(&own_title.unwrap_or_else(|| id.clone()));
        docs.push(Document {
            id: format!("{}#{id}", f.id),
            source_path: f.display_path.clone(),
            format: Format::Jsonl,
            title,
            text: body,
            sections: Vec::new(),
            pages: Vec::new(),
            content_hash: sha256_hex(line),
            size: line.len() as u64,
            mtime: f.mtime,
        });
    }
    if docs.is_empty() {
        return if skipped.is_empty() {
            Err(LoadError::NoRecords)
        } else {
            Ok((docs, skipped))
        };
    }
    Ok((docs, skipped))
}

/// Convenience for tests and tools: loads a single path as a source file.
pub fn load_path(path: &Path, sources: &SourcesConfig) -> Result<Vec<Document>, LoadError> {
    let f = SourceFile::for_path(PathBuf::from(path)).ok_or(LoadError::Io(format!(
        "unsupported file type: {}",
        path.display()
    )))?;
    load_file(&f, sources).map(|(d, _)| d)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

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
        assert_eq!(load_path(&empty, &s), Err(LoadError::Empty));
        let bin = write(dir.path(), "b.md", &[0x89, b'P', b'N', b'G', 0, 0, 1]);
        assert_eq!(load_path(&bin, &s), Err(LoadError::Binary("Markdown")));
        let latin = write(dir.path(), "l.txt", b"caf\xe9 au lait");
        assert_eq!(load_path(&latin, &s), Err(LoadError::InvalidUtf8(3)));
        let blank = write(dir.path(), "w.txt", b"  \n\n ");
        assert_eq!(load_path(&blank, &s), Err(LoadError::NoText));
    }

    #[test]
    fn too_large_is_reported() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = sources();
        s.max_file_bytes = 4;
        let p = write(dir.path(), "big.txt", b"hello world");
        assert!(matches!(
            load_path(&p, &s),
            Err(LoadError::TooLarge { size: 11, limit: 4 })
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
        assert!(skipped[0].reason.contains("invalid JSON"));
        assert!(skipped[1].reason.contains("text field"));
        assert!(skipped[2].reason.contains("duplicate"));
        assert!(skipped[3].reason.contains("UTF-8"));
    }
}
