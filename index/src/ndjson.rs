//! The NDJSON record reader: one JSON object per line, optionally gzip-compressed.
//!
//! It is the only way records enter the system (the `validate` command, indexing and the HTTP
//! ingest endpoints all use it), so every failure mode of untrusted input is handled here: lines
//! that are too long are skipped without being buffered, invalid UTF-8 and invalid JSON are
//! reported with the line number, shape errors name the field path, and keys must be unique.
//! Reading never panics and never stops at the first bad line.

use std::collections::HashMap;
use std::io::{self, BufRead, BufReader, Read};
use std::marker::PhantomData;
use std::path::Path;

use crate::record::{FieldError, Record, ValidationCode};
use crate::refdata::RefData;

/// Default longest accepted line: 1 MiB is far above any real company profile.
pub const DEFAULT_MAX_LINE_BYTES: usize = 1 << 20;

const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];

/// One line's outcome.
#[derive(Debug)]
pub enum Parsed<T> {
    Valid { line: u64, record: T },
    Invalid { line: u64, errors: Vec<FieldError> },
}

/// Reads records of type `T` from NDJSON bytes.
#[derive(Debug)]
pub struct RecordReader<'r, R, T> {
    input: R,
    refdata: &'r RefData,
    max_line_bytes: usize,
    line_no: u64,
    buf: Vec<u8>,
    /// First line of each key seen, by a 128-bit hash of the key: 16 bytes a record instead of
    /// the key itself (a chance collision, ~n²/2¹²⁹, would report a false duplicate).
    first_line_of_key: HashMap<u128, u64>,
    _record: PhantomData<fn() -> T>,
}

/// Opens an NDJSON file, transparently decompressing gzip (detected by its magic bytes, whatever
/// the file name).
pub fn open_path(path: &Path) -> io::Result<Box<dyn BufRead + Send>> {
    let file = std::fs::File::open(path)?;
    open_reader(file)
}

/// Wraps a byte source, transparently decompressing gzip.
pub fn open_reader<R: Read + Send + 'static>(input: R) -> io::Result<Box<dyn BufRead + Send>> {
    let mut buffered = BufReader::with_capacity(64 * 1024, input);
    let is_gzip = buffered.fill_buf()?.starts_with(&GZIP_MAGIC);
    if is_gzip {
        let decoder = flate2::bufread::MultiGzDecoder::new(buffered);
        Ok(Box::new(BufReader::with_capacity(64 * 1024, decoder)))
    } else {
        Ok(Box::new(buffered))
    }
}

impl<'r, R: BufRead, T: Record> RecordReader<'r, R, T> {
    pub fn new(input: R, refdata: &'r RefData) -> Self {
        RecordReader {
            input,
            refdata,
            max_line_bytes: DEFAULT_MAX_LINE_BYTES,
            line_no: 0,
            buf: Vec::new(),
            first_line_of_key: HashMap::new(),
            _record: PhantomData,
        }
    }

    pub fn with_max_line_bytes(mut self, max_line_bytes: usize) -> Self {
        self.max_line_bytes = max_line_bytes;
        self
    }

    /// Number of lines read so far (blank lines included).
    pub fn lines_read(&self) -> u64 {
        self.line_no
    }

    /// Reads the next line into `self.buf`. Returns `Ok(None)` at the end of input and
    /// `Ok(Some(overflowed))` otherwise; an overflowing line is consumed but not kept.
    fn next_line(&mut self) -> io::Result<Option<bool>> {
        self.buf.clear();
        let mut overflowed = false;
        let mut saw_any = false;
        loop {
            let available = match self.input.fill_buf() {
                Ok(available) => available,
                Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
                Err(err) => return Err(err),
            };
            if available.is_empty() {
                return Ok(saw_any.then_some(overflowed));
            }
            saw_any = true;
            let (chunk, found_newline) = match memchr_newline(available) {
                Some(pos) => (&available[..pos], true),
                None => (available, false),
            };
            if !overflowed {
                if self.buf.len() + chunk.len() > self.max_line_bytes {
                    overflowed = true;
                    self.buf.clear();
                } else {
                    self.buf.extend_from_slice(chunk);
                }
            }
            let consumed = chunk.len() + usize::from(found_newline);
            self.input.consume(consumed);
            if found_newline {
                return Ok(Some(overflowed));
            }
        }
    }

