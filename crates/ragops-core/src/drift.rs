//! Comparing two sets of identified things: the source walk with a manifest (build, check), or
//! one manifest's documents with another's (diff). Written once, used by all three.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

/// What changed between `before` and `after`, by id. Each list is sorted.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct SourceDiff {
    pub added: Vec<String>,
    pub changed: Vec<String>,
    pub deleted: Vec<String>,
    pub unchanged: Vec<String>,
}

impl SourceDiff {
    /// Compares two sets of `(id, value)`: an id in both with equal values is unchanged, with
    /// different values changed. Values are what decides "the same" for the caller: a content
    /// hash, or a hash and a path.
    pub fn between<K, V>(
        before: impl IntoIterator<Item = (K, V)>,
        after: impl IntoIterator<Item = (K, V)>,
    ) -> SourceDiff
    where
        K: AsRef<str>,
        V: PartialEq,
    {
        let before: BTreeMap<String, V> = before
            .into_iter()
            .map(|(k, v)| (k.as_ref().to_string(), v))
            .collect();
        let mut seen = BTreeSet::new();
        let mut d = SourceDiff::default();
        for (k, v) in after {
            let k = k.as_ref().to_string();
            match before.get(&k) {
                None => d.added.push(k.clone()),
                Some(old) if *old != v => d.changed.push(k.clone()),
                Some(_) => d.unchanged.push(k.clone()),
            }
            seen.insert(k);
        }
        d.deleted = before
            .keys()
            .filter(|k| !seen.contains(*k))
            .cloned()
            .collect();
        for list in [&mut d.added, &mut d.changed, &mut d.unchanged] {
            list.sort();
            list.dedup();
        }
        d
    }

    /// No id added, changed or deleted.
    pub fn is_unchanged(&self) -> bool {
        self.added.is_empty() && self.changed.is_empty() && self.deleted.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn adds_changes_deletes_and_keeps() {
        let before = [("a", 1), ("b", 2), ("c", 3)];
        let after = [("b", 2), ("c", 4), ("d", 5)];
        let d = SourceDiff::between(before, after);
        assert_eq!(d.added, vec!["d"]);
        assert_eq!(d.changed, vec!["c"]);
        assert_eq!(d.deleted, vec!["a"]);
        assert_eq!(d.unchanged, vec!["b"]);
        assert!(!d.is_unchanged());
        assert!(SourceDiff::between(before, before).is_unchanged());
        assert!(SourceDiff::between::<&str, u8>([], []).is_unchanged());
    }
}
