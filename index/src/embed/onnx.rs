//! multilingual-e5-small through ONNX Runtime.
//!
//! e5 wants `query: ` before a query and `passage: ` before a document; the sentence vector is
//! the mean of the last hidden states over the attention mask, L2-normalised. The runtime is
//! loaded from the shared library `tools/setup-model` installs (`ort`'s `load-dynamic`), so
//! nothing is downloaded at build or run time.
//!
//! Sessions: `Session::run` needs `&mut`, so the embedder holds a pool of sessions (one per
//! core by default), each single-threaded with spinning off: parallelism comes from running
//! several sessions at once (a query never waits behind a whole batch, and a 2-core machine is
//! not oversubscribed by ONNX Runtime's own pools). Documents are sorted by length and cut into
//! batches, so padding stays small, and the batches are spread over the sessions.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use ort::session::Session;
use ort::session::builder::GraphOptimizationLevel;
use ort::value::TensorRef;
use parking_lot::Mutex;
use tokenizers::Tokenizer;

use super::paths::{ModelPaths, file_crc, load_tokenizer, require_file};
use super::{EmbedError, Embedder, TextKind, normalise};

/// How the ONNX embedder runs.
#[derive(Debug, Clone)]
pub struct OnnxOptions {
    /// Sessions in the pool (0: one per core).
    pub sessions: usize,
    /// Documents per batch.
    pub batch_size: usize,
    /// Longest input in tokens (special tokens included); longer passages are truncated.
    pub max_tokens: usize,
}

impl Default for OnnxOptions {
    fn default() -> Self {
        OnnxOptions { sessions: 0, batch_size: 32, max_tokens: 256 }
    }
}

/// multilingual-e5-small (384 dimensions) on ONNX Runtime. See the module documentation.
pub struct OnnxEmbedder {
    fingerprint: String,
    dims: u32,
    tokenizer: Tokenizer,
    sessions: Vec<Mutex<Session>>,
    next_session: AtomicUsize,
    options: OnnxOptions,
    pad_id: u32,
    model_path: PathBuf,
}

impl std::fmt::Debug for OnnxEmbedder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OnnxEmbedder")
            .field("fingerprint", &self.fingerprint)
            .field("model", &self.model_path)
            .field("sessions", &self.sessions.len())
            .field("options", &self.options)
            .finish()
    }
}

/// Loads ONNX Runtime from `library` and starts its environment, once per process; every
/// failure says what to do.
pub(crate) fn runtime(library: &Path) -> Result<ort::environment::Environment, EmbedError> {
    static ENVIRONMENT: std::sync::OnceLock<Result<ort::environment::Environment, EmbedError>> =
        std::sync::OnceLock::new();
    ENVIRONMENT
        .get_or_init(|| {
            require_file(library, "the ONNX Runtime library")?;
            let builder = ort::init_from(library).map_err(|err| {
                EmbedError(format!(
                    "cannot load the ONNX Runtime library {}: {err}; run tools/setup-model (it installs ONNX Runtime {}), \
                     or point embedding.runtime_library / ORT_DYLIB_PATH at a compatible library",
                    library.display(),
                    super::paths::RUNTIME_VERSION
                ))
            })?;
            builder
                .with_name("marketlounge")
                .with_telemetry(false)
                .build()
                .map_err(|err| EmbedError(format!("cannot start ONNX Runtime: {err}")))
        })
        .clone()
}

