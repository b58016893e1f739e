//! The index life cycle over a data directory: the live set of hybrid segments named by an
//! atomically written manifest, `Arc` snapshots for readers, durable incremental upserts and
//! deletes (write-ahead log, then small segments with tombstones for older copies), a merge
//! policy that bounds the segment count, bulk reindex into a new generation, priors refresh
//! without re-indexing text, and consistent backups. See `README.md` beside this file.
//!
//! Invariants:
//! - at most one live copy of an id exists across segments (every publish that adds a copy
//!   tombstones the older ones in the same manifest);
//! - an operation acknowledged by [`Engine::upsert`] or [`Engine::delete`] is in the
//!   write-ahead log (fsynced) and stays there until a published manifest's checkpoint covers it;
//! - files are deleted only when no manifest names them and no snapshot uses them.

pub mod manifest;
pub mod snapshot;
pub mod wal;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use arc_swap::ArcSwap;
use parking_lot::{Mutex, RwLock};

pub use manifest::{MANIFEST_FILE, Manifest, SegmentRef};
pub use snapshot::{GlobalStats, Hit, LiveSegment, Sidecar, Snapshot};
pub use wal::{Wal, WalOp};

use crate::record::{Company, Record};
use crate::refdata::RefData;
use crate::segment::files::{FileEntry, OwnedPath, parse_id};
use crate::segment::writer::{PRIOR_COLUMNS, now_unix_ms};
use crate::segment::{
    BuildOptions, CompanyFields, IndexDoc, IndexError, OpenOptions, Segment, SegmentBuilder, Tombstones, VectorOptions,
    segment_dir_name,
};
use crate::storage::{ColumnsReader, fsync_dir, write_atomically, write_columns};

pub const SEGMENTS_DIR: &str = "segments";
pub const LIVE_DIR: &str = "live";
pub const WAL_DIR: &str = "wal";
/// Default home of the persistent vector cache (see [`crate::embed::VectorCache`]).
pub const VECTOR_CACHE_DIR: &str = "vector-cache";

/// Documents whose vectors are computed together (the embedder batches and parallelises them).
const EMBED_BATCH: usize = 128;

/// A segment with more than this fraction of its documents deleted is rewritten…
const COMPACT_DELETED_RATIO: f64 = 0.3;
/// …once at least this many are deleted.
const COMPACT_MIN_DELETED: u32 = 1_000;

/// Segments smaller than this are built with one indexing thread.
const SMALL_SEGMENT_DOCS: usize = 20_000;

/// How the engine builds and opens segments.
#[derive(Debug, Clone)]
pub struct EngineOptions {
    /// Threads and memory for segment builds.
    pub threads: usize,
    pub memory_budget_bytes: usize,
    /// The vectors the index stores, if any: supplied in the records (`Company::vector`) or
    /// computed by `embedder`.
    pub vectors: Option<VectorOptions>,
    /// Computes the vectors of records that bring none.
    pub embedder: Option<Arc<dyn crate::embed::Embedder>>,
    /// Checksum every byte of every segment file on open.
    pub verify_checksums: bool,
    /// The merge policy keeps at most this many segments.
    pub max_segments: usize,
    /// Concurrent vector searches to reserve per segment.
    pub search_threads: usize,
    /// Where computed document vectors are kept by content hash across reindexes and indexes
    /// (`None`: `<data>/vector-cache`). Only used with an embedder.
    pub vector_cache: Option<PathBuf>,
}

impl Default for EngineOptions {
    fn default() -> Self {
        EngineOptions {
            threads: 1,
            memory_budget_bytes: 64 << 20,
            vectors: None,
            embedder: None,
            verify_checksums: true,
            max_segments: 8,
            search_threads: 2,
            vector_cache: None,
        }
    }
}

impl EngineOptions {
    fn build_options(&self) -> BuildOptions {
        BuildOptions {
            threads: self.threads,
            memory_budget_bytes: self.memory_budget_bytes,
            vectors: self.vectors.clone(),
            chunks: self.capability_vectors(),
        }
    }

    /// Whether segments store capability vectors: when an embedder computes them.
    fn capability_vectors(&self) -> bool {
        self.vectors.is_some() && self.embedder.as_ref().is_some_and(|e| e.embeds_capabilities())
    }

    fn open_options(&self) -> OpenOptions {
        OpenOptions {
            verify_checksums: self.verify_checksums,
            expected_model: self.vectors.as_ref().map(|v| v.model.clone()),
            search_threads: self.search_threads,
        }
    }
}

/// An operation acknowledged but not yet in a published segment.
#[derive(Debug, Clone)]
enum Pending {
    Upsert(Arc<Company>),
    Delete,
}

#[derive(Debug, Default)]
struct Memtable {
    active: BTreeMap<String, Pending>,
    /// Operations being published by a flush.
    frozen: BTreeMap<String, Pending>,
}

impl Memtable {
    fn get(&self, id: &str) -> Option<&Pending> {
        self.active.get(id).or_else(|| self.frozen.get(id))
    }
}

#[derive(Debug, Default)]
struct PublishState {
    reindex: Option<ReindexState>,
}

#[derive(Debug)]
struct ReindexState {
    /// Segments with this id or above were published by flushes after the reindex started.
    first_new_segment_id: u64,
    /// Ids deleted by flushes since the reindex started.
    deleted_since: HashSet<String>,
}

/// What one publish changes.
#[derive(Default)]
struct Change {
    remove: Vec<u64>,
    add: Vec<(Arc<Segment>, Option<Tombstones>)>,
    tombstones: HashMap<u64, Tombstones>,
    priors: HashMap<u64, (FileEntry, ColumnsReader)>,
    checkpoint: Option<u64>,
}

/// One document to build: the record, and what an earlier copy of it already had.
struct SegmentInput {
    company: Company,
    /// Its vector, carried over by a merge.
    vector: Option<Vec<f32>>,
    /// Its capability vectors, carried over by a merge.
    chunks: Option<Vec<Vec<f32>>>,
    /// Its opportunity prior, carried over from the live copy.
    opportunity: Option<f32>,
}

impl SegmentInput {
    fn new(company: Company) -> SegmentInput {
        SegmentInput { company, vector: None, chunks: None, opportunity: None }
    }
}

