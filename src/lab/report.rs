//! The HTML report of a scenario's runs: self-contained (inline SVG charts drawn by plotters'
//! SVG backend, inline CSS, no script), so that it opens offline.

use std::fmt::Write as _;

use plotters::prelude::*;

use super::model::Scenario;
use super::results::RunResult;

/// The colours of the policies' lines, in turn.
const PALETTE: [RGBColor; 10] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
    RGBColor(188, 189, 34),
    RGBColor(23, 190, 207),
];

/// Escapes text for HTML and SVG.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// One chart of a series over time, one line per run, the incident windows shaded.
fn chart(
    title: &str,
    y_label: &str,
    runs: &[RunResult],
    values: impl Fn(&RunResult) -> Vec<f64>,
) -> Result<String, String> {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (900, 320)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| e.to_string())?;
        let Some(first) = runs.first() else {
            return Ok(String::new());
        };
        let bucket_s = first.series.bucket_ms as f64 / 1000.0;
        let series: Vec<Vec<f64>> = runs.iter().map(&values).collect();
        let points = series[0].len();
        let x_max = (points as f64 * bucket_s).max(bucket_s);
        let y_max = series
            .iter()
            .flatten()
            .copied()
            .fold(0.0f64, f64::max)
            .max(1.0)
            * 1.05;
        let mut chart = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", 18))
            .margin(10)
            .x_label_area_size(35)
            .y_label_area_size(55)
            .build_cartesian_2d(0f64..x_max, 0f64..y_max)
            .map_err(|e| e.to_string())?;
        chart
            .configure_mesh()
            .x_desc("time (s)")
            .y_desc(y_label)
            .draw()
            .map_err(|e| e.to_string())?;
        let shade = RGBAColor(214, 39, 40, 0.12);
        chart
            .draw_series(first.series.incidents.iter().map(|&(from, to)| {
                Rectangle::new(
                    [(from as f64 / 1000.0, 0.0), (to as f64 / 1000.0, y_max)],
                    shade.filled(),
                )
            }))
            .map_err(|e| e.to_string())?;
        for (i, (run, values)) in runs.iter().zip(&series).enumerate() {
            let color = PALETTE[i % PALETTE.len()];
            chart
                .draw_series(LineSeries::new(
                    values
                        .iter()
                        .enumerate()
                        .map(|(b, &v)| ((b as f64 + 0.5) * bucket_s, v)),
                    color.stroke_width(2),
                ))
                .map_err(|e| e.to_string())?
                .label(run.policy.as_str())
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 16, y)], color.stroke_width(2))
                });
        }
        chart
            .configure_series_labels()
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .position(SeriesLabelPosition::UpperRight)
            .draw()
            .map_err(|e| e.to_string())?;
        root.present().map_err(|e| e.to_string())?;
    }
    Ok(svg)
}

fn opt_ms(v: Option<f64>) -> String {
    v.map_or_else(|| "–".to_owned(), |v| format!("{v:.0}"))
}

/// The comparison table's rows, as text cells: policy, success, p50, p99, p99.9,
/// amplification, attempts per region, failover, failback, lost in the switch, budget
/// exhaustion, breaker openings.
pub fn table_rows(runs: &[RunResult]) -> Vec<[String; 12]> {
    runs.iter()
        .map(|r| {
            let s = &r.summary;
            let opened = s
                .breaker_transitions
                .iter()
                .find(|c| c.what == "open")
                .map_or(0, |c| c.count);
            [
                r.policy.clone(),
                format!("{:.2} %", s.success_rate * 100.0),
                format!("{:.0}", s.p50_ms),
                format!("{:.0}", s.p99_ms),
                format!("{:.0}", s.p999_ms),
                format!("{:.3}", s.amplification),
                s.attempts_per_region
                    .iter()
                    .map(|l| l.attempts.to_string())
                    .collect::<Vec<_>>()
                    .join(" / "),
                opt_ms(s.time_to_failover_ms),
                opt_ms(s.time_to_failback_ms),
                s.lost_during_switch.to_string(),
                s.budget_exhausted.to_string(),
                opened.to_string(),
            ]
        })
        .collect()
}

/// The table's column headers.
pub const HEADERS: [&str; 12] = [
    "policy",
    "success",
    "p50 ms",
    "p99 ms",
    "p99.9 ms",
    "attempts/request",
    "attempts per region",
    "fail over ms",
    "fail back ms",
    "lost in switch",
    "budget exhausted",
    "breaker opened",
];

