//! A real browser walks the guide: headless Chromium, driven over WebDriver (plain
//! HTTP through reqwest), against the router on a loopback port. It enrolls by SMS
//! (the code read from the memory SMS backend), signs out, signs in with a code and
//! "don't ask again", comes back without a code, revokes the device, adds the
//! authenticator app from the manual key on the page, sets up email (the code read
//! from the memory email backend, as the SMS one is), renames it, and signs in with an
//! emailed code by "sign in another way". Every page is screenshot into
//! the run's temporary folder, and the test fails on a page without `lang` or with a
//! form field without a label.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::path::PathBuf;
use std::time::Duration;

use base64::Engine;
use serde_json::{Value, json};
use support::{World, kari_email, kari_phone, world_with, world_with_verifier};

const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

/// One WebDriver session.
struct Browser {
    http: reqwest::Client,
    session: String,
    base: String,
    shots: PathBuf,
    shot: std::sync::atomic::AtomicUsize,
}

impl Browser {
    async fn start(webdriver: &str, shots: PathBuf) -> Self {
        let http = reqwest::Client::new();
        let profile = shots.join("profile");
        std::fs::create_dir_all(&profile).unwrap();
        let mut args: Vec<String> = std::env::var("MFA_TEST_CHROMIUM_ARGS")
            .unwrap_or_else(|_| "--headless=new --no-sandbox --disable-gpu".to_owned())
            .split_whitespace()
            .map(str::to_owned)
            .collect();
        args.push(format!("--user-data-dir={}", profile.display()));
        let mut options = json!({ "args": args });
        if let Ok(bin) = std::env::var("MFA_TEST_CHROMIUM_BIN") {
            options["binary"] = json!(bin);
        }
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": options,
        }}});
        let res: Value = http
            .post(format!("{webdriver}/session"))
            .json(&caps)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let session = res["value"]["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no WebDriver session: {res}"))
            .to_owned();
        Browser {
            http,
            session: format!("{webdriver}/session/{session}"),
            base: String::new(),
            shots,
            shot: std::sync::atomic::AtomicUsize::new(0),
        }
    }

    async fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let mut req = self.http.request(method, format!("{}{path}", self.session));
        if let Some(body) = body {
            req = req.json(&body);
        }
        let res: Value = req.send().await.unwrap().json().await.unwrap();
        if let Some(err) = res["value"].get("error") {
            panic!("WebDriver {path}: {err} {}", res["value"]["message"]);
        }
        res["value"].clone()
    }

    async fn go(&self, path: &str) {
        self.call(
            reqwest::Method::POST,
            "/url",
            Some(json!({"url": format!("{}{path}", self.base)})),
        )
        .await;
    }

    async fn path(&self) -> String {
        let url = self.call(reqwest::Method::GET, "/url", None).await;
        url.as_str()
            .unwrap()
            .trim_start_matches(&self.base)
            .to_owned()
    }

    async fn find(&self, css: &str) -> String {
        let v = self
            .call(
                reqwest::Method::POST,
                "/element",
                Some(json!({"using": "css selector", "value": css})),
            )
            .await;
        v[ELEMENT]
            .as_str()
            .unwrap_or_else(|| panic!("{css}: {v}"))
            .to_owned()
    }

    async fn exists(&self, css: &str) -> bool {
        let v = self
            .call(
                reqwest::Method::POST,
                "/elements",
                Some(json!({"using": "css selector", "value": css})),
            )
            .await;
        !v.as_array().unwrap().is_empty()
    }

    /// Clicks something that does not leave the page (a checkbox).
    async fn tick(&self, css: &str) {
        let e = self.find(css).await;
        self.call(
            reqwest::Method::POST,
            &format!("/element/{e}/click"),
            Some(json!({})),
        )
        .await;
    }

    /// Clicks a link or a submit button, and waits for the next page to load (a click
    /// can return before a form's navigation starts).
    async fn click(&self, css: &str) {
        self.script("window.__before = true; return null;").await;
        self.tick(css).await;
        for _ in 0..200 {
            let fresh = self
                .script(
                    "return window.__before === undefined && document.readyState === 'complete';",
                )
                .await;
            if fresh == json!(true) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!("clicking {css} loaded no page");
    }

    async fn script(&self, script: &str) -> Value {
        self.call(
            reqwest::Method::POST,
            "/execute/sync",
            Some(json!({"script": script, "args": []})),
        )
        .await
    }

    async fn type_in(&self, css: &str, text: &str) {
        let e = self.find(css).await;
        self.call(
            reqwest::Method::POST,
            &format!("/element/{e}/value"),
            Some(json!({"text": text})),
        )
        .await;
    }

    async fn text(&self, css: &str) -> String {
        let e = self.find(css).await;
        let v = self
            .call(reqwest::Method::GET, &format!("/element/{e}/text"), None)
            .await;
        v.as_str().unwrap().to_owned()
    }

    async fn body(&self) -> String {
        self.text("body").await
    }

    /// Screenshots the page, and checks it has a language and every field a label.
    async fn page(&self, name: &str) {
        let check = self
            .call(
                reqwest::Method::POST,
                "/execute/sync",
                Some(json!({"script": "return {
                    lang: document.documentElement.lang,
                    unlabeled: [...document.querySelectorAll('input, select, textarea')]
                        .filter(e => e.type !== 'hidden' && e.labels.length === 0
                            && !e.getAttribute('aria-label'))
                        .map(e => e.name || e.id || e.outerHTML)
                };", "args": []})),
            )
            .await;
        assert!(
            !check["lang"].as_str().unwrap_or("").is_empty(),
            "{name}: the page has no lang"
        );
        assert_eq!(
            check["unlabeled"],
            json!([]),
            "{name}: form fields without a label"
        );
        let png = self.call(reqwest::Method::GET, "/screenshot", None).await;
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(png.as_str().unwrap())
            .unwrap();
        let shot = 1 + self.shot.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        std::fs::write(self.shots.join(format!("{shot:02}-{name}.png")), bytes).unwrap();
    }

    async fn cookies(&self) -> Vec<Value> {
        self.call(reqwest::Method::GET, "/cookie", None)
            .await
            .as_array()
            .unwrap()
            .clone()
    }

    async fn quit(&self) {
        let _ = self.http.delete(&self.session).send().await;
    }
}

async fn serve(w: &World) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    serve_on(listener, w);
    format!("http://{addr}")
}

fn serve_on(listener: tokio::net::TcpListener, w: &World) {
    let app = w.app.clone();
    tokio::spawn(async move {
        axum::serve(listener, app).await.unwrap();
    });
}

/// A WebDriver session on the run's screenshot folder `name`, with the timeouts the
/// journeys use.
async fn browser(name: &str) -> Browser {
    let webdriver = std::env::var("MFA_TEST_WEBDRIVER_URL")
        .expect("MFA_TEST_WEBDRIVER_URL: start chromedriver (scripts/services/chromium.sh)");
    let tmp = std::env::var("MFA_TEST_TMP").map_or_else(|_| std::env::temp_dir(), PathBuf::from);
    let shots = tmp.join(format!("mfa-web-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&shots).unwrap();
    let b = Browser::start(&webdriver, shots).await;
    b.call(
        reqwest::Method::POST,
        "/timeouts",
        Some(json!({"pageLoad": 20_000, "implicit": 2_000})),
    )
    .await;
    b
}

async fn sign_in_with_password(b: &Browser) {
    b.go("/login").await;
    b.type_in("#user", "kari@contoso.no").await;
    b.click("#login").await;
}

async fn sign_out(b: &Browser) {
    b.go("/mfa/security").await;
    b.click("footer form[action='/mfa/sign-out'] button").await;
    assert_eq!(b.path().await, "/login");
}

/// Answers the code page with the latest SMS code, optionally remembering the device.
async fn type_sms_code(b: &Browser, w: &World, remember: bool) {
    let code = w.sms.last_code_to(&kari_phone()).unwrap();
    b.type_in("#code", code.expose()).await;
    if remember {
        b.tick("#remember").await;
    }
    b.click("form[action='/mfa/verify'] button[type=submit]")
        .await;
}

/// Answers the code page with the latest emailed code.
async fn type_email_code(b: &Browser, w: &World) {
    let code = w.email.last_code_to(&kari_email()).unwrap();
    b.type_in("#code", code.expose()).await;
    b.click("form[action='/mfa/verify'] button[type=submit]")
        .await;
}

/// The id of Kari's email method.
async fn email_method_id(w: &World) -> String {
    let methods = w
        .mfa
        .methods(&mfa_core::UserId::new("kari@contoso.no").unwrap())
        .await
        .unwrap();
    methods
        .iter()
        .find(|m| matches!(m.method, mfa_core::Method::Email { .. }))
        .expect("an email method")
        .id
        .as_str()
        .to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs chromium: run bash scripts/test.sh"]
async fn a_browser_walks_the_guide() {
    // Email is a restricted channel: this service's policy allows it.
    let mut policy = mfa_core::Policy::default();
    policy.allow_email = true;
    let w = world_with(policy);
    let base = serve(&w).await;
    let mut b = browser("browser").await;
    b.base = base;
    let shots = b.shots.clone();

    // The password, then "More information required".
    sign_in_with_password(&b).await;
    assert_eq!(b.path().await, "/mfa/enroll");
    assert!(b.body().await.contains("Set it up now"));
    b.page("enrollment-required").await;
    b.click("#set-up-now").await;

    // The method choice: +47 and the number, "Send me a code by text message".
    assert_eq!(b.path().await, "/mfa/enroll/method");
    b.page("method-choice").await;
    b.type_in("#number", "412 34 567").await;
    b.click("button[value=sms]").await;
    assert_eq!(b.path().await, "/mfa/verify");
    assert!(b.body().await.contains("+47 ••••••67"));
    b.page("code-entry").await;

    // A wrong code first: the page says so, and nothing advanced.
    let code = w.sms.last_code_to(&kari_phone()).unwrap();
    let wrong = if code.expose() == "000000" {
        "111111"
    } else {
        "000000"
    };
    b.type_in("#code", wrong).await;
    b.click("form[action='/mfa/verify'] button[type=submit]")
        .await;
    assert!(b.body().await.contains("4 attempts left"));
    b.page("wrong-code").await;

    type_sms_code(&b, &w, false).await;
    assert!(b.body().await.contains("Verified"));
    b.page("verified").await;
    b.click("#complete").await;
    assert!(b.body().await.contains("Authentication is complete"));
    assert!(b.exists("#recovery-codes li").await);
    b.page("complete").await;
    b.click("#continue").await;
    assert_eq!(b.path().await, "/app");
    assert!(b.body().await.contains("Welcome, kari@contoso.no"));

    // Sign out; sign in with a code and "don't ask again on this device".
    sign_out(&b).await;
    sign_in_with_password(&b).await;
    assert_eq!(b.path().await, "/mfa/sign-in");
    b.page("sign-in").await;
    b.click("#sign-in-default").await;
    assert_eq!(b.path().await, "/mfa/verify");
    b.page("sign-in-code").await;
    type_sms_code(&b, &w, true).await;
    assert_eq!(b.path().await, "/app");
    let cookies = b.cookies().await;
    let device = cookies
        .iter()
        .find(|c| c["name"] == "mfa_device")
        .expect("the device cookie");
    assert_eq!(device["httpOnly"], true);
    assert_eq!(device["secure"], true);
    assert_eq!(device["sameSite"], "Strict");

    // Come back: no code asked.
    sign_out(&b).await;
    let sent = w.sms.sent().len();
    sign_in_with_password(&b).await;
    assert_eq!(b.path().await, "/app");
    assert_eq!(w.sms.sent().len(), sent);

    // Revoke the device on the security-info page (a fresh factor first).
    b.go("/mfa/security").await;
    assert!(b.body().await.contains("remembered until"));
    b.page("security-info").await;
    b.click("form[action='/mfa/security/devices/forget'] button")
        .await;
    assert_eq!(b.path().await, "/mfa/step-up");
    b.page("step-up").await;
    b.click("#sign-in-default").await;
    type_sms_code(&b, &w, false).await;
    assert_eq!(b.path().await, "/mfa/security");
    b.click("form[action='/mfa/security/devices/forget'] button")
        .await;
    assert!(b.body().await.contains("No device is remembered."));

    // Add the authenticator app from the manual key.
    b.click("#add-method").await;
    assert_eq!(b.path().await, "/mfa/enroll/method");
    b.click("button[value=app]").await;
    assert!(b.exists(".qr svg").await);
    let key = b.text("#manual-key").await;
    b.page("authenticator-app").await;
    let secret = mfa_totp::Secret::from_base32(&key).unwrap();
    let app_code = mfa_totp::Totp::default()
        .generate(&secret, mfa_core::Clock::now(&w.clock))
        .unwrap();
    b.type_in("#code", app_code.expose()).await;
    b.click("form[action='/mfa/verify'] button[type=submit]")
        .await;
    assert!(b.body().await.contains("Verified"));
    b.click("#complete").await;
    assert!(b.body().await.contains("Authenticator app is set up"));
    b.click("#continue").await;
    assert_eq!(b.path().await, "/mfa/security");
    assert!(b.body().await.contains("Authenticator app"));
    b.page("security-info-with-app").await;

    // Set up email: the code is read from the memory email backend.
    let emails = w.email.sent().len();
    b.click("#add-method").await;
    b.type_in("#address", "kari@contoso.no").await;
    b.click("button[value=email]").await;
    assert_eq!(b.path().await, "/mfa/verify");
    assert!(b.body().await.contains("We have sent an email"));
    assert_eq!(w.email.sent().len(), emails + 1);
    b.page("email-code").await;
    type_email_code(&b, &w).await;
    assert!(b.body().await.contains("Verified"));
    b.click("#complete").await;
    b.click("#continue").await;
    assert_eq!(b.path().await, "/mfa/security");

    // Rename it on the security-info page.
    let email_id = email_method_id(&w).await;
    b.tick(&format!("#rename-{email_id} summary")).await;
    b.type_in(&format!("#name-{email_id}"), "Work mail").await;
    b.click(&format!(
        "form[action='/mfa/security/rename'] input[value='{email_id}'] ~ button"
    ))
    .await;
    assert_eq!(b.path().await, "/mfa/security");
    assert!(b.body().await.contains("(Work mail)"), "{}", b.body().await);
    b.page("security-info-renamed").await;

    // The revoked device asks for a code again; "sign in another way": email.
    sign_out(&b).await;
    sign_in_with_password(&b).await;
    assert_eq!(b.path().await, "/mfa/sign-in");
    b.tick("details summary").await;
    b.click(&format!(
        "form[action='/mfa/sign-in'] input[value='{email_id}'] + button"
    ))
    .await;
    assert_eq!(b.path().await, "/mfa/verify");
    assert_eq!(w.email.sent().len(), emails + 2);
    b.page("sign-in-email").await;
    type_email_code(&b, &w).await;
    assert_eq!(b.path().await, "/app");
    assert!(b.body().await.contains("Welcome, kari@contoso.no"));
    sign_out(&b).await;
    sign_in_with_password(&b).await;
    assert_eq!(b.path().await, "/mfa/sign-in");

    // Norwegian: the footer's language switch.
    b.click("footer button").await;
    assert!(b.body().await.contains("Bekreft identiteten din"));
    b.page("sign-in-norwegian").await;

    b.quit().await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    println!("screenshots: {}", shots.display());
}

/// Passkeys in a real browser: Chromium's virtual authenticator (WebDriver's WebAuthn
/// extension) registers a passkey through the pages and signs in with it, checked by
/// webauthn-rs (`mfa_passkey::WebauthnPasskeys`) behind mfa-core's trait. Then the
/// passkey is "lost": an administrator resets the user, a Temporary Access Pass signs
/// in once, and a phone is set up with its proof, bringing new recovery codes. WebAuthn needs a secure context: the pages are
/// served as http://localhost (the relying party id), which browsers treat as one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs chromium: run bash scripts/test.sh"]
async fn a_browser_registers_a_passkey_signs_in_with_it_and_uses_an_access_pass() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let origin = format!("http://localhost:{}", listener.local_addr().unwrap().port());
    let verifier = mfa_passkey::WebauthnPasskeys::new("localhost", &origin, "Contoso").unwrap();
    let w = world_with_verifier(mfa_core::Policy::default(), Some(Box::new(verifier)), |b| b);
    serve_on(listener, &w);
    let mut b = browser("passkey").await;
    b.base = origin;
    // The journey runs as a task, so the browser is closed whatever it found.
    let shots = b.shots.clone();
    let b = std::sync::Arc::new(b);
    let journey = tokio::spawn(passkey_journey(std::sync::Arc::clone(&b), w));
    let outcome = journey.await;
    b.quit().await;
    if let Err(e) = outcome {
        std::panic::resume_unwind(e.into_panic());
    }
    println!("screenshots: {}", shots.display());
}

async fn passkey_journey(b: std::sync::Arc<Browser>, w: World) {
    let b = &*b;
    b.go("/login").await;
    b.call(
        reqwest::Method::POST,
        "/webauthn/authenticator",
        Some(
            json!({"protocol": "ctap2", "transport": "internal", "hasResidentKey": true,
                    "hasUserVerification": true, "isUserVerified": true}),
        ),
    )
    .await;

    // Set it up now: a passkey, named, strongest first on the method page.
    sign_in_with_password(b).await;
    assert_eq!(b.path().await, "/mfa/enroll");
    b.click("#set-up-now").await;
    b.type_in("#passkey-name", "Chromium").await;
    b.page("method-choice-passkey").await;
    b.click("button[value=passkey]").await;
    assert_eq!(b.path().await, "/mfa/verify");
    b.page("passkey-create").await;
    b.click("#passkey-start").await;
    assert!(b.body().await.contains("Verified"), "{}", b.body().await);
    b.click("#complete").await;
    assert!(
        b.body().await.contains("Passkey is set up"),
        "{}",
        b.body().await
    );
    b.page("passkey-complete").await;
    b.click("#continue").await;
    assert_eq!(b.path().await, "/app");
    let methods = w
        .mfa
        .methods(&mfa_core::UserId::new("kari@contoso.no").unwrap())
        .await
        .unwrap();
    let passkey = methods[0].passkey.as_ref().expect("a registered passkey");
    assert!(passkey.user_verified);
    assert_eq!(methods[0].name.as_ref().unwrap().as_str(), "Chromium");

    // Sign in with it: offered first.
    sign_out(b).await;
    sign_in_with_password(b).await;
    assert_eq!(b.path().await, "/mfa/sign-in");
    assert!(b.text("#sign-in-default").await.contains("passkey"));
    b.page("sign-in-passkey-first").await;
    b.click("#sign-in-default").await;
    assert_eq!(b.path().await, "/mfa/verify");
    b.page("passkey-get").await;
    b.click("#passkey-start").await;
    assert_eq!(b.path().await, "/app", "{}", b.body().await);
    assert!(b.body().await.contains("Welcome, kari@contoso.no"));

    // The device with the passkey is lost, and with it everything: the administrator
    // resets Kari and issues a pass.
    sign_out(b).await;
    w.mfa
        .reset_user(&mfa_core::UserId::new("kari@contoso.no").unwrap())
        .await
        .unwrap();
    let issued = w
        .mfa
        .issue_access_pass(
            &mfa_core::UserId::new("kari@contoso.no").unwrap(),
            mfa_core::AccessPassOptions::once(),
        )
        .await
        .unwrap();
    sign_in_with_password(b).await;
    // No method left: the enrollment page, which offers the pass.
    assert_eq!(b.path().await, "/mfa/enroll");
    b.click("a[href='/mfa/sign-in/access-pass']").await;
    assert_eq!(b.path().await, "/mfa/sign-in/access-pass");
    b.page("access-pass").await;
    b.type_in("#access-pass", &issued.pass.expose()).await;
    b.click("#use-access-pass").await;
    assert_eq!(b.path().await, "/mfa/enroll/method");
    b.type_in("#number", "412 34 567").await;
    b.click("button[value=sms]").await;
    assert_eq!(b.path().await, "/mfa/verify");
    type_sms_code(b, &w, false).await;
    assert!(b.body().await.contains("Verified"));
    b.click("#complete").await;
    // Her first method again: the recovery codes are shown, as at the first enrollment.
    assert!(b.exists("#recovery-codes li").await, "{}", b.body().await);
    b.page("complete-after-access-pass").await;
    b.click("#continue").await;
    assert_eq!(b.path().await, "/mfa/security");
    assert!(b.body().await.contains("••••••67"));
    b.page("security-info-after-access-pass").await;
}
