//! The index life cycle end to end: segments, manifest, tombstones, WAL replay, global BM25,
//! merges, reindex, priors refresh, backup and restore, corruption detection.

use std::collections::HashMap;
use std::path::Path;

use marketlounge_index::IndexError;
use marketlounge_index::engine::{BuildPhase, DropLimit, Engine, EngineOptions, restore};
use marketlounge_index::record::Company;
use marketlounge_index::segment::{Quantization, VectorOptions};

#[path = "support/top_k.rs"]
mod top_k;

use marketlounge_index::record::siren_with_check_digit as siren;

const TRADES: [(&str, &str); 4] = [
    ("fraisage 5 axes", "Usinage de pièces de précision en fraisage et tournage."),
    ("découpe laser", "Découpe laser de tôles inox et acier, pliage."),
    ("soudage TIG", "Chaudronnerie et soudage TIG de structures inox."),
    ("peinture poudre", "Traitement de surface et peinture poudre époxy."),
];

fn company(n: u32) -> Company {
    let (capability, description) = TRADES[n as usize % TRADES.len()];
    serde_json::from_value(serde_json::json!({
        "id": siren(n),
        "name": format!("Atelier {n}"),
        "description": description,
        "capabilities": [capability],
        "naf": "25.62B",
        "headcount": "20-49",
        "created": "1987-03-12",
        "address": {"postal_code": "42000", "commune": "Saint-Étienne", "commune_code": "42218"}
    }))
    .unwrap()
}

fn ids_for(engine: &Engine, text: &str) -> Vec<String> {
    let snapshot = engine.snapshot();
    let fields = engine.fields();
    let query = top_k::text_query(text, &[(fields.capabilities, 2.0), (fields.description, 1.0)]);
    let mut ids: Vec<String> =
        top_k::search(&snapshot, query.as_ref(), 1000).unwrap().into_iter().map(|(id, _)| id).collect();
    ids.sort();
    ids
}

/// Publishes companies 0..4 and 4..8 as two segments.
fn two_segments(engine: &Engine) {
    for range in [0..4, 4..8] {
        engine.upsert(range.map(company).collect()).unwrap();
        engine.flush().unwrap();
    }
}

fn open(dir: &Path) -> Engine {
    Engine::open(dir, EngineOptions::default()).unwrap()
}

#[test]
fn upsert_flush_get_search_delete_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let engine = open(dir.path());
    engine.upsert((0..20).map(company).collect()).unwrap();
    // Readable before any flush (from the pending operations).
    assert_eq!(engine.get(&siren(3)).unwrap().unwrap().name, "Atelier 3");
    assert!(engine.flush().unwrap());
    assert!(!engine.flush().unwrap(), "nothing pending");
    assert_eq!(engine.snapshot().live_count(), 20);
    let laser: Vec<String> = (0..20).filter(|n| n % 4 == 1).map(siren).collect();
    let mut expected = laser.clone();
    expected.sort();
    assert_eq!(ids_for(&engine, "découpe laser"), expected);

    // Update one laser company into a welder, delete another.
    let mut changed = company(1);
    changed.capabilities = vec!["soudage TIG".into()];
    changed.description = "Soudure TIG.".into();
    engine.upsert(vec![changed]).unwrap();
    assert!(engine.delete(&siren(5)).unwrap().is_some());
    assert_eq!(engine.delete(&siren(5)).unwrap(), None, "already deleted");
    assert_eq!(engine.delete(&siren(999)).unwrap(), None, "never existed");
    assert!(engine.get(&siren(5)).unwrap().is_none());
    engine.flush().unwrap();
    let remaining: Vec<String> = expected.into_iter().filter(|id| *id != siren(1) && *id != siren(5)).collect();
    assert_eq!(ids_for(&engine, "découpe laser"), remaining);
    assert_eq!(engine.snapshot().live_count(), 19);
    let generation = engine.snapshot().generation();
    drop(engine);

    let engine = open(dir.path());
    assert_eq!(engine.snapshot().generation(), generation);
    assert_eq!(ids_for(&engine, "découpe laser"), remaining);
    assert_eq!(engine.get(&siren(1)).unwrap().unwrap().capabilities, ["soudage TIG"]);
    assert!(engine.get(&siren(5)).unwrap().is_none());
}

