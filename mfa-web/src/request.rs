//! What a handler knows of the request: its headers, and the client as the library's
//! audit events and per-client send limits see it.

use std::convert::Infallible;
use std::net::{IpAddr, SocketAddr};

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::HeaderMap;
use axum::http::header::USER_AGENT;
use axum::http::request::Parts;
use mfa_core::RequestContext;

use crate::MfaWeb;

/// The request's headers and client.
pub(crate) struct Req {
    pub headers: HeaderMap,
    pub request: RequestContext,
}

/// The address the nearest proxy saw: the last `X-Forwarded-For` entry (earlier ones
/// are the client's to write).
fn forwarded_for(headers: &HeaderMap) -> Option<IpAddr> {
    headers
        .get_all("x-forwarded-for")
        .iter()
        .next_back()?
        .to_str()
        .ok()?
        .rsplit(',')
        .next()?
        .trim()
        .parse()
        .ok()
}

impl FromRequestParts<MfaWeb> for Req {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, web: &MfaWeb) -> Result<Self, Infallible> {
        let mut request = RequestContext::new();
        if let Some(agent) = parts.headers.get(USER_AGENT).and_then(|v| v.to_str().ok()) {
            request = request.user_agent(agent);
        }
        let client = web
            .inner
            .trust_forwarded_for
            .then(|| forwarded_for(&parts.headers))
            .flatten()
            .or_else(|| {
                parts
                    .extensions
                    .get::<ConnectInfo<SocketAddr>>()
                    .map(|c| c.0.ip())
            });
        if let Some(addr) = client {
            request = request.client(addr);
        }
        Ok(Req {
            headers: parts.headers.clone(),
            request,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_last_forwarded_entry_is_the_proxys() {
        let mut h = HeaderMap::new();
        h.insert(
            "x-forwarded-for",
            "198.51.100.1, 203.0.113.7".parse().unwrap(),
        );
        assert_eq!(forwarded_for(&h), Some("203.0.113.7".parse().unwrap()));
        h.insert("x-forwarded-for", "not an address".parse().unwrap());
        assert_eq!(forwarded_for(&h), None);
    }
}
