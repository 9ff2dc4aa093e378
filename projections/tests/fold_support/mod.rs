//! Given/when/then helpers for the fold tests: build a history of typed
//! events as `RecordedEvent`s (positions 1, 2, 3…), no database.
#![allow(dead_code)]

use chrono::{DateTime, Utc};
use ledger::event::*;
use ledger::pricing::{PriceSpec, PricingModel, Tier, Tiers};
use ledger::{LedgerEvent, NewEvent, OrgId, RecordedEvent, StreamId};
use projections::fold::Books;
use projections::Invoice;
use rust_decimal::Decimal;
use uuid::Uuid;

pub const ORG: &str = "acme";

pub fn t(s: &str) -> DateTime<Utc> {
    if s.len() == 10 {
        format!("{s}T00:00:00Z").parse().unwrap()
    } else {
        s.parse().unwrap()
    }
}

pub fn d(s: &str) -> Decimal {
    s.parse().unwrap()
}

pub fn org_id() -> OrgId {
    OrgId::new(ORG).unwrap()
}

pub fn key(period_start: &str) -> InvoiceKey {
    InvoiceKey {
        org_id: org_id(),
        period_start: t(period_start),
    }
}

pub fn per_unit(unit_price: &str) -> PriceSpec {
    spec(PricingModel::PerUnit {
        unit_price: unit_price.parse().unwrap(),
    })
}

/// Tiers as (up_to, unit price, flat fee).
pub fn tiers(rows: &[(Option<&str>, &str, Option<&str>)]) -> Tiers {
    let tiers: Vec<Tier> = rows
        .iter()
        .map(|(up_to, price, fee)| Tier {
            up_to: up_to.map(|u| u.parse().unwrap()),
            unit_price: price.parse().unwrap(),
            flat_fee: fee.map(|f| f.parse().unwrap()),
        })
        .collect();
    Tiers::try_from(tiers).unwrap()
}

pub fn graduated(rows: &[(Option<&str>, &str, Option<&str>)]) -> PriceSpec {
    spec(PricingModel::Graduated { tiers: tiers(rows) })
}

pub fn volume(rows: &[(Option<&str>, &str, Option<&str>)]) -> PriceSpec {
    spec(PricingModel::Volume { tiers: tiers(rows) })
}

fn spec(model: PricingModel) -> PriceSpec {
    PriceSpec {
        model,
        free_allowance: Default::default(),
        minimum_charge: None,
    }
}

pub fn with_allowance(mut spec: PriceSpec, free: &str) -> PriceSpec {
    spec.free_allowance = free.parse().unwrap();
    spec
}

pub fn with_minimum(mut spec: PriceSpec, minimum: &str) -> PriceSpec {
    spec.minimum_charge = Some(minimum.parse().unwrap());
    spec
}

/// A history of events, folded on demand.
#[derive(Default)]
pub struct History {
    pub events: Vec<RecordedEvent>,
}

impl History {
    /// An organization `acme` in USD anchored at `anchor`.
    pub fn with_org(anchor: &str) -> Self {
        Self::with_org_in(anchor, "USD")
    }

    /// An organization `acme` in `currency` anchored at `anchor`.
    pub fn with_org_in(anchor: &str, currency: &str) -> Self {
        let mut h = Self::default();
        h.push(
            LedgerEvent::OrganizationCreated(OrganizationCreated {
                org_id: org_id(),
                name: "Acme".into(),
                currency: currency.parse().unwrap(),
                billing_anchor: t(anchor),
                stripe_customer_id: None,
            }),
            anchor,
        );
        h
    }

    pub fn push(&mut self, event: LedgerEvent, at: &str) -> Uuid {
        let position = self.events.len() as i64 + 1;
        let new = NewEvent::from_domain(&event, t(at)).unwrap();
        let event_id = Uuid::from_u128(position as u128);
        self.events.push(RecordedEvent {
            event_id,
            stream_id: StreamId::new("test").unwrap(),
            stream_version: position,
            global_position: position,
            event_type: new.event_type,
            schema_version: new.schema_version,
            org_id: new.org_id,
            payload: new.payload.to_value().unwrap(),
            metadata: Default::default(),
            occurred_at: new.occurred_at,
            recorded_at: new.occurred_at,
            idempotency_key: None,
        });
        event_id
    }

    pub fn price(&mut self, price_id: &str, meter: &str, spec: PriceSpec, from: &str) {
        self.price_in("USD", price_id, meter, spec, from);
    }

    pub fn price_in(
        &mut self,
        currency: &str,
        price_id: &str,
        meter: &str,
        spec: PriceSpec,
        from: &str,
    ) {
        let description = format!("{meter} price");
        self.price_full(currency, price_id, meter, "unit", &description, spec, from);
    }

    /// A USD price with its unit ("second") and description ("Shared CPU").
    pub fn price_named(
        &mut self,
        price_id: &str,
        meter: &str,
        unit: &str,
        description: &str,
        spec: PriceSpec,
        from: &str,
    ) {
        self.price_full("USD", price_id, meter, unit, description, spec, from);
    }

    #[allow(clippy::too_many_arguments)]
    pub fn price_full(
        &mut self,
        currency: &str,
        price_id: &str,
        meter: &str,
        unit: &str,
        description: &str,
        spec: PriceSpec,
        from: &str,
    ) {
        let event = LedgerEvent::PriceSet(PriceSet {
            price_id: price_id.into(),
            meter: meter.into(),
            currency: currency.parse().unwrap(),
            unit: unit.into(),
            description: description.into(),
            spec,
            effective_from: t(from),
        });
        self.push(event, from);
    }

