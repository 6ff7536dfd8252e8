//! A failover's routing switches from etcd (feature `etcd`): one switch for a whole fleet.
//!
//! Every instance runs an [`EtcdRouting`] driver watching the same key prefix; an operator
//! flips a region off for the fleet with one write:
//!
//! ```text
//! etcdctl put /steadfast/orders/us-east-2 off
//! ```
//!
//! # The keys
//!
//! Under the prefix, one key per endpoint, named after it (`{prefix}{endpoint}`), whose value is
//! `on` or `off` (in any letter case, surrounding whitespace ignored). An endpoint without a key
//! is on. The driver reads every key under the prefix at once, then **watches** the prefix (no
//! polling): each change, as etcd delivers it, makes the driver read the prefix again, whole,
//! and apply it whole or not at all through the failover's
//! [`RoutingControl`], as the routing file does
//! ([`SwitchSource`] says how a read is applied, and how an operator's
//! [`RoutingControl::set`](crate::failover::RoutingControl::set) and the store share the
//! switches: the latest change of an endpoint's switch wins).
//!
//! A read that names an unknown endpoint, holds a value other than `on` or `off`, or switches
//! every endpoint off is **refused**: the switches stay as they were, the store is left as the
//! operator wrote it, and the refusal is reported
//! ([`Event::RoutingRefused`](crate::event::Event::RoutingRefused) with
//! [`RoutingSource::Etcd`], the endpoint and the reason). The next good write applies.
//!
//! # When etcd is unreachable
//!
//! The switches are kept as last applied, never all switched off: a failover keeps routing as it
//! did. Each failed attempt to reach etcd is reported as a refusal with the reason
//! [`Refused::Unreadable`] and no endpoint. The driver tries again after
//! [`reconnect_delay`](EtcdRouting::reconnect_delay) (default 1 s), doubling up to 32 times that
//! while etcd stays away; once back, it reads the prefix whole (applying what changed meanwhile)
//! and watches again. A connection that goes silent without closing is noticed by HTTP/2
//! keep-alive pings (every 10 s, 5 s to answer).
//!
//! # Security
//!
//! Whoever may write under the prefix moves the fleet's traffic. Connect with TLS
//! ([`tls`](EtcdRouting::tls): the CA, and a client certificate when etcd authenticates clients
//! by certificate) and authentication ([`user`](EtcdRouting::user)). The password is never
//! logged, printed nor put in an error (`Debug` shows the user name only).
//!
//! The driver only reads: its etcd user needs a role with **read** permission on the prefix
//! (which covers range reads and watches), and nothing else:
//!
//! ```text
//! etcdctl role add steadfast-routing-reader
//! etcdctl role grant-permission --prefix=true steadfast-routing-reader read /steadfast/orders/
//! etcdctl user add orders-client
//! etcdctl user grant-role orders-client steadfast-routing-reader
//! ```
//!
//! Give write permission on the prefix to the operators (or their tooling) only.
//!
//! # Building
//!
//! `etcd-client` compiles etcd's protocol definitions with `protoc` (Debian:
//! `protobuf-compiler`).

use std::fmt;
use std::time::Duration;

pub use etcd_client::{Certificate, Identity, TlsOptions};
use etcd_client::{Client, ConnectOptions, GetOptions, WatchOptions};

use super::switch_source::{AppliedLines, SwitchSource};
use crate::error::{ConfigError, NAME_LIMIT, clip};
use crate::failover::{ControlError, Refused, RoutingControl, RoutingSource, Switch};

/// Why a read of the switches in etcd was not applied: the switches are unchanged.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EtcdRoutingError {
    /// etcd could not be reached, refused the credentials, or ended the watch.
    #[error("etcd unreachable: {0}")]
    Unreachable(String),
    /// A key under the prefix is not UTF-8, or its value is not `on` or `off` (both cut after
    /// 128 bytes).
    #[error("etcd routing key {key:?} malformed: {reason}")]
    Malformed {
        /// The key, without the prefix.
        key: String,
        /// What is wrong.
        reason: String,
    },
    /// The switches asked for were refused: an unknown endpoint, or every endpoint off.
    #[error(transparent)]
    Refused(#[from] ControlError),
}

