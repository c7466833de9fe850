//! Any SMS provider with a simple HTTP API, configured with templates: the method,
//! the URL, a form or JSON body, headers and what a successful answer looks like.
//!
//! Templates may use `{to}` (E.164, `+4741234567`), `{to_digits}` (`4741234567`),
//! `{text}` (the message) and `{unicode}` (`1` when the text needs UCS-2, else `0`).
//! In the URL the values are percent-encoded; in form and JSON bodies they are
//! encoded by the body's own rules.

use std::fmt;
use std::ops::RangeInclusive;
use std::time::Duration;

use async_trait::async_trait;
use mfa_core::{DeliveryError, DeliveryErrorKind, Receipt};
use reqwest::header::{HeaderName, HeaderValue};

use crate::delivery::{ConfigError, OutgoingSms, SmsBackend};
use crate::encoding::Encoding;
use crate::transport;

/// The HTTP method a gateway takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HttpMethod {
    /// `GET`: everything in the URL.
    Get,
    /// `POST`.
    Post,
    /// `PUT`.
    Put,
}

/// The request body.
#[derive(Debug, Clone, PartialEq)]
pub enum HttpBody {
    /// No body.
    Empty,
    /// `application/x-www-form-urlencoded` fields; values are templates.
    Form(Vec<(String, String)>),
    /// A JSON document; every string in it is a template.
    Json(serde_json::Value),
}

/// A configured HTTP gateway.
///
/// ```
/// use mfa_sms::{HttpBody, HttpGateway, HttpMethod, SmsDelivery};
///
/// let gateway = HttpGateway::new(HttpMethod::Post, "https://sms.example.com/v1/send")
///     .unwrap()
///     .body(HttpBody::Json(serde_json::json!({
///         "recipient": "{to}",
///         "message": "{text}",
///         "sender": "Contoso",
///     })))
///     .unwrap()
///     .header("Authorization", "Bearer secret-key")
///     .unwrap()
///     .success_body_contains("\"accepted\":true")
///     .receipt_from_json("/id");
/// assert!(!format!("{gateway:?}").contains("secret-key"));
/// let channel = SmsDelivery::new(gateway);
/// # let _ = channel;
/// ```
#[derive(Clone)]
pub struct HttpGateway {
    method: HttpMethod,
    url: String,
    body: HttpBody,
    headers: Vec<(HeaderName, HeaderValue)>,
    success_status: RangeInclusive<u16>,
    success_body: Option<String>,
    receipt_pointer: Option<String>,
    client: reqwest::Client,
}

impl fmt::Debug for HttpGateway {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let header_names: Vec<&str> = self.headers.iter().map(|(n, _)| n.as_str()).collect();
        f.debug_struct("HttpGateway")
            .field("method", &self.method)
            .field("url", &"<template>")
            .field("headers", &header_names)
            .field("success_status", &self.success_status)
            .finish_non_exhaustive()
    }
}

struct Values<'a> {
    to: &'a str,
    text: &'a str,
    unicode: bool,
}

const PLACEHOLDERS: [&str; 4] = ["to", "to_digits", "text", "unicode"];

