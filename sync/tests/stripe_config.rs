//! The client's configuration from environment variables.

use std::collections::HashMap;
use std::time::Duration;

use secrecy::ExposeSecret;
use sync::stripe::{StripeConfig, StripeSetup, DEFAULT_API_BASE, DEFAULT_API_VERSION};

fn setup(vars: &[(&str, &str)]) -> Result<StripeSetup, sync::stripe::StripeError> {
    let vars: HashMap<String, String> = vars
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    StripeConfig::from_lookup(|name| vars.get(name).cloned())
}

#[test]
fn without_a_key_sync_is_disabled_and_says_why() {
    match setup(&[("STRIPE_API_BASE", "http://127.0.0.1:12111")]) {
        Ok(StripeSetup::Disabled { reason }) => {
            assert_eq!(reason, "sync disabled: STRIPE_API_KEY is not set");
        }
        other => panic!("expected disabled, got {other:?}"),
    }
}

#[test]
fn a_key_alone_targets_stripe_with_default_timeouts() {
    let Ok(StripeSetup::Enabled(config)) = setup(&[("STRIPE_API_KEY", "sk_test_123")]) else {
        panic!("expected enabled");
    };
    assert_eq!(config.api_base, DEFAULT_API_BASE);
    assert_eq!(config.api_key.expose_secret(), "sk_test_123");
    assert_eq!(config.connect_timeout, Duration::from_secs(5));
    assert_eq!(config.request_timeout, Duration::from_secs(30));
    assert_eq!(config.api_version, DEFAULT_API_VERSION);
    assert_eq!(DEFAULT_API_VERSION, "2026-10-28.endive");
}

#[test]
fn the_api_version_can_be_pinned_to_another_well_formed_version_only() {
    let Ok(StripeSetup::Enabled(config)) = setup(&[
        ("STRIPE_API_KEY", "sk_test_123"),
        ("STRIPE_API_VERSION", " 2025-03-31.basil "),
    ]) else {
        panic!("expected enabled");
    };
    assert_eq!(config.api_version, "2025-03-31.basil");
    for bad in ["latest", "2025-3-31", "2025-03-31.", "2025-03-31.Basil"] {
        let err = setup(&[
            ("STRIPE_API_KEY", "sk_test_123"),
            ("STRIPE_API_VERSION", bad),
        ])
        .expect_err(bad);
        assert!(err.to_string().contains("STRIPE_API_VERSION"), "{err}");
    }
}

#[test]
fn base_url_and_timeouts_are_read_from_the_environment() {
    let Ok(StripeSetup::Enabled(config)) = setup(&[
        ("STRIPE_API_KEY", "sk_test_123"),
        ("STRIPE_API_BASE", "http://127.0.0.1:12111/"),
        ("STRIPE_CONNECT_TIMEOUT_SECS", "1.5"),
        ("STRIPE_REQUEST_TIMEOUT_SECS", "10"),
    ]) else {
        panic!("expected enabled");
    };
    assert_eq!(config.api_base, "http://127.0.0.1:12111");
    assert_eq!(config.connect_timeout, Duration::from_millis(1500));
    assert_eq!(config.request_timeout, Duration::from_secs(10));
}

#[test]
fn nonsense_timeouts_and_base_urls_are_configuration_errors() {
    assert!(setup(&[
        ("STRIPE_API_KEY", "sk"),
        ("STRIPE_REQUEST_TIMEOUT_SECS", "soon")
    ])
    .is_err());
    assert!(setup(&[
        ("STRIPE_API_KEY", "sk"),
        ("STRIPE_CONNECT_TIMEOUT_SECS", "0")
    ])
    .is_err());
    assert!(setup(&[
        ("STRIPE_API_KEY", "sk"),
        ("STRIPE_API_BASE", "api.stripe.com")
    ])
    .is_err());
}

#[test]
fn the_key_never_shows_in_debug_output() {
    let Ok(setup) = setup(&[("STRIPE_API_KEY", "sk_test_very_secret")]) else {
        panic!("expected enabled");
    };
    assert!(!format!("{setup:?}").contains("very_secret"));
}