impl EtcdRoutingError {
    /// The reason, without its detail, for events.
    pub fn reason(&self) -> Refused {
        match self {
            EtcdRoutingError::Unreachable(_) => Refused::Unreadable,
            EtcdRoutingError::Malformed { .. } => Refused::Malformed,
            EtcdRoutingError::Refused(e) => e.reason(),
        }
    }
}

impl From<etcd_client::Error> for EtcdRoutingError {
    fn from(e: etcd_client::Error) -> Self {
        EtcdRoutingError::Unreachable(clip(&e.to_string(), 512).to_owned())
    }
}

/// A failover's routing switches from keys under a prefix in etcd, watched: a driver future
/// **that the caller spawns**. The [module docs](self) define the keys, the behaviour while
/// etcd is unreachable, and the permissions the driver needs.
///
/// # Examples
///
/// ```no_run
/// use steadfast::failover::Failover;
/// use steadfast::integrations::routing_etcd::{Certificate, EtcdRouting, TlsOptions};
///
/// # async fn run() -> Result<(), steadfast::BoxError> {
/// # let region = tower::service_fn(|x: u32| async move { Ok::<_, steadfast::BoxError>(x) });
/// let failover = Failover::builder()
///     .endpoint("us-east-2", region)
///     .endpoint("us-west-1", region)
///     .build()?;
/// let ca = std::fs::read("/etc/steadfast/etcd-ca.pem")?;
/// let password = std::env::var("ETCD_PASSWORD")?;
/// let driver = tokio::spawn(
///     EtcdRouting::new(["https://etcd-1:2379"], "/steadfast/orders/", failover.handle().routing())
///         .tls(TlsOptions::new().ca_certificate(Certificate::from_pem(ca)))
///         .user("orders-client", password)
///         .run(),
/// );
/// // ... at shutdown:
/// driver.abort();
/// # Ok(())
/// # }
/// ```
///
/// # Cancellation
///
/// Dropping the driver stops it at once; no switch is changed after it is dropped.
pub struct EtcdRouting {
    endpoints: Vec<String>,
    prefix: String,
    control: RoutingControl,
    user: Option<(String, String)>,
    tls: Option<TlsOptions>,
    connect_timeout: Duration,
    reconnect_delay: Duration,
    applied: AppliedLines,
    client: Option<Client>,
}

impl fmt::Debug for EtcdRouting {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EtcdRouting")
            .field("endpoints", &self.endpoints)
            .field("prefix", &self.prefix)
            .field("user", &self.user.as_ref().map(|(name, _)| name))
            .field("tls", &self.tls.is_some())
            .field("connect_timeout", &self.connect_timeout)
            .field("reconnect_delay", &self.reconnect_delay)
            .finish_non_exhaustive()
    }
}

impl EtcdRouting {
    /// Reads the keys under `prefix` from the etcd cluster at `endpoints` (URLs such as
    /// `https://etcd-1:2379`) into `control`'s switches, once [`run`](Self::run). Plain
    /// connections and no authentication until [`tls`](Self::tls) and [`user`](Self::user).
    pub fn new<I>(endpoints: I, prefix: impl Into<String>, control: RoutingControl) -> Self
    where
        I: IntoIterator,
        I::Item: Into<String>,
    {
        EtcdRouting {
            endpoints: endpoints.into_iter().map(Into::into).collect(),
            prefix: prefix.into(),
            control,
            user: None,
            tls: None,
            connect_timeout: Duration::from_secs(5),
            reconnect_delay: Duration::from_secs(1),
            applied: AppliedLines::default(),
            client: None,
        }
    }

    /// Authenticates as `name` with `password`. Default: no authentication.
    pub fn user(mut self, name: impl Into<String>, password: impl Into<String>) -> Self {
        self.user = Some((name.into(), password.into()));
        self
    }

