//! Routing controls: an operator's on/off switch per endpoint, and a file that sets them.
//!
//! A routing control takes a region out of service on purpose — a planned failover, or a region
//! misbehaving in ways the checks miss — independently of breakers and health checks, and wins
//! over both. One rule keeps it safe: the last endpoint that is on cannot be switched off (as an
//! assertion rule does in a regional recovery controller), so a mistaken command can never take
//! the whole dependency down. A change that breaks the rule, or names an unknown endpoint, is
//! refused with a typed [`ControlError`] and changes nothing.
//!
//! [`RoutingFile`] reads the switches from a JSON file on an interval, so an orchestrator's
//! mounted config map switches a whole fleet (`{"us-east-2": "off"}`): a missing, malformed or
//! unsafe file keeps the last good state and reports why; a file is applied whole or not at all.

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use super::router::Router;
use crate::error::ConfigError;
use crate::event::{Event, OnEvent};

/// An endpoint's routing switch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Switch {
    /// Calls may go to the endpoint (if its breaker, health and push-back allow).
    On,
    /// No call goes to the endpoint.
    Off,
}

impl fmt::Display for Switch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Switch::On => "on",
            Switch::Off => "off",
        })
    }
}

/// A routing change refused: nothing was changed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ControlError {
    /// No endpoint has this name.
    #[error("no endpoint is named {0:?}")]
    UnknownEndpoint(String),
    /// The change would switch off every endpoint.
    #[error("switching off {0:?} would leave no endpoint on")]
    LastEndpointOn(String),
    /// A routing file could not be read (missing, unreadable).
    #[error("routing file unreadable: {0}")]
    Unreadable(String),
    /// A routing file is not a JSON object of endpoint names to `"on"` or `"off"`.
    #[error("routing file malformed: {0}")]
    Malformed(String),
}

impl ControlError {
    /// The reason, without its detail, for events.
    pub fn reason(&self) -> Refused {
        match self {
            ControlError::UnknownEndpoint(_) => Refused::UnknownEndpoint,
            ControlError::LastEndpointOn(_) => Refused::LastEndpointOn,
            ControlError::Unreadable(_) => Refused::Unreadable,
            ControlError::Malformed(_) => Refused::Malformed,
        }
    }
}

/// Why a routing change was refused, as events report it (see [`ControlError`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Refused {
    /// An unknown endpoint name.
    UnknownEndpoint,
    /// It would switch off every endpoint.
    LastEndpointOn,
    /// The routing file could not be read.
    Unreadable,
    /// The routing file is malformed.
    Malformed,
}

/// The routing switches of one failover: a cheap `Clone` handle, from
/// [`FailoverHandle::routing`](super::FailoverHandle::routing).
///
/// ```
/// use steadfast::failover::{ControlError, Failover, Switch};
/// use tower::service_fn;
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let region = service_fn(|x: u32| async move { Ok::<_, steadfast::BoxError>(x) });
/// let failover = Failover::builder()
///     .endpoint("us-east-2", region)
///     .endpoint("us-west-1", region)
///     .build()?;
/// let routing = failover.handle().routing();
/// routing.set("us-east-2", Switch::Off)?; // a planned failover: calls go to us-west-1
/// assert_eq!(
///     routing.set("us-west-1", Switch::Off),
///     Err(ControlError::LastEndpointOn("us-west-1".into()))
/// );
/// routing.set("us-east-2", Switch::On)?;
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct RoutingControl {
    router: Arc<Router>,
    hook: Option<Arc<dyn OnEvent + Send + Sync>>,
}

impl fmt::Debug for RoutingControl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RoutingControl")
            .field("state", &self.state())
            .finish_non_exhaustive()
    }
}

impl RoutingControl {
    pub(super) fn new(router: Arc<Router>) -> Self {
        RoutingControl { router, hook: None }
    }

    /// The same control, reporting every change and every refused change to `hook`
    /// ([`Event::RoutingChanged`], [`Event::RoutingRefused`]).
    pub fn on_event(mut self, hook: impl OnEvent + Send + Sync + 'static) -> Self {
        self.hook = Some(Arc::new(hook));
        self
    }

