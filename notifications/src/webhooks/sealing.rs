//! Signing secrets encrypted at rest: XChaCha20-Poly1305 under a key from
//! the environment (`WEBHOOK_SECRET_KEY`), the endpoint's id as associated
//! data, in a versioned envelope `v1:<key id>:<nonce b64>:<ciphertext b64>`.
//!
//! - **Rotation**: a [`Keyring`] holds one or more keys; the first seals,
//!   any opens (the envelope names its key). Moving rows to the first key
//!   is [`super::endpoints::reseal`].
//! - **Bound to its row**: the associated data is the envelope's version,
//!   key id and the endpoint id, so a ciphertext copied to another row, or
//!   relabelled with another key id, does not open.
//! - **Never a panic**: a wrong key, an unknown key id or a damaged value
//!   is a [`SealError`] saying which, and naming no secret.

use std::fmt;
use std::sync::Arc;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use rand::RngCore;
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};
use uuid::Uuid;

/// The environment variable the keys come from (named in errors).
pub const KEY_VARIABLE: &str = "WEBHOOK_SECRET_KEY";
/// The envelope's version prefix.
pub const ENVELOPE_VERSION: &str = "v1";
const KEY_LEN: usize = 32;
const NONCE_LEN: usize = 24;

/// Why a secret could not be sealed or opened.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SealError {
    #[error("no webhook secret key is configured (set WEBHOOK_SECRET_KEY)")]
    NoKeys,
    #[error("WEBHOOK_SECRET_KEY: entry {index} {problem} (each entry is 32 random bytes in base64, entries separated by commas, the first encrypts)")]
    BadKey { index: usize, problem: &'static str },
    #[error("the stored secret of webhook endpoint {endpoint_id} is not a `v1:<key id>:<nonce>:<ciphertext>` envelope")]
    Malformed { endpoint_id: Uuid },
    #[error("the secret of webhook endpoint {endpoint_id} is encrypted under key `{key_id}`, which is not among the configured keys ({configured}); add that key to WEBHOOK_SECRET_KEY")]
    UnknownKey {
        endpoint_id: Uuid,
        key_id: String,
        configured: String,
    },
    #[error("the secret of webhook endpoint {endpoint_id} does not decrypt under key `{key_id}`: the key given in WEBHOOK_SECRET_KEY under that id is wrong, or the stored value was altered or copied from another endpoint")]
    Undecryptable { endpoint_id: Uuid, key_id: String },
    #[error("a webhook secret could not be encrypted")]
    Encrypt,
}

#[derive(Clone)]
struct SealKey {
    id: String,
    cipher: XChaCha20Poly1305,
}

/// The keys secrets are sealed with: the first seals, any opens. Cheap to
/// clone; its `Debug` shows key ids only.
#[derive(Clone, Default)]
pub struct Keyring {
    keys: Arc<Vec<SealKey>>,
}

impl fmt::Debug for Keyring {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Keyring")
            .field("key_ids", &self.key_ids())
            .finish()
    }
}

/// A key's public id: the first 8 hex digits of a domain-separated SHA-256
/// of it (names the key in envelopes and errors, reveals nothing).
fn key_id(key: &[u8]) -> String {
    let digest = Sha256::new()
        .chain_update(b"ledger webhook secret key\0")
        .chain_update(key)
        .finalize();
    digest[..4].iter().map(|b| format!("{b:02x}")).collect()
}

impl Keyring {
    /// Keys from raw bytes, first sealing.
    pub fn from_keys(keys: &[[u8; KEY_LEN]]) -> Result<Self, SealError> {
        let mut out: Vec<SealKey> = Vec::new();
        for (index, key) in keys.iter().enumerate() {
            let id = key_id(key);
            if out.iter().any(|k| k.id == id) {
                return Err(SealError::BadKey {
                    index: index + 1,
                    problem: "repeats an earlier key",
                });
            }
            let cipher = XChaCha20Poly1305::new_from_slice(key).map_err(|_| SealError::BadKey {
                index: index + 1,
                problem: "is not 32 bytes",
            })?;
            out.push(SealKey { id, cipher });
        }
        if out.is_empty() {
            return Err(SealError::NoKeys);
        }
        Ok(Self {
            keys: Arc::new(out),
        })
    }

