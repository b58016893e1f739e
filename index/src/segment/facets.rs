//! Constraint facets (`facets.bin`): what a buyer's constraints are tested against, per document
//! — the materials and certifications the governed vocabularies find in the record (with every
//! ancestor: a "titane TA6V" company holds `titane.ta6v` and `titane`), its headcount band, its
//! département and région, and its glossary concepts — as short typed values
//! (`material:inox.316l`, `size:50-99`, `region:Bretagne`).
//!
//! Each document's values are sorted value ids (a CSR layout); the inverted lists (value →
//! ordinals) are built when the file is opened, in one pass. A buyer's constraint is met by a
//! document that holds any of the constraint's values, and retrieval intersects the lists.
//!
//! The file records the fingerprint of the vocabularies that tagged it. A segment written before
//! facets existed, or tagged by other vocabularies, has its facets recomputed from the stored
//! records on first use (logged: rebuilding the index makes it permanent), so a dictionary
//! change never leaves an index answering with stale tags.
//!
//! Layout of the payload (little-endian), behind the common footer:
//! `fingerprint u64 | n_values u32 | n_values × (len u32, UTF-8 bytes) | n_docs u32 |
//! (n_docs + 1) × offset u32 | offsets[n_docs] × value id u32`.

use std::collections::HashMap;
use std::path::Path;

use crate::IndexError;
use crate::record::Company;
use crate::segment::schema::Location;
use crate::storage::{FileKind, StorageError, append_footer, verify_footer, write_atomically};

pub const FACETS_FILE: &str = "facets.bin";

/// Values a single document may hold at most (a record's lists are capped by
/// [`crate::record::limits`]; ancestors at most triple them).
const MAX_VALUES_PER_DOC: usize = 4096;

/// The kinds of facet value, as the prefixes of their keys.
pub mod key {
    pub fn material(id: &str) -> String {
        format!("material:{id}")
    }
    pub fn certification(id: &str) -> String {
        format!("certification:{id}")
    }
    pub fn size(band: &str) -> String {
        format!("size:{band}")
    }
    pub fn departement(code: &str) -> String {
        format!("departement:{code}")
    }
    pub fn region(name: &str) -> String {
        format!("region:{name}")
    }
    pub fn concept(id: &str) -> String {
        format!("concept:{id}")
    }
}

/// The facet values of one company: what its record says, tagged by the vocabularies.
pub fn company_facets(company: &Company, place: &Location<'_>) -> Vec<String> {
    let vocabularies = crate::dict::company_values::Vocabularies::embedded();
    let tagged = vocabularies.company_values(company);
    let mut values: Vec<String> = Vec::with_capacity(tagged.materials.len() + tagged.certifications.len() + 8);
    values.extend(tagged.materials.iter().map(|id| key::material(id)));
    values.extend(tagged.certifications.iter().map(|id| key::certification(id)));
    values.push(key::size(company.headcount.as_str()));
    if let Some(code) = place.departement {
        values.push(key::departement(code));
    }
    if let Some(region) = place.region {
        values.push(key::region(region));
    }
    values.extend(company.concepts.iter().map(|c| key::concept(&c.id)));
    values.sort_unstable();
    values.dedup();
    values
}

/// The fingerprint facets are tagged with: the vocabularies' and this module's rules.
pub fn current_fingerprint() -> u64 {
    const FACETS_RULES_VERSION: u64 = 1;
    crate::math::fnv1a64(
        crate::dict::company_values::Vocabularies::embedded().fingerprint(),
        &FACETS_RULES_VERSION.to_le_bytes(),
    )
}

/// The facets of a segment's documents.
#[derive(Debug, Clone, Default)]
pub struct Facets {
    fingerprint: u64,
    values: Vec<String>,
    by_value: HashMap<String, u32>,
    offsets: Vec<u32>,
    ids: Vec<u32>,
    /// Ordinals holding each value, ascending.
    postings: Vec<Vec<u32>>,
}

/// Facets collected document by document (values interned as they come: a million documents
/// cost their value ids, not their strings).
#[derive(Debug, Default)]
pub struct FacetsBuilder {
    values: Vec<String>,
    by_value: HashMap<String, u32>,
    offsets: Vec<u32>,
    ids: Vec<u32>,
}

