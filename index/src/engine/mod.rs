//! The index life cycle over a data directory: the live set of hybrid segments named by an
//! atomically written manifest, `Arc` snapshots for readers, durable incremental upserts and
//! deletes (write-ahead log, then small segments with tombstones for older copies), a merge
//! policy that bounds the segment count, bulk reindex into a new generation, priors refresh
//! without re-indexing text, and consistent backups. See `README.md` beside this file.
//!
//! This file keeps the life cycle: open (with garbage collection), get, upsert, delete, flush,
//! and `commit`, the one way a new state is published. Around it, each in its own file and
//! each an `impl Engine` block: `build.rs` (one new segment from records, and where its
//! vectors come from), `merge.rs` (the merge policy), `reindex.rs` (a bulk new generation),
//! `backup.rs` (backups and restore).
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

mod backup;
mod build;
mod merge;
mod reindex;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use arc_swap::ArcSwap;
use parking_lot::{Mutex, RwLock};

pub use backup::restore;
pub use build::BuildPhase;
pub use manifest::{MANIFEST_FILE, Manifest, SegmentRef};
pub use reindex::DropLimit;
pub use snapshot::{GlobalStats, LiveSegment, Sidecar, Snapshot};
pub use wal::{Wal, WalOp};

use build::{SegmentInput, VectorReuse, opportunity_of};
use reindex::ReindexState;

use crate::IndexError;
use crate::record::parse_id;
use crate::record::{Company, Record};
use crate::refdata::RefData;
use crate::segment::files::{FileEntry, OwnedPath};
use crate::segment::writer::{PRIOR_COLUMNS, now_unix_ms};
use crate::segment::{BuildOptions, CompanyFields, OpenOptions, Segment, Tombstones, VectorOptions, segment_dir_name};
use crate::storage::{ColumnsReader, write_atomically, write_columns};

pub const SEGMENTS_DIR: &str = "segments";
pub const LIVE_DIR: &str = "live";
pub const WAL_DIR: &str = "wal";
/// Default home of the persistent vector cache (see [`crate::embed::VectorCache`]).
pub const VECTOR_CACHE_DIR: &str = "vector-cache";

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

/// What one publish changes.
#[derive(Default)]
struct Change {
    remove: Vec<u64>,
    add: Vec<(Arc<Segment>, Option<Tombstones>)>,
    tombstones: HashMap<u64, Tombstones>,
    priors: HashMap<u64, (FileEntry, ColumnsReader)>,
    checkpoint: Option<u64>,
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
