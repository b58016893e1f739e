//! Forward lists: for every document of every tantivy segment, the terms of each scored text
//! field (their ordinals in that segment's term dictionary) with their frequencies. Exact
//! lexical scoring of a few hundred candidates reads each candidate's short lists instead of
//! seeking every clause's posting list to every candidate (a block decoded per seek: on a
//! million companies that was most of the exact phase).
//!
//! Built from the committed tantivy index itself (two passes over each field's postings), so a
//! forward list holds exactly what the postings hold and scores are bit-for-bit those of
//! tantivy's `TermScorer` ([`crate::search::exact`] relies on this; a property test in
//! `index/tests/search.rs` checks it).
//!
//! File `forward.bin` (written streaming, memory-mapped on open):
//! `[sections][table][n_fields u32][field ids: n_fields × u32][n_segments u32][table_at u64]`
//! then the standard footer (`MLFORWRD`, version 1, payload length, CRC-32). One section per
//! tantivy segment: every document's lists, then `(max_doc + 1) × u64` offsets (relative to
//! the section). A document's lists are contiguous (one offset read and a few cache lines per
//! candidate): for each field holding terms, in field order, the field's index (u8), the byte
//! length of its entries (LEB128), then the entries. An entry is the term ordinal's delta from
//! the previous entry's (the ordinal itself for the first) and the term frequency, both LEB128;
//! ordinals rise. The table holds per tantivy segment its id (UUID, 32 hex digits), `max_doc`
//! (u32), the section's start and its offsets' start (u64 each).

use std::path::Path;

use memmap2::Mmap;
use tantivy::postings::Postings;
use tantivy::schema::{Field, IndexRecordOption};
use tantivy::{DocSet, InvertedIndexReader, Searcher, SegmentReader, TERMINATED};

use crate::IndexError;
use crate::storage::{FileKind, FramedWriter, check_footer};

pub const FORWARD_FILE: &str = "forward.bin";

/// A tantivy segment's id as stored: its UUID in 32 hex digits.
const KEY_LEN: usize = 32;

fn segment_key(reader: &SegmentReader) -> String {
    reader.segment_id().uuid_string()
}

/// `n_segments u32` + `table_at u64`.
const TRAILER_LEN: usize = 12;

fn varint_len(mut value: u32) -> usize {
    let mut len = 1;
    while value >= 0x80 {
        value >>= 7;
        len += 1;
    }
    len
}

fn put_varint(out: &mut [u8], at: &mut usize, mut value: u32) {
    while value >= 0x80 {
        out[*at] = (value as u8 & 0x7f) | 0x80;
        *at += 1;
        value >>= 7;
    }
    out[*at] = value as u8;
    *at += 1;
}

/// Writes `forward.bin` for the `fields` of every segment of `searcher` (a committed index).
pub fn write_forward(path: &Path, searcher: &Searcher, fields: &[Field]) -> Result<(), IndexError> {
    let mut out = FramedWriter::create(FileKind::Forward, path)?;
    if fields.len() > usize::from(u8::MAX) + 1 {
        return Err(IndexError::Limit { what: "forward lists: more than 256 fields" });
    }
    let mut table = Vec::new();
    for reader in searcher.segment_readers() {
        let key = segment_key(reader);
        if key.len() != KEY_LEN {
            return Err(IndexError::Corrupt(format!(
                "forward lists: tantivy segment id {key:?} is not {KEY_LEN} characters"
            )));
        }
        table.extend_from_slice(key.as_bytes());
        table.extend_from_slice(&reader.max_doc().to_le_bytes());
        let (section, offsets) = segment_section(reader, fields, path)?;
        let section_at = out.written();
        out.write(&section)?;
        drop(section);
        let offsets_at = out.written();
        let mut encoded = Vec::with_capacity(offsets.len() * 8);
        for offset in &offsets {
            encoded.extend_from_slice(&offset.to_le_bytes());
        }
        out.write(&encoded)?;
        table.extend_from_slice(&section_at.to_le_bytes());
        table.extend_from_slice(&offsets_at.to_le_bytes());
    }
    let table_at = out.written();
    out.write(&table)?;
    let mut tail = Vec::with_capacity(4 + fields.len() * 4 + TRAILER_LEN);
    tail.extend_from_slice(&(fields.len() as u32).to_le_bytes());
    for field in fields {
        tail.extend_from_slice(&field.field_id().to_le_bytes());
    }
    tail.extend_from_slice(&(searcher.segment_readers().len() as u32).to_le_bytes());
    tail.extend_from_slice(&table_at.to_le_bytes());
    out.write(&tail)?;
    Ok(out.finish()?)
}

