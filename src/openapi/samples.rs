//! Code samples (curl, Python, JavaScript) for the main calls, as Redocly's `x-codeSamples`:
//! what a partner copies first. Their bodies are the operations' examples, so a sample never
//! sends what the document does not describe.

use serde_json::{Value, json};

/// The samples of an operation, by its id.
pub fn code_samples(operation_id: &str) -> Option<Value> {
    let (curl, python, javascript) = match operation_id {
        "match" => (MATCH_CURL, MATCH_PYTHON, MATCH_JAVASCRIPT),
        "suggest" => (SUGGEST_CURL, SUGGEST_PYTHON, SUGGEST_JAVASCRIPT),
        "upsertCompanies" => (UPSERT_CURL, UPSERT_PYTHON, UPSERT_JAVASCRIPT),
        _ => return None,
    };
    Some(json!([
        {"lang": "Shell", "label": "curl", "source": curl},
        {"lang": "Python", "label": "Python", "source": python},
        {"lang": "JavaScript", "label": "JavaScript", "source": javascript},
    ]))
}

const MATCH_CURL: &str = r#"curl -s http://localhost:7700/api/v1/match \
  -H "Authorization: Bearer $MARKETLOUNGE_KEY" \
  -H 'Content-Type: application/json' \
  -d '{"query": "usinage titane aéronautique près de Lyon", "k": 10}'"#;

const MATCH_PYTHON: &str = r#"import os, requests

answer = requests.post(
    "http://localhost:7700/api/v1/match",
    headers={"Authorization": f"Bearer {os.environ['MARKETLOUNGE_KEY']}"},
    json={"query": "usinage titane aéronautique près de Lyon", "k": 10},
    timeout=10,
)
answer.raise_for_status()
for hit in answer.json()["hits"]:
    print(hit["id"], hit["name"], round(hit["score"], 3))"#;

const MATCH_JAVASCRIPT: &str = r#"const answer = await fetch("http://localhost:7700/api/v1/match", {
  method: "POST",
  headers: {
    "Authorization": `Bearer ${process.env.MARKETLOUNGE_KEY}`,
    "Content-Type": "application/json",
  },
  body: JSON.stringify({ query: "usinage titane aéronautique près de Lyon", k: 10 }),
});
if (!answer.ok) throw new Error((await answer.json()).error.message);
const { hits } = await answer.json();
for (const hit of hits) console.log(hit.id, hit.name, hit.score);"#;

const SUGGEST_CURL: &str = r#"curl -s -G http://localhost:7700/api/v1/suggest \
  -H "X-API-Key: $MARKETLOUNGE_KEY" \
  --data-urlencode 'q=usinage ti' -d k=8"#;

const SUGGEST_PYTHON: &str = r#"import os, requests

answer = requests.get(
    "http://localhost:7700/api/v1/suggest",
    headers={"X-API-Key": os.environ["MARKETLOUNGE_KEY"]},
    params={"q": "usinage ti", "k": 8},
    timeout=5,
)
answer.raise_for_status()
print([s["text"] for s in answer.json()["suggestions"]])"#;

const SUGGEST_JAVASCRIPT: &str = r#"// In a browser, with a publishable key (mlk_pub_…) that lists this page's origin.
const url = new URL("http://localhost:7700/api/v1/suggest");
url.searchParams.set("q", "usinage ti");
url.searchParams.set("k", "8");
const answer = await fetch(url, { headers: { "X-API-Key": PUBLISHABLE_KEY } });
const { suggestions } = await answer.json();
console.log(suggestions.map((s) => s.text));"#;

const UPSERT_CURL: &str = r#"# One record as JSON, or a batch as NDJSON (one record per line):
curl -s http://localhost:7700/api/v1/companies \
  -H "Authorization: Bearer $MARKETLOUNGE_KEY" \
  -H 'Content-Type: application/x-ndjson' \
  --data-binary @companies.ndjson"#;

const UPSERT_PYTHON: &str = r#"import json, os, requests

companies = [{
    "id": "732829320",
    "name": "Mécanique Précision Forez",
    "description": "Usinage de pièces de précision en petites et moyennes séries.",
    "naf": "25.62B",
    "address": {"postal_code": "42000", "commune": "Saint-Étienne", "commune_code": "42218"},
}]
answer = requests.post(
    "http://localhost:7700/api/v1/companies",
    headers={
        "Authorization": f"Bearer {os.environ['MARKETLOUNGE_KEY']}",
        "Content-Type": "application/x-ndjson",
    },
    data="".join(json.dumps(c, ensure_ascii=False) + "\n" for c in companies).encode(),
    timeout=60,
)
answer.raise_for_status()
print(answer.json())  # {"acknowledged": 1, "seq": …, "visible_within_ms": …}"#;

const UPSERT_JAVASCRIPT: &str = r#"const company = {
  id: "732829320",
  name: "Mécanique Précision Forez",
  description: "Usinage de pièces de précision en petites et moyennes séries.",
  naf: "25.62B",
  address: { postal_code: "42000", commune: "Saint-Étienne", commune_code: "42218" },
};
const answer = await fetch("http://localhost:7700/api/v1/companies", {
  method: "POST",
  headers: {
    "Authorization": `Bearer ${process.env.MARKETLOUNGE_KEY}`,
    "Content-Type": "application/json",
  },
  body: JSON.stringify(company),
});
console.log(await answer.json()); // { acknowledged: 1, seq: …, visible_within_ms: … }"#;