impl FacetsBuilder {
    /// Adds the next document's values (any order, duplicates allowed).
    pub fn push(&mut self, doc: impl IntoIterator<Item = String>) {
        let ids: Vec<u32> = doc.into_iter().map(|value| self.intern(value)).collect();
        self.push_ids(ids);
    }

    /// The id of `value`, added if new.
    pub fn intern(&mut self, value: String) -> u32 {
        match self.by_value.get(&value) {
            Some(&id) => id,
            None => {
                let id = self.values.len() as u32;
                self.by_value.insert(value.clone(), id);
                self.values.push(value);
                id
            }
        }
    }

    /// The interned values with documents 0, 1, 2… given by value ids from [`Self::intern`].
    pub fn with_docs(mut self, docs: Vec<Vec<u32>>) -> FacetsBuilder {
        self.offsets.clear();
        self.ids.clear();
        for doc in docs {
            self.push_ids(doc);
        }
        self
    }

    fn push_ids(&mut self, mut doc: Vec<u32>) {
        if self.offsets.is_empty() {
            self.offsets.push(0);
        }
        doc.sort_unstable();
        doc.dedup();
        self.ids.extend_from_slice(&doc);
        self.offsets.push(self.ids.len() as u32);
    }

    pub fn finish(mut self, fingerprint: u64) -> Facets {
        if self.offsets.is_empty() {
            self.offsets.push(0);
        }
        Facets::assemble(fingerprint, self.values, self.by_value, self.offsets, self.ids)
    }
}

impl Facets {
    /// Facets of documents 0, 1, 2…, each given by its values (any order, duplicates allowed).
    pub fn from_docs<I, V>(fingerprint: u64, docs: I) -> Facets
    where
        I: IntoIterator<Item = V>,
        V: IntoIterator<Item = String>,
    {
        let mut builder = FacetsBuilder::default();
        for doc in docs {
            builder.push(doc);
        }
        builder.finish(fingerprint)
    }

    fn assemble(
        fingerprint: u64,
        values: Vec<String>,
        by_value: HashMap<String, u32>,
        offsets: Vec<u32>,
        ids: Vec<u32>,
    ) -> Facets {
        let mut postings: Vec<Vec<u32>> = vec![Vec::new(); values.len()];
        for (ord, window) in offsets.windows(2).enumerate() {
            for &id in &ids[window[0] as usize..window[1] as usize] {
                postings[id as usize].push(ord as u32);
            }
        }
        Facets { fingerprint, values, by_value, offsets, ids, postings }
    }

    pub fn fingerprint(&self) -> u64 {
        self.fingerprint
    }

    pub fn doc_count(&self) -> u32 {
        (self.offsets.len() - 1) as u32
    }