/// One tantivy segment: every document's lists and their offsets. A first pass over each
/// field's postings sizes every document's entries exactly, the second writes the field's
/// header and entries in place: memory is the section itself plus a few words per document
/// and field.
fn segment_section(reader: &SegmentReader, fields: &[Field], path: &Path) -> Result<(Vec<u8>, Vec<u64>), IndexError> {
    let max_doc = reader.max_doc() as usize;
    let mut indexes = Vec::with_capacity(fields.len());
    for &field in fields {
        indexes.push(reader.inverted_index(field).map_err(IndexError::lexical_write(path))?);
    }
    // `last[doc]`: the previous ordinal written for the document in the current field, plus one
    // (0: none yet).
    let mut last = vec![0u32; max_doc];
    // `sizes[f][doc]`: the byte length of the document's entries in field `f`.
    let mut sizes = vec![vec![0u32; max_doc]; fields.len()];
    for (index, field_sizes) in indexes.iter().zip(&mut sizes) {
        last.fill(0);
        let mut overflow = false;
        visit(index, path, &mut |doc, ord, tf| {
            let d = doc as usize;
            let delta = last[d].checked_sub(1).map_or(ord, |previous| ord - previous);
            let grown = field_sizes[d].checked_add((varint_len(delta) + varint_len(tf)) as u32);
            overflow |= grown.is_none();
            field_sizes[d] = grown.unwrap_or(u32::MAX);
            last[d] = ord + 1;
        })?;
        if overflow {
            return Err(IndexError::Limit { what: "forward lists: a document's field holds over 4 GiB of terms" });
        }
    }
    let mut offsets = vec![0u64; max_doc + 1];
    for doc in 0..max_doc {
        let lists: u64 = sizes
            .iter()
            .map(|field_sizes| field_sizes[doc])
            .filter(|&len| len > 0)
            .map(|len| 1 + varint_len(len) as u64 + u64::from(len))
            .sum();
        offsets[doc + 1] = offsets[doc] + lists;
    }
    let total = usize::try_from(offsets[max_doc])
        .map_err(|_| IndexError::Limit { what: "forward lists: a section is larger than memory" })?;
    let mut section = vec![0u8; total];
    let mut cursor: Vec<usize> = offsets[..max_doc].iter().map(|&offset| offset as usize).collect();
    for (f, (index, field_sizes)) in indexes.iter().zip(&sizes).enumerate() {
        for (doc, &len) in field_sizes.iter().enumerate() {
            if len > 0 {
                section[cursor[doc]] = f as u8;
                cursor[doc] += 1;
                put_varint(&mut section, &mut cursor[doc], len);
            }
        }
        last.fill(0);
        visit(index, path, &mut |doc, ord, tf| {
            let d = doc as usize;
            let delta = last[d].checked_sub(1).map_or(ord, |previous| ord - previous);
            put_varint(&mut section, &mut cursor[d], delta);
            put_varint(&mut section, &mut cursor[d], tf);
            last[d] = ord + 1;
        })?;
    }
    debug_assert!(cursor.iter().zip(&offsets[1..]).all(|(&c, &end)| c as u64 == end));
    Ok((section, offsets))
}

