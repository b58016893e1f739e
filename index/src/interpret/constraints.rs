//! The constraints a query names — process, material, certification, size, place — each with
//! its span, read so that a word belongs to one constraint at most:
//! - size phrases and places first (their words leave the text query);
//! - then certifications and materials, from their vocabularies (`schema/glossary/`), the most
//!   specific entry winning over its family ("titane TA6V" is one `titane.ta6v` constraint);
//! - a material named inside a concept's phrase is a word of the process's name, in French and
//!   English alike ("moulage caoutchouc", "rubber moulding", "plastics processing" are one process
//!   each, as "plasturgie" is), unless the phrase's other words name the process by themselves
//!   and no other material is named ("soudage inox": welding, and stainless steel), or another
//!   process is named and the phrase only says what the parts are made of ("découpe composite");
//! - then processes, the glossary's concepts over the remaining words, the most specific concept
//!   winning over its ancestors. A material or certification that kept its words inside a
//!   concept's phrase leaves the process the concept the remaining words name when it is the
//!   phrase's concept or an ancestor of it, else the phrase's concept on the remaining words.

use serde::Serialize;

use super::size::SizeHit;
use super::{Interpreter, LocationHit};
use crate::analysis::{Analyzer, Language, Token};
use crate::dict::gazetteer::PlaceKind;
use crate::dict::vocabulary::{VocabularyHit, same_word};
use crate::record::HeadcountBand;

/// A constraint of the query.
#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Constraint {
    /// A glossary concept.
    Process { id: String, label: String },
    /// A family or grade id of the materials vocabulary.
    Material { id: String, label: String },
    /// An id of the certifications vocabulary.
    Certification { id: String, label: String },
    /// Employees, inclusive bounds; see [`SizeRange::allows`] for how a headcount band meets it.
    Size { min: Option<u32>, max: Option<u32>, label: String },
    /// A commune, département or région, with the distance asked around it (`None`: none said).
    Place { place_kind: PlaceKind, code: String, name: String, radius_km: Option<f32> },
}

/// What kind of constraint it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ConstraintKind {
    Process,
    Material,
    Certification,
    Size,
    Place,
}

impl ConstraintKind {
    pub const ALL: [ConstraintKind; 5] = [
        ConstraintKind::Process,
        ConstraintKind::Material,
        ConstraintKind::Certification,
        ConstraintKind::Size,
        ConstraintKind::Place,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ConstraintKind::Process => "process",
            ConstraintKind::Material => "material",
            ConstraintKind::Certification => "certification",
            ConstraintKind::Size => "size",
            ConstraintKind::Place => "place",
        }
    }
}

impl Constraint {
    pub fn kind(&self) -> ConstraintKind {
        match self {
            Constraint::Process { .. } => ConstraintKind::Process,
            Constraint::Material { .. } => ConstraintKind::Material,
            Constraint::Certification { .. } => ConstraintKind::Certification,
            Constraint::Size { .. } => ConstraintKind::Size,
            Constraint::Place { .. } => ConstraintKind::Place,
        }
    }
}

/// A constraint found in the query: what it is, the text that named it and its byte span.
#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
pub struct ConstraintHit {
    #[serde(flatten)]
    pub constraint: Constraint,
    pub matched: String,
    pub span: [usize; 2],
}

/// A range of employees, inclusive; `None` is unbounded on that side.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct SizeRange {
    pub min: Option<u32>,
    pub max: Option<u32>,
}

impl SizeRange {
    /// A range; a lower bound of 0 is no bound.
    pub fn new(min: Option<u32>, max: Option<u32>) -> SizeRange {
        SizeRange { min: min.filter(|&m| m > 0), max }
    }

