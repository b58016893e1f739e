//! Small numeric kernels shared by the embedders, the segment layer and the query path: FNV-1a
//! hashing (schema hashes, content hashes, hashed features) and vector arithmetic (unit length,
//! dot products). A leaf module: it uses nothing else of the crate, so every layer may use it.

/// One FNV-1a 64-bit round over `bytes`, from `hash` (the offset basis `0xcbf2_9ce4_8422_2325`
/// to start). Stable across builds and platforms: hashes of it are stored on disk.
pub(crate) fn fnv1a64(mut hash: u64, bytes: &[u8]) -> u64 {
    for &byte in bytes {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    hash
}

/// Scales `vector` to unit length; a zero vector becomes the first axis, so that every text
/// (even one with no known token) has a valid unit vector.
pub(crate) fn normalise(vector: &mut [f32]) {
    let norm = vector.iter().map(|v| v * v).sum::<f32>().sqrt();
    if norm > 0.0 && norm.is_finite() {
        vector.iter_mut().for_each(|v| *v /= norm);
    } else {
        vector.iter_mut().for_each(|v| *v = 0.0);
        if let Some(first) = vector.first_mut() {
            *first = 1.0;
        }
    }
}

/// Cosine similarity of two vectors (not assumed normalised).
pub fn cosine(a: &[f32], b: &[f32]) -> f32 {
    let (dot, norm_b) = dot_and_norm(a, b);
    let (_, norm_a) = dot_and_norm(b, a);
    if norm_a == 0.0 || norm_b == 0.0 { 0.0 } else { dot / (norm_a.sqrt() * norm_b.sqrt()) }
}

/// Σ a·b and Σ b² over the common length, in 8 interleaved lanes: independent additions the
/// compiler keeps in vector registers, where one running sum is a chain of dependent additions
/// (a cosine of 384 dimensions took about a microsecond that way, and the query path takes
/// hundreds per query).
pub fn dot_and_norm(a: &[f32], b: &[f32]) -> (f32, f32) {
    const LANES: usize = 8;
    let len = a.len().min(b.len());
    let (a, b) = (&a[..len], &b[..len]);
    let (mut dot, mut norm) = ([0f32; LANES], [0f32; LANES]);
    let (chunks_a, chunks_b) = (a.chunks_exact(LANES), b.chunks_exact(LANES));
    let (rest_a, rest_b) = (chunks_a.remainder(), chunks_b.remainder());
    for (x, y) in chunks_a.zip(chunks_b) {
        for lane in 0..LANES {
            dot[lane] += x[lane] * y[lane];
            norm[lane] += y[lane] * y[lane];
        }
    }
    let (mut dot, mut norm) = (dot.iter().sum::<f32>(), norm.iter().sum::<f32>());
    for (x, y) in rest_a.iter().zip(rest_b) {
        dot += x * y;
        norm += y * y;
    }
    (dot, norm)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fnv1a64_matches_the_reference_values() {
        // Published FNV-1a 64 test vectors ("" and "a", "foobar").
        const BASIS: u64 = 0xcbf2_9ce4_8422_2325;
        assert_eq!(fnv1a64(BASIS, b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a64(BASIS, b"a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(fnv1a64(BASIS, b"foobar"), 0x8594_4171_f739_67e8);
    }

    #[test]
    fn lanes_and_remainder_give_the_plain_sums() {
        let a: Vec<f32> = (0..19).map(|i| i as f32 * 0.5 - 3.0).collect();
        let b: Vec<f32> = (0..19).map(|i| 1.0 - i as f32 * 0.25).collect();
        let (dot, norm) = dot_and_norm(&a, &b);
        let plain_dot: f32 = a.iter().zip(&b).map(|(x, y)| x * y).sum();
        let plain_norm: f32 = b.iter().map(|y| y * y).sum();
        assert!((dot - plain_dot).abs() < 1e-4, "{dot} {plain_dot}");
        assert!((norm - plain_norm).abs() < 1e-4, "{norm} {plain_norm}");
        assert!((cosine(&a, &a) - 1.0).abs() < 1e-6);
        assert_eq!(cosine(&a, &[0.0; 19]), 0.0);
    }

    #[test]
    fn a_zero_or_broken_vector_normalises_to_the_first_axis() {
        for mut vector in [vec![0.0f32; 4], vec![f32::NAN, 1.0, 0.0, 0.0]] {
            normalise(&mut vector);
            assert_eq!(vector, [1.0, 0.0, 0.0, 0.0]);
        }
        let mut vector = vec![3.0f32, 4.0];
        normalise(&mut vector);
        assert_eq!(vector, [0.6, 0.8]);
    }
}
