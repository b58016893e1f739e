//! The server secret and the keys' secrets: generation, the stored HMAC, the display prefix.

use std::io::Write;
use std::path::{Path, PathBuf};

use hmac::{Hmac, KeyInit, Mac};
use rand::distr::Alphanumeric;
use rand::{Rng, TryRngCore};
use sha2::Sha256;

use super::{AuthError, KeyKind};

/// The environment variable holding the server secret.
pub const MASTER_KEY_VAR: &str = "MARKETLOUNGE_MASTER_KEY";
/// The file holding the server secret when the variable is not set (mode 0600, in the data
/// directory).
pub const MASTER_KEY_FILE: &str = "master.key";
/// Random base62 characters after a key's marker: 43 × log2(62) ≥ 256 bits.
pub const KEY_RANDOM_CHARS: usize = 43;
/// Characters of the random part kept for display.
pub const PREFIX_CHARS: usize = 8;
/// A server secret shorter than this is refused.
const MASTER_MIN_BYTES: usize = 32;

/// The secret every stored key hash is keyed with. Never logged, never stored with the keys.
#[derive(Clone)]
pub struct MasterSecret(Vec<u8>);

impl std::fmt::Debug for MasterSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MasterSecret(…)")
    }
}

impl MasterSecret {
    pub fn from_bytes(bytes: &[u8]) -> Result<MasterSecret, AuthError> {
        if bytes.len() < MASTER_MIN_BYTES {
            return Err(AuthError::Secret(format!(
                "{MASTER_KEY_VAR} (or {MASTER_KEY_FILE}) must hold at least {MASTER_MIN_BYTES} bytes, it holds {}",
                bytes.len()
            )));
        }
        Ok(MasterSecret(bytes.to_vec()))
    }

    /// The secret in force for `data_dir`: the variable's, else the file's; `None` when neither
    /// exists (development mode).
    pub fn load(data_dir: &Path) -> Result<Option<MasterSecret>, AuthError> {
        MasterSecret::load_with(data_dir, std::env::var(MASTER_KEY_VAR).ok())
    }

    /// [`Self::load`] with the variable's value given.
    fn load_with(data_dir: &Path, variable: Option<String>) -> Result<Option<MasterSecret>, AuthError> {
        if let Some(value) = variable
            && !value.is_empty()
        {
            return MasterSecret::from_bytes(value.trim().as_bytes()).map(Some);
        }
        let path = master_path(data_dir);
        match std::fs::read(&path) {
            Ok(bytes) => MasterSecret::from_bytes(trim_ascii(&bytes)).map(Some),
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(err) => Err(AuthError::Secret(format!("{}: {err}", path.display()))),
        }
    }

    /// The secret in force, creating `master.key` (64 random base62 characters, mode 0600) when
    /// there is none: what creating the first key does.
    pub fn load_or_create(data_dir: &Path) -> Result<MasterSecret, AuthError> {
        MasterSecret::load_or_create_with(data_dir, std::env::var(MASTER_KEY_VAR).ok())
    }

    fn load_or_create_with(data_dir: &Path, variable: Option<String>) -> Result<MasterSecret, AuthError> {
        if let Some(secret) = MasterSecret::load_with(data_dir, variable.clone())? {
            return Ok(secret);
        }
        let path = master_path(data_dir);
        let value = random_base62(64);
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let written = options.open(&path).and_then(|mut file| {
            file.write_all(value.as_bytes())?;
            file.sync_all()
        });
        match written {
            Ok(()) => MasterSecret::from_bytes(value.as_bytes()),
            // Another process created it first: theirs is the secret.
            Err(err) if err.kind() == std::io::ErrorKind::AlreadyExists => MasterSecret::load_with(data_dir, variable)?
                .ok_or_else(|| AuthError::Secret(format!("{} vanished", path.display()))),
            Err(err) => Err(AuthError::Secret(format!("creating {}: {err}", path.display()))),
        }
    }

    /// `HMAC-SHA256(secret, key)`: what the store keeps of a key.
    pub fn key_hash(&self, key: &str) -> [u8; 32] {
        self.mac(key.as_bytes())
    }

