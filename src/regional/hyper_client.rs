//! hyper-util's legacy client as a region's endpoint.

use std::task::{Context, Poll};

use hyper_util::client::legacy::connect::Connect;
use hyper_util::client::legacy::{Client, Error, ResponseFuture};
use tower_service::Service;

use super::{Region, RegionFuture};
use crate::error::CallError;

impl<C, B> Service<http::Request<B>> for Region<Client<C, B>>
where
    C: Connect + Clone + Send + Sync + 'static,
    B: hyper::body::Body + Send + 'static + Unpin,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    type Response = http::Response<hyper::body::Incoming>;
    type Error = CallError<Error>;
    type Future = RegionFuture<ResponseFuture>;

    /// Always ready: the client pools its connections.
    #[inline]
    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, mut req: http::Request<B>) -> Self::Future {
        *req.uri_mut() = self.base.rebase_uri(req.uri());
        RegionFuture {
            inner: self.client.request(req),
        }
    }
}