    /// Every endpoint's switch, in priority order.
    pub fn state(&self) -> Vec<(Arc<str>, Switch)> {
        let off = self.router.switched_off();
        self.router
            .endpoints
            .iter()
            .enumerate()
            .map(|(i, e)| (e.name.clone(), Router::switch_in(off, i)))
            .collect()
    }

    /// Switches endpoint `name` on or off; it takes effect on the next call.
    ///
    /// # Errors
    ///
    /// [`ControlError::UnknownEndpoint`], or [`ControlError::LastEndpointOn`] when it would
    /// switch off the last endpoint that is on. Nothing changes then.
    pub fn set(&self, name: &str, switch: Switch) -> Result<(), ControlError> {
        self.apply([(name, switch)])
    }

    /// Sets several switches at once: all of them, or (on an error) none.
    ///
    /// # Errors
    ///
    /// As [`set`](Self::set), for the first offending endpoint.
    pub fn apply<'a>(
        &self,
        switches: impl IntoIterator<Item = (&'a str, Switch)> + Clone,
    ) -> Result<(), ControlError> {
        let every = super::router::all(self.router.endpoints.len());
        let result = self.router.switch(|mut off| {
            let mut last = None;
            for (name, switch) in switches.clone() {
                let i = self
                    .router
                    .index(name)
                    .ok_or_else(|| ControlError::UnknownEndpoint(name.to_owned()))?;
                match switch {
                    Switch::On => off &= !(1 << i),
                    Switch::Off => {
                        off |= 1 << i;
                        last = Some(name);
                    }
                }
            }
            match last {
                Some(name) if off & every == every => {
                    Err(ControlError::LastEndpointOn(name.to_owned()))
                }
                _ => Ok(off),
            }
        });
        match result {
            Ok((before, after)) => {
                for (i, e) in self.router.endpoints.iter().enumerate() {
                    let bit = 1 << i;
                    if before & bit != after & bit {
                        self.emit(&Event::RoutingChanged {
                            endpoint: &e.name,
                            switch: Router::switch_in(after, i),
                        });
                    }
                }
                Ok(())
            }
            Err(e) => {
                self.refused(&e);
                Err(e)
            }
        }
    }

    fn refused(&self, e: &ControlError) {
        let endpoint = match e {
            ControlError::UnknownEndpoint(n) | ControlError::LastEndpointOn(n) => Some(&**n),
            _ => None,
        };
        self.emit(&Event::RoutingRefused {
            endpoint,
            reason: e.reason(),
        });
    }

    fn emit(&self, event: &Event<'_>) {
        if let Some(hook) = &self.hook {
            hook.on_event(event);
        }
    }
}

/// The switches from a JSON file, re-read on an interval: a driver future **that the caller
/// spawns** (no hidden task).
///
/// The file is an object of endpoint names to `"on"` or `"off"` (in any letter case); endpoints
/// it does not name are switched on, so deleting a line undoes it:
///
/// ```json
/// {"us-east-2": "off"}
/// ```
///
/// Each read is applied whole, or not at all: a missing or unreadable file, a malformed one, one
/// naming an unknown endpoint, and one that would switch every endpoint off all keep the last
/// good state and are reported as [`Event::RoutingRefused`]. The read is synchronous (a mounted
/// config map is small and local), on the driver's task, every `interval` (default 10 s),
/// starting at once.
///
/// ```no_run
/// # use steadfast::failover::{Failover, RoutingFile};
/// # use std::time::Duration;
/// # async fn run(failover: Failover<tower::util::ServiceFn<fn(u32) -> std::future::Ready<Result<u32, steadfast::BoxError>>>>) {
/// let routing = failover.handle().routing();
/// tokio::spawn(
///     RoutingFile::new("/etc/steadfast/routing.json", routing)
///         .interval(Duration::from_secs(5))
///         .expect("a valid interval")
///         .run(),
/// );
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct RoutingFile {
    path: PathBuf,
    control: RoutingControl,
    interval: Duration,
}