/// Fills `{to}`, `{to_digits}`, `{text}` and `{unicode}` in; `encode` percent-encodes.
fn fill(template: &str, values: &Values<'_>, encode: bool) -> String {
    let mut out = String::with_capacity(template.len() + values.text.len() * 3);
    let mut rest = template;
    while let Some(start) = rest.find('{') {
        out.push_str(&rest[..start]);
        let after = &rest[start + 1..];
        let name = after.find('}').map(|end| &after[..end]);
        let value = match name {
            Some("to") => Some(values.to),
            Some("to_digits") => Some(values.to.trim_start_matches('+')),
            Some("text") => Some(values.text),
            Some("unicode") => Some(if values.unicode { "1" } else { "0" }),
            _ => None,
        };
        match (value, name) {
            (Some(value), Some(name)) => {
                if encode {
                    transport::percent_encode_into(&mut out, value.as_bytes());
                } else {
                    out.push_str(value);
                }
                rest = &after[name.len() + 1..];
            }
            _ => {
                out.push('{');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

/// Refuses `{name}` placeholders other than the known ones (a typo would be sent as is).
fn check_template(template: &str) -> Result<(), ConfigError> {
    let mut rest = template;
    while let Some(start) = rest.find('{') {
        let after = &rest[start + 1..];
        if let Some(end) = after.find('}') {
            let name = &after[..end];
            let looks_like_placeholder =
                !name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
            if looks_like_placeholder && !PLACEHOLDERS.contains(&name) {
                return Err(ConfigError::InvalidSetting(
                    "unknown placeholder: use {to}, {to_digits}, {text} or {unicode}",
                ));
            }
        }
        rest = after;
    }
    Ok(())
}

fn check_json(value: &serde_json::Value) -> Result<(), ConfigError> {
    match value {
        serde_json::Value::String(s) => check_template(s),
        serde_json::Value::Array(items) => items.iter().try_for_each(check_json),
        serde_json::Value::Object(map) => map.values().try_for_each(check_json),
        _ => Ok(()),
    }
}

fn fill_json(value: &serde_json::Value, values: &Values<'_>) -> serde_json::Value {
    match value {
        serde_json::Value::String(s) => serde_json::Value::String(fill(s, values, false)),
        serde_json::Value::Array(items) => {
            serde_json::Value::Array(items.iter().map(|v| fill_json(v, values)).collect())
        }
        serde_json::Value::Object(map) => serde_json::Value::Object(
            map.iter()
                .map(|(k, v)| (k.clone(), fill_json(v, values)))
                .collect(),
        ),
        other => other.clone(),
    }
}

impl HttpGateway {
    /// A gateway called with `method` at `url` (a template), with no body yet.
    pub fn new(method: HttpMethod, url: &str) -> Result<Self, ConfigError> {
        check_template(url)?;
        let sample = fill(
            url,
            &Values {
                to: "+4741234567",
                text: "123456",
                unicode: false,
            },
            true,
        );
        transport::base_url(&sample)?;
        Ok(HttpGateway {
            method,
            url: url.to_owned(),
            body: HttpBody::Empty,
            headers: Vec::new(),
            success_status: 200..=299,
            success_body: None,
            receipt_pointer: None,
            client: transport::client(transport::DEFAULT_TIMEOUT)?,
        })
    }

    /// The body to send.
    pub fn body(mut self, body: HttpBody) -> Result<Self, ConfigError> {
        match &body {
            HttpBody::Empty => {}
            HttpBody::Form(fields) => {
                for (name, value) in fields {
                    check_template(name)?;
                    check_template(value)?;
                }
            }
            HttpBody::Json(value) => check_json(value)?,
        }
        self.body = body;
        Ok(self)
    }

    /// A header sent with every request (an API key, say); `Debug` shows only its name.
    pub fn header(mut self, name: &str, value: &str) -> Result<Self, ConfigError> {
        let name = HeaderName::from_bytes(name.as_bytes())
            .map_err(|_| ConfigError::InvalidSetting("invalid header name"))?;
        let mut value = HeaderValue::from_str(value)
            .map_err(|_| ConfigError::InvalidSetting("invalid header value"))?;
        value.set_sensitive(true);
        self.headers.push((name, value));
        Ok(self)
    }

    /// The statuses that mean success (default 200 to 299).
    pub fn success_status(mut self, statuses: RangeInclusive<u16>) -> Self {
        self.success_status = statuses;
        self
    }

    /// Success also needs the answer's body to contain `needle`.
    pub fn success_body_contains(mut self, needle: &str) -> Self {
        self.success_body = Some(needle.to_owned());
        self
    }

    /// The receipt id is read from the JSON answer at this pointer (RFC 6901, `/id`).
    pub fn receipt_from_json(mut self, pointer: &str) -> Self {
        self.receipt_pointer = Some(pointer.to_owned());
        self
    }

    /// How long to wait for the gateway (default 10 s); a slower answer is a timeout.
    pub fn timeout(mut self, timeout: Duration) -> Result<Self, ConfigError> {
        self.client = transport::client(timeout)?;
        Ok(self)
    }

    fn receipt_id(&self, body: &[u8]) -> String {
        let Some(pointer) = &self.receipt_pointer else {
            return String::new();
        };
        let Ok(json) = serde_json::from_slice::<serde_json::Value>(body) else {
            return String::new();
        };
        match json.pointer(pointer) {
            Some(serde_json::Value::String(s)) => s.chars().take(128).collect(),
            Some(serde_json::Value::Number(n)) => n.to_string(),
            _ => String::new(),
        }
    }
}

#[async_trait]
impl SmsBackend for HttpGateway {
    async fn submit(&self, sms: &OutgoingSms<'_>) -> Result<Receipt, DeliveryError> {
        let values = Values {
            to: sms.to.e164(),
            text: sms.text,
            unicode: sms.length.encoding == Encoding::Ucs2,
        };
        let url = fill(&self.url, &values, true);
        let method = match self.method {
            HttpMethod::Get => reqwest::Method::GET,
            HttpMethod::Post => reqwest::Method::POST,
            HttpMethod::Put => reqwest::Method::PUT,
        };
        let mut request = self.client.request(method, url);
        for (name, value) in &self.headers {
            request = request.header(name, value);
        }
        request = match &self.body {
            HttpBody::Empty => request,
            HttpBody::Form(fields) => {
                let filled: Vec<(String, String)> = fields
                    .iter()
                    .map(|(k, v)| (fill(k, &values, false), fill(v, &values, false)))
                    .collect();
                request.form(&filled)
            }
            HttpBody::Json(json) => request.json(&fill_json(json, &values)),
        };
        let response = request
            .send()
            .await
            .map_err(|e| transport::request_failed("the SMS gateway", e))?;
        let status = response.status().as_u16();
        let body = response
            .bytes()
            .await
            .map_err(|e| transport::request_failed("the SMS gateway", e))?;
        if !self.success_status.contains(&status) {
            let kind = if (200..300).contains(&status) {
                DeliveryErrorKind::Rejected
            } else {
                transport::status_kind(status)
            };
            return Err(DeliveryError::new(
                kind,
                format!("the SMS gateway answered {status}"),
            ));
        }
        if let Some(needle) = &self.success_body {
            let found = body
                .windows(needle.len().max(1))
                .any(|w| w == needle.as_bytes());
            if !found {
                return Err(DeliveryError::new(
                    DeliveryErrorKind::Rejected,
                    format!("the SMS gateway answered {status} without the expected success text"),
                ));
            }
        }
        Ok(Receipt::new(self.receipt_id(&body)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_fill_and_encode() {
        let values = Values {
            to: "+4741234567",
            text: "123456 er koden & ø",
            unicode: false,
        };
        assert_eq!(
            fill(
                "https://x/?to={to}&n={to_digits}&t={text}&u={unicode}",
                &values,
                true
            ),
            "https://x/?to=%2B4741234567&n=4741234567&t=123456%20er%20koden%20%26%20%C3%B8&u=0"
        );
        assert_eq!(fill("{text}", &values, false), "123456 er koden & ø");
        // Braces that are not placeholders stay.
        assert_eq!(fill("{ {x} {", &values, false), "{ {x} {");
    }

    #[test]
    fn unknown_placeholders_and_bad_settings_are_refused() {
        assert!(HttpGateway::new(HttpMethod::Get, "https://x/?to={number}").is_err());
        assert!(HttpGateway::new(HttpMethod::Get, "not a url {to}").is_err());
        assert!(HttpGateway::new(HttpMethod::Get, "ftp://x/{to}").is_err());
        let gw = HttpGateway::new(HttpMethod::Post, "https://x/send").unwrap();
        assert!(
            gw.clone()
                .body(HttpBody::Form(vec![("msg".into(), "{txt}".into())]))
                .is_err()
        );
        assert!(
            gw.clone()
                .body(HttpBody::Json(serde_json::json!({"a": ["{phone}"]})))
                .is_err()
        );
        assert!(gw.clone().header("bad header", "v").is_err());
        assert!(gw.header("X-Key", "line\nbreak").is_err());
    }
}
