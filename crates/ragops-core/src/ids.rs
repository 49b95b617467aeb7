//! Typed identifiers. Each is a checked string underneath (so JSON and Parquet keep their
//! text), but a `SnapshotId` can only hold a snapshot id, a `Sha256` only 64 hex digits, and a
//! `DocId` knows which part is the file and which the JSONL record.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Why a string is not an id of the kind asked for.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{value}` is not a {kind}")]
pub struct IdError {
    pub kind: &'static str,
    pub value: String,
}

fn id_error(kind: &'static str, value: &str) -> IdError {
    IdError {
        kind,
        value: value.chars().take(80).collect(),
    }
}

macro_rules! string_id {
    ($(#[$doc:meta])* $name:ident, $kind:literal, $valid:expr) => {
        $(#[$doc])*
        #[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            /// Checks `s` and wraps it.
            pub fn parse(s: &str) -> Result<Self, IdError> {
                let valid: fn(&str) -> bool = $valid;
                if valid(s) {
                    Ok(Self(s.to_string()))
                } else {
                    Err(id_error($kind, s))
                }
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl TryFrom<String> for $name {
            type Error = IdError;
            fn try_from(s: String) -> Result<Self, IdError> {
                let valid: fn(&str) -> bool = $valid;
                if valid(&s) {
                    Ok(Self(s))
                } else {
                    Err(id_error($kind, &s))
                }
            }
        }

        impl From<$name> for String {
            fn from(id: $name) -> String {
                id.0
            }
        }

        impl std::str::FromStr for $name {
            type Err = IdError;
            fn from_str(s: &str) -> Result<Self, IdError> {
                Self::parse(s)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{:?}", self.0)
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl PartialEq<str> for $name {
            fn eq(&self, other: &str) -> bool {
                self.0 == other
            }
        }

        impl PartialEq<&str> for $name {
            fn eq(&self, other: &&str) -> bool {
                self.0 == *other
            }
        }
    };
}

/// Whether `s` has the form of a snapshot id: `YYYYMMDDTHHMMSSmmmZ-<8 hex>`.
pub fn is_snapshot_id(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 28
        && b[..8].iter().all(u8::is_ascii_digit)
        && b[8] == b'T'
        && b[9..18].iter().all(u8::is_ascii_digit)
        && b[18] == b'Z'
        && b[19] == b'-'
        && b[20..]
            .iter()
            .all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(c))
}

fn is_lower_hex(s: &str, len: usize) -> bool {
    s.len() == len
        && s.bytes()
            .all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(&c))
}

string_id!(
    /// A snapshot: `YYYYMMDDTHHMMSSmmmZ-<8 hex>` (creation time in milliseconds, so ids sort
    /// in creation order, and 8 hex digits of a hash that make them unique). It is also the
    /// name of the snapshot's directory, so only this form can ever name one.
    SnapshotId,
    "snapshot id",
    is_snapshot_id
);

/// Whether `s` can name a sharded build: 1 to 64 of `A-Z a-z 0-9 . _ -`, not starting with
/// `.` (so it is one plain path component, never `.`, `..` or a hidden name).
pub fn is_build_id(s: &str) -> bool {
    (1..=64).contains(&s.len())
        && !s.starts_with('.')
        && s.bytes()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'.' | b'_' | b'-'))
}

string_id!(
    /// A sharded build (`ragops build --shard I/N --build-id ID`, `ragops commit ID`): chosen
    /// by the coordinator, and the name of the build's directory under `builds/`, so only this
    /// form can ever name one.
    BuildId,
    "build id (1 to 64 of A-Z a-z 0-9 . _ -, not starting with '.')",
    is_build_id
);

string_id!(
    /// A chunk: 32 hex digits of `sha256(doc id, chunking hash, capacity, ordinal, start, text)`.
    ChunkId,
    "chunk id",
    |s| is_lower_hex(s, 32)
);

string_id!(
    /// A SHA-256 digest as 64 lowercase hex digits.
    Sha256,
    "SHA-256 digest",
    |s| is_lower_hex(s, 64)
);

impl ChunkId {
    /// The chunk id of hashed parts: the first 32 hex digits of their digest.
    pub fn from_parts(parts: crate::Sha256Hasher) -> Self {
        Self(parts.hex()[..32].to_string())
    }
}

impl Sha256 {
    /// The digest of `bytes`.
    pub fn of(bytes: &[u8]) -> Self {
        Self(crate::sha256_hex(bytes))
    }

    /// A computed digest.
    pub fn from_digest(digest: [u8; 32]) -> Self {
        Self(hex::encode(digest))
    }

    /// The first `n` hex digits (for display).
    pub fn short(&self, n: usize) -> &str {
        &self.0[..n.min(self.0.len())]
    }
}

/// A document: a source file's path relative to its source root (`handbook/backup.md`), plus
/// `#<record id>` for a JSONL record (`kb/faq.jsonl#faq-003`). The file part is known without
/// guessing, so a `#` in a path is never taken for a record.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(from = "String", into = "String")]
pub struct DocId {
    text: String,
    /// Length of the file part of `text`.
    file_len: usize,
}

/// Whether a file name ends in a JSONL extension (case-insensitive).
fn is_jsonl_name(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    lower.ends_with(".jsonl") || lower.ends_with(".ndjson")
}

impl DocId {
    /// The document of a whole file.
    pub fn file(path: &str) -> Self {
        Self {
            text: path.to_string(),
            file_len: path.len(),
        }
    }

    /// The document of one record of a JSONL file.
    pub fn record(file: &str, record: &str) -> Self {
        Self {
            text: format!("{file}#{record}"),
            file_len: file.len(),
        }
    }

    /// The file id part (the whole id for a file document).
    pub fn file_id(&self) -> &str {
        &self.text[..self.file_len]
    }

    /// The JSONL record id, if this is a record.
    pub fn record_id(&self) -> Option<&str> {
        self.text.get(self.file_len + 1..)
    }

    pub fn as_str(&self) -> &str {
        &self.text
    }
}

impl From<String> for DocId {
    /// Reads a stored id: the file part ends at the first `#` that follows a JSONL file name;
    /// any other `#` belongs to the path.
    fn from(text: String) -> Self {
        let file_len = text
            .match_indices('#')
            .map(|(i, _)| i)
            .find(|&i| is_jsonl_name(&text[..i]))
            .unwrap_or(text.len());
        Self { text, file_len }
    }
}

impl From<&str> for DocId {
    fn from(text: &str) -> Self {
        DocId::from(text.to_string())
    }
}

impl From<DocId> for String {
    fn from(id: DocId) -> String {
        id.text
    }
}

impl fmt::Display for DocId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl fmt::Debug for DocId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.text)
    }
}

