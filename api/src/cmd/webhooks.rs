//! The key that encrypts webhook signing secrets at rest, for every
//! process that registers endpoints or signs deliveries (`billing serve`,
//! `billing sync`, the demo), and `billing webhooks rotate-key`.
//!
//! - `WEBHOOK_SECRET_KEY` set: its keys (base64, comma-separated, the first
//!   encrypts, any decrypts).
//! - Unset, on a SQLite file: the key file beside it (`<file>.webhook-key`,
//!   created `0600` on first use, its path logged), so a newcomer's first
//!   `billing serve` or `billing demo` needs no variable.
//! - Unset, on PostgreSQL: a start-up error naming the variable.
//!
//! At start-up every stored secret is brought under the first key
//! ([`endpoints::reseal`]): raw secrets left from before migration 0011
//! are encrypted, older keys' ones re-encrypted, and a secret no key opens
//! stops the start naming the endpoint and the key.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context;
use ledger::db::{Backend, Database};
use notifications::webhooks::endpoints;
use notifications::webhooks::sealing::{Keyring, KEY_VARIABLE};
use secrecy::{ExposeSecret, SecretString};

/// `billing webhooks …`.
#[derive(Debug, clap::Subcommand)]
pub enum WebhooksCommand {
    /// Re-encrypt every stored signing secret under the first key of
    /// WEBHOOK_SECRET_KEY (put the new key first, keep the old one after
    /// it, run this, then drop the old one). With the SQLite key file and
    /// no variable: a new key is generated, the secrets are moved to it,
    /// and the file keeps only the new key.
    RotateKey {
        /// Keys (base64, comma-separated, the first encrypts).
        #[arg(long, env = "WEBHOOK_SECRET_KEY", hide_env_values = true, value_parser = secret)]
        webhook_secret_key: Option<SecretString>,
    },
}

/// clap's parser for secret values.
pub fn secret(value: &str) -> Result<SecretString, std::convert::Infallible> {
    Ok(SecretString::from(value.to_owned()))
}

/// The SQLite file a URL names (`None`: PostgreSQL or in-memory).
fn sqlite_file(url: &str) -> Option<PathBuf> {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))?;
    let path = rest.split('?').next().unwrap_or_default();
    (!path.is_empty() && !path.contains(":memory:")).then(|| PathBuf::from(path))
}

/// Where the key file of a SQLite database lives.
pub fn key_file(db_file: &Path) -> PathBuf {
    let mut name = db_file.as_os_str().to_owned();
    name.push(".webhook-key");
    PathBuf::from(name)
}

fn read_key_file(path: &Path) -> anyhow::Result<Keyring> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading the webhook key file {}", path.display()))?;
    Keyring::parse(&SecretString::from(text))
        .map_err(|e| anyhow::anyhow!("the webhook key file {}: {e}", path.display()))
}

/// Write `keys` (the file's format: base64 keys, comma-separated) to
/// `path` atomically, readable by the owner only.
fn write_key_file(path: &Path, keys: &SecretString, replace: bool) -> anyhow::Result<bool> {
    let tmp = path.with_extension(format!("webhook-key.tmp-{}", std::process::id()));
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options
        .open(&tmp)
        .with_context(|| format!("creating {}", tmp.display()))?;
    file.write_all(keys.expose_secret().as_bytes())
        .and_then(|()| file.write_all(b"\n"))
        .and_then(|()| file.sync_all())
        .with_context(|| format!("writing {}", tmp.display()))?;
    drop(file);
    let placed = if replace {
        std::fs::rename(&tmp, path).map(|()| true)
    } else {
        // A hard link fails if the file exists: two first starts racing
        // agree on whichever key landed first.
        let linked = std::fs::hard_link(&tmp, path);
        let _ = std::fs::remove_file(&tmp);
        match linked {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(false),
            Err(e) => Err(e),
        }
    };
    placed.with_context(|| format!("placing the webhook key file {}", path.display()))
}

