//! `vectors.f32`: a snapshot's vectors in a fixed layout that queries memory-map, so opening a
//! snapshot reads no vector and a query touches only the pages it scans.
//!
//! ```text
//! offset 0   magic  b"RGOPSVEC"
//!        8   u32    layout version (1)
//!       12   u32    dim
//!       16   u64    rows
//!       24   ..64   zero
//!       64   rows × dim f32, row-major, little-endian (row i at 64 + 4·dim·i)
//! ```
//!
//! Row `i` is the vector of row `i` of `chunks.parquet` (the table writer writes both). The
//! row count is written last, when the file is complete; a file whose length does not match
//! its header is refused.

use std::fs::File;
use std::io::{BufWriter, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use crate::StoreError;

pub(crate) const VECTORS_FILE: &str = "vectors.f32";
const MAGIC: &[u8; 8] = b"RGOPSVEC";
const LAYOUT: u32 = 1;
const HEADER: usize = 64;

fn bad(path: &Path, message: impl Into<String>) -> StoreError {
    StoreError::Vectors {
        path: path.to_path_buf(),
        message: message.into(),
    }
}

/// Appends vectors to a new `vectors.f32`.
pub(crate) struct VectorFileWriter {
    path: PathBuf,
    out: BufWriter<File>,
    dim: usize,
    rows: u64,
}

impl VectorFileWriter {
    pub(crate) fn create(path: &Path, dim: usize) -> Result<Self, StoreError> {
        let file = File::create(path).map_err(crate::io(path))?;
        let mut out = BufWriter::with_capacity(1 << 20, file);
        let mut header = [0u8; HEADER];
        header[..8].copy_from_slice(MAGIC);
        header[8..12].copy_from_slice(&LAYOUT.to_le_bytes());
        header[12..16].copy_from_slice(&(dim as u32).to_le_bytes());
        out.write_all(&header).map_err(crate::io(path))?;
        Ok(Self {
            path: path.to_path_buf(),
            out,
            dim,
            rows: 0,
        })
    }

    /// Appends rows (`vectors.len()` a multiple of the dimension).
    pub(crate) fn append(&mut self, vectors: &[f32]) -> Result<(), StoreError> {
        for v in vectors {
            self.out
                .write_all(&v.to_le_bytes())
                .map_err(crate::io(&self.path))?;
        }
        self.rows += (vectors.len() / self.dim.max(1)) as u64;
        Ok(())
    }

    /// Writes the row count into the header and fsyncs the file.
    pub(crate) fn finish(self) -> Result<u64, StoreError> {
        let path = self.path;
        let mut file = self
            .out
            .into_inner()
            .map_err(|e| crate::io(&path)(e.into_error()))?;
        file.seek(SeekFrom::Start(16)).map_err(crate::io(&path))?;
        file.write_all(&self.rows.to_le_bytes())
            .map_err(crate::io(&path))?;
        file.sync_all().map_err(crate::io(&path))?;
        Ok(self.rows)
    }
}

/// A memory-mapped `vectors.f32`.
pub struct VectorFile {
    map: memmap2::Mmap,
    dim: usize,
    rows: usize,
}

impl VectorFile {
    pub(crate) fn open(path: &Path) -> Result<Self, StoreError> {
        let file = File::open(path).map_err(crate::io(path))?;
        // SAFETY: snapshot files are immutable once published (invariant of the store); the
        // map is read-only and only ever viewed as plain f32 values.
        let map = unsafe { memmap2::Mmap::map(&file) }.map_err(crate::io(path))?;
        if map.len() < HEADER || &map[..8] != MAGIC {
            return Err(bad(path, "not a ragops vector file"));
        }
        let word = |at: usize| u32::from_le_bytes([map[at], map[at + 1], map[at + 2], map[at + 3]]);
        if word(8) != LAYOUT {
            return Err(bad(path, format!("unknown layout version {}", word(8))));
        }
        let dim = word(12) as usize;
        let mut rows = [0u8; 8];
        rows.copy_from_slice(&map[16..24]);
        let rows = u64::from_le_bytes(rows) as usize;
        let want = rows
            .checked_mul(dim)
            .and_then(|n| n.checked_mul(4))
            .and_then(|n| n.checked_add(HEADER));
        if dim == 0 || want != Some(map.len()) {
            return Err(bad(
                path,
                format!(
                    "{} bytes for {rows} rows of {dim} values (truncated or incomplete)",
                    map.len()
                ),
            ));
        }
        if cfg!(target_endian = "big") {
            return Err(bad(
                path,
                "vector files are read on little-endian hosts only",
            ));
        }
        if map[HEADER..]
            .as_ptr()
            .align_offset(std::mem::align_of::<f32>())
            != 0
        {
            return Err(bad(path, "vector data is not aligned"));
        }
        Ok(Self { map, dim, rows })
    }

    pub fn dim(&self) -> usize {
        self.dim
    }

    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Every vector, row-major.
    pub fn as_slice(&self) -> &[f32] {
        let bytes = &self.map[HEADER..];
        // SAFETY: `open` checked the alignment, the length (rows × dim values) and that the
        // host is little-endian; the map is immutable for its lifetime and every bit pattern
        // is a valid f32.
        unsafe { std::slice::from_raw_parts(bytes.as_ptr().cast::<f32>(), self.rows * self.dim) }
    }

    pub fn row(&self, i: usize) -> &[f32] {
        &self.as_slice()[i * self.dim..(i + 1) * self.dim]
    }

    /// Maps every page of the file into this process now (reading it into the page cache if
    /// it is not there), so that the first queries do not pay a page fault per row they
    /// touch. Costs a pass over the file; the CLI's one-shot queries never call it.
    pub fn warm(&self) {
        #[cfg(target_os = "linux")]
        if self.map.advise(memmap2::Advice::PopulateRead).is_ok() {
            return;
        }
        // Older kernels: touch one byte per page.
        let mut sum = 0u8;
        for at in (0..self.map.len()).step_by(4096) {
            sum = sum.wrapping_add(self.map[at]);
        }
        std::hint::black_box(sum);
    }
}

/// A snapshot's vectors for queries: memory-mapped from `vectors.f32`, or (snapshots written
/// before it existed) read from the chunk table's embedding column.
pub enum Vectors {
    Mapped(VectorFile),
    Loaded { dim: usize, values: Vec<f32> },
}

impl Vectors {
    pub fn dim(&self) -> usize {
        match self {
            Vectors::Mapped(f) => f.dim(),
            Vectors::Loaded { dim, .. } => *dim,
        }
    }

    pub fn rows(&self) -> usize {
        match self {
            Vectors::Mapped(f) => f.rows(),
            Vectors::Loaded { dim, values } => values.len() / (*dim).max(1),
        }
    }

    /// One row's vector.
    pub fn row(&self, i: usize) -> &[f32] {
        let dim = self.dim();
        &self.as_slice()[i * dim..(i + 1) * dim]
    }

    /// Every vector, row-major.
    pub fn as_slice(&self) -> &[f32] {
        match self {
            Vectors::Mapped(f) => f.as_slice(),
            Vectors::Loaded { values, .. } => values,
        }
    }

    /// See [`VectorFile::warm`] (loaded vectors are in memory already).
    pub fn warm(&self) {
        if let Vectors::Mapped(f) = self {
            f.warm();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_damage_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(VECTORS_FILE);
        let mut w = VectorFileWriter::create(&path, 3).unwrap();
        w.append(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]).unwrap();
        w.append(&[7.0, 8.0, 9.0]).unwrap();
        assert_eq!(w.finish().unwrap(), 3);
        let f = VectorFile::open(&path).unwrap();
        assert_eq!((f.dim(), f.rows()), (3, 3));
        assert_eq!(f.row(1), &[4.0, 5.0, 6.0]);
        assert_eq!(f.as_slice().len(), 9);

        let bytes = std::fs::read(&path).unwrap();
        std::fs::write(&path, &bytes[..bytes.len() - 4]).unwrap();
        let err = VectorFile::open(&path).err().unwrap().to_string();
        assert!(err.contains("truncated"), "{err}");
        std::fs::write(
            &path,
            b"not vectors at all, but long enough to have a header....................",
        )
        .unwrap();
        assert!(VectorFile::open(&path).is_err());
    }

    #[test]
    fn an_unfinished_file_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(VECTORS_FILE);
        let mut w = VectorFileWriter::create(&path, 2).unwrap();
        w.append(&[1.0, 2.0]).unwrap();
        drop(w); // flushed, but the row count was never written
        assert!(VectorFile::open(&path).is_err());
    }
}
