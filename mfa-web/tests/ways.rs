//! Passkeys, email codes and the Temporary Access Pass through the router: the pages
//! and the JSON API, in-process.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use axum::http::StatusCode;
use mfa_core::{AccessPassOptions, Policy, UserId};
use serde_json::json;
use support::{
    Client, attribute, enrolled_by_sms, kari_email, set_up_sms, soft_answer, world, world_with,
    world_with_passkeys,
};

fn email_allowed() -> Policy {
    let mut policy = Policy::default();
    policy.allow_email = true;
    policy
}

/// A well-formed pass that is not `pass`.
fn another_pass(pass: &str) -> String {
    let other = if pass.starts_with('2') { "3" } else { "2" };
    format!("{other}{}", &pass[1..])
}

fn kari() -> UserId {
    UserId::new("kari@contoso.no").unwrap()
}

/// Posts the page's passkey form with `response`.
async fn answer_passkey(c: &mut Client, csrf: &str, response: &str) -> support::Answer {
    c.post(
        "/mfa/verify/passkey",
        &[("csrf", csrf), ("response", response)],
    )
    .await
}

#[tokio::test]
async fn a_passkey_is_offered_first_named_registered_and_signs_in_first() {
    let w = world_with_passkeys(Policy::default());
    let mut c = Client::new(&w);
    c.login("kari@contoso.no").await;
    let page = c.get("/mfa/enroll/method").await;
    let passkey_at = page.body.find("Create a passkey").expect("a passkey offer");
    let app_at = page.body.find("Use verification code through app").unwrap();
    assert!(passkey_at < app_at, "the passkey comes first");
    assert!(page.body.contains("<label for=\"passkey-name\">"));
    drop(c);

    // Kari has SMS as her default; she adds a passkey, named.
    let mut c = enrolled_by_sms(&w).await;
    let csrf = c.get("/mfa/enroll/method").await.csrf();
    let a = c
        .post(
            "/mfa/enroll/method",
            &[("csrf", &csrf), ("kind", "passkey"), ("name", "Laptop")],
        )
        .await;
    assert_eq!(a.status, StatusCode::SEE_OTHER, "{}", a.body);
    assert_eq!(a.location(), "/mfa/verify");
    let page = c.get("/mfa/verify").await;
    assert_eq!(page.status, StatusCode::OK);
    assert_eq!(
        attribute(&page.body, "passkey-form", "data-ceremony"),
        "create"
    );
    assert!(
        page.body
            .contains("<script src=\"/mfa/passkey.js\" defer></script>")
    );
    let csp = page.headers["content-security-policy"].to_str().unwrap();
    assert!(csp.contains("script-src 'self'"), "{csp}");
    let options = attribute(&page.body, "passkey-form", "data-options");

    // An answer to another ceremony does not verify and costs an attempt.
    let stale = soft_answer(&options, "laptop-key").replace("challenge-", "challenge-0");
    let a = answer_passkey(&mut c, &csrf, &stale).await;
    assert_eq!(a.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(a.body.contains("did not verify"), "{}", a.body);
    // Not WebAuthn at all: a typed problem, never a panic.
    let a = answer_passkey(&mut c, &csrf, "{not json").await;
    assert_eq!(a.status, StatusCode::UNPROCESSABLE_ENTITY);
    // Without the CSRF token: refused.
    let a = answer_passkey(&mut c, "wrong", &soft_answer(&options, "laptop-key")).await;
    assert_eq!(a.status, StatusCode::FORBIDDEN);

    let a = answer_passkey(&mut c, &csrf, &soft_answer(&options, "laptop-key")).await;
    assert_eq!(a.location(), "/mfa/verify", "{}", a.body);
    assert!(c.get("/mfa/verify").await.body.contains("Verified"));
    let a = c.post("/mfa/complete", &[("csrf", &csrf)]).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    assert!(a.body.contains("Passkey"), "{}", a.body);
    let security = c.get("/mfa/security").await;
    assert!(security.body.contains("Laptop"), "{}", security.body);

    // Sign in again: the passkey first, SMS under "sign in another way".
    c.post("/mfa/sign-out", &[("csrf", &csrf)]).await;
    c.login("kari@contoso.no").await;
    let page = c.get("/mfa/sign-in").await;
    let first = page.body.find("id=\"sign-in-default\"").unwrap();
    let another = page.body.find("<summary>").unwrap();
    let passkey = page.body.find("Sign in with your passkey").unwrap();
    let sms = page.body.find("••••••67").unwrap();
    assert!(first < passkey && passkey < another && another < sms);
    let csrf = page.csrf();
    let sent = w.sms.sent().len();
    let a = c.post("/mfa/sign-in", &[("csrf", &csrf)]).await;
    assert_eq!(a.location(), "/mfa/verify");
    assert_eq!(w.sms.sent().len(), sent, "no code is sent for a passkey");
    let page = c.get("/mfa/verify").await;
    assert_eq!(
        attribute(&page.body, "passkey-form", "data-ceremony"),
        "get"
    );
    let options = attribute(&page.body, "passkey-form", "data-options");
    assert!(options.contains("laptop-key"));
    // A passkey that is not hers does not sign in.
    let a = answer_passkey(&mut c, &csrf, &soft_answer(&options, "someone-else")).await;
    assert_eq!(a.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(c.get("/app").await.location(), "/mfa");
    let a = answer_passkey(&mut c, &csrf, &soft_answer(&options, "laptop-key")).await;
    assert_eq!(a.location(), "/app", "{}", a.body);
    assert_eq!(c.get("/app").await.status, StatusCode::OK);
    // The answer of a finished ceremony answers nothing.
    let a = answer_passkey(&mut c, &csrf, &soft_answer(&options, "laptop-key")).await;
    assert_ne!(a.status, StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn the_passkey_script_is_served_by_the_router() {
    let w = world_with_passkeys(Policy::default());
    let mut c = Client::new(&w);
    let a = c.get("/mfa/passkey.js").await;
    assert_eq!(a.status, StatusCode::OK);
    assert!(
        a.headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/javascript")
    );
    for part in [
        "navigator.credentials.create",
        "navigator.credentials.get",
        "parseCreationOptionsFromJSON",
        "parseRequestOptionsFromJSON",
    ] {
        assert!(a.body.contains(part), "passkey.js lacks {part}");
    }
}

#[tokio::test]
async fn without_a_passkey_verifier_no_passkey_is_offered() {
    let w = world();
    let mut c = Client::new(&w);
    c.login("kari@contoso.no").await;
    let page = c.get("/mfa/enroll/method").await;
    assert!(!page.body.contains("Create a passkey"));
    let a = c
        .post(
            "/mfa/enroll/method",
            &[
                ("csrf", &page.csrf()),
                ("kind", "passkey"),
                ("name", "Laptop"),
            ],
        )
        .await;
    assert_ne!(a.status, StatusCode::SEE_OTHER);
    assert_eq!(c.get("/mfa").await.location(), "/mfa/enroll");
}

#[tokio::test]
async fn the_json_api_registers_and_signs_in_with_a_passkey() {
    let w = world_with_passkeys(Policy::default());
    let mut c = Client::new(&w);
    c.login("kari@contoso.no").await;
    let csrf = c.api_csrf().await;
    let a = c
        .post_json(
            "/mfa/api/enroll",
            &csrf,
            json!({"kind": "passkey", "name": "Phone"}),
        )
        .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    let challenge = &a.json()["state"]["challenge"];
    assert_eq!(challenge["answering"], "passkey");
    let options = challenge["passkey_options"].as_str().unwrap().to_owned();
    let a = c
        .post_json(
            "/mfa/api/verify/passkey",
            &csrf,
            json!({"response": soft_answer(&options, "phone-key")}),
        )
        .await;
    assert_eq!(a.json()["result"], "verified", "{}", a.body);
    let a = c.post_json("/mfa/api/complete", &csrf, json!({})).await;
    assert_eq!(a.json()["result"], "complete", "{}", a.body);
    assert_eq!(c.get("/app").await.status, StatusCode::OK);

    c.post("/mfa/sign-out", &[("csrf", &csrf)]).await;
    c.login("kari@contoso.no").await;
    let state = c.get("/mfa/api/state").await.json();
    assert_eq!(state["stage"], "sign_in");
    let csrf = state["csrf"].as_str().unwrap().to_owned();
    let a = c.post_json("/mfa/api/sign-in", &csrf, json!({})).await;
    let options = a.json()["challenge"]["passkey_options"]
        .as_str()
        .unwrap()
        .to_owned();
    let a = c
        .post_json(
            "/mfa/api/verify/passkey",
            &csrf,
            json!({"response": soft_answer(&options, "other-key")}),
        )
        .await;
    assert_eq!(a.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(a.json()["error"], "passkey_rejected", "{}", a.body);
    let a = c
        .post_json(
            "/mfa/api/verify/passkey",
            &csrf,
            json!({"response": soft_answer(&options, "phone-key")}),
        )
        .await;
    assert_eq!(a.json()["result"], "signed_in", "{}", a.body);
    assert_eq!(c.get("/app").await.status, StatusCode::OK);
}

#[tokio::test]
async fn email_is_offered_only_when_the_policy_allows_it() {
    let w = world();
    let mut c = Client::new(&w);
    c.login("kari@contoso.no").await;
    let page = c.get("/mfa/enroll/method").await;
    assert!(!page.body.contains("Email me a code"));
    let a = c
        .post(
            "/mfa/enroll/method",
            &[
                ("csrf", &page.csrf()),
                ("kind", "email"),
                ("address", "kari@contoso.no"),
            ],
        )
        .await;
    assert_eq!(a.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(w.email.sent().is_empty());
}

#[tokio::test]
async fn email_enrolls_and_signs_in_like_sms() {
    let w = world_with(email_allowed());
    let mut c = Client::new(&w);
    c.login("kari@contoso.no").await;
    let page = c.get("/mfa/enroll/method").await;
    assert!(page.body.contains("Email me a code"));
    assert!(page.body.contains("<label for=\"address\">"));
    let csrf = page.csrf();
    let a = c
        .post(
            "/mfa/enroll/method",
            &[
                ("csrf", &csrf),
                ("kind", "email"),
                ("address", "not an address"),
            ],
        )
        .await;
    assert_eq!(a.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(a.body.contains("role=\"alert\""));
    assert!(w.email.sent().is_empty());
    let a = c
        .post(
            "/mfa/enroll/method",
            &[
                ("csrf", &csrf),
                ("kind", "email"),
                ("address", "kari@contoso.no"),
            ],
        )
        .await;
    assert_eq!(a.location(), "/mfa/verify", "{}", a.body);
    let code = w.email.last_code_to(&kari_email()).unwrap();
    let page = c.get("/mfa/verify").await;
    assert!(page.body.contains("We have sent an email"), "{}", page.body);
    assert!(page.body.contains("autocomplete=\"one-time-code\""));
    assert!(
        !page.body.contains("kari@contoso.no"),
        "the address is masked"
    );
    assert!(!page.body.contains(code.expose()));
    let wrong = if code.expose() == "000000" {
        "111111"
    } else {
        "000000"
    };
    let a = c
        .post("/mfa/verify", &[("csrf", &csrf), ("code", wrong)])
        .await;
    assert_eq!(a.status, StatusCode::UNPROCESSABLE_ENTITY);
    let a = c
        .post("/mfa/verify", &[("csrf", &csrf), ("code", code.expose())])
        .await;
    assert_eq!(a.location(), "/mfa/verify");
    let a = c.post("/mfa/complete", &[("csrf", &csrf)]).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    assert_eq!(c.get("/app").await.status, StatusCode::OK);

    c.post("/mfa/sign-out", &[("csrf", &csrf)]).await;
    c.login("kari@contoso.no").await;
    let page = c.get("/mfa/sign-in").await;
    assert!(page.body.contains("email"), "{}", page.body);
    let csrf = page.csrf();
    let a = c.post("/mfa/sign-in", &[("csrf", &csrf)]).await;
    assert_eq!(a.location(), "/mfa/verify");
    let code = w.email.last_code_to(&kari_email()).unwrap();
    let a = c
        .post("/mfa/verify", &[("csrf", &csrf), ("code", code.expose())])
        .await;
    assert_eq!(a.location(), "/app");
    for url in &c.urls {
        assert!(
            !url.contains("kari%40") && !url.contains(code.expose()),
            "{url}"
        );
    }
}

#[tokio::test]
async fn the_json_api_enrolls_by_email() {
    let w = world_with(email_allowed());
    let mut c = Client::new(&w);
    c.login("kari@contoso.no").await;
    let csrf = c.api_csrf().await;
    let a = c
        .post_json(
            "/mfa/api/enroll",
            &csrf,
            json!({"kind": "email", "address": "kari@contoso.no"}),
        )
        .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    assert_eq!(a.json()["state"]["challenge"]["answering"], "email");
    let code = w.email.last_code_to(&kari_email()).unwrap();
    let a = c
        .post_json("/mfa/api/verify", &csrf, json!({"code": code.expose()}))
        .await;
    assert_eq!(a.json()["result"], "verified");
}

#[tokio::test]
async fn a_temporary_access_pass_signs_in_once_and_sets_up_a_new_method() {
    let w = world();
    let mut c = enrolled_by_sms(&w).await;
    c.sign_out().await;
    // Kari lost her phone; the administrator issues a pass.
    let issued = w
        .mfa
        .issue_access_pass(&kari(), AccessPassOptions::once())
        .await
        .unwrap();
    let pass = issued.pass.expose();

    c.login("kari@contoso.no").await;
    let page = c.get("/mfa/sign-in").await;
    assert!(
        page.body
            .contains("href=\"/mfa/sign-in/access-pass\">Use a temporary access pass</a>"),
        "{}",
        page.body
    );
    let page = c.get("/mfa/sign-in/access-pass").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("<label for=\"access-pass\">"));
    assert!(page.body.contains("autocomplete=\"off\""));
    let csrf = page.csrf();
    let a = c
        .post(
            "/mfa/sign-in/access-pass",
            &[("csrf", "x"), ("pass", &pass)],
        )
        .await;
    assert_eq!(a.status, StatusCode::FORBIDDEN);
    let wrong = "ABCDE-FGHJK-LMNPQ-RSTUV-WXYZ2";
    let a = c
        .post(
            "/mfa/sign-in/access-pass",
            &[("csrf", &csrf), ("pass", wrong)],
        )
        .await;
    assert_eq!(a.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(a.body.contains("role=\"alert\""));
    let a = c
        .post(
            "/mfa/sign-in/access-pass",
            &[("csrf", &csrf), ("pass", "nonsense")],
        )
        .await;
    assert_eq!(a.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(c.get("/app").await.location(), "/mfa");

    let a = c
        .post(
            "/mfa/sign-in/access-pass",
            &[("csrf", &csrf), ("pass", &pass)],
        )
        .await;
    assert_eq!(a.status, StatusCode::SEE_OTHER, "{}", a.body);
    assert_eq!(a.location(), "/mfa/enroll/method");
    assert_eq!(c.get("/app").await.status, StatusCode::OK);
    {
        let hooks = w.signed_in.lock().unwrap();
        let last = hooks.last().unwrap();
        assert!(last.access_pass && last.method.is_none());
    }
    // The pass is the proof to set up a new method: the app, here.
    let page = c.get("/mfa/enroll/method").await;
    assert_eq!(page.status, StatusCode::OK);
    let csrf = page.csrf();
    let a = c
        .post("/mfa/enroll/method", &[("csrf", &csrf), ("kind", "app")])
        .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    assert!(a.body.contains("id=\"manual-key\""));
    for url in &c.urls {
        assert!(!url.contains(&pass) && !url.contains(&pass[..5]), "{url}");
    }

    // Used once: it signs in no more.
    c.post("/mfa/sign-out", &[("csrf", &csrf)]).await;
    c.login("kari@contoso.no").await;
    let csrf = c.get("/mfa/sign-in/access-pass").await.csrf();
    let a = c
        .post(
            "/mfa/sign-in/access-pass",
            &[("csrf", &csrf), ("pass", &pass)],
        )
        .await;
    assert_eq!(a.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(c.get("/app").await.location(), "/mfa");
}

#[tokio::test]
async fn a_new_user_sets_up_a_method_after_an_access_pass() {
    let w = world();
    let issued = w
        .mfa
        .issue_access_pass(&kari(), AccessPassOptions::once())
        .await
        .unwrap();
    let mut c = Client::new(&w);
    c.login("kari@contoso.no").await;
    let page = c.get("/mfa/enroll").await;
    assert!(page.body.contains("href=\"/mfa/sign-in/access-pass\""));
    let csrf = c.get("/mfa/sign-in/access-pass").await.csrf();
    let a = c
        .post(
            "/mfa/sign-in/access-pass",
            &[("csrf", &csrf), ("pass", &issued.pass.expose())],
        )
        .await;
    assert_eq!(a.location(), "/mfa/enroll/method", "{}", a.body);
    let a = set_up_sms(&mut c, &w, &csrf).await;
    let status = w.mfa.status(&kari()).await.unwrap();
    assert!(
        matches!(status, mfa_core::Status::Enrolled { .. }),
        "{status:?}"
    );
    // Her first method: the recovery codes are shown, as after a first enrollment.
    let recovery = first_recovery_code(&a.body);
    assert!(
        w.mfa
            .verify_recovery_code(&kari(), &recovery)
            .await
            .unwrap()
            .is_some()
    );
}

/// The first recovery code a page shows.
fn first_recovery_code(body: &str) -> String {
    let at = body
        .find("id=\"recovery-codes\"><li>")
        .unwrap_or_else(|| panic!("recovery codes shown: {body}"));
    let rest = &body[at + "id=\"recovery-codes\"><li>".len()..];
    rest[..rest.find('<').unwrap()].to_owned()
}

#[tokio::test]
async fn after_a_reset_and_a_pass_the_first_method_shows_recovery_codes() {
    let w = world();
    let mut c = enrolled_by_sms(&w).await;
    c.sign_out().await;
    // Kari lost everything: the administrator resets her and issues a pass.
    w.mfa.reset_user(&kari()).await.unwrap();
    let issued = w
        .mfa
        .issue_access_pass(&kari(), AccessPassOptions::once())
        .await
        .unwrap();
    c.login("kari@contoso.no").await;
    let csrf = c.get("/mfa/sign-in/access-pass").await.csrf();
    let a = c
        .post(
            "/mfa/sign-in/access-pass",
            &[("csrf", &csrf), ("pass", &issued.pass.expose())],
        )
        .await;
    assert_eq!(a.location(), "/mfa/enroll/method", "{}", a.body);
    let csrf = c.get("/mfa/enroll/method").await.csrf();
    let a = set_up_sms(&mut c, &w, &csrf).await;
    let recovery = first_recovery_code(&a.body);
    assert!(
        w.mfa
            .verify_recovery_code(&kari(), &recovery)
            .await
            .unwrap()
            .is_some()
    );
}

#[tokio::test]
async fn the_json_api_signs_in_with_an_access_pass() {
    let w = world();
    let mut c = enrolled_by_sms(&w).await;
    c.sign_out().await;
    let issued = w
        .mfa
        .issue_access_pass(&kari(), AccessPassOptions::once())
        .await
        .unwrap();
    c.login("kari@contoso.no").await;
    let csrf = c.api_csrf().await;
    let a = c
        .post_json(
            "/mfa/api/access-pass",
            &csrf,
            json!({"code": another_pass(&issued.pass.expose())}),
        )
        .await;
    assert_eq!(a.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(a.json()["error"], "wrong_access_pass", "{}", a.body);
    let a = c
        .post_json(
            "/mfa/api/access-pass",
            &csrf,
            json!({"code": issued.pass.expose()}),
        )
        .await;
    assert_eq!(a.json()["result"], "signed_in", "{}", a.body);
    let a = c
        .post_json("/mfa/api/enroll", &csrf, json!({"kind": "app"}))
        .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
}

#[test]
fn a_typed_pass_or_code_never_shows_in_debug() {
    let pass = "ABCDE-FGHJK-LMNPQ-RSTUV-WXYZ2";
    let request = mfa_web::CodeRequest {
        code: pass.to_owned(),
        remember: true,
    };
    let shown = format!("{request:?}");
    assert!(!shown.contains("ABCDE"), "{shown}");
    assert!(shown.contains("remember: true"), "{shown}");
}

/// Sets up Kari's first method, a passkey named `name`, through the pages; returns
/// her client (signed in) and the page's CSRF token.
async fn enrolled_by_passkey(w: &support::World, name: &str, key: &str) -> (Client, String) {
    let mut c = Client::new(w);
    c.login("kari@contoso.no").await;
    let csrf = c.get("/mfa/enroll/method").await.csrf();
    let a = c
        .post(
            "/mfa/enroll/method",
            &[("csrf", &csrf), ("kind", "passkey"), ("name", name)],
        )
        .await;
    assert_eq!(a.location(), "/mfa/verify", "{}", a.body);
    let options = attribute(
        &c.get("/mfa/verify").await.body,
        "passkey-form",
        "data-options",
    );
    let a = answer_passkey(&mut c, &csrf, &soft_answer(&options, key)).await;
    assert_eq!(a.location(), "/mfa/verify", "{}", a.body);
    let a = c.post("/mfa/complete", &[("csrf", &csrf)]).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    assert!(a.body.contains("id=\"recovery-codes\""));
    (c, csrf)
}

#[tokio::test]
async fn several_passkeys_each_named_and_a_passkey_steps_up() {
    let w = world_with_passkeys(Policy::default());
    let (mut c, csrf) = enrolled_by_passkey(&w, "Laptop", "laptop-key").await;
    assert_eq!(c.get("/app").await.status, StatusCode::OK);

    // A second passkey: its name must differ from the first's.
    let a = c
        .post(
            "/mfa/enroll/method",
            &[("csrf", &csrf), ("kind", "passkey"), ("name", "Laptop")],
        )
        .await;
    assert_eq!(a.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", a.body);
    assert!(a.body.contains("has that name already"), "{}", a.body);
    let a = c
        .post(
            "/mfa/enroll/method",
            &[("csrf", &csrf), ("kind", "passkey"), ("name", "")],
        )
        .await;
    assert_eq!(a.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", a.body);
    let a = c
        .post(
            "/mfa/enroll/method",
            &[
                ("csrf", &csrf),
                ("kind", "passkey"),
                ("name", "Security key"),
            ],
        )
        .await;
    assert_eq!(a.location(), "/mfa/verify", "{}", a.body);
    let options = attribute(
        &c.get("/mfa/verify").await.body,
        "passkey-form",
        "data-options",
    );
    let a = answer_passkey(&mut c, &csrf, &soft_answer(&options, "yubikey")).await;
    assert_eq!(a.location(), "/mfa/verify");
    let a = c.post("/mfa/complete", &[("csrf", &csrf)]).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    assert!(a.body.contains("href=\"/mfa/security\""));
    let page = c.get("/mfa/security").await;
    assert!(page.body.contains("Passkey (Laptop)") && page.body.contains("Passkey (Security key)"));

    // Later, outside the re-authentication window: a passkey steps up.
    w.clock.advance(std::time::Duration::from_secs(3600));
    let a = c
        .post("/mfa/security/recovery-codes", &[("csrf", &csrf)])
        .await;
    assert_eq!(a.location(), "/mfa/step-up");
    let page = c.get("/mfa/step-up").await;
    assert!(
        page.body.contains("Sign in with your passkey"),
        "{}",
        page.body
    );
    let default_at = page.body.find("id=\"sign-in-default\"").unwrap();
    assert!(
        page.body[default_at..].starts_with("id=\"sign-in-default\">Sign in with your passkey")
    );
    let a = c.post("/mfa/sign-in", &[("csrf", &csrf)]).await;
    assert_eq!(a.location(), "/mfa/verify");
    let page = c.get("/mfa/verify").await;
    assert_eq!(
        attribute(&page.body, "passkey-form", "data-ceremony"),
        "get"
    );
    assert!(
        !page.body.contains("id=\"remember\""),
        "no remembering at step-up"
    );
    let options = attribute(&page.body, "passkey-form", "data-options");
    let a = answer_passkey(&mut c, &csrf, &soft_answer(&options, "yubikey")).await;
    assert_eq!(a.location(), "/mfa/security", "{}", a.body);
    let a = c
        .post("/mfa/security/recovery-codes", &[("csrf", &csrf)])
        .await;
    assert_eq!(a.status, StatusCode::OK);
    assert!(a.body.contains("id=\"recovery-codes\""));
}

#[tokio::test]
async fn after_a_reset_and_a_pass_the_json_apis_completion_carries_recovery_codes() {
    let w = world();
    let mut c = enrolled_by_sms(&w).await;
    c.sign_out().await;
    w.mfa.reset_user(&kari()).await.unwrap();
    let issued = w
        .mfa
        .issue_access_pass(&kari(), AccessPassOptions::once())
        .await
        .unwrap();
    c.login("kari@contoso.no").await;
    let csrf = c.api_csrf().await;
    let a = c
        .post_json(
            "/mfa/api/access-pass",
            &csrf,
            json!({"code": issued.pass.expose()}),
        )
        .await;
    assert_eq!(a.json()["result"], "signed_in", "{}", a.body);
    c.post_json(
        "/mfa/api/enroll",
        &csrf,
        json!({"kind": "sms", "number": "+4741234567"}),
    )
    .await;
    let code = w.sms.last_code_to(&support::kari_phone()).unwrap();
    c.post_json("/mfa/api/verify", &csrf, json!({"code": code.expose()}))
        .await;
    let a = c.post_json("/mfa/api/complete", &csrf, json!({})).await;
    assert_eq!(a.json()["result"], "complete", "{}", a.body);
    let codes = a.json()["recovery_codes"].as_array().unwrap().clone();
    assert_eq!(codes.len(), Policy::default().recovery_codes, "{}", a.body);
    assert!(
        w.mfa
            .verify_recovery_code(&kari(), codes[0].as_str().unwrap())
            .await
            .unwrap()
            .is_some()
    );
}
