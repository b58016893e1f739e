//! Capability vectors: for every document, one vector per savoir-faire phrase (and one for the
//! name), so that a query naming one capability meets it head-on instead of diluted in the
//! whole profile. They rerank candidates (the best phrase's similarity); they are not in the
//! HNSW graph.
//!
//! File `chunks.bin` (written streaming, memory-mapped on open):
//! `[vectors: n_chunks × dims × f16 LE][starts: (n_docs + 1) × u32 LE][n_docs u32][dims u32]
//! [n_chunks u32]` then the standard footer (`MLCHUNKV`, version 1, payload length, CRC-32).
//! Document `ord`'s vectors are rows `starts[ord] .. starts[ord + 1]`.

use std::path::Path;

use half::f16;
use memmap2::Mmap;

use crate::IndexError;
use crate::storage::{FileKind, FramedWriter, check_footer};

pub const CHUNKS_FILE: &str = "chunks.bin";

const TRAILER_LEN: usize = 12;

/// Writes `chunks.bin` as documents are added.
#[derive(Debug)]
pub struct ChunkWriter {
    out: FramedWriter,
    dims: u32,
    starts: Vec<u32>,
    rows: u32,
}

impl ChunkWriter {
    pub fn create(path: &Path, dims: u32) -> Result<ChunkWriter, IndexError> {
        Ok(ChunkWriter { out: FramedWriter::create(FileKind::Chunks, path)?, dims, starts: vec![0], rows: 0 })
    }

    /// The dimension every vector must have.
    pub fn dims(&self) -> u32 {
        self.dims
    }

    fn write(&mut self, bytes: &[u8]) -> Result<(), IndexError> {
        Ok(self.out.write(bytes)?)
    }

    /// Adds the next document's vectors (possibly none). Each must have `dims` finite values.
    pub fn push(&mut self, vectors: &[Vec<f32>]) -> Result<(), IndexError> {
        let mut row = Vec::with_capacity(self.dims as usize * 2);
        for vector in vectors {
            if vector.len() != self.dims as usize || vector.iter().any(|v| !v.is_finite()) {
                return Err(IndexError::Corrupt(format!(
                    "a capability vector has {} dimensions or a non-finite value (expected {}): the caller checks them",
                    vector.len(),
                    self.dims
                )));
            }
            row.clear();
            for v in vector {
                row.extend_from_slice(&f16::from_f32(*v).to_le_bytes());
            }
            self.write(&row)?;
            self.rows = self
                .rows
                .checked_add(1)
                .ok_or(IndexError::Limit { what: "more than 4 billion capability vectors in one segment" })?;
        }
        self.starts.push(self.rows);
        Ok(())
    }

    /// Writes the offsets, trailer and footer. The directory's checksum pass fsyncs it.
    pub fn finish(mut self) -> Result<(), IndexError> {
        let n_docs = (self.starts.len() - 1) as u32;
        let mut tail = Vec::with_capacity(self.starts.len() * 4 + TRAILER_LEN);
        for start in &self.starts {
            tail.extend_from_slice(&start.to_le_bytes());
        }
        tail.extend_from_slice(&n_docs.to_le_bytes());
        tail.extend_from_slice(&self.dims.to_le_bytes());
        tail.extend_from_slice(&self.rows.to_le_bytes());
        self.write(&tail)?;
        Ok(self.out.finish()?)
    }
}

/// The capability vectors of a published segment.
#[derive(Debug)]
pub struct ChunkVectors {
    map: Mmap,
    n_docs: u32,
    dims: usize,
    /// Byte offset of the starts table.
    starts_at: usize,
}

