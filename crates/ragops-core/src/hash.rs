//! SHA-256 helpers. Every id and content hash in ragops is lowercase hex SHA-256 (or a prefix).

use std::io::Read;
use std::path::Path;

use sha2::{Digest, Sha256};

/// Hex SHA-256 of a byte slice.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// Size and SHA-256 of a file's bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileDigest {
    pub bytes: u64,
    pub sha256: crate::Sha256,
}

/// Buffer of [`sha256_reader`]: memory stays at this size whatever the input.
const HASH_BUF: usize = 1 << 20;

/// Hashes everything `r` yields in 1 MiB reads: memory does not grow with the input.
pub fn sha256_reader(mut r: impl Read) -> std::io::Result<FileDigest> {
    let mut h = Sha256::new();
    let mut buf = vec![0u8; HASH_BUF];
    let mut bytes = 0u64;
    loop {
        let n = match r.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        h.update(&buf[..n]);
        bytes += n as u64;
    }
    Ok(FileDigest {
        bytes,
        sha256: crate::Sha256::from_digest(h.finalize().into()),
    })
}

/// Streams a file through SHA-256 (never reads it into memory whole).
pub fn sha256_file(path: &Path) -> std::io::Result<FileDigest> {
    sha256_reader(std::fs::File::open(path)?)
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
    fn streaming_hash_equals_in_memory_hash() {
        let data: Vec<u8> = (0..(3 * HASH_BUF + 17)).map(|i| (i % 251) as u8).collect();
        let d = sha256_reader(&data[..]).unwrap();
        assert_eq!(d.bytes, data.len() as u64);
        assert_eq!(d.sha256.as_str(), sha256_hex(&data));
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f");
        std::fs::write(&p, &data).unwrap();
        assert_eq!(sha256_file(&p).unwrap(), d);
    }

    #[test]
    fn parts_are_length_prefixed() {
        let a = Sha256Hasher::new().part("ab").part("c").hex();
        let b = Sha256Hasher::new().part("a").part("bc").hex();
        assert_ne!(a, b);
        assert_eq!(a, Sha256Hasher::new().part("ab").part("c").hex());
    }
}