#[test]
fn acknowledged_writes_survive_without_a_flush() {
    let dir = tempfile::tempdir().unwrap();
    let engine = open(dir.path());
    engine.upsert((0..5).map(company).collect()).unwrap();
    engine.flush().unwrap();
    engine.upsert(vec![company(7)]).unwrap();
    engine.delete(&siren(2)).unwrap();
    drop(engine); // as if the process died: nothing published since the upsert
    let engine = open(dir.path());
    assert_eq!(engine.pending_count(), 2);
    assert!(engine.get(&siren(7)).unwrap().is_some());
    assert!(engine.get(&siren(2)).unwrap().is_none());
    engine.flush().unwrap();
    assert_eq!(engine.snapshot().live_count(), 5);
}

#[test]
fn a_document_scores_the_same_whichever_segment_holds_it() {
    let one = tempfile::tempdir().unwrap();
    let many = tempfile::tempdir().unwrap();
    let single = open(one.path());
    single.upsert((0..30).map(company).collect()).unwrap();
    single.flush().unwrap();
    let split = open(many.path());
    for chunk in [0..7, 7..19, 19..30] {
        split.upsert(chunk.map(company).collect()).unwrap();
        split.flush().unwrap();
    }
    assert_eq!(split.snapshot().segments.len(), 3);
    let scores = |engine: &Engine| -> HashMap<String, f32> {
        let snapshot = engine.snapshot();
        let f = engine.fields();
        let query = top_k::text_query("soudage inox", &[(f.capabilities, 2.0), (f.description, 1.0)]);
        top_k::search(&snapshot, query.as_ref(), 100).unwrap().into_iter().collect()
    };
    let (a, b) = (scores(&single), scores(&split));
    assert!(!a.is_empty());
    assert_eq!(a.len(), b.len());
    for (id, score) in &a {
        assert!((score - b[id]).abs() < 1e-5, "{id}: {score} vs {}", b[id]);
    }
}

#[test]
fn merges_keep_the_live_documents_and_bound_the_segment_count() {
    let dir = tempfile::tempdir().unwrap();
    let options = EngineOptions { max_segments: 3, ..EngineOptions::default() };
    let engine = Engine::open(dir.path(), options).unwrap();
    for batch in 0..6u32 {
        engine.upsert((batch * 5..batch * 5 + 5).map(company).collect()).unwrap();
        engine.flush().unwrap();
    }
    engine.delete(&siren(0)).unwrap();
    engine.flush().unwrap();
    assert_eq!(engine.snapshot().segments.len(), 6);
    let before = ids_for(&engine, "peinture soudage laser fraisage");
    assert!(engine.merge_if_needed().unwrap());
    assert!(engine.snapshot().segments.len() <= 3);
    assert_eq!(ids_for(&engine, "peinture soudage laser fraisage"), before);
    assert_eq!(engine.snapshot().live_count(), 29);
    // Files of merged segments go once no snapshot holds them.
    let segment_dirs = std::fs::read_dir(dir.path().join("segments")).unwrap().count();
    assert_eq!(segment_dirs, engine.snapshot().segments.len());
    assert!(engine.merge_all().unwrap());
    assert_eq!(engine.snapshot().segments.len(), 1);
    assert_eq!(ids_for(&engine, "peinture soudage laser fraisage"), before);
}

#[test]
fn a_held_snapshot_keeps_its_files_until_released() {
    let dir = tempfile::tempdir().unwrap();
    let engine = open(dir.path());
    two_segments(&engine);
    let old = engine.snapshot();
    engine.merge_all().unwrap();
    assert_eq!(std::fs::read_dir(dir.path().join("segments")).unwrap().count(), 3);
    // The old snapshot still answers, from files no manifest names any more.
    assert_eq!(old.get(&siren(1)).unwrap().unwrap().name, "Atelier 1");
    drop(old);
    assert_eq!(std::fs::read_dir(dir.path().join("segments")).unwrap().count(), 1);
}

