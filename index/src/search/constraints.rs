//! A buyer's constraints at query time: what the interpretation found (process, material,
//! certification, size, place), how the request uses each kind (`require`: a filter; `prefer`:
//! ranked first; `ignore`), the documents that meet them (from the segments' facets and
//! coordinates) and, per hit, which were met and by what.
//!
//! Constraints of one kind are alternatives ("inox ou titane", "près de Lyon ou de Grenoble"): a
//! kind is met when any of them is. A result meeting every preferred kind ranks above one meeting
//! fewer; the fusion score orders results within a tier ([`tier_order`]).

use serde::{Deserialize, Serialize};

use super::filter::{Allowed, OrdSet, coordinates, haversine_km};
use crate::IndexError;
use crate::dict::gazetteer::PlaceKind;
use crate::dict::glossary::Glossary;
use crate::engine::{LiveSegment, Snapshot};
use crate::interpret::{Constraint, ConstraintKind, Interpretation, size_allows};
use crate::record::HeadcountBand;
use crate::segment::facets::{Facets, key};

/// How a request uses one kind of constraint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ConstraintUse {
    /// Only results that meet it are returned.
    Require,
    /// Results that meet it rank first; the best partial matches follow when fewer than asked
    /// for meet every preferred constraint, marked as such.
    #[default]
    Prefer,
    /// Recognised and reported, without effect on the results.
    Ignore,
}

/// The `constraints` of a request: how each kind found in the query is used (absent: `prefer`;
/// the place's default follows `location`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConstraintUses {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub process: Option<ConstraintUse>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub material: Option<ConstraintUse>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub certification: Option<ConstraintUse>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<ConstraintUse>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub place: Option<ConstraintUse>,
}

impl ConstraintUses {
    pub fn get(&self, kind: ConstraintKind) -> Option<ConstraintUse> {
        match kind {
            ConstraintKind::Process => self.process,
            ConstraintKind::Material => self.material,
            ConstraintKind::Certification => self.certification,
            ConstraintKind::Size => self.size,
            ConstraintKind::Place => self.place,
        }
    }
}

/// What a document must hold to meet one alternative.
#[derive(Debug, Clone)]
enum Test {
    /// Any of these facet values.
    AnyValue(Vec<String>),
    /// Coordinates within `km` of a point.
    Within { lat: f64, lon: f64, km: f64 },
}

/// One constraint of the query.
#[derive(Debug, Clone)]
pub struct Alternative {
    /// What the buyer asked for, as shown ("titane", "plus de 50 salariés", "≤ 50 km de Lyon").
    pub label: String,
    /// The words of the query it was read from.
    pub matched: String,
    test: Test,
}

/// The constraints of one kind: met when any alternative is.
#[derive(Debug, Clone)]
pub struct Group {
    pub kind: ConstraintKind,
    pub used: ConstraintUse,
    pub alternatives: Vec<Alternative>,
}

/// Whether a hit meets one constraint kind, and by what.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ConstraintCheck {
    pub kind: ConstraintKind,
    /// The constraint(s) asked for, as shown.
    pub wanted: String,
    pub met: bool,
    /// What in the record meets it: the value held ("material:titane.ta6v"), or the distance.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub by: Option<String>,
    #[serde(rename = "use")]
    pub used: ConstraintUse,
}

/// The constraint groups of a query, in kind order.
#[derive(Debug, Clone, Default)]
pub struct ConstraintPlan {
    pub groups: Vec<Group>,
    /// Whether the query's need is fully named by its constraints (see [`Self::tiers`]).
    need_is_named: bool,
}

/// Words that name no need of their own: who is sought, not what ("fournisseur titane").
pub const GENERIC_WORDS: &[&str] = &[
    "atelier",
    "company",
    "companies",
    "entreprise",
    "entreprises",
    "fabricant",
    "fabricants",
    "firm",
    "fournisseur",
    "fournisseurs",
    "manufacturer",
    "manufacturers",
    "partenaire",
    "prestataire",
    "prestataires",
    "shop",
    "societe",
    "societes",
    "sous",
    "soustraitant",
    "subcontractor",
    "subcontractors",
    "supplier",
    "suppliers",
    "traitance",
    "traitant",
    "traitants",
    "vendor",
];

