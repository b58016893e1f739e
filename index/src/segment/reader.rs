//! Opening a published hybrid segment: metadata first, then every file's size and checksum, then
//! the parts themselves (tantivy, usearch view, FSTs, columns, id table), all memory-mapped.

use std::path::Path;
use std::sync::Arc;

use memmap2::Mmap;
use tantivy::schema::IndexRecordOption;
use tantivy::{DocAddress, DocSet, Searcher, TERMINATED, Term};

use super::chunks::{CHUNKS_FILE, ChunkVectors};
use super::facets::{FACETS_FILE, Facets, FacetsBuilder, company_facets, current_fingerprint};
use super::files::{IdTable, OwnedPath, SegmentMeta};
use super::forward::{FORWARD_FILE, ForwardLists};
use super::geo_grid::GeoGrid;
use super::schema::CompanyFields;
use super::writer::{
    HASHES_FILE, ID_MAP_FILE, IDS_FILE, NAMES_FILE, PRIOR_COLUMNS, PRIORS_FILE, TANTIVY_DIR, VECTORS_FILE,
};
use super::{Quantization, VectorOptions, writer};
use crate::IndexError;
use crate::analysis::tokenizer::register_tokenizers;
use crate::record::parse_id;
use crate::storage::ColumnsReader;

/// What the opener expects of a segment.
#[derive(Debug, Clone, Default)]
pub struct OpenOptions {
    /// Checksum every byte of every file (otherwise sizes only, for files above a few MB).
    pub verify_checksums: bool,
    /// The embedding model the server is configured with; a segment with vectors of another
    /// model refuses to open. `None` accepts any.
    pub expected_model: Option<String>,
    /// Concurrent vector searches to reserve (usearch fails searches beyond it).
    pub search_threads: usize,
}

/// A published, immutable hybrid segment.
pub struct Segment {
    meta: SegmentMeta,
    dir: OwnedPath,
    fields: Arc<CompanyFields>,
    searcher: Searcher,
    ids: IdTable,
    id_map: fst::Map<Mmap>,
    names: fst::Map<Mmap>,
    priors: ColumnsReader,
    vectors: Option<usearch::Index>,
    /// The vectors are stored as f16 (read them as such and widen with the CPU's instructions:
    /// usearch's own widening is one scalar conversion per component).
    vectors_f16: bool,
    /// Content hashes of the vectors (empty without vectors).
    hashes: Vec<u64>,
    chunks: Option<ChunkVectors>,
    /// Forward lists of the scored text fields (segments written before they existed have none:
    /// exact scoring then seeks the postings).
    forward: Option<ForwardLists>,
    /// Constraint facets: read at open when the file was tagged by the current vocabularies,
    /// otherwise recomputed from the stored records on first use (see [`super::facets`]).
    facets: std::sync::OnceLock<Facets>,
    /// Held while facets are recomputed: one computation, whoever asks first.
    facets_computing: parking_lot::Mutex<()>,
    /// Lexical-index address of each ordinal, packed (segment ordinal << 32 | doc id).
    addresses: std::sync::OnceLock<Vec<u64>>,
    chunk_sample: std::sync::OnceLock<ChunkSample>,
    vector_sample: std::sync::OnceLock<Vec<f32>>,
    geo_grid: std::sync::OnceLock<GeoGrid>,
}

/// Capability vectors of sampled documents (see [`Segment::chunk_sample`]).
#[derive(Debug, Default)]
pub struct ChunkSample {
    /// Offset in `rows` (in floats) of each sampled document's first vector.
    pub starts: Vec<usize>,
    pub rows: Vec<f32>,
}

/// Vectors per segment in the calibration sample.
const VECTOR_SAMPLE: u32 = 256;

impl std::fmt::Debug for Segment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Segment").field("id", &self.meta.segment_id).field("docs", &self.meta.doc_count).finish()
    }
}