/// The keyring for the database at `url` (see the module doc).
pub fn keyring(url: &str, given: Option<&SecretString>) -> anyhow::Result<Keyring> {
    if let Some(value) = given {
        return Keyring::parse(value).map_err(anyhow::Error::msg);
    }
    if Backend::of_url(url)? == Backend::Postgres {
        anyhow::bail!(
            "{KEY_VARIABLE} is not set: on PostgreSQL the key that encrypts webhook signing \
             secrets must come from the environment (32 random bytes in base64, e.g. \
             `openssl rand -base64 32`; see README)"
        );
    }
    let Some(db_file) = sqlite_file(url) else {
        // An in-memory database dies with the process, and so may its key.
        return Ok(Keyring::generate());
    };
    let path = key_file(&db_file);
    if !path.exists() && write_key_file(&path, &Keyring::generate_key(), false)? {
        tracing::warn!(key_file = %path.display(),
            "{KEY_VARIABLE} is not set: generated a key that encrypts webhook signing secrets \
             beside the SQLite database; keep it with the database (without it no endpoint \
             can be signed for) or set {KEY_VARIABLE}");
    }
    read_key_file(&path)
}

/// The keyring for `url`, with every stored secret brought under its
/// first key; for the processes that write.
pub async fn prepare(
    url: &str,
    db: &Database,
    given: Option<&SecretString>,
) -> anyhow::Result<Keyring> {
    let keys = keyring(url, given)?;
    let report = endpoints::reseal(db, &keys)
        .await
        .context("checking the stored webhook signing secrets against the configured keys")?;
    if report.encrypted + report.rekeyed > 0 {
        tracing::info!(
            encrypted = report.encrypted,
            rekeyed = report.rekeyed,
            key_id = keys.sealing_key_id().unwrap_or_default(),
            "webhook signing secrets brought under the first key"
        );
    }
    Ok(keys)
}

pub async fn run(url: &str, command: WebhooksCommand) -> anyhow::Result<()> {
    let WebhooksCommand::RotateKey { webhook_secret_key } = command;
    let db = super::open(url).await?;
    let file = sqlite_file(url)
        .filter(|_| webhook_secret_key.is_none())
        .map(|f| key_file(&f));
    let keys = match &file {
        Some(path) if path.exists() => {
            let old = std::fs::read_to_string(path)
                .with_context(|| format!("reading {}", path.display()))?;
            let both = SecretString::from(format!(
                "{},{}",
                Keyring::generate_key().expose_secret(),
                old.trim()
            ));
            write_key_file(path, &both, true)?;
            read_key_file(path)?
        }
        _ => keyring(url, webhook_secret_key.as_ref())?,
    };
    let report = endpoints::reseal(&db, &keys).await?;
    if let Some(path) = file.filter(|p| p.exists()) {
        let text = std::fs::read_to_string(&path)?;
        let first = text.split(',').next().unwrap_or_default().trim().to_owned();
        write_key_file(&path, &SecretString::from(first), true)?;
    }
    println!(
        "webhook signing secrets under key {}: {} re-encrypted, {} encrypted (were raw), {} already current",
        keys.sealing_key_id().unwrap_or_default(),
        report.rekeyed,
        report.encrypted,
        report.current
    );
    db.close().await;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_urls_name_their_file_and_the_key_sits_beside_it() {
        assert_eq!(
            sqlite_file("sqlite://billing.db"),
            Some(PathBuf::from("billing.db"))
        );
        assert_eq!(
            sqlite_file("sqlite:///tmp/x.db?mode=rwc"),
            Some(PathBuf::from("/tmp/x.db"))
        );
        assert_eq!(sqlite_file("sqlite::memory:"), None);
        assert_eq!(sqlite_file("postgres://db/x"), None);
        assert_eq!(
            key_file(Path::new("/tmp/x.db")),
            PathBuf::from("/tmp/x.db.webhook-key")
        );
    }

    #[test]
    fn postgres_without_the_variable_is_refused_naming_it() {
        let err = keyring("postgres://db/x", None).unwrap_err().to_string();
        assert!(err.contains(KEY_VARIABLE), "{err}");
    }

    #[test]
    fn a_sqlite_file_gets_one_private_key_file_on_first_use() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("b.db").display());
        let first = keyring(&url, None).unwrap();
        let again = keyring(&url, None).unwrap();
        assert_eq!(first.key_ids(), again.key_ids());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.path().join("b.db.webhook-key"))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let given = Keyring::generate_key();
        assert_ne!(
            keyring(&url, Some(&given)).unwrap().key_ids(),
            first.key_ids()
        );
    }
}
