//! `Stripe-Signature` verification, exactly as Stripe documents it.
//!
//! The header is `t=<unix seconds>,v1=<hex>[,v1=<hex>…][,v0=…]`. The signed
//! payload is `"{t}.{raw body}"`, the signature HMAC-SHA256 with the
//! endpoint's secret (`whsec_…`, used as given). A request is authentic when
//! any `v1` matches any configured secret (several during a rotation) and
//! `t` is within the tolerance of our clock (both ways: an old, replayed
//! delivery and one from a clock far ahead are refused). Comparison is the
//! `hmac` crate's constant-time `verify_slice` (built on `subtle`); other
//! schemes (`v0`) are ignored, as Stripe's libraries do.

use chrono::{DateTime, TimeDelta, Utc};
use hmac::{Hmac, Mac};
use secrecy::{ExposeSecret, SecretString};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// Stripe's own default tolerance.
pub const DEFAULT_TOLERANCE: TimeDelta = TimeDelta::minutes(5);

/// The header Stripe signs deliveries in.
pub const HEADER: &str = "stripe-signature";

/// Why a delivery is not accepted as Stripe's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("the Stripe-Signature header is missing")]
    Missing,
    #[error("the Stripe-Signature header is malformed: {0}")]
    Malformed(&'static str),
    #[error("the Stripe-Signature timestamp is {age_secs} s away from now, beyond the tolerance of {tolerance_secs} s")]
    OutsideTolerance { age_secs: i64, tolerance_secs: i64 },
    #[error("no v1 signature matches a configured webhook secret")]
    NoMatch,
    #[error("no webhook secret is configured (STRIPE_WEBHOOK_SECRET)")]
    NotConfigured,
}

impl SignatureError {
    /// A short label for metrics.
    pub fn label(&self) -> &'static str {
        match self {
            Self::Missing => "missing",
            Self::Malformed(_) => "malformed",
            Self::OutsideTolerance { .. } => "outside_tolerance",
            Self::NoMatch => "no_match",
            Self::NotConfigured => "not_configured",
        }
    }
}

/// The endpoint secrets in force (the newest and, during a rotation, the
/// ones it replaces) and the tolerance.
#[derive(Clone)]
pub struct Verifier {
    secrets: Vec<SecretString>,
    tolerance: TimeDelta,
}

impl std::fmt::Debug for Verifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Verifier")
            .field("secrets", &self.secrets.len())
            .field("tolerance", &self.tolerance)
            .finish()
    }
}

impl Default for Verifier {
    /// No secret: every delivery is refused (`NotConfigured`).
    fn default() -> Self {
        Self {
            secrets: Vec::new(),
            tolerance: DEFAULT_TOLERANCE,
        }
    }
}

