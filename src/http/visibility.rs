//! `visible_within_ms`: how long an acknowledged company write may take to become searchable,
//! from the flush interval, the work waiting ahead of it and what this server's flushes have
//! cost so far.
//!
//! A write is searchable once the first flush that starts after it has published. The flush
//! thread sleeps `index.flush_interval_ms` between flushes and a flush embeds and indexes
//! everything written since the previous one started, so a write waits at most for the flush
//! running when it arrived, the interval, then the flush that takes it with every write before
//! it. A flush costs a base plus a cost per unit of work: a unit is a document indexed, every
//! [`TEXT_CHARS_PER_UNIT`] characters of its text (analysed, indexed, read whole by the hashing
//! embedder), and with the model each text embedded (the profile, the name, each capability
//! phrase) and every [`TOKENS_PER_UNIT`] tokens of those texts. The cost per unit is learnt from
//! the flushes (their time past the base over their units, recent flushes weighing more),
//! starting from what was measured for the embedder's kind ([`prior_costs`]). The promise is an
//! upper bound, not an average: texts count as computed (none reused), and the flush estimates
//! are doubled, for a machine busier than during the flushes seen and for small flushes, which
//! the model runs on one core where large ones use every core.

use marketlounge_index::IndexError;
use marketlounge_index::embed::MAX_CAPABILITY_TEXTS;
use marketlounge_index::engine::Engine;
use marketlounge_index::record::Company;
use parking_lot::Mutex;

use crate::settings::EmbedderKind;

/// How many times the estimated flush time is promised.
const SAFETY: f64 = 2.0;

/// The weight a flush keeps when the next one is observed: about the last ten flushes count.
const FORGET: f64 = 0.9;

/// The prior cost per unit weighs as much as a flush of this many units.
const PRIOR_UNITS: f64 = 10.0;

/// Tokens of embedded text that cost as much as one text more: from `cargo bench --bench
/// visibility` with the model (a demo-sized company, 8 texts and about 270 tokens, took 550 ms
/// of flush; the largest allowed, 18 texts and about 3,300 tokens, 2,000 ms).
pub(crate) const TOKENS_PER_UNIT: f64 = 200.0;

/// Characters per model token, roughly, in French and English (e5's sentencepiece).
const CHARS_PER_TOKEN: f64 = 4.0;

/// Characters of a company's text that cost as much as one document more to analyse, index and
/// hash: with the hashing embedder, 100 of the largest companies (50,000 characters each) took
/// about 350 ms more to flush than 100 demo-sized ones (700 characters).
pub(crate) const TEXT_CHARS_PER_UNIT: f64 = 10_000.0;

/// Records' work units, the units waiting for a flush, and what flushes have cost.
#[derive(Debug)]
pub struct Visibility {
    flush_interval_ms: f64,
    /// Whether the model computes each document's profile vector, and its capability vectors.
    model_texts: bool,
    embeds_capabilities: bool,
    /// Longest text the model reads, in tokens: the rest is truncated.
    max_tokens: f64,
    state: Mutex<Ledger>,
}

#[derive(Debug)]
struct Ledger {
    /// Units written since the running flush started (or the last one, if none runs).
    waiting: f64,
    /// Units the running flush took and when it started, while one runs.
    in_flight: Option<(f64, std::time::Instant)>,
    cost: UnitCost,
}

impl Visibility {
    /// The estimator of a server flushing every `flush_interval_ms`, whose model reads at most
    /// `max_tokens` (`embedding.max_tokens`), starting from the costs measured for `embedder`.
    pub(crate) fn new(
        flush_interval_ms: u64,
        embedder: EmbedderKind,
        max_tokens: usize,
        engine: &Engine,
    ) -> Visibility {
        let options = engine.options();
        let model_texts = embedder == EmbedderKind::Onnx && options.embedder.is_some() && options.vectors.is_some();
        let embeds_capabilities = model_texts && options.embedder.as_ref().is_some_and(|e| e.embeds_capabilities());
        let (base_ms, per_unit_ms) = prior_costs(embedder);
        Visibility {
            flush_interval_ms: flush_interval_ms as f64,
            model_texts,
            embeds_capabilities,
            max_tokens: max_tokens as f64,
            state: Mutex::new(Ledger { waiting: 0.0, in_flight: None, cost: UnitCost::new(base_ms, per_unit_ms) }),
        }
    }

    /// The work units `companies` bring to a flush.
    pub(crate) fn units(&self, companies: &[Company]) -> f64 {
        companies.iter().map(|company| self.units_of(company)).sum()
    }

