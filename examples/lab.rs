//! The policy lab on the command line: replays an incident against policies and prints a
//! comparison table; optionally writes the HTML report and the results as JSON.
//!
//! ```text
//! cargo run --release --features lab --example lab -- --scenario regional-outage --policies all
//! cargo run --release --features lab --example lab -- --scenario examples/lab/incident.json \
//!     --policies examples/lab/policies.json --report report.html --json results.json
//! cargo run --release --features lab --example lab -- --scenario contention
//! ```
//!
//! Options: `--scenario NAME|FILE.json|FILE.toml` (a shipped scenario, `contention`, or a JSON
//! or TOML file), `--policies all|NAME,NAME|FILE.json|FILE.toml`, `--clients N`, `--duration 10m`, `--seed N`,
//! `--report FILE.html`, `--json FILE.json`, `--list`.

use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use steadfast::config::JitterConfig;
use steadfast::lab::{self, PolicyConfig, RunResult, Scenario, contention, report, shipped};

struct Args {
    scenario: String,
    policies: String,
    clients: Option<u32>,
    duration: Option<Duration>,
    seed: u64,
    report: Option<String>,
    json: Option<String>,
}

fn parse() -> Result<Option<Args>, String> {
    let mut args = Args {
        scenario: "regional-outage".to_owned(),
        policies: "all".to_owned(),
        clients: None,
        duration: None,
        seed: 1,
        report: None,
        json: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        if flag == "--list" {
            println!("scenarios: {}, contention", shipped::SCENARIOS.join(", "));
            let names: Vec<String> = shipped::policies().into_iter().map(|p| p.name).collect();
            println!("policies: {}", names.join(", "));
            return Ok(None);
        }
        let value = it.next().ok_or_else(|| format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--scenario" => args.scenario = value,
            "--policies" => args.policies = value,
            "--clients" => args.clients = Some(value.parse().map_err(|e| format!("{e}"))?),
            "--duration" => {
                args.duration =
                    Some(humantime_parse(&value).ok_or_else(|| format!("bad duration {value}"))?)
            }
            "--seed" => args.seed = value.parse().map_err(|e| format!("{e}"))?,
            "--report" => args.report = Some(value),
            "--json" => args.json = Some(value),
            other => return Err(format!("unknown option {other}")),
        }
    }
    Ok(Some(args))
}

/// `10m`, `90s`, `500ms`, `2h`.
fn humantime_parse(text: &str) -> Option<Duration> {
    let (number, unit) = text.split_at(text.find(|c: char| !c.is_ascii_digit())?);
    let n: u64 = number.parse().ok()?;
    Some(match unit {
        "ms" => Duration::from_millis(n),
        "s" => Duration::from_secs(n),
        "m" => Duration::from_secs(n * 60),
        "h" => Duration::from_secs(n * 3600),
        _ => return None,
    })
}

fn read(path: &str) -> Result<String, String> {
    std::fs::read_to_string(path).map_err(|e| format!("{path}: {e}"))
}

fn scenario(args: &Args) -> Result<Scenario, String> {
    let mut s = if args.scenario.ends_with(".json") {
        lab::scenario_from_json(&read(&args.scenario)?).map_err(|e| e.to_string())?
    } else if args.scenario.ends_with(".toml") {
        lab::scenario_from_toml(&read(&args.scenario)?).map_err(|e| e.to_string())?
    } else {
        shipped::scenario(&args.scenario)
            .ok_or_else(|| format!("no scenario {} (try --list)", args.scenario))?
    };
    if let Some(c) = args.clients {
        s.clients = c;
    }
    if let Some(d) = args.duration {
        s.duration = d;
    }
    Ok(s)
}

fn policies(args: &Args) -> Result<Vec<PolicyConfig>, String> {
    if args.policies.ends_with(".json") {
        return lab::policies_from_json(&read(&args.policies)?).map_err(|e| e.to_string());
    }
    if args.policies.ends_with(".toml") {
        return lab::policies_from_toml(&read(&args.policies)?).map_err(|e| e.to_string());
    }
    if args.policies == "all" {
        return Ok(shipped::policies());
    }
    args.policies
        .split(',')
        .map(|n| shipped::policy_named(n).ok_or_else(|| format!("no policy {n} (try --list)")))
        .collect()
}