    /// Connects with TLS: the CA that signed etcd's certificate, and the client's own
    /// certificate and key when etcd asks for one ([`TlsOptions::identity`]). Default: plain
    /// connections (for a local etcd only).
    pub fn tls(mut self, tls: TlsOptions) -> Self {
        self.tls = Some(tls);
        self
    }

    /// How long connecting may take. Default 5 s.
    ///
    /// # Errors
    ///
    /// [`ConfigError`] for zero or more than [`MAX_DURATION`](crate::MAX_DURATION).
    pub fn connect_timeout(mut self, timeout: Duration) -> Result<Self, ConfigError> {
        ConfigError::check_limit("etcd connect timeout", Some(timeout))?;
        self.connect_timeout = timeout;
        Ok(self)
    }

    /// How long the driver waits before trying etcd again after failing to reach it; it
    /// doubles while etcd stays away, up to 32 times this. Default 1 s.
    ///
    /// # Errors
    ///
    /// [`ConfigError`] for less than 10 ms or more than an hour.
    pub fn reconnect_delay(mut self, delay: Duration) -> Result<Self, ConfigError> {
        if !(Duration::from_millis(10)..=Duration::from_secs(3600)).contains(&delay) {
            return Err(ConfigError::invalid(
                "etcd reconnect delay",
                delay,
                "between 10ms and 1h",
            ));
        }
        self.reconnect_delay = delay;
        Ok(self)
    }

    /// Reads every key under the prefix once and applies them, connecting first if need be.
    ///
    /// # Errors
    ///
    /// Why they were not applied; the switches are then unchanged, and the reason was reported
    /// to the control's hook.
    pub async fn read_once(&mut self) -> Result<(), EtcdRoutingError> {
        self.read_and_apply().await.map(drop).map_err(|u| u.error)
    }

    /// The driver: reads the prefix now, then on every change etcd reports, forever; while
    /// etcd is unreachable, keeps the switches and tries again. Spawn it.
    pub async fn run(mut self) {
        let mut delay = self.reconnect_delay;
        loop {
            match self.watch().await {
                Ok(never) => match never {},
                Err(WatchEnded { synced }) => {
                    self.client = None;
                    if synced {
                        delay = self.reconnect_delay;
                    }
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(self.reconnect_delay * 32);
                }
            }
        }
    }

    /// Reads the prefix, applies it, and watches it until the watch fails.
    async fn watch(&mut self) -> Result<std::convert::Infallible, WatchEnded> {
        let ended = |synced| WatchEnded { synced };
        let revision = match self.read_and_apply().await {
            Ok(revision) => revision,
            Err(Unapplied {
                revision: Some(revision),
                ..
            }) => revision,
            Err(_) => return Err(ended(false)),
        };
        let client = self.client.as_mut().ok_or(ended(true))?;
        let options = WatchOptions::new()
            .with_prefix()
            .with_start_revision(revision + 1);
        let mut stream = match client.watch(self.prefix.as_str(), Some(options)).await {
            Ok(stream) => stream,
            Err(e) => {
                self.unreachable(e.into());
                return Err(ended(true));
            }
        };
        loop {
            match stream.message().await {
                Ok(Some(response)) if response.canceled() => {
                    let reason = clip(response.cancel_reason(), 512).to_owned();
                    self.unreachable(EtcdRoutingError::Unreachable(format!(
                        "watch canceled: {reason}"
                    )));
                    return Err(ended(true));
                }
                Ok(Some(response)) if response.events().is_empty() => {}
                Ok(Some(_)) => {
                    if let Err(Unapplied { revision: None, .. }) = self.read_and_apply().await {
                        return Err(ended(true));
                    }
                }
                Ok(None) => {
                    self.unreachable(EtcdRoutingError::Unreachable("watch ended".into()));
                    return Err(ended(true));
                }
                Err(e) => {
                    self.unreachable(e.into());
                    return Err(ended(true));
                }
            }
        }
    }

