//! `marketlounge eval`: relevance on a BEIR-layout benchmark through the real pipeline.
//!
//! The corpus becomes companies (title → name, text → savoir-faire phrases, split at `;`),
//! indexed into a temporary data directory by the same engine as `index build`; every query
//! runs through the same `Matcher::run` as `POST /api/v1/match`. Document vectors are cached by
//! content hash (`embedding.vector_cache_dir`, default `${XDG_CACHE_HOME:-~/.cache}/marketlounge/
//! eval-vectors`), query vectors in the same directory, so a second run embeds nothing.
//!
//! Metrics follow trec_eval: nDCG@10 with gains = qrel grades and log2(rank + 1) discounts, the
//! ideal from the qrels; Recall@k over the judged relevant documents; MRR@10; queries without a
//! relevant document in the qrels are left out.

use std::collections::{BTreeMap, HashMap};
use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{Context, bail};
use marketlounge_index::analysis::prefix_within;
use marketlounge_index::embed::{Embedder, TextKind, VectorCache, content_hash};
use marketlounge_index::engine::Engine;
use marketlounge_index::search::{MatchRequest, Mode, PreparedQuery};
use serde::{Deserialize, Serialize};

use super::progress::{Progress, build_phases};
use crate::indexing::{CompanySource, engine_options};
use crate::settings::{EmbedderKind, Settings};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Documents, JSON lines `{"_id", "title", "text"}`.
    #[arg(long)]
    corpus: PathBuf,
    /// Queries, JSON lines `{"_id", "text", "metadata": {"lang", "kind", "hard_negative"}}`.
    #[arg(long)]
    queries: PathBuf,
    /// Judgements, TSV `query-id corpus-id score` with a header line.
    #[arg(long)]
    qrels: PathBuf,
    #[arg(long, value_enum, default_value_t = EvalMode::Hybrid)]
    mode: EvalMode,
    /// Where document and query vectors come from.
    #[arg(long, value_enum, default_value_t = EmbedderKind::Onnx)]
    embedder: EmbedderKind,
    /// Print one JSON object instead of a table.
    #[arg(long)]
    json: bool,
    /// Keep the index in this directory (default: a temporary one, removed afterwards).
    #[arg(long)]
    data: Option<PathBuf>,
    /// Write every query's ranked candidates with their raw and calibrated components (JSON
    /// lines), for studying the fusion.
    #[arg(long)]
    dump: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum EvalMode {
    Hybrid,
    Lexical,
    Vector,
    Rrf,
}

impl From<EvalMode> for Mode {
    fn from(mode: EvalMode) -> Mode {
        match mode {
            EvalMode::Hybrid => Mode::Hybrid,
            EvalMode::Lexical => Mode::Lexical,
            EvalMode::Vector => Mode::Vector,
            EvalMode::Rrf => Mode::Rrf,
        }
    }
}

#[derive(Debug, Deserialize)]
struct CorpusDoc {
    #[serde(rename = "_id")]
    id: String,
    #[serde(default)]
    title: String,
    #[serde(default)]
    text: String,
}

#[derive(Debug, Deserialize)]
struct Query {
    #[serde(rename = "_id")]
    id: String,
    text: String,
    #[serde(default)]
    metadata: QueryMeta,
}

#[derive(Debug, Default, Deserialize)]
struct QueryMeta {
    lang: Option<String>,
    kind: Option<String>,
    hard_negative: Option<String>,
}

/// Metrics of a set of queries.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Metrics {
    pub n_queries: usize,
    pub ndcg_at_10: f64,
    pub recall_at_10: f64,
    pub recall_at_100: f64,
    pub mrr_at_10: f64,
    /// Share of the queries with a hard negative where it outranks every relevant document
    /// (`null` when no query has one).
    pub hard_negative_first: Option<f64>,
}

#[derive(Debug, Serialize)]
struct Report {
    mode: &'static str,
    #[serde(flatten)]
    overall: Metrics,
    groups: BTreeMap<String, Metrics>,
}

/// One query's scores.
#[derive(Debug, Clone, Copy, Default)]
pub struct QueryScores {
    pub ndcg_at_10: f64,
    pub recall_at_10: f64,
    pub recall_at_100: f64,
    pub mrr_at_10: f64,
    /// `Some(true)` when the hard negative outranks every relevant document.
    pub hard_negative_first: Option<bool>,
}

