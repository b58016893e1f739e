//! The distilled static embedder: one row per vocabulary piece (built by `tools/setup-model`
//! from the transformer, see `tools/model/distill_static.py`); a text is the mean of its pieces'
//! rows, normalised. No prefixes: a static table has no notion of query or passage.

use std::path::Path;

use tokenizers::Tokenizer;

use super::paths::{ModelPaths, file_crc, load_tokenizer, require_file};
use super::{EmbedError, Embedder, TextKind, normalise};

/// The static table embedder. See the module documentation.
pub struct StaticEmbedder {
    fingerprint: String,
    dims: u32,
    tokenizer: Tokenizer,
    /// Row-major table, `dims` values per row.
    table: Vec<f32>,
    /// Tokenizer id → row, `u32::MAX` for pieces without a row.
    row_of: Vec<u32>,
}

impl std::fmt::Debug for StaticEmbedder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StaticEmbedder")
            .field("fingerprint", &self.fingerprint)
            .field("dims", &self.dims)
            .field("rows", &(self.table.len() / self.dims.max(1) as usize))
            .finish()
    }
}

impl StaticEmbedder {
    pub fn open(paths: &ModelPaths) -> Result<StaticEmbedder, EmbedError> {
        let dir = paths.static_dir();
        let table_path = dir.join("static.safetensors");
        let tokenizer_path = dir.join("tokenizer.json");
        require_file(&table_path, "the static embedding table")?;
        require_file(&tokenizer_path, "the tokenizer")?;
        let (table, ids, dims) = read_table(&table_path)?;
        let tokenizer = load_tokenizer(&tokenizer_path, None)?;
        let vocab = tokenizer.get_vocab_size(true);
        let mut row_of = vec![u32::MAX; vocab];
        for (row, &id) in ids.iter().enumerate() {
            let slot = usize::try_from(id).ok().and_then(|id| row_of.get_mut(id)).ok_or_else(|| {
                EmbedError(format!("{}: token id {id} is outside the tokenizer's vocabulary", table_path.display()))
            })?;
            *slot = row as u32;
        }
        let fingerprint =
            format!("multilingual-e5-small-static:{:08x}{:08x}", file_crc(&table_path)?, file_crc(&tokenizer_path)?);
        Ok(StaticEmbedder { fingerprint, dims, tokenizer, table, row_of })
    }

    fn embed_one(&self, text: &str) -> Result<Vec<f32>, EmbedError> {
        let encoding = self.tokenizer.encode(text, false).map_err(|err| EmbedError(format!("tokenizer: {err}")))?;
        let dims = self.dims as usize;
        let mut sum = vec![0f32; dims];
        for &id in encoding.get_ids() {
            let Some(&row) = self.row_of.get(id as usize) else { continue };
            if row == u32::MAX {
                continue;
            }
            let at = row as usize * dims;
            sum.iter_mut().zip(&self.table[at..at + dims]).for_each(|(s, v)| *s += v);
        }
        normalise(&mut sum);
        Ok(sum)
    }
}

impl Embedder for StaticEmbedder {
    fn fingerprint(&self) -> &str {
        &self.fingerprint
    }

    fn dims(&self) -> u32 {
        self.dims
    }

    fn embeds_capabilities(&self) -> bool {
        true
    }

    fn embed(&self, _kind: TextKind, texts: &[&str]) -> Result<Vec<Vec<f32>>, EmbedError> {
        texts.iter().map(|text| self.embed_one(text)).collect()
    }

    fn worth_caching(&self) -> bool {
        false
    }
}

/// Reads `embeddings` (f32 [rows, dims]) and `token_ids` (i32 [rows]) from the safetensors file.
fn read_table(path: &Path) -> Result<(Vec<f32>, Vec<i32>, u32), EmbedError> {
    let fail = |message: String| EmbedError(format!("{}: {message}; run tools/setup-model --force", path.display()));
    let bytes = std::fs::read(path).map_err(|err| fail(err.to_string()))?;
    let tensors = safetensors::SafeTensors::deserialize(&bytes).map_err(|err| fail(err.to_string()))?;
    let embeddings = tensors.tensor("embeddings").map_err(|err| fail(err.to_string()))?;
    let ids = tensors.tensor("token_ids").map_err(|err| fail(err.to_string()))?;
    let (&[rows, dims], safetensors::Dtype::F32) = (embeddings.shape(), embeddings.dtype()) else {
        return Err(fail(format!(
            "embeddings: expected f32 [rows, dims], found {:?} {:?}",
            embeddings.dtype(),
            embeddings.shape()
        )));
    };
    if ids.shape() != [rows] || ids.dtype() != safetensors::Dtype::I32 {
        return Err(fail(format!("token_ids: expected i32 [{rows}], found {:?} {:?}", ids.dtype(), ids.shape())));
    }
    let table: Vec<f32> =
        embeddings.data().chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect();
    let token_ids: Vec<i32> =
        ids.data().chunks_exact(4).map(|b| i32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect();
    if table.iter().any(|v| !v.is_finite()) {
        return Err(fail("the table has non-finite values".into()));
    }
    let dims = u32::try_from(dims).map_err(|_| fail("too many dimensions".into()))?;
    Ok((table, token_ids, dims))
}
