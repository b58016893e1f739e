//! Building one hybrid segment: lexical index, vectors, dictionaries, prior columns and id map
//! for a set of documents under one dense ordinal space, written into a temporary directory and
//! published by renaming it (a segment directory either is complete or does not exist).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::thread::JoinHandle;

use parking_lot::Mutex;
use tantivy::IndexWriter;

use super::chunks::{CHUNKS_FILE, ChunkWriter};
use super::facets::{FACETS_FILE, FacetsBuilder, company_facets, current_fingerprint};
use super::files::{FileEntry, IdTable, META_FILE, SegmentMeta, VectorInfo};
use super::forward::{FORWARD_FILE, write_forward};
use super::schema::{CompanyFields, Location};
use super::{Quantization, VectorOptions, files};
use crate::IndexError;
use crate::analysis::tokenizer::register_tokenizers;
use crate::record::Company;
use crate::record::{format_id, parse_id};
use crate::refdata::RefData;
use crate::storage::{fsync_dir, write_columns};

pub const TANTIVY_DIR: &str = "tantivy";
pub const IDS_FILE: &str = "ids.bin";
pub const ID_MAP_FILE: &str = "ids.fst";
pub const NAMES_FILE: &str = "names.fst";
pub const PRIORS_FILE: &str = "priors.cols";
pub const VECTORS_FILE: &str = "vectors.usearch";
pub const HASHES_FILE: &str = "hashes.bin";

/// The prior columns every segment has.
pub const PRIOR_COLUMNS: [&str; 3] = ["opportunity", "lat", "lon"];

/// How to build a segment.
#[derive(Debug, Clone)]
pub struct BuildOptions {
    /// tantivy indexing threads.
    pub threads: usize,
    /// tantivy memory budget across threads.
    pub memory_budget_bytes: usize,
    /// Vectors to store, if any.
    pub vectors: Option<VectorOptions>,
    /// Store capability vectors too (`chunks.bin`; needs `vectors`).
    pub chunks: bool,
}

impl Default for BuildOptions {
    fn default() -> Self {
        BuildOptions { threads: 1, memory_budget_bytes: 64 << 20, vectors: None, chunks: false }
    }
}

/// One document to add.
#[derive(Debug, Clone, Copy)]
pub struct IndexDoc<'a> {
    pub company: &'a Company,
    /// The document's vector (required when the segment stores vectors, unless absent texts).
    pub vector: Option<&'a [f32]>,
    /// Calibrated opportunity probability; `None` stores NaN (unknown, neutral at query time).
    pub opportunity: Option<f32>,
    /// [`crate::embed::content_hash`] of what the vector was computed from (0 without vectors).
    pub content_hash: u64,
    /// Capability vectors (see [`super::chunks`]), when the segment stores them.
    pub chunks: Option<&'a [Vec<f32>]>,
}

/// Builds a segment. Documents get ordinals 0, 1, 2… in the order they are added.
pub struct SegmentBuilder {
    segment_id: u64,
    tmp_dir: PathBuf,
    final_dir: PathBuf,
    fields: CompanyFields,
    writer: Option<IndexWriter>,
    refdata: &'static RefData,
    ids: Vec<u32>,
    names: Vec<(String, u32)>,
    opportunity: Vec<f32>,
    lat: Vec<f32>,
    lon: Vec<f32>,
    hashes: Vec<u64>,
    vectors: Option<VectorBuild>,
    chunks: Option<ChunkWriter>,
    facets: FacetsBuilder,
    source: Vec<u8>,
}

impl std::fmt::Debug for SegmentBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SegmentBuilder").field("segment_id", &self.segment_id).field("docs", &self.ids.len()).finish()
    }
}

/// Directory name of segment `id`.
pub fn segment_dir_name(id: u64) -> String {
    format!("seg-{id:010}")
}

