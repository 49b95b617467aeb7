//! The settings that differ between two configurations, as dotted keys.

use serde::{Deserialize, Serialize};

/// One setting that differs between two configurations.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConfigChange {
    /// Dotted key, e.g. `chunking.size`.
    pub key: String,
    pub old: serde_json::Value,
    pub new: serde_json::Value,
}

/// The leaf settings that differ between two JSON configurations (missing = null).
pub fn config_diff(old: &serde_json::Value, new: &serde_json::Value) -> Vec<ConfigChange> {
    fn walk(
        prefix: &str,
        a: &serde_json::Value,
        b: &serde_json::Value,
        out: &mut Vec<ConfigChange>,
    ) {
        use serde_json::Value;
        match (a, b) {
            (Value::Object(x), Value::Object(y)) => {
                let keys: std::collections::BTreeSet<&String> = x.keys().chain(y.keys()).collect();
                for k in keys {
                    let key = if prefix.is_empty() {
                        k.clone()
                    } else {
                        format!("{prefix}.{k}")
                    };
                    walk(
                        &key,
                        x.get(k).unwrap_or(&Value::Null),
                        y.get(k).unwrap_or(&Value::Null),
                        out,
                    );
                }
            }
            _ if a != b => out.push(ConfigChange {
                key: prefix.to_string(),
                old: a.clone(),
                new: b.clone(),
            }),
            _ => {}
        }
    }
    let mut out = Vec::new();
    walk("", old, new, &mut out);
    out
}
