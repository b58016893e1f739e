//! The scorer's embedded database: signals, articles, outcomes and the applied scores, in one
//! SQLite file (`DATA/scoring/events.sqlite`, WAL, `synchronous=FULL`: a write is durable when
//! it returns).
//!
//! Every batch is one transaction: a batch with a bad record writes nothing. Re-sending a record
//! with the same id replaces it, so a bulk load can be replayed. Dates are stored as day numbers
//! ([`day_number`]).

use std::path::{Path, PathBuf};

use parking_lot::Mutex;
use rusqlite::{Connection, OptionalExtension, params};

use super::ScoreError;
use super::events::EventRules;
use super::features::{History, NO_EVENT, PressEvent, SignalEvent, date_of_day, day_number};
use crate::record::{Article, Outcome, Signal, SignalType};
use crate::record::{format_id, parse_id};

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS signals (
    id TEXT PRIMARY KEY,
    company INTEGER NOT NULL,
    kind INTEGER NOT NULL,
    day INTEGER NOT NULL,
    weight REAL NOT NULL,
    source TEXT NOT NULL,
    text TEXT
);
CREATE INDEX IF NOT EXISTS signals_by_company ON signals (company, day);
CREATE TABLE IF NOT EXISTS articles (
    id TEXT PRIMARY KEY,
    company INTEGER NOT NULL,
    day INTEGER NOT NULL,
    title TEXT NOT NULL,
    summary TEXT,
    body TEXT,
    source TEXT NOT NULL,
    url TEXT,
    kind INTEGER,
    polarity REAL NOT NULL,
    detected INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS articles_by_company ON articles (company, day);
CREATE TABLE IF NOT EXISTS outcomes (
    company INTEGER NOT NULL,
    day INTEGER NOT NULL,
    horizon_days INTEGER NOT NULL,
    converted INTEGER NOT NULL,
    latent REAL,
    PRIMARY KEY (company, day, horizon_days)
);
CREATE TABLE IF NOT EXISTS scores (
    company INTEGER PRIMARY KEY,
    probability REAL NOT NULL,
    logit REAL NOT NULL,
    percentile REAL NOT NULL,
    naf TEXT NOT NULL,
    section TEXT,
    region TEXT,
    headcount TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS scores_by_probability ON scores (probability DESC, company);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
";

/// The database. One connection writes, another reads (WAL lets them run side by side).
#[derive(Debug)]
pub struct EventStore {
    path: PathBuf,
    writer: Mutex<Connection>,
    reader: Mutex<Connection>,
}

/// Every company's history, loaded at once for training and bulk scoring.
#[derive(Debug, Default)]
pub struct Histories {
    companies: Vec<u32>,
    signal_start: Vec<u32>,
    signals: Vec<SignalEvent>,
    press_start: Vec<u32>,
    press: Vec<PressEvent>,
}

impl Histories {
    /// The history of `company` (empty when it has none).
    pub fn get(&self, company: u32) -> History<'_> {
        match self.companies.binary_search(&company) {
            Ok(i) => History {
                signals: &self.signals[self.signal_start[i] as usize..self.signal_start[i + 1] as usize],
                press: &self.press[self.press_start[i] as usize..self.press_start[i + 1] as usize],
            },
            Err(_) => History::default(),
        }
    }

    pub fn n_signals(&self) -> usize {
        self.signals.len()
    }

    pub fn n_articles(&self) -> usize {
        self.press.len()
    }

    /// Builds the table from per-company event lists (any order; sorted here).
    pub fn from_events(mut signals: Vec<(u32, SignalEvent)>, mut press: Vec<(u32, PressEvent)>) -> Histories {
        signals.sort_by_key(|(c, e)| (*c, e.day));
        press.sort_by_key(|(c, e)| (*c, e.day));
        let mut companies: Vec<u32> = signals.iter().map(|(c, _)| *c).chain(press.iter().map(|(c, _)| *c)).collect();
        companies.sort_unstable();
        companies.dedup();
        let starts = |events: &[u32]| {
            let mut start = Vec::with_capacity(companies.len() + 1);
            let mut at = 0usize;
            for &company in &companies {
                start.push(at as u32);
                while at < events.len() && events[at] == company {
                    at += 1;
                }
            }
            start.push(at as u32);
            start
        };
        let signal_companies: Vec<u32> = signals.iter().map(|(c, _)| *c).collect();
        let press_companies: Vec<u32> = press.iter().map(|(c, _)| *c).collect();
        Histories {
            signal_start: starts(&signal_companies),
            press_start: starts(&press_companies),
            companies,
            signals: signals.into_iter().map(|(_, e)| e).collect(),
            press: press.into_iter().map(|(_, e)| e).collect(),
        }
    }
}

/// A labelled row for training: the company, the as-of day, and what happened next.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct OutcomeRow {
    pub company: u32,
    pub day: i32,
    pub horizon_days: i32,
    pub converted: bool,
    pub latent: Option<f64>,
}