impl SegmentBuilder {
    /// Starts segment `segment_id` under `segments_dir`. A leftover temporary directory of the
    /// same id (from a crash) is removed first.
    pub fn new(segments_dir: &Path, segment_id: u64, options: &BuildOptions) -> Result<SegmentBuilder, IndexError> {
        let final_dir = segments_dir.join(segment_dir_name(segment_id));
        let tmp_dir = segments_dir.join(format!("{}.tmp", segment_dir_name(segment_id)));
        if final_dir.exists() {
            return Err(IndexError::Corrupt(format!("{} already exists", final_dir.display())));
        }
        if tmp_dir.exists() {
            std::fs::remove_dir_all(&tmp_dir).map_err(IndexError::io(&tmp_dir))?;
        }
        let tantivy_dir = tmp_dir.join(TANTIVY_DIR);
        std::fs::create_dir_all(&tantivy_dir).map_err(IndexError::io(&tantivy_dir))?;
        let fields = CompanyFields::new();
        let index = tantivy::Index::create_in_dir(&tantivy_dir, fields.schema.clone())
            .map_err(IndexError::lexical_write(&tantivy_dir))?;
        register_tokenizers(index.tokenizers());
        let threads = options.threads.clamp(1, 8);
        // tantivy wants at least 15 MB per indexing thread.
        let budget = options.memory_budget_bytes.max(threads * (16 << 20));
        let writer = index.writer_with_num_threads(threads, budget).map_err(IndexError::lexical_write(&tantivy_dir))?;
        let vectors = options.vectors.clone().map(|opts| VectorBuild::start(opts, threads)).transpose()?;
        let chunks = match &options.vectors {
            Some(vectors) if options.chunks => Some(ChunkWriter::create(&tmp_dir.join(CHUNKS_FILE), vectors.dims)?),
            _ => None,
        };
        Ok(SegmentBuilder {
            segment_id,
            tmp_dir,
            final_dir,
            fields,
            writer: Some(writer),
            refdata: RefData::embedded(),
            ids: Vec::new(),
            names: Vec::new(),
            opportunity: Vec::new(),
            lat: Vec::new(),
            lon: Vec::new(),
            hashes: Vec::new(),
            vectors,
            chunks,
            facets: FacetsBuilder::default(),
            source: Vec::new(),
        })
    }

    pub fn doc_count(&self) -> u32 {
        self.ids.len() as u32
    }

    /// Adds a document; returns its ordinal.
    pub fn add(&mut self, doc: IndexDoc<'_>) -> Result<u32, IndexError> {
        let company = doc.company;
        let record_error = |message: String| IndexError::Record { id: company.id.clone(), message };
        let id = parse_id(&company.id).ok_or_else(|| record_error("id is not 9 digits".into()))?;
        let ord = u32::try_from(self.ids.len()).map_err(|_| record_error("segment is full".into()))?;
        if let Some(build) = &self.vectors
            && let Some(vector) = doc.vector
        {
            if vector.len() != build.options.dims as usize {
                return Err(record_error(format!(
                    "vector has {} dimensions, the index stores {}",
                    vector.len(),
                    build.options.dims
                )));
            }
            if vector.iter().any(|v| !v.is_finite()) {
                return Err(record_error("vector has a non-finite component".into()));
            }
            build.send(u64::from(ord), vector.to_vec())?;
        }
        if let Some(chunks) = &mut self.chunks {
            let vectors = doc.chunks.unwrap_or(&[]);
            if let Some(bad) =
                vectors.iter().find(|v| v.len() != chunks.dims() as usize || v.iter().any(|x| !x.is_finite()))
            {
                return Err(record_error(format!(
                    "a capability vector has {} dimensions or a non-finite value (the index stores {})",
                    bad.len(),
                    chunks.dims()
                )));
            }
            // Only I/O can fail now: the segment's problem, not the record's.
            chunks.push(vectors)?;
        }
        self.source.clear();
        serde_json::to_writer(&mut self.source, company).map_err(|err| record_error(err.to_string()))?;
        let place = Location::of(company, self.refdata);
        let document = self.fields.document(company, ord, &self.source, &place);
        let writer = self.writer.as_ref().expect("writer lives until finish");
        writer.add_document(document).map_err(IndexError::lexical_write(&self.tmp_dir))?;
        self.ids.push(id);
        self.names.push((name_key(&company.name), ord));
        self.opportunity.push(doc.opportunity.filter(|p| p.is_finite()).unwrap_or(f32::NAN));
        self.lat.push(place.lat.map_or(f32::NAN, |v| v as f32));
        self.lon.push(place.lon.map_or(f32::NAN, |v| v as f32));
        self.facets.push(company_facets(company, &place));
        if self.vectors.is_some() {
            self.hashes.push(doc.content_hash);
        }
        Ok(ord)
    }