/// A paragraph reading the runs: which policy kept the most requests, which loaded the
/// regions least, and how the ones that retried without a budget compare.
pub fn reading(scenario: &Scenario, runs: &[RunResult]) -> String {
    let Some(best) = runs.iter().max_by(|a, b| {
        a.summary
            .success_rate
            .total_cmp(&b.summary.success_rate)
            .then(b.summary.amplification.total_cmp(&a.summary.amplification))
    }) else {
        return String::new();
    };
    let Some(heaviest) = runs
        .iter()
        .max_by(|a, b| a.summary.amplification.total_cmp(&b.summary.amplification))
    else {
        return String::new();
    };
    let Some(worst) = runs
        .iter()
        .min_by(|a, b| a.summary.success_rate.total_cmp(&b.summary.success_rate))
    else {
        return String::new();
    };
    let mut text = format!(
        "{} With {} clients, {} kept the most requests ({:.2} % succeeded, p99 {:.0} ms, {:.3} \
         attempts per request); {} kept the fewest ({:.2} %). {} loaded the regions most, \
         sending {:.3} attempts per request",
        scenario.description,
        scenario.clients,
        best.policy,
        best.summary.success_rate * 100.0,
        best.summary.p99_ms,
        best.summary.amplification,
        worst.policy,
        worst.summary.success_rate * 100.0,
        heaviest.policy,
        heaviest.summary.amplification,
    );
    let peak = heaviest
        .series
        .amplification
        .iter()
        .copied()
        .fold(0.0, f64::max);
    let _ = write!(
        text,
        " (up to {peak:.2} in its worst {} s)",
        heaviest.series.bucket_ms / 1000
    );
    text.push('.');
    if let Some(f) = runs
        .iter()
        .filter(|r| r.summary.time_to_failover_ms.is_some())
        .min_by(|a, b| {
            a.summary
                .time_to_failover_ms
                .unwrap_or(f64::MAX)
                .total_cmp(&b.summary.time_to_failover_ms.unwrap_or(f64::MAX))
        })
    {
        let _ = write!(
            text,
            " The failover policies switched a client to the next region in {:.0} ms (median, {}).",
            f.summary.time_to_failover_ms.unwrap_or(0.0),
            f.policy
        );
    }
    text
}

/// The report of `runs` of `scenario`: a complete HTML document.
///
/// # Errors
///
/// A chart that plotters could not draw, as text.
pub fn html(scenario: &Scenario, runs: &[RunResult]) -> Result<String, String> {
    let mut out = String::new();
    let title = format!("Policy lab: {}", scenario.name);
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\"/>\n<title>{}</title>\n\
         <style>body{{font-family:sans-serif;margin:2em;max-width:1000px}}\
         table{{border-collapse:collapse;font-size:13px}}\
         th,td{{border:1px solid #ccc;padding:3px 6px;text-align:right}}\
         th:first-child,td:first-child{{text-align:left}}\
         .chart{{margin:1em 0}}</style>\n</head>\n<body>\n<h1>{}</h1>\n",
        escape(&title),
        escape(&title)
    );
    let seed = runs.first().map_or(0, |r| r.seed);
    let _ = write!(
        out,
        "<p>{}</p>\n<p>{} clients, {} s, seed {}; shaded: the primary region's incident windows.</p>\n",
        escape(&scenario.description),
        scenario.clients,
        scenario.duration.as_secs(),
        seed
    );
    out.push_str("<h2>Reading</h2>\n<p>");
    out.push_str(&escape(&reading(scenario, runs)));
    out.push_str("</p>\n<h2>Summary</h2>\n<table>\n<tr>");
    for h in HEADERS {
        let _ = write!(out, "<th>{}</th>", escape(h));
    }
    out.push_str("</tr>\n");
    for row in table_rows(runs) {
        out.push_str("<tr>");
        for cell in row {
            let _ = write!(out, "<td>{}</td>", escape(&cell));
        }
        out.push_str("</tr>\n");
    }
    out.push_str("</table>\n<h2>Over time</h2>\n");
    let mut charts = vec![
        chart("Success rate", "share succeeded", runs, |r| {
            r.series.success_rate.clone()
        })?,
        chart("Load amplification", "attempts per request", runs, |r| {
            r.series.amplification.clone()
        })?,
        chart("Latency p99", "ms", runs, |r| r.series.p99_ms.clone())?,
        chart("Latency p50", "ms", runs, |r| r.series.p50_ms.clone())?,
    ];
    // What the policy's state did: breakers tripping and closing, the budget running dry.
    let counts = |values: &[u64]| values.iter().map(|&n| n as f64).collect::<Vec<_>>();
    charts.push(chart(
        "Breakers opened",
        "breakers per bucket",
        runs,
        |r| counts(&r.series.breakers_opened),
    )?);
    charts.push(chart(
        "Breakers closed",
        "breakers per bucket",
        runs,
        |r| counts(&r.series.breakers_closed),
    )?);
    charts.push(chart(
        "Requests given up: retry budget exhausted",
        "requests per bucket",
        runs,
        |r| counts(&r.series.budget_exhausted),
    )?);
    // Each region's share of the load: where the failover sent it, and when it came back.
    for (i, region) in scenario.regions.iter().enumerate() {
        charts.push(chart(
            &format!("Attempts per request sent to {}", region.name),
            "attempts per request",
            runs,
            |r| {
                r.series.attempts_per_region[i]
                    .iter()
                    .zip(&r.series.requests)
                    .map(|(&sent, &n)| super::results::ratio(sent, n, 0.0))
                    .collect()
            },
        )?);
    }
    for svg in charts {
        out.push_str("<div class=\"chart\">\n");
        // The SVG backend writes an XML document; inline, the prolog is dropped.
        let svg = svg
            .strip_prefix("<?xml version=\"1.0\" encoding=\"UTF-8\"?>")
            .unwrap_or(&svg)
            .trim_start();
        out.push_str(svg);
        out.push_str("\n</div>\n");
    }
    out.push_str("</body>\n</html>\n");
    Ok(out)
}