impl Segment {
    /// Opens and validates the segment in `dir`.
    pub fn open(dir: &Path, fields: &Arc<CompanyFields>, options: &OpenOptions) -> Result<Segment, IndexError> {
        let meta = SegmentMeta::read(dir)?;
        let expected_hash = fields.schema_hash();
        if meta.schema_hash != expected_hash {
            return Err(IndexError::SchemaMismatch {
                path: dir.to_owned(),
                found: meta.schema_hash,
                expected: expected_hash,
            });
        }
        if let (Some(vectors), Some(expected)) = (&meta.vectors, &options.expected_model)
            && &vectors.model != expected
        {
            return Err(IndexError::ModelMismatch {
                path: dir.to_owned(),
                found: vectors.model.clone(),
                expected: expected.clone(),
            });
        }
        verify_files(dir, &meta, options.verify_checksums)?;

        let tantivy_dir = dir.join(TANTIVY_DIR);
        let index = tantivy::Index::open_in_dir(&tantivy_dir).map_err(IndexError::lexical_open(&tantivy_dir))?;
        register_tokenizers(index.tokenizers());
        let reader = index
            .reader_builder()
            .reload_policy(tantivy::ReloadPolicy::Manual)
            .try_into()
            .map_err(IndexError::lexical_open(&tantivy_dir))?;
        let searcher = reader.searcher();
        if searcher.num_docs() != u64::from(meta.doc_count) {
            return Err(IndexError::Corrupt(format!(
                "{}: lexical index holds {} documents, metadata says {}; restore from a snapshot or rebuild the index",
                dir.display(),
                searcher.num_docs(),
                meta.doc_count
            )));
        }
        let ids = IdTable::read(&dir.join(IDS_FILE), meta.doc_count)?;
        let id_map = open_fst(&dir.join(ID_MAP_FILE))?;
        let names = open_fst(&dir.join(NAMES_FILE))?;
        let priors = open_priors(&dir.join(PRIORS_FILE), meta.doc_count)?;
        let vectors = match &meta.vectors {
            Some(info) if info.count > 0 => {
                let path = dir.join(VECTORS_FILE);
                let vector_error = |message: String| IndexError::Vectors { path: path.clone(), message };
                let quantization = Quantization::parse(&info.quantization)
                    .ok_or_else(|| vector_error(format!("unknown quantization {:?}", info.quantization)))?;
                let options_for = VectorOptions { model: info.model.clone(), dims: info.dims, quantization };
                let index = writer::new_usearch_index(&options_for).map_err(vector_error)?;
                index
                    .reserve_capacity_and_threads(0, options.search_threads.max(1))
                    .map_err(|err| vector_error(err.to_string()))?;
                let path_str = path.to_str().ok_or_else(|| vector_error("path is not UTF-8".into()))?;
                index.view(path_str).map_err(|err| vector_error(err.to_string()))?;
                if index.size() != info.count as usize || index.dimensions() != info.dims as usize {
                    return Err(vector_error("vector count or dimensions do not match the metadata".into()));
                }
                Some(index)
            }
            _ => None,
        };
        let vectors_f16 =
            meta.vectors.as_ref().is_some_and(|v| Quantization::parse(&v.quantization) == Some(Quantization::F16));
        let hashes = match &meta.vectors {
            Some(_) => super::files::read_hashes(&dir.join(HASHES_FILE), meta.doc_count)?,
            None => Vec::new(),
        };
        let chunks = match &meta.vectors {
            Some(info) if meta.files.iter().any(|f| f.name == CHUNKS_FILE) => {
                Some(ChunkVectors::open(&dir.join(CHUNKS_FILE), meta.doc_count, info.dims)?)
            }
            _ => None,
        };
        let forward = if meta.files.iter().any(|f| f.name == FORWARD_FILE) {
            Some(ForwardLists::open(&dir.join(FORWARD_FILE), &searcher)?)
        } else {
            None
        };
        let facets = std::sync::OnceLock::new();
        if meta.files.iter().any(|f| f.name == FACETS_FILE) {
            let read = Facets::read(&dir.join(FACETS_FILE), meta.doc_count)?;
            if read.fingerprint() == current_fingerprint() {
                let _ = facets.set(read);
            }
        }
        Ok(Segment {
            meta,
            dir: OwnedPath::new(dir.to_owned()),
            fields: Arc::clone(fields),
            searcher,
            ids,
            id_map,
            names,
            priors,
            vectors,
            vectors_f16,
            hashes,
            chunks,
            forward,
            facets,
            facets_computing: parking_lot::Mutex::new(()),
            addresses: std::sync::OnceLock::new(),
            chunk_sample: std::sync::OnceLock::new(),
            vector_sample: std::sync::OnceLock::new(),
            geo_grid: std::sync::OnceLock::new(),
        })
    }

