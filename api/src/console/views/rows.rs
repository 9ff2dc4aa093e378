//! What the pages show, formatted: links, times, and the rows of the
//! invoice, line and event tables.

use chrono::{DateTime, Utc};
use ledger::RecordedEvent;
use projections::fold::{Invoice, InvoiceLine, InvoiceStatus};

use crate::http::invoices::InvoiceSummary;
use crate::http::sync_status::{SyncPhase, SyncState};

/// Percent-encode one path segment (everything but RFC 3986 unreserved).
pub fn segment(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    for byte in raw.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// A query string value, form-encoded.
pub fn query_value(raw: &str) -> String {
    form_urlencoded::byte_serialize(raw.as_bytes()).collect()
}

/// `2026-11-03 14:05:07 UTC`.
pub fn time(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M:%S UTC").to_string()
}

/// The value a `datetime-local` input takes (seconds, UTC).
pub fn datetime_local(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%S").to_string()
}

/// The period of an invoice, `2026-11-01 – 2026-12-01`.
pub fn period(start: DateTime<Utc>, end: DateTime<Utc>) -> String {
    format!("{} – {}", start.format("%Y-%m-%d"), end.format("%Y-%m-%d"))
}

/// The path segment of an invoice's period start (the date when it is midnight).
pub fn period_segment(start: DateTime<Utc>) -> String {
    use chrono::Timelike;
    if start.num_seconds_from_midnight() == 0 && start.nanosecond() == 0 {
        start.format("%Y-%m-%d").to_string()
    } else {
        segment(&start.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
    }
}

pub fn org_href(org: &str) -> String {
    format!("/console/organizations/{}", segment(org))
}

pub fn invoice_href(org: &str, start: DateTime<Utc>) -> String {
    format!("{}/invoices/{}", org_href(org), period_segment(start))
}

fn status(status: InvoiceStatus) -> String {
    status.as_str().to_owned()
}

/// A row of an invoice list.
pub struct InvoiceRow {
    pub href: String,
    pub period: String,
    pub status: String,
    /// Payment status from Stripe, with when it was paid.
    pub payment: String,
    pub total: String,
    pub lines: usize,
    pub version: i64,
}

impl InvoiceRow {
    pub fn of(org: &str, invoice: &InvoiceSummary) -> Self {
        Self {
            href: invoice_href(org, invoice.period_start),
            period: period(invoice.period_start, invoice.period_end),
            status: status(invoice.status),
            payment: match invoice.paid_at {
                Some(at) => format!("{} {}", invoice.payment_status.as_str(), time(at)),
                None => invoice.payment_status.as_str().replace('_', " "),
            },
            total: format!("{} {}", invoice.total, invoice.currency.code()),
            lines: invoice.lines,
            version: invoice.version,
        }
    }
}

/// Where the invoice stands in Stripe.
pub struct SyncView {
    pub class: String,
    pub message: String,
    pub stripe_invoice_id: Option<String>,
    pub stripe_status: Option<String>,
    pub published_version: Option<i64>,
    pub attempts: Option<i64>,
    pub last_error: Option<String>,
}

impl SyncView {
    pub fn of(sync: &SyncState) -> Self {
        Self {
            class: match sync.state {
                SyncPhase::Failing => "bad",
                SyncPhase::InStripe => "good",
                SyncPhase::NotInStripe => "muted",
            }
            .to_owned(),
            message: sync.message.clone(),
            stripe_invoice_id: sync.stripe_invoice_id.clone(),
            stripe_status: sync.stripe_status.clone(),
            published_version: sync.published_version,
            attempts: sync.attempts,
            last_error: sync.last_error.clone(),
        }
    }
}

/// A line of an invoice.
pub struct LineRow {
    pub href: Option<String>,
    pub description: String,
    pub kind: String,
    pub quantity: String,
    pub amount: String,
}

fn kind(line: &InvoiceLine) -> String {
    serde_json::to_value(line.kind)
        .ok()
        .and_then(|v| v.as_str().map(|s| s.replace('_', " ")))
        .unwrap_or_default()
}

impl LineRow {
    /// `live`: lines of the live invoice open their events; an as-of
    /// view's lines do not (the events page shows the live line).
    pub fn of(invoice: &Invoice, line: &InvoiceLine, live: bool) -> Self {
        Self {
            href: live.then(|| {
                format!(
                    "{}/lines/{}",
                    invoice_href(invoice.org_id.as_str(), invoice.period_start),
                    segment(&line.line_id)
                )
            }),
            description: line.description.clone(),
            kind: kind(line),
            quantity: line.quantity.normalize().to_string(),
            amount: format!("{} {}", line.amount, invoice.currency.code()),
        }
    }
}

/// An event in a table: who, when, what.
pub struct EventRow {
    pub position: i64,
    pub event_type: String,
    pub what: String,
    pub occurred_at: String,
    pub recorded_at: String,
    pub who: String,
    pub correction: bool,
}

impl EventRow {
    pub fn of(event: &RecordedEvent) -> Self {
        let field = |name: &str| {
            event
                .payload
                .get(name)
                .map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_owned))
        };
        let what = match event.event_type.as_str() {
            "UsageRecorded" => format!(
                "{} {} from {}",
                field("quantity").unwrap_or_default(),
                field("meter").unwrap_or_default(),
                field("source").unwrap_or_default()
            ),
            "UsageCorrected" => format!(
                "corrected {} → {}: {}",
                field("previous_quantity").unwrap_or_default(),
                field("quantity").unwrap_or_default(),
                field("reason").unwrap_or_default()
            ),
            "UsageVoided" => format!(
                "voided {}: {}",
                field("previous_quantity").unwrap_or_default(),
                field("reason").unwrap_or_default()
            ),
            _ => String::new(),
        };
        let metadata = &event.metadata;
        let who = match (&metadata.actor, &metadata.source) {
            (Some(actor), Some(source)) => format!("{actor} via {source}"),
            (Some(actor), None) => actor.clone(),
            (None, Some(source)) => source.clone(),
            (None, None) => "unknown".to_owned(),
        };
        Self {
            position: event.global_position,
            correction: matches!(event.event_type.as_str(), "UsageCorrected" | "UsageVoided"),
            event_type: event.event_type.clone(),
            what,
            occurred_at: time(event.occurred_at),
            recorded_at: time(event.recorded_at),
            who,
        }
    }
}