    /// One document and its text, then each text the model computes for it with its tokens
    /// (none when the record carries its vector): the profile (name, capabilities,
    /// description), then the name and "name. capability" for the first capabilities
    /// (`embed::capability_texts`).
    fn units_of(&self, company: &Company) -> f64 {
        let name = company.name.chars().count();
        let description = company.description.chars().count();
        let capabilities: Vec<usize> = company.capabilities.iter().map(|c| c.chars().count()).collect();
        let other_lists = [&company.machines, &company.materials, &company.certifications];
        let text_chars = name
            + description
            + capabilities.iter().sum::<usize>()
            + other_lists.iter().flat_map(|list| list.iter()).map(|entry| entry.chars().count()).sum::<usize>();
        let document = 1.0 + text_chars as f64 / TEXT_CHARS_PER_UNIT;
        if !self.model_texts || company.vector.is_some() {
            return document;
        }
        let profile = name + capabilities.iter().map(|chars| chars + 2).sum::<usize>() + description + 2;
        let mut texts = vec![profile];
        if self.embeds_capabilities {
            texts.push(name);
            texts.extend(capabilities.iter().take(MAX_CAPABILITY_TEXTS - 1).map(|chars| name + 2 + chars));
        }
        let tokens: f64 = texts.iter().map(|&chars| (chars as f64 / CHARS_PER_TOKEN + 2.0).min(self.max_tokens)).sum();
        document + texts.len() as f64 + tokens / TOKENS_PER_UNIT
    }

    /// What to promise for a batch of `batch_units` about to be written.
    pub(crate) fn promise_ms(&self, batch_units: f64) -> u64 {
        let ledger = self.state.lock();
        let (base_ms, per_unit_ms) = (ledger.cost.base_ms, ledger.cost.per_unit_ms());
        let running = ledger.in_flight.map(|(units, started)| (units, started.elapsed().as_secs_f64() * 1e3));
        promise_ms(self.flush_interval_ms, base_ms, per_unit_ms, running, ledger.waiting + batch_units)
    }

    /// A batch of `units` was written: it waits for the next flush.
    pub(crate) fn written(&self, units: f64) {
        self.state.lock().waiting += units;
    }

    /// A flush starts and takes every unit written so far: returns them, for
    /// [`Visibility::flush_ended`].
    pub(crate) fn flush_started(&self) -> f64 {
        let mut ledger = self.state.lock();
        let units = std::mem::take(&mut ledger.waiting);
        ledger.in_flight = Some((units, std::time::Instant::now()));
        units
    }

    /// The flush that took `units` ended after `duration_ms`: a published one is learnt from; a
    /// failed one leaves its writes pending, so their units wait again.
    pub(crate) fn flush_ended(&self, units: f64, duration_ms: f64, outcome: &Result<bool, IndexError>) {
        let mut ledger = self.state.lock();
        ledger.in_flight = None;
        match outcome {
            Ok(true) => ledger.cost.observe(units, duration_ms),
            Ok(false) => {}
            Err(_) => ledger.waiting += units,
        }
    }
}

/// The flush cost `(base_ms, per_unit_ms)` measured for each embedder with `cargo bench --bench
/// visibility`, on this project's 2-core machine while other builds kept it busy (load 8 to 9),
/// for a flush of one record (the model's slowest per unit): the estimate before this server
/// has flushed anything.
pub(crate) fn prior_costs(embedder: EmbedderKind) -> (f64, f64) {
    match embedder {
        EmbedderKind::None | EmbedderKind::Provided | EmbedderKind::Hashed | EmbedderKind::Static => (200.0, 1.0),
        EmbedderKind::Onnx => (200.0, 120.0),
    }
}

/// The promise for `units` waiting, this batch's included, when a flush of `running.0` units
/// may have been running for `running.1` ms: what is left of that flush, the interval, then the
/// flush that takes the batch, the flush estimates doubled; whole milliseconds, rounded up.
pub(crate) fn promise_ms(
    flush_interval_ms: f64,
    base_ms: f64,
    per_unit_ms: f64,
    running: Option<(f64, f64)>,
    units: f64,
) -> u64 {
    let flush = |units: f64| SAFETY * (base_ms + per_unit_ms * units);
    let left = running.map_or(0.0, |(units, elapsed_ms)| (flush(units) - elapsed_ms).max(0.0));
    (left + flush_interval_ms + flush(units)).ceil() as u64
}

/// The cost per unit of flushes: their time past the base over their units, both summed with
/// each flush weighing [`FORGET`] times less at the next one. A ratio of sums, not a mean of
/// ratios: a flush of one document says little about the cost per unit, one of a thousand a lot.
#[derive(Debug)]
struct UnitCost {
    base_ms: f64,
    work_ms: f64,
    units: f64,
}

impl UnitCost {
    fn new(base_ms: f64, per_unit_ms: f64) -> UnitCost {
        UnitCost { base_ms, work_ms: per_unit_ms * PRIOR_UNITS, units: PRIOR_UNITS }
    }

    fn observe(&mut self, units: f64, duration_ms: f64) {
        if !(units.is_finite() && duration_ms.is_finite() && units > 0.0) {
            return;
        }
        self.work_ms = FORGET * self.work_ms + (duration_ms - self.base_ms).max(0.0);
        self.units = FORGET * self.units + units;
    }

