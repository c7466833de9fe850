//! Passkeys with a real browser: Chromium, driven over WebDriver, registers a
//! passkey on its virtual authenticator (WebDriver's WebAuthn extension) and signs
//! in with it, through `Mfa` and webauthn-rs, on a page served from loopback.
//!
//! Service test: `scripts/test.sh` starts chromedriver (scripts/services/chromium.sh)
//! and sets `MFA_TEST_WEBDRIVER_URL`, `MFA_TEST_CHROMIUM_BIN` and
//! `MFA_TEST_CHROMIUM_ARGS`.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code

use mfa_core::{Method, MethodKind, Mfa, Purpose, UserId, Verification};
use mfa_passkey::WebauthnPasskeys;
use serde_json::{Value, json};

/// `navigator.credentials.create` with the options as the core gives them; answers
/// the credential's JSON, or `ERROR ...`.
const CREATE: &str = r#"
const [json, done] = arguments;
try {
  const publicKey = PublicKeyCredential.parseCreationOptionsFromJSON(JSON.parse(json).publicKey);
  navigator.credentials.create({ publicKey }).then(
    (c) => done(JSON.stringify(c.toJSON())),
    (e) => done('ERROR ' + e.name + ': ' + e.message));
} catch (e) { done('ERROR ' + e.name + ': ' + e.message); }
"#;

/// `navigator.credentials.get`, likewise.
const GET: &str = r#"
const [json, done] = arguments;
try {
  const publicKey = PublicKeyCredential.parseRequestOptionsFromJSON(JSON.parse(json).publicKey);
  navigator.credentials.get({ publicKey }).then(
    (c) => done(JSON.stringify(c.toJSON())),
    (e) => done('ERROR ' + e.name + ': ' + e.message));
} catch (e) { done('ERROR ' + e.name + ': ' + e.message); }
"#;

struct WebDriver {
    http: reqwest::Client,
    session: String,
    profile: std::path::PathBuf,
}