#[test]
fn reindex_replaces_everything_but_keeps_writes_made_meanwhile() {
    let dir = tempfile::tempdir().unwrap();
    let engine = open(dir.path());
    engine.upsert((0..10).map(company).collect()).unwrap();
    engine.flush().unwrap();
    let mut phases = Vec::new();
    let new_set: Vec<Company> = (5..15).map(company).collect();
    let mut during = Some(|| {
        let mut renamed = company(6);
        renamed.name = "Written during the reindex".into();
        engine.upsert(vec![renamed]).unwrap();
        engine.delete(&siren(7)).unwrap();
        engine.flush().unwrap();
    });
    let records = new_set.into_iter().enumerate().map(|(i, c)| {
        if i == 3
            && let Some(f) = during.take()
        {
            f();
        }
        Ok(c)
    });
    engine.reindex(records, &mut |phase, _| phases.push(phase)).unwrap();
    assert!(phases.contains(&BuildPhase::Publishing));
    assert!(engine.get(&siren(0)).unwrap().is_none(), "not in the new set");
    assert_eq!(engine.get(&siren(6)).unwrap().unwrap().name, "Written during the reindex");
    assert!(engine.get(&siren(7)).unwrap().is_none(), "deleted during the reindex");
    assert_eq!(engine.snapshot().live_count(), 9);
    let reopened = {
        drop(engine);
        open(dir.path())
    };
    assert_eq!(reopened.snapshot().live_count(), 9);
    assert_eq!(reopened.get(&siren(6)).unwrap().unwrap().name, "Written during the reindex");
}

#[test]
fn a_failed_reindex_leaves_the_live_set_alone() {
    let dir = tempfile::tempdir().unwrap();
    let engine = open(dir.path());
    engine.upsert((0..3).map(company).collect()).unwrap();
    engine.flush().unwrap();
    let generation = engine.snapshot().generation();
    let records = (10..13).map(|n| {
        if n == 12 {
            Err(IndexError::InvalidRecords { count: 1, message: "line 3: bad".into() })
        } else {
            Ok(company(n))
        }
    });
    assert!(engine.reindex(records, &mut |_, _| {}).is_err());
    assert_eq!(engine.snapshot().generation(), generation);
    assert_eq!(engine.snapshot().live_count(), 3);
    assert_eq!(std::fs::read_dir(dir.path().join("segments")).unwrap().count(), 1, "no half-built segment left");
    // And a new reindex can run.
    engine.reindex((20..22).map(|n| Ok(company(n))), &mut |_, _| {}).unwrap();
    assert_eq!(engine.snapshot().live_count(), 2);
}

/// An empty or truncated input must not replace a populated index: a reindex that would drop
/// more than the allowed share of the live documents is refused before anything is published.
#[test]
fn a_reindex_that_drops_too_many_documents_is_refused_unless_allowed() {
    let dir = tempfile::tempdir().unwrap();
    let engine = open(dir.path());
    engine.upsert((0..20).map(company).collect()).unwrap();
    engine.flush().unwrap();
    let generation = engine.snapshot().generation();
    let half = DropLimit::Share(0.5);
    let reindex = |range: std::ops::Range<u32>, limit| {
        engine.reindex_with_limit(range.map(|n| Ok(company(n))), limit, &mut |_, _| {})
    };

    // 9 of 20 documents left: 55 % dropped. And nothing at all: 100 %.
    for (input, new_docs) in [(100..109, 9), (0..0, 0)] {
        let err = reindex(input, half).unwrap_err();
        assert_eq!(err.code(), "shrink_refused");
        match &err {
            IndexError::ShrinkRefused { live_docs, new_docs: found, max_drop_share, .. } => {
                assert_eq!((*live_docs, *found, *max_drop_share), (20, new_docs, 0.5), "{err}")
            }
            other => panic!("{other}"),
        }
        let message = err.to_string();
        assert!(message.contains("allow_shrink=true") && message.contains("--allow-shrink"), "{message}");
        assert_eq!((engine.snapshot().generation(), engine.snapshot().live_count()), (generation, 20));
        assert_eq!(std::fs::read_dir(dir.path().join("segments")).unwrap().count(), 1, "the built segment is deleted");
    }
    assert!(reindex(0..0, half).unwrap_err().to_string().contains("would drop 100.0 %"));
    assert_eq!(engine.get(&siren(3)).unwrap().unwrap().name, "Atelier 3");

    // Exactly the allowed share (10 of 20) is published, and so is anything when asked explicitly.
    reindex(100..110, half).unwrap();
    assert_eq!(engine.snapshot().live_count(), 10);
    reindex(0..0, DropLimit::Unlimited).unwrap();
    assert_eq!(engine.snapshot().live_count(), 0);
    // An empty index can always be filled, even when no loss at all is allowed…
    reindex(0..3, DropLimit::Share(0.0)).unwrap();
    assert_eq!(engine.snapshot().live_count(), 3);
    // …but then losing one document is refused.
    assert_eq!(reindex(0..2, DropLimit::Share(0.0)).unwrap_err().code(), "shrink_refused");
    let reopened = {
        drop(engine);
        open(dir.path())
    };
    assert_eq!(reopened.snapshot().live_count(), 3);
}

