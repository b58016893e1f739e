//! The opportunity scorer over HTTP: signals and articles ingested (all or nothing, errors by
//! line and field), a model trained and applied, then one company's explained score, the top
//! list with its filters, drift, the prior in a search hit's explanation, and bad parameters.

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use marketlounge::http::{AppState, app};
use marketlounge::settings::Settings;
use marketlounge_index::record::{Company, Outcome};
use rand::rngs::StdRng;
use rand::{Rng as _, SeedableRng};

mod common;

const N: u32 = 400;

/// A standard normal draw (Box–Muller).
fn normal(rng: &mut StdRng) -> f64 {
    let u = 1.0 - rng.random::<f64>();
    (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * rng.random::<f64>()).cos()
}

/// Company `n`: even ones in Rennes (Bretagne) with 50–99 employees, odd ones in Saint-Étienne
/// (Auvergne-Rhône-Alpes) with 20–49.
fn company(n: u32) -> Company {
    let mut record = common::company(n);
    if n.is_multiple_of(2) {
        record["address"] = serde_json::json!({"postal_code": "35000", "commune": "Rennes", "commune_code": "35238"});
        record["headcount"] = serde_json::json!("50-99");
    }
    serde_json::from_value(record).unwrap()
}

fn month_date(month: i32) -> jiff::civil::Date {
    jiff::civil::date(2023, 7, 1).checked_add(jiff::Span::new().months(month)).unwrap()
}

/// Signals (NDJSON) and outcomes of a simulated world where momentum drives both.
fn history() -> (String, Vec<Outcome>) {
    let mut rng = StdRng::seed_from_u64(11);
    let (mut signals, mut outcomes) = (String::new(), Vec::new());
    for n in 1..=N {
        let mut z = normal(&mut rng);
        for month in 0..36 {
            z = 0.97 * z + (1.0f64 - 0.97 * 0.97).sqrt() * normal(&mut rng);
            let (kind, chance) = if rng.random::<f64>() < 0.9 {
                ("hiring", 0.3 * (0.9 * z).exp())
            } else {
                ("layoffs", 0.05 * (-z).exp())
            };
            if rng.random::<f64>() < chance {
                let line = serde_json::json!({
                    "id": format!("s-{n}-{month}"), "company_id": common::siren(n), "type": kind,
                    "date": month_date(month).to_string(), "source": "job_board"
                });
                signals.push_str(&format!("{line}\n"));
            }
            if (18..=30).contains(&month) && month % 3 == 0 {
                let p = 1.0 / (1.0 + (-(-2.0 + 1.3 * z)).exp());
                outcomes.push(Outcome {
                    company_id: common::siren(n),
                    as_of: month_date(month + 1),
                    horizon_days: 181,
                    converted: rng.random::<f64>() < p,
                    latent_probability: None,
                });
            }
        }
    }
    (signals, outcomes)
}

fn state() -> (tempfile::TempDir, Arc<AppState>) {
    let data = tempfile::tempdir().unwrap();
    let state = Arc::new(AppState::open(Settings::default_settings(), data.path()).unwrap());
    state.engine.upsert((1..=N).map(company).collect()).unwrap();
    state.engine.flush().unwrap();
    (data, state)
}

async fn call(state: &Arc<AppState>, request: Request<Body>) -> (StatusCode, serde_json::Value) {
    let (status, bytes) = common::app::checked(&app(Arc::clone(state)), request).await;
    (status, serde_json::from_slice(&bytes).unwrap_or_else(|_| panic!("not JSON: {bytes:?}")))
}

async fn get(state: &Arc<AppState>, uri: &str) -> (StatusCode, serde_json::Value) {
    call(state, Request::get(uri).body(Body::empty()).unwrap()).await
}

async fn post(state: &Arc<AppState>, uri: &str, content_type: &str, body: String) -> (StatusCode, serde_json::Value) {
    call(state, Request::post(uri).header("content-type", content_type).body(Body::from(body)).unwrap()).await
}

/// Starts a scoring task and waits (at most 60 s) for its result.
async fn run_task(state: &Arc<AppState>, uri: &str, job: &str) -> serde_json::Value {
    let (status, accepted) = post(state, uri, "application/json", job.into()).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{accepted}");
    let status_url = accepted["status_url"].as_str().unwrap().to_owned();
    for _ in 0..600 {
        let (_, task) = get(state, &status_url).await;
        match task["status"].as_str().unwrap() {
            "succeeded" => return task["result"].clone(),
            "failed" => panic!("{uri} failed: {task}"),
            _ => tokio::time::sleep(std::time::Duration::from_millis(100)).await,
        }
    }
    panic!("{uri} did not finish in 60 s");
}

