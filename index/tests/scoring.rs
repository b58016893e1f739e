//! The opportunity scorer end to end below HTTP: point-in-time features (no leakage), a model
//! trained on a simulated latent process, exact explanations, monotone probes, the artefact's
//! round trip and its refusals, the store's all-or-nothing batches, and the labelled-table
//! trainer's errors.

use std::collections::HashMap;

use marketlounge_index::record::SignalType;
use marketlounge_index::score::ScoreError;
use marketlounge_index::score::artefact::{Artefact, ModelDir};
use marketlounge_index::score::features::{
    self, FeatureSettings, Firmographics, History, NO_EVENT, PressEvent, SignalEvent,
};
use marketlounge_index::score::scorer::Scorer;
use marketlounge_index::score::store::{EventStore, Histories, OutcomeRow};
use marketlounge_index::score::train::{self, Dataset, Table, TrainOptions};
use proptest::prelude::*;
use rand::rngs::StdRng;
use rand::{Rng as _, RngCore as _, SeedableRng};

/// A standard normal draw (Box–Muller).
fn normal(rng: &mut StdRng) -> f64 {
    let u = 1.0 - rng.random::<f64>();
    (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * rng.random::<f64>()).cos()
}

fn kind(t: SignalType) -> u8 {
    SignalType::ALL.iter().position(|&x| x == t).unwrap() as u8
}

const DAY0: i32 = 19_000;

/// A world of `n` companies over 36 months: each has a momentum; positive signals come more
/// often when it is high, red flags when it is low; at four quarterly dates, the company
/// converts with a probability that rises with its momentum.
fn world(n: u32, seed: u64) -> (HashMap<u32, Firmographics>, Histories, Vec<OutcomeRow>) {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut firms = HashMap::new();
    let (mut signals, mut press, mut outcomes) = (Vec::new(), Vec::new(), Vec::new());
    for company in 1..=n {
        let firm = Firmographics {
            section: 2,
            region: (rng.next_u64() % 13) as u8,
            log_headcount: (1.0 + rng.random::<f64>() * 5.0) as f32,
            created_day: DAY0 - 3000 - (rng.next_u64() % 5000) as i32,
        };
        firms.insert(company, firm);
        let mut z = normal(&mut rng);
        for month in 0..36 {
            z = 0.97 * z + (1.0f64 - 0.97 * 0.97).sqrt() * normal(&mut rng);
            let day = DAY0 + month * 30;
            if rng.random::<f64>() < 0.25 * (0.9 * z).exp() {
                let t = [SignalType::Hiring, SignalType::Investment, SignalType::ContractWon]
                    [(rng.next_u64() % 3) as usize];
                signals.push((
                    company,
                    SignalEvent { day: day + (rng.next_u64() % 30) as i32, kind: kind(t), weight: 1.0 },
                ));
            }
            if rng.random::<f64>() < 0.01 * (-0.8 * z).exp() {
                signals.push((company, SignalEvent { day, kind: kind(SignalType::Layoffs), weight: 1.0 }));
                press.push((company, PressEvent { day: day + 3, kind: kind(SignalType::Layoffs), polarity: -1.0 }));
            }
            if month >= 18 && month % 3 == 0 && month <= 27 {
                let p = 1.0 / (1.0 + (-(-2.5 + 1.2 * z)).exp());
                outcomes.push(OutcomeRow {
                    company,
                    day: DAY0 + (month + 1) * 30,
                    horizon_days: 180,
                    converted: rng.random::<f64>() < p,
                    latent: Some(p),
                });
            }
        }
    }
    (firms, Histories::from_events(signals, press), outcomes)
}

fn trained(settings: &FeatureSettings) -> (HashMap<u32, Firmographics>, Histories, Dataset, Artefact) {
    let (firms, histories, outcomes) = world(3000, 7);
    let data = Dataset::from_outcomes(&outcomes, &firms, &histories, settings);
    let artefact =
        train::train(&data, DAY0 + 3000, settings, &TrainOptions::default(), jiff::civil::date(2026, 11, 30)).unwrap();
    (firms, histories, data, artefact)
}

fn signal_strategy() -> impl Strategy<Value = Vec<SignalEvent>> {
    proptest::collection::vec(
        (0..1500i32, 0..SignalType::ALL.len() as u8, 0.0f32..10.0).prop_map(|(d, k, w)| SignalEvent {
            day: DAY0 + d,
            kind: k,
            weight: w,
        }),
        0..40,
    )
}

fn press_strategy() -> impl Strategy<Value = Vec<PressEvent>> {
    proptest::collection::vec(
        (0..1500i32, prop_oneof![Just(NO_EVENT), 0..SignalType::ALL.len() as u8], -1.0f32..1.0)
            .prop_map(|(d, k, p)| PressEvent { day: DAY0 + d, kind: k, polarity: p }),
        0..20,
    )
}