/// trec_eval's measures for one ranking (`ranked`: document ids, best first).
pub fn score_query(ranked: &[String], relevant: &HashMap<String, f64>, hard_negative: Option<&str>) -> QueryScores {
    let gain = |doc: &String| relevant.get(doc).copied().unwrap_or(0.0).max(0.0);
    let dcg: f64 = ranked.iter().take(10).enumerate().map(|(i, d)| gain(d) / (i as f64 + 2.0).log2()).sum();
    let mut ideal: Vec<f64> = relevant.values().copied().filter(|g| *g > 0.0).collect();
    ideal.sort_by(|a, b| b.total_cmp(a));
    let idcg: f64 = ideal.iter().take(10).enumerate().map(|(i, g)| g / (i as f64 + 2.0).log2()).sum();
    let n_relevant = ideal.len() as f64;
    let found = |k: usize| ranked.iter().take(k).filter(|d| gain(d) > 0.0).count() as f64;
    let first = ranked.iter().take(10).position(|d| gain(d) > 0.0);
    let hard_negative_first = hard_negative.map(|negative| {
        let negative_rank = ranked.iter().position(|d| d == negative);
        let best_relevant = ranked.iter().position(|d| gain(d) > 0.0);
        match (negative_rank, best_relevant) {
            (Some(n), Some(r)) => n < r,
            (Some(_), None) => true,
            (None, _) => false,
        }
    });
    QueryScores {
        ndcg_at_10: if idcg > 0.0 { dcg / idcg } else { 0.0 },
        recall_at_10: if n_relevant > 0.0 { found(10) / n_relevant } else { 0.0 },
        recall_at_100: if n_relevant > 0.0 { found(100) / n_relevant } else { 0.0 },
        mrr_at_10: first.map_or(0.0, |r| 1.0 / (r as f64 + 1.0)),
        hard_negative_first,
    }
}

/// Means of per-query scores.
pub fn aggregate(scores: &[QueryScores]) -> Metrics {
    let n = scores.len().max(1) as f64;
    let mean = |f: fn(&QueryScores) -> f64| scores.iter().map(f).sum::<f64>() / n;
    let with_negative: Vec<bool> = scores.iter().filter_map(|s| s.hard_negative_first).collect();
    Metrics {
        n_queries: scores.len(),
        ndcg_at_10: mean(|s| s.ndcg_at_10),
        recall_at_10: mean(|s| s.recall_at_10),
        recall_at_100: mean(|s| s.recall_at_100),
        mrr_at_10: mean(|s| s.mrr_at_10),
        hard_negative_first: (!with_negative.is_empty())
            .then(|| with_negative.iter().filter(|&&f| f).count() as f64 / with_negative.len() as f64),
    }
}

fn read_lines<T: for<'de> Deserialize<'de>>(path: &Path) -> anyhow::Result<Vec<T>> {
    let file = std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let mut out = Vec::new();
    for (idx, line) in std::io::BufReader::new(file).lines().enumerate() {
        let line = line.with_context(|| format!("{} line {}", path.display(), idx + 1))?;
        if line.trim().is_empty() {
            continue;
        }
        out.push(serde_json::from_str(&line).with_context(|| format!("{} line {}", path.display(), idx + 1))?);
    }
    Ok(out)
}

fn read_qrels(path: &Path) -> anyhow::Result<HashMap<String, HashMap<String, f64>>> {
    let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let mut qrels: HashMap<String, HashMap<String, f64>> = HashMap::new();
    for (idx, line) in text.lines().enumerate() {
        let fields: Vec<&str> = line.split('\t').collect();
        if idx == 0 && fields.first().is_some_and(|f| f.contains("query")) {
            continue;
        }
        if line.trim().is_empty() {
            continue;
        }
        let [query, doc, score] = fields[..] else {
            bail!("{} line {}: expected `query-id<TAB>corpus-id<TAB>score`", path.display(), idx + 1);
        };
        let score: f64 =
            score.trim().parse().with_context(|| format!("{} line {}: score {score:?}", path.display(), idx + 1))?;
        qrels.entry(query.to_owned()).or_default().insert(doc.to_owned(), score);
    }
    Ok(qrels)
}

