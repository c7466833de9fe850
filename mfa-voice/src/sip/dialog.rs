//! SIP messages of one outgoing call (RFC 3261): the requests we send, built and
//! serialised with `rsip`, and what we read from the messages we get.

use std::net::SocketAddr;

use rsip::Header;
use rsip::headers::UntypedHeader;

/// A parsed incoming message, with its headers as name/value pairs.
#[derive(Debug, Clone)]
pub struct Message {
    /// The status code, for a response.
    pub status: Option<u16>,
    /// The method, for a request (upper case) or the CSeq method of a response.
    pub method: String,
    headers: Vec<(String, String)>,
    /// The body.
    pub body: Vec<u8>,
}

/// Long names of the compact header forms (RFC 3261 §7.3.3).
fn full_name(name: &str) -> String {
    let lower = name.trim().to_ascii_lowercase();
    match lower.as_str() {
        "i" => "call-id".into(),
        "f" => "from".into(),
        "t" => "to".into(),
        "v" => "via".into(),
        "m" => "contact".into(),
        "c" => "content-type".into(),
        "l" => "content-length".into(),
        _ => lower,
    }
}

impl Message {
    /// Parses a datagram; `None` for anything that is not a SIP message.
    pub fn parse(datagram: &[u8]) -> Option<Message> {
        let message = rsip::SipMessage::try_from(datagram).ok()?;
        let pairs = |headers: &rsip::Headers| {
            headers
                .iter()
                .filter_map(|h| {
                    let text = h.to_string();
                    let (name, value) = text.split_once(':')?;
                    Some((full_name(name), value.trim().to_owned()))
                })
                .collect::<Vec<_>>()
        };
        let mut parsed = match &message {
            rsip::SipMessage::Request(r) => Message {
                status: None,
                method: r.method.to_string().to_ascii_uppercase(),
                headers: pairs(&r.headers),
                body: r.body.clone(),
            },
            rsip::SipMessage::Response(r) => Message {
                status: Some(r.status_code.code()),
                method: String::new(),
                headers: pairs(&r.headers),
                body: r.body.clone(),
            },
        };
        if parsed.status.is_some() {
            parsed.method = parsed.cseq().map(|(_, m)| m).unwrap_or_default();
        }
        Some(parsed)
    }

    /// The first value of a header (case-insensitive, compact forms understood).
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = full_name(name);
        self.headers
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_str())
    }

    /// Every value of a header, in order (comma-joined values are split).
    pub fn headers(&self, name: &str) -> Vec<&str> {
        let name = full_name(name);
        self.headers
            .iter()
            .filter(|(n, _)| *n == name)
            .flat_map(|(_, v)| split_list(v))
            .collect()
    }

    /// The CSeq number and method.
    pub fn cseq(&self) -> Option<(u32, String)> {
        let value = self.header("cseq")?;
        let mut parts = value.split_whitespace();
        let number = parts.next()?.parse().ok()?;
        Some((number, parts.next()?.to_ascii_uppercase()))
    }

    /// The Call-ID.
    pub fn call_id(&self) -> Option<&str> {
        self.header("call-id")
    }

    /// The `tag` parameter of the To header.
    pub fn to_tag(&self) -> Option<String> {
        tag_of(self.header("to")?)
    }

    /// The URI in the Contact header, without angle brackets.
    pub fn contact_uri(&self) -> Option<String> {
        self.header("contact").map(uri_of)
    }
}

