//! SHA-256 helpers. Every id and content hash in ragops is lowercase hex SHA-256 (or a prefix).

use sha2::{Digest, Sha256};

/// Hex SHA-256 of a byte slice.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// Incremental hasher for composite keys. Each part is length-prefixed so that
/// `("ab", "c")` and `("a", "bc")` never collide.
#[derive(Default, Clone)]
pub struct Sha256Hasher(Sha256);

impl Sha256Hasher {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds one length-prefixed part.
    pub fn part(mut self, bytes: impl AsRef<[u8]>) -> Self {
        let bytes = bytes.as_ref();
        self.0.update((bytes.len() as u64).to_le_bytes());
        self.0.update(bytes);
        self
    }

    pub fn hex(self) -> String {
        hex::encode(self.0.finalize())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_vector() {
        assert_eq!(
            sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn parts_are_length_prefixed() {
        let a = Sha256Hasher::new().part("ab").part("c").hex();
        let b = Sha256Hasher::new().part("a").part("bc").hex();
        assert_ne!(a, b);
        assert_eq!(a, Sha256Hasher::new().part("ab").part("c").hex());
    }
}