    /// The one rule: a headcount band meets the size iff the band lies entirely inside
    /// `[min, max]` (bounds from [`HeadcountBand::bounds`]): the band 50–99 meets "plus de 50
    /// salariés" (read as 50 or more) and "moins de 100" (99 or fewer), not "plus de 60" nor
    /// "moins de 80", where part of the band would be outside.
    pub fn allows(self, band: HeadcountBand) -> bool {
        let (low, high) = band.bounds();
        low >= self.min.unwrap_or(0) && high <= self.max.unwrap_or(u32::MAX)
    }

    /// "au moins 50 salariés", "au plus 249 salariés", "de 20 à 99 salariés".
    pub fn label(self) -> String {
        match (self.min, self.max) {
            (Some(min), None) => format!("au moins {min} salariés"),
            (None, Some(max)) => format!("au plus {max} salariés"),
            (Some(min), Some(max)) if min == max => format!("{min} salariés"),
            (Some(min), Some(max)) => format!("de {min} à {max} salariés"),
            (None, None) => "toutes tailles".to_owned(),
        }
    }
}

/// Whether a headcount band meets `[min, max]`: [`SizeRange::allows`].
pub fn size_allows(min: Option<u32>, max: Option<u32>, band: HeadcountBand) -> bool {
    SizeRange { min, max }.allows(band)
}

/// A glossary match over content positions `[start, end)`.
pub(super) struct ConceptMatch {
    pub start: usize,
    pub end: usize,
    pub concepts: Vec<usize>,
}

/// What the interpretation read, for building the constraints.
pub(super) struct Readings<'a> {
    pub query: &'a str,
    pub tokens: &'a [Token],
    pub content: &'a [usize],
    pub stems: &'a [&'a str],
    pub sizes: &'a [SizeHit],
    pub locations: &'a [LocationHit],
    /// Concept matches over the stretches between places and sizes.
    pub concept_matches: &'a [ConceptMatch],
    /// Whether a token is outside places and sizes.
    pub free: &'a dyn Fn(usize) -> bool,
}

impl Interpreter {
    /// Every constraint of the query, in text order.
    pub(super) fn constraints(&self, readings: &Readings<'_>) -> Vec<ConstraintHit> {
        let Readings { query, tokens, .. } = *readings;
        let span_of = |first: usize, last: usize| [tokens[first].start, tokens[last].end];
        let hit = |constraint: Constraint, span: [usize; 2]| ConstraintHit {
            constraint,
            matched: query[span[0]..span[1]].to_owned(),
            span,
        };
        let mut out: Vec<ConstraintHit> = Vec::new();
        let mut claimed = vec![false; tokens.len()];

        let certifications = &self.vocabularies.certifications;
        let certification_hits = certifications.find(tokens, readings.free);
        claim(&mut claimed, &certification_hits);
        let materials = &self.vocabularies.materials;
        let material_hits = materials.find(tokens, |idx| (readings.free)(idx) && !claimed[idx]);
        let material_hits = self.materials_outside_processes(readings, material_hits, &claimed);
        claim(&mut claimed, &material_hits);
        for (vocabulary, hits, is_material) in
            [(certifications, &certification_hits, false), (materials, &material_hits, true)]
        {
            for found in vocabulary.most_specific(tokens, hits) {
                let entry = vocabulary.entry(found.entry);
                let (id, label) = (entry.id.clone(), entry.label.clone());
                let constraint = if is_material {
                    Constraint::Material { id, label }
                } else {
                    Constraint::Certification { id, label }
                };
                out.push(hit(constraint, span_of(found.first_token, found.last_token)));
            }
        }

        for (id, first, last) in self.process_constraints(readings, &claimed) {
            let concept = self.glossary.concept(id);
            let constraint = Constraint::Process { id: concept.id.clone(), label: concept.label.clone() };
            out.push(hit(constraint, span_of(first, last)));
        }
        for size in readings.sizes {
            let constraint = Constraint::Size { min: size.range.min, max: size.range.max, label: size.label.clone() };
            out.push(hit(constraint, span_of(size.first_token, size.last_token)));
        }
        for location in readings.locations {
            let place = &location.place;
            let constraint = Constraint::Place {
                place_kind: place.kind,
                code: place.code.clone(),
                name: place.name.clone(),
                radius_km: location.radius_km,
            };
            out.push(hit(constraint, location.span));
        }
        out.sort_by_key(|c| (c.span[0], c.constraint.kind()));
        out
    }