/// The finite opportunity prior of the document at `ord`.
fn opportunity_of(live: &LiveSegment, ord: u32) -> Option<f32> {
    live.prior_column("opportunity").and_then(|c| c.get(ord as usize)).copied().filter(|p| p.is_finite())
}

/// A record on its way into a segment, waiting for its vector.
struct Prepared {
    company: Company,
    vector: Option<Vec<f32>>,
    /// The passage text while its vector is still to be computed.
    text: Option<String>,
    opportunity: Option<f32>,
    content_hash: u64,
    /// Capability vectors (`None` when the segment stores none); rows still to compute are
    /// empty until then.
    chunks: Option<Vec<Vec<f32>>>,
    /// Capability texts still to embed: (row, text, content hash).
    chunk_texts: Vec<(usize, String, u64)>,
}

/// A document's capability vectors, one per capability text.
type CapabilityVectors = Vec<Vec<f32>>;

/// Where a build may find vectors already computed for the same text and model.
enum VectorReuse<'a> {
    None,
    /// The live copy of the same id (an incremental update whose text did not change).
    SameId(&'a Snapshot),
    /// Any live document with the same content hash (a bulk reindex).
    ByHash(&'a Snapshot, HashMap<u64, (usize, u32)>),
}

impl VectorReuse<'_> {
    /// The vector (and capability vectors, if stored) of a live document with this text.
    fn find(&self, id: &str, content_hash: u64) -> Option<(Vec<f32>, Option<CapabilityVectors>)> {
        let (snapshot, idx, ord) = match self {
            VectorReuse::None => return None,
            VectorReuse::SameId(snapshot) => {
                let (idx, ord) = snapshot.locate(id)?;
                (*snapshot, idx, ord)
            }
            VectorReuse::ByHash(snapshot, by_hash) => {
                let &(idx, ord) = by_hash.get(&content_hash)?;
                (*snapshot, idx, ord)
            }
        };
        let segment = &snapshot.segments[idx].segment;
        if segment.content_hash(ord) != Some(content_hash) {
            return None;
        }
        let vector = segment.vector(ord)?;
        Some((vector, segment.chunks().map(|c| c.vectors(ord))))
    }

    /// Every live document's content hash in `snapshot`, for segments of the same model.
    fn by_hash<'a>(snapshot: &'a Snapshot, model: &str) -> VectorReuse<'a> {
        let mut by_hash = HashMap::new();
        for (idx, live) in snapshot.segments.iter().enumerate() {
            if live.segment.meta().vectors.as_ref().is_none_or(|v| v.model != model) {
                continue;
            }
            for ord in 0..live.segment.doc_count() {
                if let Some(hash) = live.segment.content_hash(ord)
                    && live.is_live(ord)
                {
                    by_hash.insert(hash, (idx, ord));
                }
            }
        }
        VectorReuse::ByHash(snapshot, by_hash)
    }
}

/// Progress of a bulk build, reported with the number of records added so far.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BuildPhase {
    /// Records read and added, their vectors found again (every 1,000 records).
    Reading,
    /// Records added after the embedder computed their vectors (after each batch).
    Embedding,
    /// Every record added; the segment is being written (tantivy's commit, the HNSW graph,
    /// checksums).
    Indexing,
    /// The segment is written; the new generation is being published.
    Publishing,
}

/// The index over one data directory.
pub struct Engine {
    root: PathBuf,
    fields: Arc<CompanyFields>,
    options: EngineOptions,
    current: ArcSwap<Snapshot>,
    publish: Mutex<PublishState>,
    merging: Mutex<()>,
    log: Mutex<Wal>,
    memtable: RwLock<Memtable>,
    next_segment_id: AtomicU64,
    vectors_computed: AtomicU64,
    vectors_reused: AtomicU64,
    vector_cache: Option<crate::embed::VectorCache>,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine").field("root", &self.root).field("generation", &self.snapshot().generation()).finish()
    }
}

