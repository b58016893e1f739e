//! Model-based test: random upserts, deletes, flushes (publishes), merges, reindexes and reopens
//! against a `BTreeMap`; every read and every search must agree with the model.

use std::collections::BTreeMap;

use marketlounge_index::engine::{Engine, EngineOptions};
use marketlounge_index::record::Company;
use proptest::prelude::*;

#[path = "support/top_k.rs"]
mod top_k;

const TRADES: [(&str, &str); 3] = [
    ("fraisage", "Usinage de pièces en fraisage."),
    ("laser", "Découpe laser de tôles."),
    ("soudage", "Chaudronnerie et soudage."),
];
const IDS: u32 = 24;

fn siren(n: u32) -> String {
    marketlounge_index::record::siren_with_check_digit(n + 1000)
}

fn company(n: u32, trade: usize) -> Company {
    let (capability, description) = TRADES[trade];
    serde_json::from_value(serde_json::json!({
        "id": siren(n),
        "name": format!("Entreprise {n}"),
        "description": description,
        "capabilities": [capability],
        "naf": "25.62B",
        "headcount": "10-19",
        "created": "2001-01-01",
        "address": {"postal_code": "69001", "commune": "Lyon"}
    }))
    .unwrap()
}

#[derive(Debug, Clone)]
enum Op {
    Upsert(u32, usize),
    Delete(u32),
    Flush,
    MergeIfNeeded,
    MergeAll,
    Reindex(Vec<(u32, usize)>),
    Reopen,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (0..IDS, 0..TRADES.len()).prop_map(|(n, t)| Op::Upsert(n, t)),
        3 => (0..IDS).prop_map(Op::Delete),
        4 => Just(Op::Flush),
        1 => Just(Op::MergeIfNeeded),
        1 => Just(Op::MergeAll),
        1 => proptest::collection::vec((0..IDS, 0..TRADES.len()), 0..8).prop_map(Op::Reindex),
        2 => Just(Op::Reopen),
    ]
}

fn options() -> EngineOptions {
    EngineOptions { max_segments: 3, ..EngineOptions::default() }
}

fn check(engine: &Engine, model: &BTreeMap<u32, usize>) {
    for n in 0..IDS {
        let stored = engine.get(&siren(n)).unwrap();
        match model.get(&n) {
            Some(&trade) => {
                let stored = stored.unwrap_or_else(|| panic!("{n} missing"));
                assert_eq!(stored.capabilities, [TRADES[trade].0], "{n}");
            }
            None => assert!(stored.is_none(), "{n} should be absent"),
        }
    }
    if engine.pending_count() == 0 {
        let snapshot = engine.snapshot();
        assert_eq!(snapshot.live_count(), model.len() as u64);
        for (trade, (word, _)) in TRADES.iter().enumerate() {
            let query = top_k::text_query(word, &[(engine.fields().capabilities, 1.0)]);
            let mut found: Vec<String> =
                top_k::search(&snapshot, query.as_ref(), 100).unwrap().into_iter().map(|(id, _)| id).collect();
            found.sort();
            let mut expected: Vec<String> =
                model.iter().filter(|&(_, &t)| t == trade).map(|(&n, _)| siren(n)).collect();
            expected.sort();
            assert_eq!(found, expected, "search {word:?}");
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, max_shrink_iters: 200, ..ProptestConfig::default() })]

    #[test]
    fn engine_agrees_with_a_btreemap(ops in proptest::collection::vec(op(), 1..28)) {
        let dir = tempfile::tempdir().unwrap();
        let mut engine = Engine::open(dir.path(), options()).unwrap();
        let mut model: BTreeMap<u32, usize> = BTreeMap::new();
        for op in ops {
            match op {
                Op::Upsert(n, trade) => {
                    engine.upsert(vec![company(n, trade)]).unwrap();
                    model.insert(n, trade);
                }
                Op::Delete(n) => {
                    let existed = engine.delete(&siren(n)).unwrap().is_some();
                    prop_assert_eq!(existed, model.remove(&n).is_some());
                }
                Op::Flush => {
                    engine.flush().unwrap();
                }
                Op::MergeIfNeeded => {
                    engine.flush().unwrap();
                    engine.merge_if_needed().unwrap();
                    prop_assert!(engine.snapshot().segments.len() <= 3);
                }
                Op::MergeAll => {
                    engine.merge_all().unwrap();
                }
                Op::Reindex(records) => {
                    let mut fresh: BTreeMap<u32, usize> = BTreeMap::new();
                    for &(n, trade) in &records {
                        fresh.insert(n, trade);
                    }
                    let companies: Vec<Company> = fresh.iter().map(|(&n, &t)| company(n, t)).collect();
                    engine.reindex(companies.into_iter().map(Ok), &mut |_, _| {}).unwrap();
                    model = fresh;
                }
                Op::Reopen => {
                    drop(engine);
                    engine = Engine::open(dir.path(), options()).unwrap();
                }
            }
            check(&engine, &model);
        }
        engine.flush().unwrap();
        check(&engine, &model);
        drop(engine);
        // Whatever happened, a reopen sees the same state and no unreferenced file is left.
        let engine = Engine::open(dir.path(), options()).unwrap();
        check(&engine, &model);
        let segments = std::fs::read_dir(dir.path().join("segments")).unwrap().count();
        prop_assert_eq!(segments, engine.snapshot().segments.len());
    }
}
