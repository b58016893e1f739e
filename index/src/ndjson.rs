//! The NDJSON record reader: one JSON object per line, optionally gzip-compressed.
//!
//! It is the only way records enter the system (the `validate` command, indexing and the HTTP
//! ingest endpoints all use it), so every failure mode of untrusted input is handled here: lines
//! that are too long are skipped without being buffered, invalid UTF-8 and invalid JSON are
//! reported with the line number, shape errors name the field path, and keys must be unique.
//! Reading never panics and never stops at the first bad line. What one bad line costs is
//! bounded: at most [`MAX_SHAPE_ERRORS`] errors, each message at most [`MAX_MESSAGE_BYTES`]
//! whatever the line echoes, and gzip input unpacks within [`UnpackLimits`].

use std::collections::HashMap;
use std::io::{self, BufRead, BufReader, Read};
use std::marker::PhantomData;
use std::path::Path;

use crate::record::{FieldError, Record, ValidationCode, shown};
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

/// Bounds on what gzip input may unpack to. A small compressed input must not become an
/// unbounded amount of work: 1 MB of compressed zeros unpacks to 1 GiB.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UnpackLimits {
    /// Most bytes the input may unpack to (`u64::MAX`: no bound).
    pub max_unpacked_bytes: u64,
    /// Most unpacked bytes per compressed byte, checked once more than [`RATIO_GRACE_BYTES`]
    /// are unpacked.
    pub max_ratio: u64,
}

impl UnpackLimits {
    /// No bound at all: for tests and for input that was bounded before it was packed.
    pub const NONE: UnpackLimits = UnpackLimits { max_unpacked_bytes: u64::MAX, max_ratio: u64::MAX };
}

/// Bytes unpacked before the expansion ratio is checked: a small file of repeated lines may
/// compress far better than real records without being a bomb, and a bomb is caught after
/// these few milliseconds of work.
pub const RATIO_GRACE_BYTES: u64 = 8 << 20;

/// Gzip input went past one of its [`UnpackLimits`]. It travels inside the `io::Error` the
/// readers return: [`UnpackLimitExceeded::of`] finds it. The messages name the server
/// settings the limits come from.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UnpackLimitExceeded {
    #[error("the gzip input unpacks to more than {limit} bytes (limits.max_unpacked_bytes)")]
    Size { limit: u64 },
    #[error(
        "the gzip input unpacks to more than {limit} times its compressed size (limits.max_unpack_ratio): \
         a gzip bomb, or data far more repetitive than records"
    )]
    Ratio { limit: u64 },
}

impl UnpackLimitExceeded {
    /// The limit behind `err`, if a limit is what stopped the reading.
    pub fn of(err: &io::Error) -> Option<&UnpackLimitExceeded> {
        err.get_ref().and_then(|inner| inner.downcast_ref())
    }
}

/// Opens an NDJSON file, transparently decompressing gzip (detected by its magic bytes, whatever
/// the file name) within `limits`.
pub fn open_path(path: &Path, limits: UnpackLimits) -> io::Result<Box<dyn BufRead + Send>> {
    let file = std::fs::File::open(path)?;
    open_reader(file, limits)
}

/// Wraps a byte source, transparently decompressing gzip within `limits`: past one, reading
/// fails with an `io::Error` that carries an [`UnpackLimitExceeded`].
pub fn open_reader<R: Read + Send + 'static>(input: R, limits: UnpackLimits) -> io::Result<Box<dyn BufRead + Send>> {
    let mut buffered = BufReader::with_capacity(64 * 1024, input);
    let is_gzip = buffered.fill_buf()?.starts_with(&GZIP_MAGIC);
    if is_gzip {
        let decoder = flate2::bufread::MultiGzDecoder::new(ConsumedCount { inner: buffered, consumed: 0 });
        let limited = LimitedGzip { decoder, unpacked: 0, limits };
        Ok(Box::new(BufReader::with_capacity(64 * 1024, limited)))
    } else {
        Ok(Box::new(buffered))
    }
}

/// Counts the compressed bytes the decoder has consumed.
struct ConsumedCount<R> {
    inner: R,
    consumed: u64,
}

impl<R: Read> Read for ConsumedCount<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.consumed += n as u64;
        Ok(n)
    }
}

