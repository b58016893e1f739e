//! Where the model files are: what `tools/setup-model` writes, or what settings point at.

use std::path::{Path, PathBuf};

use super::EmbedError;

/// The ONNX Runtime version `tools/setup-model` installs and `ort` is built for (`api-31`).
pub const RUNTIME_VERSION: &str = "1.31.1";
/// The transformer model's folder under the models directory.
pub const ONNX_MODEL_DIR: &str = "me5s-q4";
/// The static table's folder under the models directory.
pub const STATIC_MODEL_DIR: &str = "me5s-static";

/// The model files' locations.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelPaths {
    /// The models directory (holding `me5s-q4/`, `me5s-static/`, `onnxruntime/`).
    pub dir: PathBuf,
    /// ONNX Runtime's shared library.
    pub runtime_library: PathBuf,
}

impl ModelPaths {
    /// Resolves the locations: `model_dir` (settings; empty for the default: `$MARKETLOUNGE_MODELS`,
    /// else `${XDG_CACHE_HOME:-~/.cache}/marketlounge/models`, where `tools/setup-model` installs)
    /// and `runtime_library` (settings; empty for `$ORT_DYLIB_PATH`, else the library
    /// `tools/setup-model` puts in the models directory).
    pub fn resolve(model_dir: &str, runtime_library: &str) -> ModelPaths {
        let env = |name: &str| std::env::var_os(name).filter(|v| !v.is_empty()).map(PathBuf::from);
        let dir = if model_dir.is_empty() {
            env("MARKETLOUNGE_MODELS").unwrap_or_else(|| {
                let cache = env("XDG_CACHE_HOME")
                    .or_else(|| env("HOME").map(|home| home.join(".cache")))
                    .unwrap_or_else(|| PathBuf::from(".cache"));
                cache.join("marketlounge").join("models")
            })
        } else {
            PathBuf::from(model_dir)
        };
        let runtime_library = if runtime_library.is_empty() {
            env("ORT_DYLIB_PATH")
                .unwrap_or_else(|| dir.join("onnxruntime").join(format!("libonnxruntime.so.{RUNTIME_VERSION}")))
        } else {
            PathBuf::from(runtime_library)
        };
        ModelPaths { dir, runtime_library }
    }

    pub fn onnx_dir(&self) -> PathBuf {
        self.dir.join(ONNX_MODEL_DIR)
    }

    pub fn static_dir(&self) -> PathBuf {
        self.dir.join(STATIC_MODEL_DIR)
    }
}

/// `path` if it is a readable file, else an error naming it and the fix.
pub(crate) fn require_file(path: &Path, what: &str) -> Result<(), EmbedError> {
    match std::fs::metadata(path) {
        Ok(meta) if meta.is_file() => Ok(()),
        Ok(_) => Err(EmbedError(format!("{what} {} is not a file; run tools/setup-model", path.display()))),
        Err(err) => Err(EmbedError(format!(
            "{what} {} cannot be read ({err}); run tools/setup-model to install the model files, or set \
             embedding.model_dir (and embedding.runtime_library) in the settings",
            path.display()
        ))),
    }
}

/// CRC-32 of a file, for model fingerprints (fast enough to run at every start: ~10 ms for the
/// 74 MB model).
pub(crate) fn file_crc(path: &Path) -> Result<u32, EmbedError> {
    let bytes = std::fs::read(path).map_err(|err| EmbedError(format!("{}: {err}", path.display())))?;
    Ok(crc32fast::hash(&bytes))
}

/// The tokenizer at `path`, without padding (batches are padded by the caller) and truncated to
/// `max_tokens` when given.
pub(crate) fn load_tokenizer(path: &Path, max_tokens: Option<usize>) -> Result<tokenizers::Tokenizer, EmbedError> {
    let mut tokenizer = tokenizers::Tokenizer::from_file(path).map_err(|err| {
        EmbedError(format!("{}: not a usable tokenizer: {err}; run tools/setup-model", path.display()))
    })?;
    tokenizer.with_padding(None);
    let truncation = max_tokens.map(|max_length| tokenizers::TruncationParams { max_length, ..Default::default() });
    tokenizer.with_truncation(truncation).map_err(|err| EmbedError(format!("{}: {err}", path.display())))?;
    Ok(tokenizer)
}