/// The new generation counts the writes flushed while it was built: they are kept on top of it.
#[test]
fn writes_made_during_a_reindex_count_for_the_drop_limit() {
    let dir = tempfile::tempdir().unwrap();
    let engine = open(dir.path());
    engine.upsert((0..10).map(company).collect()).unwrap();
    engine.flush().unwrap();
    let mut during = Some(|| {
        engine.upsert((10..14).map(company).collect()).unwrap();
        engine.flush().unwrap();
    });
    let records = (0..4).map(|n| {
        if n == 2
            && let Some(f) = during.take()
        {
            f();
        }
        Ok(company(n))
    });
    // 14 live when it publishes; 4 from the input and the 4 written meanwhile: 43 % dropped.
    engine.reindex_with_limit(records, DropLimit::Share(0.5), &mut |_, _| {}).unwrap();
    assert_eq!(engine.snapshot().live_count(), 8);
}

#[test]
fn priors_refresh_without_reindexing_text() {
    let dir = tempfile::tempdir().unwrap();
    let engine = open(dir.path());
    engine.upsert((0..6).map(company).collect()).unwrap();
    engine.flush().unwrap();
    let before = engine.snapshot();
    let column = |engine: &Engine, id: &str| {
        let snapshot = engine.snapshot();
        let (idx, ord) = snapshot.locate(id).unwrap();
        snapshot.segments[idx].prior_column("opportunity").unwrap()[ord as usize]
    };
    assert!(column(&engine, &siren(2)).is_nan(), "unknown until scored");
    let values = HashMap::from([(siren(2), 0.75f32), (siren(4), 0.1)]);
    assert_eq!(engine.refresh_priors(&values).unwrap(), 2);
    assert_eq!(column(&engine, &siren(2)), 0.75);
    assert_eq!(column(&engine, &siren(4)), 0.1);
    assert!(column(&engine, &siren(3)).is_nan());
    // Same segment (text untouched), new generation.
    let after = engine.snapshot();
    assert!(std::sync::Arc::ptr_eq(&before.segments[0].segment, &after.segments[0].segment));
    assert_eq!(after.generation(), before.generation() + 1);
    drop((before, after, engine));
    let engine = open(dir.path());
    assert_eq!(column(&engine, &siren(2)), 0.75);
    assert!(engine.refresh_priors(&HashMap::from([(siren(2), 1.5f32)])).is_err());
}

#[test]
fn backup_and_restore_a_published_generation() {
    let dir = tempfile::tempdir().unwrap();
    let engine = open(&dir.path().join("data"));
    engine.upsert((0..8).map(company).collect()).unwrap();
    engine.flush().unwrap();
    engine.delete(&siren(3)).unwrap();
    let manifest = engine.backup(&dir.path().join("backup")).unwrap();
    // Later writes are not in the backup.
    engine.upsert(vec![company(50)]).unwrap();
    engine.flush().unwrap();
    assert!(engine.backup(&dir.path().join("backup")).is_err(), "never overwrites");

    let restored = dir.path().join("restored");
    assert_eq!(restore(&dir.path().join("backup"), &restored).unwrap().generation, manifest.generation);
    let copy = open(&restored);
    assert_eq!(copy.snapshot().live_count(), 7);
    assert!(copy.get(&siren(3)).unwrap().is_none());
    assert!(copy.get(&siren(50)).unwrap().is_none());
    assert!(restore(&dir.path().join("backup"), &restored).is_err(), "target not empty");
}

