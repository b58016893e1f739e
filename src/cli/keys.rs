//! `marketlounge keys`: create, list, revoke and rotate API keys in a data directory, offline
//! (the key table is SQLite: a running server reads the same file). A key's secret is printed
//! once, at creation or rotation, and stored nowhere. Each change is written to the audit log
//! (`usage.sqlite`, actor `cli`).

use std::path::PathBuf;

use anyhow::Context;

use crate::auth::secret::MasterSecret;
use crate::auth::store::{KeyRecord, KeySpec, KeyStore};
use crate::auth::{KeyKind, parse_scopes};
use crate::usage::audit::AuditEntry;
use crate::usage::store::UsageStore;

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
    /// Who is billed for the key (a billing provider's customer id): usage exports name it as
    /// the customer (the name when absent).
    #[arg(long)]
    owner: Option<String>,
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
                owner: create.owner.clone(),
            };
            // Bad input writes nothing: no directory, no server secret, no table.
            spec.check()?;
            std::fs::create_dir_all(&data.data).with_context(|| format!("creating {}", data.data.display()))?;
            let store = KeyStore::open(&data.data, MasterSecret::load_or_create(&data.data)?)?;
            let audit = UsageStore::open(&data.data)?;
            let (record, key) = store.create(&spec, now())?;
            print_with_secret(&record, &key, data.json);
            audited(&audit, "keys.create", &record.id)?;
        }
        KeysCommand::List(list) => {
            let store = open_existing(&list.data)?;
            let keys = store.list()?;
            // This month's count of each key with a quota (the lease a running server holds: at
            // most 1 % of the quota above the true count, exact after a clean stop).
            let month = crate::auth::quota::Month::of(jiff::Timestamp::now());
            let mut used = Vec::with_capacity(keys.len());
            for record in &keys {
                used.push(match record.quota {
                    Some(_) => Some(crate::auth::quota::reserved(&store, &record.id, month)?),
                    None => None,
                });
            }
            if list.data.json {
                let listed: Vec<serde_json::Value> = keys
                    .iter()
                    .zip(&used)
                    .map(|(record, used)| {
                        let mut value = serde_json::to_value(record).expect("records serialise");
                        if let Some(used) = used {
                            value["quota_used"] = serde_json::json!(used);
                        }
                        value
                    })
                    .collect();
                println!("{}", serde_json::to_string_pretty(&listed)?);
            } else {
                for (record, used) in keys.iter().zip(&used) {
                    match (record.quota, used) {
                        (Some(quota), Some(used)) => {
                            println!("{}  {used}/{quota} this month ({})", line(record), month.label())
                        }
                        _ => println!("{}", line(record)),
                    }
                }
            }
        }
        KeysCommand::Revoke(id) => {
            let store = open_existing(&id.data)?;
            let audit = UsageStore::open(&id.data.data)?;
            let record = store.revoke(&id.id, now())?;
            if id.data.json {
                println!("{}", serde_json::to_string_pretty(&record)?);
            } else {
                println!("revoked {}", line(&record));
            }
            audited(&audit, "keys.revoke", &record.id)?;
        }
        KeysCommand::Rotate(id) => {
            let store = open_existing(&id.data)?;
            let audit = UsageStore::open(&id.data.data)?;
            let (record, key) = store.rotate(&id.id, now())?;
            print_with_secret(&record, &key, id.data.json);
            audited(&audit, "keys.rotate", &record.id)?;
        }
    }
    Ok(std::process::ExitCode::SUCCESS)
}

/// Appends what was done to the audit log. The log is opened before the change, so that a
/// directory where it cannot be written changes nothing; a write that still fails is an error
/// after the change was made and printed.
fn audited(audit: &UsageStore, action: &str, key_id: &str) -> anyhow::Result<()> {
    audit
        .append_audit(&AuditEntry::cli(action, Some(key_id)))
        .with_context(|| format!("{action} {key_id} was done, but the audit log could not record it"))?;
    Ok(())
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
