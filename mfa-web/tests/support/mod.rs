//! A small application around the router, and a cookie-keeping client that drives it
//! in-process (`tower::ServiceExt::oneshot`).

#![allow(clippy::unwrap_used, clippy::expect_used, dead_code)]

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Form, State};
use axum::http::{HeaderMap, Request, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Extension, Router};
use http_body_util::BodyExt;
use mfa_core::{ManualClock, Mfa, PhoneNumber, Policy, Timestamp, UserId};
use mfa_sms::{MemorySms, SmsDelivery};
use mfa_totp::Totp;
use mfa_voice::MemoryVoice;
use mfa_web::{FreshSecondFactor, MfaWeb, SecondFactor, SignInHook, SignedIn};
use serde::Deserialize;
use tower::ServiceExt;
use tower_sessions::Session;

/// The application, its backends and its clock.
pub struct World {
    pub app: Router,
    pub web: MfaWeb,
    pub mfa: Arc<Mfa>,
    pub sms: MemorySms,
    pub voice: MemoryVoice,
    pub clock: ManualClock,
    pub signed_in: Arc<Mutex<Vec<SignedIn>>>,
}

struct Recorder(Arc<Mutex<Vec<SignedIn>>>);

#[mfa_web::async_trait]
impl SignInHook for Recorder {
    async fn signed_in(&self, done: &SignedIn) {
        self.0.lock().unwrap().push(done.clone());
    }
}

#[derive(Deserialize)]
struct Login {
    user: String,
}

/// The application's own password step: any user name in the form user@domain passes.
async fn login(State(web): State<MfaWeb>, session: Session, Form(f): Form<Login>) -> Response {
    match UserId::username(&f.user) {
        Ok(user) => {
            Redirect::to(&web.password_passed(&session, &user).await.unwrap()).into_response()
        }
        Err(_) => StatusCode::UNPROCESSABLE_ENTITY.into_response(),
    }
}

/// The application's password page (any password passes in the tests).
async fn login_page() -> axum::response::Html<&'static str> {
    axum::response::Html(
        "<!doctype html><html lang=\"en\"><head><title>Sign in</title></head><body>\
         <form method=\"post\" action=\"/login\"><label for=\"user\">User name</label>\
         <input id=\"user\" name=\"user\" type=\"email\">\
         <button type=\"submit\" id=\"login\">Sign in</button></form></body></html>",
    )
}

async fn home(signed_in: SecondFactor) -> String {
    format!("Welcome, {}", signed_in.user)
}

async fn settings(fresh: FreshSecondFactor) -> String {
    format!("Settings of {}", fresh.user)
}

async fn logout(State(web): State<MfaWeb>, session: Session) -> Redirect {
    web.sign_out(&session).await.unwrap();
    Redirect::to("/login")
}

pub fn world() -> World {
    world_with(Policy::default())
}

pub fn world_with(policy: Policy) -> World {
    world_configured(policy, |b| b)
}

/// A world whose `MfaWeb` the caller configures further.
pub fn world_configured(
    mut policy: Policy,
    configure: impl FnOnce(mfa_web::MfaWebBuilder) -> mfa_web::MfaWebBuilder,
) -> World {
    let clock = ManualClock::new(Timestamp::from_unix_secs(1_767_225_600));
    let sms = MemorySms::with_clock(Arc::new(clock.clone()));
    let voice = MemoryVoice::with_clock(Arc::new(clock.clone()));
    policy.app_name = "Contoso".to_owned();
    policy.countries.home = Some(47);
    let mfa = Arc::new(
        Mfa::builder()
            .clock(clock.clone())
            .sms(SmsDelivery::new(sms.clone()))
            .voice(voice.clone())
            .app(Totp::default())
            .policy(policy)
            .build()
            .unwrap(),
    );
    let signed_in = Arc::new(Mutex::new(Vec::new()));
    let web = configure(
        MfaWeb::builder(mfa.clone())
            .prefix("/mfa")
            .after_sign_in("/app")
            .sign_in_url("/login")
            .on_sign_in(Recorder(signed_in.clone())),
    )
    .build();
    let app = Router::new()
        .route("/login", get(login_page).post(login))
        .route("/logout", post(logout))
        .route("/app", get(home))
        .route("/app/settings", get(settings))
        .with_state(web.clone())
        .nest(web.prefix(), web.router())
        .layer(Extension(web.clone()))
        .layer(mfa_web::memory_sessions(Duration::from_secs(3600)));
    World {
        app,
        web,
        mfa,
        sms,
        voice,
        clock,
        signed_in,
    }
}

/// One answer, read whole.
pub struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: String,
}

impl Answer {
    pub fn location(&self) -> &str {
        self.headers
            .get(header::LOCATION)
            .map(|v| v.to_str().unwrap())
            .unwrap_or("")
    }