    /// The material hits that are the buyer's material, not words of a process's name. A material
    /// inside a concept's phrase belongs to the process ("plastics processing", "moulage
    /// caoutchouc": one process each, like "plasturgie"), except:
    /// - when the phrase's other words still name a process by themselves and the query names no
    ///   other material ("soudage inox": welding, of stainless steel); with another material
    ///   outside the phrase, that one is the buyer's ("chaudronnier inox titane": stainless
    ///   boilermaking, in titanium);
    /// - when its other words name no process and another process is named outside the phrase:
    ///   the phrase then only says what the parts are made of ("coulée centrifuge de pièces en
    ///   bronze");
    /// - when the phrase is nothing but the material's name ("caoutchouc", "cast steel"): it is
    ///   the material, unless another material is named apart and no other process is
    ///   ("technical rubber copper").
    fn materials_outside_processes(
        &self,
        readings: &Readings<'_>,
        hits: Vec<VocabularyHit>,
        claimed: &[bool],
    ) -> Vec<VocabularyHit> {
        let Readings { content, stems, tokens, .. } = *readings;
        let matches = readings.concept_matches;
        let bounds = |m: &ConceptMatch| (content[m.start], content[m.end - 1]);
        // Every content word of the hit inside the phrase.
        let inside = |hit: &VocabularyHit, m: &ConceptMatch| {
            let (first, last) = bounds(m);
            (hit.first_token..=hit.last_token)
                .filter(|&i| !tokens[i].is_stopword())
                .all(|i| (first..=last).contains(&i))
        };
        let overlaps = |hit: &VocabularyHit, m: &ConceptMatch| {
            let (first, last) = bounds(m);
            hit.first_token <= last && hit.last_token >= first
        };
        let mut absorbed = vec![false; hits.len()];
        for m in matches {
            let inner: Vec<usize> = (0..hits.len()).filter(|&h| inside(&hits[h], m)).collect();
            if inner.is_empty() {
                continue;
            }
            let other_material = hits.iter().any(|hit| !overlaps(hit, m));
            let other_process = matches.iter().any(|other| other.end <= m.start || other.start >= m.end);
            let in_material =
                |pos: usize| inner.iter().any(|&h| (hits[h].first_token..=hits[h].last_token).contains(&content[pos]));
            let remaining: Vec<usize> =
                (m.start..m.end).filter(|&pos| !claimed[content[pos]] && !in_material(pos)).collect();
            let names_a_process = contiguous_runs(&remaining)
                .into_iter()
                .any(|(start, end)| !self.glossary.dict().find_all(&stems[start..end]).is_empty());
            let belongs_to_process = if remaining.is_empty() {
                // The phrase is a material's name: a process only when the buyer's material is
                // named apart, no other process is, and the words are the concept's own, not a
                // stem it shares ("cuivre" is no "cuivrage").
                other_material
                    && !other_process
                    && m.concepts.iter().any(|&c| self.is_written_name(tokens, content, m, c))
            } else if names_a_process {
                other_material
            } else {
                !other_process
            };
            if belongs_to_process {
                inner.iter().for_each(|&h| absorbed[h] = true);
            }
        }
        hits.into_iter().zip(absorbed).filter(|&(_, absorbed)| !absorbed).map(|(hit, _)| hit).collect()
    }

