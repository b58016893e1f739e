//! `datagen`: deterministic, realistic demo data for MarketLounge.
//!
//! `cargo run --release -p datagen -- --companies N --seed S --out DIR` writes
//! `companies.ndjson`, `signals.ndjson`, `articles.ndjson` and `outcomes.ndjson` to DIR. The same
//! N and seed always give byte-identical files, whatever the number of threads. See README.md
//! for the latent process behind signals and outcomes.
#![forbid(unsafe_code)]

mod activity;
mod company;
mod text;
mod vocab;
mod world;

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::Context;
use clap::Parser;
use jiff::civil::Date;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use crate::world::World;

#[derive(Debug, Parser)]
#[command(about = "Generate deterministic, realistic MarketLounge demo data")]
struct Args {
    /// Number of companies.
    #[arg(long)]
    companies: u64,
    /// Random seed: the same seed gives the same files.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Output directory (created if absent).
    #[arg(long)]
    out: PathBuf,
    /// Last day of the simulated history (YYYY-MM-DD); the history covers the 24 months before.
    #[arg(long, default_value = "2026-06-30")]
    end: Date,
}

/// Companies generated per batch: each batch is split across threads, then written in order.
const BATCH: u64 = 8192;

#[derive(Default)]
struct Buffers {
    companies: Vec<u8>,
    signals: Vec<u8>,
    articles: Vec<u8>,
    outcomes: Vec<u8>,
    n_signals: u64,
    n_articles: u64,
    n_outcomes: u64,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    anyhow::ensure!(
        args.companies <= 100_000_000,
        "--companies: at most 100,000,000 (ids are 8 digits plus a check digit)"
    );
    let world = World::load()?;
    std::fs::create_dir_all(&args.out).with_context(|| format!("creating {}", args.out.display()))?;
    let start = args.end.checked_sub(jiff::Span::new().months(activity::N_MONTHS)).context("--end is too early")?;
    let start = start.checked_add(jiff::Span::new().days(1)).context("--end")?;
    let open = |name: &str| -> anyhow::Result<BufWriter<File>> {
        let path = args.out.join(name);
        Ok(BufWriter::with_capacity(
            1 << 20,
            File::create(&path).with_context(|| format!("creating {}", path.display()))?,
        ))
    };
    let mut companies_out = open("companies.ndjson")?;
    let mut signals_out = open("signals.ndjson")?;
    let mut articles_out = open("articles.ndjson")?;
    let mut outcomes_out = open("outcomes.ndjson")?;
    let n_threads = std::thread::available_parallelism().map(usize::from).unwrap_or(1).clamp(1, 16) as u64;
    let started = Instant::now();
    let (mut n_signals, mut n_articles, mut n_outcomes) = (0u64, 0u64, 0u64);
    let mut batch_start = 0;
    while batch_start < args.companies {
        let batch_end = (batch_start + BATCH).min(args.companies);
        let per_thread = (batch_end - batch_start).div_ceil(n_threads);
        let buffers: Vec<anyhow::Result<Buffers>> = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..n_threads)
                .map(|t| {
                    let from = batch_start + t * per_thread;
                    let to = (from + per_thread).min(batch_end);
                    let world = &world;
                    let seed = args.seed;
                    scope.spawn(move || generate_range(world, seed, from, to, start))
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().unwrap_or_else(|_| Err(anyhow::anyhow!("a generator thread panicked"))))
                .collect()
        });
        for buffer in buffers {
            let buffer = buffer?;
            companies_out.write_all(&buffer.companies)?;
            signals_out.write_all(&buffer.signals)?;
            articles_out.write_all(&buffer.articles)?;
            outcomes_out.write_all(&buffer.outcomes)?;
            n_signals += buffer.n_signals;
            n_articles += buffer.n_articles;
            n_outcomes += buffer.n_outcomes;
        }
        batch_start = batch_end;
        if batch_start % (BATCH * 16) == 0 {
            eprintln!("  {batch_start} companies ({:.0}/s)", batch_start as f64 / started.elapsed().as_secs_f64());
        }
    }
    for writer in [&mut companies_out, &mut signals_out, &mut articles_out, &mut outcomes_out] {
        writer.flush()?;
    }
    let elapsed = started.elapsed().as_secs_f64();
    eprintln!(
        "wrote {} companies, {n_signals} signals, {n_articles} articles, {n_outcomes} outcomes to {} in {elapsed:.1} s ({:.0} companies/s)",
        args.companies,
        display(&args.out),
        args.companies as f64 / elapsed.max(1e-9),
    );
    Ok(())
}

fn display(path: &Path) -> String {
    path.display().to_string()
}