    /// The values of document `ord` (none for an ordinal out of range).
    pub fn values(&self, ord: u32) -> impl Iterator<Item = &str> + '_ {
        self.doc_ids(ord).iter().map(|&id| self.values[id as usize].as_str())
    }

    fn doc_ids(&self, ord: u32) -> &[u32] {
        match (self.offsets.get(ord as usize), self.offsets.get(ord as usize + 1)) {
            (Some(&start), Some(&end)) => &self.ids[start as usize..end as usize],
            _ => &[],
        }
    }

    /// Whether document `ord` holds `value` (the query path resolves values to ids once and
    /// tests ids: [`Self::value_id`], [`Self::has_id`]).
    #[cfg(test)]
    pub fn has(&self, ord: u32, value: &str) -> bool {
        self.by_value.get(value).is_some_and(|id| self.doc_ids(ord).binary_search(id).is_ok())
    }

    /// The id of `value`, if any document holds it.
    pub fn value_id(&self, value: &str) -> Option<u32> {
        self.by_value.get(value).copied()
    }

    /// The value of id `id`.
    pub fn value(&self, id: u32) -> Option<&str> {
        self.values.get(id as usize).map(String::as_str)
    }

    /// Whether document `ord` holds the value of id `id`.
    pub fn has_id(&self, ord: u32, id: u32) -> bool {
        self.doc_ids(ord).binary_search(&id).is_ok()
    }

    /// The ordinals holding the value of id `id`, ascending.
    pub fn docs_with_id(&self, id: u32) -> &[u32] {
        self.postings.get(id as usize).map_or(&[], Vec::as_slice)
    }

    /// The ordinals holding `value`, ascending (deleted ones included).
    #[cfg(test)]
    pub fn docs_with(&self, value: &str) -> &[u32] {
        self.by_value.get(value).map_or(&[], |&id| self.postings[id as usize].as_slice())
    }

    /// The file bytes.
    pub fn encode(&self) -> Vec<u8> {
        let text: usize = self.values.iter().map(|v| v.len() + 4).sum();
        let mut bytes = Vec::with_capacity(16 + text + 4 * (self.offsets.len() + self.ids.len()) + 32);
        bytes.extend_from_slice(&self.fingerprint.to_le_bytes());
        bytes.extend_from_slice(&(self.values.len() as u32).to_le_bytes());
        for value in &self.values {
            bytes.extend_from_slice(&(value.len() as u32).to_le_bytes());
            bytes.extend_from_slice(value.as_bytes());
        }
        bytes.extend_from_slice(&self.doc_count().to_le_bytes());
        for offset in &self.offsets {
            bytes.extend_from_slice(&offset.to_le_bytes());
        }
        for id in &self.ids {
            bytes.extend_from_slice(&id.to_le_bytes());
        }
        append_footer(FileKind::Facets, &mut bytes);
        bytes
    }

    pub fn write(&self, path: &Path) -> Result<(), IndexError> {
        write_atomically(path, &self.encode()).map_err(IndexError::io(path))
    }

    /// Reads and checks a facets file of a segment of `expected_docs` documents.
    pub fn read(path: &Path, expected_docs: u32) -> Result<Facets, IndexError> {
        let bytes = std::fs::read(path).map_err(IndexError::io(path))?;
        Facets::decode(path, &bytes, expected_docs)
    }

    /// Checks and decodes file bytes: the footer, then every length, offset and id against what
    /// the payload holds (a corrupt file is an error, never a panic or a huge allocation).
    pub fn decode(path: &Path, bytes: &[u8], expected_docs: u32) -> Result<Facets, IndexError> {
        let payload = verify_footer(FileKind::Facets, path, bytes)?;
        let corrupt = |reason: String| -> IndexError { StorageError::Corrupt { path: path.to_owned(), reason }.into() };
        let mut cursor = Cursor { bytes: payload, at: 0 };
        let fingerprint = cursor.u64().ok_or_else(|| corrupt("no fingerprint".into()))?;
        let n_values = cursor.u32().ok_or_else(|| corrupt("no value count".into()))? as usize;
        // Each value takes at least 4 bytes: a count the payload cannot hold is corrupt.
        if n_values > payload.len() / 4 {
            return Err(corrupt(format!("{n_values} values in {} bytes", payload.len())));
        }
        let mut values = Vec::with_capacity(n_values);
        let mut by_value = HashMap::with_capacity(n_values);
        for idx in 0..n_values {
            let len = cursor.u32().ok_or_else(|| corrupt(format!("value {idx}: no length")))? as usize;
            let raw = cursor.take(len).ok_or_else(|| corrupt(format!("value {idx}: {len} bytes past the end")))?;
            let value = std::str::from_utf8(raw).map_err(|_| corrupt(format!("value {idx} is not UTF-8")))?.to_owned();
            if by_value.insert(value.clone(), idx as u32).is_some() {
                return Err(corrupt(format!("value {idx} is a duplicate")));
            }
            values.push(value);
        }
        let n_docs = cursor.u32().ok_or_else(|| corrupt("no document count".into()))?;
        if n_docs != expected_docs {
            return Err(corrupt(format!("{n_docs} documents, the segment has {expected_docs}")));
        }
        let n_offsets = n_docs as usize + 1;
        let offsets = cursor
            .u32s(n_offsets)
            .ok_or_else(|| corrupt(format!("{n_offsets} offsets past the end of the payload")))?;
        if offsets[0] != 0 || offsets.windows(2).any(|w| w[0] > w[1] || (w[1] - w[0]) as usize > MAX_VALUES_PER_DOC) {
            return Err(corrupt("offsets are not increasing from 0".into()));
        }
        let total = *offsets.last().expect("n_docs + 1 offsets") as usize;
        let ids =
            cursor.u32s(total).ok_or_else(|| corrupt(format!("{total} value ids past the end of the payload")))?;
        if cursor.at != payload.len() {
            return Err(corrupt(format!("{} trailing bytes", payload.len() - cursor.at)));
        }
        for (ord, window) in offsets.windows(2).enumerate() {
            let doc = &ids[window[0] as usize..window[1] as usize];
            if doc.iter().any(|&id| id as usize >= n_values) || doc.windows(2).any(|p| p[0] >= p[1]) {
                return Err(corrupt(format!("document {ord}: value ids out of range or not ascending")));
            }
        }
        Ok(Facets::assemble(fingerprint, values, by_value, offsets, ids))
    }
}