/// Every (document, term ordinal, frequency) of a field, term by term in ordinal order.
fn visit(index: &InvertedIndexReader, path: &Path, each: &mut dyn FnMut(u32, u32, u32)) -> Result<(), IndexError> {
    let lexical = |err: std::io::Error| IndexError::lexical_write(path)(err.into());
    let mut terms = index.terms().stream().map_err(lexical)?;
    while terms.advance() {
        let ord = u32::try_from(terms.term_ord())
            .map_err(|_| IndexError::Limit { what: "forward lists: more than 4 billion terms in a field" })?;
        let mut postings =
            index.read_postings_from_terminfo(terms.value(), IndexRecordOption::WithFreqs).map_err(lexical)?;
        let mut doc = postings.doc();
        while doc != TERMINATED {
            each(doc, ord, postings.term_freq());
            doc = postings.advance();
        }
    }
    Ok(())
}

/// The forward lists of a published segment.
#[derive(Debug)]
pub struct ForwardLists {
    map: Mmap,
    fields: Vec<Field>,
    /// Per tantivy segment, in the order of the segment's searcher: the section's start and its
    /// offsets' start (byte positions in the file).
    segments: Vec<(usize, usize)>,
    max_docs: Vec<u32>,
}

impl ForwardLists {
    /// Maps `path` and checks its footer, that its segments are exactly `searcher`'s and that
    /// every offset table rises inside its section. The payload's CRC is the segment metadata's
    /// to check.
    pub fn open(path: &Path, searcher: &Searcher) -> Result<ForwardLists, IndexError> {
        let corrupt = |what: &str| {
            IndexError::Corrupt(format!(
                "{}: forward lists {what}; restore from a snapshot or rebuild the index",
                path.display()
            ))
        };
        let map = super::files::map_segment_file(path)?;
        let payload = check_footer(FileKind::Forward, path, &map)?.len();
        if payload < TRAILER_LEN + 4 {
            return Err(corrupt("file is truncated"));
        }
        let bytes = &map[..payload];
        let u32_at = |at: usize| -> Result<u32, IndexError> {
            let end =
                at.checked_add(4).filter(|&end| end <= payload).ok_or_else(|| corrupt("has a table out of bounds"))?;
            Ok(u32::from_le_bytes(bytes[at..end].try_into().expect("4 bytes")))
        };
        let u64_at = |at: usize| -> Result<usize, IndexError> {
            let end =
                at.checked_add(8).filter(|&end| end <= payload).ok_or_else(|| corrupt("has a table out of bounds"))?;
            usize::try_from(u64::from_le_bytes(bytes[at..end].try_into().expect("8 bytes")))
                .map_err(|_| corrupt("has an offset out of bounds"))
        };
        let n_segments = u32_at(payload - TRAILER_LEN)? as usize;
        let table_at = u64_at(payload - 8)?;
        let readers = searcher.segment_readers();
        if n_segments != readers.len() {
            return Err(corrupt("do not list the lexical index's segments"));
        }
        // Between `table_at` and the trailer: the table (per segment its key, `max_doc` and two
        // offsets), then the field count and ids.
        let entry_len = KEY_LEN + 4 + 16;
        let fields_at = n_segments
            .checked_mul(entry_len)
            .and_then(|len| len.checked_add(table_at))
            .filter(|&at| at + 4 <= payload - TRAILER_LEN)
            .ok_or_else(|| corrupt("has a table out of bounds"))?;
        let n_fields = u32_at(fields_at)? as usize;
        if fields_at + 4 + n_fields * 4 != payload - TRAILER_LEN || n_fields > usize::from(u8::MAX) + 1 {
            return Err(corrupt("has a table of the wrong size"));
        }
        let fields: Vec<Field> =
            (0..n_fields).map(|i| u32_at(fields_at + 4 + i * 4).map(Field::from_field_id)).collect::<Result<_, _>>()?;
        let mut segments = vec![(0, 0); n_segments];
        let mut max_docs = vec![0u32; n_segments];
        let mut seen = vec![false; n_segments];
        let mut at = table_at;
        for _ in 0..n_segments {
            let id = &bytes[at..at + KEY_LEN];
            let position = readers
                .iter()
                .position(|reader| segment_key(reader).as_bytes() == id)
                .ok_or_else(|| corrupt("name a segment the lexical index does not have"))?;
            if std::mem::replace(&mut seen[position], true) {
                return Err(corrupt("name a segment twice"));
            }
            let max_doc = u32_at(at + KEY_LEN)?;
            if max_doc != readers[position].max_doc() {
                return Err(corrupt("do not match the lexical index's documents"));
            }
            let (section_at, offsets_at) = (u64_at(at + KEY_LEN + 4)?, u64_at(at + KEY_LEN + 12)?);
            at += entry_len;
            let offsets_end = (max_doc as usize + 1)
                .checked_mul(8)
                .and_then(|n| n.checked_add(offsets_at))
                .filter(|&end| end <= table_at && section_at <= offsets_at)
                .ok_or_else(|| corrupt("have a section out of bounds"))?;
            // Offsets rise from 0 to the section's length, or a lookup could read out of bounds.
            let mut previous = 0usize;
            for (doc, raw) in bytes[offsets_at..offsets_end].chunks_exact(8).enumerate() {
                let offset = u64::from_le_bytes(raw.try_into().expect("8 bytes")) as usize;
                if offset < previous || (doc == 0 && offset != 0) {
                    return Err(corrupt("have offsets out of order"));
                }
                previous = offset;
            }
            if section_at + previous != offsets_at {
                return Err(corrupt("have offsets that do not cover their section"));
            }
            segments[position] = (section_at, offsets_at);
            max_docs[position] = max_doc;
        }
        Ok(ForwardLists { map, fields, segments, max_docs })
    }

