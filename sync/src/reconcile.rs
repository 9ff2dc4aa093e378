//! `billing reconcile`: Stripe's invoices for our customers compared with
//! the ledger's, every difference reported (missing, extra, duplicate,
//! status, total, and per-line missing / extra / amount).

use std::collections::BTreeMap;
use std::fmt::Write as _;

use ledger::db::Database;
use projections::{Invoice, InvoiceStatus};
use serde::Serialize;

use crate::error::SyncError;
use crate::snapshot::{desired, invoice_tag, META_INVOICE, META_LINE};
use crate::state::customer;
use crate::stripe::{Invoice as StripeInvoice, InvoiceStatus as S, ListInvoices, ListParams};
use crate::stripe::{StripeApi, StripeError};

/// What kind of difference.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DiffKind {
    /// A closed ledger invoice has no Stripe invoice.
    Missing,
    /// A Stripe invoice names a ledger invoice that does not exist.
    Extra,
    /// More than one Stripe invoice for one ledger invoice.
    Duplicate,
    StatusMismatch,
    /// Stripe's payment state is not the ledger's `payment_status` (a lost
    /// webhook the catch-up has not applied yet, or a fact Stripe never sent).
    PaymentMismatch,
    TotalMismatch,
    LineMissing,
    LineExtra,
    LineAmountMismatch,
}

/// One difference.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Difference {
    /// `<org>/<period start>`.
    pub invoice: String,
    pub stripe_invoice_id: Option<String>,
    pub kind: DiffKind,
    pub detail: String,
}

/// Everything reconcile found.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ReconcileReport {
    pub ledger_invoices: usize,
    pub stripe_invoices: usize,
    pub differences: Vec<Difference>,
}

fn status_matches(ledger: InvoiceStatus, stripe: Option<S>) -> bool {
    matches!(
        (ledger, stripe),
        (InvoiceStatus::Open, Some(S::Draft))
            // Paid, written off or voided in Stripe: the payment comparison decides.
            | (
                InvoiceStatus::Finalized,
                Some(S::Open | S::Paid | S::Uncollectible | S::Void)
            )
            | (InvoiceStatus::Paid, Some(S::Paid))
            | (InvoiceStatus::Void, Some(S::Void))
    )
}

/// The ledger's payment status against Stripe's invoice status, for a
/// closed invoice Stripe has finalized; `None` when they agree.
fn payment_mismatch(invoice: &Invoice, stripe: Option<S>, total: i64) -> Option<String> {
    use projections::PaymentStatus as P;
    let stripe = stripe?;
    let agrees = match (invoice.payment_status, stripe) {
        (_, S::Draft) => true,
        (P::Unpaid | P::PaymentFailed, S::Open) => true,
        (P::Paid, S::Paid) | (P::Uncollectible, S::Uncollectible) | (P::Void, S::Void) => true,
        // Stripe pays a zero-total invoice on finalization.
        (P::Unpaid, S::Paid) => total == 0,
        _ => false,
    };
    (!agrees).then(|| {
        format!(
            "ledger payment_status {} vs Stripe {stripe:?}",
            invoice.payment_status.as_str()
        )
    })
}

async fn customer_invoices(
    api: &dyn StripeApi,
    customer: &str,
) -> Result<Vec<StripeInvoice>, StripeError> {
    let mut params = ListInvoices {
        customer: Some(customer.to_owned()),
        page: ListParams {
            limit: Some(100),
            ..ListParams::default()
        },
        ..ListInvoices::default()
    };
    let mut all = Vec::new();
    loop {
        let page = api.list_invoices(&params).await?;
        let last = page.data.last().map(|i| i.id.clone());
        all.extend(page.data);
        match last {
            Some(last) if page.has_more => params.page.starting_after = Some(last),
            _ => return Ok(all),
        }
    }
}

