//! A region's base URL: validated once, then used to give a region-neutral request its origin.

use std::fmt;

use http::Uri;
use http::uri::{Authority, PathAndQuery, Scheme};

use crate::error::ConfigError;

/// The origin region-neutral requests are built on before a region gives them its own:
/// `http://region.invalid` (the `.invalid` domain never resolves, so a request that escaped
/// the failover fails as not sent).
pub const PLACEHOLDER_ORIGIN: &str = "http://region.invalid";

/// A region's base URL: an `http` or `https` origin, and optionally a path prefix
/// (`https://east.example.com/api`). A request keeps its path and query and takes this
/// origin, its path after the prefix.
///
/// # Examples
///
/// ```
/// use steadfast::regional::BaseUrl;
///
/// let base = BaseUrl::parse("https://east.example.com/api/").unwrap();
/// assert_eq!(base.rebase_uri(&"/orders/7?full=1".parse().unwrap()).to_string(),
///            "https://east.example.com/api/orders/7?full=1");
/// assert!(BaseUrl::parse("east.example.com").is_err()); // no scheme
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct BaseUrl {
    scheme: Scheme,
    authority: Authority,
    /// The path prefix without its trailing `/`: empty, or `/api`.
    prefix: String,
    #[cfg(feature = "reqwest")]
    url: reqwest::Url,
}

const EXPECTED: &str = "an absolute http or https url with a host, and no query or fragment";

impl BaseUrl {
    /// Validates `url`.
    ///
    /// # Errors
    ///
    /// [`ConfigError`] when `url` is not an absolute `http` or `https` URL with a host, or has a
    /// query or a fragment.
    pub fn parse(url: &str) -> Result<Self, ConfigError> {
        let invalid = || ConfigError::invalid("region base url", url, EXPECTED);
        let uri: Uri = url.parse().map_err(|_| invalid())?;
        let scheme = uri
            .scheme()
            .filter(|s| matches!(s.as_str(), "http" | "https"));
        let (Some(scheme), Some(authority)) = (scheme.cloned(), uri.authority().cloned()) else {
            return Err(invalid());
        };
        if uri.query().is_some() || url.contains('#') || authority.host().is_empty() {
            return Err(invalid());
        }
        let prefix = uri.path().trim_end_matches('/').to_owned();
        Ok(BaseUrl {
            #[cfg(feature = "reqwest")]
            url: reqwest::Url::parse(url).map_err(|_| invalid())?,
            scheme,
            authority,
            prefix,
        })
    }

    /// `uri` with this origin, its path after this prefix, its query kept (its own origin, if
    /// any, is dropped).
    pub fn rebase_uri(&self, uri: &Uri) -> Uri {
        let root = || PathAndQuery::from_static("/");
        let path_and_query = match uri.path_and_query() {
            None => root(),
            Some(own) if self.prefix.is_empty() => own.clone(),
            // A valid prefix followed by a valid path and query is valid.
            Some(own) => {
                PathAndQuery::try_from(format!("{}{own}", self.prefix)).unwrap_or_else(|_| root())
            }
        };
        let mut parts = http::uri::Parts::default();
        parts.scheme = Some(self.scheme.clone());
        parts.authority = Some(self.authority.clone());
        parts.path_and_query = Some(path_and_query);
        // Every part is set and valid, so this cannot fail; keep `uri` rather than panic.
        Uri::from_parts(parts).unwrap_or_else(|_| uri.clone())
    }

    /// `url` with this origin, its path after this prefix, its query kept.
    #[cfg(feature = "reqwest")]
    pub fn rebase_url(&self, url: &mut reqwest::Url) {
        let mut rebased = self.url.clone();
        if self.prefix.is_empty() {
            rebased.set_path(url.path());
        } else {
            rebased.set_path(&format!("{}{}", self.prefix, url.path()));
        }
        rebased.set_query(url.query());
        *url = rebased;
    }
}

impl fmt::Debug for BaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "BaseUrl({self})")
    }
}

impl fmt::Display for BaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}://{}{}", self.scheme, self.authority, self.prefix)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_what_is_not_an_http_origin() {
        for bad in [
            "",
            "east.example.com",
            "/api",
            "ftp://east.example.com",
            "http://east.example.com/?region=1",
            "http://east.example.com/#top",
            "http://",
            "http:// east",
        ] {
            let e = BaseUrl::parse(bad).unwrap_err();
            assert_eq!(
                e.to_string(),
                format!("region base url is {bad:?}, expected {EXPECTED}"),
            );
        }
    }

    #[test]
    fn rebases_path_and_query_after_the_prefix() {
        let cases = [
            (
                "http://127.0.0.1:8080",
                "/orders/7",
                "http://127.0.0.1:8080/orders/7",
            ),
            ("http://h/", "/a?b=1", "http://h/a?b=1"),
            ("https://h/api/", "/a?b=1", "https://h/api/a?b=1"),
            ("https://h/api", "http://other:9/x", "https://h/api/x"),
            ("https://h/api", "http://other:9", "https://h/api/"),
            ("http://h", "/go?to=http://x/y", "http://h/go?to=http://x/y"),
        ];
        for (base, req, want) in cases {
            let base = BaseUrl::parse(base).unwrap();
            assert_eq!(base.rebase_uri(&req.parse().unwrap()).to_string(), want);
            #[cfg(feature = "reqwest")]
            {
                let mut url = reqwest::Url::parse(PLACEHOLDER_ORIGIN)
                    .unwrap()
                    .join(req)
                    .unwrap();
                base.rebase_url(&mut url);
                assert_eq!(url.as_str(), want);
            }
        }
    }
}