impl Engine {
    /// Opens (or creates) the index in `root`: reads the manifest, opens and validates every
    /// segment, removes files no manifest names (leftovers of a crash), and replays the
    /// write-ahead log past the manifest's checkpoint.
    pub fn open(root: &Path, options: EngineOptions) -> Result<Engine, IndexError> {
        for dir in [SEGMENTS_DIR, LIVE_DIR, WAL_DIR] {
            let path = root.join(dir);
            std::fs::create_dir_all(&path).map_err(IndexError::io(&path))?;
        }
        let fields = Arc::new(CompanyFields::new());
        let manifest = Manifest::read(root)?.unwrap_or_else(Manifest::empty);
        let open_options = options.open_options();
        let mut segments = Vec::with_capacity(manifest.segments.len());
        for entry in &manifest.segments {
            segments.push(open_live_segment(root, entry, &fields, &open_options)?);
        }
        collect_garbage(root, &manifest)?;
        let (log, ops) = Wal::open(&root.join(WAL_DIR), manifest.wal_checkpoint)?;
        let mut memtable = Memtable::default();
        for (_, op) in ops {
            match op {
                WalOp::Upsert(company) => {
                    memtable.active.insert(company.id.clone(), Pending::Upsert(Arc::new(*company)))
                }
                WalOp::Delete(id) => memtable.active.insert(id, Pending::Delete),
            };
        }
        let next_segment_id = AtomicU64::new(manifest.next_segment_id);
        let vector_cache = match (&options.embedder, &options.vectors) {
            (Some(embedder), Some(vectors)) if embedder.worth_caching() => {
                let dir = options.vector_cache.clone().unwrap_or_else(|| root.join(VECTOR_CACHE_DIR));
                let cache = crate::embed::VectorCache::open(&dir, &vectors.model, embedder.dims())
                    .map_err(IndexError::io(&dir))?;
                Some(cache)
            }
            _ => None,
        };
        Ok(Engine {
            root: root.to_owned(),
            fields,
            options,
            current: ArcSwap::from_pointee(Snapshot { manifest, segments }),
            publish: Mutex::new(PublishState::default()),
            merging: Mutex::new(()),
            log: Mutex::new(log),
            memtable: RwLock::new(memtable),
            next_segment_id,
            vectors_computed: AtomicU64::new(0),
            vectors_reused: AtomicU64::new(0),
            vector_cache,
        })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn fields(&self) -> &CompanyFields {
        &self.fields
    }

    pub fn options(&self) -> &EngineOptions {
        &self.options
    }

    /// The published state, for queries. Holding it keeps its files alive.
    pub fn snapshot(&self) -> Arc<Snapshot> {
        self.current.load_full()
    }

    /// Operations acknowledged but not yet published.
    pub fn pending_count(&self) -> usize {
        let memtable = self.memtable.read();
        memtable.active.len() + memtable.frozen.len()
    }

    /// The current record of `id`: pending operations first, then the published state.
    pub fn get(&self, id: &str) -> Result<Option<Company>, IndexError> {
        if let Some(pending) = self.memtable.read().get(id) {
            return Ok(match pending {
                Pending::Upsert(company) => Some(Company::clone(company)),
                Pending::Delete => None,
            });
        }
        self.snapshot().get(id)
    }

    fn exists(&self, id: &str) -> bool {
        if let Some(pending) = self.memtable.read().get(id) {
            return matches!(pending, Pending::Upsert(_));
        }
        self.snapshot().locate(id).is_some()
    }

    /// Validates and durably logs upserts (all or nothing); returns the last sequence number.
    /// The records are readable by [`Engine::get`] at once and searchable after the next flush.
    pub fn upsert(&self, companies: Vec<Company>) -> Result<u64, IndexError> {
        let refdata = RefData::embedded();
        for company in &companies {
            let mut errors = Vec::new();
            company.check(refdata, &mut errors);
            if let Some(error) = errors.first() {
                return Err(IndexError::Record {
                    id: company.id.clone(),
                    message: format!("field {}: {}", error.field, error.message),
                });
            }
            self.check_vector(company)?;
        }
        let ops: Vec<WalOp> = companies.into_iter().map(|c| WalOp::Upsert(Box::new(c))).collect();
        let mut log = self.log.lock();
        let seq = log.append(&ops)?;
        let mut memtable = self.memtable.write();
        for op in ops {
            if let WalOp::Upsert(company) = op {
                memtable.active.insert(company.id.clone(), Pending::Upsert(Arc::new(*company)));
            }
        }
        Ok(seq)
    }

    fn check_vector(&self, company: &Company) -> Result<(), IndexError> {
        let Some(vector) = &company.vector else { return Ok(()) };
        let record_error = |message: String| IndexError::Record { id: company.id.clone(), message };
        match &self.options.vectors {
            None => Err(record_error("field vector: this index stores no vectors (embedder none)".into())),
            Some(options) if vector.len() != options.dims as usize => Err(record_error(format!(
                "field vector: {} dimensions, the index stores {}",
                vector.len(),
                options.dims
            ))),
            Some(_) if vector.iter().any(|v| !v.is_finite()) => {
                Err(record_error("field vector: a component is not a finite number".into()))
            }
            Some(_) => Ok(()),
        }
    }

    /// Durably logs the deletion of `id`. Returns `Ok(None)` when there is no such company.
    pub fn delete(&self, id: &str) -> Result<Option<u64>, IndexError> {
        let mut log = self.log.lock();
        if !self.exists(id) {
            return Ok(None);
        }
        let seq = log.append(&[WalOp::Delete(id.to_owned())])?;
        self.memtable.write().active.insert(id.to_owned(), Pending::Delete);
        Ok(Some(seq))
    }

    /// Publishes pending operations as a new small segment plus tombstones. Returns whether a
    /// new generation was published.
    pub fn flush(&self) -> Result<bool, IndexError> {
        let mut publish = self.publish.lock();
        self.flush_locked(&mut publish)
    }

    /// [`Engine::flush`] with the publish lock held by the caller.
    fn flush_locked(&self, publish: &mut PublishState) -> Result<bool, IndexError> {
        let (frozen, checkpoint) = {
            let mut log = self.log.lock();
            let mut memtable = self.memtable.write();
            // Operations a previous flush froze but never finished (it unwound): still in the log,
            // they go back under any newer ones before anything is frozen again.
            let leftover = std::mem::take(&mut memtable.frozen);
            for (id, pending) in leftover {
                memtable.active.entry(id).or_insert(pending);
            }
            if memtable.active.is_empty() {
                return Ok(false);
            }
            log.rotate()?;
            memtable.frozen = std::mem::take(&mut memtable.active);
            (memtable.frozen.clone(), log.last_seq())
        };
        let result = self.publish_pending(publish, &frozen, checkpoint);
        {
            let mut memtable = self.memtable.write();
            let frozen = std::mem::take(&mut memtable.frozen);
            if result.is_err() {
                // Still in the log; put the operations back under any newer ones.
                for (id, pending) in frozen {
                    memtable.active.entry(id).or_insert(pending);
                }
            }
        }
        result?;
        self.log.lock().truncate_upto(checkpoint)?;
        Ok(true)
    }

    fn publish_pending(
        &self,
        publish: &mut PublishState,
        frozen: &BTreeMap<String, Pending>,
        checkpoint: u64,
    ) -> Result<(), IndexError> {
        let base = self.snapshot();
        let mut change = Change { checkpoint: Some(checkpoint), ..Change::default() };
        let upserts: Vec<&Arc<Company>> = frozen
            .values()
            .filter_map(|p| match p {
                Pending::Upsert(company) => Some(company),
                Pending::Delete => None,
            })
            .collect();
        if !upserts.is_empty() {
            let records = upserts.iter().map(|c| {
                let opportunity = base.locate(&c.id).and_then(|(idx, ord)| opportunity_of(&base.segments[idx], ord));
                Ok(SegmentInput { opportunity, ..SegmentInput::new(Company::clone(c)) })
            });
            let reuse = VectorReuse::SameId(&base);
            let segment = self.build_segment(records, Some(upserts.len()), &reuse, &mut |_, _| {})?;
            change.add.push((segment, None));
        }
        for id in frozen.keys() {
            for live in &base.segments {
                if let Some(ord) = live.segment.ord_of(id)
                    && live.is_live(ord)
                {
                    change
                        .tombstones
                        .entry(live.segment.id())
                        .or_insert_with(|| live.tombstones.value.clone())
                        .delete(ord);
                }
            }
        }
        if let Some(reindex) = &mut publish.reindex {
            for (id, pending) in frozen {
                if matches!(pending, Pending::Delete) {
                    reindex.deleted_since.insert(id.clone());
                }
            }
        }
        self.commit(&base, change)
    }

    /// Builds and opens one segment from records, in order.
    /// `expected_docs`, when known, sizes the build: small segments use one indexing thread
    /// (one tantivy segment instead of one per thread). Each record may come with its vector
    /// (a merge carries it over); otherwise a provided vector is used, or one is reused through
    /// `reuse`, or the embedder computes it.
    fn build_segment(
        &self,
        records: impl Iterator<Item = Result<SegmentInput, IndexError>>,
        expected_docs: Option<usize>,
        reuse: &VectorReuse<'_>,
        progress: &mut dyn FnMut(BuildPhase, u64),
    ) -> Result<Arc<Segment>, IndexError> {
        let segment_id = self.next_segment_id.fetch_add(1, Ordering::SeqCst);
        let segments_dir = self.root.join(SEGMENTS_DIR);
        let mut build_options = self.options.build_options();
        if expected_docs.is_some_and(|n| n < SMALL_SEGMENT_DOCS) {
            build_options.threads = 1;
            build_options.memory_budget_bytes = build_options.memory_budget_bytes.min(32 << 20);
        }
        let chunk_vectors = build_options.chunks;
        let mut builder = SegmentBuilder::new(&segments_dir, segment_id, &build_options)?;
        let model = self.options.vectors.as_ref().map(|v| v.model.as_str());
        let mut count = 0u64;
        // Records wait here until the vectors they need are computed, in batches; they are added
        // in input order, so ordinals follow the input.
        let mut waiting: Vec<Prepared> = Vec::new();
        let mut to_compute = 0usize;
        for record in records {
            let SegmentInput { company, vector: carried, chunks: carried_chunks, opportunity } = record?;
            let mut prepared = Prepared {
                company,
                vector: None,
                text: None,
                opportunity,
                content_hash: 0,
                chunks: None,
                chunk_texts: Vec::new(),
            };
            if let Some(model) = model {
                let text = crate::embed::passage_text(&prepared.company);
                prepared.content_hash = crate::embed::content_hash(model, &text);
                let mut found_chunks = None;
                prepared.vector = if carried.is_some() {
                    found_chunks = carried_chunks;
                    carried
                } else if let Some(provided) = &prepared.company.vector {
                    Some(provided.clone())
                } else if self.options.embedder.is_some() {
                    let found = match reuse.find(&prepared.company.id, prepared.content_hash) {
                        Some((vector, chunks)) => {
                            found_chunks = chunks;
                            Some(vector)
                        }
                        None => self.vector_cache.as_ref().and_then(|cache| cache.get(prepared.content_hash)),
                    };
                    if found.is_some() {
                        self.vectors_reused.fetch_add(1, Ordering::Relaxed);
                    } else {
                        prepared.text = Some(text);
                        to_compute += 1;
                    }
                    found
                } else {
                    None
                };
                // Capability vectors: reused with the document's, else from the cache by text,
                // else computed. A caller-supplied vector brings none.
                if chunk_vectors && prepared.company.vector.is_none() {
                    let texts = crate::embed::capability_texts(&prepared.company);
                    match found_chunks.filter(|c| c.len() == texts.len()) {
                        Some(chunks) => {
                            self.vectors_reused.fetch_add(chunks.len() as u64, Ordering::Relaxed);
                            prepared.chunks = Some(chunks);
                        }
                        None => {
                            let mut rows = Vec::with_capacity(texts.len());
                            for (row, text) in texts.into_iter().enumerate() {
                                let hash = crate::embed::content_hash(model, &text);
                                match self.vector_cache.as_ref().and_then(|cache| cache.get(hash)) {
                                    Some(vector) => {
                                        self.vectors_reused.fetch_add(1, Ordering::Relaxed);
                                        rows.push(vector);
                                    }
                                    None => {
                                        rows.push(Vec::new());
                                        prepared.chunk_texts.push((row, text, hash));
                                        to_compute += 1;
                                    }
                                }
                            }
                            prepared.chunks = Some(rows);
                        }
                    }
                }
            }
            waiting.push(prepared);
            if to_compute == 0 || to_compute >= EMBED_BATCH {
                self.add_waiting(&mut waiting, &mut builder, &mut count, progress)?;
                to_compute = 0;
            }
        }
        self.add_waiting(&mut waiting, &mut builder, &mut count, progress)?;
        progress(BuildPhase::Indexing, count);
        let (_, dir) = builder.finish()?;
        // Checksums were computed from these very files a moment ago: check sizes only.
        let open_options = OpenOptions { verify_checksums: false, ..self.options.open_options() };
        let segment = Segment::open(&dir, &self.fields, &open_options);
        if segment.is_err() {
            let _ = std::fs::remove_dir_all(&dir);
        }
        Ok(Arc::new(segment?))
    }

    /// Computes the vectors `waiting` records still need, in one batch (remembered in the vector
    /// cache), then adds the records to `builder` in order.
    fn add_waiting(
        &self,
        waiting: &mut Vec<Prepared>,
        builder: &mut SegmentBuilder,
        count: &mut u64,
        progress: &mut dyn FnMut(BuildPhase, u64),
    ) -> Result<(), IndexError> {
        let embedded = self.embed_waiting(waiting)?;
        for prepared in waiting.drain(..) {
            builder.add(IndexDoc {
                company: &prepared.company,
                vector: prepared.vector.as_deref(),
                opportunity: prepared.opportunity,
                content_hash: prepared.content_hash,
                chunks: prepared.chunks.as_deref(),
            })?;
            *count += 1;
            if embedded == 0 && count.is_multiple_of(1_000) {
                progress(BuildPhase::Reading, *count);
            }
        }
        // A batch of vectors takes seconds with a model: report each one.
        if embedded > 0 {
            progress(BuildPhase::Embedding, *count);
        }
        Ok(())
    }

    /// Computes the vectors `waiting` records still need, in one batch, and remembers them in the
    /// vector cache. Returns how many it computed.
    fn embed_waiting(&self, waiting: &mut [Prepared]) -> Result<usize, IndexError> {
        let Some(embedder) = &self.options.embedder else { return Ok(0) };
        let mut texts: Vec<&str> = Vec::new();
        for prepared in waiting.iter() {
            texts.extend(prepared.text.as_deref());
            texts.extend(prepared.chunk_texts.iter().map(|(_, text, _)| text.as_str()));
        }
        if texts.is_empty() {
            return Ok(0);
        }
        let vectors =
            embedder.embed(crate::embed::TextKind::Passage, &texts).map_err(|err| IndexError::Embedding(err.0))?;
        if vectors.len() != texts.len() {
            return Err(IndexError::Embedding(format!(
                "the embedder returned {} vectors for {} texts",
                vectors.len(),
                texts.len()
            )));
        }
        self.vectors_computed.fetch_add(vectors.len() as u64, Ordering::Relaxed);
        let mut vectors = vectors.into_iter();
        let mut computed: Vec<(u64, Vec<f32>)> = Vec::new();
        for prepared in waiting.iter_mut() {
            if prepared.text.take().is_some() {
                let vector = vectors.next().expect("one vector per text");
                computed.push((prepared.content_hash, vector.clone()));
                prepared.vector = Some(vector);
            }
            for (row, _, hash) in std::mem::take(&mut prepared.chunk_texts) {
                let vector = vectors.next().expect("one vector per text");
                computed.push((hash, vector.clone()));
                if let Some(rows) = prepared.chunks.as_mut() {
                    rows[row] = vector;
                }
            }
        }
        if let Some(cache) = &self.vector_cache
            && let Err(err) = cache.put_many(computed.iter().map(|(hash, vector)| (*hash, vector.as_slice())))
        {
            // A cache: the build goes on, the next one recomputes.
            tracing::warn!(path = %cache.path().display(), error = %err, "vector cache: cannot append");
        }
        Ok(computed.len())
    }

    /// Checksums every byte of every live segment file not yet verified (an open checks sizes,
    /// and checksums only small files unless `verify_checksums`). Returns the first problem; the
    /// server runs this in the background after opening and reports the result in `/health`.
    pub fn scrub(&self) -> Result<usize, IndexError> {
        let snapshot = self.snapshot();
        for live in &snapshot.segments {
            live.segment.verify_all()?;
        }
        Ok(snapshot.segments.len())
    }

    /// Vectors computed by the embedder and vectors reused from earlier segments, since open.
    pub fn vector_counts(&self) -> (u64, u64) {
        (self.vectors_computed.load(Ordering::Relaxed), self.vectors_reused.load(Ordering::Relaxed))
    }

    /// Writes the sidecars and the manifest of `base` + `change`, then swaps the live snapshot.
    /// Caller holds `self.publish`.
    fn commit(&self, base: &Snapshot, change: Change) -> Result<(), IndexError> {
        let generation = base.manifest.generation + 1;
        let live_dir = self.root.join(LIVE_DIR);
        let mut written: Vec<PathBuf> = Vec::new();
        let result = (|| -> Result<Snapshot, IndexError> {
            let mut new_tombstones: HashMap<u64, (FileEntry, Tombstones)> = HashMap::new();
            let all_tombstones = change
                .tombstones
                .iter()
                .map(|(id, t)| (*id, t.clone()))
                .chain(change.add.iter().filter_map(|(s, t)| t.clone().map(|t| (s.id(), t))));
            for (segment_id, tombstones) in all_tombstones {
                let name = format!("{}.g{generation}.del", segment_dir_name(segment_id));
                let path = live_dir.join(&name);
                let bytes = tombstones.encode();
                write_atomically(&path, &bytes).map_err(IndexError::io(&path))?;
                written.push(path);
                let entry = FileEntry { name, len: bytes.len() as u64, crc32: crc32fast::hash(&bytes) };
                new_tombstones.insert(segment_id, (entry, tombstones));
            }
            let mut manifest = Manifest {
                generation,
                next_segment_id: self.next_segment_id.load(Ordering::SeqCst),
                wal_checkpoint: change.checkpoint.unwrap_or(base.manifest.wal_checkpoint),
                created_unix_ms: now_unix_ms(),
                segments: Vec::new(),
            };
            let mut segments = Vec::new();
            let removed: HashSet<u64> = change.remove.iter().copied().collect();
            let mut priors = change.priors;
            let carried = base.segments.iter().zip(&base.manifest.segments).filter(|(_, r)| !removed.contains(&r.id));
            let mut carried_pairs: Vec<(LiveSegment, SegmentRef)> =
                carried.map(|(live, entry)| (live.clone(), entry.clone())).collect();
            for (segment, _) in &change.add {
                let n = segment.doc_count();
                carried_pairs.push((
                    LiveSegment {
                        segment: Arc::clone(segment),
                        tombstones: Arc::new(Sidecar::in_memory(Tombstones::none(n))),
                        priors: None,
                    },
                    SegmentRef { id: segment.id(), doc_count: n, deletes: None, priors: None },
                ));
            }
            for (mut live, mut entry) in carried_pairs {
                if let Some((file, tombstones)) = new_tombstones.remove(&entry.id) {
                    let path = live_dir.join(&file.name);
                    live.tombstones = Arc::new(Sidecar { value: tombstones, file: Some(OwnedPath::new(path)) });
                    entry.deletes = Some(file);
                }
                if let Some((file, reader)) = priors.remove(&entry.id) {
                    let path = live_dir.join(&file.name);
                    live.priors = Some(Arc::new(Sidecar { value: reader, file: Some(OwnedPath::new(path)) }));
                    entry.priors = Some(file);
                }
                segments.push(live);
                manifest.segments.push(entry);
            }
            if let Err(err) = manifest.write(&self.root) {
                // The write may have failed after the rename (fsync of the directory): then the
                // new manifest is what a restart reads, and this publish happened.
                match Manifest::read(&self.root) {
                    Ok(Some(on_disk)) if on_disk == manifest => {
                        tracing::error!(%err, "manifest published but not confirmed durable");
                    }
                    _ => return Err(err),
                }
            }
            Ok(Snapshot { manifest, segments })
        })();
        let snapshot = match result {
            Ok(snapshot) => snapshot,
            Err(err) => {
                for path in written {
                    let _ = std::fs::remove_file(path);
                }
                for (segment, _) in &change.add {
                    segment.mark_obsolete();
                }
                return Err(err);
            }
        };
        let new = Arc::new(snapshot);
        let old = self.current.swap(Arc::clone(&new));
        // What the new state no longer uses goes when the last reader of the old one lets go.
        for live in &old.segments {
            match new.segments.iter().find(|n| n.segment.id() == live.segment.id()) {
                None => {
                    live.segment.mark_obsolete();
                    live.tombstones.mark_obsolete();
                    if let Some(priors) = &live.priors {
                        priors.mark_obsolete();
                    }
                }
                Some(kept) => {
                    if !Arc::ptr_eq(&kept.tombstones, &live.tombstones) {
                        live.tombstones.mark_obsolete();
                    }
                    if let Some(priors) = &live.priors
                        && !kept.priors.as_ref().is_some_and(|k| Arc::ptr_eq(k, priors))
                    {
                        priors.mark_obsolete();
                    }
                }
            }
        }
        Ok(())
    }

    /// Merges the smallest segments when there are more than `max_segments`. Returns whether a
    /// merge was published. Runs beside queries and incremental writes; only one merge runs at a
    /// time, and none while a reindex runs.
    pub fn merge_if_needed(&self) -> Result<bool, IndexError> {
        let Some(_merging) = self.merging.try_lock() else { return Ok(false) };
        let base = self.snapshot();
        if self.publish.lock().reindex.is_some() {
            return Ok(false);
        }
        let max_segments = self.options.max_segments.max(1);
        if base.segments.len() > max_segments {
            let mut order: Vec<usize> = (0..base.segments.len()).collect();
            order.sort_by_key(|&i| (base.segments[i].live_count(), base.segments[i].segment.id()));
            let take = (base.segments.len() - max_segments + 1).max(2);
            let chosen: Vec<usize> = order.into_iter().take(take).collect();
            return self.merge(&base, &chosen);
        }
        // A segment mostly made of deleted documents (a large one updated piecemeal) is rewritten
        // on its own: the smallest-first rule above would never pick it.
        let wasteful = base.segments.iter().position(|live| {
            let deleted = live.tombstones.value.deleted_count();
            deleted >= COMPACT_MIN_DELETED
                && f64::from(deleted) > COMPACT_DELETED_RATIO * f64::from(live.segment.doc_count())
        });
        match wasteful {
            Some(idx) => self.merge(&base, &[idx]),
            None => Ok(false),
        }
    }

    /// Merges every segment into one (for tests and maintenance).
    pub fn merge_all(&self) -> Result<bool, IndexError> {
        let _merging = self.merging.lock();
        let base = self.snapshot();
        if base.segments.len() < 2 {
            return Ok(false);
        }
        let chosen: Vec<usize> = (0..base.segments.len()).collect();
        self.merge(&base, &chosen)
    }

    fn merge(&self, base: &Arc<Snapshot>, chosen: &[usize]) -> Result<bool, IndexError> {
        // New ordinal → (segment id, old ordinal), to carry deletions made during the merge.
        let mut origin: Vec<(u64, u32)> = Vec::new();
        let mut docs = Vec::new();
        for &idx in chosen {
            let live = &base.segments[idx];
            for ord in 0..live.segment.doc_count() {
                if live.is_live(ord) {
                    docs.push((idx, ord));
                    origin.push((live.segment.id(), ord));
                }
            }
        }
        let records = docs.iter().map(|&(idx, ord)| {
            let segment = &base.segments[idx].segment;
            let source = segment.source(ord)?.ok_or_else(|| {
                IndexError::Corrupt(format!("{}: document {ord} has no stored record", segment.dir().display()))
            })?;
            let company: Company = serde_json::from_slice(&source)
                .map_err(|err| IndexError::Corrupt(format!("{}: stored record: {err}", segment.dir().display())))?;
            let vector = if company.vector.is_none() { segment.vector(ord) } else { None };
            let chunks = vector.as_ref().and(segment.chunks()).map(|c| c.vectors(ord));
            let opportunity = opportunity_of(&base.segments[idx], ord);
            Ok(SegmentInput { company, vector, chunks, opportunity })
        });
        let merged = self.build_segment(records, Some(docs.len()), &VectorReuse::None, &mut |_, _| {})?;
        let publish = self.publish.lock();
        let current = self.snapshot();
        let chosen_ids: Vec<u64> = chosen.iter().map(|&i| base.segments[i].segment.id()).collect();
        // The chosen segments must still be live with the priors the merge copied (a priors
        // refresh meanwhile would be undone): otherwise give up, the next round retries.
        let unchanged = chosen.iter().all(|&idx| {
            let before = &base.segments[idx];
            current.segments.iter().any(|now| {
                Arc::ptr_eq(&now.segment, &before.segment)
                    && match (&now.priors, &before.priors) {
                        (None, None) => true,
                        (Some(a), Some(b)) => Arc::ptr_eq(a, b),
                        _ => false,
                    }
            })
        });
        if !unchanged || publish.reindex.is_some() {
            merged.mark_obsolete();
            return Ok(false);
        }
        let mut tombstones = Tombstones::none(merged.doc_count());
        for (new_ord, (segment_id, old_ord)) in origin.iter().enumerate() {
            let live = current.segments.iter().find(|l| l.segment.id() == *segment_id).expect("checked above");
            if !live.is_live(*old_ord) {
                tombstones.delete(new_ord as u32);
            }
        }
        let tombstones = (tombstones.deleted_count() > 0).then_some(tombstones);
        let change = Change { remove: chosen_ids, add: vec![(merged, tombstones)], ..Change::default() };
        self.commit(&current, change)?;
        drop(publish);
        Ok(true)
    }

    /// Replaces the whole index with `companies`, built in the background of running queries
    /// and incremental writes; the new generation is swapped in atomically. Writes acknowledged
    /// while the build runs are kept on top of it.
    pub fn reindex(
        &self,
        companies: impl Iterator<Item = Result<Company, IndexError>>,
        progress: &mut dyn FnMut(BuildPhase, u64),
    ) -> Result<u64, IndexError> {
        {
            // Flush and mark the start under one lock: a flush in between would publish writes
            // into a segment the swap would then treat as older than the reindex.
            let mut publish = self.publish.lock();
            if publish.reindex.is_some() {
                return Err(IndexError::Busy("a reindex is already running".into()));
            }
            self.flush_locked(&mut publish)?;
            publish.reindex = Some(ReindexState {
                first_new_segment_id: self.next_segment_id.load(Ordering::SeqCst),
                deleted_since: HashSet::new(),
            });
        }
        /// Clears the reindex state if the build unwinds before taking it back.
        struct Running<'a> {
            publish: &'a Mutex<PublishState>,
            armed: bool,
        }
        impl Drop for Running<'_> {
            fn drop(&mut self) {
                if self.armed {
                    self.publish.lock().reindex = None;
                }
            }
        }
        let mut running = Running { publish: &self.publish, armed: true };
        let base = self.snapshot();
        let reuse = match (&self.options.embedder, &self.options.vectors) {
            (Some(_), Some(vectors)) => VectorReuse::by_hash(&base, &vectors.model),
            _ => VectorReuse::None,
        };
        // Priors change daily while texts rarely do: a company keeps its prior across a reindex
        // until the next refresh.
        let mut priors: HashMap<u32, f32> = HashMap::new();
        for live in &base.segments {
            for (ord, id) in live.segment.ids().iter() {
                if live.is_live(ord)
                    && let Some(p) = opportunity_of(live, ord)
                {
                    priors.insert(id, p);
                }
            }
        }
        let records = companies.map(|c| {
            c.map(|company| {
                let opportunity = parse_id(&company.id).and_then(|id| priors.get(&id).copied());
                SegmentInput { opportunity, ..SegmentInput::new(company) }
            })
        });
        let built = self.build_segment(records, None, &reuse, progress);
        drop(reuse);
        let mut publish = self.publish.lock();
        let state = publish.reindex.take().expect("set above");
        running.armed = false;
        let segment = built?;
        progress(BuildPhase::Publishing, u64::from(segment.doc_count()));
        let current = self.snapshot();
        let keep: Vec<&LiveSegment> =
            current.segments.iter().filter(|l| l.segment.id() >= state.first_new_segment_id).collect();
        let mut tombstones = Tombstones::none(segment.doc_count());
        for live in &keep {
            for (_, id) in live.segment.ids().iter() {
                if let Some(ord) = segment.ord_of(&crate::segment::format_id(id)) {
                    tombstones.delete(ord);
                }
            }
        }
        for id in &state.deleted_since {
            if let Some(ord) = segment.ord_of(id) {
                tombstones.delete(ord);
            }
        }
        let remove =
            current.segments.iter().map(|l| l.segment.id()).filter(|&id| id < state.first_new_segment_id).collect();
        let tombstones = (tombstones.deleted_count() > 0).then_some(tombstones);
        let change = Change { remove, add: vec![(segment, tombstones)], ..Change::default() };
        self.commit(&current, change)?;
        Ok(self.snapshot().generation())
    }

    /// Replaces the `opportunity` prior of the given companies in the live set, without touching
    /// text or vectors. Returns how many live documents changed.
    pub fn refresh_priors(&self, values: &HashMap<String, f32>) -> Result<usize, IndexError> {
        let by_id: HashMap<u32, f32> = values
            .iter()
            .map(|(id, p)| {
                let raw = parse_id(id)
                    .ok_or_else(|| IndexError::Record { id: id.clone(), message: "not a 9-digit id".into() })?;
                if !(0.0..=1.0).contains(p) {
                    return Err(IndexError::Record {
                        id: id.clone(),
                        message: format!("opportunity {p} is not in [0, 1]"),
                    });
                }
                Ok((raw, *p))
            })
            .collect::<Result<_, _>>()?;
        let _publish = self.publish.lock();
        let base = self.snapshot();
        let generation = base.manifest.generation + 1;
        let live_dir = self.root.join(LIVE_DIR);
        let mut change = Change::default();
        let mut updated = 0;
        for live in &base.segments {
            let mut columns: Vec<Vec<f32>> = PRIOR_COLUMNS
                .iter()
                .map(|name| live.prior_column(name).map(<[f32]>::to_vec).unwrap_or_default())
                .collect();
            let mut changed = false;
            for (ord, id) in live.segment.ids().iter() {
                if let Some(&p) = by_id.get(&id)
                    && live.is_live(ord)
                {
                    let slot = &mut columns[0][ord as usize];
                    if slot.to_bits() != p.to_bits() {
                        *slot = p;
                        changed = true;
                    }
                    updated += 1;
                }
            }
            if !changed {
                continue;
            }
            let name = format!("{}.g{generation}.cols", segment_dir_name(live.segment.id()));
            let path = live_dir.join(&name);
            let named: Vec<(&str, &[f32])> =
                PRIOR_COLUMNS.iter().copied().zip(columns.iter().map(Vec::as_slice)).collect();
            write_columns(&path, live.segment.doc_count(), &named)?;
            let entry = FileEntry::compute(&live_dir, &name)?;
            change.priors.insert(live.segment.id(), (entry, ColumnsReader::open(&path)?));
        }
        if !change.priors.is_empty() {
            self.commit(&base, change)?;
        }
        Ok(updated)
    }

    /// Writes a consistent copy of the published state (after publishing pending writes) into
    /// `dest`, which must not exist. Files are hard-linked when possible (they never change).
    pub fn backup(&self, dest: &Path) -> Result<Manifest, IndexError> {
        self.flush()?;
        let snapshot = self.snapshot();
        if dest.exists() {
            return Err(IndexError::Invalid(format!("{} already exists", dest.display())));
        }
        let tmp = unique_temp_dir(dest)?;
        if let Err(err) = copy_state(&self.root, &snapshot.files(&self.root), &tmp) {
            let _ = std::fs::remove_dir_all(&tmp);
            return Err(err);
        }
        snapshot.manifest.write(&tmp)?;
        fsync_tree(&tmp)?;
        std::fs::rename(&tmp, dest).map_err(IndexError::io(dest))?;
        if let Some(parent) = dest.parent() {
            fsync_dir(parent).map_err(IndexError::io(parent))?;
        }
        Ok(snapshot.manifest.clone())
    }
}