impl ConstraintPlan {
    /// Groups the interpretation's constraints by kind with the request's uses. `near_km` is the
    /// radius of "près de X" without a distance; `place_default` the place's use when the
    /// request does not say (from its `location`).
    pub fn new(
        interpretation: &Interpretation,
        uses: &ConstraintUses,
        place_default: ConstraintUse,
        glossary: &Glossary,
        near_km: f64,
    ) -> ConstraintPlan {
        let mut groups: Vec<Group> = Vec::new();
        let mut add = |kind: ConstraintKind, alternative: Alternative| {
            let default = if kind == ConstraintKind::Place { place_default } else { ConstraintUse::Prefer };
            let used = uses.get(kind).unwrap_or(default);
            match groups.iter_mut().find(|g| g.kind == kind) {
                Some(group) => group.alternatives.push(alternative),
                None => groups.push(Group { kind, used, alternatives: vec![alternative] }),
            }
        };
        for hit in &interpretation.constraints {
            let matched = hit.matched.clone();
            let alternative = match &hit.constraint {
                Constraint::Process { id, label } => {
                    let Some(idx) = glossary.index_of(id) else { continue };
                    let mut values = vec![key::concept(id)];
                    values.extend(glossary.descendants(idx).into_iter().map(|d| key::concept(&glossary.concept(d).id)));
                    Alternative { label: label.clone(), matched, test: Test::AnyValue(values) }
                }
                Constraint::Material { id, label } => {
                    Alternative { label: label.clone(), matched, test: Test::AnyValue(vec![key::material(id)]) }
                }
                Constraint::Certification { id, label } => {
                    Alternative { label: label.clone(), matched, test: Test::AnyValue(vec![key::certification(id)]) }
                }
                Constraint::Size { min, max, label } => {
                    let bands: Vec<String> = HeadcountBand::ALL
                        .into_iter()
                        .filter(|band| size_allows(*min, *max, *band))
                        .map(|band| key::size(band.as_str()))
                        .collect();
                    Alternative { label: label.clone(), matched, test: Test::AnyValue(bands) }
                }
                // Places come from the locations below, which carry their coordinates.
                Constraint::Place { .. } => continue,
            };
            add(hit.constraint.kind(), alternative);
        }
        for location in &interpretation.locations {
            let place = &location.place;
            let matched = location.matched.clone();
            let alternative = match place.kind {
                PlaceKind::Departement => Alternative {
                    label: format!("{} ({})", place.name, place.code),
                    matched,
                    test: Test::AnyValue(vec![key::departement(&place.code)]),
                },
                PlaceKind::Region => Alternative {
                    label: place.name.clone(),
                    matched,
                    test: Test::AnyValue(vec![key::region(&place.name)]),
                },
                PlaceKind::Commune => {
                    let (Some(lat), Some(lon)) = (place.lat, place.lon) else { continue };
                    let km = location.radius_km.map_or(near_km, f64::from);
                    Alternative {
                        label: format!("≤ {km} km de {}", place.name),
                        matched,
                        test: Test::Within { lat, lon, km },
                    }
                }
            };
            add(ConstraintKind::Place, alternative);
        }
        groups.sort_by_key(|g| g.kind);
        // The need is named when a process is, or when every other word of the query belongs
        // to a constraint ("titane près de Lyon") or only says who is sought ("fournisseur").
        let covered = |token: &crate::analysis::Token| {
            interpretation
                .constraints
                .iter()
                .map(|c| c.span)
                .chain(interpretation.locations.iter().map(|l| l.span))
                .any(|[start, end]| token.start >= start && token.end <= end)
        };
        let need_is_named = groups.iter().any(|g| g.kind == ConstraintKind::Process)
            || interpretation
                .tokens
                .iter()
                .filter(|t| !t.is_stopword())
                .all(|t| covered(t) || GENERIC_WORDS.contains(&t.folded.as_str()));
        ConstraintPlan { groups, need_is_named }
    }

    /// Groups in force (not ignored).
    pub fn active(&self) -> impl Iterator<Item = &Group> {
        self.groups.iter().filter(|g| g.used != ConstraintUse::Ignore)
    }

    pub fn has_required(&self) -> bool {
        self.groups.iter().any(|g| g.used == ConstraintUse::Require)
    }

    /// Whether results are ranked by the constraints they meet first: when a preferred
    /// constraint other than the process qualifies a need the query names — a process of the
    /// glossary, or nothing but constraints. A material in "chaussures en plastique", where the
    /// need (footwear) is no process the glossary knows, may describe the product rather than
    /// the work: there it only counts as words, and the fusion ranks. A process by itself is
    /// the concept component's job.
    pub fn tiers(&self) -> bool {
        self.need_is_named
            && self.groups.iter().any(|g| g.used == ConstraintUse::Prefer && g.kind != ConstraintKind::Process)
    }

    /// How many preferred kinds document `ord` of `live` meets. The process is the need and the
    /// other constraints qualify it: a company that does not do the process named gains nothing
    /// from meeting the others (a titanium foundry is no answer to "usinage titane").
    pub fn tier(&self, live: &LiveSegment, facets: &Facets, ord: u32) -> u32 {
        let mut met = 0;
        for group in self.groups.iter().filter(|g| g.used == ConstraintUse::Prefer) {
            if group.meets(live, facets, ord).is_some() {
                met += 1;
            } else if group.kind == ConstraintKind::Process {
                return 0;
            }
        }
        met
    }

    /// How many of `pool` meet every preferred constraint.
    pub fn full_matches_in(&self, snapshot: &Snapshot, pool: &[super::DocRef]) -> Result<usize, IndexError> {
        let preferred = self.groups.iter().filter(|g| g.used == ConstraintUse::Prefer).count() as u32;
        let mut count = 0;
        for doc in pool {
            let live = &snapshot.segments[doc.segment];
            if self.tier(live, live.segment.facets()?, doc.ord) == preferred {
                count += 1;
            }
        }
        Ok(count)
    }

