//! `GET /v1/invoices/search` for the subset of Stripe's query language we use:
//! `metadata['key']:'value'` clauses joined by `AND`. Results are eventually
//! consistent: a change becomes searchable after `search_index_delay`.

use serde_json::{json, Value};
use tokio::time::Instant;

use crate::error::StripeErr;
use crate::model::Invoice;
use crate::params::Params;
use crate::store::{limit, Store};
use crate::FakeConfig;

/// Reads a quoted string (`'…'` or `"…"`, backslash escapes) from the start of `s`.
fn quoted(s: &str) -> Option<(String, &str)> {
    let mut chars = s.char_indices();
    let (_, quote) = chars.next().filter(|(_, c)| *c == '\'' || *c == '"')?;
    let mut out = String::new();
    let mut escaped = false;
    for (i, c) in chars {
        match c {
            _ if escaped => {
                out.push(c);
                escaped = false;
            }
            '\\' => escaped = true,
            c if c == quote => return Some((out, &s[i + c.len_utf8()..])),
            c => out.push(c),
        }
    }
    None
}

fn clause(s: &str) -> Option<((String, String), &str)> {
    let rest = s.trim_start().strip_prefix("metadata[")?;
    let (key, rest) = quoted(rest)?;
    let rest = rest.strip_prefix("]:")?;
    let (value, rest) = quoted(rest)?;
    Some(((key, value), rest))
}

pub(crate) fn parse_query(query: &str) -> Result<Vec<(String, String)>, StripeErr> {
    let bad = || {
        StripeErr::invalid(format!(
            "Unsupported search query: {query:?}. The Stripe fake supports metadata['key']:'value' clauses joined by AND."
        ))
        .param("query")
    };
    let mut clauses = Vec::new();
    let mut rest = query;
    loop {
        let (pair, after) = clause(rest).ok_or_else(bad)?;
        clauses.push(pair);
        let after = after.trim_start();
        if after.is_empty() {
            return Ok(clauses);
        }
        rest = after.strip_prefix("AND ").ok_or_else(bad)?;
    }
}

fn matches(inv: &Invoice, clauses: &[(String, String)], now: Instant) -> bool {
    let indexed = inv.search_index.iter().rev().find(|(at, _)| *at <= now);
    indexed.is_some_and(|(_, metadata)| {
        clauses
            .iter()
            .all(|(k, v)| metadata.get(k).is_some_and(|m| m == v))
    })
}

pub(super) fn invoices(store: &Store, config: &FakeConfig, p: &Params) -> Result<Value, StripeErr> {
    let query = p
        .str("query")
        .ok_or_else(|| StripeErr::missing_param("query"))?;
    let clauses = parse_query(query)?;
    let limit = limit(p)?;
    let offset: usize = match p.str("page") {
        None => 0,
        Some(token) => token
            .strip_prefix("page_")
            .and_then(|n| n.parse().ok())
            .ok_or_else(|| StripeErr::invalid("Invalid page token.").param("page"))?,
    };
    let now = Instant::now();
    let hits: Vec<&Invoice> = store
        .invoices
        .iter()
        .rev()
        .filter(|i| matches(i, &clauses, now))
        .collect();
    let end = (offset + limit).min(hits.len());
    let start = offset.min(end);
    let data: Vec<Value> = hits[start..end]
        .iter()
        .map(|i| {
            let lines = store.lines_of(&i.id);
            crate::model::render_invoice(
                i,
                store.customer(&i.customer),
                &lines,
                config.embedded_lines,
            )
        })
        .collect();
    let has_more = end < hits.len();
    Ok(json!({
        "object": "search_result",
        "data": data,
        "has_more": has_more,
        "next_page": has_more.then(|| format!("page_{end}")),
        "url": "/v1/invoices/search",
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metadata_clauses_joined_by_and_parse_with_escapes() {
        let parsed = parse_query(r"metadata['a']:'x\'y' AND metadata['b']:'2'");
        assert_eq!(
            parsed.ok(),
            Some(vec![("a".into(), "x'y".into()), ("b".into(), "2".into())])
        );
    }

    #[test]
    fn other_search_syntax_is_refused_plainly() {
        assert!(parse_query("status:'open'").is_err());
        assert!(parse_query("metadata['a']:'x' OR metadata['b']:'y'").is_err());
    }
}