/// Restores a backup into `target`, which must not exist or be empty: every file is verified
/// (full checksums) before anything is written, and the copy appears under its final name only
/// once complete.
pub fn restore(backup: &Path, target: &Path) -> Result<Manifest, IndexError> {
    let manifest = Manifest::read(backup)?
        .ok_or_else(|| IndexError::Invalid(format!("{}: no {MANIFEST_FILE}; not a backup", backup.display())))?;
    let fields = Arc::new(CompanyFields::new());
    let options = OpenOptions { verify_checksums: true, expected_model: None, search_threads: 1 };
    let segments = manifest
        .segments
        .iter()
        .map(|entry| open_live_segment(backup, entry, &fields, &options))
        .collect::<Result<Vec<_>, _>>()?;
    let files = Snapshot { manifest: manifest.clone(), segments }.files(backup);
    let is_empty = |p: &Path| std::fs::read_dir(p).map(|mut d| d.next().is_none()).unwrap_or(false);
    if target.exists() && !is_empty(target) {
        return Err(IndexError::Invalid(format!(
            "{} is not empty; restore into a new directory (stop the server, move the old one away)",
            target.display()
        )));
    }
    let tmp = unique_temp_dir(target)?;
    if let Err(err) = copy_state(backup, &files, &tmp) {
        let _ = std::fs::remove_dir_all(&tmp);
        return Err(err);
    }
    for dir in [SEGMENTS_DIR, LIVE_DIR, WAL_DIR] {
        std::fs::create_dir_all(tmp.join(dir)).map_err(IndexError::io(tmp.join(dir)))?;
    }
    manifest.write(&tmp)?;
    fsync_tree(&tmp)?;
    if target.exists() {
        std::fs::remove_dir(target).map_err(IndexError::io(target))?;
    }
    std::fs::rename(&tmp, target).map_err(IndexError::io(target))?;
    if let Some(parent) = target.parent() {
        fsync_dir(parent).map_err(IndexError::io(parent))?;
    }
    Ok(manifest)
}