impl OnnxEmbedder {
    /// Loads the tokenizer and the model from `paths` and starts the session pool.
    pub fn open(paths: &ModelPaths, options: OnnxOptions) -> Result<OnnxEmbedder, EmbedError> {
        let dir = paths.onnx_dir();
        let model_path = dir.join("model.onnx");
        let tokenizer_path = dir.join("tokenizer.json");
        require_file(&model_path, "the embedding model")?;
        require_file(&tokenizer_path, "the tokenizer")?;
        let environment = runtime(&paths.runtime_library)?;
        let tokenizer = load_tokenizer(&tokenizer_path, Some(options.max_tokens.max(8)))?;
        let pad_id = tokenizer.token_to_id("<pad>").unwrap_or(1);
        let count = if options.sessions == 0 {
            std::thread::available_parallelism().map_or(2, |n| n.get())
        } else {
            options.sessions
        };
        let sessions = (0..count.clamp(1, 64))
            .map(|_| open_session(&environment, &model_path).map(Mutex::new))
            .collect::<Result<Vec<_>, _>>()?;
        let dims = output_dims(&sessions[0].lock())?;
        let fingerprint = format!(
            "multilingual-e5-small-q4:{:08x}{:08x}:max{}",
            file_crc(&model_path)?,
            file_crc(&tokenizer_path)?,
            options.max_tokens
        );
        Ok(OnnxEmbedder {
            fingerprint,
            dims,
            tokenizer,
            sessions,
            next_session: AtomicUsize::new(0),
            options,
            pad_id,
            model_path,
        })
    }

    /// Token ids of `text` with the e5 prefix of `kind` (truncated to `max_tokens`).
    fn encode(&self, kind: TextKind, text: &str) -> Result<Vec<u32>, EmbedError> {
        let prefixed = match kind {
            TextKind::Query => format!("query: {text}"),
            TextKind::Passage => format!("passage: {text}"),
        };
        let encoding = self.tokenizer.encode(prefixed, true).map_err(|err| EmbedError(format!("tokenizer: {err}")))?;
        Ok(encoding.get_ids().to_vec())
    }

    /// Runs one padded batch through `session`; returns one vector per sequence.
    fn run_batch(&self, session: &mut Session, batch: &[&[u32]]) -> Result<Vec<Vec<f32>>, EmbedError> {
        let rows = batch.len();
        let width = batch.iter().map(|ids| ids.len()).max().unwrap_or(0).max(1);
        let mut ids = vec![i64::from(self.pad_id); rows * width];
        let mut mask = vec![0i64; rows * width];
        for (row, tokens) in batch.iter().enumerate() {
            for (col, &token) in tokens.iter().enumerate() {
                ids[row * width + col] = i64::from(token);
                mask[row * width + col] = 1;
            }
        }
        let types = vec![0i64; rows * width];
        let shape = [rows, width];
        fn tensor(shape: [usize; 2], data: &[i64]) -> Result<TensorRef<'_, i64>, EmbedError> {
            TensorRef::from_array_view((shape, data)).map_err(|err| EmbedError(format!("input tensor: {err}")))
        }
        let inputs = ort::inputs![
            "input_ids" => tensor(shape, &ids)?,
            "attention_mask" => tensor(shape, &mask)?,
            "token_type_ids" => tensor(shape, &types)?,
        ];
        let outputs = session
            .run(inputs)
            .map_err(|err| EmbedError(format!("{}: inference failed: {err}", self.model_path.display())))?;
        let (out_shape, hidden) =
            outputs[0].try_extract_tensor::<f32>().map_err(|err| EmbedError(format!("model output: {err}")))?;
        let dims = self.dims as usize;
        if out_shape.len() != 3 || out_shape[0] as usize != rows || out_shape[1] as usize != width {
            return Err(EmbedError(format!(
                "model output has shape {out_shape:?}, expected [{rows}, {width}, {dims}]"
            )));
        }
        let mut vectors = Vec::with_capacity(rows);
        for (row, tokens) in batch.iter().enumerate() {
            let mut pooled = vec![0f32; dims];
            for col in 0..tokens.len() {
                let at = (row * width + col) * dims;
                pooled.iter_mut().zip(&hidden[at..at + dims]).for_each(|(sum, v)| *sum += v);
            }
            let count = tokens.len().max(1) as f32;
            pooled.iter_mut().for_each(|v| *v /= count);
            normalise(&mut pooled);
            vectors.push(pooled);
        }
        Ok(vectors)
    }

    /// A session to run on: a free one if any, else the next in turn (waiting for it).
    fn with_session<T>(&self, run: impl FnOnce(&mut Session) -> T) -> T {
        for session in &self.sessions {
            if let Some(mut guard) = session.try_lock() {
                return run(&mut guard);
            }
        }
        let at = self.next_session.fetch_add(1, Ordering::Relaxed) % self.sessions.len();
        run(&mut self.sessions[at].lock())
    }
}