    fn per_unit_ms(&self) -> f64 {
        self.work_ms / self.units
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_promise_grows_with_the_batch_and_with_the_flush_running() {
        let promise = |running: Option<(f64, f64)>, units: f64| promise_ms(200.0, 150.0, 55.0, running, units);
        // No flush running, one unit: the interval and one flush of one unit's cost, doubled.
        assert_eq!(promise(None, 1.0), (200.0 + 2.0 * (150.0 + 55.0)) as u64);
        let mut previous = 0;
        for units in [1.0, 10.0, 100.0, 1000.0, 10_000.0] {
            let now = promise(None, units);
            assert!(now > previous, "{units}: {now} after {previous}");
            assert!(promise(Some((0.0, 0.0)), units) > now, "a running flush delays the next");
            assert!(promise(Some((500.0, 0.0)), units) > promise(Some((0.0, 0.0)), units));
            previous = now;
        }
        // What is left of a running flush counts, not what it already took.
        assert!(promise(Some((10.0, 500.0)), 1.0) < promise(Some((10.0, 0.0)), 1.0));
        assert_eq!(promise(Some((10.0, 60_000.0)), 1.0), promise(None, 1.0));
    }

    #[test]
    fn the_ledger_hands_written_units_to_the_next_flush() {
        let visibility = with(true, true);
        let alone = visibility.promise_ms(10.0);
        visibility.written(100.0);
        assert!(visibility.promise_ms(10.0) > alone, "units written before count");
        assert_eq!(visibility.flush_started(), 100.0);
        let behind_a_flush = visibility.promise_ms(10.0);
        assert!(behind_a_flush > alone, "the running flush counts");
        visibility.written(5.0);
        visibility.flush_ended(
            100.0,
            1000.0,
            &Err(IndexError::Io { path: "segments".into(), source: std::io::Error::other("disk full") }),
        );
        assert_eq!(visibility.flush_started(), 105.0, "a failed flush's writes wait again");
        visibility.flush_ended(105.0, 1000.0, &Ok(true));
        assert_eq!(visibility.flush_started(), 0.0);
    }

    #[test]
    fn the_cost_per_unit_is_learnt_from_the_flushes() {
        let mut cost = UnitCost::new(200.0, 120.0);
        assert_eq!(cost.per_unit_ms(), 120.0);
        // A machine where a unit costs 50 ms past the base, in flushes of every size.
        for round in 0..60 {
            let units = [5.0, 40.0, 1000.0][round % 3];
            cost.observe(units, 200.0 + 50.0 * units);
        }
        assert!((cost.per_unit_ms() - 50.0).abs() < 0.5, "{}", cost.per_unit_ms());
        // A large flush outweighs a small one that went badly.
        cost.observe(1.0, 5000.0);
        assert!(cost.per_unit_ms() < 60.0, "{}", cost.per_unit_ms());
        // A flush faster than the base adds units and no work: the cost per unit falls.
        let before = cost.per_unit_ms();
        cost.observe(100.0, 100.0);
        assert!(cost.per_unit_ms() < before);
        assert!(cost.per_unit_ms() >= 0.0);
    }

    fn with(profile: bool, capabilities: bool) -> Visibility {
        Visibility {
            flush_interval_ms: 200.0,
            model_texts: profile,
            embeds_capabilities: capabilities,
            max_tokens: 256.0,
            state: Mutex::new(Ledger { waiting: 0.0, in_flight: None, cost: UnitCost::new(200.0, 120.0) }),
        }
    }

    #[test]
    fn a_document_brings_its_texts_and_their_tokens() {
        let company = |n_capabilities: usize, chars: usize| -> Company {
            serde_json::from_value(serde_json::json!({
                "id": "552100554", "name": "Atelier", "naf": "25.62B", "headcount": "20-49", "created": "1987-03-12",
                "capabilities": (0..n_capabilities).map(|_| "x".repeat(chars)).collect::<Vec<_>>(),
                "address": {"postal_code": "42000", "commune": "Saint-Étienne"}
            }))
            .unwrap()
        };
        let short = company(2, 10);
        // "Atelier" and two phrases: 27 characters.
        let document = 1.0 + 27.0 / TEXT_CHARS_PER_UNIT;
        assert_eq!(with(false, false).units(std::slice::from_ref(&short)), document);
        // The profile: the name and the phrases joined, 33 characters, about 10 tokens.
        let profile_only = with(true, false).units(std::slice::from_ref(&short));
        let expected = document + 1.0 + (33.0 / 4.0 + 2.0) / TOKENS_PER_UNIT;
        assert!((profile_only - expected).abs() < 1e-9, "{profile_only}");
        // The document, its profile, its name and the first 15 phrases; texts past the model's
        // reach count for what it reads.
        let long = company(40, 2000);
        let all = with(true, true).units(std::slice::from_ref(&long));
        let document = 1.0 + (7.0 + 80_000.0) / TEXT_CHARS_PER_UNIT;
        let texts = (1 + MAX_CAPABILITY_TEXTS) as f64;
        let tokens = (texts - 1.0) * 256.0 + (7.0 / 4.0 + 2.0);
        assert!((all - (document + texts + tokens / TOKENS_PER_UNIT)).abs() < 1e-9, "{all}");
        assert_eq!(with(true, true).units(&[long.clone(), long]), 2.0 * all);
    }
}
