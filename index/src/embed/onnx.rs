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
//! batches of about the same number of padded tokens (so padding stays small and every batch
//! costs about the same), which the sessions take from one queue, longest first.

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
        let lengths: Vec<usize> = encoded.iter().map(Vec::len).collect();
        let batches = token_batches(&lengths, self.options.batch_size.max(1), BATCH_TOKENS);
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

/// Padded tokens (rows × the longest row) per model run. Work is handed to the sessions in
/// batches of about this cost, so that a batch of long profiles and a batch of short
/// savoir-faire phrases take about as long; cut by count, one batch of 32 took a few profiles
/// and many phrases padded to the profiles' length, and a session ran it while the other had
/// only short batches and waited. Measured on one session (uniform texts of 10 to 256
/// tokens): tokens per second are flat from 1 to 1024 padded tokens per run and 5-45 % lower
/// at 2048-8192 (activations outgrow the caches), so small batches cost nothing.
const BATCH_TOKENS: usize = 1024;

/// The texts of lengths `lengths` (in tokens) grouped into batches for the sessions: longest
/// first, each batch of similar lengths, at most `max_rows` texts and (beyond its first text)
/// `max_tokens` padded tokens. The batches come out longest first, so the cheap batches of
/// short texts are the last ones handed out and the sessions finish close together.
fn token_batches(lengths: &[usize], max_rows: usize, max_tokens: usize) -> Vec<Vec<usize>> {
    let mut order: Vec<usize> = (0..lengths.len()).collect();
    order.sort_by_key(|&i| std::cmp::Reverse(lengths[i]));
    let mut batches: Vec<Vec<usize>> = Vec::new();
    let mut width = 0;
    for i in order {
        match batches.last_mut() {
            // Sorted longest first: the batch's first text sets its width.
            Some(batch) if batch.len() < max_rows && (batch.len() + 1) * width <= max_tokens => batch.push(i),
            _ => {
                width = lengths[i].max(1);
                batches.push(vec![i]);
            }
        }
    }
    batches
}

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

#[cfg(test)]
mod tests {
    use super::token_batches;

    fn shapes(lengths: &[usize], batches: &[Vec<usize>]) -> Vec<(usize, usize)> {
        batches.iter().map(|b| (b.len(), b.iter().map(|&i| lengths[i]).max().unwrap())).collect()
    }

    /// Profiles and phrases mixed: each batch holds texts of similar lengths up to the token
    /// budget (rows × width), every text exactly once, longest batches first.
    #[test]
    fn batches_are_cut_by_padded_tokens() {
        let mut lengths = vec![20; 20];
        lengths.extend([200, 120, 200, 200, 120, 200]);
        let batches = token_batches(&lengths, 32, 1024);
        assert_eq!(shapes(&lengths, &batches), [(5, 200), (8, 120), (13, 20)]);
        let mut all = batches.concat();
        all.sort_unstable();
        assert_eq!(all, (0..lengths.len()).collect::<Vec<_>>());

        // The row limit still holds for short texts; a text over the budget runs alone.
        let short = vec![10; 100];
        assert_eq!(shapes(&short, &token_batches(&short, 32, 1024)), [(32, 10), (32, 10), (32, 10), (4, 10)]);
        let long = [300, 300, 5];
        assert_eq!(shapes(&long, &token_batches(&long, 32, 256)), [(1, 300), (1, 300), (1, 5)]);
        assert!(token_batches(&[], 32, 1024).is_empty());
    }
}