fn sorted<T: Copy>(mut events: Vec<T>, day: impl Fn(&T) -> i32) -> Vec<T> {
    events.sort_by_key(|e| day(e));
    events
}

fn firm() -> Firmographics {
    Firmographics { section: 2, region: 3, log_headcount: 3.0, created_day: DAY0 - 4000 }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    /// Leakage: whatever is recorded after T, the features at T are the same, bit for bit.
    #[test]
    fn events_after_t_change_no_feature_at_t(
        signals in signal_strategy(),
        press in press_strategy(),
        later_signals in signal_strategy(),
        later_press in press_strategy(),
        t in 0..1500i32,
    ) {
        let settings = FeatureSettings::default();
        let as_of = DAY0 + t;
        let before_signals = sorted(signals.iter().copied().filter(|e| e.day <= as_of).collect(), |e| e.day);
        let before_press = sorted(press.iter().copied().filter(|e| e.day <= as_of).collect(), |e| e.day);
        let mut a = vec![0.0; features::n_features()];
        features::compute(&settings, as_of, &firm(), History { signals: &before_signals, press: &before_press }, &mut a);
        // The same history plus events after T (shifted past T so they are all later).
        let all_signals = sorted(
            before_signals.iter().copied().chain(later_signals.iter().map(|e| SignalEvent { day: as_of + 1 + (e.day - DAY0), ..*e })).collect(),
            |e| e.day,
        );
        let all_press = sorted(
            before_press.iter().copied().chain(later_press.iter().map(|e| PressEvent { day: as_of + 1 + (e.day - DAY0), ..*e })).collect(),
            |e| e.day,
        );
        let mut b = vec![0.0; features::n_features()];
        features::compute(&settings, as_of, &firm(), History { signals: &all_signals, press: &all_press }, &mut b);
        let a_bits: Vec<u64> = a.iter().map(|v| v.to_bits()).collect();
        let b_bits: Vec<u64> = b.iter().map(|v| v.to_bits()).collect();
        prop_assert_eq!(a_bits, b_bits);
    }
}

#[test]
fn the_model_learns_the_simulated_process_and_explains_exactly() {
    let settings = FeatureSettings::default();
    let (firms, histories, data, artefact) = trained(&settings);
    assert!(data.len() > 10_000, "{}", data.len());
    let backtest = train::backtest(&data, &TrainOptions::default()).unwrap();
    assert!(!backtest.folds.is_empty());
    // Signals reveal the momentum: far better than chance, within reach of the oracle.
    let oracle = backtest.pooled_oracle.as_ref().unwrap();
    assert!(backtest.pooled.auc > 0.65, "AUC {}", backtest.pooled.auc);
    assert!(backtest.pooled.auc <= oracle.auc + 0.02, "{} vs oracle {}", backtest.pooled.auc, oracle.auc);
    assert!(backtest.pooled.ece < 0.05, "ECE {}", backtest.pooled.ece);

    // Contributions sum to the logit, and calibration maps the logit to the probability.
    let scorer = Scorer::new(artefact);
    let as_of = DAY0 + 1100;
    for company in [1u32, 17, 256, 2999] {
        let e = scorer.explain(as_of, &firms[&company], histories.get(company));
        let sum: f64 = e.baseline + e.contributions.iter().map(|c| c.contribution).sum::<f64>();
        assert!((sum - e.logit).abs() <= 1e-9 * e.logit.abs().max(1.0), "{sum} vs {}", e.logit);
        assert_eq!(e.probability, scorer.artefact.calibrator.probability(e.logit));
        assert_eq!(e.contributions.len(), features::n_features());
        let mut buffer = vec![0.0; features::n_features()];
        let (logit, p) = scorer.score_into(as_of, &firms[&company], histories.get(company), &mut buffer);
        assert!((logit - e.logit).abs() < 1e-9 && (p - e.probability).abs() < 1e-12);
    }
}

