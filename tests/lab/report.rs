//! The report of every shipped scenario, at a small size: well-formed, with its charts.

use steadfast::lab::{self, report, shipped};

/// Checks that `html` nests its tags: every element closed in order, void and self-closed
/// ones aside; comments, the doctype and the XML prolog skipped.
fn check_balanced(html: &str) -> Result<(), String> {
    const VOID: [&str; 4] = ["meta", "br", "hr", "img"];
    let mut stack: Vec<String> = Vec::new();
    let mut rest = html;
    while let Some(open) = rest.find('<') {
        rest = &rest[open..];
        let close = rest.find('>').ok_or("a tag is not closed")?;
        let tag = &rest[1..close];
        rest = &rest[close + 1..];
        if tag.starts_with('!') || tag.starts_with('?') {
            continue;
        }
        if let Some(name) = tag.strip_prefix('/') {
            let name = name.trim();
            match stack.pop() {
                Some(top) if top == name => {}
                other => return Err(format!("</{name}> closes {other:?}")),
            }
            continue;
        }
        let name = tag
            .split(|c: char| c.is_whitespace() || c == '/')
            .next()
            .unwrap_or_default()
            .to_owned();
        if tag.ends_with('/') || VOID.contains(&name.as_str()) {
            continue;
        }
        if name == "style" {
            let end = rest.find("</style>").ok_or("<style> is not closed")?;
            rest = &rest[end + "</style>".len()..];
            continue;
        }
        stack.push(name);
    }
    if stack.is_empty() {
        Ok(())
    } else {
        Err(format!("unclosed: {stack:?}"))
    }
}

#[test]
fn every_shipped_scenario_has_a_well_formed_report() {
    let policies: Vec<_> = [
        "no-retry",
        "exp-full-jitter",
        "preset-3x500ms",
        "failover-immediate",
    ]
    .iter()
    .map(|n| shipped::policy_named(n).unwrap())
    .collect();
    for name in shipped::SCENARIOS {
        let mut scenario = shipped::scenario(name).unwrap();
        scenario.clients = 3;
        let runs: Vec<_> = policies
            .iter()
            .map(|p| lab::run(&scenario, p, 1).unwrap())
            .collect();
        let html = report::html(&scenario, &runs).unwrap();
        check_balanced(&html).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(html.starts_with("<!DOCTYPE html>"));
        assert_eq!(
            html.matches("<svg").count(),
            4 + scenario.regions.len(),
            "{name}: four charts, and one per region"
        );
        assert!(!html.contains("<script"), "{name}: no script");
        assert!(
            !html.contains(" src=") && !html.contains("href=\"http"),
            "{name}: nothing fetched"
        );
        for p in &policies {
            assert!(html.contains(&p.name), "{name}: {} in the report", p.name);
        }
        if !runs[0].series.incidents.is_empty() {
            assert!(
                html.contains("opacity=\"0.12\""),
                "{name}: the incident shaded"
            );
        }
    }
}

#[test]
fn the_balance_check_finds_a_misnested_tag() {
    assert!(check_balanced("<p><b></p></b>").is_err());
    assert!(check_balanced("<p><svg><rect/></svg></p>").is_ok());
}
