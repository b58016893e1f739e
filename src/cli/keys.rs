//! `marketlounge keys`: create, list, revoke and rotate API keys in a data directory, offline
//! (the key table is SQLite: a running server reads the same file). A key's secret is printed
//! once, at creation or rotation, and stored nowhere.

use std::path::PathBuf;

use anyhow::Context;

use crate::auth::secret::MasterSecret;
use crate::auth::store::{KeyRecord, KeySpec, KeyStore};
use crate::auth::{KeyKind, parse_scopes};

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: KeysCommand,
}

#[derive(Debug, clap::Subcommand)]
enum KeysCommand {
    /// Create a key; its secret is printed once.
    Create(CreateArgs),
    /// List the keys (never their secrets).
    List(ListArgs),
    /// Revoke a key, for good.
    Revoke(IdArgs),
    /// Give a key a new secret (printed once); the old one stops working at once.
    Rotate(IdArgs),
}

#[derive(Debug, clap::Args)]
struct DataArgs {
    /// Data directory of the server.
    #[arg(long)]
    data: PathBuf,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, clap::Args)]
struct CreateArgs {
    #[command(flatten)]
    data: DataArgs,
    /// Who the key is for (shown in lists, usage and audit).
    #[arg(long)]
    name: String,
    /// Comma-separated: search, suggest, read, write, feedback, analytics, admin, metrics.
    #[arg(long)]
    scopes: String,
    /// A browser key (`mlk_pub_…`): search, suggest and feedback only, from `--origins`.
    #[arg(long)]
    publishable: bool,
    /// Comma-separated origins a publishable key may be used from (https://shop.example); for a
    /// secret key, the pages its signed tokens may be used from (a token sent with another
    /// `Origin` is refused; one sent without, from a back end, is not).
    #[arg(long, value_delimiter = ',')]
    origins: Vec<String>,
    /// Requests per second.
    #[arg(long)]
    rate: Option<f64>,
    /// Requests allowed at once above the rate.
    #[arg(long)]
    burst: Option<u32>,
    /// Requests per calendar month (UTC).
    #[arg(long)]
    quota: Option<u64>,
    /// Expiry date (UTC midnight), e.g. 2027-01-01.
    #[arg(long)]
    expires: Option<jiff::civil::Date>,
}

#[derive(Debug, clap::Args)]
struct ListArgs {
    #[command(flatten)]
    data: DataArgs,
}

#[derive(Debug, clap::Args)]
struct IdArgs {
    /// The key's id (`key_…`).
    id: String,
    #[command(flatten)]
    data: DataArgs,
}

fn now() -> i64 {
    jiff::Timestamp::now().as_second()
}

pub fn run(args: &Args) -> anyhow::Result<std::process::ExitCode> {
    match &args.command {
        KeysCommand::Create(create) => {
            let data = &create.data;
            let expires_at = match create.expires {
                Some(date) => Some(date.to_zoned(jiff::tz::TimeZone::UTC)?.timestamp().as_second()),
                None => None,
            };
            let spec = KeySpec {
                name: create.name.clone(),
                kind: if create.publishable { KeyKind::Publishable } else { KeyKind::Secret },
                scopes: parse_scopes(&create.scopes)?,
                origins: create.origins.clone(),
                rate: create.rate,
                burst: create.burst,
                quota: create.quota,
                expires_at,
            };
            // Bad input writes nothing: no directory, no server secret, no table.
            spec.check()?;
            std::fs::create_dir_all(&data.data).with_context(|| format!("creating {}", data.data.display()))?;
            let store = KeyStore::open(&data.data, MasterSecret::load_or_create(&data.data)?)?;
            let (record, key) = store.create(&spec, now())?;
            print_with_secret(&record, &key, data.json);
        }
        KeysCommand::List(list) => {
            let store = open_existing(&list.data)?;
            let keys = store.list()?;
            if list.data.json {
                println!("{}", serde_json::to_string_pretty(&keys)?);
            } else {
                for record in &keys {
                    println!("{}", line(record));
                }
            }
        }
        KeysCommand::Revoke(id) => {
            let record = open_existing(&id.data)?.revoke(&id.id, now())?;
            if id.data.json {
                println!("{}", serde_json::to_string_pretty(&record)?);
            } else {
                println!("revoked {}", line(&record));
            }
        }
        KeysCommand::Rotate(id) => {
            let (record, key) = open_existing(&id.data)?.rotate(&id.id, now())?;
            print_with_secret(&record, &key, id.data.json);
        }
    }
    Ok(std::process::ExitCode::SUCCESS)
}

/// The store of a directory that already has a server secret (listing or changing keys never
/// creates one).
fn open_existing(data: &DataArgs) -> anyhow::Result<KeyStore> {
    let secret = MasterSecret::load(&data.data)?.with_context(|| {
        format!(
            "{} has no server secret ({} or {}): create a key first",
            data.data.display(),
            crate::auth::secret::MASTER_KEY_VAR,
            crate::auth::secret::MASTER_KEY_FILE
        )
    })?;
    Ok(KeyStore::open(&data.data, secret)?)
}

fn print_with_secret(record: &KeyRecord, key: &str, json: bool) {
    if json {
        let mut value = serde_json::to_value(record).expect("records serialise");
        value["key"] = serde_json::Value::String(key.to_owned());
        println!("{}", serde_json::to_string_pretty(&value).expect("values serialise"));
    } else {
        println!("{}", line(record));
        println!("key (shown once, stored nowhere): {key}");
    }
}

fn line(record: &KeyRecord) -> String {
    let scopes: Vec<&str> = record.scopes.iter().map(|s| s.as_str()).collect();
    let state = if record.revoked_at.is_some() { " revoked" } else { "" };
    format!(
        "{}  {}{}…  {}  [{}]{}",
        record.id,
        record.kind.marker(),
        record.prefix,
        record.name,
        scopes.join(","),
        state
    )
}
