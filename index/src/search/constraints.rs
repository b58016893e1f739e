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
use super::top::DocRef;
use crate::IndexError;
use crate::dict::gazetteer::PlaceKind;
use crate::dict::glossary::Glossary;
use crate::engine::{LiveSegment, Snapshot};
use crate::interpret::{Constraint, ConstraintKind, Interpretation, size_allows};
use crate::record::HeadcountBand;
use crate::segment::facets::{Facets, key};

/// How a request uses one kind of constraint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, schemars::JsonSchema)]
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
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
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
    /// Coordinates within a circle.
    Within(Circle),
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
#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
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
    /// Per segment of the snapshot, each group's alternatives as the segment tests them.
    segments: Vec<Vec<SegmentGroup>>,
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
    /// Groups the interpretation's constraints by kind with the request's uses, resolved
    /// against the facets of every segment of `snapshot`. `near_km` is the radius of "près de X"
    /// without a distance; `place_default` the place's use when the request does not say (from
    /// its `location`).
    pub fn new(
        snapshot: &Snapshot,
        interpretation: &Interpretation,
        uses: &ConstraintUses,
        place_default: ConstraintUse,
        glossary: &Glossary,
        near_km: f64,
    ) -> Result<ConstraintPlan, IndexError> {
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
                        test: Test::Within(Circle::new(lat, lon, km)),
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
        // Facet values become the segment's value ids once per query: the per-document tests
        // below are binary searches in small sorted lists, never string lookups.
        let mut segments = Vec::with_capacity(snapshot.segments.len());
        for live in &snapshot.segments {
            let facets = live.segment.facets()?;
            segments.push(groups.iter().map(|group| SegmentGroup::resolve(group, facets)).collect());
        }
        Ok(ConstraintPlan { groups, need_is_named, segments })
    }

    /// Groups in force (not ignored).
    pub fn active(&self) -> impl Iterator<Item = &Group> {
        self.groups.iter().filter(|g| g.used != ConstraintUse::Ignore)
    }

    /// Whether a constraint of `kind` is preferred.
    pub fn prefers(&self, kind: ConstraintKind) -> bool {
        self.groups.iter().any(|g| g.kind == kind && g.used == ConstraintUse::Prefer)
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

    /// How many preferred kinds document `doc` meets. The process is the need and the other
    /// constraints qualify it: a company that does not do the process named gains nothing from
    /// meeting the others (a titanium foundry is no answer to "usinage titane").
    pub fn tier(&self, snapshot: &Snapshot, doc: DocRef) -> Result<u32, IndexError> {
        let live = &snapshot.segments[doc.segment];
        let facets = live.segment.facets()?;
        let mut met = 0;
        for (group, tests) in self.groups.iter().zip(&self.segments[doc.segment]) {
            if group.used != ConstraintUse::Prefer {
                continue;
            }
            if tests.meets(live, facets, doc.ord).is_some() {
                met += 1;
            } else if group.kind == ConstraintKind::Process {
                return Ok(0);
            }
        }
        Ok(met)
    }

    /// How many of `pool` meet every preferred constraint.
    pub fn full_matches_in(&self, snapshot: &Snapshot, pool: &[DocRef]) -> Result<usize, IndexError> {
        let mut count = 0;
        for &doc in pool {
            if self.is_full_match(snapshot, doc)? {
                count += 1;
            }
        }
        Ok(count)
    }

    /// Whether document `doc` meets every preferred constraint.
    pub fn is_full_match(&self, snapshot: &Snapshot, doc: DocRef) -> Result<bool, IndexError> {
        let preferred = self.groups.iter().filter(|g| g.used == ConstraintUse::Prefer).count() as u32;
        Ok(self.tier(snapshot, doc)? == preferred)
    }

    /// Each active kind, met or missed by document `doc`, and by what.
    pub fn check(&self, snapshot: &Snapshot, doc: DocRef) -> Result<Vec<ConstraintCheck>, IndexError> {
        let live = &snapshot.segments[doc.segment];
        let facets = live.segment.facets()?;
        Ok(self
            .groups
            .iter()
            .zip(&self.segments[doc.segment])
            .filter(|(group, _)| group.used != ConstraintUse::Ignore)
            .map(|(group, tests)| {
                let by = tests.meets(live, facets, doc.ord).map(|met| match met {
                    Met::Value(id) => facets.value(id).unwrap_or_default().to_owned(),
                    Met::Within(km) => format!("{km:.0} km"),
                });
                ConstraintCheck {
                    kind: group.kind,
                    wanted: group.alternatives.iter().map(|a| a.label.as_str()).collect::<Vec<_>>().join(" | "),
                    met: by.is_some(),
                    by,
                    used: group.used,
                }
            })
            .collect())
    }

    /// Restricts `allowed` to the documents meeting every group of `uses`. Per segment, each
    /// group is the union of its values' document lists (a bit set) and its circles' documents
    /// (from the grid cells their boxes cover), intersected in turn, groups with circles last:
    /// the cost follows the lists' lengths and the documents near the places, never the
    /// product of documents and values.
    pub fn restrict(
        &self,
        snapshot: &Snapshot,
        allowed: &Allowed,
        which: impl Fn(ConstraintUse) -> bool,
    ) -> Result<Allowed, IndexError> {
        let mut sets = Vec::with_capacity(snapshot.segments.len());
        let mut count = 0u64;
        for (seg, live) in snapshot.segments.iter().enumerate() {
            let facets = live.segment.facets()?;
            let n_docs = live.segment.doc_count();
            let mut tests: Vec<&SegmentGroup> = self
                .groups
                .iter()
                .zip(&self.segments[seg])
                .filter(|(group, _)| which(group.used))
                .map(|(_, tests)| tests)
                .collect();
            tests.sort_by_key(|t| (!t.circles().is_empty(), t.listed(facets)));
            let mut kept: Option<OrdSet> = None;
            for test in tests {
                let started = std::time::Instant::now();
                // The documents holding its values: their lists read into a bit set (sequential
                // reads; a test per document would read each one's values at random).
                let mut met = test.listed_set(facets, n_docs);
                if let Some(kept) = &kept {
                    met.intersect_with(kept);
                }
                // Circles read the cells their bounding box covers, the documents left only.
                let circles = test.circles();
                for circle in &circles {
                    let (lat_range, lon_range) = circle.bounds();
                    live.segment.geo_grid().for_each_near(lat_range, lon_range, |ord, point| {
                        if kept.as_ref().is_none_or(|kept| kept.contains(ord)) && circle.distance(point).is_some() {
                            met.insert(ord);
                        }
                    });
                }
                tracing::trace!(
                    segment = seg,
                    listed = test.listed(facets),
                    circles = circles.len(),
                    kept = met.count(),
                    us = started.elapsed().as_micros() as u64,
                    "constraint group applied"
                );
                kept = Some(met);
            }
            let kept = match (kept, &allowed.sets[seg]) {
                (Some(mut set), Some(allowed)) => {
                    set.intersect_with(allowed);
                    set
                }
                (Some(set), None) => {
                    let mut live_set = OrdSet::new(n_docs);
                    set.iter().filter(|&ord| live.is_live(ord)).for_each(|ord| live_set.insert(ord));
                    live_set
                }
                (None, _) => {
                    let mut all = OrdSet::new(n_docs);
                    (0..n_docs).filter(|&ord| allowed.allows(snapshot, seg, ord)).for_each(|ord| all.insert(ord));
                    all
                }
            };
            count += u64::from(kept.count());
            sets.push(Some(kept));
        }
        Ok(Allowed { sets, count })
    }
}

