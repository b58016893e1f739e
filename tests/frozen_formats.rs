//! Files written by earlier builds, one per on-disk format version, must keep opening: a format
//! change that breaks them needs a new version number (and this test tells you so).

mod common;
#[path = "../index/tests/support/top_k.rs"]
mod top_k;

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use marketlounge_index::engine::{Engine, EngineOptions};
use marketlounge_index::record::Company;
use marketlounge_index::segment::{Quantization, VectorOptions};
use marketlounge_index::storage::ColumnsReader;

#[test]
fn columns_v1_still_opens() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/frozen/columns-v1.cols");
    let reader = ColumnsReader::open(&path).unwrap();
    assert_eq!(reader.n_docs(), 3);
    assert_eq!(reader.column("opportunity").unwrap(), [0.1, 0.5, 0.9]);
}

fn frozen_index() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/frozen/index-v1")
}

fn frozen_index_v2() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/frozen/index-v2")
}

fn options() -> EngineOptions {
    let vectors = VectorOptions { model: "provided:4".into(), dims: 4, quantization: Quantization::F32 };
    EngineOptions { vectors: Some(vectors), ..EngineOptions::default() }
}

fn company(n: u32) -> Company {
    let mut value = common::company(n);
    value["vector"] = serde_json::json!([n as f32, 1.0, 0.0, 0.5]);
    serde_json::from_value(value).unwrap()
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &to.join(entry.file_name()));
        } else {
            std::fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
        }
    }
}

/// The index of format version 1: two segments, vectors, a tombstone, refreshed priors.
#[test]
fn index_v1_still_opens() {
    let (_dir, engine) = open_frozen(&frozen_index());
    assert!(engine.snapshot().segments.iter().all(|live| live.segment.forward().is_none()));
}

/// The index of format version 2: version 1's content, and segments with forward lists
/// (`forward.bin`), which exact scoring reads; they score as the postings do.
#[test]
fn index_v2_still_opens() {
    use marketlounge_index::search::{DocRef, exact};
    if std::env::var_os("REGENERATE_FROZEN_INDEX_V2").is_some() {
        regenerate_frozen_index_v2();
    }
    let (_dir, engine) = open_frozen(&frozen_index_v2());
    let snapshot = engine.snapshot();
    assert!(snapshot.segments.iter().all(|live| live.segment.forward().is_some()));
    let clauses = [
        (tantivy::Term::from_field_text(engine.fields().capabilities, "frais"), 1.5),
        (tantivy::Term::from_field_text(engine.fields().name, "mecan"), 1.0),
    ];
    let every: Vec<DocRef> = snapshot
        .segments
        .iter()
        .enumerate()
        .flat_map(|(segment, live)| (0..live.segment.doc_count()).map(move |ord| DocRef { segment, ord }))
        .collect();
    let addressed = exact::address(&snapshot, &every).unwrap();
    let forward = exact::score_clauses(&snapshot, exact::Clauses::Bm25(&clauses), &addressed).unwrap();
    let postings = exact::score_clauses_by_postings(&snapshot, exact::Clauses::Bm25(&clauses), &addressed).unwrap();
    assert!(forward.iter().all(|s| *s > 0.0), "{forward:?}");
    assert_eq!(forward, postings);
}

