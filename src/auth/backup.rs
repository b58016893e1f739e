//! The access state in a backup: the key table (and the usage table, when there is one) and
//! the server secret its hashes are keyed with, so that a restored server accepts the same keys.
//!
//! A snapshot is the index's backup directory plus `auth/`: each SQLite file copied
//! consistently while the server writes (`VACUUM INTO`, a transaction's view) and `master.key`
//! (mode 0600, when the secret comes from that file rather than `MARKETLOUNGE_MASTER_KEY`). The
//! directory is written as `auth.tmp/` and renamed once complete, so a backup either has the
//! whole access state or none. A backup holding `master.key` is as sensitive as the server's
//! data directory.

use std::path::Path;

use anyhow::Context;

use super::secret::MASTER_KEY_FILE;
use super::store::KEYS_FILE;

/// The databases of the access state, in the data directory.
const DATABASES: &[&str] = &[KEYS_FILE, "usage.sqlite"];
/// The backup's directory for them.
const AUTH_DIR: &str = "auth";

/// Copies the access state of `data_dir` into the backup `dest` (an existing directory);
/// returns the names of the files copied.
pub fn save(data_dir: &Path, dest: &Path) -> anyhow::Result<Vec<&'static str>> {
    let tmp = dest.join("auth.tmp");
    if tmp.exists() {
        std::fs::remove_dir_all(&tmp).with_context(|| format!("removing {}", tmp.display()))?;
    }
    std::fs::create_dir(&tmp).with_context(|| format!("creating {}", tmp.display()))?;
    let mut copied = Vec::new();
    for &name in DATABASES {
        let from = data_dir.join(name);
        if !from.exists() {
            continue;
        }
        let to = tmp.join(name);
        let connection =
            rusqlite::Connection::open(&from).with_context(|| format!("opening {} to back it up", from.display()))?;
        connection.busy_timeout(std::time::Duration::from_secs(10))?;
        let target = to.to_str().with_context(|| format!("{} is not UTF-8", to.display()))?;
        connection
            .execute("VACUUM INTO ?1", [target])
            .with_context(|| format!("copying {} into {}", from.display(), to.display()))?;
        restrict(&to)?;
        copied.push(name);
    }
    let secret = data_dir.join(MASTER_KEY_FILE);
    if secret.exists() {
        let to = tmp.join(MASTER_KEY_FILE);
        std::fs::copy(&secret, &to).with_context(|| format!("copying {}", secret.display()))?;
        restrict(&to)?;
        copied.push(MASTER_KEY_FILE);
    }
    for name in &copied {
        std::fs::File::open(tmp.join(name)).and_then(|f| f.sync_all())?;
    }
    let done = dest.join(AUTH_DIR);
    std::fs::rename(&tmp, &done).with_context(|| format!("renaming {} to {}", tmp.display(), done.display()))?;
    std::fs::File::open(dest).and_then(|d| d.sync_all())?;
    Ok(copied)
}

/// Copies a backup's access state (if it has one) into the new data directory `data_dir`.
pub fn restore(backup: &Path, data_dir: &Path) -> anyhow::Result<Vec<String>> {
    let dir = backup.join(AUTH_DIR);
    let mut restored = Vec::new();
    if !dir.is_dir() {
        return Ok(restored);
    }
    for name in DATABASES.iter().chain([&MASTER_KEY_FILE]) {
        let from = dir.join(name);
        if from.exists() {
            let to = data_dir.join(name);
            anyhow::ensure!(!to.exists(), "{} already exists; restore into a new directory", to.display());
            std::fs::copy(&from, &to).with_context(|| format!("copying {} to {}", from.display(), to.display()))?;
            restrict(&to)?;
            std::fs::File::open(&to).and_then(|f| f.sync_all())?;
            restored.push((*name).to_owned());
        }
    }
    std::fs::File::open(data_dir).and_then(|d| d.sync_all())?;
    Ok(restored)
}

/// Owner read and write only: the files hold key hashes, usage and the secret.
fn restrict(path: &Path) -> anyhow::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
        .with_context(|| format!("restricting {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::secret::MasterSecret;
    use crate::auth::store::{KeySpec, KeyStore, Verdict};
    use crate::auth::{KeyKind, Scope};

    /// A key created before the backup is valid in the restored directory, with the secret
    /// from the backup; a backup without access state restores nothing.
    #[test]
    fn a_restored_directory_accepts_the_same_keys() {
        let (data, backup, restored) =
            (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let store = KeyStore::open(data.path(), MasterSecret::load_or_create(data.path()).unwrap()).unwrap();
        let spec = KeySpec {
            name: "backed up".into(),
            owner: None,
            kind: KeyKind::Secret,
            scopes: vec![Scope::Search],
            origins: Vec::new(),
            rate: None,
            burst: None,
            quota: None,
            expires_at: None,
        };
        let (record, key) = store.create(&spec, 100).unwrap();
        // The live connection stays open, as in a running server.
        let copied = save(data.path(), backup.path()).unwrap();
        assert_eq!(copied, [KEYS_FILE, MASTER_KEY_FILE]);
        assert!(!backup.path().join("auth.tmp").exists());
        let mode =
            |p: &Path| std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(p).unwrap().permissions()) & 0o777;
        assert_eq!(mode(&backup.path().join("auth").join(MASTER_KEY_FILE)), 0o600);

        assert_eq!(restore(backup.path(), restored.path()).unwrap(), [KEYS_FILE, MASTER_KEY_FILE]);
        let secret = MasterSecret::load(restored.path()).unwrap().expect("the secret came back");
        let again = KeyStore::open(restored.path(), secret).unwrap();
        assert_eq!(again.verify(&key, 100).unwrap(), Verdict::Valid(std::sync::Arc::new(record)));
        assert!(restore(backup.path(), restored.path()).is_err(), "never over an existing key table");

        let empty = tempfile::tempdir().unwrap();
        assert!(restore(empty.path(), tempfile::tempdir().unwrap().path()).unwrap().is_empty());
    }
}
