//! What identifies an embedding model: where its files are (`ModelSource`) and everything that
//! decides its vectors (`ModelIdentity`). One type, one spelling for every key derived from it.

use std::fmt;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::{Sha256, Sha256Hasher};

/// How token vectors become one sentence vector.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Pooling {
    Mean,
    Cls,
}

impl fmt::Display for Pooling {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Pooling::Mean => "mean",
            Pooling::Cls => "cls",
        })
    }
}

impl std::str::FromStr for Pooling {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "mean" => Ok(Pooling::Mean),
            "cls" => Ok(Pooling::Cls),
            other => Err(format!("unknown pooling `{other}` (mean or cls)")),
        }
    }
}

/// Numeric precision of the encoder's linear layers (the matrix products that hold almost all of
/// its arithmetic). Attention, normalisation and pooling always run in f32.
///
/// * `f32`: the model's own weights.
/// * `bf16`: weights and activations rounded to bfloat16, products summed in f32 (AMX-BF16
///   tiles or AVX512_BF16 dot products where the CPU has them).
/// * `int8`: weights quantized per output channel at load time, activations per token
///   (asymmetric, 8 bits), products summed exactly in 32-bit integers (AMX tiles or VNNI where
///   the CPU has them).
///
/// Vectors of different precisions differ slightly, so the precision is part of the model's
/// identity, of the reuse key and of the embedding-cache key.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Precision {
    #[default]
    F32,
    Bf16,
    Int8,
}

impl Precision {
    pub const ALL: [Precision; 3] = [Precision::F32, Precision::Bf16, Precision::Int8];

    pub fn as_str(self) -> &'static str {
        match self {
            Precision::F32 => "f32",
            Precision::Bf16 => "bf16",
            Precision::Int8 => "int8",
        }
    }

    /// Whether this is the default (`f32`); keys and manifests leave the default out, so that
    /// snapshots and caches made before precisions existed keep their keys.
    pub fn is_default(&self) -> bool {
        *self == Precision::F32
    }
}

impl fmt::Display for Precision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Precision {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Precision::ALL
            .into_iter()
            .find(|p| p.as_str() == s)
            .ok_or_else(|| format!("unknown precision `{s}` (f32, bf16 or int8)"))
    }
}

/// A model resolved to a directory of files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelSource {
    /// Hub id (`org/name`), or the canonical path of a local model directory.
    pub id: String,
    /// Commit in the hub cache, or `local` for a model directory.
    pub revision: String,
    pub dir: PathBuf,
}

/// Everything that decides a model's vectors, as a snapshot's manifest records it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModelIdentity {
    pub id: String,
    pub revision: String,
    /// SHA-256 of the weights file's bytes.
    pub weights_sha256: Sha256,
    pub dim: usize,
    /// Longest input in tokens, special tokens included.
    pub max_tokens: usize,
    pub pooling: Pooling,
    pub normalize: bool,
    /// Precision of the encoder's linear layers. Left out of the manifest when `f32`, so that
    /// manifests written before precisions existed read as `f32` and f32 manifests are unchanged.
    #[serde(default, skip_serializing_if = "Precision::is_default")]
    pub precision: Precision,
}

fn short(s: &str) -> &str {
    &s[..s.len().min(12)]
}

impl ModelIdentity {
    /// Names the embedding-cache namespace of the model: entries made with another id,
    /// revision, weights, maximum length or precision are never read. The precision is a part
    /// only when it is not `f32`, so caches made before precisions existed keep their key.
    pub fn cache_key(&self) -> String {
        let mut h = Sha256Hasher::new()
            .part(&self.id)
            .part(&self.revision)
            .part(self.weights_sha256.as_str())
            .part(self.max_tokens.to_string());
        if !self.precision.is_default() {
            h = h.part(self.precision.as_str());
        }
        h.hex()[..24].to_string()
    }

    /// The model's part of a pipeline's reuse key: `id@revision#weights`, and `/precision`
    /// when it is not `f32` (so reuse keys made before precisions existed are unchanged).
    pub fn reuse_part(&self) -> String {
        let mut part = format!("{}@{}#{}", self.id, self.revision, self.weights_sha256);
        if !self.precision.is_default() {
            part.push('/');
            part.push_str(self.precision.as_str());
        }
        part
    }

    /// `id@revision` with the revision shortened, and ` (precision)` when it is not `f32`, for
    /// messages.
    pub fn short_label(&self) -> String {
        let label = format!("{}@{}", self.id, short(&self.revision));
        if self.precision.is_default() {
            label
        } else {
            format!("{label} ({})", self.precision)
        }
    }

    /// `id@revision (weights …)`, both shortened (`(int8, weights …)` when the precision is not
    /// `f32`), for messages that compare weights.
    pub fn label(&self) -> String {
        let precision = if self.precision.is_default() {
            String::new()
        } else {
            format!("{}, ", self.precision)
        };
        format!(
            "{}@{} ({precision}weights {})",
            self.id,
            short(&self.revision),
            short(self.weights_sha256.as_str())
        )
    }

