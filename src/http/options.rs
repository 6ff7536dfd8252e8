//! A failover's per-request options read from an HTTP request's extensions.

use crate::failover::{
    CallDeadline, CallOptions, PinnedEndpoint, ReplayMarker, RequestOptions, SpreadKey,
};

/// Reads a failover's [`CallOptions`] from an `http::Request`'s extensions: [`CallDeadline`],
/// [`ReplayMarker`], [`PinnedEndpoint`] and [`SpreadKey`].
///
/// ```
/// use std::time::Duration;
/// use steadfast::failover::{CallDeadline, HttpOptions, PinnedEndpoint, RequestOptions};
///
/// let mut req = http::Request::new(());
/// req.extensions_mut().insert(CallDeadline(Duration::from_secs(2)));
/// req.extensions_mut().insert(PinnedEndpoint("us-east-2".into()));
/// let options = HttpOptions.options(&req);
/// assert_eq!(options.deadline, Some(Duration::from_secs(2)));
/// assert_eq!(options.endpoint, Some("us-east-2"));
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct HttpOptions;

impl<B> RequestOptions<http::Request<B>> for HttpOptions {
    fn options<'r>(&self, req: &'r http::Request<B>) -> CallOptions<'r> {
        let ext = req.extensions();
        CallOptions {
            deadline: ext.get::<CallDeadline>().map(|d| d.0),
            replay: ext.get::<ReplayMarker>().copied(),
            endpoint: ext.get::<PinnedEndpoint>().map(|p| &*p.0),
            key: ext.get::<SpreadKey>().map(|k| k.0),
        }
    }
}