impl Verifier {
    /// `STRIPE_WEBHOOK_SECRET` (comma-separated secrets) and
    /// `STRIPE_WEBHOOK_TOLERANCE_SECS` (default 300).
    pub fn from_env() -> Result<Self, String> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// [`Verifier::from_env`] over any lookup (for tests).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, String> {
        let tolerance = match lookup("STRIPE_WEBHOOK_TOLERANCE_SECS") {
            Some(raw) if !raw.trim().is_empty() => match raw.trim().parse::<i64>() {
                Ok(secs) if secs > 0 => TimeDelta::seconds(secs),
                _ => {
                    return Err(format!(
                        "STRIPE_WEBHOOK_TOLERANCE_SECS must be a positive whole number of seconds, got {raw:?}"
                    ))
                }
            },
            _ => DEFAULT_TOLERANCE,
        };
        let secrets = SecretString::from(lookup("STRIPE_WEBHOOK_SECRET").unwrap_or_default());
        Ok(Self::from_list(&secrets, tolerance))
    }

    /// From `STRIPE_WEBHOOK_SECRET`'s value: one or more secrets separated
    /// by commas (blank entries ignored).
    pub fn from_list(list: &SecretString, tolerance: TimeDelta) -> Self {
        let secrets = list
            .expose_secret()
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|s| SecretString::from(s.to_owned()))
            .collect();
        Self { secrets, tolerance }
    }

    /// How many secrets are configured.
    pub fn secret_count(&self) -> usize {
        self.secrets.len()
    }

    /// Check a delivery; returns the signed timestamp.
    pub fn verify(
        &self,
        header: Option<&str>,
        body: &[u8],
        now: DateTime<Utc>,
    ) -> Result<DateTime<Utc>, SignatureError> {
        if self.secrets.is_empty() {
            return Err(SignatureError::NotConfigured);
        }
        let header = header.ok_or(SignatureError::Missing)?;
        let parsed = parse(header)?;
        let signed_at = DateTime::<Utc>::from_timestamp(parsed.t, 0)
            .ok_or(SignatureError::Malformed("t is not a valid Unix time"))?;
        let age = now.signed_duration_since(signed_at);
        if age.abs() > self.tolerance {
            return Err(SignatureError::OutsideTolerance {
                age_secs: age.num_seconds(),
                tolerance_secs: self.tolerance.num_seconds(),
            });
        }
        for secret in &self.secrets {
            for signature in &parsed.v1 {
                let Ok(mut mac) = HmacSha256::new_from_slice(secret.expose_secret().as_bytes())
                else {
                    continue;
                };
                mac.update(parsed.t_text.as_bytes());
                mac.update(b".");
                mac.update(body);
                if mac.verify_slice(signature).is_ok() {
                    return Ok(signed_at);
                }
            }
        }
        Err(SignatureError::NoMatch)
    }
}

struct Parsed<'a> {
    t: i64,
    t_text: &'a str,
    v1: Vec<Vec<u8>>,
}

fn parse(header: &str) -> Result<Parsed<'_>, SignatureError> {
    let mut t = None;
    let mut v1 = Vec::new();
    for item in header.split(',') {
        let (key, value) = item
            .trim()
            .split_once('=')
            .ok_or(SignatureError::Malformed("an item is not key=value"))?;
        match key {
            "t" => {
                if t.is_some() {
                    return Err(SignatureError::Malformed("t appears twice"));
                }
                let secs = value
                    .parse::<i64>()
                    .map_err(|_| SignatureError::Malformed("t is not a whole number"))?;
                t = Some((secs, value));
            }
            "v1" => match hex::decode(value) {
                Ok(bytes) if bytes.len() == 32 => v1.push(bytes),
                _ => {
                    return Err(SignatureError::Malformed(
                        "a v1 signature is not 64 hex digits",
                    ))
                }
            },
            _ => {}
        }
    }
    let (t, t_text) = t.ok_or(SignatureError::Malformed("no t= timestamp"))?;
    if v1.is_empty() {
        return Err(SignatureError::Malformed("no v1= signature"));
    }
    Ok(Parsed { t, t_text, v1 })
}

/// The `Stripe-Signature` value Stripe would send for `body` at `t` (for
/// tests and tools; the Stripe fake signs its own deliveries).
pub fn sign(secret: &str, t: i64, body: &[u8]) -> String {
    format!("t={t},v1={}", signature(secret, t, body))
}