    /// Whether the words of `m` are one of `concept`'s names as written, up to inflections.
    fn is_written_name(&self, tokens: &[Token], content: &[usize], m: &ConceptMatch, concept: usize) -> bool {
        let written: Vec<&str> = (m.start..m.end).map(|pos| tokens[content[pos]].folded.as_str()).collect();
        let concept = self.glossary.concept(concept);
        let analyzer = Analyzer::new(Language::French);
        std::iter::once(&concept.label)
            .chain(concept.label_en.iter())
            .chain(concept.synonyms.iter())
            .chain(concept.synonyms_en.iter())
            .any(|name| {
                let words: Vec<Token> = analyzer.analyze(name).into_iter().filter(|t| !t.is_stopword()).collect();
                words.len() == written.len() && words.iter().zip(&written).all(|(w, x)| same_word(x, &w.folded))
            })
    }

    /// The process constraints as `(concept, first token, last token)`, most specific only.
    fn process_constraints(&self, readings: &Readings<'_>, claimed: &[bool]) -> Vec<(usize, usize, usize)> {
        let Readings { content, stems, .. } = *readings;
        let mut found: Vec<(usize, usize, usize)> = Vec::new();
        for m in readings.concept_matches {
            let remaining: Vec<usize> = (m.start..m.end).filter(|&pos| !claimed[content[pos]]).collect();
            if remaining.is_empty() {
                continue;
            }
            if remaining.len() == m.end - m.start {
                found.extend(m.concepts.iter().map(|&c| (c, content[m.start], content[m.end - 1])));
                continue;
            }
            // Contiguous runs of the words left to the process, and what they name alone.
            let runs = contiguous_runs(&remaining);
            let rematched: Vec<(usize, usize, usize)> = runs
                .iter()
                .flat_map(|&(start, end)| {
                    self.glossary.dict().find_all(&stems[start..end]).into_iter().flat_map(move |sub| {
                        sub.payloads.iter().map(move |&c| (c as usize, start + sub.start, start + sub.end))
                    })
                })
                .collect();
            let longest_run = runs.iter().copied().max_by_key(|&(start, end)| (end - start, std::cmp::Reverse(start)));
            for &concept in &m.concepts {
                let lineage: Vec<usize> = self.concept_lineage(concept);
                let general = rematched
                    .iter()
                    .filter(|(c, _, _)| lineage.contains(c))
                    .max_by_key(|(c, _, _)| self.glossary.path(*c).len());
                match (general, longest_run) {
                    (Some(&(c, start, end)), _) => found.push((c, content[start], content[end - 1])),
                    (None, Some((start, end))) => found.push((concept, content[start], content[end - 1])),
                    (None, None) => {}
                }
            }
        }
        // The most specific concept wins over its ancestors; each concept once.
        let mut kept: Vec<(usize, usize, usize)> = Vec::new();
        for &(concept, first, last) in &found {
            let superseded =
                found.iter().any(|&(other, _, _)| other != concept && self.concept_lineage(other).contains(&concept));
            if !superseded && !kept.iter().any(|k| k.0 == concept) {
                kept.push((concept, first, last));
            }
        }
        kept
    }

    /// A concept and its ancestors.
    fn concept_lineage(&self, concept: usize) -> Vec<usize> {
        let glossary = &self.glossary;
        glossary.path(concept).iter().filter_map(|c| glossary.index_of(&c.id)).collect()
    }
}

/// Marks the tokens of the hits (a leading stopword included) as taken.
fn claim(claimed: &mut [bool], hits: &[VocabularyHit]) {
    for found in hits {
        claimed[found.first_token..=found.last_token].iter_mut().for_each(|c| *c = true);
    }
}

/// Sorted positions as runs of consecutive ones, `[start, end)`.
fn contiguous_runs(positions: &[usize]) -> Vec<(usize, usize)> {
    let mut runs: Vec<(usize, usize)> = Vec::new();
    for &pos in positions {
        match runs.last_mut() {
            Some((_, end)) if *end == pos => *end = pos + 1,
            _ => runs.push((pos, pos + 1)),
        }
    }
    runs
}