impl ChunkVectors {
    /// Maps `path` and checks its footer and that its tables agree with each other and with
    /// the segment (`n_docs`, `dims`). The payload's CRC is the segment metadata's to check.
    pub fn open(path: &Path, n_docs: u32, dims: u32) -> Result<ChunkVectors, IndexError> {
        let corrupt = |what: &str| {
            IndexError::Corrupt(format!(
                "{}: capability vectors {what}; restore from a snapshot or rebuild the index",
                path.display()
            ))
        };
        let map = super::files::map_segment_file(path)?;
        let payload = check_footer(FileKind::Chunks, path, &map)?.len();
        if payload < TRAILER_LEN + 4 {
            return Err(corrupt("file is truncated"));
        }
        let u32_at = |at: usize| u32::from_le_bytes(map[at..at + 4].try_into().expect("4 bytes"));
        let (file_docs, file_dims, rows) = (u32_at(payload - 12), u32_at(payload - 8), u32_at(payload - 4) as usize);
        if file_docs != n_docs || file_dims != dims {
            return Err(corrupt("do not match the segment's documents or dimensions"));
        }
        let dims = dims as usize;
        let starts_len = (n_docs as usize + 1) * 4;
        let vectors_len = rows * dims * 2;
        if vectors_len + starts_len + TRAILER_LEN != payload {
            return Err(corrupt("tables have inconsistent sizes"));
        }
        let chunks = ChunkVectors { map, n_docs, dims, starts_at: vectors_len };
        // Offsets must rise from 0 to the row count, or a lookup could read out of bounds.
        let mut previous = 0;
        for ord in 0..=n_docs {
            let start = chunks.start(ord);
            if start < previous || start as usize > rows || (ord == 0 && start != 0) {
                return Err(corrupt("offsets are out of order"));
            }
            previous = start;
        }
        if previous as usize != rows {
            return Err(corrupt("offsets do not cover every vector"));
        }
        Ok(chunks)
    }