fn print_table(headers: &[&str], rows: &[Vec<String>]) {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: Vec<String>| {
        let padded: Vec<String> = cells
            .iter()
            .zip(&widths)
            .enumerate()
            .map(|(i, (c, w))| {
                if i == 0 {
                    format!("{c:<w$}")
                } else {
                    format!("{c:>w$}")
                }
            })
            .collect();
        println!("{}", padded.join("  "));
    };
    line(headers.iter().map(|h| h.to_string()).collect());
    for row in rows {
        line(row.clone());
    }
}

fn contention_table(seed: u64) -> Result<(), String> {
    let mut rows = Vec::new();
    for n in [5u32, 25, 50, 100, 200] {
        for jitter in [
            JitterConfig::None,
            JitterConfig::Full,
            JitterConfig::Equal,
            JitterConfig::Decorrelated,
        ] {
            let r = contention::run(n, jitter, seed).map_err(|e| e.to_string())?;
            rows.push(vec![
                n.to_string(),
                format!("{jitter:?}").to_lowercase(),
                r.calls.to_string(),
                format!("{:.0}", r.completion_ms),
                r.gave_up.to_string(),
            ]);
        }
    }
    print_table(
        &["clients", "jitter", "calls", "completion ms", "gave up"],
        &rows,
    );
    Ok(())
}

fn main() -> Result<(), String> {
    let Some(args) = parse()? else {
        return Ok(());
    };
    if args.scenario == "contention" {
        return contention_table(args.seed);
    }
    let scenario = scenario(&args)?;
    let policies = policies(&args)?;
    let started = Instant::now();
    // The bar appears only once the run has taken a second.
    let bar = ProgressBar::with_draw_target(
        Some(policies.len() as u64 * 1000),
        ProgressDrawTarget::hidden(),
    );
    bar.set_style(
        ProgressStyle::with_template("{spinner} [{elapsed_precise}] {bar:40} {msg}")
            .map_err(|e| e.to_string())?,
    );
    let mut results: Vec<RunResult> = Vec::new();
    for (i, policy) in policies.iter().enumerate() {
        bar.set_message(policy.name.clone());
        let base = i as u64 * 1000;
        let result = lab::run_with_progress(&scenario, policy, args.seed, |share| {
            if bar.is_hidden() && started.elapsed() > Duration::from_secs(1) {
                bar.set_draw_target(ProgressDrawTarget::stderr());
            }
            bar.set_position(base + (share * 1000.0) as u64);
        })
        .map_err(|e| format!("{}: {e}", policy.name))?;
        results.push(result);
    }
    bar.finish_and_clear();
    let elapsed = started.elapsed();
    println!(
        "{}: {} ({} clients, {} s simulated, seed {})\n",
        scenario.name,
        scenario.description,
        scenario.clients,
        scenario.duration.as_secs(),
        args.seed
    );
    let rows: Vec<Vec<String>> = report::table_rows(&results)
        .into_iter()
        .map(|r| r.to_vec())
        .collect();
    print_table(&report::HEADERS, &rows);
    let events: u64 = results.iter().map(|r| r.summary.events).sum();
    println!(
        "\n{} runs, {events} events in {:.2} s of wall time",
        results.len(),
        elapsed.as_secs_f64()
    );
    if let Some(path) = &args.report {
        let html = report::html(&scenario, &results)?;
        std::fs::write(path, html).map_err(|e| format!("{path}: {e}"))?;
        println!("report: {path}");
    }
    if let Some(path) = &args.json {
        let json = serde_json::to_string_pretty(&results).map_err(|e| e.to_string())?;
        std::fs::write(path, json).map_err(|e| format!("{path}: {e}"))?;
        println!("results: {path}");
    }
    Ok(())
}
