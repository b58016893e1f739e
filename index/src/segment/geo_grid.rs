//! The documents of a segment by cell of a latitude/longitude grid: what a circle ("près de
//! Lyon", "dans un rayon de 30 km") reads instead of every document's coordinates.
//!
//! Built on first use from the segment's `lat`/`lon` columns (coordinates never change after a
//! segment is written: refreshed priors only replace `opportunity`), in one counting sort: each
//! cell's entries are contiguous, with their coordinates beside the ordinal, so a circle reads
//! the few cells its bounding box covers sequentially. Twelve bytes per document with
//! coordinates.

/// Cells are this many degrees on a side (about 28 × 20 km in France), or more when the
/// documents spread over a larger area than [`MAX_CELLS`] of them cover.
const CELL_DEGREES: f64 = 0.25;
const MAX_CELLS: usize = 1 << 20;

/// One document in a cell.
#[derive(Debug, Clone, Copy)]
struct Entry {
    ord: u32,
    lat: f32,
    lon: f32,
}

/// Documents by grid cell (cells in row-major order: latitude rows, longitude columns).
#[derive(Debug, Default)]
pub struct GeoGrid {
    lat0: f64,
    lon0: f64,
    cell: f64,
    rows: usize,
    cols: usize,
    /// Entries of cell `c` are `entries[offsets[c]..offsets[c + 1]]`.
    offsets: Vec<u32>,
    entries: Vec<Entry>,
}

impl GeoGrid {
    /// The grid of the documents with finite coordinates among `lat`/`lon` (by ordinal).
    pub fn build(lat: &[f32], lon: &[f32]) -> GeoGrid {
        let located = || {
            lat.iter()
                .zip(lon)
                .enumerate()
                .filter(|(_, (la, lo))| la.is_finite() && lo.is_finite())
                .map(|(ord, (&la, &lo))| Entry { ord: ord as u32, lat: la, lon: lo })
        };
        let (mut lat_min, mut lat_max, mut lon_min, mut lon_max) = (f64::MAX, f64::MIN, f64::MAX, f64::MIN);
        for entry in located() {
            lat_min = lat_min.min(f64::from(entry.lat));
            lat_max = lat_max.max(f64::from(entry.lat));
            lon_min = lon_min.min(f64::from(entry.lon));
            lon_max = lon_max.max(f64::from(entry.lon));
        }
        if lat_min > lat_max {
            return GeoGrid::default();
        }
        let mut cell = CELL_DEGREES;
        let extent = |cell: f64| {
            (((lat_max - lat_min) / cell).floor() as usize + 1, ((lon_max - lon_min) / cell).floor() as usize + 1)
        };
        while extent(cell).0 * extent(cell).1 > MAX_CELLS {
            cell *= 2.0;
        }
        let (rows, cols) = extent(cell);
        let mut grid = GeoGrid {
            lat0: lat_min,
            lon0: lon_min,
            cell,
            rows,
            cols,
            offsets: vec![0; rows * cols + 1],
            entries: Vec::new(),
        };
        for entry in located() {
            let cell = grid.cell_of(entry);
            grid.offsets[cell + 1] += 1;
        }
        for c in 0..rows * cols {
            grid.offsets[c + 1] += grid.offsets[c];
        }
        let mut next = grid.offsets.clone();
        grid.entries = vec![Entry { ord: 0, lat: 0.0, lon: 0.0 }; grid.offsets[rows * cols] as usize];
        for entry in located() {
            let slot = &mut next[grid.cell_of(entry)];
            grid.entries[*slot as usize] = entry;
            *slot += 1;
        }
        grid
    }

    fn row(&self, lat: f64) -> usize {
        (((lat - self.lat0) / self.cell).floor().max(0.0) as usize).min(self.rows - 1)
    }

    fn col(&self, lon: f64) -> usize {
        (((lon - self.lon0) / self.cell).floor().max(0.0) as usize).min(self.cols - 1)
    }