impl<R: BufRead> BufRead for ConsumedCount<R> {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        self.inner.fill_buf()
    }

    fn consume(&mut self, amount: usize) {
        self.consumed += amount as u64;
        self.inner.consume(amount);
    }
}

/// A gzip decoder that stops at its [`UnpackLimits`].
struct LimitedGzip<R> {
    decoder: flate2::bufread::MultiGzDecoder<ConsumedCount<R>>,
    unpacked: u64,
    limits: UnpackLimits,
}

impl<R: BufRead> Read for LimitedGzip<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.decoder.read(buf)?;
        self.unpacked += n as u64;
        let exceeded = if self.unpacked > self.limits.max_unpacked_bytes {
            Some(UnpackLimitExceeded::Size { limit: self.limits.max_unpacked_bytes })
        } else if self.unpacked > RATIO_GRACE_BYTES
            && self.unpacked > self.decoder.get_ref().consumed.saturating_mul(self.limits.max_ratio)
        {
            Some(UnpackLimitExceeded::Ratio { limit: self.limits.max_ratio })
        } else {
            None
        };
        match exceeded {
            Some(exceeded) => Err(io::Error::new(io::ErrorKind::InvalidData, exceeded)),
            None => Ok(n),
        }
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
                    format!("duplicate {} {} (first seen on line {first_line})", T::KEY_FIELD, shown(&key)),
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

/// Most shape errors reported for one record; past this the line is hopeless anyway. Each one
/// costs a deserialisation of the rest of the line, so this also bounds a bad line's work.
pub const MAX_SHAPE_ERRORS: usize = 32;