impl RoutingFile {
    /// Reads `path` into `control`'s switches.
    pub fn new(path: impl Into<PathBuf>, control: RoutingControl) -> Self {
        RoutingFile {
            path: path.into(),
            control,
            interval: Duration::from_secs(10),
        }
    }

    /// How often the file is read. Default 10 s.
    ///
    /// # Errors
    ///
    /// [`ConfigError`] for a zero interval.
    pub fn interval(mut self, interval: Duration) -> Result<Self, ConfigError> {
        if interval.is_zero() {
            return Err(ConfigError::invalid(
                "routing file interval",
                interval,
                "more than zero",
            ));
        }
        self.interval = interval;
        Ok(self)
    }

    /// Reads the file once and applies it.
    ///
    /// # Errors
    ///
    /// Why it was not applied ([`ControlError`]); the switches are then unchanged.
    pub fn read_once(&self) -> Result<(), ControlError> {
        let result = std::fs::read_to_string(&self.path)
            .map_err(|e| ControlError::Unreadable(format!("{}: {e}", self.path.display())))
            .and_then(|text| parse(&text));
        let switches = match result {
            Ok(switches) => switches,
            Err(e) => {
                self.control.refused(&e);
                return Err(e);
            }
        };
        // Unnamed endpoints are on.
        let named = |name: &str| switches.iter().any(|(n, _)| n == name);
        let mut all: Vec<(&str, Switch)> = switches.iter().map(|(n, s)| (&**n, *s)).collect();
        for e in self.control.router.endpoints.iter() {
            if !named(&e.name) {
                all.push((&e.name, Switch::On));
            }
        }
        self.control.apply(all.iter().copied())
    }

    /// The driver: reads the file now and then every interval, forever. Spawn it, or select on
    /// it with your shutdown signal.
    pub async fn run(self) {
        let mut next = tokio::time::Instant::now();
        loop {
            let _ = self.read_once();
            // An interval too long to add reads once, and then never again.
            let Some(after) = next.checked_add(self.interval) else {
                return std::future::pending().await;
            };
            next = after;
            tokio::time::sleep_until(next).await;
        }
    }
}

/// Parses `{"name": "on" | "off", ...}`: a JSON object of strings, nothing else.
fn parse(text: &str) -> Result<Vec<(String, Switch)>, ControlError> {
    let mut p = Parser {
        s: text.as_bytes(),
        at: 0,
    };
    let mut out: Vec<(String, Switch)> = Vec::new();
    p.expect(b'{')?;
    if !p.eat(b'}') {
        loop {
            let name = p.string()?;
            p.expect(b':')?;
            let value = p.string()?;
            let switch = match value.to_ascii_lowercase().as_str() {
                "on" => Switch::On,
                "off" => Switch::Off,
                _ => return Err(p.error(&format!("{value:?} is neither \"on\" nor \"off\""))),
            };
            if out.iter().any(|(n, _)| *n == name) {
                return Err(p.error(&format!("{name:?} appears twice")));
            }
            out.push((name, switch));
            if p.eat(b'}') {
                break;
            }
            p.expect(b',')?;
        }
    }
    p.skip_ws();
    if p.at != p.s.len() {
        return Err(p.error("trailing characters"));
    }
    Ok(out)
}

struct Parser<'a> {
    s: &'a [u8],
    at: usize,
}

