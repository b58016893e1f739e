//! The places of a query: the filters they become (by the request's [`LocationUse`](super::request::LocationUse)), the geo
//! component (proximity to the nearest place), and the candidates of a query with nothing else
//! to match on.

use super::constraints::ConstraintUse;
use super::filter::{self, Allowed, haversine_km};
use super::request::{Filters, MatchRequest, Near};
use super::top::{DocRef, Scored, TopN};
use super::{Matcher, fusion};
use crate::dict::gazetteer::PlaceKind;
use crate::engine::{LiveSegment, Snapshot};
use crate::interpret::{Interpretation, LocationHit};

impl Matcher {
    /// The request's filters plus the places of the query used as filters, and the places that
    /// boost instead: by the place constraint's use (the request's `constraints.place`, else
    /// what its [`LocationUse`](super::request::LocationUse) implies). A commune used as a filter keeps the companies within
    /// the distance the query gives ("dans un rayon de 30 km"), else `near_radius_km`.
    pub(super) fn place_filters<'i>(
        &self,
        request: &MatchRequest,
        interpretation: &'i Interpretation,
    ) -> (Filters, Vec<&'i LocationHit>) {
        let mut filters = request.filters.clone();
        let mut geo_targets: Vec<&LocationHit> = Vec::new();
        let used = request.constraints.place.unwrap_or(request.location.constraint_use());
        for location in &interpretation.locations {
            match used {
                ConstraintUse::Ignore => {}
                ConstraintUse::Prefer => geo_targets.push(location),
                ConstraintUse::Require => match location.place.kind {
                    PlaceKind::Departement => filters.departement.push(location.place.code.clone()),
                    PlaceKind::Region => filters.region.push(location.place.name.clone()),
                    PlaceKind::Commune => {
                        if let (Some(lat), Some(lon)) = (location.place.lat, location.place.lon) {
                            let km = location.radius_km.map_or(f64::from(self.config.near_radius_km), f64::from);
                            filters.near = Some(Near { lat, lon, km });
                        }
                    }
                },
            }
        }
        (filters, geo_targets)
    }

    /// Proximity to the nearest place of the query, from 1 (there) halving every
    /// `geo_half_distance_km`; inside a named département or région counts as there.
    pub(super) fn geo_raw(
        &self,
        live: &LiveSegment,
        ord: u32,
        targets: &[&LocationHit],
        member: bool,
    ) -> Option<fusion::GeoRaw> {
        if targets.is_empty() {
            return None;
        }
        let coordinates = filter::coordinates(live, ord);
        let mut best: Option<fusion::GeoRaw> = None;
        for target in targets {
            let (Some(lat), Some(lon)) = (target.place.lat, target.place.lon) else { continue };
            let km = coordinates.map(|(clat, clon)| haversine_km(lat, lon, clat, clon));
            let inside = member && target.place.kind != PlaceKind::Commune;
            let proximity = if inside {
                1.0
            } else {
                km.map_or(0.0, |km| 0.5f64.powf(km / f64::from(self.config.geo_half_distance_km)) as f32)
            };
            if best.as_ref().is_none_or(|b| proximity > b.proximity) {
                best = Some(fusion::GeoRaw { km: km.map(|k| k as f32), proximity, place: target.place.name.clone() });
            }
        }
        best
    }

    /// The `n` allowed documents nearest the query's places (the first `n` in index order
    /// without places): the pool of a query with nothing else to match on.
    pub(super) fn geo_pool(
        &self,
        snapshot: &Snapshot,
        allowed: &Allowed,
        targets: &[&LocationHit],
        n: usize,
    ) -> Vec<DocRef> {
        let mut top = TopN::new(n);
        for (seg, live) in snapshot.segments.iter().enumerate() {
            for ord in 0..live.segment.doc_count() {
                if !allowed.allows(snapshot, seg, ord) {
                    continue;
                }
                let proximity = self.geo_raw(live, ord, targets, false).map_or(0.0, |g| g.proximity);
                top.offer(Scored { doc: DocRef { segment: seg, ord }, score: proximity });
            }
        }
        top.into_sorted().into_iter().map(|s| s.doc).collect()
    }
}