    pub fn usage(&mut self, meter: &str, quantity: &str, at: &str) -> Uuid {
        let event = LedgerEvent::UsageRecorded(UsageRecorded {
            org_id: org_id(),
            meter: meter.into(),
            quantity: quantity.parse().unwrap(),
            window: None,
            source: "test".into(),
            attributes: Default::default(),
        });
        self.push(event, at)
    }

    pub fn correct(
        &mut self,
        usage: Uuid,
        meter: &str,
        usage_at: &str,
        previous: &str,
        quantity: &str,
        at: &str,
    ) {
        let event = LedgerEvent::UsageCorrected(UsageCorrected {
            org_id: org_id(),
            usage_event_id: usage,
            meter: meter.into(),
            usage_occurred_at: t(usage_at),
            previous_quantity: previous.parse().unwrap(),
            quantity: quantity.parse().unwrap(),
            reason: "fix".into(),
        });
        self.push(event, at);
    }

    pub fn void(&mut self, usage: Uuid, meter: &str, usage_at: &str, previous: &str, at: &str) {
        let event = LedgerEvent::UsageVoided(UsageVoided {
            org_id: org_id(),
            usage_event_id: usage,
            meter: meter.into(),
            usage_occurred_at: t(usage_at),
            previous_quantity: previous.parse().unwrap(),
            reason: "duplicate".into(),
        });
        self.push(event, at);
    }

    pub fn subscribe(&mut self, sub: &str, plan: &str, fee: &str, at: &str) {
        let event = LedgerEvent::SubscriptionStarted(SubscriptionStarted {
            org_id: org_id(),
            subscription_id: sub.into(),
            plan: plan.into(),
            monthly_fee: fee.parse().unwrap(),
            effective_at: t(at),
        });
        self.push(event, at);
    }

    pub fn change_plan(&mut self, sub: &str, plan: &str, fee: &str, at: &str) {
        let event = LedgerEvent::SubscriptionChanged(SubscriptionChanged {
            org_id: org_id(),
            subscription_id: sub.into(),
            plan: plan.into(),
            monthly_fee: fee.parse().unwrap(),
            effective_at: t(at),
        });
        self.push(event, at);
    }

    pub fn cancel(&mut self, sub: &str, at: &str) {
        let event = LedgerEvent::SubscriptionCancelled(SubscriptionCancelled {
            org_id: org_id(),
            subscription_id: sub.into(),
            effective_at: t(at),
        });
        self.push(event, at);
    }

    pub fn charge(&mut self, charge_id: &str, amount: &str, at: &str) {
        let event = LedgerEvent::ChargeAdded(ChargeAdded {
            org_id: org_id(),
            charge_id: charge_id.into(),
            description: "Support plan".into(),
            amount: amount.parse().unwrap(),
        });
        self.push(event, at);
    }

    pub fn credit(&mut self, credit_id: &str, amount: &str, at: &str) {
        let event = LedgerEvent::CreditGranted(CreditGranted {
            org_id: org_id(),
            credit_id: credit_id.into(),
            description: "Goodwill".into(),
            amount: amount.parse().unwrap(),
        });
        self.push(event, at);
    }

    pub fn open(&mut self, period_start: &str, period_end: &str, at: &str) {
        let event = LedgerEvent::InvoicePeriodOpened(InvoicePeriodOpened {
            invoice: key(period_start),
            period_end: t(period_end),
        });
        self.push(event, at);
    }

    pub fn finalize(&mut self, period_start: &str, period_end: &str, at: &str) {
        let event = LedgerEvent::InvoiceFinalized(InvoiceFinalized {
            invoice: key(period_start),
            period_end: t(period_end),
        });
        self.push(event, at);
    }

    pub fn paid(&mut self, period_start: &str, at: &str) {
        let event = LedgerEvent::InvoicePaid(InvoicePaid {
            invoice: key(period_start),
            stripe_invoice_id: "in_1".into(),
            stripe_event_id: None,
            paid_at: None,
            paid_out_of_band: false,
        });
        self.push(event, at);
    }

    pub fn payment_failed(&mut self, period_start: &str, reason: &str, at: &str) {
        let event = LedgerEvent::InvoicePaymentFailed(InvoicePaymentFailed {
            invoice: key(period_start),
            stripe_invoice_id: "in_1".into(),
            reason: reason.into(),
            stripe_event_id: None,
            failed_at: None,
            attempt_count: None,
            next_payment_attempt: None,
        });
        self.push(event, at);
    }

    pub fn voided(&mut self, period_start: &str, at: &str) {
        let event = LedgerEvent::InvoiceVoided(InvoiceVoided {
            invoice: key(period_start),
            reason: "mistake".into(),
        });
        self.push(event, at);
    }

    pub fn published(&mut self, period_start: &str, version: i64, at: &str) {
        let event = LedgerEvent::InvoicePublishedToStripe(InvoicePublishedToStripe {
            invoice: key(period_start),
            version,
            stripe_invoice_id: "in_1".into(),
        });
        self.push(event, at);
    }

    pub fn fold(&self) -> Books {
        let mut books = Books::default();
        for event in &self.events {
            books.apply(event).unwrap();
        }
        books
    }

    /// The invoice of the period starting `period_start` after folding all.
    pub fn invoice(&self, period_start: &str) -> Invoice {
        self.fold()
            .invoice(&key(period_start))
            .unwrap()
            .unwrap_or_else(|| panic!("no invoice for {period_start}"))
    }
}

/// The line with `line_id`, or a panic listing the lines there are.
pub fn line<'a>(invoice: &'a Invoice, line_id: &str) -> &'a projections::InvoiceLine {
    invoice
        .lines
        .iter()
        .find(|l| l.line_id == line_id)
        .unwrap_or_else(|| {
            let ids: Vec<_> = invoice.lines.iter().map(|l| &l.line_id).collect();
            panic!("no line {line_id}; lines: {ids:?}")
        })
}