    /// Writes every file, checksums them, writes `meta.bin` and publishes the directory.
    /// Returns the segment's metadata and directory.
    pub fn finish(mut self) -> Result<(SegmentMeta, PathBuf), IndexError> {
        let started = std::time::Instant::now();
        let tantivy_dir = self.tmp_dir.join(TANTIVY_DIR);
        let mut writer = self.writer.take().expect("writer lives until finish");
        let doc_count = self.doc_count();
        // The dictionaries and columns are written while tantivy serialises its last segments.
        let names = std::mem::take(&mut self.names);
        let facets = std::mem::take(&mut self.facets);
        let (committed, written) = std::thread::scope(|scope| -> Result<_, IndexError> {
            let dictionaries = scope.spawn(|| -> Result<std::time::Duration, IndexError> {
                write_plain(&self.tmp_dir.join(IDS_FILE), &IdTable::encode(&self.ids))?;
                write_id_map(&self.tmp_dir.join(ID_MAP_FILE), &self.ids)?;
                if self.vectors.is_some() {
                    write_plain(&self.tmp_dir.join(HASHES_FILE), &files::encode_hashes(&self.hashes))?;
                }
                write_names(&self.tmp_dir.join(NAMES_FILE), names)?;
                write_plain(&self.tmp_dir.join(FACETS_FILE), &facets.finish(current_fingerprint()).encode())?;
                let priors = [&self.opportunity[..], &self.lat[..], &self.lon[..]];
                let columns: Vec<(&str, &[f32])> = PRIOR_COLUMNS.iter().copied().zip(priors).collect();
                write_columns(&self.tmp_dir.join(PRIORS_FILE), doc_count, &columns)?;
                Ok(started.elapsed())
            });
            writer.commit().map_err(IndexError::lexical_write(&tantivy_dir))?;
            writer.wait_merging_threads().map_err(IndexError::lexical_write(&tantivy_dir))?;
            let committed = started.elapsed();
            let written = dictionaries.join().expect("dictionary writing does not panic")?;
            Ok((committed, written))
        })?;
        // Forward lists come from the committed postings (exact scoring reads them).
        let lexical_reader: tantivy::IndexReader = tantivy::Index::open_in_dir(&tantivy_dir)
            .map_err(IndexError::lexical_write(&tantivy_dir))?
            .reader_builder()
            .reload_policy(tantivy::ReloadPolicy::Manual)
            .try_into()
            .map_err(IndexError::lexical_write(&tantivy_dir))?;
        let forward_fields: Vec<tantivy::schema::Field> =
            super::TEXT_FIELDS.iter().filter_map(|name| self.fields.text_field(name)).collect();
        write_forward(&self.tmp_dir.join(FORWARD_FILE), &lexical_reader.searcher(), &forward_fields)?;
        drop(lexical_reader);
        let forward_done = started.elapsed();
        if let Some(chunks) = self.chunks.take() {
            chunks.finish()?;
        }
        let vectors = match self.vectors.take() {
            Some(build) => Some(build.finish(&self.tmp_dir.join(VECTORS_FILE))?),
            None => None,
        };

        let vectors_done = started.elapsed();
        let mut names = Vec::new();
        list_files(&self.tmp_dir, "", &mut names)?;
        names.retain(|name| name != META_FILE);
        names.sort();
        let files = checksum_all(&self.tmp_dir, &names)?;
        tracing::debug!(
            segment = self.segment_id,
            docs = doc_count,
            commit_ms = committed.as_millis() as u64,
            dictionaries_ms = written.as_millis() as u64,
            forward_ms = (forward_done - committed.max(written)).as_millis() as u64,
            vectors_ms = (vectors_done - forward_done).as_millis() as u64,
            checksums_ms = (started.elapsed() - vectors_done).as_millis() as u64,
            "segment files written"
        );
        let meta = SegmentMeta {
            segment_id: self.segment_id,
            doc_count,
            schema_hash: self.fields.schema_hash(),
            created_unix_ms: now_unix_ms(),
            vectors,
            files,
        };
        meta.write(&self.tmp_dir)?;
        fsync_dir(&tantivy_dir).map_err(IndexError::io(&tantivy_dir))?;
        fsync_dir(&self.tmp_dir).map_err(IndexError::io(&self.tmp_dir))?;
        std::fs::rename(&self.tmp_dir, &self.final_dir).map_err(IndexError::io(&self.final_dir))?;
        let parent = self.final_dir.parent().expect("segments have a parent directory");
        fsync_dir(parent).map_err(IndexError::io(parent))?;
        Ok((meta, self.final_dir.clone()))
    }
}

