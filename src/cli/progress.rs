//! Progress of the long commands on stderr: phase, done/total, rate and ETA.
//!
//! On a terminal it is an indicatif bar redrawn in place. Anywhere else (a log file, CI, a pipe)
//! it is plain lines, because a redrawn bar there is a stream of escape sequences and carriage
//! returns: one line when a phase starts, one every [`LINE_INTERVAL`] while it runs (so a long
//! phase is seen to be alive), one when it ends. Every line names the command and the phase.
//!
//! A command starts phases one after the other ([`Progress::start`]); the running phase gets its
//! position ([`Progress::set`]) from wherever the work is counted. [`build_phases`] turns the
//! index build's callbacks (`Engine::reindex`) into phases.

use std::io::{BufRead as _, IsTerminal, Write};
use std::sync::Arc;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressState, ProgressStyle};
use marketlounge_index::engine::BuildPhase;
use parking_lot::Mutex;

/// How often a plain line repeats the state of a running phase: often enough to show that a
/// minutes-long phase moves, rarely enough that a log of a long build stays short.
const LINE_INTERVAL: Duration = Duration::from_secs(10);

/// How often a terminal bar is redrawn when nothing else moves it (its elapsed time and spinner).
const BAR_TICK: Duration = Duration::from_millis(200);

/// The progress of one command; see the module documentation. Dropped while a phase runs (the
/// command failed), it says where that phase stopped.
pub(crate) struct Progress {
    shared: Arc<Shared>,
    /// The plain-lines mode's timer thread and the sender whose drop stops it.
    ticker: Option<(mpsc::Sender<()>, JoinHandle<()>)>,
}

struct Shared {
    command: String,
    /// Plain lines go here (stderr, or a buffer in tests); `None` on a terminal.
    lines: Option<Mutex<Box<dyn Write + Send>>>,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    phase: Option<Phase>,
    /// The terminal bar of the running phase.
    bar: Option<ProgressBar>,
}

/// A running phase.
#[derive(Debug, Clone)]
struct Phase {
    name: String,
    unit: &'static str,
    done: u64,
    total: Option<u64>,
    /// Shown after the counts (e.g. vectors computed so far).
    detail: String,
    started: Instant,
    /// When the last plain line about this phase was written.
    last_line: Instant,
}

impl Progress {
    /// Progress of `command` on stderr: a bar on a terminal, plain lines otherwise.
    pub(crate) fn stderr(command: &str) -> Progress {
        if std::io::stderr().is_terminal() {
            Progress::new(command, None, LINE_INTERVAL)
        } else {
            Progress::new(command, Some(Box::new(std::io::stderr())), LINE_INTERVAL)
        }
    }

    fn new(command: &str, lines: Option<Box<dyn Write + Send>>, interval: Duration) -> Progress {
        let plain = lines.is_some();
        let shared = Arc::new(Shared {
            command: command.to_owned(),
            lines: lines.map(Mutex::new),
            state: Mutex::new(State::default()),
        });
        let ticker = plain.then(|| {
            let (stop, stopped) = mpsc::channel::<()>();
            let shared = Arc::clone(&shared);
            let handle = std::thread::spawn(move || {
                // Wakes every interval until the sender is dropped; writes a line for a phase
                // that has been quiet for that long.
                while let Err(RecvTimeoutError::Timeout) = stopped.recv_timeout(interval) {
                    shared.periodic_line(Instant::now(), interval);
                }
            });
            (stop, handle)
        });
        Progress { shared, ticker }
    }

    /// Ends the running phase (if any) and starts `name`, counting `unit` up to `total` (when
    /// known).
    pub(crate) fn start(&self, name: &str, total: Option<u64>, unit: &'static str) {
        let now = Instant::now();
        let mut state = self.shared.state.lock();
        self.shared.end_phase(&mut state, now, true);
        let phase =
            Phase { name: name.to_owned(), unit, done: 0, total, detail: String::new(), started: now, last_line: now };
        match &self.shared.lines {
            Some(_) => self.shared.write_line(&format!("{}: {}", self.shared.command, phase.start_line())),
            None => state.bar = Some(self.shared.bar(&phase)),
        }
        state.phase = Some(phase);
    }

    /// Renames the running phase (the index build turns from reading to embedding when the
    /// first vector is computed); a plain line says where it was then.
    pub(crate) fn rename(&self, name: &str) {
        let now = Instant::now();
        let mut state = self.shared.state.lock();
        let State { phase, bar } = &mut *state;
        let Some(phase) = phase.as_mut().filter(|p| p.name != name) else { return };
        let before = std::mem::replace(&mut phase.name, name.to_owned());
        match bar {
            Some(bar) => bar.set_message(phase.message()),
            None => {
                phase.last_line = now;
                let line = format!("{}: {before}, now {}", self.shared.command, phase.running_line(now));
                drop(state);
                self.shared.write_line(&line);
            }
        }
    }