impl WebDriver {
    async fn start() -> Self {
        let base = std::env::var("MFA_TEST_WEBDRIVER_URL").expect(
            "MFA_TEST_WEBDRIVER_URL is not set: run scripts/test.sh (it starts chromedriver)",
        );
        let binary = std::env::var("MFA_TEST_CHROMIUM_BIN").unwrap_or_else(|_| "chromium".into());
        let mut args: Vec<String> = std::env::var("MFA_TEST_CHROMIUM_ARGS")
            .unwrap_or_else(|_| "--headless=new --no-sandbox --disable-gpu".into())
            .split_whitespace()
            .map(str::to_owned)
            .collect();
        // A profile of its own, so parallel sessions share nothing.
        let profile = std::env::temp_dir().join(format!(
            "mfa-passkey-browser-{}",
            mfa_core::MethodId::generate(&mfa_core::OsRandomness)
        ));
        args.push(format!("--user-data-dir={}", profile.display()));
        let http = reqwest::Client::new();
        let created: Value = http
            .post(format!("{base}/session"))
            .json(&json!({"capabilities": {"alwaysMatch": {
                "browserName": "chrome",
                "goog:chromeOptions": {
                    "binary": binary,
                    "args": args,
                },
            }}}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let id = created["value"]["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no WebDriver session: {created}"));
        WebDriver {
            http,
            session: format!("{base}/session/{id}"),
            profile,
        }
    }

    async fn post(&self, path: &str, body: Value) -> Value {
        let answer: Value = self
            .http
            .post(format!("{}/{path}", self.session))
            .json(&body)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert!(
            answer["value"].get("error").is_none(),
            "WebDriver {path}: {answer}"
        );
        answer["value"].clone()
    }

    /// Runs one of the scripts above with the options; returns the browser's answer.
    async fn ceremony(&self, script: &str, options: &str) -> String {
        let answer = self
            .post(
                "execute/async",
                json!({"script": script, "args": [options]}),
            )
            .await;
        let answer = answer.as_str().unwrap().to_owned();
        assert!(!answer.starts_with("ERROR"), "{answer}");
        answer
    }

    /// Ends the session (the browser with it) and removes its profile.
    async fn quit(&self) {
        let _ = self.http.delete(&self.session).send().await;
        let _ = std::fs::remove_dir_all(&self.profile);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs chromium: run bash scripts/test.sh"]
async fn chromium_registers_a_passkey_and_signs_in_with_it() {
    // The relying party's page: localhost is a secure context over plain HTTP.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let page = axum::Router::new().route(
        "/",
        axum::routing::get(|| async {
            axum::response::Html("<!doctype html><title>Contoso</title><p>Sign in")
        }),
    );
    tokio::spawn(async move { axum::serve(listener, page).await.unwrap() });
    let origin = format!("http://localhost:{port}");
    let mfa = Mfa::builder()
        .passkeys(WebauthnPasskeys::new("localhost", &origin, "Contoso").unwrap())
        .build()
        .unwrap();
    let user = UserId::new("alice@contoso.com").unwrap();

    let browser = std::sync::Arc::new(WebDriver::start().await);
    // The journey runs as a task, so the browser is closed whatever it found.
    let journey = tokio::spawn(journey(std::sync::Arc::clone(&browser), mfa, user, origin));
    let outcome = journey.await;
    browser.quit().await;
    if let Err(e) = outcome {
        std::panic::resume_unwind(e.into_panic());
    }
}

async fn journey(browser: std::sync::Arc<WebDriver>, mfa: Mfa, user: UserId, origin: String) {
    browser
        .post("url", json!({"url": format!("{origin}/")}))
        .await;
    browser
        .post(
            "webauthn/authenticator",
            json!({"protocol": "ctap2", "transport": "internal", "hasResidentKey": true,
                   "hasUserVerification": true, "isUserVerified": true}),
        )
        .await;

    // Registration: the options go to navigator.credentials.create, its answer back.
    let pending = mfa
        .begin_enrollment_named(&user, Method::Passkey, "Chromium")
        .await
        .unwrap();
    let answer = browser
        .ceremony(CREATE, pending.passkey_options.as_deref().unwrap())
        .await;
    let v = mfa
        .verify_passkey(&user, &pending.challenge_id, &answer)
        .await
        .unwrap();
    assert!(
        matches!(&v, Verification::Approved(a) if a.purpose == Purpose::Enrollment && a.method == MethodKind::Passkey),
        "{v:?}"
    );
    let passkey = mfa
        .complete(&user, &pending.challenge_id)
        .await
        .unwrap()
        .method;
    assert!(passkey.passkey.as_ref().unwrap().user_verified);

    // Sign-in, twice: each answer carries a proof; an answer given for the first
    // challenge does not answer the second.
    let first = mfa.challenge(&user).await.unwrap();
    let answer = browser
        .ceremony(GET, first.passkey_options.as_deref().unwrap())
        .await;
    let v = mfa
        .verify_passkey(&user, &first.challenge_id, &answer)
        .await
        .unwrap();
    assert!(v.proof().is_some(), "{v:?}");
    let second = mfa.challenge(&user).await.unwrap();
    assert!(matches!(
        mfa.verify_passkey(&user, &second.challenge_id, &answer)
            .await
            .unwrap(),
        Verification::Rejected { .. }
    ));
    let answer = browser
        .ceremony(GET, second.passkey_options.as_deref().unwrap())
        .await;
    let v = mfa
        .verify_passkey(&user, &second.challenge_id, &answer)
        .await
        .unwrap();
    assert!(v.proof().is_some(), "{v:?}");
    let stored = mfa.methods(&user).await.unwrap()[0]
        .passkey
        .clone()
        .unwrap();
    assert!(stored.last_used_at.is_some());
}
