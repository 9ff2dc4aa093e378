//! `billing migrate`.

pub async fn run(url: &str) -> anyhow::Result<()> {
    let db = super::open(url).await?;
    println!(
        "migrations applied ({} at {})",
        db.backend().name(),
        super::redact(url)
    );
    db.close().await;
    Ok(())
}