/// Applies the current model as of `as_of` and returns the drift report.
async fn drift_as_of(state: &Arc<AppState>, as_of: &str) -> serde_json::Value {
    run_task(state, "/admin/scoring/apply", &format!(r#"{{"as_of": "{as_of}"}}"#)).await;
    let (status, body) = get(state, "/admin/scoring/drift").await;
    assert_eq!((status, body["as_of"].as_str()), (StatusCode::OK, Some(as_of)), "{body}");
    body
}

#[tokio::test]
async fn ingest_train_apply_then_explained_scores_top_lists_and_drift() {
    let (data, state) = state();
    let id = common::siren(2);

    // Before any model: a clear 503 that says what to run, and no server path.
    let (status, body) = get(&state, &format!("/api/v1/companies/{id}/opportunity")).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(body["error"]["code"], "model_unavailable");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(message.contains("score train"), "{body}");
    assert!(!message.contains(data.path().to_str().unwrap()) && !message.contains('/'), "{body}");

    // A batch with bad lines writes nothing and names every line and field.
    let (signals, outcomes) = history();
    let mut bad = signals.lines().take(3).collect::<Vec<_>>().join("\n");
    bad.push_str(
        "\n{\"id\":\"x\",\"company_id\":\"123\",\"type\":\"hiring\",\"date\":\"2026-01-01\",\"source\":\"crm\"}\n",
    );
    bad.push_str("{\"id\":\"y\",\"company_id\":\"000000018\",\"type\":\"promotion\",\"date\":\"2026-01-01\",\"source\":\"crm\",\"extra\":1}\n");
    let (status, body) = post(&state, "/api/v1/signals", "application/x-ndjson", bad).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["error"]["code"], "invalid_record");
    assert_eq!(body["error"]["details"]["invalid_lines"], 2, "{body}");
    let details = body["error"]["details"]["errors"].as_array().unwrap();
    let lines: Vec<(u64, &str)> =
        details.iter().map(|d| (d["line"].as_u64().unwrap(), d["field"].as_str().unwrap())).collect();
    assert!(lines.contains(&(4, "company_id")), "{lines:?}");
    assert!(lines.iter().any(|&(line, field)| line == 5 && field == "type"), "{lines:?}");
    assert!(lines.iter().any(|&(line, field)| line == 5 && field == "extra"), "{lines:?}");
    assert_eq!(state.scoring.store.counts().unwrap().0, 0, "nothing was written");

    // The real batch.
    let n_signals = signals.lines().count();
    let (status, body) = post(&state, "/api/v1/signals", "application/x-ndjson", signals).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["acknowledged"], n_signals);

    // An article gets its event type and polarity from its headline.
    let article = serde_json::json!({
        "id": "a-1", "company_id": id, "date": "2026-05-20", "source": "Ouest-France",
        "title": "Mécanique Précision 2 recrute 15 techniciens à Rennes"
    });
    let (status, body) = post(&state, "/api/v1/articles", "application/json", article.to_string()).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["articles"][0]["event_type"], "hiring");
    assert_eq!(body["articles"][0]["detected"], true);
    assert!(body["articles"][0]["polarity"].as_f64().unwrap() > 0.0);

    // Outcomes, then a model trained and applied by the running server (background tasks).
    let outcomes: String = outcomes.iter().map(|o| format!("{}\n", serde_json::to_string(o).unwrap())).collect();
    let (status, body) = post(&state, "/api/v1/outcomes", "application/x-ndjson", outcomes).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    for (uri, job, field) in [
        ("/admin/scoring/apply", r#"{"as_of": "June"}"#, "as_of"),
        ("/admin/scoring/apply", r#"{"until": "2026-01-01"}"#, "until"),
        ("/admin/scoring/train", r#"{"since": "2026-01-01"}"#, "since"),
    ] {
        let (status, body) = post(&state, uri, "application/json", job.into()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{job}: {body}");
        assert_eq!(body["error"]["details"]["field"], field, "{job}: {body}");
    }
    let train = run_task(&state, "/admin/scoring/train", r#"{"until": "2026-11-30"}"#).await;
    let version = train["version"].as_str().unwrap().to_owned();
    assert_eq!(train["training"]["calibration_rows_from"], "later_slice", "{train}");
    let report = run_task(&state, "/admin/scoring/apply", r#"{"as_of": "2026-06-30"}"#).await;
    assert_eq!(report["companies"], N);
    assert_eq!(report["priors_updated"], N);
    assert_eq!(report["model_version"], version.as_str());
    let base_rate = report["base_rate"].as_f64().unwrap() as f32;
    assert!((state.matcher.prior_base_rate() - base_rate).abs() < 1e-6, "the search prior follows the model");

    // One company, explained.
    let (status, body) = get(&state, &format!("/api/v1/companies/{id}/opportunity?top=3")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let p = body["probability"].as_f64().unwrap();
    assert!(p > 0.0 && p < 1.0);
    assert!((body["score_pct"].as_f64().unwrap() - 100.0 * p).abs() < 1e-9);
    let percentile = body["percentile"].as_f64().unwrap();
    assert!((0.0..=100.0).contains(&percentile));
    assert_eq!(body["model_version"], version.as_str());
    assert_eq!(body["as_of"], "2026-06-30");
    let contributions = body["contributions"].as_array().unwrap();
    assert_eq!(contributions.len(), 3);
    for c in contributions {
        assert!(c["feature"].is_string() && c["value"].is_number() && c["contribution"].is_number());
    }
    let magnitudes: Vec<f64> = contributions.iter().map(|c| c["contribution"].as_f64().unwrap().abs()).collect();
    assert!(magnitudes.windows(2).all(|w| w[0] >= w[1]), "largest first: {magnitudes:?}");
    // All contributions sum with the baseline to the logit.
    let (_, all) = get(&state, &format!("/api/v1/companies/{id}/opportunity?top=1000")).await;
    let sum: f64 = all["contributions"].as_array().unwrap().iter().map(|c| c["contribution"].as_f64().unwrap()).sum();
    assert!((all["baseline"].as_f64().unwrap() + sum - all["logit"].as_f64().unwrap()).abs() < 1e-9);
    // Scoring as of another date is allowed; a malformed one is not.
    let (status, _) = get(&state, &format!("/api/v1/companies/{id}/opportunity?as_of=2025-01-01")).await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = get(&state, &format!("/api/v1/companies/{id}/opportunity?as_of=yesterday")).await;
    assert_eq!((status, body["error"]["details"]["field"].as_str()), (StatusCode::BAD_REQUEST, Some("as_of")));
    let (status, _) = get(&state, &format!("/api/v1/companies/{}/opportunity", common::siren(N + 5))).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // The top list: best first, filters respected.
    let (status, body) = get(&state, "/api/v1/opportunities/top?k=5").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let top = body["opportunities"].as_array().unwrap();
    assert_eq!(top.len(), 5);
    let probabilities: Vec<f64> = top.iter().map(|o| o["probability"].as_f64().unwrap()).collect();
    assert!(probabilities.windows(2).all(|w| w[0] >= w[1]), "{probabilities:?}");
    assert!(top.iter().all(|o| o["contributions"].as_array().unwrap().len() == 5 && o["percentile"].is_number()));
    let even = |o: &serde_json::Value| {
        let n: u32 = o["company_id"].as_str().unwrap()[..8].parse().unwrap();
        n.is_multiple_of(2)
    };
    let (_, bretagne) = get(&state, "/api/v1/opportunities/top?k=20&region=Bretagne").await;
    let bretagne = bretagne["opportunities"].as_array().unwrap();
    assert_eq!(bretagne.len(), 20);
    assert!(bretagne.iter().all(even));
    let (_, small) = get(&state, "/api/v1/opportunities/top?k=20&headcount=20-49&naf=25").await;
    assert!(small["opportunities"].as_array().unwrap().iter().all(|o| !even(o)));
    let (_, none) = get(&state, "/api/v1/opportunities/top?k=20&naf=A").await;
    assert_eq!(none["opportunities"].as_array().unwrap().len(), 0);
    for (query, field) in [
        ("k=0", "k"),
        ("k=ten", "k"),
        ("region=Atlantis", "region"),
        ("naf=99.99Z", "naf"),
        ("headcount=huge", "headcount"),
        ("sort=asc", "sort"),
        ("region=%FF", "region"),
    ] {
        let (status, body) = get(&state, &format!("/api/v1/opportunities/top?{query}")).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{query}: {body}");
        assert_eq!(body["error"]["details"]["field"], field, "{query}: {body}");
    }
    let (status, body) = get(&state, "/api/v1/opportunities/top?k=100000").await;
    assert_eq!(status, StatusCode::OK);
    assert!(body["opportunities"].as_array().unwrap().len() <= 100);

    // The scoring document's own paths: the same top list under its name, and one company
    // scored through `POST /api/v1/score`.
    let (_, top) = get(&state, "/api/v1/opportunities/top?k=5&region=Bretagne").await;
    let (status, same_top) = get(&state, "/api/v1/top-opportunities?k=5&region=Bretagne").await;
    assert_eq!((status, &same_top), (StatusCode::OK, &top));
    // An indexed company: what its opportunity page says.
    let (_, page) = get(&state, &format!("/api/v1/companies/{id}/opportunity?top=3")).await;
    let request = serde_json::json!({"company_id": id, "top": 3});
    let (status, scored) = post(&state, "/api/v1/score", "application/json", request.to_string()).await;
    assert_eq!(status, StatusCode::OK, "{scored}");
    assert_eq!(scored["source"], "indexed");
    for field in [
        "company_id",
        "probability",
        "score_pct",
        "percentile",
        "logit",
        "baseline",
        "contributions",
        "model_version",
        "as_of",
    ] {
        assert_eq!(scored[field], page[field], "{field}: {scored} against {page}");
    }
    // The same company given whole, with its own signals and article: the same probability
    // and explanation, to the bit, and nothing written.
    let counts = state.scoring.store.counts().unwrap();
    let (signals, _) = history();
    let own: Vec<serde_json::Value> = signals
        .lines()
        .map(|line| serde_json::from_str::<serde_json::Value>(line).unwrap())
        .filter(|signal| signal["company_id"] == id.as_str())
        .collect();
    assert!(own.len() >= 3, "company 2 has signals: {}", own.len());
    let prospect = serde_json::json!({
        "company": company(2), "signals": own, "articles": [article], "top": 3
    });
    let (status, given) = post(&state, "/api/v1/score", "application/json", prospect.to_string()).await;
    assert_eq!(status, StatusCode::OK, "{given}");
    assert_eq!(given["source"], "given");
    assert_eq!(given["articles"][0]["event_type"], "hiring", "{given}");
    for field in ["company_id", "probability", "logit", "baseline", "contributions", "percentile", "as_of"] {
        assert_eq!(given[field], page[field], "{field}: {given} against {page}");
    }
    // Without its history the same company scores otherwise: the body's events are used.
    let bare = serde_json::json!({"company": company(2), "top": 3});
    let (status, bare) = post(&state, "/api/v1/score", "application/json", bare.to_string()).await;
    assert_eq!(status, StatusCode::OK, "{bare}");
    assert_ne!(bare["probability"], page["probability"]);
    // A prospect that is not indexed, as of another date.
    let mut newcomer = serde_json::to_value(company(N + 7)).unwrap();
    newcomer["name"] = serde_json::json!("Nouvelle Mécanique");
    let request = serde_json::json!({"company": newcomer, "as_of": "2026-07-15"});
    let (status, body) = post(&state, "/api/v1/score", "application/json", request.to_string()).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        (body["company_id"].as_str(), body["as_of"].as_str()),
        (Some(common::siren(N + 7).as_str()), Some("2026-07-15"))
    );
    assert!(body["contributions"].as_array().unwrap().len() == 5);
    assert_eq!(state.scoring.store.counts().unwrap(), counts, "scoring writes nothing");
    // Bad bodies: each names its field.
    let mut bad_naf = serde_json::to_value(company(2)).unwrap();
    bad_naf["naf"] = serde_json::json!("99.99Z");
    let foreign = serde_json::json!({"id": "s-x", "company_id": common::siren(3), "type": "hiring", "date": "2026-01-01", "source": "crm"});
    for (request, code, field) in [
        (serde_json::json!({"company_id": id, "company": company(2)}), "invalid_field", "company"),
        (serde_json::json!({"top": 3}), "invalid_field", "company_id"),
        (serde_json::json!({"company_id": id, "signals": [foreign]}), "invalid_field", "signals"),
        (serde_json::json!({"company_id": id, "horizon": 90}), "invalid_field", "horizon"),
        (serde_json::json!({"company_id": id, "as_of": "June"}), "invalid_field", "as_of"),
        (serde_json::json!({"company_id": id, "top": -1}), "invalid_field", "top"),
        (serde_json::json!({"company": bad_naf}), "invalid_record", "company.naf"),
        (serde_json::json!({"company": company(2), "signals": [foreign]}), "invalid_record", "signals[0].company_id"),
        (serde_json::json!({"company": company(2), "articles": [{"id": "a"}]}), "invalid_record", "articles[0]"),
    ] {
        let (status, body) = post(&state, "/api/v1/score", "application/json", request.to_string()).await;
        assert_eq!(
            (status, body["error"]["code"].as_str()),
            (StatusCode::BAD_REQUEST, Some(code)),
            "{request}: {body}"
        );
        let named = body["error"]["details"]["field"]
            .as_str()
            .map(str::to_owned)
            .or_else(|| body["error"]["details"]["errors"][0]["field"].as_str().map(str::to_owned));
        assert!(named.as_deref().is_some_and(|named| named.starts_with(field)), "{request}: {body}");
    }
    let (status, body) = post(&state, "/api/v1/score", "application/json", "{\"company_id\": ".into()).await;
    assert_eq!((status, body["error"]["code"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid_json")), "{body}");
    let (status, _) =
        post(&state, "/api/v1/score", "text/plain", serde_json::json!({"company_id": id}).to_string()).await;
    assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let unknown = serde_json::json!({"company_id": common::siren(N + 5)});
    let (status, _) = post(&state, "/api/v1/score", "application/json", unknown.to_string()).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // Drift against training, as of the apply.
    let (status, body) = get(&state, "/admin/scoring/drift").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    // The simulated process is stationary and its signals run to June 2026, so five months after
    // the calibration slice the score's distribution has not moved.
    let psi = body["score"]["psi"].as_f64().unwrap();
    assert!(psi < 0.1 && body["score"]["status"] == "stable", "{body}");
    assert_eq!(body["features"].as_array().unwrap().len(), marketlounge_index::score::features::n_features());
    assert_eq!(body["as_of"], "2026-06-30");

    // The prior in search: a hit's explanation carries the company's probability.
    let query = serde_json::json!({"query": "usinage de précision", "k": 3, "explain": true});
    let (status, body) = post(&state, "/api/v1/match", "application/json", query.to_string()).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let hit = &body["hits"][0];
    let prior = hit["explanation"]["components"].as_array().unwrap().iter().find(|c| c["name"] == "prior").unwrap();
    assert!(prior["detail"].as_str().unwrap().contains("opportunity probability"), "{prior}");
    assert_ne!(prior["value"].as_f64().unwrap(), 0.0, "{prior}");

    // Drift against the training reference (the calibration slice's probabilities). Scored as of
    // the calibration date, the same companies give the same probabilities: PSI 0, or the server
    // computes features differently from the trainer.
    let calibration_date = train["training"]["calibration_to"].as_str().unwrap();
    let body = drift_as_of(&state, calibration_date).await;
    assert!(body["score"]["psi"].as_f64().unwrap().abs() < 1e-12, "{body}");
    // Three months after the last signal every recent-activity feature has decayed: the
    // population has moved and the score says so.
    let body = drift_as_of(&state, "2026-09-30").await;
    assert!(body["score"]["psi"].as_f64().unwrap() > 0.25 && body["score"]["status"] == "shifted", "{body}");

    // The metrics say the same: the model, its quality, the last apply and the shifted drift
    // (what the `MarketLoungeModelDrift` alert reads). Text, not JSON: outside the contract
    // test's client.
    use http_body_util::BodyExt as _;
    use tower::ServiceExt as _;
    let response =
        app(Arc::clone(&state)).oneshot(Request::get("/metrics").body(Body::empty()).unwrap()).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let text = String::from_utf8(response.into_body().collect().await.unwrap().to_bytes().to_vec()).unwrap();
    use common::metrics::value;
    let labelled = format!("version=\"{version}\"");
    assert_eq!(value(&text, "marketlounge_scoring_model_info", &[&labelled]), Some(1.0), "{text}");
    let auc = value(&text, "marketlounge_scoring_model_auc", &["rows=\"calibration\""]).unwrap();
    assert!(auc > 0.5 && auc <= 1.0, "{auc}");
    assert!(value(&text, "marketlounge_scoring_model_ece", &["rows=\"calibration\""]).is_some(), "{text}");
    let psi = value(&text, "marketlounge_scoring_score_drift_psi", &[]).unwrap();
    assert_eq!(psi, body["score"]["psi"].as_f64().unwrap());
    assert_eq!(value(&text, "marketlounge_scoring_score_drift_shifted", &[]), Some(1.0));
    let applied = value(&text, "marketlounge_scoring_last_apply_timestamp_seconds", &[]).unwrap();
    assert!((jiff::Timestamp::now().as_second() as f64 - applied).abs() < 600.0, "{applied}");
    // This server has answered requests and applied a model: every family has its series, so
    // the alerting rules and the dashboard must find every name they use.
    common::metrics::assert_monitoring_uses_served_names(&text);
}
