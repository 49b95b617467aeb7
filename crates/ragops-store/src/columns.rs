//! Whole columns of a chunk table, decoded for filters: one column read at a time (the
//! projection skips every other column's pages), strings interned.

use arrow_array::{Array, BinaryArray, Int64Array, ListArray, StringArray};

use crate::chunks::ChunkRows;
use crate::rowset::{Interner, ListColumn, TextColumn};
use crate::StoreError;

impl ChunkRows {
    /// Whether the table has a column of that name (enrichment columns are absent in tables
    /// written before their step existed).
    pub fn has_column(&self, name: &str) -> bool {
        self.column_index(name).is_some()
    }

    /// A string column, interned; `None` when the table has no such column.
    pub fn text_column(&self, name: &str) -> Result<Option<TextColumn>, StoreError> {
        if !self.has_column(name) {
            return Ok(None);
        }
        let mut interner = Interner::default();
        let mut codes = Vec::with_capacity(self.len());
        for batch in self.column_batches(name)? {
            let batch = batch?;
            let col = self.typed::<StringArray>(&batch, name)?;
            for i in 0..col.len() {
                codes.push(if col.is_valid(i) {
                    interner.code(col.value(i))
                } else {
                    TextColumn::NULL
                });
            }
        }
        Ok(Some(TextColumn {
            codes,
            values: interner.into_values(),
        }))
    }

    /// An Int64 column (times in Unix seconds); `None` when the table has no such column.
    pub fn int_column(&self, name: &str) -> Result<Option<Vec<Option<i64>>>, StoreError> {
        if !self.has_column(name) {
            return Ok(None);
        }
        let mut out = Vec::with_capacity(self.len());
        for batch in self.column_batches(name)? {
            let batch = batch?;
            let col = self.typed::<Int64Array>(&batch, name)?;
            out.extend((0..col.len()).map(|i| col.is_valid(i).then(|| col.value(i))));
        }
        Ok(Some(out))
    }

    /// A List<Utf8> column, interned; `None` when the table has no such column.
    pub fn list_column(&self, name: &str) -> Result<Option<ListColumn>, StoreError> {
        if !self.has_column(name) {
            return Ok(None);
        }
        let mut interner = Interner::default();
        let mut rows = Vec::with_capacity(self.len());
        for batch in self.column_batches(name)? {
            let batch = batch?;
            let col = self.typed::<ListArray>(&batch, name)?;
            for i in 0..col.len() {
                if !col.is_valid(i) {
                    rows.push(Vec::new());
                    continue;
                }
                let items = col.value(i);
                let items = items
                    .as_any()
                    .downcast_ref::<StringArray>()
                    .ok_or_else(|| self.error(format!("{name} items are not Utf8")))?;
                rows.push(
                    (0..items.len())
                        .filter(|&j| items.is_valid(j))
                        .map(|j| interner.code(items.value(j)))
                        .collect(),
                );
            }
        }
        Ok(Some(ListColumn {
            rows,
            values: interner.into_values(),
        }))
    }

    /// A Binary column, row by row (`None` for a null); `None` when the table has no such
    /// column.
    #[allow(clippy::type_complexity)]
    pub fn binary_column(&self, name: &str) -> Result<Option<Vec<Option<Vec<u8>>>>, StoreError> {
        if !self.has_column(name) {
            return Ok(None);
        }
        let mut out = Vec::with_capacity(self.len());
        for batch in self.column_batches(name)? {
            let batch = batch?;
            let col = self.typed::<BinaryArray>(&batch, name)?;
            out.extend((0..col.len()).map(|i| col.is_valid(i).then(|| col.value(i).to_vec())));
        }
        Ok(Some(out))
    }
}
