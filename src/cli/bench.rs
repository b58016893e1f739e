//! `marketlounge bench match`: in-process latency of the query path over a query file, on an
//! existing index (the same `Matcher::run` as `POST /api/v1/match`, without HTTP).
//!
//! Query vectors are computed once first (their cost is reported separately, per query), then
//! every query runs `--rounds` times with its vector cached, as a server's query cache would
//! serve a repeated query: the timed part is interpretation, retrieval, fusion, explanation and
//! hit materialisation.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::Context;
use hdrhistogram::Histogram;
use marketlounge_index::embed::QueryEmbedder;
use marketlounge_index::engine::Engine;
use marketlounge_index::search::{MatchRequest, Mode};

use crate::indexing::{DataDirLock, engine_options};
use crate::settings::Settings;

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: BenchCommand,
}

#[derive(Debug, clap::Subcommand)]
enum BenchCommand {
    /// Latency of `match` queries (p50/p90/p99/max in µs).
    Match(MatchArgs),
    /// Latency of typeahead completions (ns): every prefix of each query, then one-typo
    /// variants with typo tolerance.
    Suggest(SuggestArgs),
}

#[derive(Debug, clap::Args)]
#[command(group(clap::ArgGroup::new("source").required(true).args(["data", "companies"])))]
struct SuggestArgs {
    /// Data directory of a built index: the server's path (concepts, places and the index's
    /// company names, deletions and opportunity weights included).
    #[arg(long)]
    data: Option<PathBuf>,
    /// Or company records (NDJSON, optionally the first `--limit`): their names alone.
    #[arg(long)]
    companies: Option<PathBuf>,
    #[arg(long)]
    limit: Option<usize>,
    /// Queries, one per line (`#` starts a comment).
    #[arg(long, default_value = "benches/queries/suggest.txt")]
    queries: PathBuf,
    #[arg(long, default_value_t = 8)]
    k: usize,
    /// Timed passes over the query set.
    #[arg(long, default_value_t = 20)]
    rounds: usize,
}

