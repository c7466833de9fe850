//! A local HTTP server that records every request and answers as told: the other
//! side of the HTTP backends' contract tests.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::http::{HeaderMap, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};

/// One request as the server saw it.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub method: Method,
    pub path: String,
    pub query: Option<String>,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

impl Recorded {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The body as `application/x-www-form-urlencoded` pairs, in order.
    pub fn form(&self) -> Vec<(String, String)> {
        pairs(std::str::from_utf8(&self.body).unwrap())
    }

    /// The query string as pairs, in order, values as raw bytes.
    pub fn query_bytes(&self) -> Vec<(String, Vec<u8>)> {
        self.query
            .as_deref()
            .unwrap_or("")
            .split('&')
            .filter(|p| !p.is_empty())
            .map(|p| {
                let (k, v) = p.split_once('=').unwrap_or((p, ""));
                (String::from_utf8(decode(k)).unwrap(), decode(v))
            })
            .collect()
    }

    /// The query string as pairs, in order.
    pub fn query_pairs(&self) -> Vec<(String, String)> {
        pairs(self.query.as_deref().unwrap_or(""))
    }

    pub fn query_value(&self, name: &str) -> Option<String> {
        self.query_pairs()
            .into_iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v)
    }
}

pub fn pairs(s: &str) -> Vec<(String, String)> {
    s.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (
                String::from_utf8(decode(k)).unwrap(),
                String::from_utf8(decode(v)).unwrap(),
            )
        })
        .collect()
}

/// Percent-decodes a form component (`+` is a space).
pub fn decode(s: &str) -> Vec<u8> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap();
                out.push(u8::from_str_radix(hex, 16).unwrap());
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    out
}

#[derive(Debug, Clone)]
struct Reply {
    status: u16,
    content_type: String,
    body: String,
    delay: Duration,
}

#[derive(Clone)]
struct Shared {
    requests: Arc<Mutex<Vec<Recorded>>>,
    reply: Arc<Mutex<Reply>>,
}

/// The running server.
pub struct RecordingServer {
    pub url: String,
    shared: Shared,
}

impl RecordingServer {
    /// Starts on a free loopback port, answering `200 OK` with an empty body.
    pub async fn start() -> Self {
        let shared = Shared {
            requests: Arc::default(),
            reply: Arc::new(Mutex::new(Reply {
                status: 200,
                content_type: "text/plain".into(),
                body: String::new(),
                delay: Duration::ZERO,
            })),
        };
        let app = axum::Router::new()
            .fallback(record)
            .with_state(shared.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        RecordingServer {
            url: format!("http://{addr}"),
            shared,
        }
    }

    /// Answers every following request with `status`, `content_type` and `body`.
    pub fn reply(&self, status: u16, content_type: &str, body: &str) {
        let mut reply = self.shared.reply.lock().unwrap();
        reply.status = status;
        reply.content_type = content_type.into();
        reply.body = body.into();
        reply.delay = Duration::ZERO;
    }

    /// Answers only after `delay` (to make clients time out).
    pub fn stall(&self, delay: Duration) {
        self.shared.reply.lock().unwrap().delay = delay;
    }

    pub fn requests(&self) -> Vec<Recorded> {
        self.shared.requests.lock().unwrap().clone()
    }

    pub fn last(&self) -> Recorded {
        self.requests()
            .pop()
            .expect("no request reached the server")
    }
}

async fn record(
    axum::extract::State(shared): axum::extract::State<Shared>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    shared.requests.lock().unwrap().push(Recorded {
        method,
        path: uri.path().to_owned(),
        query: uri.query().map(str::to_owned),
        headers,
        body: body.to_vec(),
    });
    let reply = shared.reply.lock().unwrap().clone();
    if !reply.delay.is_zero() {
        tokio::time::sleep(reply.delay).await;
    }
    (
        StatusCode::from_u16(reply.status).unwrap(),
        [(header::CONTENT_TYPE, reply.content_type)],
        reply.body,
    )
        .into_response()
}