struct Cursor<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let end = self.at.checked_add(n)?;
        let slice = self.bytes.get(self.at..end)?;
        self.at = end;
        Some(slice)
    }

    fn u32(&mut self) -> Option<u32> {
        self.take(4).map(|b| u32::from_le_bytes(b.try_into().expect("4 bytes")))
    }

    fn u64(&mut self) -> Option<u64> {
        self.take(8).map(|b| u64::from_le_bytes(b.try_into().expect("8 bytes")))
    }

    fn u32s(&mut self, n: usize) -> Option<Vec<u32>> {
        let raw = self.take(n.checked_mul(4)?)?;
        Some(raw.chunks_exact(4).map(|b| u32::from_le_bytes(b.try_into().expect("4 bytes"))).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn docs() -> Vec<Vec<String>> {
        vec![
            vec!["material:inox".into(), "material:inox.316l".into(), "size:50-99".into()],
            vec![],
            vec!["size:50-99".into(), "material:inox".into(), "material:inox".into()],
        ]
    }

    #[test]
    fn values_and_lists_round_trip() {
        let facets = Facets::from_docs(7, docs());
        let decoded = Facets::decode(Path::new("f"), &facets.encode(), 3).unwrap();
        for f in [&facets, &decoded] {
            assert_eq!(f.fingerprint(), 7);
            assert_eq!(f.doc_count(), 3);
            assert_eq!(f.docs_with("material:inox"), [0, 2]);
            assert_eq!(f.docs_with("material:inox.316l"), [0]);
            assert_eq!(f.docs_with("material:titane"), [] as [u32; 0]);
            assert!(f.has(2, "size:50-99") && !f.has(1, "size:50-99") && !f.has(9, "size:50-99"));
            assert_eq!(f.values(2).count(), 2);
        }
    }

    #[test]
    fn a_wrong_document_count_or_a_flipped_byte_is_refused() {
        let bytes = Facets::from_docs(7, docs()).encode();
        assert!(Facets::decode(Path::new("f"), &bytes, 4).is_err());
        for at in 0..bytes.len() {
            let mut broken = bytes.clone();
            broken[at] ^= 0x41;
            assert!(Facets::decode(Path::new("f"), &broken, 3).is_err(), "byte {at}");
        }
    }

    proptest! {
        /// Whatever the bytes (a valid footer around garbage included), decoding answers.
        #[test]
        fn decoding_arbitrary_payloads_never_panics(payload in proptest::collection::vec(any::<u8>(), 0..256)) {
            let mut bytes = payload;
            append_footer(FileKind::Facets, &mut bytes);
            let _ = Facets::decode(Path::new("f"), &bytes, 2);
        }

        #[test]
        fn lists_agree_with_documents(docs in proptest::collection::vec(
            proptest::collection::vec(0u8..12, 0..6), 0..40)
        ) {
            let named: Vec<Vec<String>> = docs.iter().map(|d| d.iter().map(|v| format!("v{v}")).collect()).collect();
            let facets = Facets::from_docs(1, named.clone());
            let facets = Facets::decode(Path::new("f"), &facets.encode(), named.len() as u32).unwrap();
            for value in 0u8..12 {
                let key = format!("v{value}");
                let expected: Vec<u32> = (0..named.len() as u32).filter(|&o| named[o as usize].contains(&key)).collect();
                prop_assert_eq!(facets.docs_with(&key), expected.as_slice());
            }
        }
    }
}
