//! Every route, in-process: status codes, redirects, CSRF refusal, 429 with
//! `Retry-After`, the session never advancing without the right code, and no code,
//! number, key or token in a URL.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::time::Duration;

use axum::http::StatusCode;
use axum::http::header::RETRY_AFTER;
use mfa_core::Policy;
use mfa_voice::Callee;
use serde_json::json;
use support::{Client, enrolled_by_sms, kari_phone, world, world_with};

#[tokio::test]
async fn without_a_password_step_nothing_opens() {
    let w = world();
    let mut c = Client::new(&w);
    for path in [
        "/mfa",
        "/mfa/enroll",
        "/mfa/enroll/method",
        "/mfa/verify",
        "/mfa/sign-in",
        "/mfa/step-up",
        "/mfa/security",
    ] {
        let a = c.get(path).await;
        assert_eq!(a.status, StatusCode::UNAUTHORIZED, "{path}");
        assert!(a.body.contains("href=\"/login\""), "{path}");
    }
    for path in [
        "/mfa/verify",
        "/mfa/complete",
        "/mfa/sign-in",
        "/mfa/security/remove",
    ] {
        let a = c.post(path, &[("csrf", "x"), ("code", "123456")]).await;
        assert_eq!(a.status, StatusCode::UNAUTHORIZED, "{path}");
    }
    assert_eq!(c.get("/app").await.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        c.get("/mfa/api/state").await.status,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn enrollment_by_sms_walks_the_guide() {
    let w = world();
    let mut c = Client::new(&w);
    c.login("Kari@Contoso.no").await;
    // Half-signed-in: the application's pages send the user to the flow.
    let a = c.get("/app").await;
    assert_eq!(a.status, StatusCode::SEE_OTHER);
    assert_eq!(a.location(), "/mfa");
    let a = c.get("/mfa").await;
    assert_eq!(a.location(), "/mfa/enroll");
    let a = c.get("/mfa/enroll").await;
    assert_eq!(a.status, StatusCode::OK);
    assert!(a.body.contains("<html lang=\"en\">"));
    assert!(a.body.contains("Set it up now"));
    assert_eq!(a.headers["cache-control"], "no-store");

    let page = c.get("/mfa/enroll/method").await;
    assert_eq!(page.status, StatusCode::OK);
    for part in [
        "Send me a code by text message",
        "Call me",
        "Call my office phone",
        "Use verification code through app",
        "<option value=\"47\" selected>Norway (+47)</option>",
        "free for +47 numbers",
    ] {
        assert!(page.body.contains(part), "method page lacks {part}");
    }
    let csrf = page.csrf();
    // A number that is no number: the method page again, with the message.
    let a = c
        .post(
            "/mfa/enroll/method",
            &[
                ("csrf", &csrf),
                ("kind", "sms"),
                ("country", "47"),
                ("number", "12"),
            ],
        )
        .await;
    assert_eq!(a.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(a.body.contains("role=\"alert\""));
    assert!(a.body.contains("not valid"));
    assert!(w.sms.sent().is_empty());

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
    assert_eq!(a.status, StatusCode::SEE_OTHER);
    assert_eq!(a.location(), "/mfa/verify");
    let code = w.sms.last_code_to(&kari_phone()).unwrap();

    let page = c.get("/mfa/verify").await;
    assert_eq!(page.status, StatusCode::OK);
    for part in [
        "autocomplete=\"one-time-code\"",
        "inputmode=\"numeric\"",
        "+47 ••••••67",
        "Send a new code",
        "animation-delay: 30s",
    ] {
        assert!(page.body.contains(part), "code page lacks {part}");
    }
    assert!(!page.body.contains(code.expose()));

    // A wrong code: 422, the attempts left, and the session has not advanced.
    let wrong = if code.expose() == "000000" {
        "111111"
    } else {
        "000000"
    };
    let a = c
        .post("/mfa/verify", &[("csrf", &csrf), ("code", wrong)])
        .await;
    assert_eq!(a.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(a.body.contains("4 attempts left"), "{}", a.body);
    assert_eq!(c.get("/app").await.location(), "/mfa");
    // Complete before the right code: refused, nothing activated.
    let a = c.post("/mfa/complete", &[("csrf", &csrf)]).await;
    assert_eq!(a.status, StatusCode::CONFLICT);
    assert_eq!(c.get("/app").await.location(), "/mfa");

    let a = c
        .post("/mfa/verify", &[("csrf", &csrf), ("code", code.expose())])
        .await;
    assert_eq!(a.location(), "/mfa/verify");
    let page = c.get("/mfa/verify").await;
    assert!(page.body.contains("Verified"));
    assert!(page.body.contains("Complete"));
    // Verified is not signed in: Complete is.
    assert_eq!(c.get("/app").await.location(), "/mfa");
    let a = c.post("/mfa/complete", &[("csrf", &csrf)]).await;
    assert_eq!(a.status, StatusCode::OK);
    assert!(a.body.contains("Authentication is complete"));
    assert!(a.body.contains("id=\"recovery-codes\""));
    assert!(a.body.contains("href=\"/app\""));
    let a = c.get("/app").await;
    assert_eq!(a.status, StatusCode::OK);
    assert_eq!(a.body, "Welcome, kari@contoso.no");
    {
        let hooks = w.signed_in.lock().unwrap();
        assert_eq!(hooks.len(), 1);
        assert!(hooks[0].enrolled);
        assert_eq!(hooks[0].user.as_str(), "kari@contoso.no");
    }
    // The session id changed at the password step and again at sign-in.
    let session_cookies = c
        .set_cookies
        .iter()
        .filter(|s| s.starts_with("mfa_session="))
        .map(|s| s.split(';').next().unwrap().to_owned())
        .collect::<std::collections::BTreeSet<_>>();
    assert!(session_cookies.len() >= 2, "{session_cookies:?}");
    for set in c
        .set_cookies
        .iter()
        .filter(|s| s.starts_with("mfa_session="))
    {
        assert!(
            set.contains("HttpOnly") && set.contains("SameSite=Strict") && set.contains("Secure")
        );
    }
    // No code, number or recovery code in any URL asked for or redirected to.
    for url in &c.urls {
        assert!(!url.contains(code.expose()), "{url}");
        assert!(
            !url.contains("41234567") && !url.contains("412%2034"),
            "{url}"
        );
    }
    assert_eq!(c.get("/mfa").await.location(), "/mfa/security");
}

#[tokio::test]
async fn every_form_post_needs_the_sessions_csrf_token() {
    let w = world();
    let mut c = Client::new(&w);
    c.login("kari@contoso.no").await;
    let csrf = c.get("/mfa/enroll/method").await.csrf();
    let a = c
        .post(
            "/mfa/enroll/method",
            &[("kind", "sms"), ("number", "+4741234567")],
        )
        .await;
    assert_eq!(a.status, StatusCode::FORBIDDEN);
    let a = c
        .post(
            "/mfa/enroll/method",
            &[
                ("csrf", "0123456789abcdef0123456789abcdef"),
                ("kind", "sms"),
                ("number", "+4741234567"),
            ],
        )
        .await;
    assert_eq!(a.status, StatusCode::FORBIDDEN);
    assert!(a.body.contains("stale"));
    assert!(w.sms.sent().is_empty(), "a refused form sent nothing");

    c.post(
        "/mfa/enroll/method",
        &[("csrf", &csrf), ("kind", "sms"), ("number", "+4741234567")],
    )
    .await;
    let code = w.sms.last_code_to(&kari_phone()).unwrap();
    // The right code without the token: refused, and not counted as checked.
    for path in [
        "/mfa/verify",
        "/mfa/verify/resend",
        "/mfa/verify/cancel",
        "/mfa/complete",
        "/mfa/language",
        "/mfa/sign-out",
    ] {
        let a = c.post(path, &[("code", code.expose())]).await;
        assert_eq!(a.status, StatusCode::FORBIDDEN, "{path}");
    }
    assert_eq!(c.get("/mfa").await.location(), "/mfa/verify");
    let a = c
        .post("/mfa/verify", &[("csrf", &csrf), ("code", code.expose())])
        .await;
    assert_eq!(a.location(), "/mfa/verify");

    // Another browser with its own session cannot use this session's token.
    let mut other = Client::new(&w);
    other.login("ola@contoso.no").await;
    let a = other.post("/mfa/complete", &[("csrf", &csrf)]).await;
    assert_eq!(a.status, StatusCode::FORBIDDEN);

    // JSON needs the header.
    let a = c.post_json("/mfa/api/complete", "", json!({})).await;
    assert_eq!(a.status, StatusCode::FORBIDDEN);
    assert_eq!(a.json()["error"], "csrf_refused");
}

#[tokio::test]
async fn resending_early_or_too_often_is_429_with_retry_after() {
    let w = world();
    let mut c = Client::new(&w);
    c.login("kari@contoso.no").await;
    let csrf = c.get("/mfa/enroll/method").await.csrf();
    c.post(
        "/mfa/enroll/method",
        &[("csrf", &csrf), ("kind", "sms"), ("number", "+4741234567")],
    )
    .await;
    let a = c.post("/mfa/verify/resend", &[("csrf", &csrf)]).await;
    assert_eq!(a.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(a.headers[RETRY_AFTER], "30");
    assert!(a.body.contains("Wait 30 seconds"));
    assert_eq!(w.sms.sent().len(), 1);
    // After the cooldown: a new code, the page offers the next resend 30 s on.
    w.clock.advance(Duration::from_secs(30));
    let a = c.post("/mfa/verify/resend", &[("csrf", &csrf)]).await;
    assert_eq!(a.location(), "/mfa/verify");
    assert_eq!(w.sms.sent().len(), 2);
    assert!(
        c.get("/mfa/verify")
            .await
            .body
            .contains("animation-delay: 30s")
    );
}

#[tokio::test]
async fn wrong_codes_lock_the_challenge_then_the_user_with_429() {
    let w = world();
    let mut c = Client::new(&w);
    c.login("kari@contoso.no").await;
    let csrf = c.get("/mfa/enroll/method").await.csrf();
    c.post(
        "/mfa/enroll/method",
        &[("csrf", &csrf), ("kind", "sms"), ("number", "+4741234567")],
    )
    .await;
    let code = w.sms.last_code_to(&kari_phone()).unwrap();
    let wrong = if code.expose() == "000000" {
        "111111"
    } else {
        "000000"
    };
    let mut statuses = Vec::new();
    for _ in 0..5 {
        let a = c
            .post("/mfa/verify", &[("csrf", &csrf), ("code", wrong)])
            .await;
        statuses.push(a.status);
        if a.status == StatusCode::GONE {
            assert!(a.body.contains("Too many wrong codes"), "{}", a.body);
        }
    }
    assert_eq!(statuses[0], StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        statuses.contains(&StatusCode::TOO_MANY_REQUESTS) || statuses.contains(&StatusCode::GONE),
        "{statuses:?}"
    );
    // The right code now opens nothing.
    let a = c
        .post("/mfa/verify", &[("csrf", &csrf), ("code", code.expose())])
        .await;
    assert_ne!(a.location(), "/mfa/verify");
    assert_eq!(c.get("/app").await.location(), "/mfa");
    // Keep failing on new challenges until the user is delayed: 429 + Retry-After.
    let mut saw_429 = false;
    for _ in 0..6 {
        w.clock.advance(Duration::from_secs(1));
        let a = c
            .post(
                "/mfa/enroll/method",
                &[("csrf", &csrf), ("kind", "sms"), ("number", "+4741234567")],
            )
            .await;
        if a.status == StatusCode::TOO_MANY_REQUESTS {
            assert!(a.headers.contains_key(RETRY_AFTER));
            saw_429 = true;
            break;
        }
        let a = c
            .post("/mfa/verify", &[("csrf", &csrf), ("code", wrong)])
            .await;
        if a.status == StatusCode::TOO_MANY_REQUESTS {
            assert!(a.headers.contains_key(RETRY_AFTER));
            assert!(a.body.contains("Try again in"));
            saw_429 = true;
            break;
        }
    }
    assert!(saw_429);
}

#[tokio::test]
async fn sign_in_with_another_way_remember_and_come_back_without_a_code() {
    let w = world();
    let mut c = enrolled_by_sms(&w).await;
    // Add the office phone, which answers and presses # at once.
    // At the extension, # to take the call; then # to verify.
    w.voice.set_default_callee(Callee::Presses("##".to_owned()));
    let csrf = c.get("/mfa/security").await.csrf();
    let a = c.get("/mfa/enroll/method").await;
    assert_eq!(
        a.status,
        StatusCode::OK,
        "a fresh proof from the enrollment"
    );
    let a = c
        .post(
            "/mfa/enroll/method",
            &[
                ("csrf", &csrf),
                ("kind", "office"),
                ("number", "22 12 34 56"),
                ("extension", "1234"),
            ],
        )
        .await;
    assert_eq!(a.location(), "/mfa/verify", "{} {}", a.status, a.body);
    let page = c.get("/mfa/verify").await;
    assert!(page.body.contains("press #"), "{}", page.body);
    let a = c.post("/mfa/verify/call", &[("csrf", &csrf)]).await;
    assert_eq!(a.location(), "/mfa/verify");
    let a = c.post("/mfa/complete", &[("csrf", &csrf)]).await;
    assert!(
        a.body
            .contains("Office phone +47 ••••••56 (1234) is set up"),
        "{}",
        a.body
    );
    assert!(a.body.contains("href=\"/mfa/security\""));

    // Sign out; sign in again.
    let a = c.post("/mfa/sign-out", &[("csrf", &csrf)]).await;
    assert_eq!(a.location(), "/login");
    assert_eq!(c.get("/app").await.status, StatusCode::UNAUTHORIZED);
    c.login("kari@contoso.no").await;
    assert_eq!(c.get("/mfa").await.location(), "/mfa/sign-in");
    let page = c.get("/mfa/sign-in").await;
    assert!(page.body.contains("Sign in another way"));
    assert!(
        page.body
            .contains("Continue with text message +47 ••••••67")
    );
    assert!(page.body.contains("Continue with office phone"));
    let csrf = page.csrf();
    let before = w.sms.sent().len();
    let a = c.post("/mfa/sign-in", &[("csrf", &csrf)]).await;
    assert_eq!(a.location(), "/mfa/verify");
    assert_eq!(w.sms.sent().len(), before + 1);
    let page = c.get("/mfa/verify").await;
    assert!(
        page.body.contains("ask again on this device for 30 days"),
        "{}",
        page.body
    );
    let code = w.sms.last_code_to(&kari_phone()).unwrap();
    let a = c
        .post(
            "/mfa/verify",
            &[("csrf", &csrf), ("code", code.expose()), ("remember", "1")],
        )
        .await;
    assert_eq!(a.status, StatusCode::SEE_OTHER);
    assert_eq!(a.location(), "/app");
    let device = c
        .set_cookies
        .iter()
        .find(|s| s.starts_with("mfa_device="))
        .expect("a device cookie")
        .clone();
    for part in [
        "HttpOnly",
        "Secure",
        "SameSite=Strict",
        "Path=/",
        "Max-Age=2592000",
    ] {
        assert!(device.contains(part), "{device}");
    }
    let token = c.cookies["mfa_device"].clone();
    assert_eq!(token.len(), 64);
    // The security page lists the device; no page shows its token.
    let page = c.get("/mfa/security").await;
    assert!(
        page.body.contains("remembered until 2026-01-31"),
        "{}",
        page.body
    );
    assert!(!page.body.contains(&token));

    // Back again: the remembered device skips the code.
    c.post("/mfa/sign-out", &[("csrf", &csrf)]).await;
    c.login("kari@contoso.no").await;
    let sent = w.sms.sent().len();
    let a = c.get("/mfa").await;
    assert_eq!(a.location(), "/app");
    assert_eq!(c.get("/app").await.status, StatusCode::OK);
    assert_eq!(w.sms.sent().len(), sent);
    assert!(
        w.signed_in
            .lock()
            .unwrap()
            .last()
            .unwrap()
            .remembered_device
    );

    // Another user's session with Kari's device cookie still needs a code.
    let mut ola = enrolled_by_sms_as(&w, "ola@contoso.no", "+4791234567").await;
    let ola_csrf = ola.get("/mfa/security").await.csrf();
    ola.post("/mfa/sign-out", &[("csrf", &ola_csrf)]).await;
    ola.cookies.insert("mfa_device".to_owned(), token.clone());
    ola.login("ola@contoso.no").await;
    assert_eq!(ola.get("/mfa").await.location(), "/mfa/sign-in");

    // "Sign in another way" from Kari's page, after forgetting the device.
    let page = c.get("/mfa/security").await;
    let csrf = page.csrf();
    let at = page.body.find("name=\"device\" value=\"").unwrap();
    let id = &page.body[at + 21..at + 37];
    // A device sign-in holds no proof: forgetting asks for a fresh factor first,
    // here by the office phone ("sign in another way").
    let a = c
        .post(
            "/mfa/security/devices/forget",
            &[("csrf", &csrf), ("device", id)],
        )
        .await;
    assert_eq!(a.location(), "/mfa/step-up");
    let step_up = c.get("/mfa/step-up").await;
    let at = step_up.body.rfind("name=\"method\" value=\"").unwrap();
    let office = &step_up.body[at + 21..at + 53];
    c.post("/mfa/sign-in", &[("csrf", &csrf), ("method", office)])
        .await;
    let a = c.post("/mfa/verify/call", &[("csrf", &csrf)]).await;
    assert_eq!(a.location(), "/mfa/security");
    let a = c
        .post(
            "/mfa/security/devices/forget",
            &[("csrf", &csrf), ("device", id)],
        )
        .await;
    assert_eq!(a.location(), "/mfa/security");
    let page = c.get("/mfa/security").await;
    assert!(page.body.contains("Your security info was updated."));
    assert!(page.body.contains("No device is remembered."));
    c.post("/mfa/sign-out", &[("csrf", &csrf)]).await;
    c.login("kari@contoso.no").await;
    assert_eq!(c.get("/mfa").await.location(), "/mfa/sign-in");
}

async fn enrolled_by_sms_as(w: &support::World, user: &str, number: &str) -> Client {
    let mut c = Client::new(w);
    c.login(user).await;
    let csrf = c.get("/mfa/enroll/method").await.csrf();
    c.post(
        "/mfa/enroll/method",
        &[("csrf", &csrf), ("kind", "sms"), ("number", number)],
    )
    .await;
    let code = w
        .sms
        .last_code_to(&mfa_core::PhoneNumber::parse(number).unwrap())
        .unwrap();
    c.post("/mfa/verify", &[("csrf", &csrf), ("code", code.expose())])
        .await;
    c.post("/mfa/complete", &[("csrf", &csrf)]).await;
    assert_eq!(c.get("/app").await.status, StatusCode::OK);
    c
}

#[tokio::test]
async fn changing_factors_needs_a_fresh_second_factor() {
    let w = world();
    let mut c = enrolled_by_sms(&w).await;
    assert_eq!(c.get("/app/settings").await.status, StatusCode::OK);
    let csrf = c.get("/mfa/security").await.csrf();
    // Past the re-authentication window: every change asks for a step-up first.
    w.clock.advance(Duration::from_secs(11 * 60));
    let a = c.get("/app/settings").await;
    assert_eq!(a.location(), "/mfa/step-up");
    assert_eq!(c.get("/mfa/enroll/method").await.location(), "/mfa/step-up");
    let a = c
        .post("/mfa/security/recovery-codes", &[("csrf", &csrf)])
        .await;
    assert_eq!(a.location(), "/mfa/step-up");
    let methods = w
        .mfa
        .methods(&mfa_core::UserId::new("kari@contoso.no").unwrap())
        .await
        .unwrap();
    let id = methods[0].id.as_str().to_owned();
    let a = c
        .post("/mfa/security/remove", &[("csrf", &csrf), ("method", &id)])
        .await;
    assert_eq!(a.location(), "/mfa/step-up");
    assert_eq!(
        c.get(&format!("/mfa/security/change-number?method={id}"))
            .await
            .location(),
        "/mfa/step-up"
    );

    let page = c.get("/mfa/step-up").await;
    assert!(page.body.contains("Confirm it"));
    let a = c.post("/mfa/sign-in", &[("csrf", &csrf)]).await;
    assert_eq!(a.location(), "/mfa/verify");
    // No remember box on a step-up.
    assert!(
        !c.get("/mfa/verify")
            .await
            .body
            .contains("name=\"remember\"")
    );
    let code = w.sms.last_code_to(&kari_phone()).unwrap();
    let a = c
        .post("/mfa/verify", &[("csrf", &csrf), ("code", code.expose())])
        .await;
    assert_eq!(a.location(), "/mfa/security");
    assert_eq!(c.get("/app/settings").await.status, StatusCode::OK);
    let a = c
        .post("/mfa/security/recovery-codes", &[("csrf", &csrf)])
        .await;
    assert_eq!(a.status, StatusCode::OK);
    assert!(a.body.contains("id=\"recovery-codes\""));
    // Shown by that answer only.
    let at = a.body.find("id=\"recovery-codes\"><li>").unwrap();
    let rest = &a.body[at + 24..];
    let first = rest[..rest.find('<').unwrap()].to_owned();
    let again = c.get("/mfa/security").await;
    assert!(!again.body.contains(&first));
    assert!(!again.body.contains("id=\"recovery-codes\""));
    // The last method cannot go.
    let a = c
        .post("/mfa/security/remove", &[("csrf", &csrf), ("method", &id)])
        .await;
    assert_eq!(a.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(a.body.contains("last method"));

    // Change the number: the new one is verified, then replaces the old.
    let page = c
        .get(&format!("/mfa/security/change-number?method={id}"))
        .await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(
        page.body
            .contains(&format!("name=\"replaces\" value=\"{id}\""))
    );
    let a = c
        .post(
            "/mfa/enroll/method",
            &[
                ("csrf", &csrf),
                ("kind", "sms"),
                ("number", "+4798765432"),
                ("replaces", &id),
            ],
        )
        .await;
    assert_eq!(a.location(), "/mfa/verify");
    let new = mfa_core::PhoneNumber::parse("+4798765432").unwrap();
    let code = w.sms.last_code_to(&new).unwrap();
    c.post("/mfa/verify", &[("csrf", &csrf), ("code", code.expose())])
        .await;
    c.post("/mfa/complete", &[("csrf", &csrf)]).await;
    let page = c.get("/mfa/security").await;
    assert!(page.body.contains("••••••32"));
    assert!(!page.body.contains("••••••67"));
}

#[tokio::test]
async fn the_app_key_is_shown_once_and_its_code_enrolls() {
    let w = world();
    let mut c = Client::new(&w);
    c.login("kari@contoso.no").await;
    let csrf = c.get("/mfa/enroll/method").await.csrf();
    let a = c
        .post("/mfa/enroll/method", &[("csrf", &csrf), ("kind", "app")])
        .await;
    assert_eq!(a.status, StatusCode::OK);
    assert!(a.body.contains("<svg"));
    assert!(a.body.contains("role=\"img\""));
    let at = a.body.find("id=\"manual-key\">").unwrap();
    let rest = &a.body[at + 16..];
    let key = rest[..rest.find('<').unwrap()].to_owned();
    assert!(key.len() >= 16, "{key}");
    // Shown once: the page again has no key and says so.
    let again = c.get("/mfa/verify").await;
    assert!(!again.body.contains(&key));
    assert!(!again.body.contains("<svg"));
    assert!(again.body.contains("The key was shown once"));
    for url in &c.urls {
        assert!(!url.contains(&key) && !url.contains("otpauth"), "{url}");
    }
    let secret = mfa_totp::Secret::from_base32(&key).unwrap();
    let code = mfa_totp::Totp::default()
        .generate(&secret, w.clock.now_ts())
        .unwrap();
    let a = c
        .post("/mfa/verify", &[("csrf", &csrf), ("code", code.expose())])
        .await;
    assert_eq!(a.location(), "/mfa/verify");
    let a = c.post("/mfa/complete", &[("csrf", &csrf)]).await;
    assert!(a.body.contains("Authenticator app is set up"), "{}", a.body);
}

trait Now {
    fn now_ts(&self) -> mfa_core::Timestamp;
}

impl Now for mfa_core::ManualClock {
    fn now_ts(&self) -> mfa_core::Timestamp {
        mfa_core::Clock::now(self)
    }
}

#[tokio::test]
async fn norwegian_from_accept_language_or_the_users_choice() {
    let w = world();
    let mut c = Client::new(&w);
    c.language = Some("nb-NO,nb;q=0.9,en;q=0.5");
    c.login("kari@contoso.no").await;
    let a = c.get("/mfa/enroll").await;
    assert!(a.body.contains("<html lang=\"nb\">"));
    assert!(a.body.contains("Konfigurer nå"));
    let csrf = a.csrf();
    // The footer switches to English, and it sticks over Accept-Language.
    let a = c
        .post("/mfa/language", &[("csrf", &csrf), ("lang", "en")])
        .await;
    assert_eq!(a.location(), "/mfa");
    let a = c.get("/mfa/enroll").await;
    assert!(a.body.contains("<html lang=\"en\">"));
    assert!(a.body.contains("Set it up now"));
}

#[tokio::test]
async fn a_code_abroad_carries_the_cost_notice() {
    let w = world();
    let mut c = Client::new(&w);
    c.login("kari@contoso.no").await;
    let csrf = c.get("/mfa/enroll/method").await.csrf();
    c.post(
        "/mfa/enroll/method",
        &[
            ("csrf", &csrf),
            ("kind", "sms"),
            ("country", "46"),
            ("number", "70 123 45 67"),
        ],
    )
    .await;
    let page = c.get("/mfa/verify").await;
    assert!(page.body.contains("id=\"cost-notice\""), "{}", page.body);
    assert!(page.body.contains("+46 numbers may be charged"));
}

#[tokio::test]
async fn a_refused_country_is_refused_before_anything_is_sent() {
    let mut policy = Policy::default();
    policy.countries = mfa_core::CountryPolicy::only(&[47]);
    let w = world_with(policy);
    let mut c = Client::new(&w);
    c.login("kari@contoso.no").await;
    let page = c.get("/mfa/enroll/method").await;
    assert!(!page.body.contains("(+46)"));
    let a = c
        .post(
            "/mfa/enroll/method",
            &[
                ("csrf", &page.csrf()),
                ("kind", "sms"),
                ("number", "+46701234567"),
            ],
        )
        .await;
    assert_eq!(a.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(a.body.contains("cannot be used"));
    assert!(w.sms.sent().is_empty());
}

#[tokio::test]
async fn a_recovery_code_signs_in_instead() {
    let w = world();
    let mut c = Client::new(&w);
    c.login("kari@contoso.no").await;
    let csrf = c.get("/mfa/enroll/method").await.csrf();
    c.post(
        "/mfa/enroll/method",
        &[("csrf", &csrf), ("kind", "sms"), ("number", "+4741234567")],
    )
    .await;
    let code = w.sms.last_code_to(&kari_phone()).unwrap();
    c.post("/mfa/verify", &[("csrf", &csrf), ("code", code.expose())])
        .await;
    let done = c.post("/mfa/complete", &[("csrf", &csrf)]).await;
    let at = done.body.find("id=\"recovery-codes\"><li>").unwrap();
    let rest = &done.body[at + 24..];
    let recovery = rest[..rest.find('<').unwrap()].to_owned();
    c.post("/mfa/sign-out", &[("csrf", &csrf)]).await;
    c.login("kari@contoso.no").await;
    let csrf = c.get("/mfa/sign-in").await.csrf();
    let a = c
        .post(
            "/mfa/sign-in/recovery",
            &[("csrf", &csrf), ("code", "AAAA-BBBB")],
        )
        .await;
    assert_eq!(a.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(a.body.contains("recovery code is not valid"));
    assert_eq!(c.get("/app").await.location(), "/mfa");
    let a = c
        .post(
            "/mfa/sign-in/recovery",
            &[("csrf", &csrf), ("code", &recovery)],
        )
        .await;
    assert_eq!(a.location(), "/app");
    assert_eq!(c.get("/app").await.status, StatusCode::OK);
}

#[tokio::test]
async fn the_json_api_walks_the_same_flow() {
    let w = world();
    let mut c = Client::new(&w);
    c.login("kari@contoso.no").await;
    let state = c.get("/mfa/api/state").await;
    assert_eq!(state.status, StatusCode::OK);
    let state = state.json();
    assert_eq!(state["stage"], "enrollment_required");
    let csrf = state["csrf"].as_str().unwrap().to_owned();
    let a = c
        .post_json(
            "/mfa/api/enroll",
            &csrf,
            json!({"kind": "sms", "number": "412 34 567"}),
        )
        .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    let j = a.json();
    assert_eq!(j["state"]["stage"], "answering");
    assert_eq!(j["state"]["challenge"]["answering"], "sms");
    assert_eq!(
        j["state"]["challenge"]["method"],
        "text message +47 ••••••67"
    );
    let code = w.sms.last_code_to(&kari_phone()).unwrap();
    let wrong = if code.expose() == "000000" {
        "111111"
    } else {
        "000000"
    };
    let a = c
        .post_json("/mfa/api/verify", &csrf, json!({"code": wrong}))
        .await;
    assert_eq!(a.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(a.json()["error"], "wrong_code");
    assert_eq!(a.json()["attempts_left"], 4);
    let a = c.post_json("/mfa/api/resend", &csrf, json!({})).await;
    assert_eq!(a.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(a.headers[RETRY_AFTER], "30");
    assert_eq!(a.json()["error"], "resend_too_soon");
    let a = c
        .post_json("/mfa/api/verify", &csrf, json!({"code": code.expose()}))
        .await;
    assert_eq!(a.json()["result"], "verified");
    let a = c.post_json("/mfa/api/complete", &csrf, json!({})).await;
    let j = a.json();
    assert_eq!(j["result"], "complete");
    assert_eq!(j["recovery_codes"].as_array().unwrap().len(), 10);
    assert_eq!(j["next"], "/app");
    let state = c.get("/mfa/api/state").await.json();
    assert_eq!(state["stage"], "done");
    assert_eq!(state["methods"][0]["is_default"], true);
    assert!(!c.get("/mfa/api/state").await.body.contains("41234567"));

    // The app, by JSON: the key comes in the one answer.
    let a = c
        .post_json("/mfa/api/enroll", &csrf, json!({"kind": "app"}))
        .await;
    let j = a.json();
    assert!(
        j["provisioning"]["otpauth_uri"]
            .as_str()
            .unwrap()
            .starts_with("otpauth://totp/")
    );
    assert!(
        !c.get("/mfa/api/state")
            .await
            .body
            .contains(j["provisioning"]["manual_key"].as_str().unwrap())
    );
    let a = c.post_json("/mfa/api/cancel", &csrf, json!({})).await;
    assert_eq!(a.json()["stage"], "done");
}

#[tokio::test]
async fn pages_forbid_framing_and_foreign_scripts_and_the_sms_page_offers_webotp() {
    let w = world();
    let mut c = Client::new(&w);
    c.login("kari@contoso.no").await;
    let a = c.get("/mfa/enroll").await;
    assert_eq!(a.headers["x-frame-options"], "DENY");
    let csp = a.headers["content-security-policy"].to_str().unwrap();
    for part in [
        "frame-ancestors 'none'",
        "script-src 'self'",
        "form-action 'self'",
    ] {
        assert!(csp.contains(part), "{csp}");
    }
    assert!(!a.body.contains("webotp.js"));
    let csrf = a.csrf();
    c.post(
        "/mfa/enroll/method",
        &[("csrf", &csrf), ("kind", "sms"), ("number", "+4741234567")],
    )
    .await;
    let page = c.get("/mfa/verify").await;
    assert!(
        page.body
            .contains("<script src=\"/mfa/webotp.js\" defer></script>")
    );
    let js = c.get("/mfa/webotp.js").await;
    assert_eq!(js.status, StatusCode::OK);
    assert!(
        js.headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/javascript")
    );
    assert!(js.body.contains("OTPCredential"));
}

#[tokio::test]
async fn make_default_switches_the_method_sign_in_offers_first() {
    let w = world();
    let mut c = enrolled_by_sms(&w).await;
    let csrf = c.get("/mfa/security").await.csrf();
    let a = c
        .post("/mfa/enroll/method", &[("csrf", &csrf), ("kind", "app")])
        .await;
    let at = a.body.find("id=\"manual-key\">").unwrap();
    let rest = &a.body[at + 16..];
    let secret = mfa_totp::Secret::from_base32(&rest[..rest.find('<').unwrap()]).unwrap();
    let code = mfa_totp::Totp::default()
        .generate(&secret, mfa_core::Clock::now(&w.clock))
        .unwrap();
    c.post("/mfa/verify", &[("csrf", &csrf), ("code", code.expose())])
        .await;
    c.post("/mfa/complete", &[("csrf", &csrf)]).await;
    let user = mfa_core::UserId::new("kari@contoso.no").unwrap();
    let app = w
        .mfa
        .methods(&user)
        .await
        .unwrap()
        .into_iter()
        .find(|m| m.method == mfa_core::Method::AuthenticatorApp)
        .unwrap();
    // A forged method id changes nothing.
    let a = c
        .post(
            "/mfa/security/default",
            &[("csrf", &csrf), ("method", "not-a-method")],
        )
        .await;
    assert_eq!(a.status, StatusCode::CONFLICT);
    let a = c
        .post(
            "/mfa/security/default",
            &[("csrf", &csrf), ("method", app.id.as_str())],
        )
        .await;
    assert_eq!(a.location(), "/mfa/security");
    let page = c.get("/mfa/security").await;
    assert!(
        page.body
            .contains("Authenticator app</span> <strong>(default)</strong>"),
        "{}",
        page.body
    );
    c.post("/mfa/sign-out", &[("csrf", &csrf)]).await;
    c.login("kari@contoso.no").await;
    let page = c.get("/mfa/sign-in").await;
    let first = page.body.find("id=\"sign-in-default\">").unwrap();
    assert!(
        page.body[first..].starts_with("id=\"sign-in-default\">Continue with authenticator app")
    );
}

#[tokio::test]
async fn the_json_api_signs_in_steps_up_and_changes_settings() {
    let w = world();
    let mut c = enrolled_by_sms(&w).await;
    let csrf = c.api_csrf().await;
    // A second phone, added by JSON with the enrollment's fresh proof.
    let second = mfa_core::PhoneNumber::parse("+4790000001").unwrap();
    let a = c
        .post_json(
            "/mfa/api/enroll",
            &csrf,
            json!({"kind": "sms", "number": "+4790000001"}),
        )
        .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    let code = w.sms.last_code_to(&second).unwrap();
    c.post_json("/mfa/api/verify", &csrf, json!({"code": code.expose()}))
        .await;
    let a = c.post_json("/mfa/api/complete", &csrf, json!({})).await;
    assert_eq!(a.json()["result"], "complete");
    assert_eq!(
        a.json()["recovery_codes"],
        json!([]),
        "only the first enrollment makes codes"
    );
    let state = c.get("/mfa/api/state").await.json();
    let methods = state["methods"].as_array().unwrap().clone();
    assert_eq!(methods.len(), 2);
    let second_id = methods.iter().find(|m| m["is_default"] == false).unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let a = c
        .post_json("/mfa/api/methods/default", &csrf, json!({"id": second_id}))
        .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    let a = c
        .post_json("/mfa/api/recovery-codes", &csrf, json!({}))
        .await;
    assert_eq!(a.json()["recovery_codes"].as_array().unwrap().len(), 10);

    // Sign out and in again by JSON, "sign in another way", remembering the device.
    let csrf_form = c.get("/mfa/security").await.csrf();
    c.post("/mfa/sign-out", &[("csrf", &csrf_form)]).await;
    c.login("kari@contoso.no").await;
    let state = c.get("/mfa/api/state").await.json();
    assert_eq!(state["stage"], "sign_in");
    let csrf = state["csrf"].as_str().unwrap().to_owned();
    let first_id = state["methods"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["is_default"] == false)
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let a = c
        .post_json("/mfa/api/sign-in", &csrf, json!({"method": first_id}))
        .await;
    assert_eq!(a.json()["challenge"]["method"], "text message +47 ••••••67");
    let code = w.sms.last_code_to(&kari_phone()).unwrap();
    let a = c
        .post_json(
            "/mfa/api/verify",
            &csrf,
            json!({"code": code.expose(), "remember": true}),
        )
        .await;
    assert_eq!(a.json()["result"], "signed_in");
    assert_eq!(a.json()["next"], "/app");
    assert!(
        a.headers["set-cookie"]
            .to_str()
            .unwrap()
            .starts_with("mfa_device=")
    );

    // Past the window: settings need a step-up, by JSON too.
    w.clock.advance(Duration::from_secs(11 * 60));
    let a = c
        .post_json("/mfa/api/methods/remove", &csrf, json!({"id": first_id}))
        .await;
    assert_eq!(a.status, StatusCode::FORBIDDEN);
    assert_eq!(a.json()["error"], "step_up_needed");
    let a = c.post_json("/mfa/api/sign-in", &csrf, json!({})).await;
    assert_eq!(a.json()["challenge"]["step"], "step_up");
    let code = w.sms.last_code_to(&second).unwrap();
    let a = c
        .post_json("/mfa/api/verify", &csrf, json!({"code": code.expose()}))
        .await;
    assert_eq!(a.json()["result"], "stepped_up");
    let a = c
        .post_json("/mfa/api/methods/remove", &csrf, json!({"id": first_id}))
        .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    assert_eq!(a.json()["methods"].as_array().unwrap().len(), 1);
    // Removing a factor forgot the device; forgetting it again is refused.
    let a = c
        .post_json(
            "/mfa/api/devices/forget",
            &csrf,
            json!({"id": "0011223344556677"}),
        )
        .await;
    assert_eq!(a.status, StatusCode::CONFLICT);
    assert!(
        w.mfa
            .devices(&mfa_core::UserId::new("kari@contoso.no").unwrap())
            .await
            .unwrap()
            .is_empty()
    );
    // A call check with nothing open, and a bad recovery code.
    let a = c.post_json("/mfa/api/verify/call", &csrf, json!({})).await;
    assert_eq!(a.json()["error"], "nothing_open");
    let a = c
        .post_json("/mfa/api/recovery", &csrf, json!({"code": "nope"}))
        .await;
    assert_eq!(a.json()["error"], "wrong_recovery_code");
}

#[tokio::test]
async fn the_method_page_offers_the_app_first_and_phone_codes_carry_the_risk_notice() {
    let w = world();
    let mut c = Client::new(&w);
    c.login("kari@contoso.no").await;
    let page = c.get("/mfa/enroll/method").await;
    let app = page.body.find("value=\"app\"").unwrap();
    let sms = page.body.find("value=\"sms\"").unwrap();
    let office = page.body.find("value=\"office\"").unwrap();
    assert!(app < sms && sms < office);
    c.post(
        "/mfa/enroll/method",
        &[
            ("csrf", &page.csrf()),
            ("kind", "sms"),
            ("number", "+4741234567"),
        ],
    )
    .await;
    let page = c.get("/mfa/verify").await;
    assert!(page.body.contains("id=\"risk-notice\""));
    assert!(page.body.contains("The authenticator app is safer."));
}

#[tokio::test]
async fn sends_are_limited_per_client_address_behind_a_trusted_proxy() {
    let mut policy = Policy::default();
    policy.send_limits.per_client = mfa_core::policy::RateLimit::new(2, Duration::from_secs(3600));
    let trusting = support::world_configured(policy.clone(), |b| b.trust_forwarded_for(true));
    let ignoring = support::world_configured(policy, |b| b);
    for (w, limited) in [(&trusting, true), (&ignoring, false)] {
        let mut last = StatusCode::OK;
        for i in 0..3 {
            let mut c = Client::new(w);
            // Each user is new; one address pumps SMS through all of them.
            c.forwarded_for = Some("198.51.100.9, 203.0.113.7");
            c.login(&format!("user{i}@contoso.no")).await;
            let csrf = c.get("/mfa/enroll/method").await.csrf();
            let number = format!("+479000000{i}");
            let a = c
                .post(
                    "/mfa/enroll/method",
                    &[("csrf", &csrf), ("kind", "sms"), ("number", &number)],
                )
                .await;
            last = a.status;
            if a.status == StatusCode::TOO_MANY_REQUESTS {
                assert!(a.headers.contains_key(RETRY_AFTER));
            }
        }
        assert_eq!(last == StatusCode::TOO_MANY_REQUESTS, limited, "{last}");
    }
}

#[tokio::test]
async fn the_freshness_guard_sends_a_half_signed_in_session_to_the_flow() {
    use axum::routing::get;
    let w = world();
    // A bare application: the guard alone stands before its settings.
    let app = axum::Router::new()
        .route(
            "/login",
            axum::routing::post(
                |axum::extract::State(web): axum::extract::State<mfa_web::MfaWeb>,
                 session: tower_sessions::Session| async move {
                    let user = mfa_core::UserId::new("kari@contoso.no").unwrap();
                    web.password_passed(&session, &user).await.unwrap()
                },
            ),
        )
        .route(
            "/settings",
            get(|_: mfa_web::FreshSecondFactor| async { "settings" }),
        )
        .with_state(w.web.clone())
        .layer(mfa_web::memory_sessions(Duration::from_secs(60)));
    use tower::ServiceExt;
    let res = app
        .clone()
        .oneshot(
            axum::http::Request::post("/login")
                .body(axum::body::Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    let cookie = res.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    let res = app
        .oneshot(
            axum::http::Request::get("/settings")
                .header("cookie", cookie)
                .body(axum::body::Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    // Half signed in: sent to the flow before anything else is looked at.
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(res.headers()["location"], "/mfa");
}

#[tokio::test]
async fn a_call_not_yet_answered_does_not_advance_the_session() {
    let w = world();
    let mut c = Client::new(&w);
    c.login("kari@contoso.no").await;
    let csrf = c.get("/mfa/enroll/method").await.csrf();
    // The phone rings; nobody has pressed # yet.
    let a = c
        .post(
            "/mfa/enroll/method",
            &[("csrf", &csrf), ("kind", "call"), ("number", "+4741234567")],
        )
        .await;
    assert_eq!(a.location(), "/mfa/verify");
    let a = c.post("/mfa/verify/call", &[("csrf", &csrf)]).await;
    assert_eq!(a.status, StatusCode::ACCEPTED);
    assert!(a.body.contains("not heard back from the call yet"));
    assert_eq!(
        c.post("/mfa/complete", &[("csrf", &csrf)]).await.status,
        StatusCode::CONFLICT
    );
    assert_eq!(c.get("/app").await.location(), "/mfa");
    // The callee presses #; the provider reports it; Check now verifies.
    let call = w.voice.pending_calls().pop().unwrap();
    let played = w.voice.press(&call.request.challenge_id, "#").unwrap();
    let mfa_voice::CallEnd::Outcome(outcome) = played.end else {
        panic!("no outcome")
    };
    w.mfa
        .report_call(&call.request.user, &call.request.challenge_id, outcome)
        .await
        .unwrap();
    let a = c.post("/mfa/verify/call", &[("csrf", &csrf)]).await;
    assert_eq!(a.location(), "/mfa/verify");
    let a = c.post("/mfa/complete", &[("csrf", &csrf)]).await;
    assert_eq!(a.status, StatusCode::OK);
    assert_eq!(c.get("/app").await.status, StatusCode::OK);
}

#[tokio::test]
async fn an_expired_code_says_so_and_offers_a_new_start() {
    let w = world();
    let mut c = Client::new(&w);
    c.login("kari@contoso.no").await;
    let csrf = c.get("/mfa/enroll/method").await.csrf();
    c.post(
        "/mfa/enroll/method",
        &[("csrf", &csrf), ("kind", "sms"), ("number", "+4741234567")],
    )
    .await;
    let code = w.sms.last_code_to(&kari_phone()).unwrap();
    w.clock.advance(Duration::from_secs(5 * 60));
    let a = c
        .post("/mfa/verify", &[("csrf", &csrf), ("code", code.expose())])
        .await;
    assert_eq!(a.status, StatusCode::GONE);
    assert!(a.body.contains("The code has expired"), "{}", a.body);
    // The method page again, to start over.
    assert!(a.body.contains("Send me a code by text message"));
    assert_eq!(c.get("/app").await.location(), "/mfa");
    assert_eq!(c.get("/mfa").await.location(), "/mfa/enroll");
}

#[tokio::test]
async fn a_method_is_renamed_on_the_security_page_and_by_json() {
    let w = world();
    let mut c = enrolled_by_sms(&w).await;
    let kari = mfa_core::UserId::new("kari@contoso.no").unwrap();
    let id = w.mfa.methods(&kari).await.unwrap()[0]
        .id
        .as_str()
        .to_owned();
    let page = c.get("/mfa/security").await;
    let csrf = page.csrf();
    assert!(
        page.body
            .contains(&format!("<label for=\"name-{id}\">Name</label>")),
        "{}",
        page.body
    );
    let a = c
        .post(
            "/mfa/security/rename",
            &[("method", &id), ("name", "Phone")],
        )
        .await;
    assert_eq!(a.status, StatusCode::FORBIDDEN, "no CSRF token, no change");

    // Named, and shown escaped on the security page.
    let a = c
        .post(
            "/mfa/security/rename",
            &[
                ("csrf", &csrf),
                ("method", &id),
                ("name", "Kari's <b>phone</b>"),
            ],
        )
        .await;
    assert_eq!(a.location(), "/mfa/security", "{}", a.body);
    let page = c.get("/mfa/security").await;
    assert!(
        page.body.contains("&#60;b&#62;phone&#60;/b&#62;"),
        "{}",
        page.body
    );
    assert!(!page.body.contains("<b>phone</b>"));
    assert_eq!(
        w.mfa.methods(&kari).await.unwrap()[0]
            .name
            .as_ref()
            .unwrap()
            .as_str(),
        "Kari's <b>phone</b>"
    );
    for bad in ["", &"x".repeat(65)] {
        let a = c
            .post(
                "/mfa/security/rename",
                &[("csrf", &csrf), ("method", &id), ("name", bad)],
            )
            .await;
        assert_eq!(a.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", a.body);
        assert!(a.body.contains("Give a name of 1 to 64 characters."));
    }

    // A second phone by JSON; it may not take the first one's name.
    let csrf = c.api_csrf().await;
    let second = mfa_core::PhoneNumber::parse("+4790000001").unwrap();
    c.post_json(
        "/mfa/api/enroll",
        &csrf,
        json!({"kind": "sms", "number": "+4790000001"}),
    )
    .await;
    let code = w.sms.last_code_to(&second).unwrap();
    c.post_json("/mfa/api/verify", &csrf, json!({"code": code.expose()}))
        .await;
    c.post_json("/mfa/api/complete", &csrf, json!({})).await;
    let state = c.get("/mfa/api/state").await.json();
    let second_id = state["methods"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["id"] != id.as_str())
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let a = c
        .post_json(
            "/mfa/api/methods/rename",
            &csrf,
            json!({"id": second_id, "name": "KARI'S <B>PHONE</B>"}),
        )
        .await;
    assert_eq!(a.json()["error"], "name_taken", "{}", a.body);
    let a = c
        .post_json(
            "/mfa/api/methods/rename",
            &csrf,
            json!({"id": second_id, "name": "Work phone"}),
        )
        .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    let renamed = a.json()["methods"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["id"] == second_id.as_str())
        .unwrap()
        .clone();
    assert_eq!(renamed["name"], "Work phone");

    // Past the window: a rename needs a step-up, on the page and by JSON.
    w.clock.advance(Duration::from_secs(11 * 60));
    let a = c
        .post_json(
            "/mfa/api/methods/rename",
            &csrf,
            json!({"id": second_id, "name": "Old phone"}),
        )
        .await;
    assert_eq!(a.status, StatusCode::FORBIDDEN);
    assert_eq!(a.json()["error"], "step_up_needed");
    let csrf = c.get("/mfa/security").await.csrf();
    let a = c
        .post(
            "/mfa/security/rename",
            &[("csrf", &csrf), ("method", &id), ("name", "Old phone")],
        )
        .await;
    assert_eq!(a.location(), "/mfa/step-up");
    let names: Vec<_> = w
        .mfa
        .methods(&kari)
        .await
        .unwrap()
        .into_iter()
        .filter_map(|m| m.name.map(|n| n.as_str().to_owned()))
        .collect();
    assert!(!names.contains(&"Old phone".to_owned()), "{names:?}");
}