#[test]
fn corrupt_and_truncated_files_are_named_with_what_to_do() {
    let dir = tempfile::tempdir().unwrap();
    let engine = open(dir.path());
    engine.upsert((0..8).map(company).collect()).unwrap();
    engine.flush().unwrap();
    let segment_dir = engine.snapshot().segments[0].segment.dir().to_owned();
    drop(engine);
    for file in ["ids.fst", "names.fst", "priors.cols", "ids.bin"] {
        let path = segment_dir.join(file);
        let good = std::fs::read(&path).unwrap();
        let mut bad = good.clone();
        let middle = bad.len() / 2;
        bad[middle] ^= 0x20;
        std::fs::write(&path, &bad).unwrap();
        let err = Engine::open(dir.path(), EngineOptions::default()).unwrap_err();
        let message = err.to_string();
        assert!(message.contains(file) && message.contains("restore from a snapshot"), "{message}");
        assert_eq!(err.code(), "index_corrupt");
        std::fs::write(&path, &good[..good.len() - 1]).unwrap();
        let err = Engine::open(dir.path(), EngineOptions::default()).unwrap_err();
        assert!(err.to_string().contains(file), "{err}");
        std::fs::write(&path, &good).unwrap();
    }
    // A tantivy file too.
    let tantivy = segment_dir.join("tantivy");
    let store = std::fs::read_dir(&tantivy)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "store"))
        .unwrap();
    let mut bytes = std::fs::read(&store).unwrap();
    bytes[0] ^= 1;
    std::fs::write(&store, &bytes).unwrap();
    let err = Engine::open(dir.path(), EngineOptions::default()).unwrap_err();
    assert!(err.to_string().contains(".store"), "{err}");
    bytes[0] ^= 1;
    std::fs::write(&store, &bytes).unwrap();
    // The manifest itself.
    let manifest = dir.path().join("MANIFEST");
    let mut bytes = std::fs::read(&manifest).unwrap();
    bytes[2] ^= 1;
    std::fs::write(&manifest, &bytes).unwrap();
    let err = Engine::open(dir.path(), EngineOptions::default()).unwrap_err();
    assert!(err.to_string().contains("MANIFEST") && err.to_string().contains("checksum"), "{err}");
}

#[test]
fn leftovers_of_a_crash_are_removed_on_open() {
    let dir = tempfile::tempdir().unwrap();
    let engine = open(dir.path());
    engine.upsert((0..3).map(company).collect()).unwrap();
    engine.flush().unwrap();
    drop(engine);
    std::fs::create_dir_all(dir.path().join("segments/seg-0000000099.tmp/tantivy")).unwrap();
    std::fs::create_dir_all(dir.path().join("segments/seg-0000000098")).unwrap();
    std::fs::write(dir.path().join("live/seg-0000000001.g9.del"), b"x").unwrap();
    std::fs::write(dir.path().join(".MANIFEST.tmp.1.2"), b"x").unwrap();
    let engine = open(dir.path());
    assert_eq!(engine.snapshot().live_count(), 3);
    assert_eq!(std::fs::read_dir(dir.path().join("segments")).unwrap().count(), 1);
    assert_eq!(std::fs::read_dir(dir.path().join("live")).unwrap().count(), 0);
    assert!(!dir.path().join(".MANIFEST.tmp.1.2").exists());
}

#[test]
fn provided_vectors_are_stored_checked_and_survive_merges() {
    let dir = tempfile::tempdir().unwrap();
    let vectors = VectorOptions { model: "provided:4".into(), dims: 4, quantization: Quantization::F32 };
    let options = EngineOptions { vectors: Some(vectors), ..EngineOptions::default() };
    let engine = Engine::open(dir.path(), options.clone()).unwrap();
    let with_vector = |n: u32| {
        let mut c = company(n);
        c.vector = Some(vec![n as f32 + 1.0, 1.0, 0.0, 0.5]);
        c
    };
    engine.upsert((0..5).map(with_vector).collect()).unwrap();
    engine.flush().unwrap();
    engine.upsert((5..9).map(with_vector).collect()).unwrap();
    engine.flush().unwrap();
    let mut wrong = company(20);
    wrong.vector = Some(vec![1.0; 3]);
    let err = engine.upsert(vec![company(21), wrong]).unwrap_err();
    assert!(err.to_string().contains("3 dimensions"), "{err}");
    assert!(engine.get(&siren(21)).unwrap().is_none(), "all or nothing");
    engine.merge_all().unwrap();
    let snapshot = engine.snapshot();
    let (idx, ord) = snapshot.locate(&siren(7)).unwrap();
    let stored = snapshot.segments[idx].segment.vector(ord).unwrap();
    assert_eq!(stored, [8.0, 1.0, 0.0, 0.5]);
    let index = snapshot.segments[idx].segment.vectors().unwrap();
    assert_eq!(index.size(), 9);
    drop((snapshot, engine));
    let other_model = VectorOptions { model: "another-model".into(), dims: 4, quantization: Quantization::F32 };
    let err = Engine::open(dir.path(), EngineOptions { vectors: Some(other_model), ..options }).unwrap_err();
    assert_eq!(err.code(), "index_model_mismatch");
}