    /// The fields stored, in the order of the field indexes [`Lists`] yields.
    pub fn fields(&self) -> &[Field] {
        &self.fields
    }

    /// The position of `field` among [`ForwardLists::fields`].
    pub fn field_index(&self, field: Field) -> Option<usize> {
        self.fields.iter().position(|&f| f == field)
    }

    /// The lists of document `doc` of tantivy segment `part` (its position in the segment's
    /// searcher), field by field. Out-of-range arguments give no lists.
    pub fn document(&self, part: usize, doc: u32) -> Lists<'_> {
        let Some(&(section_at, offsets_at)) = self.segments.get(part) else { return Lists::default() };
        if doc >= self.max_docs[part] {
            return Lists::default();
        }
        let offset = |doc: usize| {
            let at = offsets_at + doc * 8;
            u64::from_le_bytes(self.map[at..at + 8].try_into().expect("8 bytes")) as usize
        };
        let (start, end) = (offset(doc as usize), offset(doc as usize + 1));
        Lists { bytes: &self.map[section_at + start..section_at + end], corrupt: false }
    }

    /// The entries of document `doc` of tantivy segment `part` in field `field` (its index in
    /// [`ForwardLists::fields`]): term ordinals in rising order with their frequencies.
    pub fn entries(&self, part: usize, field: usize, doc: u32) -> Entries<'_> {
        let mut lists = self.document(part, doc);
        let found = lists.by_ref().find(|(index, _)| *index == field).map(|(_, entries)| entries);
        match found {
            Some(entries) => entries,
            None => Entries { bytes: &[], ord: 0, corrupt: lists.is_corrupt() },
        }
    }
}

/// One document's lists (see [`ForwardLists::document`]): `(field index, entries)` in field
/// order, for the fields holding terms.
#[derive(Debug, Default)]
pub struct Lists<'a> {
    bytes: &'a [u8],
    corrupt: bool,
}

