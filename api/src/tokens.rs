//! API bearer tokens: created by `billing token create`, stored hashed.

use base64::Engine;
use chrono::{DateTime, Utc};
use ledger::db::{Database, DbTime, DbUuid};
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
    pub created_at: DateTime<Utc>,
    pub revoked_at: Option<DateTime<Utc>>,
}

#[derive(sqlx::FromRow)]
struct TokenRow {
    api_token_id: DbUuid,
    name: String,
    role: String,
    org_id: Option<String>,
    token_prefix: String,
    token_hash: String,
    created_at: DbTime,
    revoked_at: Option<DbTime>,
}

const COLUMNS: &str =
    "api_token_id, name, role, org_id, token_prefix, token_hash, created_at, revoked_at";

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
    let mut tx = db.begin_write().await?;
    tx.query(
        "INSERT INTO api_token (api_token_id, name, role, org_id, token_hash, token_prefix, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(DbUuid(id))
    .bind(name)
    .bind(role.as_str())
    .bind(org)
    .bind(hash(&token))
    .bind(&prefix)
    .bind(DbTime(Utc::now()))
    .execute()
    .await?;
    tx.commit().await?;
    Ok((token, id))
}

/// Every token, newest first.
pub async fn list(db: &Database) -> anyhow::Result<Vec<TokenInfo>> {
    let sql = format!("SELECT {COLUMNS} FROM api_token ORDER BY created_at DESC");
    let rows: Vec<TokenRow> = db.query_as(&sql).fetch_all().await?;
    Ok(rows
        .into_iter()
        .map(|row| TokenInfo {
            token_id: row.api_token_id.0,
            name: row.name,
            role: row.role,
            org_id: row.org_id,
            prefix: row.token_prefix,
            created_at: row.created_at.0,
            revoked_at: row.revoked_at.map(|t| t.0),
        })
        .collect())
}

/// Revoke a token by id; `false` if there was no such live token.
pub async fn revoke(db: &Database, id: Uuid) -> anyhow::Result<bool> {
    let mut tx = db.begin_write().await?;
    let affected = tx
        .query(
            "UPDATE api_token SET revoked_at = $2 WHERE api_token_id = $1 AND revoked_at IS NULL",
        )
        .bind(DbUuid(id))
        .bind(DbTime(Utc::now()))
        .execute()
        .await?;
    tx.commit().await?;
    Ok(affected == 1)
}

/// The principal a presented token stands for, if it is valid and live.
pub async fn authenticate(db: &Database, token: &str) -> anyhow::Result<Option<Principal>> {
    if !token.starts_with(PREFIX) || token.len() > 200 {
        return Ok(None);
    }
    let wanted = hash(token);
    let sql =
        format!("SELECT {COLUMNS} FROM api_token WHERE token_hash = $1 AND revoked_at IS NULL");
    let Some(row) = db
        .query_as::<TokenRow>(&sql)
        .bind(&wanted)
        .fetch_optional()
        .await?
    else {
        return Ok(None);
    };
    // The lookup is by hash; compare the hashes in constant time as well.
    if !bool::from(row.token_hash.as_bytes().ct_eq(wanted.as_bytes())) {
        return Ok(None);
    }
    principal(row).map(Some)
}

fn principal(row: TokenRow) -> anyhow::Result<Principal> {
    let role = Role::parse(&row.role)
        .ok_or_else(|| anyhow::anyhow!("stored token has role `{}`", row.role))?;
    Ok(Principal {
        token_id: row.api_token_id.0,
        name: row.name,
        role,
        org: row.org_id.map(OrgId::new).transpose()?,
    })
}

/// The principal of a live (unrevoked) token by its id: what a console
/// session, which remembers only the token's id, acts as.
pub async fn live_principal(db: &Database, id: Uuid) -> anyhow::Result<Option<Principal>> {
    let sql =
        format!("SELECT {COLUMNS} FROM api_token WHERE api_token_id = $1 AND revoked_at IS NULL");
    match db
        .query_as::<TokenRow>(&sql)
        .bind(DbUuid(id))
        .fetch_optional()
        .await?
    {
        Some(row) => principal(row).map(Some),
        None => Ok(None),
    }
}
