//! What the application knows of the request behind a call: the client's address
//! and user agent, for audit events and for send limits per client.

use std::fmt;
use std::net::IpAddr;

use crate::clock::Timestamp;

/// The longest user agent kept; the rest is cut (at a character boundary).
pub const MAX_USER_AGENT_LEN: usize = 256;

/// The request a call serves, as the application saw it.
///
/// Hand it to [`Mfa::with_request`](crate::Mfa::with_request): events then carry it
/// ([`EventMeta::request`]), and sends are also limited per client address
/// ([`SendLimits::per_client`](crate::policy::SendLimits::per_client)), against SMS
/// pumping from one source. Take the address from the connection, or from a
/// forwarding header only when your own proxy sets it.
///
/// ```
/// use mfa_core::RequestContext;
///
/// let request = RequestContext::new()
///     .client("203.0.113.7".parse().unwrap())
///     .user_agent("Mozilla/5.0 (X11; Linux x86_64)\r\nX-Injected: 1");
/// assert_eq!(request.client_addr(), Some("203.0.113.7".parse().unwrap()));
/// // Control characters are dropped, so a log line cannot be split.
/// assert_eq!(request.user_agent_str(), Some("Mozilla/5.0 (X11; Linux x86_64)X-Injected: 1"));
/// ```
#[derive(Clone, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct RequestContext {
    client: Option<IpAddr>,
    user_agent: Option<String>,
}

impl RequestContext {
    /// Nothing known yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// The client's address.
    pub fn client(mut self, addr: IpAddr) -> Self {
        self.client = Some(addr);
        self
    }

    /// The client's user agent: control characters dropped, cut at
    /// [`MAX_USER_AGENT_LEN`] bytes; an empty one is none.
    pub fn user_agent(mut self, agent: &str) -> Self {
        let mut kept = String::with_capacity(agent.len().min(MAX_USER_AGENT_LEN));
        for c in agent.chars().filter(|c| !c.is_control()) {
            if kept.len() + c.len_utf8() > MAX_USER_AGENT_LEN {
                break;
            }
            kept.push(c);
        }
        self.user_agent = (!kept.is_empty()).then_some(kept);
        self
    }

    /// The client's address, if given.
    pub fn client_addr(&self) -> Option<IpAddr> {
        self.client
    }

    /// The user agent, if given.
    pub fn user_agent_str(&self) -> Option<&str> {
        self.user_agent.as_deref()
    }

    /// What send limits count a client by: the IPv4 address, or the IPv6 /64 (one
    /// subscriber's prefix, inside which addresses are free to choose).
    pub(crate) fn client_key(&self) -> Option<String> {
        Some(match self.client? {
            IpAddr::V4(a) => a.to_string(),
            IpAddr::V6(a) => {
                let s = a.segments();
                format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
            }
        })
    }
}

impl fmt::Debug for RequestContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RequestContext")
            .field("client", &self.client)
            .field("user_agent", &self.user_agent)
            .finish()
    }
}

/// What an event sink is told beside each [`Event`](crate::Event).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct EventMeta {
    /// When it happened, on the driver's clock.
    pub at: Timestamp,
    /// The request it happened in, when the application passed one (shared, so the
    /// events of one request do not each copy its user agent).
    #[cfg_attr(feature = "serde", serde(serialize_with = "shared_request"))]
    pub request: Option<std::sync::Arc<RequestContext>>,
}

/// Serializes the shared request as the request itself.
#[cfg(feature = "serde")]
fn shared_request<S: serde::Serializer>(
    request: &Option<std::sync::Arc<RequestContext>>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    serde::Serialize::serialize(&request.as_deref(), serializer)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_agents_are_cut_at_a_character_boundary_and_cleaned() {
        let long = "é".repeat(200);
        let r = RequestContext::new().user_agent(&long);
        let kept = r.user_agent_str().unwrap_or_default();
        assert_eq!(kept.len(), MAX_USER_AGENT_LEN);
        assert!(kept.chars().all(|c| c == 'é'));
        assert_eq!(
            RequestContext::new().user_agent("\n\t").user_agent_str(),
            None
        );
    }

    #[test]
    fn ipv6_clients_are_counted_by_their_64_prefix() {
        let a = RequestContext::new().client("2001:db8:1:2:aaaa::1".parse().unwrap());
        let b = RequestContext::new().client("2001:db8:1:2:ffff::9".parse().unwrap());
        let c = RequestContext::new().client("2001:db8:1:3::1".parse().unwrap());
        assert_eq!(a.client_key(), b.client_key());
        assert_ne!(a.client_key(), c.client_key());
        let v4 = RequestContext::new().client("198.51.100.4".parse().unwrap());
        assert_eq!(v4.client_key().as_deref(), Some("198.51.100.4"));
        assert_eq!(RequestContext::new().client_key(), None);
    }
}