impl Lists<'_> {
    /// Whether a list header was malformed (the lists then end early).
    pub fn is_corrupt(&self) -> bool {
        self.corrupt
    }

    /// The first byte (0 for none): reading it early brings the lists into cache.
    pub fn first_byte(&self) -> u8 {
        self.bytes.first().copied().unwrap_or(0)
    }
}

impl<'a> Iterator for Lists<'a> {
    type Item = (usize, Entries<'a>);

    fn next(&mut self) -> Option<(usize, Entries<'a>)> {
        let (&field, rest) = self.bytes.split_first()?;
        let mut header = Entries { bytes: rest, ord: 0, corrupt: false };
        let len = header.varint().map(|len| len as usize);
        match len {
            Some(len) if len > 0 && len <= header.bytes.len() => {
                let (entries, rest) = header.bytes.split_at(len);
                self.bytes = rest;
                Some((usize::from(field), Entries { bytes: entries, ord: 0, corrupt: false }))
            }
            _ => {
                self.corrupt = true;
                self.bytes = &[];
                None
            }
        }
    }
}

/// One document's entries in one field (see [`ForwardLists::document`]).
#[derive(Debug, Default)]
pub struct Entries<'a> {
    bytes: &'a [u8],
    ord: u32,
    corrupt: bool,
}

impl Entries<'_> {
    /// Whether decoding met a malformed entry (the entries then end early). Offsets were checked
    /// on open; entries are the file checksum's to vouch for.
    pub fn is_corrupt(&self) -> bool {
        self.corrupt
    }

    fn varint(&mut self) -> Option<u32> {
        let mut value = 0u32;
        for (i, &byte) in self.bytes.iter().enumerate().take(5) {
            if i == 4 && byte > 0x0f {
                break; // more than 32 bits
            }
            value |= u32::from(byte & 0x7f) << (7 * i);
            if byte & 0x80 == 0 {
                self.bytes = &self.bytes[i + 1..];
                return Some(value);
            }
        }
        self.corrupt = true;
        self.bytes = &[];
        None
    }
}

impl Iterator for Entries<'_> {
    type Item = (u32, u32);

    #[inline]
    fn next(&mut self) -> Option<(u32, u32)> {
        if self.bytes.is_empty() {
            return None;
        }
        let delta = self.varint()?;
        let tf = self.varint()?;
        let Some(ord) = self.ord.checked_add(delta) else {
            self.corrupt = true;
            self.bytes = &[];
            return None;
        };
        self.ord = ord;
        Some((ord, tf))
    }
}

#[cfg(test)]
mod tests {
    use tantivy::schema::{STORED, Schema, TEXT};
    use tantivy::{Index, doc};

    use super::*;

    fn index_with(dir: &Path, texts: &[&str]) -> (Index, Field) {
        let mut builder = Schema::builder();
        let body = builder.add_text_field("body", TEXT | STORED);
        let index = Index::create_in_dir(dir, builder.build()).unwrap();
        let mut writer = index.writer_with_num_threads(1, 15_000_000).unwrap();
        for text in texts {
            writer.add_document(doc!(body => *text)).unwrap();
        }
        writer.commit().unwrap();
        (index, body)
    }

    #[test]
    fn entries_are_the_postings_and_damage_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let lexical = dir.path().join("lexical");
        std::fs::create_dir(&lexical).unwrap();
        let texts = ["laser laser inox", "", "inox pliage", "découpe laser tôle tôle tôle"];
        let (index, body) = index_with(&lexical, &texts);
        let searcher = index.reader().unwrap().searcher();
        let path = dir.path().join(FORWARD_FILE);
        write_forward(&path, &searcher, &[body]).unwrap();
        let forward = ForwardLists::open(&path, &searcher).unwrap();
        assert_eq!(forward.fields(), &[body]);

