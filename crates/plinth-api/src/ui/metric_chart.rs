//! Metric charts drawn on the server: what a page shows before (or without) JavaScript.
//! Each series is a run's metric downsampled by the store ([`MetricBucket`]s): a line through
//! each bucket's last value and a band from its min to its max. `assets/charts.js` replaces
//! them with interactive charts fed by the same buckets as JSON.

use plinth_core::tracking::MetricBucket;

use super::usage::{axis_label, escape};

/// Buckets per series of the charts drawn on the server.
pub(crate) const SERVER_BUCKETS: i64 = 120;

/// One run's metric in a chart.
pub(crate) struct Series<'a> {
    /// The color (`series-N` in the stylesheet, modulo 8).
    pub(crate) color: usize,
    /// What the legend says.
    pub(crate) label: &'a str,
    pub(crate) buckets: &'a [MetricBucket],
}

/// Returns ticks from `low` to `high` at a round step, about `count` of them.
pub(crate) fn nice_ticks(low: f64, high: f64, count: usize) -> (Vec<f64>, f64) {
    let span = (high - low).abs().max(f64::MIN_POSITIVE);
    let raw = span / count.max(1) as f64;
    let power = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 2.5, 5.0, 10.0]
        .into_iter()
        .map(|factor| factor * power)
        .find(|candidate| *candidate >= raw)
        .unwrap_or(10.0 * power);
    let first = (low / step).ceil() * step;
    let ticks = (0..=count * 3)
        .map(|index| first + step * index as f64)
        .take_while(|tick| *tick <= high + step * 1e-9)
        .collect();
    (ticks, step)
}

/// The value range of the series (finite values only), widened when flat.
fn value_range(series: &[Series<'_>]) -> Option<(f64, f64)> {
    let values = series.iter().flat_map(|series| {
        series
            .buckets
            .iter()
            .flat_map(|bucket| [bucket.min, bucket.max, Some(bucket.last)])
            .flatten()
    });
    let (low, high) = values
        .filter(|value| value.is_finite())
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(low, high), value| {
            (low.min(value), high.max(value))
        });
    if low > high {
        return None;
    }
    if low == high {
        let pad = if low == 0.0 { 1.0 } else { low.abs() * 0.1 };
        return Some((low - pad, high + pad));
    }
    Some((low, high))
}