/// Creates a fresh, exclusively owned temporary directory beside `dest`.
fn unique_temp_dir(dest: &Path) -> Result<PathBuf, IndexError> {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let name = dest.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let tmp =
        dest.with_file_name(format!(".{name}.tmp-{}-{}", std::process::id(), NEXT.fetch_add(1, Ordering::Relaxed)));
    if let Some(parent) = tmp.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(IndexError::io(parent))?;
    }
    std::fs::create_dir(&tmp).map_err(IndexError::io(&tmp))?;
    Ok(tmp)
}

fn copy_state(root: &Path, files: &[PathBuf], dest: &Path) -> Result<(), IndexError> {
    for relative in files {
        let from = root.join(relative);
        let to = dest.join(relative);
        if let Some(parent) = to.parent() {
            std::fs::create_dir_all(parent).map_err(IndexError::io(parent))?;
        }
        if std::fs::hard_link(&from, &to).is_err() {
            std::fs::copy(&from, &to).map_err(IndexError::io(&from))?;
            std::fs::File::open(&to).and_then(|f| f.sync_all()).map_err(IndexError::io(&to))?;
        }
    }
    Ok(())
}

fn fsync_tree(dir: &Path) -> Result<(), IndexError> {
    for entry in std::fs::read_dir(dir).map_err(IndexError::io(dir))? {
        let entry = entry.map_err(IndexError::io(dir))?;
        if entry.file_type().map_err(IndexError::io(entry.path()))?.is_dir() {
            fsync_tree(&entry.path())?;
        }
    }
    fsync_dir(dir).map_err(IndexError::io(dir))
}

