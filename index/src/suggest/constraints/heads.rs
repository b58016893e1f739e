//! What the text before a constraint reads as ("usinage" → the process usinage), read once per
//! request and remembered per thread.

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};

use super::{ConstraintSource, MAX_CHECKS, constraint_id};
use crate::analysis::{Analyzer, Language};
use crate::interpret::{ConstraintKind, LOCATION_GLUE, STRONG_LOCATION_WORDS, WEAK_LOCATION_WORDS};

/// What the head of a query reads as: its constraints (kind and id), its language, whether it
/// ends with a stopword, and whether a name after it could be read otherwise.
#[derive(Debug, Clone)]
pub(super) struct HeadReading {
    pub(super) constraints: Vec<(ConstraintKind, String)>,
    pub(super) language: Language,
    pub(super) ends_with_stopword: bool,
    /// The stem of its last content word (French pipeline).
    pub(super) last_stem: Option<String>,
    /// The head ends with location words ("près de": a name after them may be read as a
    /// place) or a number: its suggestions are read whole before they are offered.
    pub(super) open_ended: bool,
}

/// What one request has read (its exact and typo-tolerant passes share it): heads, and
/// suggestions checked whole, within [`MAX_CHECKS`].
#[derive(Debug, Default)]
pub(in crate::suggest) struct Heads {
    heads: Vec<(String, Option<HeadReading>)>,
    /// (Suggestion text, the constraint it names) → whether it reads as that constraint
    /// (homonymous places share a text).
    checked: Vec<((String, ConstraintKind, String), bool)>,
}

impl Heads {
    /// What `head` reads as, `None` when it names no constraint (read once per request, and
    /// remembered by the thread: see [`RECENT_HEADS`]).
    pub(super) fn read(&mut self, source: &ConstraintSource, head: &str) -> Option<HeadReading> {
        if let Some((_, reading)) = self.heads.iter().find(|(h, _)| h == head) {
            return reading.clone();
        }
        let reading = recent_head(source, head);
        self.heads.push((head.to_owned(), reading.clone()));
        reading
    }

    /// Whether a suggestion's `text` reads as the constraint `(kind, id)` it names (`reads`,
    /// once per request); `None` once the request has checked [`MAX_CHECKS`] of them.
    pub(super) fn check(
        &mut self,
        text: String,
        kind: ConstraintKind,
        id: &str,
        reads: impl FnOnce(&str) -> bool,
    ) -> Option<bool> {
        let found = self.checked.iter().find(|((t, k, i), _)| *t == text && *k == kind && i == id);
        if let Some((_, verdict)) = found {
            return Some(*verdict);
        }
        if self.checked.len() == MAX_CHECKS {
            return None;
        }
        let verdict = reads(&text);
        self.checked.push(((text, kind, id.to_owned()), verdict));
        Some(verdict)
    }
}

/// (Source, head) → what the head reads as.
type RecentHeads = HashMap<(u64, Box<str>), Option<HeadReading>>;

/// Heads remembered per thread before the memory starts over.
const RECENT_HEADS_CAPACITY: usize = 1024;
/// Longest head remembered, in bytes (the longest query is 256).
const RECENT_HEAD_MAX_BYTES: usize = 256;

thread_local! {
    /// Heads this thread read lately, by source: a user's keystrokes share their head
    /// ("usinage de p", "usinage de pr", "usinage de pré"), and buyers type the same needs.
    /// Bounded, and a reading depends on the source and the head only: it changes no result.
    static RECENT_HEADS: RefCell<RecentHeads> = RefCell::new(HashMap::new());
}

/// Identifies a constraint source in [`RECENT_HEADS`].
static NEXT_SOURCE_ID: AtomicU64 = AtomicU64::new(0);

/// A new source's id.
pub(super) fn next_source_id() -> u64 {
    NEXT_SOURCE_ID.fetch_add(1, Ordering::Relaxed)
}

fn recent_head(source: &ConstraintSource, head: &str) -> Option<HeadReading> {
    if head.len() > RECENT_HEAD_MAX_BYTES {
        return source.read_head(head);
    }
    let key = (source.id, Box::<str>::from(head));
    if let Some(found) = RECENT_HEADS.with(|recent| recent.borrow().get(&key).cloned()) {
        return found;
    }
    let reading = source.read_head(head);
    RECENT_HEADS.with(|recent| {
        let mut recent = recent.borrow_mut();
        if recent.len() >= RECENT_HEADS_CAPACITY {
            recent.clear();
        }
        recent.insert(key, reading.clone());
    });
    reading
}

impl ConstraintSource {
    /// What a head reads as, `None` when it names no constraint.
    fn read_head(&self, head: &str) -> Option<HeadReading> {
        let interpretation = self.interpreter.interpret(head);
        if interpretation.constraints.is_empty() {
            return None;
        }
        // Vocabularies are keyed with the French pipeline whatever the language.
        let tokens = match interpretation.language {
            Language::French => interpretation.tokens.clone(),
            Language::English => Analyzer::new(Language::French).analyze(head),
        };
        let last_stem = tokens.iter().rev().find_map(|t| t.stem.clone());
        // Location words, then only their glue ("près de", "dans le", "en"): a place may follow.
        let location_before = tokens
            .iter()
            .rev()
            .map(|t| t.folded.as_str())
            .find(|w| !LOCATION_GLUE.contains(w))
            .is_some_and(|w| STRONG_LOCATION_WORDS.contains(&w) || WEAK_LOCATION_WORDS.contains(&w));
        let ends_with_number = tokens.last().is_some_and(|t| t.folded.bytes().all(|b| b.is_ascii_digit()));
        Some(HeadReading {
            constraints: interpretation
                .constraints
                .iter()
                .map(|c| (c.constraint.kind(), constraint_id(&c.constraint)))
                .collect(),
            language: interpretation.language,
            ends_with_stopword: interpretation.tokens.last().is_some_and(crate::analysis::Token::is_stopword),
            last_stem,
            open_ended: location_before || ends_with_number,
        })
    }
}