/// Draws the series against the step as an SVG, or `None` when there is nothing finite to
/// draw. `title` names the metric for screen readers.
pub(crate) fn chart_svg(title: &str, series: &[Series<'_>]) -> Option<String> {
    let (low, high) = value_range(series)?;
    let first_step = series
        .iter()
        .filter_map(|series| series.buckets.first())
        .map(|bucket| bucket.first_step)
        .min()?;
    let last_step = series
        .iter()
        .filter_map(|series| series.buckets.last())
        .map(|bucket| bucket.last_step)
        .max()?;
    let (x_low, x_high) = if first_step == last_step {
        (first_step as f64 - 1.0, last_step as f64 + 1.0)
    } else {
        (first_step as f64, last_step as f64)
    };
    let (width, height) = (640.0, 220.0);
    let (left, right, top, bottom) = (56.0, 12.0, 10.0, 26.0);
    let x = |step: f64| left + (width - left - right) * (step - x_low) / (x_high - x_low);
    let y = |value: f64| top + (height - top - bottom) * (1.0 - (value - low) / (high - low));
    let points: usize = series.iter().map(|series| series.buckets.len()).sum();
    let mut svg = format!(
        r#"<svg class="chart metric-svg" viewBox="0 0 {width} {height}" role="img" data-points="{points}" xmlns="http://www.w3.org/2000/svg"><title>{} by step</title>"#,
        escape(title)
    );
    let (ticks, step) = nice_ticks(low, high, 4);
    for tick in ticks {
        let at = y(tick);
        svg.push_str(&format!(
            r#"<line class="grid" x1="{left}" x2="{}" y1="{at:.1}" y2="{at:.1}"/><text class="axis" x="{}" y="{:.1}" text-anchor="end">{}</text>"#,
            width - right,
            left - 6.0,
            at + 4.0,
            axis_label(tick, step)
        ));
    }
    let (step_ticks, step_step) = nice_ticks(x_low, x_high, 6);
    for tick in step_ticks {
        svg.push_str(&format!(
            r#"<text class="axis" x="{:.1}" y="{}" text-anchor="middle">{}</text>"#,
            x(tick),
            height - 8.0,
            axis_label(tick, step_step)
        ));
    }
    for series in series {
        let color = series.color % 8;
        // The band: up along the maxima, back along the minima.
        let banded: Vec<&MetricBucket> = series
            .buckets
            .iter()
            .filter(|bucket| {
                matches!((bucket.min, bucket.max), (Some(min), Some(max)) if min.is_finite() && max.is_finite() && max > min)
            })
            .collect();
        if !banded.is_empty() {
            let mut outline: Vec<String> = banded
                .iter()
                .map(|b| {
                    format!(
                        "{:.1},{:.1}",
                        x(b.last_step as f64),
                        y(b.max.unwrap_or_default())
                    )
                })
                .collect();
            outline.extend(banded.iter().rev().map(|b| {
                format!(
                    "{:.1},{:.1}",
                    x(b.first_step as f64),
                    y(b.min.unwrap_or_default())
                )
            }));
            svg.push_str(&format!(
                r#"<polygon class="band series-{color}" points="{}"/>"#,
                outline.join(" ")
            ));
        }
        let mut path = String::new();
        let mut pen_down = false;
        for bucket in series.buckets {
            if !bucket.last.is_finite() {
                pen_down = false;
                continue;
            }
            path.push_str(&format!(
                "{}{:.1},{:.1}",
                if pen_down { " L" } else { " M" },
                x(bucket.last_step as f64),
                y(bucket.last)
            ));
            pen_down = true;
        }
        svg.push_str(&format!(
            r#"<path class="line stroke-{color}" d="{}"><title>{}</title></path>"#,
            path.trim(),
            escape(series.label)
        ));
    }
    svg.push_str(&format!(
        r#"<line class="axis-line" x1="{left}" x2="{}" y1="{:.1}" y2="{:.1}"/></svg>"#,
        width - right,
        height - bottom,
        height - bottom
    ));
    Some(svg)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bucket(step: i64, min: f64, max: f64, last: f64) -> MetricBucket {
        MetricBucket {
            first_step: step,
            last_step: step,
            min_timestamp: step,
            max_timestamp: step,
            min: Some(min),
            max: Some(max),
            last,
            last_timestamp: step,
            points: 1,
        }
    }

    #[test]
    fn ticks_are_round_and_inside_the_range() {
        assert_eq!(
            nice_ticks(0.0, 1.0, 4),
            (vec![0.0, 0.25, 0.5, 0.75, 1.0], 0.25)
        );
        assert_eq!(nice_ticks(3.0, 97.0, 4).0, vec![25.0, 50.0, 75.0]);
        let (ticks, step) = nice_ticks(-0.013, 0.0071, 4);
        assert_eq!(step, 0.01);
        assert_eq!(ticks, vec![-0.01, 0.0]);
        assert!(ticks.iter().all(|tick| (-0.013..=0.0071).contains(tick)));
    }

    #[test]
    fn lines_break_at_nan_and_bands_follow_min_and_max() {
        let buckets = [
            bucket(0, 1.0, 3.0, 2.0),
            bucket(1, f64::NAN, f64::NAN, f64::NAN),
            bucket(2, 0.0, 0.5, 0.5),
        ];
        let svg = chart_svg(
            "loss <&>",
            &[Series {
                color: 9,
                label: "run",
                buckets: &buckets,
            }],
        )
        .unwrap();
        assert!(svg.contains("<title>loss &lt;&amp;&gt; by step</title>"));
        assert!(svg.contains(r#"class="line stroke-1""#), "colors wrap at 8");
        let path = svg
            .split(r#"d=""#)
            .nth(1)
            .unwrap()
            .split('"')
            .next()
            .unwrap();
        assert_eq!(
            path.matches('M').count(),
            2,
            "a NaN breaks the line: {path}"
        );
        assert!(svg.contains(r#"class="band series-1""#));
        assert!(svg.contains(r#"data-points="3""#));
        let nothing = [bucket(0, f64::NAN, f64::NAN, f64::NAN)];
        let series = [Series {
            color: 0,
            label: "x",
            buckets: &nothing,
        }];
        assert!(chart_svg("x", &series).is_none());
    }
}