#[derive(Debug, clap::Args)]
struct MatchArgs {
    /// Data directory of a built index.
    #[arg(long)]
    data: PathBuf,
    /// Queries, one per line (`#` starts a comment).
    #[arg(long, default_value = "benches/queries/match.txt")]
    queries: PathBuf,
    #[arg(long, default_value_t = 10)]
    k: usize,
    /// Ask for explanations (as the target does).
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    explain: bool,
    #[arg(long, value_enum, default_value_t = BenchMode::Hybrid)]
    mode: BenchMode,
    /// Timed passes over the query file.
    #[arg(long, default_value_t = 20)]
    rounds: usize,
    /// Print one JSON object.
    #[arg(long)]
    json: bool,
    /// The embedder the index was built with (default: the settings').
    #[arg(long, value_enum)]
    embedder: Option<crate::settings::EmbedderKind>,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum BenchMode {
    Hybrid,
    Lexical,
    Vector,
    Rrf,
}

pub fn run(args: &Args, settings: &Settings) -> anyhow::Result<ExitCode> {
    match &args.command {
        BenchCommand::Match(args) => bench_match(args, settings),
        BenchCommand::Suggest(args) => bench_suggest(args),
    }
}

fn bench_match(args: &MatchArgs, settings: &Settings) -> anyhow::Result<ExitCode> {
    let text = std::fs::read_to_string(&args.queries).with_context(|| format!("reading {}", args.queries.display()))?;
    let queries: Vec<&str> = text.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#')).collect();
    anyhow::ensure!(!queries.is_empty(), "{} holds no query", args.queries.display());
    let _lock = DataDirLock::acquire(&args.data)?;
    let started = Instant::now();
    let kind = args.embedder.unwrap_or(settings.index.embedder);
    let options = engine_options(settings, kind)?;
    let embedder = options.embedder.clone();
    let dims = options.vectors.as_ref().map(|v| v.dims);
    let engine =
        Engine::open(&args.data, options).with_context(|| format!("opening the index in {}", args.data.display()))?;
    let snapshot = engine.snapshot();
    let opened = started.elapsed();
    let matcher = crate::query::matcher(settings)?;
    let mode = match args.mode {
        BenchMode::Hybrid => Mode::Hybrid,
        BenchMode::Lexical => Mode::Lexical,
        BenchMode::Vector => Mode::Vector,
        BenchMode::Rrf => Mode::Rrf,
    };
    let requests: Vec<MatchRequest> = queries
        .iter()
        .map(|q| MatchRequest { k: args.k, mode, explain: args.explain, ..MatchRequest::new(*q) })
        .collect();

    // Query vectors, each computed once (timed: the uncached cost).
    let query_embedder = embedder.map(|e| QueryEmbedder::new(e, 0));
    let mut embed_us = Histogram::<u64>::new(3)?;
    let mut vectors = Vec::with_capacity(requests.len());
    for request in &requests {
        let t = Instant::now();
        let vector = crate::query::query_vector(&matcher.prepare(request), query_embedder.as_ref(), dims)
            .map_err(|err| anyhow::anyhow!("embedding {:?}: {err}", request.query))?;
        if vector.is_some() {
            embed_us.record(t.elapsed().as_micros() as u64)?;
        }
        vectors.push(vector);
    }

    // Warm-up pass (page cache, lazily built samples), then the timed rounds.
    for (request, vector) in requests.iter().zip(&vectors) {
        matcher.run(&snapshot, request, vector.as_deref()).map_err(|err| anyhow::anyhow!("{err}"))?;
    }
    let mut match_us = Histogram::<u64>::new(3)?;
    let mut hits = 0usize;
    let timed = Instant::now();
    let cpu_before = process_cpu_ticks();
    for _ in 0..args.rounds {
        for (request, vector) in requests.iter().zip(&vectors) {
            let t = Instant::now();
            let response =
                matcher.run(&snapshot, request, vector.as_deref()).map_err(|err| anyhow::anyhow!("{err}"))?;
            match_us.record(t.elapsed().as_micros().max(1) as u64)?;
            hits += response.hits.len();
        }
    }
    let qps = match_us.len() as f64 / timed.elapsed().as_secs_f64();
    // CPU time of the whole process (every thread a query fans out to) per query: what bounds
    // throughput on a loaded server, and steadier than wall time on a shared machine.
    let cpu_ms_per_query = cpu_before.zip(process_cpu_ticks()).map(|(before, after)| {
        after.saturating_sub(before) as f64 * 1000.0 / CLOCK_TICKS_PER_S / match_us.len().max(1) as f64
    });
    let report = serde_json::json!({
        "documents": snapshot.live_count(),
        "segments": snapshot.segments.len(),
        "queries": requests.len(),
        "rounds": args.rounds,
        "mode": mode.as_str(),
        "k": args.k,
        "explain": args.explain,
        "open_ms": opened.as_secs_f64() * 1000.0,
        "match_us": summary(&match_us),
        "queries_per_s_one_thread": qps,
        "cpu_ms_per_query": cpu_ms_per_query,
        "mean_hits": hits as f64 / match_us.len().max(1) as f64,
        "embed_uncached_us": (!embed_us.is_empty()).then(|| summary(&embed_us)),
    });
    if args.json {
        println!("{report}");
    } else {
        println!("{}", serde_json::to_string_pretty(&report)?);
    }
    Ok(ExitCode::SUCCESS)
}

/// Linux's `USER_HZ`: the unit of `/proc` CPU times (100 on every mainstream architecture).
const CLOCK_TICKS_PER_S: f64 = 100.0;

/// User + system CPU time of this process so far, in clock ticks (Linux; `None` elsewhere).
fn process_cpu_ticks() -> Option<u64> {
    parse_process_cpu_ticks(&std::fs::read_to_string("/proc/self/stat").ok()?)
}

/// Fields 14 and 15 (utime, stime) of `/proc/PID/stat`, counted after the command name, which
/// is in parentheses and may hold spaces and parentheses itself.
fn parse_process_cpu_ticks(stat: &str) -> Option<u64> {
    let after_name = &stat[stat.rfind(')')? + 1..];
    let mut fields = after_name.split_whitespace().skip(11);
    let user: u64 = fields.next()?.parse().ok()?;
    let system: u64 = fields.next()?.parse().ok()?;
    Some(user + system)
}

fn summary(histogram: &Histogram<u64>) -> serde_json::Value {
    serde_json::json!({
        "n": histogram.len(),
        "p50": histogram.value_at_quantile(0.50),
        "p90": histogram.value_at_quantile(0.90),
        "p99": histogram.value_at_quantile(0.99),
        "max": histogram.max(),
    })
}

fn bench_suggest(args: &SuggestArgs) -> anyhow::Result<ExitCode> {
    use marketlounge_index::suggest::SuggestIndex;
    let text = std::fs::read_to_string(&args.queries).with_context(|| format!("reading {}", args.queries.display()))?;
    let queries: Vec<&str> = text.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#')).collect();
    anyhow::ensure!(!queries.is_empty(), "{} holds no query", args.queries.display());

    let interpreter = marketlounge_index::interpret::Interpreter::embedded()?;
    let suggester = marketlounge_index::suggest::Suggester::new(std::sync::Arc::new(interpreter));
    let started = Instant::now();
    type Run<'a> = Box<dyn Fn(&str, bool) -> anyhow::Result<usize> + 'a>;
    let _lock;
    let engine;
    let (source, entries, built, run): (&str, usize, _, Run<'_>) = match (&args.data, &args.companies) {
        (Some(data), _) => {
            _lock = DataDirLock::acquire(data)?;
            let options = engine_options(&Settings::default_settings(), crate::settings::EmbedderKind::None)?;
            engine = Engine::open(data, options).with_context(|| format!("opening the index in {}", data.display()))?;
            let snapshot = engine.snapshot();
            suggester.warm(&snapshot).map_err(|err| anyhow::anyhow!("{err}"))?;
            let built = started.elapsed();
            let (k, live) = (args.k, snapshot.live_count() as usize);
            let suggester = &suggester;
            let run = move |q: &str, fuzzy: bool| -> anyhow::Result<usize> {
                let request =
                    marketlounge_index::suggest::SuggestRequest { q: q.to_owned(), k, kinds: Vec::new(), fuzzy };
                let found = suggester.suggest(&snapshot, &request).map_err(|err| anyhow::anyhow!("{err}"))?;
                Ok(found.suggestions.len())
            };
            ("index", live, built, Box::new(run))
        }
        (None, Some(companies)) => {
            let index = SuggestIndex::build(read_names(companies, args.limit)?);
            let built = started.elapsed();
            let (k, n) = (args.k, index.len());
            let run = move |q: &str, fuzzy: bool| -> anyhow::Result<usize> { Ok(index.suggest(q, k, fuzzy).len()) };
            ("names", n, built, Box::new(run))
        }
        (None, None) => anyhow::bail!("give --data or --companies"),
    };

    // Every prefix of every query (by characters), and one transposition in each query of 4+.
    let mut exact: Vec<String> = Vec::new();
    let mut typos: Vec<String> = Vec::new();
    for query in &queries {
        let chars: Vec<char> = query.chars().collect();
        for n in 1..=chars.len() {
            exact.push(chars[..n].iter().collect());
        }
        if chars.len() >= 4 {
            let mut swapped = chars.clone();
            let at = chars.len() / 2;
            swapped.swap(at - 1, at);
            typos.push(swapped.into_iter().collect());
        }
    }
    let time =
        |set: &[String], fuzzy: bool, by_length: &mut [Histogram<u64>]| -> anyhow::Result<(Histogram<u64>, usize)> {
            let mut all = Histogram::<u64>::new(3)?;
            let mut results = 0;
            for _ in 0..args.rounds {
                for query in set {
                    let t = Instant::now();
                    let found = run(query, fuzzy)?;
                    let ns = t.elapsed().as_nanos().max(1) as u64;
                    all.record(ns)?;
                    if let Some(h) = by_length.get_mut(query.chars().count().saturating_sub(1)) {
                        h.record(ns)?;
                    }
                    results += found;
                }
            }
            Ok((all, results))
        };
    // Warm-up.
    for query in exact.iter().chain(&typos) {
        std::hint::black_box(run(query, true)?);
    }
    let mut by_length: Vec<Histogram<u64>> = (0..6).map(|_| Histogram::new(3)).collect::<Result<_, _>>()?;
    let (exact_ns, exact_results) = time(&exact, false, &mut by_length)?;
    // The same prefixes with typo tolerance on, as the server's default (it costs only when
    // their exact completions are fewer than k).
    let (tolerant_ns, _) = time(&exact, true, &mut [])?;
    let (typo_ns, typo_results) = time(&typos, true, &mut [])?;
    // Keystroke saving over the glossary's concept labels (the metric).
    let (saving_exact, saving_typo) = (suggester.keystroke_saving(5, false), suggester.keystroke_saving(5, true));
    let report = serde_json::json!({
        "source": source,
        "companies": entries,
        "build_s": built.as_secs_f64(),
        "k": args.k,
        "exact_prefix_ns": summary(&exact_ns),
        "exact_prefix_ns_by_chars": by_length.iter().enumerate().map(|(i, h)| (format!("{}", i + 1), summary(h))).collect::<serde_json::Map<_, _>>(),
        "mean_exact_results": exact_results as f64 / exact_ns.len().max(1) as f64,
        "exact_prefix_typo_tolerant_ns": summary(&tolerant_ns),
        "one_typo_ns": summary(&typo_ns),
        "mean_typo_results": typo_results as f64 / typo_ns.len().max(1) as f64,
        "keystroke_saving_top5": {"exact": saving_exact, "one_typo": saving_typo},
    });
    println!("{}", serde_json::to_string_pretty(&report)?);
    Ok(ExitCode::SUCCESS)
}

/// Company names from an NDJSON file of company records (the first `limit`).
fn read_names(path: &std::path::Path, limit: Option<usize>) -> anyhow::Result<Vec<marketlounge_index::suggest::Entry>> {
    use marketlounge_index::suggest::{Entry, Kind};
    use std::io::BufRead;
    #[derive(serde::Deserialize)]
    struct Named {
        id: String,
        name: String,
    }
    let file = std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let mut entries = Vec::new();
    for (n, line) in std::io::BufReader::new(file).lines().enumerate() {
        if limit.is_some_and(|limit| entries.len() >= limit) {
            break;
        }
        let line = line.with_context(|| format!("{} line {}", path.display(), n + 1))?;
        let named: Named = serde_json::from_str(&line)
            .with_context(|| format!("{} line {}: a company record", path.display(), n + 1))?;
        entries.push(Entry { text: named.name, kind: Kind::Company, id: Some(named.id), weight: 1.0 });
    }
    Ok(entries)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn process_cpu_ticks_are_utime_plus_stime_after_the_name() {
        // A command name with spaces and a parenthesis; utime 1234, stime 56.
        let stat = "4242 (market (lounge) x) S 1 4242 4242 0 -1 4194560 900 0 3 0 1234 56 0 0 20 0 3 0";
        assert_eq!(parse_process_cpu_ticks(stat), Some(1290));
        assert_eq!(parse_process_cpu_ticks("4242 (short) S 1 2"), None);
        assert_eq!(parse_process_cpu_ticks("no name at all"), None);
        #[cfg(target_os = "linux")]
        assert!(process_cpu_ticks().is_some());
    }
}