#[test]
fn vectors_of_unchanged_texts_are_reused_never_recomputed() {
    use marketlounge_index::embed::{Embedder, HashedEmbedder};
    let dir = tempfile::tempdir().unwrap();
    let embedder = HashedEmbedder::new(32);
    let vectors = VectorOptions { model: embedder.fingerprint().to_owned(), dims: 32, quantization: Quantization::F32 };
    let options = EngineOptions {
        vectors: Some(vectors),
        embedder: Some(std::sync::Arc::new(embedder.clone())),
        ..EngineOptions::default()
    };
    let engine = Engine::open(dir.path(), options.clone()).unwrap();
    engine.reindex((0..20).map(|n| Ok(company(n))), &mut |_, _| {}).unwrap();
    assert_eq!(engine.vector_counts(), (20, 0));
    // Same texts: every vector is reused.
    engine.reindex((0..20).map(|n| Ok(company(n))), &mut |_, _| {}).unwrap();
    assert_eq!(engine.vector_counts(), (20, 20));
    // A change outside the embedded text reuses; a changed description recomputes.
    let mut headcount = company(3);
    headcount.headcount = marketlounge_index::record::HeadcountBand::From50To99;
    let mut text = company(4);
    text.description = "Tout autre chose : mécano-soudure.".into();
    engine.upsert(vec![headcount, text.clone()]).unwrap();
    engine.flush().unwrap();
    assert_eq!(engine.vector_counts(), (21, 21));
    // The stored vector is the embedder's for the current text, and the stored record has no
    // vector field (vectors live in the vector index only).
    let snapshot = engine.snapshot();
    let (idx, ord) = snapshot.locate(&siren(4)).unwrap();
    let stored = snapshot.segments[idx].segment.vector(ord).unwrap();
    let expected = embedder.embed_passage(&marketlounge_index::embed::passage_text(&text)).unwrap();
    assert!(stored.iter().zip(&expected).all(|(a, b)| (a - b).abs() < 1e-6));
    assert!(engine.get(&siren(4)).unwrap().unwrap().vector.is_none());
    engine.merge_all().unwrap();
    let snapshot = engine.snapshot();
    let (idx, ord) = snapshot.locate(&siren(4)).unwrap();
    assert_eq!(snapshot.segments[idx].segment.vector(ord).unwrap(), stored, "merges carry vectors over");
    assert_eq!(engine.vector_counts(), (21, 21), "merges compute nothing");
}