/// The current period's spend against the budget (the spend signal).
pub struct SpendView {
    pub currency: String,
    pub spend: String,
    pub forecast: Option<String>,
    /// `500.00 USD (version 2)`, if a budget is set.
    pub budget: Option<String>,
    /// Thresholds reached, in words (`80% (400.00 USD): actual`).
    pub crossed: Vec<String>,
    pub over_budget: bool,
    pub projected_over_budget: bool,
}

impl SpendView {
    pub fn of(spend: &crate::http::budgets::Spend) -> Self {
        let code = spend.currency.code();
        Self {
            currency: code.to_owned(),
            spend: spend.spend.to_string(),
            forecast: spend.forecast.map(|f| f.to_string()),
            budget: spend
                .budget
                .as_ref()
                .map(|b| format!("{} {code} per period (version {})", b.amount, b.version)),
            crossed: spend
                .thresholds_crossed
                .iter()
                .map(|c| {
                    let kind = match c.kind {
                        ledger::event::AlertKind::Actual => "reached",
                        ledger::event::AlertKind::Projected => "projected to be reached",
                    };
                    format!("{} ({} {code}): {kind}", c.threshold.label(), c.amount)
                })
                .collect(),
            over_budget: spend.over_budget,
            projected_over_budget: spend.projected_over_budget,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_segments_are_percent_encoded() {
        assert_eq!(
            segment("usage:cpu_seconds:cpu"),
            "usage%3Acpu_seconds%3Acpu"
        );
        assert_eq!(segment("a b/c"), "a%20b%2Fc");
        assert_eq!(segment("acme-1.x~"), "acme-1.x~");
    }
}
