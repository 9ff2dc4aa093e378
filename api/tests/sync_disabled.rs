//! Without `STRIPE_API_KEY` the sync is off and says so plainly.

use std::process::Command;

#[test]
fn without_a_stripe_key_the_daemon_says_sync_is_disabled_and_exits_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_billing"))
        .arg("sync")
        .env_remove("STRIPE_API_KEY")
        .env(
            "DATABASE_URL",
            format!("sqlite://{}", dir.path().join("x.db").display()),
        )
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("sync disabled: STRIPE_API_KEY is not set"),
        "{stdout}"
    );
}