/// Compare every Stripe invoice of the sync's customers with the ledger.
pub async fn reconcile(db: &Database, api: &dyn StripeApi) -> Result<ReconcileReport, SyncError> {
    let tables = projections::tables_for(db);
    let generation = tables
        .active_generation(projections::tables::INVOICES)
        .await?;
    let ledger: Vec<Invoice> = tables.invoices(generation).await?;
    let mut stripe: BTreeMap<String, Vec<StripeInvoice>> = BTreeMap::new();
    let mut report = ReconcileReport {
        ledger_invoices: ledger.len(),
        ..ReconcileReport::default()
    };
    for c in customer::all(db).await? {
        let Some(id) = c.stripe_customer_id else {
            continue;
        };
        for inv in customer_invoices(api, &id).await? {
            if let Some(tag) = inv.metadata.get(META_INVOICE).cloned() {
                report.stripe_invoices += 1;
                stripe.entry(tag).or_default().push(inv);
            }
        }
    }
    let diffs = &mut report.differences;
    for invoice in &ledger {
        let tag = invoice_tag(invoice.org_id.as_str(), invoice.period_start);
        let found = stripe.remove(&tag).unwrap_or_default();
        let mut add = |id: Option<&str>, kind, detail: String| {
            diffs.push(Difference {
                invoice: tag.clone(),
                stripe_invoice_id: id.map(str::to_owned),
                kind,
                detail,
            })
        };
        let Some(first) = found.first() else {
            if matches!(
                invoice.status,
                InvoiceStatus::Finalized | InvoiceStatus::Paid
            ) {
                add(
                    None,
                    DiffKind::Missing,
                    format!("ledger invoice is {}", invoice.status.as_str()),
                );
            }
            continue;
        };
        if found.len() > 1 {
            let ids: Vec<&str> = found.iter().map(|i| i.id.as_str()).collect();
            add(
                None,
                DiffKind::Duplicate,
                format!("{} Stripe invoices: {}", ids.len(), ids.join(", ")),
            );
        }
        let id = Some(first.id.as_str());
        if !status_matches(invoice.status, first.status) {
            add(
                id,
                DiffKind::StatusMismatch,
                format!(
                    "ledger {} vs Stripe {:?}",
                    invoice.status.as_str(),
                    first.status
                ),
            );
        }
        if invoice.status == InvoiceStatus::Void {
            continue;
        }
        let want = desired(invoice)?;
        let total: i64 = want.iter().map(|l| l.amount).sum();
        if invoice.status != InvoiceStatus::Open {
            if let Some(detail) = payment_mismatch(invoice, first.status, total) {
                add(id, DiffKind::PaymentMismatch, detail);
            }
        }
        if first.status != Some(S::Draft) && first.total != total {
            add(
                id,
                DiffKind::TotalMismatch,
                format!("ledger {total} vs Stripe {}", first.total),
            );
        }
        let mut have: BTreeMap<String, i64> = BTreeMap::new();
        for line in api.all_invoice_lines(&first.id).await? {
            let key = line.metadata.get(META_LINE).cloned().unwrap_or(line.id);
            *have.entry(key).or_default() += line.amount;
        }
        for line in &want {
            match have.remove(&line.line_id) {
                None => add(
                    id,
                    DiffKind::LineMissing,
                    format!("{} ({})", line.line_id, line.amount),
                ),
                Some(a) if a != line.amount => add(
                    id,
                    DiffKind::LineAmountMismatch,
                    format!("{}: ledger {} vs Stripe {a}", line.line_id, line.amount),
                ),
                Some(_) => {}
            }
        }
        for (line_id, amount) in have {
            add(id, DiffKind::LineExtra, format!("{line_id} ({amount})"));
        }
    }
    for (tag, invoices) in stripe {
        for inv in invoices {
            diffs.push(Difference {
                invoice: tag.clone(),
                stripe_invoice_id: Some(inv.id),
                kind: DiffKind::Extra,
                detail: "no such ledger invoice".into(),
            });
        }
    }
    Ok(report)
}

/// The report as a plain-text table.
pub fn render_table(report: &ReconcileReport) -> String {
    let mut out = format!(
        "ledger invoices: {}  Stripe invoices: {}  differences: {}\n",
        report.ledger_invoices,
        report.stripe_invoices,
        report.differences.len()
    );
    if report.differences.is_empty() {
        return out;
    }
    let _ = writeln!(
        out,
        "{:<52} {:<22} {:<24} DETAIL",
        "INVOICE", "KIND", "STRIPE ID"
    );
    for d in &report.differences {
        let kind = serde_json::to_value(d.kind)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned));
        let _ = writeln!(
            out,
            "{:<52} {:<22} {:<24} {}",
            d.invoice,
            kind.unwrap_or_default(),
            d.stripe_invoice_id.as_deref().unwrap_or("-"),
            d.detail
        );
    }
    out
}