    /// What differs between this model and `other` (`weights`, `dimension`, ...); empty when
    /// they are the same model.
    pub fn differences(&self, other: &ModelIdentity) -> Vec<&'static str> {
        [
            (self.weights_sha256 != other.weights_sha256, "weights"),
            (self.dim != other.dim, "dimension"),
            (self.pooling != other.pooling, "pooling"),
            (self.normalize != other.normalize, "normalisation"),
            (self.precision != other.precision, "precision"),
        ]
        .into_iter()
        .filter(|(d, _)| *d)
        .map(|(_, what)| what)
        .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn model() -> ModelIdentity {
        ModelIdentity {
            id: "org/m".into(),
            revision: "0123456789abcdef0123456789abcdef01234567".into(),
            weights_sha256: Sha256::of(b"w"),
            dim: 3,
            max_tokens: 8,
            pooling: Pooling::Mean,
            normalize: true,
            precision: Precision::F32,
        }
    }

    #[test]
    fn keys_and_labels_have_one_spelling() {
        let m = model();
        assert_eq!(m.cache_key().len(), 24);
        assert_eq!(m.short_label(), "org/m@0123456789ab");
        assert!(m.label().starts_with("org/m@0123456789ab (weights "));
        let mut other = m.clone();
        other.max_tokens = 16;
        assert_ne!(m.cache_key(), other.cache_key());
        assert!(
            m.differences(&other).is_empty(),
            "max length is not the model"
        );
        other.pooling = Pooling::Cls;
        assert_eq!(m.differences(&other), vec!["pooling"]);
        let json = serde_json::to_value(&m).unwrap();
        assert_eq!(json["pooling"], "mean");
    }

    /// The keys as they were spelt before precisions existed.
    fn keys_without_precision(m: &ModelIdentity) -> (String, String) {
        let cache = Sha256Hasher::new()
            .part(&m.id)
            .part(&m.revision)
            .part(m.weights_sha256.as_str())
            .part(m.max_tokens.to_string())
            .hex()[..24]
            .to_string();
        let reuse = format!("{}@{}#{}", m.id, m.revision, m.weights_sha256);
        (cache, reuse)
    }

    #[test]
    fn f32_keys_and_manifests_are_unchanged_by_precisions() {
        let m = model();
        assert_eq!(
            (m.cache_key(), m.reuse_part()),
            keys_without_precision(&m),
            "f32 keeps the keys of before"
        );
        let json = serde_json::to_value(&m).unwrap();
        assert!(json.get("precision").is_none(), "{json}");
        assert_eq!(m.short_label(), "org/m@0123456789ab");
        assert!(m.label().starts_with("org/m@0123456789ab (weights "));
    }

    #[test]
    fn every_precision_has_its_own_keys() {
        let keys: Vec<(String, String)> = Precision::ALL
            .into_iter()
            .map(|precision| {
                let m = ModelIdentity {
                    precision,
                    ..model()
                };
                (m.cache_key(), m.reuse_part())
            })
            .collect();
        for (i, a) in keys.iter().enumerate() {
            for b in &keys[i + 1..] {
                assert_ne!(a.0, b.0, "cache keys");
                assert_ne!(a.1, b.1, "reuse parts");
            }
        }
        let int8 = ModelIdentity {
            precision: Precision::Int8,
            ..model()
        };
        assert_eq!(int8.cache_key().len(), 24);
        assert!(
            int8.reuse_part().ends_with("/int8"),
            "{}",
            int8.reuse_part()
        );
        assert_eq!(int8.short_label(), "org/m@0123456789ab (int8)");
        assert!(int8
            .label()
            .starts_with("org/m@0123456789ab (int8, weights "));
    }

    #[test]
    fn precision_is_in_the_manifest_when_not_f32_and_old_manifests_read_as_f32() {
        let bf16 = ModelIdentity {
            precision: Precision::Bf16,
            ..model()
        };
        let json = serde_json::to_value(&bf16).unwrap();
        assert_eq!(json["precision"], "bf16");
        let back: ModelIdentity = serde_json::from_value(json).unwrap();
        assert_eq!(back, bf16);
        // A manifest written before precisions existed.
        let old = serde_json::json!({
            "id": "org/m",
            "revision": "0123456789abcdef0123456789abcdef01234567",
            "weights_sha256": Sha256::of(b"w"),
            "dim": 3,
            "max_tokens": 8,
            "pooling": "mean",
            "normalize": true,
        });
        let old: ModelIdentity = serde_json::from_value(old).unwrap();
        assert_eq!(old.precision, Precision::F32);
        assert_eq!(old, model());
    }

    #[test]
    fn differences_name_the_precision() {
        let m = model();
        let int8 = ModelIdentity {
            precision: Precision::Int8,
            ..model()
        };
        assert_eq!(m.differences(&int8), vec!["precision"]);
        assert_eq!(int8.differences(&m), vec!["precision"]);
        assert!(int8.differences(&int8.clone()).is_empty());
    }

    #[test]
    fn precisions_parse_and_print_one_spelling() {
        for p in Precision::ALL {
            assert_eq!(p.to_string().parse::<Precision>(), Ok(p));
            assert_eq!(serde_json::to_value(p).unwrap(), p.as_str());
        }
        let err = "fp16".parse::<Precision>().unwrap_err();
        assert!(err.contains("f32, bf16 or int8"), "{err}");
    }
}