/// A company's applied score, as stored for the top list.
#[derive(Debug, Clone, PartialEq)]
pub struct ScoreRow {
    pub company: u32,
    pub probability: f64,
    pub logit: f64,
    /// Share of scored companies with a lower probability, in percent.
    pub percentile: f64,
    pub naf: String,
    pub section: Option<String>,
    pub region: Option<String>,
    pub headcount: String,
}

/// Filters of the top list.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TopFilter {
    /// A NAF section letter ("C") or a code prefix ("25", "25.62", "25.62B").
    pub naf: Option<String>,
    pub region: Option<String>,
    /// Headcount bands, any of them.
    pub headcount: Vec<String>,
}

fn kind_index(signal_type: SignalType) -> u8 {
    SignalType::ALL.iter().position(|&t| t == signal_type).unwrap_or(0) as u8
}

/// What the features see of a signal: the one conversion the store and scoring a record that
/// is not stored ([`history_of_records`]) share.
pub fn signal_event(signal: &Signal) -> SignalEvent {
    SignalEvent {
        day: day_number(signal.date),
        kind: kind_index(signal.signal_type),
        weight: signal.weight.unwrap_or(1.0),
    }
}

/// What the features see of an article, and what was made of it: its event type and polarity
/// as given, else read from its text.
pub fn press_event(article: &Article, rules: &EventRules) -> (PressEvent, StoredArticle) {
    let detected = article.event_type.is_none() || article.sentiment.is_none();
    let found = detected.then(|| rules.classify(&article.title, article.summary.as_deref()));
    let event_type = article.event_type.or(found.and_then(|c| c.event_type));
    let polarity = article.sentiment.or(found.map(|c| c.polarity)).unwrap_or(0.0);
    let event = PressEvent { day: day_number(article.date), kind: event_type.map_or(NO_EVENT, kind_index), polarity };
    (event, StoredArticle { id: article.id.clone(), event_type, polarity, detected })
}

/// The history of one company given as records (a prospect not in the store), exactly as the
/// store would hold it once they were written: the same events, in the same order.
pub fn history_of_records(company: u32, signals: &[Signal], articles: &[Article]) -> (Histories, Vec<StoredArticle>) {
    let rules = EventRules::shared();
    let signals = signals.iter().map(|signal| (company, signal_event(signal))).collect();
    let (press, stored): (Vec<_>, Vec<_>) = articles
        .iter()
        .map(|article| {
            let (event, stored) = press_event(article, rules);
            ((company, event), stored)
        })
        .unzip();
    (Histories::from_events(signals, press), stored)
}