impl Embedder for OnnxEmbedder {
    fn fingerprint(&self) -> &str {
        &self.fingerprint
    }

    fn dims(&self) -> u32 {
        self.dims
    }

    fn embeds_capabilities(&self) -> bool {
        true
    }

    fn embed(&self, kind: TextKind, texts: &[&str]) -> Result<Vec<Vec<f32>>, EmbedError> {
        let encoded = texts.iter().map(|text| self.encode(kind, text)).collect::<Result<Vec<_>, _>>()?;
        if encoded.len() == 1 {
            let batch = [encoded[0].as_slice()];
            return self.with_session(|session| self.run_batch(session, &batch));
        }
        // Longest first, cut into batches of similar lengths.
        let mut order: Vec<usize> = (0..encoded.len()).collect();
        order.sort_by_key(|&i| std::cmp::Reverse(encoded[i].len()));
        let batches: Vec<&[usize]> = order.chunks(self.options.batch_size.max(1)).collect();
        let next = AtomicUsize::new(0);
        let workers = self.sessions.len().min(batches.len());
        let results: Vec<WorkerResult> = std::thread::scope(|scope| {
            let handles: Vec<_> = self.sessions[..workers]
                .iter()
                .map(|session| {
                    let (batches, next, encoded) = (&batches, &next, &encoded);
                    scope.spawn(move || {
                        let mut session = session.lock();
                        let mut out = Vec::new();
                        loop {
                            let at = next.fetch_add(1, Ordering::Relaxed);
                            let Some(indices) = batches.get(at) else { return Ok(out) };
                            let batch: Vec<&[u32]> = indices.iter().map(|&i| encoded[i].as_slice()).collect();
                            let vectors = self.run_batch(&mut session, &batch)?;
                            out.extend(indices.iter().copied().zip(vectors));
                        }
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().expect("embedding workers do not panic")).collect()
        });
        let mut vectors: Vec<Option<Vec<f32>>> = vec![None; texts.len()];
        for result in results {
            for (index, vector) in result? {
                vectors[index] = Some(vector);
            }
        }
        Ok(vectors.into_iter().map(|v| v.expect("every text was embedded")).collect())
    }
}

/// What one batch worker returns: (text index, vector) pairs.
type WorkerResult = Result<Vec<(usize, Vec<f32>)>, EmbedError>;

fn open_session(environment: &ort::environment::Environment, model: &Path) -> Result<Session, EmbedError> {
    let fail = |err: &dyn std::fmt::Display| {
        EmbedError(format!(
            "{}: cannot load the model: {err}; run tools/setup-model --force to rebuild it",
            model.display()
        ))
    };
    Session::builder(environment)
        .map_err(|e| fail(&e))?
        .with_optimization_level(GraphOptimizationLevel::Level3)
        .map_err(|e| fail(&e))?
        .with_intra_threads(1)
        .map_err(|e| fail(&e))?
        .with_inter_threads(1)
        .map_err(|e| fail(&e))?
        .with_intra_op_spinning(false)
        .map_err(|e| fail(&e))?
        .with_inter_op_spinning(false)
        .map_err(|e| fail(&e))?
        .commit_from_file(model)
        .map_err(|e| fail(&e))
}

/// The hidden size the model declares for `last_hidden_state` (its last dimension).
fn output_dims(session: &Session) -> Result<u32, EmbedError> {
    let output = session.outputs().first().ok_or_else(|| EmbedError("the model has no output".into()))?;
    let dims = output.dtype().tensor_shape().and_then(|shape| shape.last().copied()).unwrap_or(-1);
    u32::try_from(dims)
        .map_err(|_| EmbedError(format!("the model's output {:?} has no fixed last dimension", output.name())))
}