    /// Keys from `WEBHOOK_SECRET_KEY`'s format: base64 entries separated by
    /// commas (whitespace ignored), the first sealing.
    pub fn parse(value: &SecretString) -> Result<Self, SealError> {
        let mut keys = Vec::new();
        for (index, entry) in value
            .expose_secret()
            .split(',')
            .map(str::trim)
            .filter(|e| !e.is_empty())
            .enumerate()
        {
            let bytes = STANDARD.decode(entry).map_err(|_| SealError::BadKey {
                index: index + 1,
                problem: "is not base64",
            })?;
            let key: [u8; KEY_LEN] = bytes.try_into().map_err(|_| SealError::BadKey {
                index: index + 1,
                problem: "does not decode to 32 bytes",
            })?;
            keys.push(key);
        }
        Self::from_keys(&keys)
    }

    /// A new random key in the format [`Keyring::parse`] reads.
    pub fn generate_key() -> SecretString {
        let mut key = [0u8; KEY_LEN];
        rand::rng().fill_bytes(&mut key);
        SecretString::from(STANDARD.encode(key))
    }

    /// A keyring of one new random key (tests, the demo).
    pub fn generate() -> Self {
        let mut key = [0u8; KEY_LEN];
        rand::rng().fill_bytes(&mut key);
        Self::from_keys(&[key]).unwrap_or_default()
    }

    /// Whether no key is configured (nothing can be sealed or opened).
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// The configured key ids, the sealing one first.
    pub fn key_ids(&self) -> Vec<String> {
        self.keys.iter().map(|k| k.id.clone()).collect()
    }

    /// The id of the key that seals.
    pub fn sealing_key_id(&self) -> Option<&str> {
        self.keys.first().map(|k| k.id.as_str())
    }

    fn aad(key_id: &str, endpoint_id: Uuid) -> String {
        format!("{ENVELOPE_VERSION}:{key_id}:webhook_endpoint:{endpoint_id}")
    }

    /// Encrypt `secret` for endpoint `endpoint_id` under the first key.
    pub fn seal(&self, endpoint_id: Uuid, secret: &str) -> Result<String, SealError> {
        let key = self.keys.first().ok_or(SealError::NoKeys)?;
        let mut nonce = [0u8; NONCE_LEN];
        rand::rng().fill_bytes(&mut nonce);
        let aad = Self::aad(&key.id, endpoint_id);
        let ciphertext = key
            .cipher
            .encrypt(
                XNonce::from_slice(&nonce),
                Payload {
                    msg: secret.as_bytes(),
                    aad: aad.as_bytes(),
                },
            )
            .map_err(|_| SealError::Encrypt)?;
        Ok(format!(
            "{ENVELOPE_VERSION}:{}:{}:{}",
            key.id,
            STANDARD.encode(nonce),
            STANDARD.encode(ciphertext)
        ))
    }

    /// The key id an envelope names, if it is one.
    pub fn envelope_key_id(sealed: &str) -> Option<&str> {
        let mut parts = sealed.splitn(4, ':');
        match (parts.next(), parts.next()) {
            (Some(ENVELOPE_VERSION), Some(id)) => Some(id),
            _ => None,
        }
    }

    /// Decrypt the secret of endpoint `endpoint_id`.
    pub fn open(&self, endpoint_id: Uuid, sealed: &str) -> Result<SecretString, SealError> {
        let malformed = || SealError::Malformed { endpoint_id };
        let mut parts = sealed.splitn(4, ':');
        let (Some(ENVELOPE_VERSION), Some(id), Some(nonce), Some(ciphertext)) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(malformed());
        };
        if self.keys.is_empty() {
            return Err(SealError::NoKeys);
        }
        let key = self
            .keys
            .iter()
            .find(|k| k.id == id)
            .ok_or_else(|| SealError::UnknownKey {
                endpoint_id,
                key_id: id.to_owned(),
                configured: self.key_ids().join(", "),
            })?;
        let nonce = STANDARD
            .decode(nonce)
            .ok()
            .filter(|n| n.len() == NONCE_LEN)
            .ok_or_else(malformed)?;
        let ciphertext = STANDARD.decode(ciphertext).map_err(|_| malformed())?;
        let aad = Self::aad(id, endpoint_id);
        let plain = key
            .cipher
            .decrypt(
                XNonce::from_slice(&nonce),
                Payload {
                    msg: &ciphertext,
                    aad: aad.as_bytes(),
                },
            )
            .map_err(|_| SealError::Undecryptable {
                endpoint_id,
                key_id: id.to_owned(),
            })?;
        String::from_utf8(plain)
            .map(SecretString::from)
            .map_err(|_| malformed())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ring(keys: &[[u8; 32]]) -> Keyring {
        Keyring::from_keys(keys).unwrap()
    }

