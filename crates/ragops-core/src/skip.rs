//! Why a source was not indexed, typed from the loader to the manifest.
//!
//! A skip record is stored as `{"path": ..., "reason": "<message>", "kind": "<kind>", ...}`:
//! `reason` is the message people read, `kind` and the fields after it are what programs
//! match on. Records written before `kind` existed read back as [`SkipReason::Other`].

use std::fmt;

use serde::{Deserialize, Serialize};

/// Why a source (file, JSONL line, source root) was skipped.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum SkipReason {
    /// The file could not be read.
    Unreadable {
        detail: String,
    },
    Empty,
    TooLarge {
        size: u64,
        limit: u64,
    },
    Binary {
        format: String,
    },
    InvalidUtf8 {
        at: usize,
    },
    NoText,
    /// The PDF could not be used (corrupt, encrypted, no text layer...).
    Pdf {
        detail: String,
    },
    NoRecords,
    /// A PDF whose pages show no text (scanned, image-only); OCR is not done.
    NoTextLayer {
        pages: u32,
    },
    TooManyPages {
        limit: u32,
    },
    Inflated {
        limit: u64,
    },
    Timeout {
        seconds: u64,
    },
    TooDeep {
        limit: usize,
    },
    /// The file's extension is not a supported format.
    Unsupported,
    /// A source root that cannot be read.
    RootUnreadable {
        detail: String,
    },
    /// A symbolic link that leads out of its source root.
    OutsideRoot,
    /// A bad include or exclude glob in `[sources]`.
    BadGlob {
        detail: String,
    },
    /// A JSONL line that is not a record.
    BadRecord {
        detail: String,
    },
    DuplicateId {
        id: String,
    },
    /// A skip record read from a manifest written before skip reasons were typed.
    Other {
        detail: String,
    },
}

impl fmt::Display for SkipReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SkipReason::Unreadable { detail } => write!(f, "cannot read file: {detail}"),
            SkipReason::Empty => f.write_str("empty file"),
            SkipReason::TooLarge { size, limit } => write!(
                f,
                "file is {size} bytes, over the limit of {limit} bytes ([sources] max_file_bytes)"
            ),
            SkipReason::Binary { format } => {
                write!(f, "binary content (NUL bytes), not a {format} file")
            }
            SkipReason::InvalidUtf8 { at } => write!(f, "invalid UTF-8 at byte {at}"),
            SkipReason::NoText => f.write_str("no text content"),
            SkipReason::Pdf { detail } => write!(f, "PDF: {detail}"),
            SkipReason::NoRecords => f.write_str("no valid records in JSONL file"),
            SkipReason::NoTextLayer { pages } => {
                write!(f, "PDF: no text layer (scanned?) in {pages} page(s)")
            }
            SkipReason::TooManyPages { limit } => {
                write!(f, "more than {limit} pages ([sources] max_pages)")
            }
            SkipReason::Inflated { limit } => write!(
                f,
                "compressed streams inflate to more than {limit} bytes ([sources] max_inflated_bytes)"
            ),
            SkipReason::Timeout { seconds } => write!(
                f,
                "loading took longer than {seconds} s ([sources] max_load_seconds)"
            ),
            SkipReason::TooDeep { limit } => write!(f, "HTML nested deeper than {limit} elements"),
            SkipReason::Unsupported => {
                f.write_str("unsupported file type (supported: md, txt, html, pdf, jsonl)")
            }
            SkipReason::RootUnreadable { detail } => {
                write!(f, "source path not readable: {detail}")
            }
            SkipReason::OutsideRoot => f.write_str(
                "symbolic link to outside the source root (set [sources] follow_links = true \
                 to index it)",
            ),
            SkipReason::BadGlob { detail } => f.write_str(detail),
            SkipReason::BadRecord { detail } => f.write_str(detail),
            SkipReason::DuplicateId { id } => write!(f, "duplicate document id `{id}`"),
            SkipReason::Other { detail } => f.write_str(detail),
        }
    }
}

/// A source that was not indexed, with the reason. Listed in the build report and manifest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skipped {
    pub path: String,
    pub reason: SkipReason,
}

impl Skipped {
    pub fn new(path: impl Into<String>, reason: SkipReason) -> Self {
        Self {
            path: path.into(),
            reason,
        }
    }
}

impl Serialize for Skipped {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::{Error, SerializeMap};
        let typed = serde_json::to_value(&self.reason).map_err(S::Error::custom)?;
        let fields = typed.as_object().cloned().unwrap_or_default();
        let mut map = s.serialize_map(Some(2 + fields.len()))?;
        map.serialize_entry("path", &self.path)?;
        map.serialize_entry("reason", &self.reason.to_string())?;
        for (k, v) in &fields {
            map.serialize_entry(k, v)?;
        }
        map.end()
    }
}

impl<'de> Deserialize<'de> for Skipped {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        let mut map = serde_json::Map::deserialize(d)?;
        let path = match map.remove("path") {
            Some(serde_json::Value::String(p)) => p,
            _ => return Err(D::Error::missing_field("path")),
        };
        let message = match map.remove("reason") {
            Some(serde_json::Value::String(r)) => r,
            _ => String::new(),
        };
        let reason = if map.contains_key("kind") {
            serde_json::from_value(serde_json::Value::Object(map)).map_err(D::Error::custom)?
        } else {
            SkipReason::Other { detail: message }
        };
        Ok(Skipped { path, reason })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn skip_records_keep_their_type_and_message() {
        let s = Skipped::new("docs/big.txt", SkipReason::TooLarge { size: 10, limit: 4 });
        let v = serde_json::to_value(&s).unwrap();
        assert_eq!(v["kind"], "too_large");
        assert_eq!(v["size"], 10);
        assert!(v["reason"].as_str().unwrap().contains("over the limit"));
        let back: Skipped = serde_json::from_value(v).unwrap();
        assert_eq!(back, s);
        let plain = Skipped::new("x.md", SkipReason::Empty);
        assert_eq!(
            serde_json::to_value(&plain).unwrap(),
            serde_json::json!({"path": "x.md", "reason": "empty file", "kind": "empty"})
        );
    }

    #[test]
    fn records_of_older_manifests_read_as_other() {
        let old = serde_json::json!({"path": "a.pdf", "reason": "PDF: encrypted"});
        let s: Skipped = serde_json::from_value(old).unwrap();
        assert_eq!(s.reason.to_string(), "PDF: encrypted");
        assert!(matches!(s.reason, SkipReason::Other { .. }));
    }
}
