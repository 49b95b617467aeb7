//! The `metadata` step: a document's declared metadata (Markdown front matter, the JSONL
//! fields the loader kept), its tenant and ACL, and a declared date; front matter is taken out
//! of the text before chunking, with every offset moved.
//!
//! Front matter is the block at the very start of a Markdown file between `---` lines (YAML)
//! or `+++` lines (TOML). YAML is read as flat `key: value` lines, with `[a, b]` and `- item`
//! lists; nested maps are not metadata. TOML is read with the toml crate, its top-level
//! scalars and lists kept.

use std::collections::BTreeMap;

use ragops_core::{Document, Format, MetadataConfig};

/// Longest front matter read, in bytes: a longer block is left in the text.
const MAX_FRONT_MATTER: usize = 64 * 1024;

/// What the step found for one document; copied onto each of its chunks.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DocMetadata {
    pub tenant: Option<String>,
    pub acl: Vec<String>,
    /// A declared date (`date`, `created`, `published`), Unix seconds.
    pub created: Option<i64>,
    /// Declared fields, by name (the kept ones: `[enrich.metadata] fields`, all when empty).
    pub fields: BTreeMap<String, String>,
}

/// Runs the step on a document before it is chunked.
pub fn apply(cfg: &MetadataConfig, doc: &mut Document, doc_path: &str) -> DocMetadata {
    let mut declared = doc.metadata.clone();
    if doc.format == Format::Markdown {
        if let Some((fields, len)) = front_matter(&doc.text) {
            strip_prefix(doc, len);
            for (k, v) in fields {
                declared.entry(k).or_insert(v);
            }
        }
    }
    let tenant = declared
        .get(&cfg.tenant_field)
        .filter(|t| !t.trim().is_empty())
        .map(|t| t.trim().to_string())
        .or_else(|| {
            cfg.tenant_from_path
                .as_deref()
                .and_then(|p| tenant_from_path(p, doc_path))
        });
    let acl = declared
        .get(&cfg.acl_field)
        .map(|a| {
            a.split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default();
    let created = ["date", "created", "published"]
        .iter()
        .find_map(|k| declared.get(*k))
        .and_then(|d| ragops_core::filter::parse_date(d.trim()));
    let fields = declared
        .into_iter()
        .filter(|(k, _)| cfg.fields.is_empty() || cfg.fields.contains(k))
        .collect();
    DocMetadata {
        tenant,
        acl,
        created,
        fields,
    }
}

/// Removes the first `len` bytes of the text, moving section and page offsets with them.
fn strip_prefix(doc: &mut Document, len: usize) {
    doc.text.drain(..len);
    doc.sections.retain(|s| s.byte_start >= len);
    for s in &mut doc.sections {
        s.byte_start -= len;
    }
    for p in &mut doc.pages {
        p.byte_start = p.byte_start.saturating_sub(len);
    }
}

/// The front matter's fields and the byte length of the block (with its closing line).
fn front_matter(text: &str) -> Option<(BTreeMap<String, String>, usize)> {
    let (fence, toml) = if text.starts_with("---\n") || text.starts_with("---\r\n") {
        ("---", false)
    } else if text.starts_with("+++\n") || text.starts_with("+++\r\n") {
        ("+++", true)
    } else {
        return None;
    };
    let body_start = text.find('\n')? + 1;
    let mut at = body_start;
    for line in text[body_start..].split_inclusive('\n') {
        if at - body_start > MAX_FRONT_MATTER {
            return None;
        }
        if line.trim_end() == fence {
            let body = &text[body_start..at];
            let fields = if toml {
                toml_fields(body)?
            } else {
                yaml_fields(body)
            };
            return Some((fields, at + line.len()));
        }
        at += line.len();
    }
    None
}

fn toml_fields(body: &str) -> Option<BTreeMap<String, String>> {
    let table: toml::Table = body.parse().ok()?;
    let scalar = |v: &toml::Value| match v {
        toml::Value::String(s) => Some(s.clone()),
        toml::Value::Integer(i) => Some(i.to_string()),
        toml::Value::Float(f) => Some(f.to_string()),
        toml::Value::Boolean(b) => Some(b.to_string()),
        toml::Value::Datetime(d) => Some(d.to_string()),
        _ => None,
    };
    Some(
        table
            .iter()
            .filter_map(|(k, v)| {
                let value = match v {
                    toml::Value::Array(items) => items
                        .iter()
                        .filter_map(scalar)
                        .collect::<Vec<_>>()
                        .join(","),
                    other => scalar(other)?,
                };
                Some((k.clone(), value))
            })
            .collect(),
    )
}

/// Flat YAML: `key: value`, `key: [a, b]`, and `key:` followed by `- item` lines.
fn yaml_fields(body: &str) -> BTreeMap<String, String> {
    let unquote = |v: &str| {
        let v = v.trim();
        let quoted = v.len() >= 2
            && ((v.starts_with('"') && v.ends_with('"'))
                || (v.starts_with('\'') && v.ends_with('\'')));
        if quoted { &v[1..v.len() - 1] } else { v }.to_string()
    };
    let mut out = BTreeMap::new();
    let mut list: Option<(String, Vec<String>)> = None;
    for line in body.lines() {
        if line.trim_start().starts_with('#') || line.trim().is_empty() {
            continue;
        }
        if let Some(item) = line.trim_start().strip_prefix("- ") {
            if let Some((_, items)) = list.as_mut() {
                items.push(unquote(item));
            }
            continue;
        }
        if let Some((k, items)) = list.take().filter(|(_, items)| !items.is_empty()) {
            out.insert(k, items.join(","));
        }
        if line.starts_with([' ', '\t']) {
            continue; // a nested map's line
        }
        let Some((key, value)) = line.split_once(':') else {
            continue;
        };
        let key = key.trim().to_string();
        let value = value.trim();
        if value.is_empty() {
            list = Some((key, Vec::new()));
        } else if let Some(inner) = value.strip_prefix('[').and_then(|v| v.strip_suffix(']')) {
            let items: Vec<String> = inner
                .split(',')
                .map(unquote)
                .filter(|s| !s.is_empty())
                .collect();
            out.insert(key, items.join(","));
        } else {
            out.insert(key, unquote(value));
        }
    }
    if let Some((k, items)) = list.filter(|(_, items)| !items.is_empty()) {
        out.insert(k, items.join(","));
    }
    out
}

/// The tenant a path pattern captures: `{tenant}/**` on `acme/docs/a.md` gives `acme`.
/// Segments match literally, `*` matches one segment, `**` the rest; `{tenant}` matches a
/// directory, never the file name.
pub fn tenant_from_path(pattern: &str, path: &str) -> Option<String> {
    let mut segs = path
        .split('/')
        .filter(|s| !s.is_empty() && *s != ".")
        .peekable();
    let mut tenant = None;
    for p in pattern.split('/').filter(|s| !s.is_empty()) {
        if p == "**" {
            return tenant;
        }
        let seg = segs.next()?;
        match p {
            // a directory: the file name itself is never a tenant
            "{tenant}" if segs.peek().is_some() => tenant = Some(seg.to_string()),
            "{tenant}" => return None,
            "*" => {}
            lit if lit == seg => {}
            _ => return None,
        }
    }
    segs.next().is_none().then_some(tenant).flatten()
}

#[cfg(test)]
mod tests {
    use super::*;
    use ragops_core::{DocId, PageSpan, Section, Sha256};

    fn doc(text: &str) -> Document {
        Document {
            id: DocId::from("a.md"),
            source_path: "a.md".into(),
            format: Format::Markdown,
            title: "A".into(),
            text: text.into(),
            sections: Vec::new(),
            pages: Vec::<PageSpan>::new(),
            content_hash: Sha256::of(text.as_bytes()),
            size: text.len() as u64,
            mtime: None,
            metadata: BTreeMap::new(),
        }
    }

    #[test]
    fn yaml_front_matter_is_read_and_taken_out_of_the_text() {
        let text = "---\ntitle: Billing\ntenant: acme\nacl: [finance, \"ops\"]\ndate: 2026-02-03\ntags:\n  - a\n  - b\nnested:\n  x: 1\n---\n# Billing\n\nText.\n";
        let mut d = doc(text);
        let at = text.find("# Billing").unwrap();
        d.sections = vec![Section {
            byte_start: at,
            level: 1,
            title: "Billing".into(),
        }];
        let m = apply(&MetadataConfig::default(), &mut d, "acme/billing.md");
        assert_eq!(d.text, "# Billing\n\nText.\n");
        assert_eq!(d.sections[0].byte_start, 0);
        assert_eq!(m.tenant.as_deref(), Some("acme"));
        assert_eq!(m.acl, vec!["finance", "ops"]);
        assert_eq!(m.created, ragops_core::filter::parse_date("2026-02-03"));
        assert_eq!(m.fields["tags"], "a,b");
        assert!(!m.fields.contains_key("nested"), "{:?}", m.fields);
        assert!(!m.fields.contains_key("x"));
    }

    #[test]
    fn toml_front_matter_and_path_tenants() {
        let mut d = doc("+++\nauthor = \"Jane\"\nacl = [\"hr\"]\n+++\nBody.\n");
        let cfg = MetadataConfig {
            tenant_from_path: Some("{tenant}/**".into()),
            ..MetadataConfig::default()
        };
        let m = apply(&cfg, &mut d, "globex/hr/a.md");
        assert_eq!(d.text, "Body.\n");
        assert_eq!(m.fields["author"], "Jane");
        assert_eq!(m.acl, vec!["hr"]);
        assert_eq!(m.tenant.as_deref(), Some("globex"));
        assert_eq!(
            tenant_from_path("docs/{tenant}/*.md", "docs/acme/a.md"),
            None
        );
        assert_eq!(
            tenant_from_path("docs/{tenant}/*", "docs/acme/a.md"),
            Some("acme".into())
        );
        assert_eq!(tenant_from_path("{tenant}/**", "a.md"), None);
    }

    #[test]
    fn text_without_closed_front_matter_is_left_alone() {
        let mut d = doc("---\ntitle: x\nno end\n");
        let m = apply(&MetadataConfig::default(), &mut d, "a.md");
        assert_eq!(d.text, "---\ntitle: x\nno end\n");
        assert!(m.fields.is_empty());
        let mut d = doc("Intro\n---\nk: v\n---\n");
        apply(&MetadataConfig::default(), &mut d, "a.md");
        assert!(d.text.starts_with("Intro"));
    }
}