    /// Reads the prefix whole and applies it: the revision read, or why not.
    async fn read_and_apply(&mut self) -> Result<i64, Unapplied> {
        let response = match self.get().await {
            Ok(response) => response,
            Err(e) => {
                self.client = None;
                return Err(Unapplied {
                    error: self.unreachable(e),
                    revision: None,
                });
            }
        };
        let revision = response.header().map_or(0, |h| h.revision());
        let mut named = Vec::with_capacity(response.kvs().len());
        for kv in response.kvs() {
            match self.parse(kv.key(), kv.value()) {
                Ok(entry) => named.push(entry),
                Err(error) => {
                    let key = match &error {
                        EtcdRoutingError::Malformed { key, .. } => Some(key.as_str()),
                        _ => None,
                    };
                    self.control
                        .refused(RoutingSource::Etcd, key, error.reason());
                    return Err(Unapplied {
                        error,
                        revision: Some(revision),
                    });
                }
            }
        }
        let named = named.iter().map(|(name, switch)| (name.as_str(), *switch));
        // A refusal is reported by the control, with the endpoint.
        match self
            .applied
            .apply(&self.control, RoutingSource::Etcd, named)
        {
            Ok(()) => Ok(revision),
            Err(e) => Err(Unapplied {
                error: e.into(),
                revision: Some(revision),
            }),
        }
    }

    async fn get(&mut self) -> Result<etcd_client::GetResponse, EtcdRoutingError> {
        let client = match &mut self.client {
            Some(client) => client,
            None => {
                let client = self.connect().await?;
                self.client.insert(client)
            }
        };
        Ok(client
            .get(self.prefix.as_str(), Some(GetOptions::new().with_prefix()))
            .await?)
    }

    async fn connect(&self) -> Result<Client, EtcdRoutingError> {
        let mut options = ConnectOptions::new()
            .with_connect_timeout(self.connect_timeout)
            .with_timeout(self.connect_timeout)
            .with_keep_alive(Duration::from_secs(10), Duration::from_secs(5))
            .with_keep_alive_while_idle(true);
        if let Some((name, password)) = &self.user {
            options = options.with_user(name.clone(), password.clone());
        }
        if let Some(tls) = &self.tls {
            options = options.with_tls(tls.clone());
        }
        Ok(Client::connect(&self.endpoints, Some(options)).await?)
    }

    /// The endpoint and switch of one key, or why it is malformed.
    fn parse(&self, key: &[u8], value: &[u8]) -> Result<(String, Switch), EtcdRoutingError> {
        let key = key.strip_prefix(self.prefix.as_bytes()).unwrap_or(key);
        let malformed = |key: &str, reason: String| EtcdRoutingError::Malformed {
            key: clip(key, NAME_LIMIT).to_owned(),
            reason,
        };
        let name = std::str::from_utf8(key)
            .map_err(|_| malformed(&String::from_utf8_lossy(key), "key not UTF-8".into()))?;
        let text = std::str::from_utf8(value).unwrap_or("").trim();
        let switch = if text.eq_ignore_ascii_case("on") {
            Switch::On
        } else if text.eq_ignore_ascii_case("off") {
            Switch::Off
        } else {
            return Err(malformed(
                name,
                format!("value {:?}, expected on or off", clip(text, NAME_LIMIT)),
            ));
        };
        Ok((name.to_owned(), switch))
    }

    /// Reports etcd unreachable; the switches stay.
    fn unreachable(&self, e: EtcdRoutingError) -> EtcdRoutingError {
        self.control.refused(RoutingSource::Etcd, None, e.reason());
        e
    }
}

/// Why a read was not applied, as the driver's loop needs it (already reported).
struct Unapplied {
    error: EtcdRoutingError,
    /// The revision read, when etcd answered (its content was refused): the watch goes on
    /// from there.
    revision: Option<i64>,
}

/// The watch failed; `synced` when a read had succeeded first (the retry delay starts over).
struct WatchEnded {
    synced: bool,
}

impl SwitchSource for EtcdRouting {
    type Error = EtcdRoutingError;

    async fn read_once(&mut self) -> Result<(), EtcdRoutingError> {
        EtcdRouting::read_once(self).await
    }

    async fn run(self) {
        EtcdRouting::run(self).await
    }
}