    /// Each active kind, met or missed by document `ord` of `live`.
    pub fn check(&self, live: &LiveSegment, facets: &Facets, ord: u32) -> Vec<ConstraintCheck> {
        self.active()
            .map(|group| {
                let by = group.meets(live, facets, ord);
                ConstraintCheck {
                    kind: group.kind,
                    wanted: group.alternatives.iter().map(|a| a.label.as_str()).collect::<Vec<_>>().join(" | "),
                    met: by.is_some(),
                    by,
                    used: group.used,
                }
            })
            .collect()
    }

    /// Restricts `allowed` to the documents meeting every group of `uses` (each segment's set
    /// intersected with the groups' unions).
    pub fn restrict(
        &self,
        snapshot: &Snapshot,
        allowed: &Allowed,
        which: impl Fn(ConstraintUse) -> bool,
    ) -> Result<Allowed, IndexError> {
        let groups: Vec<&Group> = self.groups.iter().filter(|g| which(g.used)).collect();
        let mut sets = Vec::with_capacity(snapshot.segments.len());
        let mut count = 0u64;
        for (seg, live) in snapshot.segments.iter().enumerate() {
            let facets = live.segment.facets()?;
            let n_docs = live.segment.doc_count();
            let (lat, lon) = (live.prior_column("lat").unwrap_or(&[]), live.prior_column("lon").unwrap_or(&[]));
            // Each group as the value ids it accepts in this segment, or circles.
            let tests: Vec<SegmentTest> = groups
                .iter()
                .map(|group| {
                    let mut ids = Vec::new();
                    let mut circles = Vec::new();
                    for alternative in &group.alternatives {
                        match &alternative.test {
                            Test::AnyValue(values) => ids.extend(values.iter().filter_map(|v| facets.value_id(v))),
                            Test::Within { lat, lon, km } => circles.push((*lat, *lon, *km)),
                        }
                    }
                    (ids, circles)
                })
                .collect();
            let within = |ord: u32, circles: &[(f64, f64, f64)]| {
                let (Some(&dlat), Some(&dlon)) = (lat.get(ord as usize), lon.get(ord as usize)) else { return false };
                let (dlat, dlon) = (f64::from(dlat), f64::from(dlon));
                dlat.is_finite()
                    && dlon.is_finite()
                    && circles.iter().any(|&(clat, clon, km)| distance_within((clat, clon), (dlat, dlon), km).is_some())
            };
            let meets = |ord: u32, (ids, circles): &SegmentTest| {
                ids.iter().any(|&id| facets.has_id(ord, id)) || within(ord, circles)
            };
            // The smallest list-based group drives: its documents are each checked against the
            // other groups (a few binary searches and a distance), never a whole-segment pass
            // unless only distances constrain.
            let driver = tests
                .iter()
                .enumerate()
                .filter(|(_, (_, circles))| circles.is_empty())
                .min_by_key(|(_, (ids, _))| ids.iter().map(|&id| facets.docs_with_id(id).len()).sum::<usize>())
                .map(|(idx, _)| idx);
            let mut kept = OrdSet::new(n_docs);
            let mut keep = |ord: u32| {
                if allowed.allows(snapshot, seg, ord)
                    && tests.iter().enumerate().all(|(idx, test)| Some(idx) == driver || meets(ord, test))
                {
                    kept.insert(ord);
                }
            };
            match driver {
                Some(idx) => {
                    for &id in &tests[idx].0 {
                        facets.docs_with_id(id).iter().for_each(|&ord| keep(ord));
                    }
                }
                None => (0..n_docs).for_each(&mut keep),
            }
            count += u64::from(kept.count());
            sets.push(Some(kept));
        }
        Ok(Allowed { sets, count })
    }
}

impl Group {
    /// What in document `ord` meets the group, if anything does.
    fn meets(&self, live: &LiveSegment, facets: &Facets, ord: u32) -> Option<String> {
        self.alternatives.iter().find_map(|alternative| match &alternative.test {
            Test::AnyValue(values) => facets.first_held(ord, values).map(str::to_owned),
            Test::Within { lat, lon, km } => {
                let distance = distance_within((*lat, *lon), coordinates(live, ord)?, *km)?;
                Some(format!("{distance:.0} km"))
            }
        })
    }
}

/// A group as one segment tests it: the value ids it accepts, and circles (lat, lon, km).
type SegmentTest = (Vec<u32>, Vec<(f64, f64, f64)>);

/// The distance from `centre` to `point` when within `km` (a latitude band around the circle
/// first: most documents are far away and skip the trigonometry).
fn distance_within(centre: (f64, f64), point: (f64, f64), km: f64) -> Option<f64> {
    if (point.0 - centre.0).abs() > km / 111.0 {
        return None;
    }
    let distance = haversine_km(centre.0, centre.1, point.0, point.1);
    (distance <= km).then_some(distance)
}

/// Orders results by the preferred constraints they meet (more first), then by score.
pub fn tier_order(a: (u32, f32), b: (u32, f32)) -> std::cmp::Ordering {
    b.0.cmp(&a.0).then_with(|| b.1.total_cmp(&a.1))
}