    /// `HMAC-SHA256(secret, message)`: a value only a holder of the secret can compute (the
    /// store's key hashes, the masks that seal token-signing keys, [`super::token`]).
    pub(crate) fn mac(&self, message: &[u8]) -> [u8; 32] {
        let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(&self.0).expect("HMAC takes keys of any length");
        mac.update(message);
        mac.finalize().into_bytes().into()
    }
}

fn master_path(data_dir: &Path) -> PathBuf {
    data_dir.join(MASTER_KEY_FILE)
}

fn trim_ascii(bytes: &[u8]) -> &[u8] {
    bytes.trim_ascii()
}

/// `n` characters drawn uniformly from [A-Za-z0-9] by the operating system's generator.
fn random_base62(n: usize) -> String {
    let mut rng = rand::rngs::OsRng.unwrap_err();
    (0..n).map(|_| char::from(rng.sample(Alphanumeric))).collect()
}

/// A new key of `kind`: its full text (shown once) and its display prefix.
pub fn new_key(kind: KeyKind) -> (String, String) {
    let random = random_base62(KEY_RANDOM_CHARS);
    let prefix = random[..PREFIX_CHARS].to_owned();
    (format!("{}{random}", kind.marker()), prefix)
}

/// The kind a presented key claims by its marker, if it is shaped like a key.
pub fn kind_of(key: &str) -> Option<KeyKind> {
    [KeyKind::Secret, KeyKind::Publishable].into_iter().find(|kind| {
        key.strip_prefix(kind.marker())
            .is_some_and(|rest| rest.len() == KEY_RANDOM_CHARS && rest.bytes().all(|b| b.is_ascii_alphanumeric()))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_marked_long_and_distinct() {
        let (a, prefix) = new_key(KeyKind::Secret);
        let (b, _) = new_key(KeyKind::Publishable);
        assert!(a.starts_with("mlk_sec_") && b.starts_with("mlk_pub_"));
        assert_eq!(a.len(), 8 + KEY_RANDOM_CHARS);
        assert_eq!(&a[8..16], prefix);
        assert_eq!(kind_of(&a), Some(KeyKind::Secret));
        assert_eq!(kind_of(&b), Some(KeyKind::Publishable));
        assert_eq!(kind_of(&a[..a.len() - 1]), None);
        assert_eq!(kind_of("mlk_sec_!!"), None);
        assert_ne!(a[8..], b[8..]);
    }

    #[test]
    fn the_hash_depends_on_the_secret_and_the_key() {
        let one = MasterSecret::from_bytes(&[1; 32]).unwrap();
        let two = MasterSecret::from_bytes(&[2; 32]).unwrap();
        assert_eq!(one.key_hash("mlk_sec_x"), one.key_hash("mlk_sec_x"));
        assert_ne!(one.key_hash("mlk_sec_x"), two.key_hash("mlk_sec_x"));
        assert_ne!(one.key_hash("mlk_sec_x"), one.key_hash("mlk_sec_y"));
        assert!(MasterSecret::from_bytes(b"short").is_err());
        assert_eq!(format!("{one:?}"), "MasterSecret(…)");
    }

    #[test]
    fn the_master_file_is_created_once_private_and_the_variable_wins() {
        let dir = tempfile::tempdir().unwrap();
        assert!(MasterSecret::load_with(dir.path(), None).unwrap().is_none());
        let created = MasterSecret::load_or_create_with(dir.path(), None).unwrap();
        let again = MasterSecret::load_or_create_with(dir.path(), None).unwrap();
        assert_eq!(created.key_hash("k"), again.key_hash("k"));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.path().join(MASTER_KEY_FILE)).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let variable = Some("v".repeat(40));
        let from_variable = MasterSecret::load_with(dir.path(), variable).unwrap().unwrap();
        assert_ne!(from_variable.key_hash("k"), created.key_hash("k"));
        assert!(MasterSecret::load_with(dir.path(), Some("short".into())).is_err());
    }
}