    fn parse_line(&mut self, line: u64) -> Option<Parsed<T>> {
        let mut bytes: &[u8] = &self.buf;
        if line == 1 {
            bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
        }
        let bytes = bytes.strip_suffix(b"\r").unwrap_or(bytes);
        let text = match std::str::from_utf8(bytes) {
            Ok(text) => text,
            Err(err) => {
                let message = format!("invalid UTF-8 at byte offset {} of the line", err.valid_up_to());
                return Some(Parsed::Invalid {
                    line,
                    errors: vec![FieldError::new("$", ValidationCode::InvalidUtf8, message)],
                });
            }
        };
        if text.trim().is_empty() {
            return None;
        }
        let (record, mut errors) = parse_record_collecting::<T>(text);
        let Some(record) = record else { return Some(Parsed::Invalid { line, errors }) };
        record.check(self.refdata, &mut errors);
        if let Some(key) = record.key() {
            match self.first_line_of_key.get(&key_hash(&key)) {
                Some(first_line) => errors.push(FieldError::new(
                    T::KEY_FIELD,
                    ValidationCode::DuplicateId,
                    format!("duplicate {} {key:?} (first seen on line {first_line})", T::KEY_FIELD),
                )),
                None => {
                    self.first_line_of_key.insert(key_hash(&key), line);
                }
            }
        }
        Some(if errors.is_empty() { Parsed::Valid { line, record } } else { Parsed::Invalid { line, errors } })
    }
}

impl<R: BufRead, T: Record> Iterator for RecordReader<'_, R, T> {
    type Item = io::Result<Parsed<T>>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            let overflowed = match self.next_line() {
                Ok(Some(overflowed)) => overflowed,
                Ok(None) => return None,
                Err(err) => return Some(Err(err)),
            };
            self.line_no += 1;
            let line = self.line_no;
            if overflowed {
                let message = format!("line is longer than the limit of {} bytes", self.max_line_bytes);
                return Some(Ok(Parsed::Invalid {
                    line,
                    errors: vec![FieldError::new("$", ValidationCode::LineTooLong, message)],
                }));
            }
            if let Some(parsed) = self.parse_line(line) {
                return Some(Ok(parsed));
            }
        }
    }
}

fn key_hash(key: &str) -> u128 {
    use std::hash::{BuildHasher, BuildHasherDefault, DefaultHasher};
    let low = BuildHasherDefault::<DefaultHasher>::default().hash_one((0u8, key));
    let high = BuildHasherDefault::<DefaultHasher>::default().hash_one((1u8, key));
    (u128::from(high) << 64) | u128::from(low)
}

fn memchr_newline(bytes: &[u8]) -> Option<usize> {
    memchr::memchr(b'\n', bytes)
}