/// Splits a header value at commas outside quotes and angle brackets.
fn split_list(value: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let (mut quoted, mut angle, mut start) = (false, false, 0);
    for (i, c) in value.char_indices() {
        match c {
            '"' => quoted = !quoted,
            '<' if !quoted => angle = true,
            '>' if !quoted => angle = false,
            ',' if !quoted && !angle => {
                out.push(value[start..i].trim());
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(value[start..].trim());
    out
}

/// The URI inside a name-addr (`"Bob" <sip:bob@host>;tag=x` gives `sip:bob@host`).
pub fn uri_of(name_addr: &str) -> String {
    match (name_addr.find('<'), name_addr.find('>')) {
        (Some(a), Some(b)) if a < b => name_addr[a + 1..b].to_owned(),
        _ => name_addr
            .split(';')
            .next()
            .unwrap_or(name_addr)
            .trim()
            .to_owned(),
    }
}

/// The `tag` parameter of a From or To value.
pub fn tag_of(value: &str) -> Option<String> {
    let params = match value.rfind('>') {
        Some(i) => &value[i + 1..],
        None => value,
    };
    params.split(';').find_map(|p| {
        let (name, v) = p.split_once('=')?;
        name.trim()
            .eq_ignore_ascii_case("tag")
            .then(|| v.trim().to_owned())
    })
}

/// The DTMF key in the body of a SIP INFO (`application/dtmf-relay`'s `Signal=#`, or
/// `application/dtmf`'s bare key).
pub fn info_key(content_type: &str, body: &[u8]) -> Option<char> {
    let body = std::str::from_utf8(body).ok()?;
    let ct = content_type.to_ascii_lowercase();
    let signal = if ct.starts_with("application/dtmf-relay") {
        body.lines().find_map(|l| {
            let (name, value) = l.split_once('=')?;
            name.trim()
                .eq_ignore_ascii_case("signal")
                .then(|| value.trim())
        })?
    } else if ct.starts_with("application/dtmf") {
        body.trim()
    } else {
        return None;
    };
    match signal {
        "10" => Some('*'),
        "11" => Some('#'),
        s if s.chars().count() == 1 => s.chars().next().filter(|c| crate::is_keypad_key(*c)),
        _ => None,
    }
}

/// The fixed parts of one call's dialog, and what the answer added.
#[derive(Debug, Clone)]
pub struct Dialog {
    /// The transport's name in Via (`UDP`, `TCP`).
    pub transport: &'static str,
    /// Our SIP socket's address (Via and Contact).
    pub local: SocketAddr,
    /// The Call-ID.
    pub call_id: String,
    /// The From value, with our tag.
    pub from: String,
    /// The To value of the INVITE (no tag).
    pub to: String,
    /// The INVITE's request-URI.
    pub request_uri: String,
    /// The callee's tag, once it answered.
    pub remote_tag: Option<String>,
    /// Where in-dialog requests are addressed (the answer's Contact).
    pub remote_target: Option<String>,
    /// The route set from the answer's Record-Route, in the order to use.
    pub route_set: Vec<String>,
    /// Our user part, for the Contact header.
    pub user: String,
}

/// A request-URI that is not a `sip:` or `sips:` URI (or would break the message).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InvalidUri;

/// One header of a request we build.
pub type ExtraHeader = (&'static str, String);

impl Dialog {
    /// Our Contact value: where the callee reaches us within the dialog.
    pub fn contact(&self) -> String {
        let transport = match self.transport {
            "UDP" => String::new(),
            other => format!(";transport={}", other.to_ascii_lowercase()),
        };
        format!("<sip:{}@{}{transport}>", self.user, self.local)
    }

    /// The To value, with the callee's tag once known.
    pub fn to_value(&self) -> String {
        match &self.remote_tag {
            Some(tag) => format!("{};tag={tag}", self.to),
            None => self.to.clone(),
        }
    }

    /// A request, serialised. `to_tagged` adds the callee's tag (in-dialog requests
    /// and the ACK of a failure). Fails only if `uri` is not a SIP URI.
    #[allow(clippy::too_many_arguments)]
    pub fn request(
        &self,
        method: rsip::Method,
        uri: &str,
        branch: &str,
        cseq: u32,
        to: &str,
        routes: &[String],
        extra: &[ExtraHeader],
        body: &[u8],
    ) -> Result<Vec<u8>, InvalidUri> {
        let lower = uri.to_ascii_lowercase();
        if !(lower.starts_with("sip:") || lower.starts_with("sips:"))
            || uri.chars().any(|c| c.is_whitespace() || c.is_control())
        {
            return Err(InvalidUri);
        }
        let mut headers = rsip::Headers::default();
        headers.push(Header::Via(rsip::headers::Via::new(format!(
            "SIP/2.0/{} {};branch={branch};rport",
            self.transport, self.local
        ))));
        headers.push(Header::MaxForwards(rsip::headers::MaxForwards::new("70")));
        for route in routes {
            headers.push(Header::Route(rsip::headers::Route::new(route.clone())));
        }
        headers.push(Header::From(rsip::headers::From::new(self.from.clone())));
        headers.push(Header::To(rsip::headers::To::new(to.to_owned())));
        headers.push(Header::CallId(rsip::headers::CallId::new(
            self.call_id.clone(),
        )));
        headers.push(Header::CSeq(rsip::headers::CSeq::new(format!(
            "{cseq} {method}"
        ))));
        if matches!(method, rsip::Method::Invite) {
            headers.push(Header::Contact(rsip::headers::Contact::new(self.contact())));
            headers.push(Header::Allow(rsip::headers::Allow::new(
                "INVITE, ACK, CANCEL, BYE, INFO, OPTIONS",
            )));
        }
        headers.push(Header::UserAgent(rsip::headers::UserAgent::new(
            "mfa-voice",
        )));
        for (name, value) in extra {
            headers.push(Header::Other((*name).to_owned(), value.clone()));
        }
        headers.push(Header::ContentLength(rsip::headers::ContentLength::new(
            body.len().to_string(),
        )));
        let request = rsip::Request {
            method,
            uri: rsip::Uri::try_from(uri).map_err(|_| InvalidUri)?,
            version: rsip::Version::V2,
            headers,
            body: body.to_vec(),
        };
        Ok(request.to_string().into_bytes())
    }
}

/// A response to a request the callee sent us (BYE, INFO, OPTIONS).
pub fn response_to(request: &Message, status: u16, reason: &str) -> Vec<u8> {
    response_with(request, status, reason, &[], b"")
}

/// A response with extra headers and a body (the 200 OK to a re-INVITE).
pub fn response_with(
    request: &Message,
    status: u16,
    reason: &str,
    extra: &[ExtraHeader],
    body: &[u8],
) -> Vec<u8> {
    let mut out = format!("SIP/2.0 {status} {reason}\r\n");
    for value in request.headers("via") {
        out.push_str(&format!("Via: {value}\r\n"));
    }
    // Only Via is a list: the others are copied whole, commas and all, so the answer
    // matches the request even when a Call-ID holds a comma it should not.
    for (name, display) in [
        ("from", "From"),
        ("to", "To"),
        ("call-id", "Call-ID"),
        ("cseq", "CSeq"),
    ] {
        if let Some(value) = request.header(name) {
            out.push_str(&format!("{display}: {value}\r\n"));
        }
    }
    for (name, value) in extra {
        out.push_str(&format!("{name}: {value}\r\n"));
    }
    out.push_str(&format!(
        "User-Agent: mfa-voice\r\nContent-Length: {}\r\n\r\n",
        body.len()
    ));
    let mut out = out.into_bytes();
    out.extend_from_slice(body);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dialog() -> Dialog {
        Dialog {
            transport: "UDP",
            local: "127.0.0.1:40000".parse().unwrap(),
            call_id: "abc@127.0.0.1".into(),
            from: "\"Contoso\" <sip:mfa@pbx.example>;tag=t1".into(),
            to: "<sip:+4722123456@pbx.example>".into(),
            request_uri: "sip:+4722123456@pbx.example".into(),
            remote_tag: None,
            remote_target: None,
            route_set: Vec::new(),
            user: "mfa".into(),
        }
    }

    #[test]
    fn an_invite_parses_back() {
        let d = dialog();
        let bytes = d
            .request(
                rsip::Method::Invite,
                &d.request_uri,
                "z9hG4bKx1",
                1,
                &d.to_value(),
                &[],
                &[("Content-Type", "application/sdp".into())],
                b"v=0\r\n",
            )
            .unwrap();
        let text = String::from_utf8(bytes.clone()).unwrap();
        assert!(text.starts_with("INVITE sip:+4722123456@pbx.example SIP/2.0\r\n"));
        let m = Message::parse(&bytes).unwrap();
        assert_eq!(m.method, "INVITE");
        assert_eq!(m.cseq(), Some((1, "INVITE".into())));
        assert_eq!(m.header("content-length"), Some("5"));
        assert_eq!(m.header("Content-Type"), Some("application/sdp"));
        assert!(m.header("via").unwrap().contains("branch=z9hG4bKx1"));
        assert_eq!(m.body, b"v=0\r\n");
        assert!(
            d.request(rsip::Method::Bye, "not a uri", "b", 2, "x", &[], &[], b"")
                .is_err()
        );
        assert!(
            d.request(
                rsip::Method::Bye,
                "sip:a@b\r\nX: y",
                "b",
                2,
                "x",
                &[],
                &[],
                b""
            )
            .is_err()
        );
    }

    #[test]
    fn reads_responses_and_answers_requests() {
        let raw = "SIP/2.0 200 OK\r\n\
                   v: SIP/2.0/UDP 127.0.0.1:40000;branch=z9hG4bKx1\r\n\
                   From: <sip:mfa@pbx>;tag=t1\r\n\
                   To: \"Office\" <sip:2000@pbx>;tag=callee9\r\n\
                   i: abc@127.0.0.1\r\nCSeq: 2 INVITE\r\n\
                   Contact: <sip:2000@127.0.0.1:5070;transport=udp>\r\n\
                   Record-Route: <sip:p1;lr>, <sip:p2;lr>\r\nContent-Length: 0\r\n\r\n";
        let m = Message::parse(raw.as_bytes()).unwrap();
        assert_eq!(m.status, Some(200));
        assert_eq!(m.method, "INVITE");
        assert_eq!(m.call_id(), Some("abc@127.0.0.1"));
        assert_eq!(m.to_tag().as_deref(), Some("callee9"));
        assert_eq!(
            m.contact_uri().as_deref(),
            Some("sip:2000@127.0.0.1:5070;transport=udp")
        );
        assert_eq!(m.headers("record-route"), ["<sip:p1;lr>", "<sip:p2;lr>"]);
        let ok = String::from_utf8(response_to(&m, 200, "OK")).unwrap();
        assert!(ok.starts_with("SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 127.0.0.1:40000"));
        assert!(ok.contains("Call-ID: abc@127.0.0.1\r\n"));
        for junk in [&b""[..], b"hello", b"SIP/2.0 abc\r\n\r\n", &[0xff; 40]] {
            assert!(
                Message::parse(junk).is_none() || Message::parse(junk).unwrap().cseq().is_none()
            );
        }
    }

    /// Found by the `sip_message` fuzz target: only Via is a list; a comma in a
    /// Call-ID or CSeq (invalid, but sent) split it, and the answer no longer matched.
    #[test]
    fn a_response_copies_single_headers_whole() {
        let raw = "BYE sip:mfa@127.0.0.1:40000 SIP/2.0\r\n\
                   Via: SIP/2.0/UDP p1;branch=z9hG4bKa, SIP/2.0/UDP p2;branch=z9hG4bKb\r\n\
                   From: \"Office, 2nd floor\" <sip:2000@pbx>;tag=callee9\r\n\
                   To: <sip:mfa@pbx>;tag=t1\r\nCall-ID: abc,def@127.0.0.1\r\n\
                   CSeq: 3 BYE\r\nContent-Length: 0\r\n\r\n";
        let request = Message::parse(raw.as_bytes()).unwrap();
        let answer = Message::parse(&response_to(&request, 200, "OK")).unwrap();
        assert_eq!(answer.call_id(), Some("abc,def@127.0.0.1"));
        assert_eq!(answer.cseq(), Some((3, "BYE".into())));
        assert_eq!(answer.header("from"), request.header("from"));
        assert_eq!(answer.headers("via"), request.headers("via"));
        assert_eq!(answer.headers("via").len(), 2);
    }

    #[test]
    fn info_bodies() {
        assert_eq!(
            info_key("application/dtmf-relay", b"Signal=#\r\nDuration=160\r\n"),
            Some('#')
        );
        assert_eq!(
            info_key("application/dtmf-relay", b"Signal= 0\r\n"),
            Some('0')
        );
        assert_eq!(
            info_key("application/dtmf-relay", b"Signal=11\r\n"),
            Some('#')
        );
        assert_eq!(info_key("application/dtmf", b"5"), Some('5'));
        assert_eq!(info_key("application/dtmf", b"x"), None);
        assert_eq!(info_key("text/plain", b"Signal=#"), None);
        assert_eq!(info_key("application/dtmf-relay", &[0xff, 0xfe]), None);
    }

    #[test]
    fn tags_and_uris() {
        assert_eq!(tag_of("<sip:a@b;tag=no>;tag=yes").as_deref(), Some("yes"));
        assert_eq!(tag_of("sip:a@b;tag=x").as_deref(), Some("x"));
        assert_eq!(tag_of("<sip:a@b>"), None);
        assert_eq!(uri_of("sip:a@b;expires=3"), "sip:a@b");
    }
}