        // Every document's entries are its postings: term ordinals rising, with frequencies.
        let reader = &searcher.segment_readers()[0];
        let inverted = reader.inverted_index(body).unwrap();
        let mut expected: Vec<Vec<(u32, u32)>> = vec![Vec::new(); texts.len()];
        visit(&inverted, Path::new("test"), &mut |doc, ord, tf| expected[doc as usize].push((ord, tf))).unwrap();
        assert!(expected[3].iter().any(|&(_, tf)| tf == 3), "a frequency above one is exercised");
        for (doc, want) in expected.iter().enumerate() {
            let mut entries = forward.entries(0, 0, doc as u32);
            let got: Vec<(u32, u32)> = entries.by_ref().collect();
            assert_eq!(&got, want, "document {doc}");
            assert!(!entries.is_corrupt());
        }
        assert_eq!(forward.entries(0, 0, texts.len() as u32).count(), 0, "past the last document");
        assert_eq!(forward.entries(1, 0, 0).count(), 0, "no such segment");

        // Damage is an error naming the file, never a panic or an out-of-bounds read.
        let bytes = std::fs::read(&path).unwrap();
        let damaged = dir.path().join("damaged.bin");
        for cut in [0, 10, bytes.len() / 2, bytes.len() - 1] {
            std::fs::write(&damaged, &bytes[..cut]).unwrap();
            let err = ForwardLists::open(&damaged, &searcher).unwrap_err().to_string();
            assert!(err.contains("damaged.bin"), "{err}");
        }
        // The table's segment id, then an offset, overwritten.
        let payload = bytes.len() - crate::storage::FOOTER_LEN;
        let table_at = u64::from_le_bytes(bytes[payload - 8..payload].try_into().unwrap()) as usize;
        for (at, value) in [(table_at, b'z'), (table_at + KEY_LEN + 4 + 8, 0xff)] {
            let mut copy = bytes.clone();
            copy[at] = value;
            std::fs::write(&damaged, &copy).unwrap();
            assert!(ForwardLists::open(&damaged, &searcher).is_err(), "byte {at}");
        }
        // Another index's segments are not these.
        let other_dir = tempfile::tempdir().unwrap();
        let (other, _) = index_with(other_dir.path(), &["laser"]);
        assert!(ForwardLists::open(&path, &other.reader().unwrap().searcher()).is_err());
    }

    #[test]
    fn malformed_entries_end_early_and_say_so() {
        for bytes in [
            &[0xffu8; 8][..],
            &[0x81][..],
            &[0x05][..],
            &[0xff, 0xff, 0xff, 0xff, 0x0f, 0x01, 0x01, 0x01][..],
            &[0x80, 0x80, 0x80, 0x80, 0x10, 0x01][..],
        ] {
            let mut entries = Entries { bytes, ord: 0, corrupt: false };
            let decoded: Vec<_> = entries.by_ref().collect();
            assert!(entries.is_corrupt(), "{bytes:?} decoded as {decoded:?}");
        }
        for bytes in [&[0u8, 0x05, 1][..], &[0, 0][..], &[1][..], &[2, 0x80][..]] {
            let mut lists = Lists { bytes, corrupt: false };
            assert_eq!(lists.by_ref().count(), 0, "{bytes:?}");
            assert!(lists.is_corrupt(), "{bytes:?}");
        }
        let mut lists = Lists { bytes: &[0, 2, 3, 1, 2, 2, 7, 1], corrupt: false };
        let fields: Vec<(usize, Vec<(u32, u32)>)> = lists.by_ref().map(|(f, e)| (f, e.collect())).collect();
        assert_eq!(fields, vec![(0, vec![(3, 1)]), (2, vec![(7, 1)])]);
        assert!(!lists.is_corrupt());
        let mut fine = Entries { bytes: &[3, 1, 0x80, 0x01, 2], ord: 0, corrupt: false };
        assert_eq!(fine.by_ref().collect::<Vec<_>>(), vec![(3, 1), (131, 2)]);
        assert!(!fine.is_corrupt());
    }
}
