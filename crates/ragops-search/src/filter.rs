//! Filters over a fragment's rows: the columns a filter reads are decoded once per fragment
//! and kept, and a query's filter becomes the [`RowSet`] of the rows it admits, which every
//! list (BM25, the graph walk, the exact scan) applies before its top-k.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use ragops_core::filter::{Field, FieldValue, Filter};
use ragops_store::{ChunkRows, ListColumn, RowSet, TextColumn};

use crate::SearchError;

/// A decoded column, or none where the table lacks it (a step that did not run, an older
/// table): every row then lacks the field.
enum Column {
    Text(TextColumn),
    Int(Vec<Option<i64>>),
    List(ListColumn),
    Absent,
}

/// The chunk-table column behind a filter field, and how it is decoded.
fn column_of(field: &Field) -> Option<(&'static str, Kind)> {
    Some(match field {
        Field::Lang => ("lang", Kind::Text),
        Field::Tenant => ("tenant", Kind::Text),
        Field::Format => ("format", Kind::Text),
        Field::Path => ("source_path", Kind::Text),
        Field::Doc => ("doc_id", Kind::Text),
        Field::Title => ("title", Kind::Text),
        Field::Modified => ("mtime", Kind::Int),
        Field::Created => ("created", Kind::Int),
        Field::Keywords => ("keywords", Kind::List),
        Field::Acl => ("acl", Kind::List),
        Field::Meta(_) => return None,
    })
}

/// The column of one declared field, from the `metadata` column (a JSON object per row):
/// each distinct object is parsed once.
fn meta_column(rows: &ChunkRows, key: &str) -> Result<Column, SearchError> {
    let Some(all) = rows.text_column("metadata")? else {
        return Ok(Column::Absent);
    };
    let mut values: Vec<String> = Vec::new();
    let remap: Vec<u32> = all
        .values
        .iter()
        .map(|json| {
            let v = serde_json::from_str::<std::collections::BTreeMap<String, String>>(json)
                .ok()
                .and_then(|m| m.get(key).cloned());
            match v {
                Some(v) => {
                    values.push(v);
                    (values.len() - 1) as u32
                }
                None => TextColumn::NULL,
            }
        })
        .collect();
    let codes = all
        .codes
        .iter()
        .map(|&c| {
            if c == TextColumn::NULL {
                c
            } else {
                remap.get(c as usize).copied().unwrap_or(TextColumn::NULL)
            }
        })
        .collect();
    Ok(Column::Text(TextColumn { codes, values }))
}

#[derive(Clone, Copy)]
enum Kind {
    Text,
    Int,
    List,
}

/// The decoded filter columns of one fragment, loaded on first use.
#[derive(Default)]
pub(crate) struct FilterColumns {
    /// By field name as the filter language writes it (`lang`, `meta.author`).
    loaded: Mutex<HashMap<String, Arc<Column>>>,
}

impl FilterColumns {
    fn column(&self, rows: &ChunkRows, field: &Field) -> Result<Arc<Column>, SearchError> {
        let key = field.to_string();
        if let Some(c) = self.loaded.lock().ok().and_then(|m| m.get(&key).cloned()) {
            return Ok(c);
        }
        let c = Arc::new(match (field, column_of(field)) {
            (Field::Meta(name), _) => meta_column(rows, name)?,
            (_, Some((name, Kind::Text))) => {
                rows.text_column(name)?.map_or(Column::Absent, Column::Text)
            }
            (_, Some((name, Kind::Int))) => {
                rows.int_column(name)?.map_or(Column::Absent, Column::Int)
            }
            (_, Some((name, Kind::List))) => {
                rows.list_column(name)?.map_or(Column::Absent, Column::List)
            }
            (_, None) => Column::Absent,
        });
        if let Ok(mut m) = self.loaded.lock() {
            m.insert(key, Arc::clone(&c));
        }
        Ok(c)
    }

    /// The rows of the fragment that `filter` admits.
    pub(crate) fn admitted(
        &self,
        rows: &ChunkRows,
        filter: &Filter,
    ) -> Result<RowSet, SearchError> {
        let fields = filter.fields();
        let cols: Vec<(Field, Arc<Column>)> = fields
            .into_iter()
            .map(|f| self.column(rows, &f).map(|c| (f, c)))
            .collect::<Result<_, _>>()?;
        Ok(RowSet::from_fn(rows.len(), |row| {
            filter.matches(&|f: &Field| -> Vec<FieldValue<'_>> {
                let Some((_, col)) = cols.iter().find(|(g, _)| g == f) else {
                    return Vec::new();
                };
                match col.as_ref() {
                    Column::Text(c) => c.get(row).map(FieldValue::Text).into_iter().collect(),
                    Column::Int(v) => v
                        .get(row)
                        .copied()
                        .flatten()
                        .map(FieldValue::Int)
                        .into_iter()
                        .collect(),
                    Column::List(l) => l.get(row).map(FieldValue::Text).collect(),
                    Column::Absent => Vec::new(),
                }
            })
        }))
    }
}
