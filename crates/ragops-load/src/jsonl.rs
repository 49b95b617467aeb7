//! JSONL: one document per line, with the configured id, text and title fields.

use ragops_core::{DocId, Document, Format, JsonlConfig, Sha256, SkipReason, Skipped};

use crate::{cap_title, Loaded, SourceFile};

/// A bad line: skipped with where it is and why.
fn bad(at: String, detail: String) -> Skipped {
    Skipped::new(at, SkipReason::BadRecord { detail })
}

/// Longest JSONL record id accepted (ids go into every chunk row and the manifest).
const MAX_RECORD_ID_BYTES: usize = 1024;

pub(crate) fn load_jsonl(
    f: &SourceFile,
    bytes: &[u8],
    cfg: &JsonlConfig,
) -> Result<Loaded, SkipReason> {
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
                skipped.push(bad(
                    at,
                    format!("invalid UTF-8 at byte {} of the line", e.valid_up_to()),
                ));
                continue;
            }
        };
        let value: serde_json::Value = match serde_json::from_str(text) {
            Ok(v) => v,
            Err(e) => {
                skipped.push(bad(at, format!("invalid JSON: {e}")));
                continue;
            }
        };
        let id = match value.get(&cfg.id_field) {
            Some(serde_json::Value::String(s)) if !s.is_empty() => s.clone(),
            Some(serde_json::Value::Number(n)) => n.to_string(),
            _ => {
                skipped.push(bad(
                    at,
                    format!("missing or empty id field `{}`", cfg.id_field),
                ));
                continue;
            }
        };
        if id.len() > MAX_RECORD_ID_BYTES {
            skipped.push(bad(
                at,
                format!("record id longer than {MAX_RECORD_ID_BYTES} bytes"),
            ));
            continue;
        }
        let body = match value.get(&cfg.text_field) {
            Some(serde_json::Value::String(s)) if !s.trim().is_empty() => s.clone(),
            _ => {
                skipped.push(bad(
                    at,
                    format!("missing or empty text field `{}`", cfg.text_field),
                ));
                continue;
            }
        };
        if !ids.insert(id.clone()) {
            skipped.push(bad(at, format!("duplicate record id `{id}`")));
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
        let metadata = cfg
            .metadata_fields
            .iter()
            .filter_map(|name| Some((name.clone(), metadata_value(value.get(name)?)?)))
            .collect();
        docs.push(Document {
            id: DocId::record(&f.id, &id),
            source_path: f.display_path.clone(),
            format: Format::Jsonl,
            title,
            text: body,
            sections: Vec::new(),
            pages: Vec::new(),
            content_hash: Sha256::of(line),
            size: line.len() as u64,
            mtime: f.mtime,
            metadata,
        });
    }
    if docs.is_empty() {
        return if skipped.is_empty() {
            Err(SkipReason::NoRecords)
        } else {
            Ok((docs, skipped))
        };
    }
    Ok((docs, skipped))
}

/// A JSON value as declared metadata: scalars as text, a list of scalars as its items joined
/// by commas; objects and nested lists are not metadata.
fn metadata_value(v: &serde_json::Value) -> Option<String> {
    use serde_json::Value;
    let scalar = |v: &Value| match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    };
    match v {
        Value::Array(items) => Some(
            items
                .iter()
                .filter_map(scalar)
                .collect::<Vec<_>>()
                .join(","),
        ),
        other => scalar(other),
    }
}