    /// Sets how much of the running phase is done.
    pub(crate) fn set(&self, done: u64) {
        let mut state = self.shared.state.lock();
        let State { phase, bar } = &mut *state;
        if let Some(phase) = phase {
            phase.done = done;
            if let Some(bar) = bar {
                bar.set_position(done);
            }
        }
    }

    /// Adds `n` to what is done of the running phase.
    pub(crate) fn inc(&self, n: u64) {
        let done = self.shared.state.lock().phase.as_ref().map_or(0, |p| p.done);
        self.set(done + n);
    }

    /// Text shown after the counts of the running phase.
    pub(crate) fn detail(&self, detail: String) {
        let mut state = self.shared.state.lock();
        let State { phase, bar } = &mut *state;
        if let Some(phase) = phase {
            phase.detail = detail;
            if let Some(bar) = bar {
                bar.set_message(phase.message());
            }
        }
    }

    /// Ends the running phase: its last line says what was done, in how long.
    pub(crate) fn finish(&self) {
        let mut state = self.shared.state.lock();
        self.shared.end_phase(&mut state, Instant::now(), true);
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        let mut state = self.shared.state.lock();
        self.shared.end_phase(&mut state, Instant::now(), false);
        drop(state);
        if let Some((stop, handle)) = self.ticker.take() {
            drop(stop);
            let _ = handle.join();
        }
    }
}

impl Shared {
    fn write_line(&self, line: &str) {
        if let Some(out) = &self.lines {
            let mut out = out.lock();
            // Progress is best effort: a closed stderr must not fail the command.
            let _ = writeln!(out, "{line}");
            let _ = out.flush();
        }
    }

    fn periodic_line(&self, now: Instant, interval: Duration) {
        let mut state = self.state.lock();
        let Some(phase) = state.phase.as_mut() else { return };
        if now.duration_since(phase.last_line) < interval {
            return;
        }
        phase.last_line = now;
        let line = format!("{}: {}", self.command, phase.running_line(now));
        drop(state);
        self.write_line(&line);
    }

    /// Ends the running phase with its last line: what was done, or, when it did not complete,
    /// where it stopped.
    fn end_phase(&self, state: &mut State, now: Instant, completed: bool) {
        let Some(phase) = state.phase.take() else { return };
        if let Some(bar) = state.bar.take() {
            bar.finish_and_clear();
        }
        let line = format!("{}: {}", self.command, if completed { phase.end_line(now) } else { phase.stop_line(now) });
        match &self.lines {
            Some(_) => self.write_line(&line),
            // On a terminal the finished bar gives way to the same summary line.
            None => eprintln!("{line}"),
        }
    }

    fn bar(&self, phase: &Phase) -> ProgressBar {
        let unit = phase.unit;
        let template = match phase.total {
            Some(_) => format!("{{prefix}}: {{msg}} [{{bar:28}}] {{pos}}/{{len}} {unit}, {{rate}}, eta {{eta}}"),
            None => format!("{{prefix}}: {{msg}} {{spinner}} {{pos}} {unit}, {{rate}}, {{elapsed}}"),
        };
        let style = ProgressStyle::with_template(&template)
            .expect("the progress templates are valid")
            .progress_chars("=> ")
            .with_key("rate", |state: &ProgressState, out: &mut dyn std::fmt::Write| {
                let _ = write!(out, "{}/s", rate_text(state.per_sec()));
            });
        let bar = ProgressBar::with_draw_target(phase.total, ProgressDrawTarget::stderr());
        bar.set_style(style);
        bar.set_prefix(self.command.clone());
        bar.set_message(phase.message());
        bar.enable_steady_tick(BAR_TICK);
        bar
    }
}

impl Phase {
    /// The phase's name and its detail, as the bar shows them.
    fn message(&self) -> String {
        if self.detail.is_empty() { self.name.clone() } else { format!("{} ({})", self.name, self.detail) }
    }

    fn counts(&self) -> String {
        match self.total {
            Some(total) => format!("{}/{total} {}", self.done, self.unit),
            None => format!("{} {}", self.done, self.unit),
        }
    }

    fn start_line(&self) -> String {
        match self.total {
            Some(total) => format!("{}: started, {total} {}", self.name, self.unit),
            None => format!("{}: started", self.name),
        }
    }