    fn cell_of(&self, entry: Entry) -> usize {
        self.row(f64::from(entry.lat)) * self.cols + self.col(f64::from(entry.lon))
    }

    /// Every document whose cell meets the box [lat_min, lat_max] × [lon_min, lon_max] (in
    /// degrees; a box crossing the antimeridian, or unbounded in longitude, reads whole rows),
    /// with its coordinates: a superset of the documents inside the box.
    pub fn for_each_near(
        &self,
        (lat_min, lat_max): (f64, f64),
        (lon_min, lon_max): (f64, f64),
        mut visit: impl FnMut(u32, (f64, f64)),
    ) {
        if self.entries.is_empty() || lat_max < self.lat0 || lat_min > self.lat0 + self.cell * self.rows as f64 {
            return;
        }
        let (first_row, last_row) = (self.row(lat_min), self.row(lat_max));
        let (first_col, last_col) = if lon_min < -180.0 || lon_max > 180.0 || !(lon_max - lon_min).is_finite() {
            (0, self.cols - 1)
        } else if lon_max < self.lon0 || lon_min > self.lon0 + self.cell * self.cols as f64 {
            return;
        } else {
            (self.col(lon_min), self.col(lon_max))
        };
        for row in first_row..=last_row {
            let start = self.offsets[row * self.cols + first_col] as usize;
            let end = self.offsets[row * self.cols + last_col + 1] as usize;
            for entry in &self.entries[start..end] {
                visit(entry.ord, (f64::from(entry.lat), f64::from(entry.lon)));
            }
        }
    }

    /// Documents with coordinates.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    proptest! {
        /// Every document inside a box is visited, each at most once, with its coordinates.
        #[test]
        fn a_box_visits_every_document_inside_it(
            points in proptest::collection::vec((41.0f32..51.5, -5.5f32..9.8), 0..300),
            centre in (40.0f64..52.0, -6.0f64..10.0),
            half in (0.0f64..3.0, 0.0f64..4.0),
        ) {
            let lat: Vec<f32> = points.iter().map(|p| p.0).chain([f32::NAN]).collect();
            let lon: Vec<f32> = points.iter().map(|p| p.1).chain([2.0]).collect();
            let grid = GeoGrid::build(&lat, &lon);
            prop_assert_eq!(grid.len(), points.len());
            let (lat_box, lon_box) = ((centre.0 - half.0, centre.0 + half.0), (centre.1 - half.1, centre.1 + half.1));
            let mut seen = vec![0u32; lat.len()];
            grid.for_each_near(lat_box, lon_box, |ord, (la, lo)| {
                seen[ord as usize] += 1;
                assert_eq!((la as f32, lo as f32), (lat[ord as usize], lon[ord as usize]));
            });
            for (ord, (la, lo)) in points.iter().enumerate() {
                let (la, lo) = (f64::from(*la), f64::from(*lo));
                let inside = la >= lat_box.0 && la <= lat_box.1 && lo >= lon_box.0 && lo <= lon_box.1;
                prop_assert!(seen[ord] <= 1);
                prop_assert!(!inside || seen[ord] == 1, "({la}, {lo}) inside the box was not visited");
            }
            prop_assert_eq!(seen[points.len()], 0);
        }
    }

    #[test]
    fn a_worldwide_spread_stays_within_the_cell_budget() {
        let lat = [-89.0, 89.0, 0.0];
        let lon = [-179.0, 179.0, 0.0];
        let grid = GeoGrid::build(&lat, &lon);
        assert!(grid.rows * grid.cols <= MAX_CELLS);
        let mut seen = Vec::new();
        grid.for_each_near((-90.0, 90.0), (-200.0, 200.0), |ord, _| seen.push(ord));
        seen.sort_unstable();
        assert_eq!(seen, [0, 1, 2]);
    }
}