impl EventStore {
    /// Opens (creating if needed) the database at `path`.
    pub fn open(path: &Path) -> Result<EventStore, ScoreError> {
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(|source| ScoreError::Io { path: parent.to_owned(), source })?;
        }
        let err = |source| ScoreError::Store { path: path.to_owned(), source };
        let writer = Connection::open(path).map_err(err)?;
        writer.pragma_update(None, "journal_mode", "WAL").map_err(err)?;
        writer.pragma_update(None, "synchronous", "FULL").map_err(err)?;
        writer.busy_timeout(std::time::Duration::from_secs(10)).map_err(err)?;
        writer.execute_batch(SCHEMA).map_err(err)?;
        let reader = Connection::open(path).map_err(err)?;
        reader.busy_timeout(std::time::Duration::from_secs(10)).map_err(err)?;
        Ok(EventStore { path: path.to_owned(), writer: Mutex::new(writer), reader: Mutex::new(reader) })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn err(&self) -> impl Fn(rusqlite::Error) -> ScoreError + '_ {
        |source| ScoreError::Store { path: self.path.clone(), source }
    }

    /// Writes records in one transaction: `feed` gets an inserter and returns `Ok(true)` to
    /// commit, `Ok(false)` to roll back (a bad record was found on the way).
    pub fn write_batch<F>(&self, feed: F) -> Result<bool, ScoreError>
    where
        F: FnOnce(&mut Inserter<'_>) -> Result<bool, ScoreError>,
    {
        let mut conn = self.writer.lock();
        let tx = conn.transaction().map_err(self.err())?;
        let mut inserter = Inserter { tx: &tx, path: &self.path, rules: EventRules::shared() };
        let commit = feed(&mut inserter)?;
        if commit {
            tx.commit().map_err(self.err())?;
        } else {
            tx.rollback().map_err(self.err())?;
        }
        Ok(commit)
    }

    /// Numbers of signals, articles and outcomes stored.
    pub fn counts(&self) -> Result<(u64, u64, u64), ScoreError> {
        let conn = self.reader.lock();
        let count = |table: &str| -> Result<u64, ScoreError> {
            conn.query_row(&format!("SELECT COUNT(*) FROM {table}"), [], |row| row.get::<_, i64>(0))
                .map(|n| n as u64)
                .map_err(self.err())
        };
        Ok((count("signals")?, count("articles")?, count("outcomes")?))
    }

    /// Every company's history.
    pub fn load_histories(&self) -> Result<Histories, ScoreError> {
        self.read_histories(None)
    }

    /// One company's history (for scoring it alone).
    pub fn history_of(&self, company: u32) -> Result<Histories, ScoreError> {
        self.read_histories(Some(company))
    }

    /// The events of one company, or of all of them.
    fn read_histories(&self, company: Option<u32>) -> Result<Histories, ScoreError> {
        let conn = self.reader.lock();
        let filter = if company.is_some() { " WHERE company = ?1" } else { "" };
        let params: Vec<i64> = company.map(i64::from).into_iter().collect();
        let mut signals = Vec::new();
        let mut stmt = conn
            .prepare_cached(&format!("SELECT company, day, kind, weight FROM signals{filter}"))
            .map_err(self.err())?;
        let mut rows = stmt.query(rusqlite::params_from_iter(&params)).map_err(self.err())?;
        while let Some(row) = rows.next().map_err(self.err())? {
            let company: i64 = row.get(0).map_err(self.err())?;
            signals.push((
                company as u32,
                SignalEvent {
                    day: row.get(1).map_err(self.err())?,
                    kind: row.get::<_, i64>(2).map_err(self.err())? as u8,
                    weight: row.get::<_, f64>(3).map_err(self.err())? as f32,
                },
            ));
        }
        drop(rows);
        let mut press = Vec::new();
        let mut stmt = conn
            .prepare_cached(&format!("SELECT company, day, kind, polarity FROM articles{filter}"))
            .map_err(self.err())?;
        let mut rows = stmt.query(rusqlite::params_from_iter(&params)).map_err(self.err())?;
        while let Some(row) = rows.next().map_err(self.err())? {
            let company: i64 = row.get(0).map_err(self.err())?;
            press.push((
                company as u32,
                PressEvent {
                    day: row.get(1).map_err(self.err())?,
                    kind: row.get::<_, Option<i64>>(2).map_err(self.err())?.map_or(NO_EVENT, |k| k as u8),
                    polarity: row.get::<_, f64>(3).map_err(self.err())? as f32,
                },
            ));
        }
        drop(rows);
        drop(stmt);
        // Sorted by company and day here, whatever order SQLite returned.
        Ok(Histories::from_events(signals, press))
    }

    /// Every outcome, by as-of day then company.
    pub fn outcomes(&self) -> Result<Vec<OutcomeRow>, ScoreError> {
        let conn = self.reader.lock();
        let mut stmt = conn
            .prepare("SELECT company, day, horizon_days, converted, latent FROM outcomes ORDER BY day, company")
            .map_err(self.err())?;
        let rows = stmt
            .query_map([], |row| {
                Ok(OutcomeRow {
                    company: row.get::<_, i64>(0)? as u32,
                    day: row.get(1)?,
                    horizon_days: row.get(2)?,
                    converted: row.get::<_, i64>(3)? != 0,
                    latent: row.get(4)?,
                })
            })
            .map_err(self.err())?;
        rows.collect::<Result<Vec<_>, _>>().map_err(self.err())
    }

    /// Replaces the applied scores and their metadata in one transaction.
    pub fn replace_scores(&self, rows: &[ScoreRow], meta: &[(&str, String)]) -> Result<(), ScoreError> {
        let mut conn = self.writer.lock();
        let tx = conn.transaction().map_err(self.err())?;
        tx.execute("DELETE FROM scores", []).map_err(self.err())?;
        {
            let mut insert = tx
                .prepare(
                    "INSERT INTO scores (company, probability, logit, percentile, naf, section, region, headcount)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                )
                .map_err(self.err())?;
            for row in rows {
                insert
                    .execute(params![
                        i64::from(row.company),
                        row.probability,
                        row.logit,
                        row.percentile,
                        row.naf,
                        row.section,
                        row.region,
                        row.headcount
                    ])
                    .map_err(self.err())?;
            }
            let mut put = tx.prepare("INSERT OR REPLACE INTO meta (key, value) VALUES (?1, ?2)").map_err(self.err())?;
            for (key, value) in meta {
                put.execute(params![key, value]).map_err(self.err())?;
            }
        }
        tx.commit().map_err(self.err())
    }

    /// A metadata value written with the scores.
    pub fn meta(&self, key: &str) -> Result<Option<String>, ScoreError> {
        let conn = self.reader.lock();
        conn.query_row("SELECT value FROM meta WHERE key = ?1", [key], |row| row.get(0)).optional().map_err(self.err())
    }

    fn score_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<ScoreRow> {
        Ok(ScoreRow {
            company: row.get::<_, i64>(0)? as u32,
            probability: row.get(1)?,
            logit: row.get(2)?,
            percentile: row.get(3)?,
            naf: row.get(4)?,
            section: row.get(5)?,
            region: row.get(6)?,
            headcount: row.get(7)?,
        })
    }

    /// The applied score of one company.
    pub fn score_of(&self, company: u32) -> Result<Option<ScoreRow>, ScoreError> {
        let conn = self.reader.lock();
        conn.query_row(
            "SELECT company, probability, logit, percentile, naf, section, region, headcount FROM scores WHERE company = ?1",
            [i64::from(company)],
            Self::score_row,
        )
        .optional()
        .map_err(self.err())
    }

    /// Share of applied scores below `probability`, in percent (`None` before any apply).
    pub fn percentile_of(&self, probability: f64) -> Result<Option<f64>, ScoreError> {
        let conn = self.reader.lock();
        let (below, total): (i64, i64) = conn
            .query_row(
                "SELECT (SELECT COUNT(*) FROM scores WHERE probability < ?1), (SELECT COUNT(*) FROM scores)",
                [probability],
                |row| Ok((row.get(0)?, row.get(1)?)),
            )
            .map_err(self.err())?;
        Ok((total > 0).then(|| 100.0 * below as f64 / total as f64))
    }

    /// The `k` best applied scores matching `filter`, best first.
    pub fn top(&self, k: usize, filter: &TopFilter) -> Result<Vec<ScoreRow>, ScoreError> {
        let mut sql = String::from(
            "SELECT company, probability, logit, percentile, naf, section, region, headcount FROM scores WHERE 1=1",
        );
        let mut values: Vec<rusqlite::types::Value> = Vec::new();
        if let Some(naf) = &filter.naf {
            if naf.len() == 1 {
                sql.push_str(" AND section = ?");
                values.push(naf.clone().into());
            } else {
                sql.push_str(" AND substr(naf, 1, ?) = ?");
                values.push((naf.len() as i64).into());
                values.push(naf.clone().into());
            }
        }
        if let Some(region) = &filter.region {
            sql.push_str(" AND region = ?");
            values.push(region.clone().into());
        }
        if !filter.headcount.is_empty() {
            sql.push_str(" AND headcount IN (");
            for (i, band) in filter.headcount.iter().enumerate() {
                sql.push_str(if i == 0 { "?" } else { ", ?" });
                values.push(band.clone().into());
            }
            sql.push(')');
        }
        sql.push_str(" ORDER BY probability DESC, company LIMIT ?");
        values.push((k as i64).into());
        let conn = self.reader.lock();
        let mut stmt = conn.prepare_cached(&sql).map_err(self.err())?;
        let rows = stmt.query_map(rusqlite::params_from_iter(values), Self::score_row).map_err(self.err())?;
        rows.collect::<Result<Vec<_>, _>>().map_err(self.err())
    }
}

/// Writes records inside one transaction (see [`EventStore::write_batch`]).
#[derive(Debug)]
pub struct Inserter<'t> {
    tx: &'t rusqlite::Transaction<'t>,
    path: &'t Path,
    rules: &'static EventRules,
}

