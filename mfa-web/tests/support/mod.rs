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
use mfa_core::{
    Ceremony, EmailAddress, ManualClock, Mfa, PasskeyAssertion, PasskeyCredential, PasskeyError,
    PasskeyUser, PasskeyVerifier, PhoneNumber, Policy, Timestamp, UserId,
};
use mfa_email::{EmailChannel, MemoryEmail};
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
    pub email: MemoryEmail,
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

/// A world whose service also has a passkey verifier ([`SoftPasskeys`]).
pub fn world_with_passkeys(policy: Policy) -> World {
    world_built(policy, true, |b| b)
}

/// A world whose `MfaWeb` the caller configures further.
pub fn world_configured(
    policy: Policy,
    configure: impl FnOnce(mfa_web::MfaWebBuilder) -> mfa_web::MfaWebBuilder,
) -> World {
    world_built(policy, false, configure)
}

/// The world, with passkeys when `passkeys`, or the given verifier.
pub fn world_built(
    policy: Policy,
    passkeys: bool,
    configure: impl FnOnce(mfa_web::MfaWebBuilder) -> mfa_web::MfaWebBuilder,
) -> World {
    world_with_verifier(
        policy,
        passkeys.then(|| Box::new(SoftPasskeys) as Box<dyn PasskeyVerifier>),
        configure,
    )
}

/// The world with `verifier` as the passkey verifier, if any.
pub fn world_with_verifier(
    mut policy: Policy,
    verifier: Option<Box<dyn PasskeyVerifier>>,
    configure: impl FnOnce(mfa_web::MfaWebBuilder) -> mfa_web::MfaWebBuilder,
) -> World {
    let clock = ManualClock::new(Timestamp::from_unix_secs(1_767_225_600));
    let sms = MemorySms::with_clock(Arc::new(clock.clone()));
    let voice = MemoryVoice::with_clock(Arc::new(clock.clone()));
    let email = MemoryEmail::with_clock(Arc::new(clock.clone()));
    policy.app_name = "Contoso".to_owned();
    policy.countries.home = Some(47);
    let mut builder = Mfa::builder()
        .clock(clock.clone())
        .sms(SmsDelivery::new(sms.clone()))
        .voice(voice.clone())
        .email(EmailChannel::new(email.clone()))
        .app(Totp::default())
        .policy(policy);
    if let Some(verifier) = verifier {
        builder = builder.passkeys(BoxedVerifier(verifier));
    }
    let mfa = Arc::new(builder.build().unwrap());
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
        email,
        clock,
        signed_in,
    }
}

#[derive(Debug)]
struct BoxedVerifier(Box<dyn PasskeyVerifier>);

impl PasskeyVerifier for BoxedVerifier {
    fn start_registration(
        &self,
        user: &PasskeyUser<'_>,
        existing: &[PasskeyCredential],
        uv: bool,
    ) -> Result<Ceremony, PasskeyError> {
        self.0.start_registration(user, existing, uv)
    }
    fn finish_registration(
        &self,
        state: &[u8],
        response: &str,
    ) -> Result<PasskeyCredential, PasskeyError> {
        self.0.finish_registration(state, response)
    }
    fn start_authentication(
        &self,
        credentials: &[PasskeyCredential],
        uv: bool,
    ) -> Result<Ceremony, PasskeyError> {
        self.0.start_authentication(credentials, uv)
    }
    fn finish_authentication(
        &self,
        state: &[u8],
        response: &str,
        credentials: &[PasskeyCredential],
    ) -> Result<PasskeyAssertion, PasskeyError> {
        self.0.finish_authentication(state, response, credentials)
    }
}

/// A stand-in for a WebAuthn verifier, so the route tests check what the router does
/// with the ceremonies (the real one, `mfa_passkey::WebauthnPasskeys`, answers a real
/// browser in browser.rs). Its options carry a fresh challenge; an answer is
/// `{"challenge": ..., "id": ...}` ([`soft_answer`]) and verifies when its challenge is
/// the ceremony's and, at sign-in, its id is one of the user's passkeys.
#[derive(Debug)]
pub struct SoftPasskeys;

static CEREMONIES: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);

fn fresh_challenge() -> String {
    let n = CEREMONIES.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    format!("challenge-{n}-{}", std::process::id())
}

fn read_answer(state: &[u8], response: &str) -> Result<String, PasskeyError> {
    let v: serde_json::Value =
        serde_json::from_str(response).map_err(|_| PasskeyError::Malformed)?;
    let (Some(challenge), Some(id)) = (v["challenge"].as_str(), v["id"].as_str()) else {
        return Err(PasskeyError::Malformed);
    };
    if challenge.as_bytes() != state {
        return Err(PasskeyError::Rejected);
    }
    Ok(id.to_owned())
}