/// Indexes written before constraint facets existed (`index-v1`, `index-v2`: no `facets.bin`)
/// answer constraint queries: each segment computes its facets from its stored records on first
/// use, and every check agrees with the records (milling inox 316L, ISO 9001, 20 to 49 employees,
/// in Saint-Étienne, département 42; no concept).
#[test]
fn frozen_indexes_compute_constraint_facets_from_their_records() {
    use marketlounge_index::interpret::{ConstraintKind, Interpreter};
    use marketlounge_index::search::{ConstraintUse, ConstraintUses, MatchRequest, Matcher, SearchConfig};
    let matcher = Matcher::new(std::sync::Arc::new(Interpreter::embedded().unwrap()), SearchConfig::default());
    for frozen in [frozen_index(), frozen_index_v2()] {
        let (_dir, engine) = open_frozen(&frozen);
        let snapshot = engine.snapshot();
        let facets_file = |live: &marketlounge_index::engine::LiveSegment| live.segment.dir().join("facets.bin");
        assert!(snapshot.segments.iter().all(|live| !facets_file(live).exists()), "{}", frozen.display());
        let ask = |query: &str, constraints: ConstraintUses| {
            let request = MatchRequest { k: 10, constraints, ..MatchRequest::new(query) };
            matcher.run(&snapshot, &request, None).unwrap()
        };
        let met = |query: &str| -> Vec<Vec<(ConstraintKind, bool)>> {
            ask(query, ConstraintUses::default())
                .hits
                .iter()
                .map(|hit| hit.constraints.iter().map(|c| (c.kind, c.met)).collect())
                .collect()
        };
        use ConstraintKind::{Material, Place, Process, Size};
        assert_eq!(
            met("fraisage inox 316L moins de 50 salariés dans le 42"),
            vec![vec![(Process, false), (Material, true), (Size, true), (Place, true)]; 5]
        );
        assert_eq!(
            met("fraisage titane plus de 50 salariés en Bretagne"),
            vec![vec![(Process, false), (Material, false), (Size, false), (Place, false)]; 5]
        );
        let required = ConstraintUses { material: Some(ConstraintUse::Require), ..ConstraintUses::default() };
        assert_eq!(ask("fraisage titane", required).hits.len(), 0);
        let response = ask("fraisage acier inoxydable", required);
        assert_eq!(response.hits.len(), 5);
        assert!(response.hits.iter().all(|h| h.constraints[1].by.as_deref() == Some("material:inox")));
        // What was computed, document by document, is what the records hold.
        for live in &snapshot.segments {
            let facets = live.segment.facets().unwrap();
            for ord in (0..live.segment.doc_count()).filter(|&ord| live.is_live(ord)) {
                let values: Vec<&str> = facets.values(ord).collect();
                for expected in [
                    "material:inox",
                    "material:inox.316l",
                    "material:aluminium",
                    "certification:iso9001",
                    "size:20-49",
                    "departement:42",
                    "region:Auvergne-Rhône-Alpes",
                ] {
                    assert!(values.contains(&expected), "{expected} of {values:?}");
                }
                assert!(!values.iter().any(|v| v.starts_with("concept:")), "{values:?}");
            }
        }
        // Computed in memory: the published segment files are never modified.
        assert!(snapshot.segments.iter().all(|live| !facets_file(live).exists()));
    }
}

/// Opens a frozen index (a copy) with every checksum verified and checks its content.
fn open_frozen(frozen: &Path) -> (tempfile::TempDir, Engine) {
    let dir = tempfile::tempdir().unwrap();
    copy_dir(frozen, dir.path());
    let engine = Engine::open(dir.path(), EngineOptions { verify_checksums: true, ..options() }).unwrap();
    let snapshot = engine.snapshot();
    assert_eq!(snapshot.segments.len(), 2);
    assert_eq!(snapshot.live_count(), 5);
    assert!(engine.get(&common::siren(2)).unwrap().is_none(), "deleted");
    assert_eq!(engine.get(&common::siren(4)).unwrap().unwrap().name, "Mécanique Précision 4");
    let (idx, ord) = snapshot.locate(&common::siren(5)).unwrap();
    let live = &snapshot.segments[idx];
    assert_eq!(live.segment.vector(ord).unwrap(), [5.0, 1.0, 0.0, 0.5]);
    let (idx, ord) = snapshot.locate(&common::siren(1)).unwrap();
    assert_eq!(snapshot.segments[idx].prior_column("opportunity").unwrap()[ord as usize], 0.25);
    let query = top_k::text_query("fraisage", &[(engine.fields().capabilities, 1.0)]);
    assert_eq!(top_k::search(&snapshot, query.as_ref(), 10).unwrap().len(), 5);
    (dir, engine)
}

/// Writes `tests/frozen/index-v2`, then `index_v2_still_opens` checks it: run
/// `REGENERATE_FROZEN_INDEX_V2=1 cargo test --release --workspace --test frozen_formats` after a
/// deliberate format change, with a new version number, never to paper over an accidental one.
/// `index-v1` was written the same way by the build before forward lists.
fn regenerate_frozen_index_v2() {
    let target = frozen_index_v2();
    assert!(!target.exists(), "{} exists: remove it first, knowingly", target.display());
    let dir = tempfile::tempdir().unwrap();
    let engine = Engine::open(dir.path(), options()).unwrap();
    engine.upsert((0..3).map(company).collect()).unwrap();
    engine.flush().unwrap();
    engine.upsert((3..6).map(company).collect()).unwrap();
    engine.delete(&common::siren(2)).unwrap();
    engine.flush().unwrap();
    engine.refresh_priors(&HashMap::from([(common::siren(1), 0.25f32)])).unwrap();
    engine.backup(&target).unwrap();
}