impl AsRef<str> for DocId {
    fn as_ref(&self) -> &str {
        &self.text
    }
}

impl PartialEq<str> for DocId {
    fn eq(&self, other: &str) -> bool {
        self.text == other
    }
}

impl PartialEq<&str> for DocId {
    fn eq(&self, other: &&str) -> bool {
        self.text == *other
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snapshot_ids_are_checked() {
        let a = SnapshotId::parse("20251202T000000123Z-ab12cd34").unwrap();
        assert!(SnapshotId::parse("../../x").is_err());
        assert!(SnapshotId::parse("20261201T101010123Z-AB12CD34").is_err());
        let json = serde_json::to_string(&a).unwrap();
        assert_eq!(json, "\"20251202T000000123Z-ab12cd34\"");
        assert_eq!(serde_json::from_str::<SnapshotId>(&json).unwrap(), a);
        assert!(serde_json::from_str::<SnapshotId>("\"/etc\"").is_err());
    }

    #[test]
    fn doc_ids_know_their_file() {
        let r = DocId::record("kb/faq.jsonl", "faq#3");
        assert_eq!(
            (r.file_id(), r.record_id()),
            ("kb/faq.jsonl", Some("faq#3"))
        );
        let back = DocId::from(r.as_str().to_string());
        assert_eq!(back, r);
        assert_eq!(back.file_id(), "kb/faq.jsonl");
        // A `#` in a path is part of the path.
        let f = DocId::from("docs/c#/notes.md");
        assert_eq!((f.file_id(), f.record_id()), ("docs/c#/notes.md", None));
        let g = DocId::from("a.md#b.md");
        assert_eq!(g.file_id(), "a.md#b.md");
    }

    #[test]
    fn digests_and_chunk_ids_are_checked() {
        let d = Sha256::of(b"abc");
        assert_eq!(d.short(8), "ba7816bf");
        assert!(Sha256::parse("xyz").is_err());
        assert!(ChunkId::parse(&"a".repeat(32)).is_ok());
        assert!(ChunkId::parse(&"a".repeat(31)).is_err());
    }
}
