//! The routing file's format: a JSON object of endpoint names to `"on"` or `"off"`, parsed by
//! `serde_json` with the strictness serde's maps lack (a name given twice is an error, not the
//! last value), in time linear in the input.

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::fmt;

use serde::de::{self, Deserialize, Deserializer, MapAccess, Visitor};

use super::RoutingFileError;
use crate::error::{NAME_LIMIT, clip};
use crate::failover::Switch;

/// The longest malformation message, in bytes, before its position is appended: serde's
/// messages quote the offending value, which can be as long as the file.
const MESSAGE_LIMIT: usize = 200;

/// The switches a file names, by endpoint name.
pub(super) type Named = HashMap<String, Switch>;

/// Parses `{"name": "on" | "off", ...}`: nothing else (values in any letter case).
///
/// # Errors
///
/// [`RoutingFileError::Malformed`], its message bounded.
pub(super) fn parse(text: &str) -> Result<Named, RoutingFileError> {
    serde_json::from_str::<Switches>(text)
        .map(|s| s.0)
        .map_err(malformed)
}

/// A serde error as a bounded [`RoutingFileError::Malformed`].
fn malformed(e: serde_json::Error) -> RoutingFileError {
    let text = e.to_string();
    if text.len() <= MESSAGE_LIMIT {
        return RoutingFileError::Malformed(text);
    }
    RoutingFileError::Malformed(format!(
        "{}… at line {} column {}",
        clip(&text, MESSAGE_LIMIT),
        e.line(),
        e.column()
    ))
}

struct Switches(Named);

impl<'de> Deserialize<'de> for Switches {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_map(SwitchesVisitor)
    }
}

struct SwitchesVisitor;

impl<'de> Visitor<'de> for SwitchesVisitor {
    type Value = Switches;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object of endpoint names to \"on\" or \"off\"")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Switches, A::Error> {
        let mut named = Named::with_capacity(map.size_hint().unwrap_or(0).min(64));
        while let Some(name) = map.next_key::<String>()? {
            match named.entry(name) {
                Entry::Occupied(e) => {
                    return Err(de::Error::custom(format_args!(
                        "{:?} appears twice",
                        clip(e.key(), NAME_LIMIT)
                    )));
                }
                Entry::Vacant(e) => {
                    e.insert(map.next_value::<SwitchValue>()?.0);
                }
            }
        }
        Ok(Switches(named))
    }
}

/// `"on"` or `"off"`, in any letter case.
struct SwitchValue(Switch);

impl<'de> Deserialize<'de> for SwitchValue {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_str(SwitchValueVisitor)
    }
}

struct SwitchValueVisitor;

impl Visitor<'_> for SwitchValueVisitor {
    type Value = SwitchValue;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("\"on\" or \"off\"")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<SwitchValue, E> {
        if v.eq_ignore_ascii_case("on") {
            Ok(SwitchValue(Switch::On))
        } else if v.eq_ignore_ascii_case("off") {
            Ok(SwitchValue(Switch::Off))
        } else {
            Err(E::custom(format_args!(
                "{:?} is neither \"on\" nor \"off\"",
                clip(v, NAME_LIMIT)
            )))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sorted(named: Named) -> Vec<(String, Switch)> {
        let mut v: Vec<_> = named.into_iter().collect();
        v.sort_by(|a, b| a.0.cmp(&b.0));
        v
    }

    #[test]
    fn parses_the_documented_shape() {
        assert_eq!(
            sorted(parse(r#" {"us-east-2": "off", "us-west-1" : "ON"} "#).unwrap()),
            [
                ("us-east-2".to_owned(), Switch::Off),
                ("us-west-1".to_owned(), Switch::On)
            ]
        );
        assert!(parse("{}").unwrap().is_empty());
        assert_eq!(
            sorted(parse(r#"{"a\u00e9\"\\": "off", "\ud83d\ude00": "on"}"#).unwrap()),
            [
                ("aé\"\\".to_owned(), Switch::Off),
                ("😀".to_owned(), Switch::On)
            ]
        );
    }

    #[test]
    fn rejects_everything_else() {
        for bad in [
            "",
            "[]",
            "null",
            "\"on\"",
            "{",
            r#"{"a": "maybe"}"#,
            r#"{"a": 1}"#,
            r#"{"a": ["off"]}"#,
            r#"{"a": {"b": "off"}}"#,
            r#"{"a": "off",}"#,
            r#"{"a": "off"} x"#,
            r#"{"a": "off", "a": "on"}"#,
            r#"{"a": "off", "a": "off"}"#,
            r#"{"a" "off"}"#,
            r#"{"\ud800": "on"}"#,
            r#"{"\x": "on"}"#,
            r#"{"\u+065ast": "on"}"#,
            "{\"a\n\": \"on\"}",
        ] {
            assert!(
                matches!(parse(bad), Err(RoutingFileError::Malformed(_))),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn messages_say_what_and_where() {
        let e = parse(r#"{"a": "off", "a": "on"}"#).unwrap_err();
        assert_eq!(
            e.to_string(),
            "routing file malformed: \"a\" appears twice at line 1 column 16"
        );
        let e = parse(r#"{"a": "maybe"}"#).unwrap_err();
        assert_eq!(
            e.to_string(),
            "routing file malformed: \"maybe\" is neither \"on\" nor \"off\" at line 1 column 13"
        );
    }

    #[test]
    fn messages_are_bounded_whatever_the_input() {
        let huge = "é".repeat(300_000);
        for text in [
            format!("\"{huge}\""),
            format!(r#"{{"{huge}": "off", "{huge}": "on"}}"#),
            format!(r#"{{"a": "{huge}"}}"#),
            format!("{{\"a\": \"off\"}} {huge}"),
        ] {
            let e = parse(&text).unwrap_err();
            let message = e.to_string();
            assert!(message.len() < 300, "{} bytes", message.len());
            assert!(message.contains("at line 1 column"), "{message}");
        }
    }
}
