//! The report of every shipped scenario, at a small size: well-formed, with its charts. The
//! page nests its tags; each chart is parsed as XML (an SVG document is XML, where the page
//! around it is HTML, whose void elements are not).

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

/// The SVG charts of `html`: each `<svg …>…</svg>`, whole (charts do not nest).
fn charts(html: &str) -> Vec<&str> {
    let mut found = Vec::new();
    let mut rest = html;
    while let Some(start) = rest.find("<svg") {
        let Some(len) = rest[start..].find("</svg>") else {
            found.push(&rest[start..]);
            break;
        };
        let end = start + len + "</svg>".len();
        found.push(&rest[start..end]);
        rest = &rest[end..];
    }
    found
}

/// Every `&` of `text` begins a reference (`&amp;`, `&#38;`, `&#x26;`): the tokenizer leaves
/// text and values as they are.
fn check_references(text: &str) -> Result<(), String> {
    for (at, _) in text.match_indices('&') {
        let rest = &text[at + 1..];
        let name = rest.split(';').next().unwrap_or_default();
        let well_formed = rest.len() > name.len()
            && !name.is_empty()
            && name.len() <= 8
            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '#');
        if !well_formed {
            return Err(format!(
                "an unescaped `&` before {:?}",
                &rest[..rest.len().min(12)]
            ));
        }
    }
    Ok(())
}

/// Parses `svg` as an XML document: every token well-formed, every element closed in order by
/// its own name, one root, an `svg`, every `&` a reference; and no coordinate or size that is
/// not a number.
fn check_svg(svg: &str) -> Result<(), String> {
    use xmlparser::{ElementEnd, Token, Tokenizer};
    let mut stack: Vec<(String, String)> = Vec::new();
    let mut roots = Vec::new();
    for token in Tokenizer::from(svg) {
        match token.map_err(|e| e.to_string())? {
            Token::ElementStart { prefix, local, .. } => {
                if stack.is_empty() {
                    roots.push(local.as_str().to_owned());
                }
                stack.push((prefix.as_str().to_owned(), local.as_str().to_owned()));
            }
            Token::ElementEnd { end, .. } => match end {
                ElementEnd::Open => {}
                ElementEnd::Empty => {
                    stack.pop();
                }
                ElementEnd::Close(prefix, local) => {
                    let (p, l) = stack.pop().ok_or("a closing tag with nothing open")?;
                    if (p.as_str(), l.as_str()) != (prefix.as_str(), local.as_str()) {
                        return Err(format!("</{}> closes <{l}>", local.as_str()));
                    }
                }
            },
            Token::Attribute { local, value, .. } => {
                let v = value.as_str();
                if v.contains("NaN") || v.contains("inf") {
                    return Err(format!("{}=\"{v}\"", local.as_str()));
                }
                check_references(v)?;
            }
            Token::Text { text } => check_references(text.as_str())?,
            _ => {}
        }
    }
    match (stack.is_empty(), roots.as_slice()) {
        (true, [root]) if root == "svg" => Ok(()),
        (true, roots) => Err(format!("roots: {roots:?}")),
        (false, _) => Err(format!("unclosed: {stack:?}")),
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
        let svgs = charts(&html);
        assert_eq!(svgs.len(), 7 + scenario.regions.len(), "{name}");
        for (i, svg) in svgs.iter().enumerate() {
            check_svg(svg).unwrap_or_else(|e| panic!("{name}, chart {i}: {e}"));
        }
        assert!(html.starts_with("<!DOCTYPE html>"));
        assert_eq!(
            html.matches("<svg").count(),
            7 + scenario.regions.len(),
            "{name}: seven charts, and one per region"
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
fn the_xml_check_finds_what_is_not_a_chart() {
    assert!(check_svg(r#"<svg x="1"><g><rect width="2"/></g></svg>"#).is_ok());
    assert!(check_svg("<svg><g></svg></g>").is_err(), "misnested");
    assert!(check_svg("<svg><g></svg>").is_err(), "unclosed");
    assert!(
        check_svg(r#"<svg><rect x=1/></svg>"#).is_err(),
        "an unquoted value"
    );
    assert!(
        check_svg(r#"<svg><rect x="NaN"/></svg>"#).is_err(),
        "not a number"
    );
    assert!(check_svg("<svg></svg><svg></svg>").is_err(), "two roots");
    assert!(
        check_svg("<svg>a & b</svg>").is_err(),
        "an unescaped ampersand"
    );
    assert_eq!(
        charts("<p><svg>1</svg><svg>2</svg></p>"),
        ["<svg>1</svg>", "<svg>2</svg>"]
    );
}

#[test]
fn the_balance_check_finds_a_misnested_tag() {
    assert!(check_balanced("<p><b></p></b>").is_err());
    assert!(check_balanced("<p><svg><rect/></svg></p>").is_ok());
}
