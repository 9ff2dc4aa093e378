//! The month-end forecast of an invoice: a pure function of the folded
//! events and the moment the run-rate is measured at.
//!
//! Rules (docs/pricing.md, "Forecast"):
//! - the run-rate of a meter is its quantity so far over the time elapsed
//!   in the period at `as_of`, measured over at least one day (before the
//!   period's first day has passed, the quantity so far counts as one
//!   day's usage);
//! - the projected quantity is `quantity × period length / elapsed`,
//!   rounded to 6 decimal places (half away from zero), and never less
//!   than the quantity so far; the extra units are priced with the price
//!   of the meter's latest price segment of the period;
//! - the projected invoice is rendered through the very same rules as the
//!   invoice (tiers, allowances and minimums exact, not a linear scale of
//!   the amount), with the recurring fees of the whole period (including
//!   scheduled changes and cancellations), charges, credits and late
//!   adjustments as they are;
//! - a closed invoice's forecast is its total; at or after the period's
//!   end the forecast is the invoice itself.

use chrono::{DateTime, TimeDelta, Utc};
use rust_decimal::{Decimal, RoundingStrategy};
use serde::{Deserialize, Serialize};

use super::book::OrgBook;
use super::render::render;
use super::FoldError;

/// Decimal places of a projected quantity.
pub const PROJECTED_QUANTITY_SCALE: u32 = 6;

/// An invoice's projected state at the end of its period.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Forecast {
    /// The moment the run-rate was measured at (clamped into the period).
    pub as_of: DateTime<Utc>,
    /// Each metered usage's quantity so far and at the period's end.
    pub meters: Vec<MeterForecast>,
    /// The projected invoice's subtotal (before credits).
    pub subtotal: Decimal,
    /// The projected invoice's total: what the period is on course to bill.
    pub total: Decimal,
}

/// One meter's run-rate projection.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct MeterForecast {
    pub meter: String,
    /// Units recorded so far in the period.
    pub quantity: Decimal,
    /// Units at the period's end at the current run-rate.
    pub projected_quantity: Decimal,
}

/// `quantity × length / elapsed`, rounded; `quantity` if it overflows.
fn extrapolate(quantity: Decimal, length: i64, elapsed: i64) -> Decimal {
    if elapsed <= 0 || elapsed >= length {
        return quantity;
    }
    let projected = quantity
        .checked_mul(Decimal::from(length))
        .and_then(|q| q.checked_div(Decimal::from(elapsed)))
        .or_else(|| {
            quantity
                .checked_div(Decimal::from(elapsed))
                .and_then(|q| q.checked_mul(Decimal::from(length)))
        })
        .unwrap_or(quantity)
        .round_dp_with_strategy(
            PROJECTED_QUANTITY_SCALE,
            RoundingStrategy::MidpointAwayFromZero,
        );
    projected.max(quantity)
}

impl OrgBook {
    /// The forecast of the invoice of the period starting `period_start`,
    /// with the run-rate measured at `as_of`; `None` if there is no such
    /// invoice. Fails like [`OrgBook::invoice`] when the projected invoice
    /// has an amount out of range.
    pub fn forecast(
        &self,
        period_start: DateTime<Utc>,
        as_of: DateTime<Utc>,
    ) -> Result<Option<Forecast>, FoldError> {
        let Some(pb) = self.periods.get(&period_start) else {
            return Ok(None);
        };
        let period = pb.period;
        let as_of = as_of.clamp(period.start, period.end);
        let quantities = |pb: &super::book::PeriodBook| -> Vec<(String, Decimal)> {
            pb.usage
                .iter()
                .map(|(meter, segments)| (meter.clone(), segments.iter().map(|s| s.quantity).sum()))
                .collect()
        };
        if !pb.is_open() {
            let Some(invoice) = self.invoice(period_start)? else {
                return Ok(None);
            };
            return Ok(Some(Forecast {
                as_of,
                meters: quantities(pb)
                    .into_iter()
                    .map(|(meter, q)| MeterForecast {
                        meter,
                        quantity: q,
                        projected_quantity: q,
                    })
                    .collect(),
                subtotal: invoice.subtotal,
                total: invoice.total,
            }));
        }
        let micros = |d: TimeDelta| d.num_microseconds().unwrap_or(i64::MAX);
        let length = micros(period.end - period.start);
        let elapsed = micros(as_of - period.start).max(micros(TimeDelta::days(1)));
        let mut projected = pb.clone();
        let mut meters = Vec::with_capacity(pb.usage.len());
        for (meter, segments) in &mut projected.usage {
            let quantity: Decimal = segments.iter().map(|s| s.quantity).sum();
            let at_end = extrapolate(quantity, length, elapsed);
            if let Some(last) = segments.last_mut() {
                last.quantity += at_end - quantity;
            }
            meters.push(MeterForecast {
                meter: meter.clone(),
                quantity,
                projected_quantity: at_end,
            });
        }
        let invoice = render(self, &projected)?.invoice;
        Ok(Some(Forecast {
            as_of,
            meters,
            subtotal: invoice.subtotal,
            total: invoice.total,
        }))
    }
}