impl Drop for SegmentBuilder {
    fn drop(&mut self) {
        // An abandoned build leaves nothing behind (a crash leaves a `.tmp` directory that the
        // next open removes).
        if self.tmp_dir.exists() {
            drop(self.writer.take());
            let _ = std::fs::remove_dir_all(&self.tmp_dir);
        }
    }
}

/// Writes a file inside the temporary segment directory: no rename needed (the directory's is
/// the atomic step) and the fsync happens when the file is checksummed.
fn write_plain(path: &Path, bytes: &[u8]) -> Result<(), IndexError> {
    std::fs::write(path, bytes).map_err(IndexError::io(path))
}

/// The id → ordinal FST (keys: ids as big-endian u32, so byte order is numeric order).
fn write_id_map(path: &Path, ids: &[u32]) -> Result<(), IndexError> {
    let mut pairs: Vec<(u32, u32)> = ids.iter().enumerate().map(|(ord, &id)| (id, ord as u32)).collect();
    pairs.sort_unstable();
    if let Some(w) = pairs.windows(2).find(|w| w[0].0 == w[1].0) {
        return Err(IndexError::Record { id: format_id(w[0].0), message: "appears twice in one segment".into() });
    }
    let mut builder = fst::MapBuilder::memory();
    for (id, ord) in pairs {
        builder.insert(id.to_be_bytes(), u64::from(ord)).map_err(fst_error(path))?;
    }
    write_plain(path, &builder.into_inner().map_err(fst_error(path))?)
}

/// The names FST: key `folded name, 0, ordinal (u32 BE)`, value the ordinal.
fn write_names(path: &Path, mut names: Vec<(String, u32)>) -> Result<(), IndexError> {
    names.sort_unstable();
    let mut builder = fst::MapBuilder::memory();
    let mut key = Vec::new();
    for (name, ord) in names {
        key.clear();
        key.extend_from_slice(name.as_bytes());
        key.push(0);
        key.extend_from_slice(&ord.to_be_bytes());
        builder.insert(&key, u64::from(ord)).map_err(fst_error(path))?;
    }
    write_plain(path, &builder.into_inner().map_err(fst_error(path))?)
}

/// The key of a company name in the names dictionary: folded words separated by one space.
pub fn name_key(name: &str) -> String {
    let folded = crate::analysis::fold(name);
    folded.split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty()).collect::<Vec<_>>().join(" ")
}

/// Checksums (and fsyncs) every file, on two threads: a large build has a gigabyte to read.
fn checksum_all(dir: &Path, names: &[String]) -> Result<Vec<FileEntry>, IndexError> {
    let sizes: Vec<u64> = names.iter().map(|name| std::fs::metadata(dir.join(name)).map_or(0, |m| m.len())).collect();
    files::on_two_threads(&sizes, |idx| FileEntry::compute(dir, &names[idx]))
}

fn fst_error(path: &Path) -> impl Fn(fst::Error) -> IndexError + '_ {
    move |err| IndexError::Dictionary { path: path.to_owned(), message: err.to_string() }
}

fn list_files(root: &Path, prefix: &str, out: &mut Vec<String>) -> Result<(), IndexError> {
    let dir = root.join(prefix);
    for entry in std::fs::read_dir(&dir).map_err(IndexError::io(&dir))? {
        let entry = entry.map_err(IndexError::io(&dir))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        let relative = if prefix.is_empty() { name.clone() } else { format!("{prefix}/{name}") };
        let file_type = entry.file_type().map_err(IndexError::io(entry.path()))?;
        if file_type.is_dir() {
            list_files(root, &relative, out)?;
        } else if !is_lock_file(&name) {
            out.push(relative);
        }
    }
    Ok(())
}

/// tantivy's lock files come and go with readers and writers: they are not part of the data.
pub(crate) fn is_lock_file(name: &str) -> bool {
    name.starts_with(".tantivy-") && name.ends_with(".lock")
}

pub(crate) fn now_unix_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}

/// A vector and its usearch key (the document ordinal).
type KeyedVector = (u64, Vec<f32>);