fn open_live_segment(
    root: &Path,
    entry: &SegmentRef,
    fields: &Arc<CompanyFields>,
    options: &OpenOptions,
) -> Result<LiveSegment, IndexError> {
    let dir = root.join(SEGMENTS_DIR).join(segment_dir_name(entry.id));
    let segment = Segment::open(&dir, fields, options)?;
    if segment.doc_count() != entry.doc_count || segment.id() != entry.id {
        return Err(IndexError::Corrupt(format!(
            "{}: segment does not match the manifest; restore from a snapshot",
            dir.display()
        )));
    }
    let live_dir = root.join(LIVE_DIR);
    let tombstones = match &entry.deletes {
        Some(file) => {
            file.verify(&live_dir)?;
            let path = live_dir.join(&file.name);
            let tombstones = Tombstones::read(&path)?;
            if tombstones.n_docs() != entry.doc_count {
                return Err(IndexError::Corrupt(format!("{}: tombstones do not match the segment", path.display())));
            }
            Sidecar { value: tombstones, file: Some(OwnedPath::new(path)) }
        }
        None => Sidecar::in_memory(Tombstones::none(entry.doc_count)),
    };
    let priors = match &entry.priors {
        Some(file) => {
            file.verify(&live_dir)?;
            let path = live_dir.join(&file.name);
            let reader = crate::segment::reader::open_priors(&path, entry.doc_count)?;
            Some(Arc::new(Sidecar { value: reader, file: Some(OwnedPath::new(path)) }))
        }
        None => None,
    };
    Ok(LiveSegment { segment: Arc::new(segment), tombstones: Arc::new(tombstones), priors })
}