/// Longest error message, in bytes: serde's messages quote the offending value ("invalid
/// type: string \"…\""), which may be most of a megabyte-long line.
pub const MAX_MESSAGE_BYTES: usize = 300;

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
    // A missing field comes first only when every field present deserialised: removing
    // nothing, the loop below would find that same error and stop there.
    if first_error.field == "$" || first_error.code == ValidationCode::MissingField {
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

/// `message` cut to [`MAX_MESSAGE_BYTES`] (on a character boundary) with "…".
fn bounded(mut message: String) -> String {
    if message.len() > MAX_MESSAGE_BYTES {
        let mut cut = MAX_MESSAGE_BYTES;
        while !message.is_char_boundary(cut) {
            cut -= 1;
        }
        message.truncate(cut);
        message.push('…');
    }
    message
}

/// The error for serde's `err` at `path` (`serde_path_to_error`'s), with a stable code, its
/// message and field path bounded (an unknown key may itself be most of the line).
pub fn classify_error(path: String, err: serde_json::Error) -> FieldError {
    let mut error = classify_unbounded(path, err);
    error.field = bounded(error.field);
    error.message = bounded(error.message);
    error
}

fn classify_unbounded(path: String, err: serde_json::Error) -> FieldError {
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

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;
    use crate::record::Company;

    fn gzip(bytes: &[u8]) -> Vec<u8> {
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        encoder.write_all(bytes).unwrap();
        encoder.finish().unwrap()
    }

    /// Reads everything `limits` lets through: the bytes read, or the limit that stopped it.
    fn unpack(packed: Vec<u8>, limits: UnpackLimits) -> (u64, Option<UnpackLimitExceeded>) {
        let mut reader = open_reader(std::io::Cursor::new(packed), limits).unwrap();
        let mut total = 0u64;
        loop {
            let available = match reader.fill_buf() {
                Ok(available) => available.len(),
                Err(err) => return (total, Some(UnpackLimitExceeded::of(&err).expect("a limit error").clone())),
            };
            if available == 0 {
                return (total, None);
            }
            reader.consume(available);
            total += available as u64;
        }
    }

    fn lines(n: usize) -> String {
        (0..n).map(|i| format!("{{\"id\": \"{i:09}\", \"name\": \"Atelier {i}\", \"n\": {}}}\n", i * 7919)).collect()
    }

    #[test]
    fn a_gzip_bomb_stops_at_the_expansion_ratio() {
        // 64 MiB of zeros pack to about 64 KB: a 1000x ratio.
        let bomb = gzip(&vec![0u8; 64 << 20]);
        assert!(bomb.len() < 256 << 10, "{}", bomb.len());
        let limits = UnpackLimits { max_unpacked_bytes: 1 << 30, max_ratio: 32 };
        let (read, exceeded) = unpack(bomb, limits);
        assert_eq!(exceeded, Some(UnpackLimitExceeded::Ratio { limit: 32 }));
        // Stopped right after the grace, not at the end of the stream.
        assert!(read <= RATIO_GRACE_BYTES + (1 << 20), "{read}");
        let message = UnpackLimitExceeded::Ratio { limit: 32 }.to_string();
        assert!(message.contains("limits.max_unpack_ratio") && message.contains("32"), "{message}");
    }

    #[test]
    fn the_unpacked_size_is_capped() {
        let text = lines(100_000);
        let packed = gzip(text.as_bytes());
        let limits = UnpackLimits { max_unpacked_bytes: 1 << 20, max_ratio: 32 };
        let (read, exceeded) = unpack(packed.clone(), limits);
        assert_eq!(exceeded, Some(UnpackLimitExceeded::Size { limit: 1 << 20 }));
        assert!(read <= 1 << 20, "{read}");
        assert!(UnpackLimitExceeded::Size { limit: 1 << 20 }.to_string().contains("limits.max_unpacked_bytes"));
        // The same stream within the limits reads whole, and so does plain input.
        let roomy = UnpackLimits { max_unpacked_bytes: 1 << 30, max_ratio: 32 };
        assert_eq!(unpack(packed, roomy), (text.len() as u64, None));
        let plain_limits = UnpackLimits { max_unpacked_bytes: 1, max_ratio: 1 };
        assert_eq!(unpack(text.clone().into_bytes(), plain_limits), (text.len() as u64, None));
    }

    #[test]
    fn the_record_reader_reports_the_limit_as_an_io_error() {
        let packed = gzip(lines(100_000).as_bytes());
        let limits = UnpackLimits { max_unpacked_bytes: 64 << 10, max_ratio: 32 };
        let input = open_reader(std::io::Cursor::new(packed), limits).unwrap();
        let reader: RecordReader<'_, _, Company> = RecordReader::new(input, RefData::embedded());
        let failure = reader.filter_map(Result::err).next().expect("the limit stops the reading");
        assert_eq!(UnpackLimitExceeded::of(&failure), Some(&UnpackLimitExceeded::Size { limit: 64 << 10 }));
    }

    /// Errors of one line: what a hostile line costs in memory is bounded.
    fn errors_of(line: &str) -> Vec<FieldError> {
        let (record, errors) = parse_record_collecting::<Company>(line);
        assert!(record.is_none());
        errors
    }

    #[test]
    fn echoed_values_and_keys_are_cut() {
        let long = "x".repeat(200_000);
        for line in [
            format!("{{\"capabilities\": \"{long}\"}}"),
            format!("{{\"headcount\": \"{long}\"}}"),
            format!("{{\"{long}\": 1}}"),
        ] {
            let errors = errors_of(&line);
            assert!(!errors.is_empty());
            for error in &errors {
                let ellipsis = '…'.len_utf8();
                assert!(error.message.len() <= MAX_MESSAGE_BYTES + ellipsis, "{}", error.message.len());
                assert!(error.field.len() <= MAX_MESSAGE_BYTES + ellipsis, "{}", error.field.len());
            }
        }
    }

    #[test]
    fn a_line_with_many_bad_fields_reports_a_bounded_number() {
        let numbers = vec!["1"; 20_000].join(",");
        let line = format!("{{\"capabilities\": [{numbers}], \"machines\": [{numbers}]}}");
        let errors = errors_of(&line);
        assert_eq!(errors.len(), MAX_SHAPE_ERRORS);
        assert_eq!(errors[0].field, "capabilities[0]");
        assert_eq!(errors[1].field, "capabilities[1]");
    }

    #[test]
    fn a_missing_field_first_is_the_only_error() {
        assert_eq!(errors_of("{}").iter().map(|e| e.field.as_str()).collect::<Vec<_>>(), ["id"]);
        // A bad field before the missing ones is still named.
        let errors = errors_of("{\"name\": 5}");
        assert_eq!(errors[0].field, "name");
        assert_eq!(errors[0].code, ValidationCode::InvalidType);
    }
}