    /// The page's CSRF token.
    pub fn csrf(&self) -> String {
        let at = self
            .body
            .find("name=\"csrf\" value=\"")
            .expect("a form with a CSRF token");
        let rest = &self.body[at + 19..];
        rest[..rest.find('"').unwrap()].to_owned()
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap()
    }
}

/// A browser in miniature: keeps cookies, records every URL it asked for.
pub struct Client {
    app: Router,
    pub cookies: HashMap<String, String>,
    pub set_cookies: Vec<String>,
    pub urls: Vec<String>,
    pub language: Option<&'static str>,
    /// Sent as `X-Forwarded-For`, as a proxy in front would.
    pub forwarded_for: Option<&'static str>,
}

impl Client {
    pub fn new(world: &World) -> Self {
        Client {
            app: world.app.clone(),
            cookies: HashMap::new(),
            set_cookies: Vec::new(),
            urls: Vec::new(),
            language: None,
            forwarded_for: None,
        }
    }

    pub async fn send(&mut self, mut req: Request<Body>) -> Answer {
        self.urls.push(req.uri().to_string());
        let cookie: Vec<String> = self
            .cookies
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        if !cookie.is_empty() {
            req.headers_mut()
                .insert(header::COOKIE, cookie.join("; ").parse().unwrap());
        }
        if let Some(addr) = self.forwarded_for {
            req.headers_mut()
                .insert("x-forwarded-for", addr.parse().unwrap());
        }
        if let Some(lang) = self.language {
            req.headers_mut()
                .insert(header::ACCEPT_LANGUAGE, lang.parse().unwrap());
        }
        let res = self.app.clone().oneshot(req).await.unwrap();
        let status = res.status();
        let headers = res.headers().clone();
        for v in headers.get_all(header::SET_COOKIE) {
            let v = v.to_str().unwrap().to_owned();
            let pair = v.split(';').next().unwrap();
            let (name, value) = pair.split_once('=').unwrap();
            if value.is_empty() || v.contains("Max-Age=0") {
                self.cookies.remove(name);
            } else {
                self.cookies.insert(name.to_owned(), value.to_owned());
            }
            self.set_cookies.push(v);
        }
        if let Some(loc) = headers.get(header::LOCATION) {
            self.urls.push(loc.to_str().unwrap().to_owned());
        }
        let body = res.into_body().collect().await.unwrap().to_bytes();
        Answer {
            status,
            headers,
            body: String::from_utf8_lossy(&body).into_owned(),
        }
    }

    pub async fn get(&mut self, path: &str) -> Answer {
        self.send(Request::get(path).body(Body::empty()).unwrap())
            .await
    }

    pub async fn post(&mut self, path: &str, form: &[(&str, &str)]) -> Answer {
        let body = form
            .iter()
            .map(|(k, v)| format!("{}={}", enc(k), enc(v)))
            .collect::<Vec<_>>()
            .join("&");
        self.send(
            Request::post(path)
                .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
                .body(Body::from(body))
                .unwrap(),
        )
        .await
    }

    pub async fn post_json(&mut self, path: &str, csrf: &str, json: serde_json::Value) -> Answer {
        self.send(
            Request::post(path)
                .header(header::CONTENT_TYPE, "application/json")
                .header("x-csrf-token", csrf)
                .body(Body::from(json.to_string()))
                .unwrap(),
        )
        .await
    }

    /// The password step, then the redirect it answers with.
    pub async fn login(&mut self, user: &str) -> Answer {
        let a = self.post("/login", &[("user", user)]).await;
        assert_eq!(a.status, StatusCode::SEE_OTHER, "{}", a.body);
        assert_eq!(a.location(), "/mfa");
        a
    }
}

fn enc(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            b' ' => "+".to_owned(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

pub fn kari_phone() -> PhoneNumber {
    PhoneNumber::parse("+47 412 34 567").unwrap()
}

/// Enrolls Kari by SMS through the pages; returns her client, signed in.
pub async fn enrolled_by_sms(w: &World) -> Client {
    let mut c = Client::new(w);
    c.login("kari@contoso.no").await;
    let page = c.get("/mfa/enroll/method").await;
    let csrf = page.csrf();
    let a = c
        .post(
            "/mfa/enroll/method",
            &[
                ("csrf", &csrf),
                ("kind", "sms"),
                ("country", "47"),
                ("number", "412 34 567"),
            ],
        )
        .await;
    assert_eq!(a.location(), "/mfa/verify", "{}", a.body);
    let code = w.sms.last_code_to(&kari_phone()).unwrap();
    let a = c
        .post("/mfa/verify", &[("csrf", &csrf), ("code", code.expose())])
        .await;
    assert_eq!(a.location(), "/mfa/verify");
    let a = c.post("/mfa/complete", &[("csrf", &csrf)]).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    assert_eq!(c.get("/app").await.status, StatusCode::OK);
    c
}