/// Deserialises one JSON document into a record, turning serde's error into a [`FieldError`]
/// that names the field path and has a stable code. Stops at the first error.
pub fn parse_record<T: Record>(text: &str) -> Result<T, FieldError> {
    // serde would read a struct from a JSON array by position: only objects are records.
    if !text.trim_start().starts_with('{') {
        return Err(match serde_json::from_str::<serde_json::Value>(text) {
            Ok(value) => {
                let found = match value {
                    serde_json::Value::Null => "null",
                    serde_json::Value::Bool(_) => "a boolean",
                    serde_json::Value::Number(_) => "a number",
                    serde_json::Value::String(_) => "a string",
                    serde_json::Value::Array(_) => "an array",
                    serde_json::Value::Object(_) => "an object",
                };
                FieldError::new(
                    "$",
                    ValidationCode::InvalidType,
                    format!("a record must be a JSON object, found {found}"),
                )
            }
            Err(err) => {
                FieldError::new("$", ValidationCode::InvalidJson, format!("invalid JSON: {}", strip_position(&err)))
            }
        });
    }
    // The common case, a valid record, pays no path tracking: only a failed line is parsed again
    // with serde_path_to_error to name the field. (`from_str` also rejects trailing content.)
    if let Ok(record) = serde_json::from_str::<T>(text) {
        return Ok(record);
    }
    let mut deserializer = serde_json::Deserializer::from_str(text);
    let result: Result<T, _> = serde_path_to_error::deserialize(&mut deserializer);
    let record = result.map_err(|err| {
        let path = err.path().to_string();
        classify_error(path, err.into_inner())
    })?;
    // Trailing content after the object ("{…} {…}" or "{…} x") is not one record per line.
    deserializer.end().map_err(|err| {
        FieldError::new(
            "$",
            ValidationCode::InvalidJson,
            format!("invalid JSON: {} (one object per line)", strip_position(&err)),
        )
    })?;
    Ok(record)
}

/// Most shape errors reported for one record; past this the line is hopeless anyway.
const MAX_SHAPE_ERRORS: usize = 32;

/// Like [`parse_record`], but finds *every* shape error of a well-formed JSON object: after each
/// error the offending field (or array element) is removed and the rest deserialised again.
/// Returns every error found, and the record when what remains deserialises (that is, when only
/// optional fields were removed) so that the meaning checks can run on it too. Field paths keep
/// the indices of the original line.
pub fn parse_record_collecting<T: Record>(text: &str) -> (Option<T>, Vec<FieldError>) {
    use serde_path_to_error::Segment;
    let first_error = match parse_record::<T>(text) {
        Ok(record) => return (Some(record), Vec::new()),
        Err(error) => error,
    };
    if first_error.field == "$" {
        return (None, vec![first_error]);
    }
    let Ok(mut value) = serde_json::from_str::<serde_json::Value>(text) else { return (None, vec![first_error]) };
    let mut errors: Vec<FieldError> = Vec::new();
    let mut removed_fields: Vec<String> = Vec::new();
    // Original indices removed from each array, keyed by the array's path.
    let mut removed_indices: HashMap<String, Vec<usize>> = HashMap::new();
    loop {
        let result: Result<T, _> = serde_path_to_error::deserialize(&value);
        let err = match result {
            Ok(record) => return (Some(record), errors),
            Err(err) => err,
        };
        let segments: Vec<Segment> = err.path().iter().cloned().collect();
        // Rebuild the path with original array indices.
        let mut original_path = String::new();
        for segment in &segments {
            match segment {
                Segment::Map { key } => {
                    if !original_path.is_empty() {
                        original_path.push('.');
                    }
                    original_path.push_str(key);
                }
                Segment::Seq { index } => {
                    let removed = removed_indices.get(&original_path).map(Vec::as_slice).unwrap_or(&[]);
                    let original = original_index(*index, removed);
                    original_path.push_str(&format!("[{original}]"));
                }
                Segment::Enum { .. } | Segment::Unknown => {}
            }
        }
        let path = if original_path.is_empty() { ".".to_owned() } else { original_path };
        let error = classify_error(path, err.into_inner());
        let already_reported = error.code == ValidationCode::MissingField && removed_fields.contains(&error.field);
        if !already_reported {
            errors.push(error.clone());
        }
        let can_continue = error.code != ValidationCode::MissingField && errors.len() < MAX_SHAPE_ERRORS;
        if !can_continue || !remove_at(&mut value, &segments) {
            return (None, errors);
        }
        if let (Some(Segment::Seq { .. }), Some((array_path, index))) = (segments.last(), split_index(&error.field)) {
            let removed = removed_indices.entry(array_path).or_default();
            removed.push(index);
            removed.sort_unstable();
        }
        removed_fields.push(error.field);
    }
}

