//! Usage per day per meter, drawn server-side as SVG with `plotters`
//! (its SVG backend only: no fonts, images or JavaScript involved).

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, Utc};
use plotters::prelude::*;
use rust_decimal::prelude::ToPrimitive;
use rust_decimal::Decimal;

/// One meter's daily quantities over a period.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    pub meter: String,
    /// Every day of the period, in order, with its quantity (zero-filled).
    pub days: Vec<(NaiveDate, Decimal)>,
}

/// Zero-fill `per_day` over the period's days (start inclusive, end exclusive).
pub fn series(
    meter: &str,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
    per_day: &BTreeMap<NaiveDate, Decimal>,
) -> Series {
    let mut days = Vec::new();
    let mut day = start.date_naive();
    let last = end.date_naive();
    // A period is at most a month; the bound guards odd input.
    while day < last && days.len() < 62 {
        days.push((day, per_day.get(&day).copied().unwrap_or_default()));
        day = match day.succ_opt() {
            Some(next) => next,
            None => break,
        };
    }
    Series {
        meter: meter.to_owned(),
        days,
    }
}

/// A bar chart of one series as an SVG document.
pub fn bar_chart_svg(series: &Series, unit: &str) -> anyhow::Result<String> {
    let mut svg = String::new();
    let days = series.days.len().max(1);
    let max = series
        .days
        .iter()
        .filter_map(|(_, q)| q.to_f64())
        .fold(0.0_f64, f64::max);
    let top = if max > 0.0 { max * 1.1 } else { 1.0 };
    {
        let root = SVGBackend::with_string(&mut svg, (720, 260)).into_drawing_area();
        root.fill(&WHITE).map_err(draw)?;
        let mut chart = ChartBuilder::on(&root)
            .margin(10)
            .x_label_area_size(32)
            .y_label_area_size(64)
            .build_cartesian_2d(0f64..days as f64, 0f64..top)
            .map_err(draw)?;
        let labels: Vec<String> = series
            .days
            .iter()
            .map(|(d, _)| d.format("%d").to_string())
            .collect();
        chart
            .configure_mesh()
            .disable_x_mesh()
            .x_labels(days.min(16))
            .x_label_formatter(&|x| {
                labels
                    .get(x.floor().max(0.0) as usize)
                    .cloned()
                    .unwrap_or_default()
            })
            .y_desc(unit)
            .x_desc("day of month (UTC)")
            .draw()
            .map_err(draw)?;
        let bar = RGBColor(11, 92, 173);
        chart
            .draw_series(series.days.iter().enumerate().map(|(i, (_, q))| {
                let x = i as f64;
                Rectangle::new(
                    [(x + 0.15, 0.0), (x + 0.85, q.to_f64().unwrap_or(0.0))],
                    bar.filled(),
                )
            }))
            .map_err(draw)?;
        root.present().map_err(draw)?;
    }
    Ok(svg)
}

fn draw(err: impl std::fmt::Display) -> anyhow::Error {
    anyhow::anyhow!("drawing a chart: {err}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use rust_decimal_macros::dec;

    #[test]
    fn a_series_has_every_day_of_the_period_and_the_chart_is_svg() {
        let start = Utc.with_ymd_and_hms(2026, 11, 1, 0, 0, 0).unwrap();
        let end = Utc.with_ymd_and_hms(2026, 12, 1, 0, 0, 0).unwrap();
        let mut per_day = BTreeMap::new();
        per_day.insert(NaiveDate::from_ymd_opt(2026, 11, 3).unwrap(), dec!(12.5));
        let s = series("cpu_seconds", start, end, &per_day);
        assert_eq!(s.days.len(), 30);
        assert_eq!(s.days[2].1, dec!(12.5));
        assert_eq!(s.days[0].1, Decimal::ZERO);
        let svg = bar_chart_svg(&s, "CPU-second").unwrap();
        assert!(svg.starts_with("<svg"), "{svg}");
        assert!(svg.contains("<rect"));
    }
}
