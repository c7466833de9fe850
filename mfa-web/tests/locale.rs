//! The page language from the user's stored locale, and the security-info form that
//! sets it, in-process.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use axum::http::StatusCode;
use mfa_core::{Locale, UserId};
use support::{Client, enrolled_by_sms, world};

fn kari() -> UserId {
    UserId::username("kari@contoso.no").unwrap()
}

fn lang_of(body: &str) -> &str {
    let at = body.find("<html lang=\"").expect("a lang attribute") + 12;
    &body[at..at + body[at..].find('"').unwrap()]
}

#[tokio::test]
async fn a_half_signed_in_users_stored_locale_wins_over_accept_language() {
    let w = world();
    w.mfa
        .set_locale(&kari(), Some(Locale::parse("nb-NO").unwrap()))
        .await
        .unwrap();
    let mut c = Client::new(&w);
    c.language = Some("en-US,en;q=0.9");
    c.login("kari@contoso.no").await;
    let a = c.get("/mfa/enroll").await;
    assert_eq!(lang_of(&a.body), "nb", "{}", a.body);
    assert!(a.body.contains("Konfigurer nå"));

    // The footer's switch is this session's own choice, over the stored one.
    let csrf = a.csrf();
    c.post("/mfa/language", &[("csrf", &csrf), ("lang", "en")])
        .await;
    assert_eq!(lang_of(&c.get("/mfa/enroll").await.body), "en");
}

#[tokio::test]
async fn a_stored_locale_the_pages_lack_falls_back_to_accept_language_then_english() {
    let w = world();
    w.mfa
        .set_locale(&kari(), Some(Locale::parse("de-DE").unwrap()))
        .await
        .unwrap();
    let mut c = Client::new(&w);
    c.language = Some("de, nb;q=0.8");
    c.login("kari@contoso.no").await;
    assert_eq!(lang_of(&c.get("/mfa/enroll").await.body), "nb");

    let mut c = Client::new(&w);
    c.login("kari@contoso.no").await;
    assert_eq!(lang_of(&c.get("/mfa/enroll").await.body), "en");
}

#[tokio::test]
async fn the_security_page_stores_the_language_behind_its_csrf_token() {
    let w = world();
    let mut c = enrolled_by_sms(&w).await;
    c.language = Some("en");
    let page = c.get("/mfa/security").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(
        page.body.contains("action=\"/mfa/security/language\""),
        "{}",
        page.body
    );
    assert!(page.body.contains("<label for=\"locale\">"));
    let csrf = page.csrf();

    // Without the session's token nothing changes.
    for bad in [None, Some("not-the-token")] {
        let mut form = vec![("locale", "nb")];
        if let Some(t) = bad {
            form.push(("csrf", t));
        }
        let a = c.post("/mfa/security/language", &form).await;
        assert_eq!(a.status, StatusCode::FORBIDDEN, "{bad:?}");
    }
    assert_eq!(w.mfa.locale(&kari()).await.unwrap(), None);

    // A language the pages do not have is refused, and nothing changes.
    let a = c
        .post(
            "/mfa/security/language",
            &[("csrf", &csrf), ("locale", "de")],
        )
        .await;
    assert_eq!(a.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(w.mfa.locale(&kari()).await.unwrap(), None);

    let a = c
        .post(
            "/mfa/security/language",
            &[("csrf", &csrf), ("locale", "nb")],
        )
        .await;
    assert_eq!(a.status, StatusCode::SEE_OTHER, "{}", a.body);
    assert_eq!(a.location(), "/mfa/security");
    assert_eq!(
        w.mfa.locale(&kari()).await.unwrap(),
        Some(Locale::parse("nb").unwrap())
    );
    let page = c.get("/mfa/security").await;
    assert_eq!(lang_of(&page.body), "nb", "over Accept-Language: en");
    assert!(page.body.contains("Sikkerhetsinformasjonen er oppdatert."));
    assert!(
        page.body
            .contains("<option value=\"nb\" lang=\"nb\" selected>")
    );

    // Another session of the same user, another browser: the stored language.
    let mut other = Client::new(&w);
    other.language = Some("en");
    other.login("kari@contoso.no").await;
    let a = other.get("/mfa/sign-in").await;
    assert_eq!(lang_of(&a.body), "nb", "{}", a.body);

    // Back to following the browser.
    let a = c
        .post("/mfa/security/language", &[("csrf", &csrf), ("locale", "")])
        .await;
    assert_eq!(a.location(), "/mfa/security");
    assert_eq!(w.mfa.locale(&kari()).await.unwrap(), None);
    assert_eq!(lang_of(&c.get("/mfa/security").await.body), "en");
}

#[tokio::test]
async fn a_half_signed_in_session_cannot_set_the_language() {
    let w = world();
    enrolled_by_sms(&w).await;
    let mut c = Client::new(&w);
    c.login("kari@contoso.no").await;
    let csrf = c.get("/mfa/sign-in").await.csrf();
    let a = c
        .post(
            "/mfa/security/language",
            &[("csrf", &csrf), ("locale", "nb")],
        )
        .await;
    assert_eq!(a.status, StatusCode::UNAUTHORIZED, "{}", a.body);
    assert_eq!(w.mfa.locale(&kari()).await.unwrap(), None);
}

/// `POST api/language`, the JSON form of the security page's language setting: behind
/// the session's token, for a finished sign-in, and only a language the pages speak.
/// The state it answers with names the stored language.
#[tokio::test]
async fn the_json_api_stores_the_language_behind_its_csrf_token() {
    let w = world();
    let mut c = enrolled_by_sms(&w).await;
    let csrf = c.api_csrf().await;

    let a = c
        .post_json(
            "/mfa/api/language",
            "not-the-token",
            serde_json::json!({"locale": "nb"}),
        )
        .await;
    assert_eq!(a.status, StatusCode::FORBIDDEN, "{}", a.body);
    let a = c
        .post_json(
            "/mfa/api/language",
            &csrf,
            serde_json::json!({"locale": "de"}),
        )
        .await;
    assert_eq!(a.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", a.body);
    assert_eq!(w.mfa.locale(&kari()).await.unwrap(), None);

    let a = c
        .post_json(
            "/mfa/api/language",
            &csrf,
            serde_json::json!({"locale": "nb"}),
        )
        .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    assert_eq!(a.json()["language"], "nb", "{}", a.body);
    assert_eq!(
        w.mfa.locale(&kari()).await.unwrap(),
        Some(Locale::parse("nb").unwrap())
    );
    let state = c.get("/mfa/api/state").await;
    assert_eq!(state.json()["language"], "nb", "{}", state.body);

    // Back to following the browser.
    let a = c
        .post_json(
            "/mfa/api/language",
            &csrf,
            serde_json::json!({"locale": ""}),
        )
        .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    assert_eq!(a.json()["language"], serde_json::Value::Null);
    assert_eq!(w.mfa.locale(&kari()).await.unwrap(), None);

    // A password alone does not change it.
    let mut half = Client::new(&w);
    half.login("kari@contoso.no").await;
    let csrf = half.api_csrf().await;
    let a = half
        .post_json(
            "/mfa/api/language",
            &csrf,
            serde_json::json!({"locale": "nb"}),
        )
        .await;
    assert_eq!(a.status, StatusCode::UNAUTHORIZED, "{}", a.body);
    assert_eq!(w.mfa.locale(&kari()).await.unwrap(), None);
}