    /// `embedding: 412/2000 companies (20 %), 9.8/s, 42.0 s, eta 162 s; 5230 vectors computed`
    fn running_line(&self, now: Instant) -> String {
        let seconds = now.duration_since(self.started).as_secs_f64();
        let rate = self.done as f64 / seconds.max(1e-9);
        let mut line = format!("{}: {}", self.name, self.counts());
        if let Some(total) = self.total.filter(|&t| t > 0) {
            line.push_str(&format!(" ({} %)", self.done.min(total) * 100 / total));
        }
        line.push_str(&format!(", {}/s, {seconds:.1} s", rate_text(rate)));
        if let Some(total) = self.total
            && self.done > 0
        {
            line.push_str(&format!(", eta {:.0} s", total.saturating_sub(self.done) as f64 / rate));
        }
        if !self.detail.is_empty() {
            line.push_str(&format!("; {}", self.detail));
        }
        line
    }

    /// `embedding: done, 2000/2000 companies in 201.3 s (9.9/s); 12500 vectors computed`
    fn end_line(&self, now: Instant) -> String {
        let seconds = now.duration_since(self.started).as_secs_f64();
        let mut line = format!(
            "{}: done, {} in {seconds:.1} s ({}/s)",
            self.name,
            self.counts(),
            rate_text(self.done as f64 / seconds.max(1e-9))
        );
        if !self.detail.is_empty() {
            line.push_str(&format!("; {}", self.detail));
        }
        line
    }

    /// `embedding: stopped at 412/2000 companies after 42.0 s`
    fn stop_line(&self, now: Instant) -> String {
        let seconds = now.duration_since(self.started).as_secs_f64();
        format!("{}: stopped at {} after {seconds:.1} s", self.name, self.counts())
    }
}

/// A rate with the precision it deserves: one decimal under 100 per second, none above.
fn rate_text(rate: f64) -> String {
    if rate < 100.0 { format!("{rate:.1}") } else { format!("{rate:.0}") }
}

/// The index build's progress callback for `Engine::reindex`, as phases of `progress`:
/// reading (records read, their vectors found again), renamed embedding once the embedder runs
/// (with the vectors computed so far, from `vectors_computed`), then indexing (the segment's
/// commit, HNSW graph and checksums) and publishing. `total` is the number of records.
pub(crate) fn build_phases<'a>(
    progress: &'a Progress,
    total: Option<u64>,
    vectors_computed: impl Fn() -> u64 + 'a,
) -> impl FnMut(BuildPhase, u64) + 'a {
    progress.start("reading", total, "companies");
    let computed_before = vectors_computed();
    move |phase, docs| match phase {
        BuildPhase::Reading => progress.set(docs),
        BuildPhase::Embedding => {
            progress.set(docs);
            progress.detail(format!("{} vectors computed", vectors_computed() - computed_before));
            progress.rename("embedding");
        }
        BuildPhase::Indexing => {
            // Reading reports every 1,000 records: the phase ends with the real count.
            progress.set(docs);
            progress.start("indexing", None, "companies");
            progress.set(docs);
        }
        BuildPhase::Publishing => {
            progress.start("publishing", None, "companies");
            progress.set(docs);
        }
    }
}

/// Counts the records of an NDJSON file (plain or gzip): its non-blank lines. A first pass over
/// the file, so that a command can say how far it is (milliseconds for the demo's files, about
/// a second per GB).
pub(crate) fn count_records(
    path: &std::path::Path,
    limits: marketlounge_index::ndjson::UnpackLimits,
) -> std::io::Result<u64> {
    let mut input = marketlounge_index::ndjson::open_path(path, limits)?;
    let mut lines = LineCounter::default();
    let mut records = 0;
    loop {
        let buffer = input.fill_buf()?;
        if buffer.is_empty() {
            return Ok(records + lines.unterminated());
        }
        records += lines.feed(buffer);
        let consumed = buffer.len();
        input.consume(consumed);
    }
}

/// A reader that counts the records (non-blank lines) read through it into the running phase
/// of `progress`; over decompressed bytes, so a gzip file counts like [`count_records`].
pub(crate) struct RecordProgress<'a, R> {
    inner: R,
    lines: LineCounter,
    progress: &'a Progress,
}

impl<'a, R> RecordProgress<'a, R> {
    pub(crate) fn new(inner: R, progress: &'a Progress) -> Self {
        RecordProgress { inner, lines: LineCounter::default(), progress }
    }
}

impl<R: std::io::Read> std::io::Read for RecordProgress<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        let records = if n == 0 { self.lines.unterminated() } else { self.lines.feed(&buf[..n]) };
        if records > 0 {
            self.progress.inc(records);
        }
        Ok(n)
    }
}

/// Counts non-blank lines in a stream of bytes fed in pieces.
#[derive(Debug, Default)]
struct LineCounter {
    /// The current line has something other than white space.
    filled: bool,
}

impl LineCounter {
    /// The non-blank lines `bytes` ends.
    fn feed(&mut self, bytes: &[u8]) -> u64 {
        let mut ended = 0;
        for &byte in bytes {
            if byte == b'\n' {
                ended += u64::from(self.filled);
                self.filled = false;
            } else if !byte.is_ascii_whitespace() {
                self.filled = true;
            }
        }
        ended
    }

