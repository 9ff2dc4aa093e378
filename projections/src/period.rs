//! Billing periods: monthly, in UTC, counted from an organization's anchor.
//!
//! Rules (pure calendar arithmetic, no clock):
//! - A period is the half-open interval `[start, end)`.
//! - Periods start at **00:00 UTC** on the anchor's day of the month; the
//!   anchor's time of day is ignored, so every period is a whole number of
//!   UTC days (which proration counts).
//! - The k-th period starts on the anchor's day in the k-th month after the
//!   anchor, clamped to that month's last day (anchor on the 31st: Jan 31,
//!   Feb 28 or 29, Mar 31, Apr 30…). The day is always taken from the
//!   anchor, never from the previous period, so a clamp never drifts.
//! - Dates outside chrono's representable range saturate at
//!   `DateTime::<Utc>::MIN_UTC` / `MAX_UTC` instead of panicking.

use chrono::{DateTime, Datelike, Duration, NaiveDate, TimeZone, Utc};
use serde::{Deserialize, Serialize};

/// One billing period, `[start, end)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Period {
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
}

impl Period {
    /// Whether `at` falls inside `[start, end)`.
    pub fn contains(&self, at: DateTime<Utc>) -> bool {
        self.start <= at && at < self.end
    }

    /// Number of whole UTC days in the period (28 to 31).
    pub fn days(&self) -> i64 {
        (self.end - self.start).num_days()
    }

    /// Index of the UTC day of the period that contains `at`, clamped to
    /// `0..=days()` (before the period: 0; at or after its end: `days()`).
    pub fn day_index(&self, at: DateTime<Utc>) -> i64 {
        if at <= self.start {
            return 0;
        }
        (at - self.start).num_days().min(self.days())
    }

    /// The start of day `index` of the period.
    pub fn day_start(&self, index: i64) -> DateTime<Utc> {
        Duration::try_days(index)
            .and_then(|d| self.start.checked_add_signed(d))
            .unwrap_or(self.end)
    }
}

/// Month number (years × 12 + month0) of a date, for month arithmetic.
fn month_number(date: NaiveDate) -> i64 {
    i64::from(date.year()) * 12 + i64::from(date.month0())
}

/// 00:00 UTC on `day` (clamped to the month's end) of month number `n`.
fn start_of(day: u32, n: i64) -> Option<DateTime<Utc>> {
    let year = i32::try_from(n.div_euclid(12)).ok()?;
    let month = u32::try_from(n.rem_euclid(12)).ok()? + 1;
    let first_of_next = if month == 12 {
        NaiveDate::from_ymd_opt(year.checked_add(1)?, 1, 1)?
    } else {
        NaiveDate::from_ymd_opt(year, month + 1, 1)?
    };
    let last_day = first_of_next.pred_opt()?.day();
    let date = NaiveDate::from_ymd_opt(year, month, day.min(last_day))?;
    Some(Utc.from_utc_datetime(&date.and_hms_opt(0, 0, 0)?))
}

fn saturating_start(day: u32, n: i64, fallback: DateTime<Utc>) -> DateTime<Utc> {
    start_of(day, n).unwrap_or(fallback)
}

/// The billing period of an organization anchored at `anchor` that
/// contains the instant `at` (also for instants before the anchor).
pub fn period_containing(anchor: DateTime<Utc>, at: DateTime<Utc>) -> Period {
    let day = anchor.day();
    let mut n = month_number(at.date_naive());
    // The period starting in `at`'s month may start after `at` (anchor day
    // later in the month than `at`): then `at` is in the previous one.
    match start_of(day, n) {
        Some(start) if start > at => n -= 1,
        Some(_) => {}
        None => {
            return Period {
                start: DateTime::<Utc>::MIN_UTC,
                end: DateTime::<Utc>::MAX_UTC,
            }
        }
    }
    Period {
        start: saturating_start(day, n, DateTime::<Utc>::MIN_UTC),
        end: saturating_start(day, n + 1, DateTime::<Utc>::MAX_UTC),
    }
}

/// The period right after `p` for an organization anchored at `anchor`.
pub fn next_period(anchor: DateTime<Utc>, p: &Period) -> Period {
    period_containing(anchor, p.end)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    #[test]
    fn time_of_day_of_the_anchor_is_ignored() {
        let p = period_containing(at("2026-01-15T13:45:00Z"), at("2026-03-20T08:00:00Z"));
        assert_eq!(p.start, at("2026-03-15T00:00:00Z"));
        assert_eq!(p.end, at("2026-04-15T00:00:00Z"));
        assert_eq!(p.days(), 31);
    }

    #[test]
    fn day_index_is_clamped_to_the_period() {
        let p = period_containing(at("2026-03-01T00:00:00Z"), at("2026-03-05T00:00:00Z"));
        assert_eq!(p.day_index(at("2026-02-01T00:00:00Z")), 0);
        assert_eq!(p.day_index(at("2026-03-10T23:59:59Z")), 9);
        assert_eq!(p.day_index(at("2026-05-01T00:00:00Z")), 31);
        assert_eq!(p.day_start(9), at("2026-03-10T00:00:00Z"));
    }
}