/// The company a corpus document becomes: the title is the name, the text's `;`-separated
/// parts the savoir-faire (a part too long for one, over 500 characters, goes to the
/// description). Everything else is fixed and neutral (one place, one NAF code), so only the
/// text can rank it.
fn company_line(ordinal: usize, doc: &CorpusDoc) -> String {
    let (capabilities, long): (Vec<&str>, Vec<&str>) =
        doc.text.split(';').map(str::trim).filter(|s| !s.is_empty()).partition(|s| s.chars().count() <= 500);
    let name = if doc.title.trim().is_empty() { doc.id.as_str() } else { prefix_within(doc.title.trim(), 200) };
    serde_json::json!({
        "id": siren_like(ordinal),
        "name": name,
        "capabilities": capabilities,
        "description": prefix_within(&long.join(" ; "), 20_000),
        "naf": "25.62B",
        "headcount": "10-19",
        "created": "2000-01-01",
        "address": {"postal_code": "75001", "commune": "Paris", "commune_code": "75056"},
    })
    .to_string()
}

/// A valid SIREN-like id for the `ordinal`-th document: 8 digits and a Luhn check digit.
fn siren_like(ordinal: usize) -> String {
    marketlounge_index::record::siren_with_check_digit(ordinal as u32 + 1)
}