/// Removes segment directories and sidecars that `manifest` does not name: builds, merges and
/// publishes interrupted by a crash.
fn collect_garbage(root: &Path, manifest: &Manifest) -> Result<(), IndexError> {
    let segment_names: HashSet<String> = manifest.segments.iter().map(|s| segment_dir_name(s.id)).collect();
    let sidecar_names: HashSet<&str> =
        manifest.segments.iter().flat_map(|s| [&s.deletes, &s.priors]).flatten().map(|f| f.name.as_str()).collect();
    let segments_dir = root.join(SEGMENTS_DIR);
    for entry in std::fs::read_dir(&segments_dir).map_err(IndexError::io(&segments_dir))? {
        let entry = entry.map_err(IndexError::io(&segments_dir))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if !segment_names.contains(&name) {
            tracing::info!("removing unreferenced {}", entry.path().display());
            let path = entry.path();
            let removed = if path.is_dir() { std::fs::remove_dir_all(&path) } else { std::fs::remove_file(&path) };
            removed.map_err(IndexError::io(&path))?;
        }
    }
    let live_dir = root.join(LIVE_DIR);
    for entry in std::fs::read_dir(&live_dir).map_err(IndexError::io(&live_dir))? {
        let entry = entry.map_err(IndexError::io(&live_dir))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if !sidecar_names.contains(name.as_str()) {
            std::fs::remove_file(entry.path()).map_err(IndexError::io(entry.path()))?;
        }
    }
    for stray in std::fs::read_dir(root).map_err(IndexError::io(root))? {
        let stray = stray.map_err(IndexError::io(root))?;
        let name = stray.file_name().to_string_lossy().into_owned();
        if name.starts_with(&format!(".{MANIFEST_FILE}.tmp.")) {
            std::fs::remove_file(stray.path()).map_err(IndexError::io(stray.path()))?;
        }
    }
    Ok(())
}