/// The hex `v1` signature of `body` at `t`.
pub fn signature(secret: &str, t: i64, body: &[u8]) -> String {
    match HmacSha256::new_from_slice(secret.as_bytes()) {
        Ok(mut mac) => {
            mac.update(t.to_string().as_bytes());
            mac.update(b".");
            mac.update(body);
            hex::encode(mac.finalize().into_bytes())
        }
        // HMAC takes keys of any length; this arm is unreachable.
        Err(_) => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BODY: &[u8] = br#"{"id":"evt_1","type":"invoice.paid"}"#;

    fn verifier(list: &str) -> Verifier {
        Verifier::from_list(&SecretString::from(list.to_owned()), DEFAULT_TOLERANCE)
    }

    fn now() -> DateTime<Utc> {
        DateTime::<Utc>::from_timestamp(1_800_000_000, 0).unwrap()
    }

    #[test]
    fn a_signature_made_with_the_secret_is_accepted() {
        let header = sign("whsec_a", now().timestamp(), BODY);
        assert_eq!(
            verifier("whsec_a").verify(Some(&header), BODY, now()),
            Ok(now())
        );
    }

    #[test]
    fn a_signature_within_the_tolerance_is_accepted_and_one_beyond_it_is_refused() {
        let v = verifier("whsec_a");
        let t = now().timestamp();
        let edge = sign("whsec_a", t - 300, BODY);
        assert!(v.verify(Some(&edge), BODY, now()).is_ok());
        let late = sign("whsec_a", t - 301, BODY);
        assert!(matches!(
            v.verify(Some(&late), BODY, now()),
            Err(SignatureError::OutsideTolerance { age_secs: 301, .. })
        ));
        let ahead = sign("whsec_a", t + 301, BODY);
        assert!(v.verify(Some(&ahead), BODY, now()).is_err());
    }

    #[test]
    fn an_old_event_replayed_with_its_valid_signature_is_refused() {
        let header = sign("whsec_a", now().timestamp() - 3600, BODY);
        let v = verifier("whsec_a");
        assert!(v
            .verify(Some(&header), BODY, now() - TimeDelta::hours(1))
            .is_ok());
        assert!(matches!(
            v.verify(Some(&header), BODY, now()),
            Err(SignatureError::OutsideTolerance { .. })
        ));
    }

    #[test]
    fn during_a_rotation_either_secret_is_accepted() {
        let v = verifier("whsec_new, whsec_old");
        assert_eq!(v.secret_count(), 2);
        for secret in ["whsec_new", "whsec_old"] {
            let header = sign(secret, now().timestamp(), BODY);
            assert!(v.verify(Some(&header), BODY, now()).is_ok(), "{secret}");
        }
    }

    #[test]
    fn any_of_several_v1_signatures_may_match() {
        let t = now().timestamp();
        let header = format!(
            "t={t},v1={},v0=abc,v1={}",
            signature("whsec_other", t, BODY),
            signature("whsec_a", t, BODY)
        );
        assert!(verifier("whsec_a")
            .verify(Some(&header), BODY, now())
            .is_ok());
    }

    #[test]
    fn a_tampered_body_is_refused() {
        let header = sign("whsec_a", now().timestamp(), BODY);
        let tampered = br#"{"id":"evt_1","type":"invoice.voided"}"#;
        assert_eq!(
            verifier("whsec_a").verify(Some(&header), tampered, now()),
            Err(SignatureError::NoMatch)
        );
    }

    #[test]
    fn a_signature_made_with_another_secret_is_refused() {
        let header = sign("whsec_wrong", now().timestamp(), BODY);
        assert_eq!(
            verifier("whsec_a").verify(Some(&header), BODY, now()),
            Err(SignatureError::NoMatch)
        );
    }

    #[test]
    fn a_changed_timestamp_breaks_the_signature() {
        let t = now().timestamp();
        let header = format!("t={},v1={}", t + 1, signature("whsec_a", t, BODY));
        assert_eq!(
            verifier("whsec_a").verify(Some(&header), BODY, now()),
            Err(SignatureError::NoMatch)
        );
    }

    #[test]
    fn missing_and_malformed_headers_are_refused() {
        let v = verifier("whsec_a");
        assert_eq!(v.verify(None, BODY, now()), Err(SignatureError::Missing));
        let good = signature("whsec_a", now().timestamp(), BODY);
        for bad in [
            String::new(),
            "garbage".to_owned(),
            format!("v1={good}"),
            format!("t={}", now().timestamp()),
            format!("t=soon,v1={good}"),
            format!("t={},v1=zz", now().timestamp()),
            format!("t={},v1={}", now().timestamp(), &good[..10]),
            format!("t=1,t=2,v1={good}"),
        ] {
            assert!(
                matches!(
                    v.verify(Some(&bad), BODY, now()),
                    Err(SignatureError::Malformed(_))
                ),
                "{bad:?} was not refused as malformed"
            );
        }
    }

    #[test]
    fn without_a_configured_secret_nothing_is_accepted() {
        let header = sign("", now().timestamp(), BODY);
        assert_eq!(
            verifier(" , ").verify(Some(&header), BODY, now()),
            Err(SignatureError::NotConfigured)
        );
    }
}