/// The vector half of a build: HNSW construction runs on its own threads, in parallel with the
/// lexical indexing, fed through a bounded channel.
struct VectorBuild {
    options: VectorOptions,
    tx: Option<SyncSender<(u64, Vec<f32>)>>,
    workers: Vec<JoinHandle<Result<u32, String>>>,
    index: Arc<usearch::Index>,
}

impl VectorBuild {
    fn start(options: VectorOptions, threads: usize) -> Result<VectorBuild, IndexError> {
        let index = Arc::new(
            new_usearch_index(&options)
                .map_err(|message| IndexError::Vectors { path: PathBuf::from(VECTORS_FILE), message })?,
        );
        index
            .reserve_capacity_and_threads(1024, threads)
            .map_err(|err| IndexError::Vectors { path: PathBuf::from(VECTORS_FILE), message: err.to_string() })?;
        let (tx, rx) = sync_channel::<(u64, Vec<f32>)>(4096);
        let rx = Arc::new(Mutex::new(rx));
        // usearch's reserve must not run while adds do: adds hold the read side, growth the write
        // side. At most `threads` adds run at once, hence the margin.
        let capacity = Arc::new(parking_lot::RwLock::new(1024usize));
        let workers = (0..threads)
            .map(|_| {
                let index = Arc::clone(&index);
                let rx: Arc<Mutex<Receiver<KeyedVector>>> = Arc::clone(&rx);
                let capacity = Arc::clone(&capacity);
                std::thread::spawn(move || -> Result<u32, String> {
                    let mut added = 0;
                    loop {
                        let next = rx.lock().recv();
                        let Ok((key, vector)) = next else { return Ok(added) };
                        loop {
                            let room = capacity.read();
                            if index.size() + threads < *room {
                                index.add(key, &vector).map_err(|e| e.to_string())?;
                                break;
                            }
                            drop(room);
                            let mut room = capacity.write();
                            if index.size() + threads >= *room {
                                *room *= 2;
                                index.reserve_capacity_and_threads(*room, threads).map_err(|e| e.to_string())?;
                            }
                        }
                        added += 1;
                    }
                })
            })
            .collect();
        Ok(VectorBuild { options, tx: Some(tx), workers, index })
    }

    fn send(&self, key: u64, vector: Vec<f32>) -> Result<(), IndexError> {
        let tx = self.tx.as_ref().expect("sender lives until finish");
        tx.send((key, vector)).map_err(|_| IndexError::Vectors {
            path: PathBuf::from(VECTORS_FILE),
            message: "vector build stopped early".into(),
        })
    }

    fn finish(mut self, path: &Path) -> Result<VectorInfo, IndexError> {
        let vector_error = |message: String| IndexError::Vectors { path: path.to_owned(), message };
        drop(self.tx.take());
        let mut count = 0;
        for worker in self.workers.drain(..) {
            count +=
                worker.join().map_err(|_| vector_error("a vector worker panicked".into()))?.map_err(vector_error)?;
        }
        if count > 0 {
            let path_str = path.to_str().ok_or_else(|| vector_error("path is not UTF-8".into()))?;
            self.index.save(path_str).map_err(|err| vector_error(err.to_string()))?;
            std::fs::File::open(path).and_then(|f| f.sync_all()).map_err(IndexError::io(path))?;
        }
        Ok(VectorInfo {
            model: self.options.model.clone(),
            dims: self.options.dims,
            quantization: self.options.quantization.as_str().to_owned(),
            count,
        })
    }
}

impl Drop for VectorBuild {
    fn drop(&mut self) {
        drop(self.tx.take());
        for worker in self.workers.drain(..) {
            let _ = worker.join();
        }
    }
}

pub(crate) fn new_usearch_index(options: &VectorOptions) -> Result<usearch::Index, String> {
    let quantization = match options.quantization {
        Quantization::F32 => usearch::ScalarKind::F32,
        Quantization::F16 => usearch::ScalarKind::F16,
        Quantization::I8 => usearch::ScalarKind::I8,
    };
    let index_options = usearch::IndexOptions {
        dimensions: options.dims as usize,
        metric: usearch::MetricKind::Cos,
        quantization,
        connectivity: 16,
        expansion_add: 128,
        expansion_search: 64,
        multi: false,
    };
    usearch::Index::new(&index_options).map_err(|err| err.to_string())
}