/// Company `n`'s random stream depends only on the seed and `n` (SplitMix64 of both), so the
/// output does not depend on how companies are split across threads.
fn rng_for(seed: u64, n: u64) -> ChaCha8Rng {
    let mut z = seed ^ n.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    ChaCha8Rng::seed_from_u64(z ^ (z >> 31))
}

fn generate_range(world: &World, seed: u64, from: u64, to: u64, start: Date) -> anyhow::Result<Buffers> {
    let mut buffers = Buffers::default();
    let end_of_history = start.checked_add(jiff::Span::new().months(activity::N_MONTHS)).unwrap_or(start);
    for n in from..to {
        let mut rng = rng_for(seed, n);
        let generated = company::generate(world, &mut rng, company::siren_for(n, seed), end_of_history);
        let activity = activity::simulate(world, &mut rng, &generated, start);
        serde_json::to_writer(&mut buffers.companies, &generated.company)?;
        buffers.companies.push(b'\n');
        for signal in &activity.signals {
            serde_json::to_writer(&mut buffers.signals, signal)?;
            buffers.signals.push(b'\n');
        }
        for article in &activity.articles {
            serde_json::to_writer(&mut buffers.articles, article)?;
            buffers.articles.push(b'\n');
        }
        for outcome in &activity.outcomes {
            serde_json::to_writer(&mut buffers.outcomes, outcome)?;
            buffers.outcomes.push(b'\n');
        }
        buffers.n_signals += activity.signals.len() as u64;
        buffers.n_articles += activity.articles.len() as u64;
        buffers.n_outcomes += activity.outcomes.len() as u64;
    }
    Ok(buffers)
}

#[cfg(test)]
mod tests {
    use marketlounge_index::ndjson::{Parsed, RecordReader};
    use marketlounge_index::record::{Article, Company, Outcome, Record, Signal};
    use marketlounge_index::refdata::RefData;

    use super::*;

    fn assert_all_valid<T: Record>(bytes: &[u8]) -> usize {
        let mut n = 0;
        for parsed in RecordReader::<_, T>::new(bytes, RefData::embedded()) {
            match parsed.unwrap() {
                Parsed::Valid { .. } => n += 1,
                Parsed::Invalid { line, errors } => panic!("{} line {line}: {errors:?}", T::KIND),
            }
        }
        n
    }

    /// Same seed, same bytes, however the range is split; every record passes validation.
    #[test]
    fn deterministic_and_valid() {
        let world = World::load().unwrap();
        let start = Date::new(2024, 7, 1).unwrap();
        let whole = generate_range(&world, 9, 0, 300, start).unwrap();
        let first = generate_range(&world, 9, 0, 120, start).unwrap();
        let second = generate_range(&world, 9, 120, 300, start).unwrap();
        assert_eq!(whole.companies, [first.companies, second.companies].concat());
        assert_eq!(whole.signals, [first.signals, second.signals].concat());
        let other_seed = generate_range(&world, 10, 0, 300, start).unwrap();
        assert_ne!(whole.companies, other_seed.companies);

        assert_eq!(assert_all_valid::<Company>(&whole.companies), 300);
        assert!(assert_all_valid::<Signal>(&whole.signals) > 300);
        assert!(assert_all_valid::<Article>(&whole.articles) > 50);
        assert_eq!(assert_all_valid::<Outcome>(&whole.outcomes), 300 * 5, "five as-of dates per company");
    }

    /// Profiles are not template clones: descriptions are (nearly) all distinct and the
    /// opening words vary.
    #[test]
    fn texts_vary() {
        let world = World::load().unwrap();
        let buffers = generate_range(&world, 3, 0, 500, Date::new(2024, 7, 1).unwrap()).unwrap();
        let companies: Vec<Company> = buffers
            .companies
            .split(|&b| b == b'\n')
            .filter(|l| !l.is_empty())
            .map(|l| serde_json::from_slice(l).unwrap())
            .collect();
        let descriptions: std::collections::HashSet<&str> = companies.iter().map(|c| c.description.as_str()).collect();
        assert_eq!(descriptions.len(), companies.len());
        let openings: std::collections::HashSet<String> =
            companies.iter().map(|c| c.description.split_whitespace().take(3).collect::<Vec<_>>().join(" ")).collect();
        assert!(openings.len() > 40, "{} distinct openings", openings.len());
        for company in &companies {
            assert!(!company.description.contains('{'), "unfilled slot: {}", company.description);
            assert!(
                !company.description.contains(" de le ") && !company.description.contains(" de un "),
                "{}",
                company.description
            );
        }
    }
}
