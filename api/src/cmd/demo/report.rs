//! The demo's tour: invoices, one in full, one line's provenance, the same
//! invoice as it stood mid-month, and how to explore further.

use chrono::{DateTime, Utc};
use ledger::db::Database;
use ledger::OrgId;
use projections::fold::{Invoice, LineKind};
use projections::views::{invoices_as_of, line_events, AsOf};

use crate::tokens::{self, Role};

fn print_invoice(invoice: &Invoice) {
    println!(
        "  {} — {} to {} — {} — version {} (event position {})",
        invoice.org_id,
        invoice.period_start.date_naive(),
        invoice.period_end.date_naive(),
        invoice.status.as_str(),
        invoice.version,
        invoice.position
    );
    // Amounts first, in one column; the description (which says what was
    // bought and how it was priced) after it, as long as it needs.
    for line in &invoice.lines {
        println!(
            "    {:>12} {}  {}",
            line.amount.to_string(),
            invoice.currency,
            line.description
        );
    }
    println!(
        "    {:>12} {}  TOTAL",
        invoice.total.to_string(),
        invoice.currency
    );
}

pub async fn print(
    db: &Database,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
    url: &str,
) -> anyhow::Result<()> {
    let tables = projections::tables_for(db);
    let store = db.event_store();
    let generation = tables
        .active_generation(projections::tables::INVOICES)
        .await?;
    let invoices = tables.invoices(generation).await?;
    let closed: Vec<&Invoice> = invoices
        .iter()
        .filter(|i| i.period_start == start)
        .collect();
    println!(
        "\nInvoices for {} – {}:",
        start.date_naive(),
        end.date_naive()
    );
    println!(
        "  {:<22} {:<10} {:>5} {:>12}  payment",
        "organization", "status", "lines", "total"
    );
    for invoice in &closed {
        let failure = match &invoice.payment_failed {
            Some(reason) => format!(" ({reason})"),
            None => String::new(),
        };
        println!(
            "  {:<22} {:<10} {:>5} {:>12}  {}{failure}",
            invoice.org_id.as_str(),
            invoice.status.as_str(),
            invoice.lines.len(),
            format!("{} {}", invoice.total, invoice.currency),
            invoice.payment_status.as_str()
        );
    }
    let grand: rust_decimal::Decimal = closed.iter().map(|i| i.total).sum();
    println!(
        "  {:<22} {:<10} {:>5} {:>12}",
        "all",
        "",
        "",
        format!("{grand} USD")
    );
    let late = invoices
        .iter()
        .filter(|i| {
            i.period_start == end
                && i.lines
                    .iter()
                    .any(|l| l.kind == LineKind::LateUsageAdjustment)
        })
        .count();
    println!("  ({late} of next period's open invoices already carry a late-usage adjustment)");

    // The invoice with the most lines among those with something to pay.
    let Some(chosen) = closed
        .iter()
        .filter(|i| i.total > rust_decimal::Decimal::ZERO)
        .max_by_key(|i| (i.lines.len(), i.total))
        .or_else(|| closed.first())
    else {
        return Ok(());
    };
    println!("\nOne invoice in full:");
    print_invoice(chosen);

    let biggest = chosen
        .lines
        .iter()
        .filter(|l| l.kind == LineKind::Usage)
        .max_by_key(|l| l.amount);
    if let Some(line) = biggest {
        let page = line_events(store.as_ref(), &chosen.org_id, &line.source, None, 5).await?;
        let mut count = page.items.len();
        let mut cursor = page.next_cursor;
        while let Some(c) = cursor {
            let next = line_events(
                store.as_ref(),
                &chosen.org_id,
                &line.source,
                Some(c),
                10_000,
            )
            .await?;
            count += next.items.len();
            cursor = next.next_cursor;
        }
        println!(
            "\nWhy was {} charged {} for \"{}\"? {count} usage events, the first ones:",
            chosen.org_id, line.amount, line.description
        );
        for e in &page.items {
            println!(
                "    #{:<8} {}  {:>12} {}  via {}  ({})",
                e.global_position,
                e.occurred_at.format("%Y-%m-%d %H:%M:%S"),
                e.payload["quantity"].as_str().unwrap_or("?"),
                e.payload["meter"].as_str().unwrap_or("?"),
                e.metadata.actor.as_deref().unwrap_or("?"),
                e.event_id
            );
        }
    }

    let mid = start + (end - start) / 2;
    let mid_position = mid_month_position(db, &chosen.org_id, mid).await?;
    let then = invoices_as_of(store.as_ref(), &chosen.org_id, AsOf::Position(mid_position)).await?;
    if let Some(then) = then.into_iter().find(|i| i.period_start == start) {
        println!("\nThe same invoice as it stood mid-month (usage received up to {}, event position {mid_position}):", mid.date_naive());
        print_invoice(&then);
    }

    let (token, _) = tokens::create(db, "demo", Role::Admin, None).await?;
    let org = chosen.org_id.as_str();
    println!("\nExplore further:");
    println!("  DATABASE_URL={url} billing serve          # then, with this demo admin token:");
    println!("  export TOKEN={token}");
    println!("  curl -s localhost:8080/v1/organizations/{org}/invoices -H \"Authorization: Bearer $TOKEN\"");
    println!("  curl -s localhost:8080/v1/organizations/{org}/invoices/{} -H \"Authorization: Bearer $TOKEN\"", start.date_naive());
    println!("  curl -s localhost:8080/v1/organizations/{org}/invoices/current -H \"Authorization: Bearer $TOKEN\"");
    println!("  curl -s \"localhost:8080/v1/organizations/{org}/events?type=ChargeAdded,CreditGranted\" -H \"Authorization: Bearer $TOKEN\"");
    println!("  DATABASE_URL={url} billing rebuild --verify   # replay everything and compare");
    Ok(())
}

/// The last position of `org`'s usage that occurred before `mid` (usage
/// was ingested in time order, so this is "the ledger as of mid-month").
async fn mid_month_position(db: &Database, org: &OrgId, mid: DateTime<Utc>) -> anyhow::Result<i64> {
    let page = db
        .event_store()
        .read_audit(&ledger::store::AuditQuery {
            org_id: org.as_str().to_owned(),
            event_types: vec!["UsageRecorded".into()],
            occurred_to: Some(mid),
            direction: ledger::store::Direction::Backward,
            limit: 1,
            ..ledger::store::AuditQuery::default()
        })
        .await?;
    Ok(page.items.first().map_or(0, |e| e.global_position))
}
