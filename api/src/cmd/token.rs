//! `billing token create|list|revoke`.

use anyhow::Context;
use ledger::OrgId;
use uuid::Uuid;

use crate::tokens::{self, Role};

#[derive(Debug, clap::Subcommand)]
pub enum TokenCommand {
    /// Create a token; it is printed once, as the last line.
    Create {
        #[arg(long, value_enum)]
        role: Role,
        /// The organization an `org` token may read.
        #[arg(long)]
        org: Option<String>,
        /// A label for listings (who or what uses it).
        #[arg(long, default_value = "cli")]
        name: String,
    },
    /// List tokens (never the tokens themselves).
    List,
    /// Revoke a token by id.
    Revoke { token_id: Uuid },
}

pub async fn run(url: &str, command: TokenCommand) -> anyhow::Result<()> {
    let db = super::open(url).await?;
    match command {
        TokenCommand::Create { role, org, name } => {
            let org = org.map(OrgId::new).transpose().context("--org")?;
            let (token, id) = tokens::create(&db, &name, role, org.as_ref()).await?;
            eprintln!(
                "created {} token {id} ({name}); store it now, it is not shown again:",
                role.as_str()
            );
            println!("{token}");
        }
        TokenCommand::List => {
            println!(
                "{:<36}  {:<8}  {:<16}  {:<12}  {:<10}  name",
                "token_id", "role", "org", "prefix", "state"
            );
            for t in tokens::list(&db).await? {
                let state = if t.revoked_at.is_some() {
                    "revoked"
                } else {
                    "active"
                };
                println!(
                    "{:<36}  {:<8}  {:<16}  {:<12}  {:<10}  {}",
                    t.token_id,
                    t.role,
                    t.org_id.as_deref().unwrap_or("-"),
                    t.prefix,
                    state,
                    t.name
                );
            }
        }
        TokenCommand::Revoke { token_id } => {
            if tokens::revoke(&db, token_id).await? {
                println!("revoked {token_id}");
            } else {
                anyhow::bail!("no active token {token_id}");
            }
        }
    }
    db.close().await;
    Ok(())
}