#[test]
fn more_positive_signals_never_lower_the_score_and_red_flags_never_raise_it() {
    let settings = FeatureSettings::default();
    let (firms, histories, _, artefact) = trained(&settings);
    let scorer = Scorer::new(artefact);
    let mut rng = StdRng::seed_from_u64(99);
    let mut buffer = vec![0.0; features::n_features()];
    let mut checked = 0;
    for company in 1..=400u32 {
        let as_of = DAY0 + 600 + (rng.next_u64() % 480) as i32;
        let history = histories.get(company);
        let (base_logit, base_p) = scorer.score_into(as_of, &firms[&company], history, &mut buffer);
        for t in SignalType::ALL {
            let added = SignalEvent {
                day: as_of - (rng.next_u64() % 700) as i32,
                kind: kind(t),
                weight: 1.0 + rng.random::<f64>() as f32,
            };
            let signals = sorted(history.signals.iter().copied().chain([added]).collect(), |e| e.day);
            let (logit, p) = scorer.score_into(
                as_of,
                &firms[&company],
                History { signals: &signals, press: history.press },
                &mut buffer,
            );
            if t.is_red_flag() {
                assert!(
                    logit <= base_logit + 1e-12 && p <= base_p,
                    "{t:?} raised company {company}: {base_logit} → {logit}"
                );
            } else {
                assert!(
                    logit >= base_logit - 1e-12 && p >= base_p,
                    "{t:?} lowered company {company}: {base_logit} → {logit}"
                );
            }
            checked += 1;
        }
    }
    assert_eq!(checked, 4000);
}

#[test]
fn artefacts_round_trip_roll_back_and_refuse_a_wrong_schema() {
    let settings = FeatureSettings::default();
    let (_, _, data, first) = trained(&settings);
    let dir = tempfile::tempdir().unwrap();
    let models = ModelDir::of_data_dir(dir.path());
    assert!(matches!(models.load_current(), Err(ScoreError::NoModel(_))));
    models.publish(&first).unwrap();
    assert_eq!(models.load_current().unwrap(), first);

    // A second version (another regularisation) becomes current; rollback restores the first.
    let options = TrainOptions {
        logistic: marketlounge_index::score::model::LogisticOptions { c: 0.01, ..Default::default() },
        ..TrainOptions::default()
    };
    let second = train::train(&data, DAY0 + 3000, &settings, &options, jiff::civil::date(2026, 12, 1)).unwrap();
    assert_ne!(second.version, first.version);
    models.publish(&second).unwrap();
    assert_eq!(models.current_version().unwrap().as_deref(), Some(second.version.as_str()));
    assert_eq!(models.rollback().unwrap(), first.version);
    assert_eq!(models.load_current().unwrap(), first);
    assert!(models.rollback().is_err(), "nothing before the first version");

    // A model trained on another feature schema is refused, naming both hashes and the fix.
    let mut foreign = first.clone();
    foreign.feature_schema_hash = "0123456789abcdef".into();
    foreign.seal().unwrap();
    let path = dir.path().join("foreign.json");
    std::fs::write(&path, serde_json::to_vec(&foreign).unwrap()).unwrap();
    let err = Artefact::load(&path).unwrap_err();
    assert!(matches!(err, ScoreError::SchemaMismatch { .. }), "{err}");
    let message = err.to_string();
    assert!(message.contains("0123456789abcdef") && message.contains("score train"), "{message}");

    // A file changed by hand is refused by its content hash.
    let current = dir.path().join("scoring/models").join(format!("{}.json", first.version));
    let text = std::fs::read_to_string(&current).unwrap().replacen("\"base_rate\": ", "\"base_rate\": 1", 1);
    std::fs::write(&current, text).unwrap();
    let err = models.load_current().unwrap_err().to_string();
    assert!(err.contains("content hash mismatch"), "{err}");
}

#[test]
fn a_batch_with_a_bad_record_writes_nothing_and_replays_are_idempotent() {
    let dir = tempfile::tempdir().unwrap();
    let store = EventStore::open(&dir.path().join("events.sqlite")).unwrap();
    let signal = |id: &str, company: &str| marketlounge_index::record::Signal {
        id: id.into(),
        company_id: company.into(),
        signal_type: SignalType::Hiring,
        date: jiff::civil::date(2026, 3, 1),
        source: "job_board".into(),
        weight: None,
        text: None,
    };
    // The second record is bad: the batch rolls back, the first is not kept either.
    let result = store.write_batch(|inserter| {
        inserter.signal(&signal("s1", "000000001"))?;
        inserter.signal(&signal("s2", "not-an-id"))?;
        Ok(true)
    });
    assert!(result.is_err());
    assert_eq!(store.counts().unwrap(), (0, 0, 0));
    // A batch the caller rejects is rolled back too.
    assert!(!store.write_batch(|inserter| inserter.signal(&signal("s1", "000000001")).map(|()| false)).unwrap());
    assert_eq!(store.counts().unwrap(), (0, 0, 0));
    // Sending the same records twice keeps one copy of each.
    for _ in 0..2 {
        store
            .write_batch(|inserter| {
                inserter.signal(&signal("s1", "000000001"))?;
                inserter.signal(&signal("s2", "000000001"))?;
                Ok(true)
            })
            .unwrap();
    }
    assert_eq!(store.counts().unwrap(), (2, 0, 0));
    let histories = store.load_histories().unwrap();
    assert_eq!(histories.get(1).signals.len(), 2);
    assert_eq!(store.history_of(1).unwrap().get(1).signals.len(), 2);

    // Articles without a type get one from their text.
    let stored = store
        .write_batch(|inserter| {
            let article = marketlounge_index::record::Article {
                id: "a1".into(),
                company_id: "000000001".into(),
                date: jiff::civil::date(2026, 3, 5),
                title: "Mécanique Dupont placée en liquidation judiciaire".into(),
                body: None,
                summary: None,
                source: "Le Progrès".into(),
                url: None,
                event_type: None,
                sentiment: None,
            };
            let stored = inserter.article(&article)?;
            assert_eq!(stored.event_type, Some(SignalType::Liquidation));
            assert!(stored.detected && stored.polarity < 0.0);
            Ok(true)
        })
        .unwrap();
    assert!(stored);
    assert_eq!(histories.n_articles(), 0);
    assert_eq!(store.load_histories().unwrap().get(1).press.len(), 1);
}

