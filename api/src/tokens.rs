//! API bearer tokens: created by `billing token create`, stored hashed.

use base64::Engine;
use chrono::Utc;
use ledger::db::Database;
use ledger::store::format_timestamp;
use ledger::OrgId;
use rand::RngCore;
use serde::Serialize;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use uuid::Uuid;

/// What a token may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Push usage.
    Ingest,
    /// Read every organization's invoices and audit history; never writes.
    Support,
    /// Everything, including catalog, organizations and operations.
    Admin,
    /// Read one organization's invoices (needs `--org`).
    Org,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ingest => "ingest",
            Self::Support => "support",
            Self::Admin => "admin",
            Self::Org => "org",
        }
    }

    fn parse(raw: &str) -> Option<Self> {
        Some(match raw {
            "ingest" => Self::Ingest,
            "support" => Self::Support,
            "admin" => Self::Admin,
            "org" => Self::Org,
            _ => return None,
        })
    }
}

/// An authenticated caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub token_id: Uuid,
    pub name: String,
    pub role: Role,
    /// For org-scoped tokens, the only organization they may read.
    pub org: Option<OrgId>,
}

/// A stored token, as listed (never the token itself).
#[derive(Debug, Clone, Serialize)]
pub struct TokenInfo {
    pub token_id: Uuid,
    pub name: String,
    pub role: String,
    pub org_id: Option<String>,
    pub prefix: String,
    pub created_at: String,
    pub revoked_at: Option<String>,
}

const PREFIX: &str = "blt_";

fn hash(token: &str) -> String {
    Sha256::digest(token.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Create a token; returns it (shown once) and its id.
pub async fn create(
    db: &Database,
    name: &str,
    role: Role,
    org: Option<&OrgId>,
) -> anyhow::Result<(String, Uuid)> {
    if (role == Role::Org) != org.is_some() {
        anyhow::bail!("--org is required for --role org and only allowed with it");
    }
    if name.trim().is_empty() {
        anyhow::bail!("--name must not be empty");
    }
    let mut secret = [0u8; 32];
    rand::rng().fill_bytes(&mut secret);
    let token = format!(
        "{PREFIX}{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(secret)
    );
    let id = Uuid::now_v7();
    let org = org.map(OrgId::as_str);
    let prefix: String = token.chars().take(PREFIX.len() + 6).collect();
    match db {
        Database::Postgres(s) => {
            sqlx::query(
                "INSERT INTO api_token (api_token_id, name, role, org_id, token_hash, token_prefix) \
                 VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .bind(id)
            .bind(name)
            .bind(role.as_str())
            .bind(org)
            .bind(hash(&token))
            .bind(&prefix)
            .execute(s.pool())
            .await?;
        }
        Database::Sqlite(s) => {
            sqlx::query(
                "INSERT INTO api_token (api_token_id, name, role, org_id, token_hash, token_prefix, created_at) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            )
            .bind(id.to_string())
            .bind(name)
            .bind(role.as_str())
            .bind(org)
            .bind(hash(&token))
            .bind(&prefix)
            .bind(format_timestamp(Utc::now()))
            .execute(s.pool())
            .await?;
        }
    }
    Ok((token, id))
}

type Row = (
    String,
    String,
    String,
    Option<String>,
    String,
    String,
    Option<String>,
);

/// Every token, newest first.
pub async fn list(db: &Database) -> anyhow::Result<Vec<TokenInfo>> {
    let rows: Vec<Row> = match db {
        Database::Postgres(s) => {
            sqlx::query_as(
                "SELECT api_token_id::text, name, role, org_id, token_prefix, created_at::text, revoked_at::text \
                 FROM api_token ORDER BY created_at DESC",
            )
            .fetch_all(s.pool())
            .await?
        }
        Database::Sqlite(s) => {
            sqlx::query_as(
                "SELECT api_token_id, name, role, org_id, token_prefix, created_at, revoked_at \
                 FROM api_token ORDER BY created_at DESC",
            )
            .fetch_all(s.pool())
            .await?
        }
    };
    rows.into_iter()
        .map(|(id, name, role, org_id, prefix, created_at, revoked_at)| {
            Ok(TokenInfo {
                token_id: Uuid::parse_str(&id)?,
                name,
                role,
                org_id,
                prefix,
                created_at,
                revoked_at,
            })
        })
        .collect()
}

/// Revoke a token by id; `false` if there was no such live token.
pub async fn revoke(db: &Database, id: Uuid) -> anyhow::Result<bool> {
    let affected = match db {
        Database::Postgres(s) => sqlx::query(
            "UPDATE api_token SET revoked_at = now() WHERE api_token_id = $1 AND revoked_at IS NULL",
        )
        .bind(id)
        .execute(s.pool())
        .await?
        .rows_affected(),
        Database::Sqlite(s) => sqlx::query(
            "UPDATE api_token SET revoked_at = ?2 WHERE api_token_id = ?1 AND revoked_at IS NULL",
        )
        .bind(id.to_string())
        .bind(format_timestamp(Utc::now()))
        .execute(s.pool())
        .await?
        .rows_affected(),
    };
    Ok(affected == 1)
}

/// The principal a presented token stands for, if it is valid and live.
pub async fn authenticate(db: &Database, token: &str) -> anyhow::Result<Option<Principal>> {
    if !token.starts_with(PREFIX) || token.len() > 200 {
        return Ok(None);
    }
    let wanted = hash(token);
    let row: Option<(String, String, String, Option<String>, String)> = match db {
        Database::Postgres(s) => {
            sqlx::query_as(
                "SELECT api_token_id::text, name, role, org_id, token_hash FROM api_token \
                 WHERE token_hash = $1 AND revoked_at IS NULL",
            )
            .bind(&wanted)
            .fetch_optional(s.pool())
            .await?
        }
        Database::Sqlite(s) => {
            sqlx::query_as(
                "SELECT api_token_id, name, role, org_id, token_hash FROM api_token \
                 WHERE token_hash = ?1 AND revoked_at IS NULL",
            )
            .bind(&wanted)
            .fetch_optional(s.pool())
            .await?
        }
    };
    let Some((id, name, role, org, stored)) = row else {
        return Ok(None);
    };
    // The lookup is by hash; compare the hashes in constant time as well.
    if !bool::from(stored.as_bytes().ct_eq(wanted.as_bytes())) {
        return Ok(None);
    }
    let role =
        Role::parse(&role).ok_or_else(|| anyhow::anyhow!("stored token has role `{role}`"))?;
    Ok(Some(Principal {
        token_id: Uuid::parse_str(&id)?,
        name,
        role,
        org: org.map(OrgId::new).transpose()?,
    }))
}