    /// 1 for a last line without a newline, once.
    fn unterminated(&mut self) -> u64 {
        u64::from(std::mem::take(&mut self.filled))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A shared buffer standing in for stderr.
    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl Write for Captured {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl Captured {
        fn text(&self) -> String {
            String::from_utf8(self.0.lock().clone()).unwrap()
        }
    }

    fn phase(done: u64, total: Option<u64>) -> (Phase, Instant) {
        let started = Instant::now();
        let phase = Phase {
            name: "embedding".into(),
            unit: "companies",
            done,
            total,
            detail: String::new(),
            started,
            last_line: started,
        };
        (phase, started)
    }

    #[test]
    fn lines_give_phase_counts_rate_and_eta() {
        let (mut running, started) = phase(400, Some(2000));
        let at = started + Duration::from_secs(40);
        assert_eq!(running.running_line(at), "embedding: 400/2000 companies (20 %), 10.0/s, 40.0 s, eta 160 s");
        running.detail = "5200 vectors computed".into();
        running.done = 2000;
        assert_eq!(
            running.end_line(started + Duration::from_secs(200)),
            "embedding: done, 2000/2000 companies in 200.0 s (10.0/s); 5200 vectors computed"
        );
        let (unknown, started) = phase(150_000, None);
        assert_eq!(
            unknown.running_line(started + Duration::from_secs(60)),
            "embedding: 150000 companies, 2500/s, 60.0 s"
        );
        let (nothing_yet, started) = phase(0, Some(10));
        assert_eq!(
            nothing_yet.running_line(started + Duration::from_secs(3)),
            "embedding: 0/10 companies (0 %), 0.0/s, 3.0 s"
        );
    }

    /// Not on a terminal: a line per phase start and end, a periodic line for a phase quiet for
    /// an interval (and none sooner), and no escape sequence or carriage return anywhere.
    #[test]
    fn plain_lines_start_repeat_and_end_each_phase() {
        let out = Captured::default();
        // An interval no test run reaches, so the timer thread writes nothing by itself.
        let progress = Progress::new("index build", Some(Box::new(out.clone())), Duration::from_secs(3600));
        progress.start("reading", Some(3), "companies");
        progress.set(1);
        progress.shared.periodic_line(Instant::now(), Duration::from_secs(3600));
        progress.rename("embedding");
        progress.inc(1);
        progress.detail("7 vectors computed".into());
        let later = Instant::now() + Duration::from_secs(3601);
        progress.shared.periodic_line(later, Duration::from_secs(3600));
        progress.set(3);
        progress.start("indexing", None, "companies");
        progress.set(3);
        drop(progress);
        let text = out.text();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 6, "{text}");
        assert_eq!(lines[0], "index build: reading: started, 3 companies");
        assert!(lines[1].starts_with("index build: reading, now embedding: 1/3 companies (33 %), "), "{text}");
        assert!(lines[2].starts_with("index build: embedding: 2/3 companies (66 %), "), "{text}");
        assert!(lines[2].ends_with("; 7 vectors computed"), "{text}");
        assert!(lines[3].starts_with("index build: embedding: done, 3/3 companies in "), "{text}");
        assert_eq!(lines[4], "index build: indexing: started");
        assert!(lines[5].starts_with("index build: indexing: stopped at 3 companies after "), "{text}");
        assert!(!text.contains('\x1b') && !text.contains('\r'), "{text:?}");
    }

    #[test]
    fn records_are_counted_in_plain_and_gzip_files() {
        let dir = tempfile::tempdir().unwrap();
        let text = "{\"a\":1}\n\n  \n{\"a\":2}\n{\"a\":3}";
        let plain = dir.path().join("plain.ndjson");
        std::fs::write(&plain, text).unwrap();
        assert_eq!(
            count_records(&plain, crate::settings::Settings::default_settings().limits.file_unpack_limits()).unwrap(),
            3
        );
        let gzip = dir.path().join("records.ndjson.gz");
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        encoder.write_all(format!("{text}\n").as_bytes()).unwrap();
        std::fs::write(&gzip, encoder.finish().unwrap()).unwrap();
        assert_eq!(
            count_records(&gzip, crate::settings::Settings::default_settings().limits.file_unpack_limits()).unwrap(),
            3
        );

        // The same count through the reader, fed a few bytes at a time.
        let progress = Progress::new("test", Some(Box::new(Captured::default())), Duration::from_secs(3600));
        progress.start("reading", Some(3), "records");
        let mut reader = std::io::BufReader::with_capacity(3, RecordProgress::new(text.as_bytes(), &progress));
        std::io::copy(&mut reader, &mut std::io::sink()).unwrap();
        assert_eq!(progress.shared.state.lock().phase.as_ref().unwrap().done, 3);
    }
}