fn cache_dir(settings: &Settings) -> PathBuf {
    if !settings.embedding.vector_cache_dir.is_empty() {
        return PathBuf::from(&settings.embedding.vector_cache_dir);
    }
    let base = std::env::var_os("XDG_CACHE_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".cache")))
        .unwrap_or_else(std::env::temp_dir);
    base.join("marketlounge").join("eval-vectors")
}

/// Removes the temporary index when the evaluation ends, however it ends.
struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

pub fn run(args: &Args, settings: &Settings) -> anyhow::Result<ExitCode> {
    let started = Instant::now();
    let corpus: Vec<CorpusDoc> = read_lines(&args.corpus)?;
    let queries: Vec<Query> = read_lines(&args.queries)?;
    let qrels = read_qrels(&args.qrels)?;
    let mode = Mode::from(args.mode);

    let mut settings = settings.clone();
    let cache = cache_dir(&settings);
    settings.embedding.vector_cache_dir = cache.to_string_lossy().into_owned();
    // One indexing thread: the same corpus then always gets the same document order and the
    // same HNSW graph, so two runs (and two versions of the ranking) compare exactly.
    settings.index.indexing_threads = 1;
    let embedder_kind = if mode == Mode::Lexical { EmbedderKind::None } else { args.embedder };

    let (data, _temp) = match &args.data {
        Some(dir) => (dir.clone(), None),
        None => {
            let dir = std::env::temp_dir().join(format!("marketlounge-eval-{}", std::process::id()));
            (dir.clone(), Some(TempDir(dir)))
        }
    };
    let options = engine_options(&settings, embedder_kind)?;
    let embedder = options.embedder.clone();
    let engine = Engine::open(&data, options).with_context(|| format!("opening the index in {}", data.display()))?;
    let ndjson: String = corpus.iter().enumerate().map(|(i, doc)| company_line(i, doc) + "\n").collect();
    let source = CompanySource::new(std::io::Cursor::new(ndjson.into_bytes()), settings.limits.max_line_bytes);
    let progress = Progress::stderr("eval");
    engine
        .reindex(source, &mut build_phases(&progress, Some(corpus.len() as u64), || engine.vector_counts().0))
        .map_err(|err| anyhow::anyhow!("indexing the corpus: {err}"))?;
    progress.finish();
    let (computed, reused) = engine.vector_counts();
    let indexed = started.elapsed().as_secs_f64();
    eprintln!("indexed {} documents in {indexed:.1}s (vectors: {computed} computed, {reused} reused)", corpus.len());

    let matcher = crate::query::matcher(&settings)?;
    let requests: Vec<MatchRequest> =
        queries.iter().map(|q| MatchRequest { k: 100, mode, ..MatchRequest::new(q.text.clone()) }).collect();
    // Each query interpreted and planned once: its text to embed, then its runs.
    let prepared: Vec<PreparedQuery<'_>> = requests.iter().map(|r| matcher.prepare(r)).collect();
    let vectors = match &embedder {
        Some(embedder) => query_vectors(&prepared, embedder.as_ref(), &cache, &progress)?,
        None => vec![None; requests.len()],
    };
    let id_of: HashMap<String, &str> =
        corpus.iter().enumerate().map(|(i, doc)| (siren_like(i), doc.id.as_str())).collect();
    let snapshot = engine.snapshot();
    let mut dump = match &args.dump {
        Some(path) => Some(std::io::BufWriter::new(
            std::fs::File::create(path).with_context(|| format!("creating {}", path.display()))?,
        )),
        None => None,
    };

    let mut overall = Vec::new();
    let mut groups: BTreeMap<String, Vec<QueryScores>> = BTreeMap::new();
    let query_started = Instant::now();
    progress.start("queries", Some(queries.len() as u64), "queries");
    for ((query, request), vector) in queries.iter().zip(&prepared).zip(&vectors) {
        progress.inc(1);
        let Some(relevant) = qrels.get(&query.id).filter(|r| r.values().any(|g| *g > 0.0)) else { continue };
        let response = matcher
            .run_prepared(&snapshot, request, vector.as_deref())
            .map_err(|err| anyhow::anyhow!("query {}: {err}", query.id))?;
        let ranked: Vec<String> =
            response.hits.iter().filter_map(|h| id_of.get(&h.id).map(|s| (*s).to_owned())).collect();
        if let Some(out) = dump.as_mut() {
            let ranking = matcher
                .rank_prepared(&snapshot, request, vector.as_deref(), 100)
                .map_err(|err| anyhow::anyhow!("query {}: {err}", query.id))?;
            let candidates: Vec<serde_json::Value> = ranking
                .ranked
                .iter()
                .map(|r| {
                    let id = snapshot.segments[r.doc.segment].segment.ids().id(r.doc.ord).unwrap_or_default();
                    serde_json::json!({
                        "doc": id_of.get(&id).copied().unwrap_or(""),
                        "lexical": r.raw.lexical, "vector": r.raw.vector, "chunk": r.raw.chunk, "concept": r.raw.concept,
                        "calibrated": r.components, "score": r.score,
                    })
                })
                .collect();
            let line = serde_json::json!({
                "query": query.id, "lang": query.metadata.lang, "kind": query.metadata.kind,
                "hard_negative": query.metadata.hard_negative, "relevant": relevant,
                "lexical_background": {"matched": ranking.lexical_background.matched,
                    "population": ranking.lexical_background.population,
                    "mean": ranking.lexical_background.mean, "std": ranking.lexical_background.std},
                "vector_background": ranking.vector_background,
                "chunk_background": ranking.chunk_background,
                "candidates": candidates,
            });
            writeln!(out, "{line}")?;
        }
        let scores = score_query(&ranked, relevant, query.metadata.hard_negative.as_deref());
        overall.push(scores);
        let group = format!(
            "{}/{}",
            query.metadata.lang.as_deref().unwrap_or("?"),
            query.metadata.kind.as_deref().unwrap_or("?")
        );
        groups.entry(group).or_default().push(scores);
    }
    if let Some(mut out) = dump {
        out.flush()?;
    }
    progress.finish();
    let per_query_ms = query_started.elapsed().as_secs_f64() * 1000.0 / overall.len().max(1) as f64;
    let report = Report {
        mode: mode.as_str(),
        overall: aggregate(&overall),
        groups: groups.iter().map(|(name, scores)| (name.clone(), aggregate(scores))).collect(),
    };
    if args.json {
        println!("{}", serde_json::to_string(&report)?);
    } else {
        print_table(&report);
        eprintln!(
            "{:.2} ms per query (cached query vectors), {:.1}s in all",
            per_query_ms,
            started.elapsed().as_secs_f64()
        );
    }
    drop(snapshot);
    drop(engine);
    Ok(ExitCode::SUCCESS)
}

/// Queries embedded per call: enough to keep every session of the model busy, few enough that
/// the progress moves every few seconds.
const QUERY_BATCH: usize = 256;

/// Query vectors for every prepared request, from the cache or embedded in batches and cached.
fn query_vectors(
    prepared: &[PreparedQuery<'_>],
    embedder: &dyn Embedder,
    cache_dir: &Path,
    progress: &Progress,
) -> anyhow::Result<Vec<Option<std::sync::Arc<[f32]>>>> {
    let fingerprint = format!("{}:query", embedder.fingerprint());
    let cache = VectorCache::open(cache_dir, &fingerprint, embedder.dims())
        .with_context(|| format!("opening the query vector cache in {}", cache_dir.display()))?;
    let texts: Vec<Option<&str>> = prepared.iter().map(PreparedQuery::text_to_embed).collect();
    let hashes: Vec<Option<u64>> = texts.iter().map(|t| t.as_ref().map(|t| content_hash(&fingerprint, t))).collect();
    let mut vectors: Vec<Option<std::sync::Arc<[f32]>>> =
        hashes.iter().map(|h| h.and_then(|h| cache.get(h)).map(Into::into)).collect();
    let missing: Vec<usize> = (0..prepared.len()).filter(|&i| texts[i].is_some() && vectors[i].is_none()).collect();
    if missing.is_empty() {
        return Ok(vectors);
    }
    progress.start("embedding queries", Some(missing.len() as u64), "queries");
    for chunk in missing.chunks(QUERY_BATCH) {
        let batch: Vec<&str> = chunk.iter().map(|&i| texts[i].expect("missing has text")).collect();
        let embedded = embedder.embed(TextKind::Query, &batch).map_err(|err| anyhow::anyhow!("{err}"))?;
        let entries: Vec<(u64, &[f32])> =
            chunk.iter().zip(&embedded).map(|(&i, v)| (hashes[i].expect("missing has text"), v.as_slice())).collect();
        cache.put_many(entries).with_context(|| format!("writing {}", cache.path().display()))?;
        for (&i, vector) in chunk.iter().zip(embedded) {
            vectors[i] = Some(vector.into());
        }
        progress.inc(chunk.len() as u64);
    }
    progress.finish();
    Ok(vectors)
}

fn print_table(report: &Report) {
    let row = |name: &str, m: &Metrics| {
        let negative = m.hard_negative_first.map_or("-".to_owned(), |h| format!("{:.3}", h));
        println!(
            "{name:<16} {:>6} {:>8.4} {:>8.4} {:>8.4} {:>8.4} {:>8}",
            m.n_queries, m.ndcg_at_10, m.recall_at_10, m.recall_at_100, m.mrr_at_10, negative
        );
    };
    println!("mode: {}", report.mode);
    println!(
        "{:<16} {:>6} {:>8} {:>8} {:>8} {:>8} {:>8}",
        "group", "n", "nDCG@10", "R@10", "R@100", "MRR@10", "hardneg"
    );
    row("all", &report.overall);
    for (name, metrics) in &report.groups {
        row(name, metrics);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn relevant(pairs: &[(&str, f64)]) -> HashMap<String, f64> {
        pairs.iter().map(|(d, g)| ((*d).to_owned(), *g)).collect()
    }

    fn ranked(ids: &[&str]) -> Vec<String> {
        ids.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn metrics_match_a_hand_computed_case() {
        // Relevant: a (grade 1) and b (grade 1); ranking: x a y b.
        // DCG = 1/log2(3) + 1/log2(5) = 0.63093 + 0.43068 = 1.06161
        // IDCG = 1/log2(2) + 1/log2(3) = 1 + 0.63093 = 1.63093 → nDCG = 0.65093
        let scores = score_query(&ranked(&["x", "a", "y", "b"]), &relevant(&[("a", 1.0), ("b", 1.0)]), Some("x"));
        assert!((scores.ndcg_at_10 - 0.650_93).abs() < 1e-4, "{}", scores.ndcg_at_10);
        assert_eq!(scores.recall_at_10, 1.0);
        assert_eq!(scores.mrr_at_10, 0.5);
        assert_eq!(scores.hard_negative_first, Some(true));

        // Graded: d (1) at rank 1, c (2) at rank 2, e (1) not retrieved. DCG = 1 + 2/log2(3);
        // IDCG = 2 + 1/log2(3) + 1/log2(4).
        let scores = score_query(&ranked(&["d", "c"]), &relevant(&[("c", 2.0), ("d", 1.0), ("e", 1.0)]), Some("z"));
        let idcg = 2.0 + 1.0 / 3f64.log2() + 1.0 / 4f64.log2();
        assert!((scores.ndcg_at_10 - (1.0 + 2.0 / 3f64.log2()) / idcg).abs() < 1e-9);
        assert!((scores.recall_at_10 - 2.0 / 3.0).abs() < 1e-12);
        assert_eq!(scores.mrr_at_10, 1.0);
        assert_eq!(scores.hard_negative_first, Some(false));
    }

    #[test]
    fn relevant_beyond_ten_counts_for_recall_at_100_only() {
        let mut ids: Vec<String> = (0..50).map(|i| format!("n{i}")).collect();
        ids[30] = "r".into();
        let scores = score_query(&ids, &relevant(&[("r", 1.0)]), None);
        assert_eq!(
            (scores.ndcg_at_10, scores.recall_at_10, scores.recall_at_100, scores.mrr_at_10),
            (0.0, 0.0, 1.0, 0.0)
        );
        assert_eq!(scores.hard_negative_first, None);
        let all = aggregate(&[scores, QueryScores { ndcg_at_10: 1.0, ..QueryScores::default() }]);
        assert_eq!(all.ndcg_at_10, 0.5);
        assert_eq!(all.hard_negative_first, None);
    }
}