/// The index in the original array of the element now at `current`, given the original
/// indices already removed (sorted).
fn original_index(current: usize, removed: &[usize]) -> usize {
    let mut original = current;
    for &gone in removed {
        if gone <= original {
            original += 1;
        }
    }
    original
}

/// "a.b[3]" → ("a.b", 3).
fn split_index(field: &str) -> Option<(String, usize)> {
    let open = field.rfind('[')?;
    let index = field[open + 1..].strip_suffix(']')?.parse().ok()?;
    Some((field[..open].to_owned(), index))
}

/// Removes the node at `path` from `value`; false when there is nothing to remove.
fn remove_at(value: &mut serde_json::Value, path: &[serde_path_to_error::Segment]) -> bool {
    use serde_path_to_error::Segment;
    let Some((last, parents)) = path.split_last() else { return false };
    let mut node = value;
    for segment in parents {
        let next = match (segment, node) {
            (Segment::Map { key }, serde_json::Value::Object(map)) => map.get_mut(key),
            (Segment::Seq { index }, serde_json::Value::Array(items)) => items.get_mut(*index),
            _ => None,
        };
        match next {
            Some(next) => node = next,
            None => return false,
        }
    }
    match (last, node) {
        (Segment::Map { key }, serde_json::Value::Object(map)) => map.remove(key).is_some(),
        (Segment::Seq { index }, serde_json::Value::Array(items)) if *index < items.len() => {
            items.remove(*index);
            true
        }
        _ => false,
    }
}

fn join_path(parent: &str, name: &str) -> String {
    if parent == "." || parent.is_empty() { name.to_owned() } else { format!("{parent}.{name}") }
}

/// serde_json appends " at line L column C" to its messages: the line is always 1 here and the
/// column is given separately, so keep only the column.
fn strip_position(err: &serde_json::Error) -> String {
    let message = err.to_string();
    let text = match message.rfind(" at line ") {
        Some(pos) => message[..pos].to_owned(),
        None => message,
    };
    format!("{text} at column {}", err.column())
}

fn between_backticks(message: &str) -> Option<&str> {
    let start = message.find('`')? + 1;
    let len = message[start..].find('`')?;
    Some(&message[start..start + len])
}

fn classify_error(path: String, err: serde_json::Error) -> FieldError {
    use serde_json::error::Category;
    match err.classify() {
        Category::Syntax | Category::Eof | Category::Io => {
            FieldError::new("$", ValidationCode::InvalidJson, format!("invalid JSON: {}", strip_position(&err)))
        }
        Category::Data => {
            let full = err.to_string();
            let message = match full.rfind(" at line ") {
                Some(pos) => full[..pos].to_owned(),
                None => full,
            };
            if message.starts_with("missing field") {
                let name = between_backticks(&message).unwrap_or("?");
                FieldError::new(join_path(&path, name), ValidationCode::MissingField, "required field is missing")
            } else if message.starts_with("unknown field") {
                // The path already ends with the unknown key.
                let allowed = message.split_once(", expected ").map(|(_, rest)| rest).unwrap_or("no other field");
                FieldError::new(path, ValidationCode::UnknownField, format!("unknown field, expected {allowed}"))
            } else if message.starts_with("invalid type") {
                FieldError::new(path, ValidationCode::InvalidType, message)
            } else if path.ends_with("date") || path.ends_with("created") || path.ends_with("as_of") {
                FieldError::new(
                    path,
                    ValidationCode::InvalidDate,
                    format!("invalid date, expected YYYY-MM-DD: {message}"),
                )
            } else {
                FieldError::new(path, ValidationCode::InvalidValue, message)
            }
        }
    }
}