/// One alternative of a group as a segment tests it.
#[derive(Debug, Clone)]
enum SegmentAlternative {
    /// The ids of the facet values it accepts in this segment (none when no document holds
    /// them).
    Values(Vec<u32>),
    Within(Circle),
}

/// A group as a segment tests it: its alternatives, in the query's order.
#[derive(Debug, Clone)]
struct SegmentGroup {
    alternatives: Vec<SegmentAlternative>,
}

/// What meets a group: a facet value (its id) or a distance (km).
#[derive(Debug, Clone, Copy)]
enum Met {
    Value(u32),
    Within(f64),
}

impl SegmentGroup {
    fn resolve(group: &Group, facets: &Facets) -> SegmentGroup {
        let alternatives = group
            .alternatives
            .iter()
            .map(|alternative| match &alternative.test {
                Test::AnyValue(values) => {
                    SegmentAlternative::Values(values.iter().filter_map(|v| facets.value_id(v)).collect())
                }
                Test::Within(circle) => SegmentAlternative::Within(*circle),
            })
            .collect();
        SegmentGroup { alternatives }
    }

    /// What in document `ord` meets the group first, if anything does.
    fn meets(&self, live: &LiveSegment, facets: &Facets, ord: u32) -> Option<Met> {
        self.alternatives.iter().find_map(|alternative| match alternative {
            SegmentAlternative::Values(ids) => ids.iter().find(|&&id| facets.has_id(ord, id)).map(|&id| Met::Value(id)),
            SegmentAlternative::Within(circle) => circle.distance(coordinates(live, ord)?).map(Met::Within),
        })
    }