#[test]
fn the_table_trainer_names_bad_lines_and_columns() {
    let read = |csv: &str| Table::read_csv(csv.as_bytes(), "y", Some("id"), &[]);
    let err = read("id,a,y\n1,2.5,1\n2,abc,0\n").unwrap_err().to_string();
    assert!(err.contains("line 3") && err.contains("\"a\"") && err.contains("abc"), "{err}");
    let err = read("id,a,y\n1,2.5,yes\n").unwrap_err().to_string();
    assert!(err.contains("line 2") && err.contains("0/1"), "{err}");
    let err = Table::read_csv("id,a\n1,2\n".as_bytes(), "y", None, &[]).unwrap_err().to_string();
    assert!(err.contains("no column \"y\""), "{err}");
    let err = Table::read_csv("id,a,y\n".as_bytes(), "y", None, &["zip".into()]).unwrap_err().to_string();
    assert!(err.contains("zip"), "{err}");

    // On a learnable table, the 70/30 report is sensible and deterministic.
    let mut rng = StdRng::seed_from_u64(5);
    let mut csv = String::from("id,x1,x2,noise,y\n");
    for i in 0..4000 {
        let (x1, x2, noise) = (normal(&mut rng), normal(&mut rng), normal(&mut rng));
        let p = 1.0 / (1.0 + (-(-2.0 + 1.5 * x1 - x2)).exp());
        csv.push_str(&format!("{i},{x1},{x2},{noise},{}\n", u8::from(rng.random::<f64>() < p)));
    }
    let table = Table::read_csv(csv.as_bytes(), "y", Some("id"), &["noise".into()]).unwrap();
    assert_eq!(table.feature_names, ["x1", "x2"]);
    let report = train::train_table(&table, &TrainOptions::default()).unwrap();
    assert_eq!(report.n_train + report.n_test, 4000);
    assert!((report.n_train as f64 / 4000.0 - 0.7).abs() < 0.03, "{}", report.n_train);
    assert!(report.auc > 0.8 && report.ece < 0.05, "{report:?}");
    assert_eq!(report, train::train_table(&table, &TrainOptions::default()).unwrap());
    // The coefficients are on the columns' own scale, named by column: near the generating
    // slopes (class balancing moves the intercept, not the slopes of a well-specified model).
    let slopes: Vec<(&str, f64)> = report.coefficients.iter().map(|c| (c.feature.as_str(), c.value)).collect();
    assert!(slopes.len() == 2 && slopes[0].0 == "x1" && slopes[1].0 == "x2", "{slopes:?}");
    assert!((slopes[0].1 - 1.5).abs() < 0.2 && (slopes[1].1 + 1.0).abs() < 0.2, "{slopes:?}");
    // One prediction per test row, whose logit is the reported coefficients' and whose
    // probabilities give the reported metrics.
    assert_eq!(report.predictions.len(), report.n_test);
    for prediction in &report.predictions {
        let i: usize = prediction.id.parse().unwrap();
        assert!(!table.is_train(i), "{} is a training row", prediction.id);
        let row = &table.x[i * 2..i * 2 + 2];
        let logit = report.intercept + slopes[0].1 * row[0] + slopes[1].1 * row[1];
        assert!((logit - prediction.logit).abs() < 1e-9 * logit.abs().max(1.0), "{prediction:?}: {logit}");
        assert_eq!(prediction.label, table.y[i]);
    }
    let p: Vec<f64> = report.predictions.iter().map(|prediction| prediction.probability).collect();
    let y: Vec<bool> = report.predictions.iter().map(|prediction| prediction.label).collect();
    assert_eq!(marketlounge_index::score::metrics::evaluate(&p, &y).auc, report.auc);
}