impl Parser<'_> {
    fn error(&self, what: &str) -> ControlError {
        ControlError::Malformed(format!("{what} at byte {}", self.at))
    }

    fn skip_ws(&mut self) {
        while self
            .s
            .get(self.at)
            .is_some_and(|b| matches!(b, b' ' | b'\t' | b'\n' | b'\r'))
        {
            self.at += 1;
        }
    }

    fn eat(&mut self, b: u8) -> bool {
        self.skip_ws();
        if self.s.get(self.at) == Some(&b) {
            self.at += 1;
            true
        } else {
            false
        }
    }

    fn expect(&mut self, b: u8) -> Result<(), ControlError> {
        if self.eat(b) {
            Ok(())
        } else {
            Err(self.error(&format!("expected {:?}", b as char)))
        }
    }

    /// A JSON string, with its escapes.
    fn string(&mut self) -> Result<String, ControlError> {
        self.expect(b'"')?;
        let mut out = String::new();
        loop {
            let Some(&b) = self.s.get(self.at) else {
                return Err(self.error("unterminated string"));
            };
            self.at += 1;
            match b {
                b'"' => return Ok(out),
                b'\\' => {
                    let Some(&e) = self.s.get(self.at) else {
                        return Err(self.error("unterminated escape"));
                    };
                    self.at += 1;
                    out.push(match e {
                        b'"' => '"',
                        b'\\' => '\\',
                        b'/' => '/',
                        b'b' => '\u{8}',
                        b'f' => '\u{c}',
                        b'n' => '\n',
                        b'r' => '\r',
                        b't' => '\t',
                        b'u' => self.unicode()?,
                        _ => return Err(self.error("invalid escape")),
                    });
                }
                0..=0x1f => return Err(self.error("control character in a string")),
                _ => {
                    // Copy the whole UTF-8 sequence (the input is a `str`, so it is valid).
                    let start = self.at - 1;
                    let len = match b {
                        0x00..=0x7f => 1,
                        0xc0..=0xdf => 2,
                        0xe0..=0xef => 3,
                        _ => 4,
                    };
                    let end = (start + len).min(self.s.len());
                    match std::str::from_utf8(&self.s[start..end]) {
                        Ok(c) => out.push_str(c),
                        Err(_) => return Err(self.error("invalid UTF-8")),
                    }
                    self.at = end;
                }
            }
        }
    }

    /// The four hex digits of `\u`, and a low surrogate after a high one.
    fn unicode(&mut self) -> Result<char, ControlError> {
        let hi = self.hex4()?;
        let code = if (0xd800..0xdc00).contains(&hi) {
            if self.s.get(self.at..self.at + 2) != Some(b"\\u") {
                return Err(self.error("lone surrogate"));
            }
            self.at += 2;
            let lo = self.hex4()?;
            if !(0xdc00..0xe000).contains(&lo) {
                return Err(self.error("lone surrogate"));
            }
            0x10000 + ((hi - 0xd800) << 10) + (lo - 0xdc00)
        } else {
            hi
        };
        char::from_u32(code).ok_or_else(|| self.error("invalid code point"))
    }

    fn hex4(&mut self) -> Result<u32, ControlError> {
        let digits = self
            .s
            .get(self.at..self.at + 4)
            .filter(|d| d.iter().all(u8::is_ascii_hexdigit))
            .and_then(|d| std::str::from_utf8(d).ok())
            .and_then(|d| u32::from_str_radix(d, 16).ok())
            .ok_or_else(|| self.error("invalid \\u escape"))?;
        self.at += 4;
        Ok(digits)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_documented_shape() {
        assert_eq!(
            parse(r#" {"us-east-2": "off", "us-west-1" : "ON"} "#).unwrap(),
            vec![
                ("us-east-2".to_owned(), Switch::Off),
                ("us-west-1".to_owned(), Switch::On)
            ]
        );
        assert_eq!(parse("{}").unwrap(), vec![]);
        assert_eq!(
            parse(r#"{"a\u00e9\"\\": "off"}"#).unwrap(),
            vec![("aé\"\\".to_owned(), Switch::Off)]
        );
        assert_eq!(
            parse(r#"{"\ud83d\ude00": "on"}"#).unwrap(),
            vec![("😀".to_owned(), Switch::On)]
        );
    }

    #[test]
    fn rejects_everything_else() {
        for bad in [
            "",
            "[]",
            "{",
            r#"{"a": "maybe"}"#,
            r#"{"a": 1}"#,
            r#"{"a": "off",}"#,
            r#"{"a": "off"} x"#,
            r#"{"a": "off", "a": "on"}"#,
            r#"{"a" "off"}"#,
            r#"{"\ud800": "on"}"#,
            r#"{"\x": "on"}"#,
            r#"{"\u+065ast": "on"}"#,
            "{\"a\n\": \"on\"}",
        ] {
            assert!(
                matches!(parse(bad), Err(ControlError::Malformed(_))),
                "{bad:?}"
            );
        }
    }
}