    fn value_ids(&self) -> impl Iterator<Item = u32> + '_ {
        self.alternatives
            .iter()
            .flat_map(|alternative| match alternative {
                SegmentAlternative::Values(ids) => ids.as_slice(),
                SegmentAlternative::Within(_) => &[],
            })
            .copied()
    }

    fn circles(&self) -> Vec<Circle> {
        self.alternatives
            .iter()
            .filter_map(|alternative| match alternative {
                SegmentAlternative::Within(circle) => Some(*circle),
                SegmentAlternative::Values(_) => None,
            })
            .collect()
    }

    /// The length of the document lists of its values (an upper bound of the documents meeting
    /// it by value).
    fn listed(&self, facets: &Facets) -> usize {
        self.value_ids().map(|id| facets.docs_with_id(id).len()).sum()
    }

    /// The documents holding any of its values.
    fn listed_set(&self, facets: &Facets, n_docs: u32) -> OrdSet {
        OrdSet::from_lists(n_docs, self.value_ids().map(|id| facets.docs_with_id(id)))
    }
}

/// A circle around a point, with the box that bounds it: most documents fall outside the box
/// and skip the trigonometry.
#[derive(Debug, Clone, Copy)]
pub(super) struct Circle {
    lat: f64,
    lon: f64,
    km: f64,
    /// Half-height and half-width of the bounding box, in degrees (the width at the latitude
    /// nearest a pole the circle reaches; unbounded there).
    lat_band: f64,
    lon_band: f64,
}

impl Circle {
    pub(super) fn new(lat: f64, lon: f64, km: f64) -> Circle {
        // A degree of latitude is 111.19 km on the sphere `haversine_km` uses: 111 bounds it.
        let lat_band = km / 111.0;
        let cos = (lat.abs() + lat_band).min(90.0).to_radians().cos();
        let lon_band = if cos > 0.01 { lat_band / cos } else { f64::INFINITY };
        Circle { lat, lon, km, lat_band, lon_band }
    }

    /// The latitude and longitude ranges of the bounding box (longitudes beyond ±180 when it
    /// crosses the antimeridian; unbounded near a pole).
    pub(super) fn bounds(&self) -> ((f64, f64), (f64, f64)) {
        ((self.lat - self.lat_band, self.lat + self.lat_band), (self.lon - self.lon_band, self.lon + self.lon_band))
    }

    /// The distance from the centre to `point` (lat, lon) when within the radius.
    pub(super) fn distance(&self, point: (f64, f64)) -> Option<f64> {
        if (point.0 - self.lat).abs() > self.lat_band {
            return None;
        }
        let dlon = (point.1 - self.lon).abs();
        if dlon.min(360.0 - dlon) > self.lon_band {
            return None;
        }
        let distance = haversine_km(self.lat, self.lon, point.0, point.1);
        (distance <= self.km).then_some(distance)
    }
}

/// Orders results by the preferred constraints they meet (more first), then by score.
pub fn tier_order(a: (u32, f32), b: (u32, f32)) -> std::cmp::Ordering {
    b.0.cmp(&a.0).then_with(|| b.1.total_cmp(&a.1))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The box never cuts a point the circle holds: points on the circle's edge in every
    /// direction, at several latitudes and radii (and across the antimeridian), are within.
    #[test]
    fn the_bounding_box_keeps_every_point_of_the_circle() {
        for lat in [-70.0, -45.0, 0.0, 43.3, 45.76, 51.0, 80.0] {
            for lon in [-179.9, 0.0, 4.84, 179.9] {
                for km in [1.0, 30.0, 50.0, 300.0, 1500.0] {
                    let circle = Circle::new(lat, lon, km);
                    for step in 0..72 {
                        let bearing = f64::from(step) * 5.0_f64.to_radians();
                        let point = destination(lat, lon, bearing, km * 0.999);
                        assert!(
                            circle.distance(point).is_some(),
                            "{point:?} is {} km from ({lat}, {lon}), radius {km}",
                            haversine_km(lat, lon, point.0, point.1)
                        );
                    }
                    let outside = destination(lat, lon, 1.0, km * 1.01);
                    assert!(circle.distance(outside).is_none());
                }
            }
        }
    }

    /// The point `km` from (lat, lon) along `bearing` (radians) on the sphere of `haversine_km`.
    fn destination(lat: f64, lon: f64, bearing: f64, km: f64) -> (f64, f64) {
        let (phi, lambda, delta) = (lat.to_radians(), lon.to_radians(), km / 6371.0088);
        let phi2 = (phi.sin() * delta.cos() + phi.cos() * delta.sin() * bearing.cos()).asin();
        let lambda2 = lambda + (bearing.sin() * delta.sin() * phi.cos()).atan2(delta.cos() - phi.sin() * phi2.sin());
        let lon2 = (lambda2.to_degrees() + 540.0) % 360.0 - 180.0;
        (phi2.to_degrees(), lon2)
    }
}