#[test]
fn reindex_swaps_under_constant_query_load_lose_no_query() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
    let dir = tempfile::tempdir().unwrap();
    let engine = Arc::new(open(dir.path()));
    engine.reindex((0..400).map(|n| Ok(company(n))), &mut |_, _| {}).unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let queries = Arc::new(AtomicU64::new(0));
    let readers: Vec<_> = (0..2)
        .map(|_| {
            let (engine, stop, queries) = (Arc::clone(&engine), Arc::clone(&stop), Arc::clone(&queries));
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    let snapshot = engine.snapshot();
                    let f = engine.fields();
                    let query = top_k::text_query("découpe laser", &[(f.capabilities, 2.0), (f.description, 1.0)]);
                    let hits =
                        top_k::search(&snapshot, query.as_ref(), 10).expect("a search never fails during a swap");
                    assert_eq!(hits.len(), 10, "every generation has laser cutters");
                    for (id, _) in &hits {
                        // Every hit resolves in the snapshot it came from.
                        assert!(snapshot.get(id).unwrap().is_some(), "{id} vanished");
                    }
                    queries.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();
    for round in 1..=4u32 {
        let start = round * 1000;
        engine.reindex((start..start + 400).map(|n| Ok(company(n))), &mut |_, _| {}).unwrap();
        engine.upsert((start..start + 20).map(|n| company(n + 500)).collect()).unwrap();
        engine.flush().unwrap();
        engine.merge_all().unwrap();
    }
    stop.store(true, Ordering::Relaxed);
    for reader in readers {
        reader.join().expect("no reader failed");
    }
    assert!(queries.load(Ordering::Relaxed) > 10, "the readers ran during the swaps");
    assert_eq!(engine.snapshot().live_count(), 420);
    // Only the live segment's files remain once the readers let go.
    assert_eq!(std::fs::read_dir(dir.path().join("segments")).unwrap().count(), 1);
}

#[test]
fn priors_survive_merges_updates_and_reindexes() {
    let dir = tempfile::tempdir().unwrap();
    let engine = open(dir.path());
    two_segments(&engine);
    engine.refresh_priors(&HashMap::from([(siren(1), 0.9f32), (siren(6), 0.2)])).unwrap();
    let prior = |engine: &Engine, n: u32| {
        let snapshot = engine.snapshot();
        let (idx, ord) = snapshot.locate(&siren(n)).unwrap();
        snapshot.segments[idx].prior_column("opportunity").unwrap()[ord as usize]
    };
    engine.merge_all().unwrap();
    assert_eq!((prior(&engine, 1), prior(&engine, 6)), (0.9, 0.2), "a merge keeps refreshed priors");
    let mut updated = company(1);
    updated.name = "Renamed".into();
    engine.upsert(vec![updated]).unwrap();
    engine.flush().unwrap();
    assert_eq!(prior(&engine, 1), 0.9, "an update keeps the prior until the next refresh");
    engine.reindex((0..8).map(|n| Ok(company(n))), &mut |_, _| {}).unwrap();
    assert_eq!((prior(&engine, 1), prior(&engine, 6)), (0.9, 0.2), "so does a reindex");
    assert!(prior(&engine, 2).is_nan());
}

#[test]
fn the_scrub_finds_corruption_after_a_fast_open() {
    let dir = tempfile::tempdir().unwrap();
    let engine = open(dir.path());
    two_segments(&engine);
    assert_eq!(engine.scrub().unwrap(), 2);
    let segment_dir = engine.snapshot().segments[1].segment.dir().to_owned();
    let store = std::fs::read_dir(segment_dir.join("tantivy"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "store"))
        .unwrap();
    // Same length, one bit changed (as a failing disk would): only a checksum sees it.
    let mut bytes = std::fs::read(&store).unwrap();
    bytes[0] ^= 1;
    std::fs::OpenOptions::new()
        .write(true)
        .open(&store)
        .and_then(|mut f| std::io::Write::write_all(&mut f, &bytes))
        .unwrap();
    let err = engine.scrub().unwrap_err();
    assert_eq!(err.code(), "index_corrupt");
    assert!(err.to_string().contains(".store"), "{err}");
}

#[test]
fn a_segment_mostly_deleted_is_compacted() {
    let dir = tempfile::tempdir().unwrap();
    let engine = open(dir.path());
    engine.reindex((0..3000).map(|n| Ok(company(n))), &mut |_, _| {}).unwrap();
    // Update some of them piecemeal: their old copies become tombstones in the big segment.
    engine.upsert((0..800).map(company).collect()).unwrap();
    engine.flush().unwrap();
    assert!(!engine.merge_if_needed().unwrap(), "27 % deleted is not enough");
    engine.upsert((800..1100).map(company).collect()).unwrap();
    engine.flush().unwrap();
    let big = engine.snapshot().segments.iter().map(|l| l.tombstones.value.deleted_count()).max().unwrap();
    assert_eq!(big, 1100);
    assert!(engine.merge_if_needed().unwrap());
    let snapshot = engine.snapshot();
    assert!(snapshot.segments.iter().all(|l| l.tombstones.value.deleted_count() == 0));
    assert_eq!(snapshot.live_count(), 3000);
    assert_eq!(ids_for(&engine, "découpe laser").len(), 750);
}