    /// Vectors stored, across documents.
    pub fn len(&self) -> usize {
        self.start(self.n_docs) as usize
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn start(&self, ord: u32) -> u32 {
        let at = self.starts_at + ord as usize * 4;
        u32::from_le_bytes(self.map[at..at + 4].try_into().expect("4 bytes"))
    }

    fn rows(&self, ord: u32) -> impl Iterator<Item = &[u8]> {
        let range = if ord < self.n_docs { self.start(ord) as usize..self.start(ord + 1) as usize } else { 0..0 };
        let width = self.dims * 2;
        range.map(move |row| &self.map[row * width..(row + 1) * width])
    }

    /// The vectors of document `ord`, as f32.
    pub fn vectors(&self, ord: u32) -> Vec<Vec<f32>> {
        self.rows(ord)
            .map(|row| {
                let mut vector = vec![0f32; self.dims];
                decode_f16(row, &mut vector);
                vector
            })
            .collect()
    }

    /// The highest cosine similarity of `query` (unit length) to one of document `ord`'s
    /// vectors; `None` when it has none. `buffer` is scratch space, reused across calls.
    pub fn max_similarity(&self, ord: u32, query: &[f32], buffer: &mut Vec<f32>) -> Option<f32> {
        if ord >= self.n_docs {
            return None;
        }
        let (start, end) = (self.start(ord) as usize, self.start(ord + 1) as usize);
        if start == end || query.len() != self.dims {
            return None;
        }
        let bytes = &self.map[start * self.dims * 2..end * self.dims * 2];
        buffer.resize(bytes.len() / 2, 0.0);
        decode_f16(bytes, buffer);
        let mut best = f32::NEG_INFINITY;
        for row in buffer.chunks_exact(self.dims) {
            let (dot, norm) = crate::math::dot_and_norm(query, row);
            best = best.max(if norm > 0.0 { dot / norm.sqrt() } else { 0.0 });
        }
        Some(best)
    }
}

/// f16 bit patterns (native order) to f32, with the CPU's conversion instructions when it has
/// them.
pub(crate) fn widen_f16(bits: &[i16], out: &mut [f32]) {
    use half::slice::HalfFloatSliceExt;
    // `f16` has the size and alignment of `i16`: the cast is checked at compile time.
    let halves: &[f16] = bytemuck::must_cast_slice(bits);
    halves.convert_to_f32_slice(out);
}

/// Little-endian f16 bytes to f32, with the CPU's conversion instructions when it has them.
fn decode_f16(bytes: &[u8], out: &mut [f32]) {
    use half::slice::HalfFloatSliceExt;
    // In place when the bytes are aligned for f16 and whole values; otherwise value by value.
    let aligned: Option<&[f16]> = bytemuck::try_cast_slice(bytes).ok();
    if let Some(halves) = aligned.filter(|_| cfg!(target_endian = "little")) {
        halves.convert_to_f32_slice(out);
    } else {
        for (b, v) in bytes.chunks_exact(2).zip(out.iter_mut()) {
            *v = f16::from_le_bytes([b[0], b[1]]).to_f32();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_corruption() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(CHUNKS_FILE);
        let mut writer = ChunkWriter::create(&path, 2).unwrap();
        writer.push(&[vec![1.0, 0.0], vec![0.6, 0.8]]).unwrap();
        writer.push(&[]).unwrap();
        writer.push(&[vec![0.0, 1.0]]).unwrap();
        assert!(writer.push(&[vec![1.0]]).is_err());
        writer.finish().unwrap();
        let chunks = ChunkVectors::open(&path, 3, 2).unwrap();
        assert_eq!(chunks.vectors(0).len(), 2);
        assert!(chunks.vectors(1).is_empty());
        let mut buffer = Vec::new();
        assert_eq!(chunks.max_similarity(1, &[1.0, 0.0], &mut buffer), None);
        let best = chunks.max_similarity(0, &[0.0, 1.0], &mut buffer).unwrap();
        assert!((best - 0.8).abs() < 1e-3, "{best}");
        assert!((chunks.max_similarity(2, &[0.0, 1.0], &mut buffer).unwrap() - 1.0).abs() < 1e-3);
        assert_eq!(chunks.max_similarity(9, &[0.0, 1.0], &mut buffer), None);
        assert!(chunks.vectors(7).is_empty());

        assert!(ChunkVectors::open(&path, 4, 2).is_err());
        assert!(ChunkVectors::open(&path, 3, 3).is_err());
        let bytes = std::fs::read(&path).unwrap();
        std::fs::write(&path, &bytes[..bytes.len() - 1]).unwrap();
        assert!(ChunkVectors::open(&path, 3, 2).is_err());
        // Offsets that go backwards are refused before any lookup can use them.
        let mut bad = bytes.clone();
        let starts_at = 3 * 2 * 2;
        bad[starts_at + 4..starts_at + 8].copy_from_slice(&9u32.to_le_bytes());
        std::fs::write(&path, &bad).unwrap();
        assert!(ChunkVectors::open(&path, 3, 2).is_err());
    }

    #[test]
    fn f16_bytes_decode_the_same_aligned_or_not() {
        let values = [1.0_f32, -0.5, 0.333, 65504.0];
        let halves: Vec<u16> = values.iter().map(|&v| f16::from_f32(v).to_bits()).collect();
        let aligned: &[u8] = bytemuck::cast_slice(&halves);
        // The same bytes one byte further, in a buffer of u16: misaligned for f16.
        let mut shifted = vec![0_u16; halves.len() + 1];
        bytemuck::cast_slice_mut::<u16, u8>(&mut shifted)[1..=aligned.len()].copy_from_slice(aligned);
        let misaligned = &bytemuck::cast_slice::<u16, u8>(&shifted)[1..=aligned.len()];
        let expected: Vec<f32> = halves.iter().map(|&h| f16::from_bits(h).to_f32()).collect();
        for bytes in [aligned, misaligned] {
            let mut out = vec![0.0; values.len()];
            decode_f16(bytes, &mut out);
            assert_eq!(out, expected);
        }
        let bits: Vec<i16> = halves.iter().map(|&h| h as i16).collect();
        let mut widened = vec![0.0; values.len()];
        widen_f16(&bits, &mut widened);
        assert_eq!(widened, expected);
    }
}