impl PasskeyVerifier for SoftPasskeys {
    fn start_registration(
        &self,
        user: &PasskeyUser<'_>,
        _existing: &[PasskeyCredential],
        _uv: bool,
    ) -> Result<Ceremony, PasskeyError> {
        let challenge = fresh_challenge();
        Ok(Ceremony {
            options: serde_json::json!({"publicKey": {"challenge": challenge, "user": {"name": user.name}}})
                .to_string(),
            state: challenge.into_bytes(),
        })
    }

    fn finish_registration(
        &self,
        state: &[u8],
        response: &str,
    ) -> Result<PasskeyCredential, PasskeyError> {
        let id = read_answer(state, response)?;
        Ok(PasskeyCredential {
            credential_id: id.into_bytes(),
            counter: 0,
            backup_eligible: false,
            backup_state: false,
            user_verified: true,
            last_used_at: None,
            data: Vec::new(),
        })
    }

    fn start_authentication(
        &self,
        credentials: &[PasskeyCredential],
        _uv: bool,
    ) -> Result<Ceremony, PasskeyError> {
        let challenge = fresh_challenge();
        let allow: Vec<String> = credentials
            .iter()
            .map(|c| String::from_utf8_lossy(&c.credential_id).into_owned())
            .collect();
        Ok(Ceremony {
            options: serde_json::json!({"publicKey": {"challenge": challenge, "allowCredentials": allow}})
                .to_string(),
            state: challenge.into_bytes(),
        })
    }

    fn finish_authentication(
        &self,
        state: &[u8],
        response: &str,
        credentials: &[PasskeyCredential],
    ) -> Result<PasskeyAssertion, PasskeyError> {
        let id = read_answer(state, response)?;
        let known = credentials
            .iter()
            .find(|c| c.credential_id == id.as_bytes())
            .ok_or(PasskeyError::Rejected)?;
        Ok(PasskeyAssertion {
            credential_id: known.credential_id.clone(),
            counter: known.counter + 1,
            backup_eligible: false,
            backup_state: false,
            user_verified: true,
            data: Vec::new(),
        })
    }
}

/// What a browser's authenticator `id` answers to the options a page carries.
pub fn soft_answer(options: &str, id: &str) -> String {
    let v: serde_json::Value = serde_json::from_str(options).unwrap();
    serde_json::json!({"challenge": v["publicKey"]["challenge"], "id": id}).to_string()
}

/// An HTML attribute's value on the page, unescaped.
pub fn attribute(body: &str, element_id: &str, name: &str) -> String {
    let at = body
        .find(&format!("id=\"{element_id}\""))
        .unwrap_or_else(|| panic!("no #{element_id} on the page: {body}"));
    let tag_start = body[..at].rfind('<').unwrap();
    let tag_end = at + body[at..].find('>').unwrap();
    let tag = &body[tag_start..tag_end];
    let key = format!("{name}=\"");
    let from = tag
        .find(&key)
        .unwrap_or_else(|| panic!("no {name} in {tag}"))
        + key.len();
    let value = &tag[from..from + tag[from..].find('"').unwrap()];
    value
        .replace("&quot;", "\"")
        .replace("&#34;", "\"")
        .replace("&#x27;", "'")
        .replace("&#39;", "'")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&#38;", "&")
        .replace("&amp;", "&")
}

pub fn kari_email() -> EmailAddress {
    EmailAddress::parse("kari@contoso.no").unwrap()
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

    /// The CSRF token the JSON API hands out in `api/state`.
    pub async fn api_csrf(&mut self) -> String {
        self.get("/mfa/api/state").await.json()["csrf"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    /// Signs out from the security page's form.
    pub async fn sign_out(&mut self) {
        let csrf = self.get("/mfa/security").await.csrf();
        self.post("/mfa/sign-out", &[("csrf", &csrf)]).await;
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
    let csrf = c.get("/mfa/enroll/method").await.csrf();
    set_up_sms(&mut c, w, &csrf).await;
    assert_eq!(c.get("/app").await.status, StatusCode::OK);
    c
}

/// On the method page: "Send me a code by text message" to Kari's mobile, the code
/// typed, Check, Complete. The completion page's answer.
pub async fn set_up_sms(c: &mut Client, w: &World, csrf: &str) -> Answer {
    let a = c
        .post(
            "/mfa/enroll/method",
            &[
                ("csrf", csrf),
                ("kind", "sms"),
                ("country", "47"),
                ("number", "412 34 567"),
            ],
        )
        .await;
    assert_eq!(a.location(), "/mfa/verify", "{}", a.body);
    let code = w.sms.last_code_to(&kari_phone()).unwrap();
    let a = c
        .post("/mfa/verify", &[("csrf", csrf), ("code", code.expose())])
        .await;
    assert_eq!(a.location(), "/mfa/verify");
    let a = c.post("/mfa/complete", &[("csrf", csrf)]).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    a
}
