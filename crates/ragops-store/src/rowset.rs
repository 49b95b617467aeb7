//! Sets of rows of a fragment (the rows a query's filter admits), and the columns filters
//! read, decoded compactly: strings as dictionary codes, times as integers.

/// A set of row numbers below `len`, one bit per row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowSet {
    len: usize,
    words: Vec<u64>,
}

impl RowSet {
    /// No row of `len`.
    pub fn empty(len: usize) -> Self {
        Self {
            len,
            words: vec![0; len.div_ceil(64)],
        }
    }

    /// The rows for which `keep` is true.
    pub fn from_fn(len: usize, keep: impl Fn(usize) -> bool) -> Self {
        let mut s = Self::empty(len);
        for row in 0..len {
            if keep(row) {
                s.words[row / 64] |= 1 << (row % 64);
            }
        }
        s
    }

    pub fn contains(&self, row: usize) -> bool {
        row < self.len && self.words[row / 64] & (1 << (row % 64)) != 0
    }

    /// Rows in the set.
    pub fn count(&self) -> usize {
        self.words.iter().map(|w| w.count_ones() as usize).sum()
    }

    /// Rows the set is over (the fragment's row count).
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.count() == 0
    }
}

/// A string column decoded to codes into a dictionary of its distinct values: a row's value
/// is `values[codes[row]]`, [`TextColumn::NULL`] for none. Repeated values (a document's
/// fields on each of its chunks, languages, tenants) cost four bytes a row.
#[derive(Debug, Clone, Default)]
pub struct TextColumn {
    pub codes: Vec<u32>,
    pub values: Vec<String>,
}

impl TextColumn {
    pub const NULL: u32 = u32::MAX;

    pub fn get(&self, row: usize) -> Option<&str> {
        let c = *self.codes.get(row)?;
        (c != Self::NULL)
            .then(|| self.values.get(c as usize).map(String::as_str))
            .flatten()
    }
}

/// A list-of-strings column (keywords, ACL entries) as dictionary codes per row.
#[derive(Debug, Clone, Default)]
pub struct ListColumn {
    pub rows: Vec<Vec<u32>>,
    pub values: Vec<String>,
}

impl ListColumn {
    pub fn get(&self, row: usize) -> impl Iterator<Item = &str> {
        self.rows
            .get(row)
            .into_iter()
            .flatten()
            .filter_map(|&c| self.values.get(c as usize).map(String::as_str))
    }
}

/// Interns strings into a dictionary.
#[derive(Default)]
pub(crate) struct Interner {
    values: Vec<String>,
    index: std::collections::HashMap<String, u32>,
}

impl Interner {
    pub(crate) fn code(&mut self, v: &str) -> u32 {
        if let Some(&c) = self.index.get(v) {
            return c;
        }
        let c = self.values.len() as u32;
        self.values.push(v.to_string());
        self.index.insert(v.to_string(), c);
        c
    }

    pub(crate) fn into_values(self) -> Vec<String> {
        self.values
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rowsets_hold_exactly_their_rows() {
        let s = RowSet::from_fn(130, |r| r % 3 == 0);
        assert_eq!(s.count(), 44);
        assert!(s.contains(0) && s.contains(129) && !s.contains(128));
        assert!(!s.contains(130), "past the end");
        assert!(RowSet::empty(5).is_empty());
    }

    #[test]
    fn interned_columns_read_back() {
        let mut i = Interner::default();
        let codes = vec![i.code("en"), i.code("de"), TextColumn::NULL, i.code("en")];
        let c = TextColumn {
            codes,
            values: i.into_values(),
        };
        assert_eq!(c.values.len(), 2);
        assert_eq!(
            (0..5).map(|r| c.get(r)).collect::<Vec<_>>(),
            vec![Some("en"), Some("de"), None, Some("en"), None]
        );
    }
}