    #[test]
    fn a_sealed_secret_opens_for_its_endpoint_and_hides_the_secret() {
        let keys = ring(&[[7; 32]]);
        let id = Uuid::now_v7();
        let sealed = keys.seal(id, "whsec_abc").unwrap();
        assert!(sealed.starts_with(&format!("v1:{}:", keys.key_ids()[0])));
        assert!(!sealed.contains("whsec"));
        assert_eq!(keys.open(id, &sealed).unwrap().expose_secret(), "whsec_abc");
        // A fresh nonce each time.
        assert_ne!(sealed, keys.seal(id, "whsec_abc").unwrap());
    }

    #[test]
    fn a_ciphertext_copied_to_another_endpoint_does_not_open() {
        let keys = ring(&[[7; 32]]);
        let sealed = keys.seal(Uuid::now_v7(), "whsec_abc").unwrap();
        let other = Uuid::now_v7();
        assert!(matches!(
            keys.open(other, &sealed),
            Err(SealError::Undecryptable { .. })
        ));
    }

    #[test]
    fn a_wrong_key_an_unknown_key_and_garbage_are_clear_errors() {
        let id = Uuid::now_v7();
        let sealed = ring(&[[7; 32]]).seal(id, "whsec_abc").unwrap();
        let err = ring(&[[8; 32]]).open(id, &sealed).unwrap_err();
        assert!(matches!(err, SealError::UnknownKey { .. }), "{err}");
        assert!(err.to_string().contains(KEY_VARIABLE), "{err}");
        // The same key id with other bytes cannot be built, so relabel the
        // envelope: it names a configured key but does not decrypt.
        let other = ring(&[[8; 32]]);
        let relabelled = sealed.replacen(
            Keyring::envelope_key_id(&sealed).unwrap(),
            &other.key_ids()[0],
            1,
        );
        assert!(matches!(
            other.open(id, &relabelled),
            Err(SealError::Undecryptable { .. })
        ));
        for garbage in ["", "whsec_abc", "v1:x", "v1:x:!!:!!", "v2:a:b:c"] {
            assert!(ring(&[[7; 32]]).open(id, garbage).is_err(), "{garbage}");
        }
        assert_eq!(
            Keyring::default().open(id, &sealed).unwrap_err(),
            SealError::NoKeys
        );
    }

    #[test]
    fn any_key_of_the_ring_opens_and_the_first_seals() {
        let id = Uuid::now_v7();
        let old = ring(&[[1; 32]]);
        let sealed_old = old.seal(id, "whsec_old").unwrap();
        let rotated = ring(&[[2; 32], [1; 32]]);
        assert_eq!(
            rotated.open(id, &sealed_old).unwrap().expose_secret(),
            "whsec_old"
        );
        let sealed_new = rotated.seal(id, "whsec_new").unwrap();
        assert_eq!(
            Keyring::envelope_key_id(&sealed_new),
            rotated.sealing_key_id()
        );
    }

    #[test]
    fn the_variable_is_parsed_as_a_list_and_bad_entries_are_named() {
        let a = Keyring::generate_key();
        let b = Keyring::generate_key();
        let both = SecretString::from(format!(" {} , {} ", a.expose_secret(), b.expose_secret()));
        assert_eq!(Keyring::parse(&both).unwrap().key_ids().len(), 2);
        let bad = Keyring::parse(&SecretString::from("not base64!")).unwrap_err();
        assert!(bad.to_string().contains("entry 1"), "{bad}");
        let short = Keyring::parse(&SecretString::from(format!(
            "{},{}",
            a.expose_secret(),
            STANDARD.encode([1u8; 16])
        )))
        .unwrap_err();
        assert!(short.to_string().contains("entry 2"), "{short}");
        assert_eq!(
            Keyring::parse(&SecretString::from(" ")).unwrap_err(),
            SealError::NoKeys
        );
        let debug = format!("{:?}", Keyring::parse(&a).unwrap());
        assert!(!debug.contains(a.expose_secret()), "{debug}");
    }
}