/// What the store made of an article.
#[derive(Debug, Clone, PartialEq, serde::Serialize, schemars::JsonSchema)]
pub struct StoredArticle {
    pub id: String,
    pub event_type: Option<SignalType>,
    pub polarity: f32,
    /// Whether type and polarity were read from the text (the record carried none).
    pub detected: bool,
}

impl Inserter<'_> {
    fn err(&self) -> impl Fn(rusqlite::Error) -> ScoreError + '_ {
        |source| ScoreError::Store { path: self.path.to_owned(), source }
    }

    fn company(id: &str) -> Result<i64, ScoreError> {
        parse_id(id).map(i64::from).ok_or_else(|| ScoreError::Invalid(format!("company_id {id:?} is not 9 digits")))
    }

    pub fn signal(&mut self, signal: &Signal) -> Result<(), ScoreError> {
        let event = signal_event(signal);
        let mut stmt = self
            .tx
            .prepare_cached(
                "INSERT OR REPLACE INTO signals (id, company, kind, day, weight, source, text)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            )
            .map_err(self.err())?;
        stmt.execute(params![
            signal.id,
            Self::company(&signal.company_id)?,
            i64::from(event.kind),
            event.day,
            f64::from(event.weight),
            signal.source,
            signal.text
        ])
        .map_err(self.err())?;
        Ok(())
    }

    /// Stores an article, reading its event type and polarity from the text when it has none.
    pub fn article(&mut self, article: &Article) -> Result<StoredArticle, ScoreError> {
        let (event, stored) = press_event(article, self.rules);
        let mut stmt = self
            .tx
            .prepare_cached(
                "INSERT OR REPLACE INTO articles (id, company, day, title, summary, body, source, url, kind, polarity, detected)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
            )
            .map_err(self.err())?;
        stmt.execute(params![
            article.id,
            Self::company(&article.company_id)?,
            event.day,
            article.title,
            article.summary,
            article.body,
            article.source,
            article.url,
            (event.kind != NO_EVENT).then_some(i64::from(event.kind)),
            f64::from(event.polarity),
            stored.detected
        ])
        .map_err(self.err())?;
        Ok(stored)
    }

    pub fn outcome(&mut self, outcome: &Outcome) -> Result<(), ScoreError> {
        let mut stmt = self
            .tx
            .prepare_cached(
                "INSERT OR REPLACE INTO outcomes (company, day, horizon_days, converted, latent)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
            )
            .map_err(self.err())?;
        stmt.execute(params![
            Self::company(&outcome.company_id)?,
            day_number(outcome.as_of),
            i64::from(outcome.horizon_days),
            outcome.converted,
            outcome.latent_probability
        ])
        .map_err(self.err())?;
        Ok(())
    }
}

/// The company id of a stored number.
pub fn company_id(company: u32) -> String {
    format_id(company)
}

/// The date of a stored day number.
pub fn date(day: i32) -> jiff::civil::Date {
    date_of_day(day)
}