    pub fn id(&self) -> u64 {
        self.meta.segment_id
    }

    pub fn meta(&self) -> &SegmentMeta {
        &self.meta
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    pub fn doc_count(&self) -> u32 {
        self.meta.doc_count
    }

    pub fn fields(&self) -> &CompanyFields {
        &self.fields
    }

    pub fn searcher(&self) -> &Searcher {
        &self.searcher
    }

    pub fn ids(&self) -> &IdTable {
        &self.ids
    }

    /// The segment's own prior columns (a refreshed copy may override them in the live set).
    pub fn priors(&self) -> &ColumnsReader {
        &self.priors
    }

    /// The documents by grid cell of their coordinates, built on first use (see
    /// [`super::geo_grid`]; a segment's coordinates never change).
    pub fn geo_grid(&self) -> &GeoGrid {
        self.geo_grid.get_or_init(|| {
            let column = |name| self.priors.column(name).unwrap_or(&[]);
            GeoGrid::build(column("lat"), column("lon"))
        })
    }

    pub fn names(&self) -> &fst::Map<Mmap> {
        &self.names
    }

    pub fn vectors(&self) -> Option<&usearch::Index> {
        self.vectors.as_ref()
    }

    /// The ordinal of company `id` in this segment, deleted or not.
    pub fn ord_of(&self, id: &str) -> Option<u32> {
        let id = parse_id(id)?;
        self.id_map.get(id.to_be_bytes()).map(|ord| ord as u32)
    }

    /// Every stored record with its ordinal, reading the document store block by block (a
    /// bulk pass; [`Self::source`] is for one document).
    pub(crate) fn for_each_source(&self, mut f: impl FnMut(u32, &[u8])) -> Result<(), IndexError> {
        let lexical = || IndexError::lexical_read(self.dir().join(TANTIVY_DIR));
        for reader in self.searcher.segment_readers() {
            let ords = reader.fast_fields().u64("ord").map_err(lexical())?;
            let store = reader.get_store_reader(1).map_err(|err| lexical()(err.into()))?;
            for (doc, stored) in store.iter::<tantivy::TantivyDocument>(None).enumerate() {
                let stored = stored.map_err(lexical())?;
                use tantivy::schema::Value;
                if let (Some(ord), Some(bytes)) =
                    (ords.first(doc as u32), stored.get_first(self.fields.source).and_then(|v| v.as_bytes()))
                {
                    f(ord as u32, bytes);
                }
            }
        }
        Ok(())
    }

    /// The stored record (compact JSON) of the document at `ord`.
    pub fn source(&self, ord: u32) -> Result<Option<Vec<u8>>, IndexError> {
        let Some(id) = self.ids.id(ord) else { return Ok(None) };
        let Some(address) = self.address_of(&id)? else { return Ok(None) };
        let lexical = IndexError::lexical_read(self.dir().join(TANTIVY_DIR));
        let doc: tantivy::TantivyDocument = self.searcher.doc(address).map_err(lexical)?;
        use tantivy::schema::Value;
        Ok(doc.get_first(self.fields.source).and_then(|v| v.as_bytes()).map(<[u8]>::to_vec))
    }

    /// Where the document at `ord` is in the lexical index (from a table of every document's
    /// address, built from the `ord` fast field on first use: 8 bytes per document).
    pub fn doc_address(&self, ord: u32) -> Result<Option<DocAddress>, IndexError> {
        if self.addresses.get().is_none() {
            let mut table = vec![u64::MAX; self.meta.doc_count as usize];
            for (segment_ord, reader) in self.searcher.segment_readers().iter().enumerate() {
                let ords =
                    reader.fast_fields().u64("ord").map_err(IndexError::lexical_read(self.dir().join(TANTIVY_DIR)))?;
                for doc in 0..reader.max_doc() {
                    if let Some(ord) = ords.first(doc)
                        && let Some(slot) = table.get_mut(ord as usize)
                    {
                        *slot = ((segment_ord as u64) << 32) | u64::from(doc);
                    }
                }
            }
            let _ = self.addresses.set(table);
        }
        let table = self.addresses.get().expect("set above");
        Ok(table
            .get(ord as usize)
            .filter(|&&packed| packed != u64::MAX)
            .map(|&packed| DocAddress::new((packed >> 32) as u32, packed as u32)))
    }

    /// A fixed, evenly spread sample of the segment's vectors (dequantised and normalised, row
    /// after row): the
    /// background against which a query's similarities are calibrated. Computed once.
    pub fn vector_sample(&self) -> &[f32] {
        self.vector_sample.get_or_init(|| {
            let Some(index) = self.vectors.as_ref() else { return Vec::new() };
            let n = self.meta.doc_count;
            let take = n.min(VECTOR_SAMPLE);
            let mut sample = Vec::with_capacity(take as usize * index.dimensions());
            let mut buffer = vec![0f32; index.dimensions()];
            for i in 0..take {
                let ord = (u64::from(i) * u64::from(n) / u64::from(take)) as u32;
                if let Ok(got) = index.get(u64::from(ord), &mut buffer)
                    && got > 0
                {
                    crate::math::normalise(&mut buffer);
                    sample.extend_from_slice(&buffer);
                }
            }
            sample
        })
    }

    /// The capability vectors, when the segment has them.
    pub fn chunks(&self) -> Option<&ChunkVectors> {
        self.chunks.as_ref()
    }

    /// The constraint facets. A segment written before facets existed, or tagged by other
    /// vocabularies, computes them from its stored records on first use (once; logged).
    pub fn facets(&self) -> Result<&Facets, IndexError> {
        if let Some(facets) = self.facets.get() {
            return Ok(facets);
        }
        let _computing = self.facets_computing.lock();
        if let Some(facets) = self.facets.get() {
            return Ok(facets);
        }
        let started = std::time::Instant::now();
        let refdata = crate::refdata::RefData::embedded();
        // Records come in the lexical index's order: each document's values are interned into
        // its ordinal's slot, then laid out in ordinal order.
        let mut interner = FacetsBuilder::default();
        let mut per_doc: Vec<Vec<u32>> = vec![Vec::new(); self.meta.doc_count as usize];
        self.for_each_source(|ord, source| {
            if let (Some(slot), Ok(company)) =
                (per_doc.get_mut(ord as usize), serde_json::from_slice::<crate::record::Company>(source))
            {
                let place = super::schema::Location::of(&company, refdata);
                *slot = company_facets(&company, &place).into_iter().map(|v| interner.intern(v)).collect();
            }
        })?;
        let builder = interner.with_docs(per_doc);
        let _ = self.facets.set(builder.finish(current_fingerprint()));
        tracing::warn!(
            segment = self.meta.segment_id,
            docs = self.meta.doc_count,
            ms = started.elapsed().as_millis() as u64,
            "constraint facets recomputed from the stored records (the segment predates them or its \
             vocabularies changed); rebuilding the index stores them"
        );
        Ok(self.facets.get().expect("set above"))
    }

    /// The forward lists, when the segment has them (see [`super::forward`]).
    pub fn forward(&self) -> Option<&ForwardLists> {
        self.forward.as_ref()
    }

    /// The capability vectors of the documents of [`Segment::vector_sample`], as normalised
    /// f32 rows with each document's first row (computed once).
    pub fn chunk_sample(&self) -> &ChunkSample {
        self.chunk_sample.get_or_init(|| {
            let mut sample = ChunkSample::default();
            let Some(chunks) = &self.chunks else { return sample };
            let n = self.meta.doc_count;
            let take = n.min(VECTOR_SAMPLE);
            for i in 0..take {
                let ord = (u64::from(i) * u64::from(n) / u64::from(take)) as u32;
                let vectors = chunks.vectors(ord);
                if vectors.is_empty() {
                    continue;
                }
                sample.starts.push(sample.rows.len());
                for mut vector in vectors {
                    crate::math::normalise(&mut vector);
                    sample.rows.extend_from_slice(&vector);
                }
            }
            sample
        })
    }

    fn address_of(&self, id: &str) -> Result<Option<DocAddress>, IndexError> {
        let term = Term::from_field_text(self.fields.id, id);
        for (segment_ord, reader) in self.searcher.segment_readers().iter().enumerate() {
            let lexical = IndexError::lexical_read(self.dir().join(TANTIVY_DIR));
            let inverted = reader.inverted_index(self.fields.id).map_err(lexical)?;
            let postings = inverted
                .read_postings(&term, IndexRecordOption::Basic)
                .map_err(|source| IndexError::Io { path: self.dir().join(TANTIVY_DIR), source })?;
            if let Some(postings) = postings {
                let doc = postings.doc();
                if doc != TERMINATED {
                    return Ok(Some(DocAddress::new(segment_ord as u32, doc)));
                }
            }
        }
        Ok(None)
    }

    /// The stored vector of the document at `ord` into `buffer` (of the index's dimension);
    /// false when there is none.
    pub fn vector_into(&self, ord: u32, buffer: &mut [f32]) -> bool {
        /// Widest f16 vector read on the stack.
        const MAX_F16_DIMS: usize = 1024;
        let Some(index) = self.vectors.as_ref() else { return false };
        if buffer.len() != index.dimensions() {
            return false;
        }
        if self.vectors_f16 && buffer.len() <= MAX_F16_DIMS {
            let mut halves = [0i16; MAX_F16_DIMS];
            let halves = &mut halves[..buffer.len()];
            if !matches!(index.get(u64::from(ord), usearch::f16::from_mut_i16s(halves)), Ok(n) if n > 0) {
                return false;
            }
            super::chunks::widen_f16(halves, buffer);
            return true;
        }
        matches!(index.get(u64::from(ord), buffer), Ok(n) if n > 0)
    }

    /// The stored vector of the document at `ord` (dequantised to f32).
    pub fn vector(&self, ord: u32) -> Option<Vec<f32>> {
        let index = self.vectors.as_ref()?;
        let mut buffer = vec![0f32; index.dimensions()];
        match index.get(u64::from(ord), &mut buffer) {
            Ok(n) if n > 0 => Some(buffer),
            _ => None,
        }
    }

    /// The content hash the vector at `ord` was computed from (`None` without vectors).
    pub fn content_hash(&self, ord: u32) -> Option<u64> {
        self.hashes.get(ord as usize).copied()
    }

    /// Checksums every byte of every file (the background scrub after a fast open, and
    /// `index verify`).
    pub fn verify_all(&self) -> Result<(), IndexError> {
        verify_files(self.dir(), &self.meta, true)
    }

    /// Deletes the segment's files once the last reference goes (after it left the live set).
    pub fn mark_obsolete(&self) {
        self.dir.mark_obsolete();
    }
}

/// Opens a prior-columns file (the segment's own or a refreshed one) and checks it has every
/// prior column for `doc_count` documents.
pub(crate) fn open_priors(path: &Path, doc_count: u32) -> Result<ColumnsReader, IndexError> {
    let priors = ColumnsReader::open(path)?;
    if priors.n_docs() != doc_count || PRIOR_COLUMNS.iter().any(|c| priors.column(c).is_none()) {
        return Err(IndexError::Corrupt(format!("{}: prior columns do not match the segment", path.display())));
    }
    Ok(priors)
}

fn open_fst(path: &Path) -> Result<fst::Map<Mmap>, IndexError> {
    // The checksum was verified before this map is trusted.
    let mmap = super::files::map_segment_file(path)?;
    fst::Map::new(mmap).map_err(|err| IndexError::Dictionary { path: path.to_owned(), message: err.to_string() })
}

/// Files up to this size are always checksummed on open; larger ones only with
/// `verify_checksums` (their sizes are always checked), except the vector graph.
const ALWAYS_VERIFY_BYTES: u64 = 8 << 20;

/// Whether `file` is checksummed before the segment opens, whatever its size.
///
/// usearch reads its graph in C++ (`view`) without bounds checks: a corrupt byte there is
/// undefined behaviour (a wild read, a crash), not an error, so it is verified first (about a
/// second per GB on one core, mostly the read that also warms the page cache for the first
/// searches). The other large files are read by Rust code (tantivy, the forward lists, the
/// capability vectors) that checks its bounds: until the background scrub has verified them, a
/// corrupt byte there can cost a wrong score or a failed request, never memory safety.
fn always_verified(file: &str, len: u64) -> bool {
    len <= ALWAYS_VERIFY_BYTES || file == VECTORS_FILE
}

fn verify_files(dir: &Path, meta: &SegmentMeta, full: bool) -> Result<(), IndexError> {
    // Every recorded file: its size always, its checksum when small, read by C++, or when asked;
    // two threads, since a million-document segment has more than a gigabyte to read.
    let sizes: Vec<u64> = meta.files.iter().map(|entry| entry.len).collect();
    super::files::on_two_threads(&sizes, |idx| {
        let entry = &meta.files[idx];
        if full || always_verified(&entry.name, entry.len) { entry.verify(dir) } else { entry.verify_size(dir) }
    })?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::Company;
    use crate::segment::writer::{BuildOptions, IndexDoc, SegmentBuilder};

    /// Companies whose facets all differ: materials, certifications, size, place, concepts.
    fn company(n: u32) -> Company {
        let materials = ["titane TA6V", "inox 316L", "aluminium 7075", "PEEK", "Inconel 718"];
        let certifications = ["ISO 9001", "EN 9100", "IATF 16949", "ISO 13485"];
        let headcounts = ["3-5", "10-19", "20-49", "50-99", "250-499", "1000-1999"];
        let places = [("69123", "69001", "Lyon"), ("35238", "35000", "Rennes"), ("31555", "31000", "Toulouse")];
        let concepts = ["usinage.fraisage", "decoupe.laser", "soudage", "tolerie.pliage"];
        let n_us = n as usize;
        let (code, postal, commune) = places[n_us % places.len()];
        serde_json::from_value(serde_json::json!({
            "id": crate::record::siren_with_check_digit(n), "name": format!("Atelier {n}"),
            "materials": [materials[n_us % materials.len()]],
            "certifications": [certifications[n_us % certifications.len()]],
            "naf": "25.62B", "headcount": headcounts[n_us % headcounts.len()], "created": "1990-01-01",
            "address": {"postal_code": postal, "commune": commune, "commune_code": code},
            "concepts": [{"id": concepts[n_us % concepts.len()], "weight": 0.5}],
        }))
        .unwrap()
    }

    /// Facets recomputed from the stored records (what a segment written before facets existed,
    /// or tagged by other vocabularies, does on first use) are the ones the writer stored: the
    /// same values at the same ordinals.
    #[test]
    fn recomputed_facets_are_the_written_ones() {
        let dir = tempfile::tempdir().unwrap();
        let mut builder = SegmentBuilder::new(dir.path(), 1, &BuildOptions::default()).unwrap();
        for company in (0..60).map(company) {
            let doc = IndexDoc { company: &company, vector: None, opportunity: None, content_hash: 0, chunks: None };
            builder.add(doc).unwrap();
        }
        let (_, segment_dir) = builder.finish().unwrap();
        let fields = Arc::new(CompanyFields::new());
        let options = OpenOptions { verify_checksums: true, expected_model: None, search_threads: 1 };
        let segment = Segment::open(&segment_dir, &fields, &options).unwrap();
        assert!(segment.facets.get().is_some(), "read from {FACETS_FILE}");
        let written = segment.facets().unwrap();
        let mut reopened = Segment::open(&segment_dir, &fields, &options).unwrap();
        reopened.facets = std::sync::OnceLock::new();
        let recomputed = reopened.facets().unwrap();
        assert_eq!(recomputed.doc_count(), written.doc_count());
        let mut n_values = 0;
        for ord in 0..written.doc_count() {
            let mut expected: Vec<&str> = written.values(ord).collect();
            let mut got: Vec<&str> = recomputed.values(ord).collect();
            expected.sort_unstable();
            got.sort_unstable();
            assert_eq!(got, expected, "document {ord}");
            n_values += got.len();
        }
        assert!(n_values >= 6 * written.doc_count() as usize, "{n_values} values");
    }
}
