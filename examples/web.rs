//! The whole guide in a browser: a toy password page, the `mfa-web` pages nested under
//! `/mfa`, and an "inbox" showing the simulated phone's text messages and calls, all
//! on the memory backends. The inbox page also plays the helpdesk: it issues a
//! Temporary Access Pass, so the lost-phone journey (pass → sign in → set up a new
//! method) can be clicked through.
//!
//! ```text
//! cargo run --example web --features web      # then open http://127.0.0.1:3000
//! PORT=8080 cargo run --example web --features web
//! cargo run --example web --features web,passkey   # then open http://localhost:3000
//! ```
//!
//! With the `passkey` feature the method page also offers a passkey, checked by
//! webauthn-rs for the relying party `localhost`: open the pages as
//! `http://localhost:PORT`, the origin the passkeys are bound to (browsers treat
//! localhost as a secure context, so WebAuthn works there without TLS).
//!
//! Any user name written as `user@domain` signs in with the password `demo`. The
//! session and device cookies are `Secure`: browsers keep those on
//! `http://127.0.0.1` and `http://localhost`, not on other plain-HTTP hosts.

use std::sync::Arc;
use std::time::Duration;

use mfa::sms::{MemorySms, SmsDelivery};
use mfa::totp::Totp;
use mfa::voice::{CallEnd, CallState, MemoryVoice};
use mfa::web::axum::extract::{Form, State};
use mfa::web::axum::response::{Html, IntoResponse, Redirect, Response};
use mfa::web::axum::routing::{get, post};
use mfa::web::axum::{Extension, Router};
use mfa::web::tower_sessions::Session;
use mfa::web::{MfaWeb, SecondFactor, SignInHook, SignedIn};
use mfa::{AccessPassOptions, CallOutcome, ChallengeId, Mfa, Policy, UserId};
use serde::Deserialize;

type Error = Box<dyn std::error::Error>;

/// What the application's pages share.
#[derive(Clone)]
struct App {
    web: MfaWeb,
    sms: MemorySms,
    voice: MemoryVoice,
}

/// Prints each completed sign-in, as an application would audit it.
struct Audit;

#[mfa::web::async_trait]
impl SignInHook for Audit {
    async fn signed_in(&self, done: &SignedIn) {
        println!(
            "signed in: {} ({})",
            done.user,
            if done.remembered_device {
                "remembered device"
            } else if done.access_pass {
                "temporary access pass"
            } else if done.enrolled {
                "just enrolled"
            } else {
                "second factor"
            }
        );
    }
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn page(title: &str, body: &str) -> Html<String> {
    Html(format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{title}</title><style>body{{font-family:system-ui,sans-serif;max-width:40rem;\
         margin:2rem auto;padding:0 1rem}} li{{margin:.5rem 0}} label{{display:block;margin-top:.6rem}}\
         </style></head><body><h1>{title}</h1>{body}\
         <p><a href=\"/\">Sign-in page</a> · <a href=\"/mfa\">Second factor</a> · \
         <a href=\"/inbox\">Inbox (the simulated phone)</a></p></body></html>"
    ))
}

async fn login_page() -> Html<String> {
    page(
        "Sign in to Contoso",
        "<form method=\"post\" action=\"/login\">\
         <label for=\"user\">User name (user@domain)</label>\
         <input id=\"user\" name=\"user\" type=\"email\" autocomplete=\"username\" required>\
         <label for=\"password\">Password (demo)</label>\
         <input id=\"password\" name=\"password\" type=\"password\" autocomplete=\"current-password\" required>\
         <p><button type=\"submit\">Sign in</button></p></form>",
    )
}

#[derive(Deserialize)]
struct Login {
    user: String,
    password: String,
}

/// The application's own password step; then the second factor takes over.
async fn login(State(app): State<App>, session: Session, Form(f): Form<Login>) -> Response {
    let Ok(user) = UserId::username(&f.user) else {
        return page(
            "Sign in to Contoso",
            "<p>Write the user name as user@domain.</p>",
        )
        .into_response();
    };
    if f.password != "demo" {
        return page("Sign in to Contoso", "<p>Wrong password.</p>").into_response();
    }
    match app.web.password_passed(&session, &user).await {
        Ok(next) => Redirect::to(&next).into_response(),
        Err(e) => page("Sign in to Contoso", &escape(&e.to_string())).into_response(),
    }
}

/// A page only a user with both factors sees.
async fn home(signed_in: SecondFactor) -> Html<String> {
    page(
        "Welcome",
        &format!(
            "<p>Signed in as {}.</p><p><a href=\"/mfa/security\">Security info</a></p>",
            escape(signed_in.user.as_str())
        ),
    )
}

/// The simulated phone: every text message and call, newest first, and a button to
/// answer a ringing call and press `#`.
async fn inbox(State(app): State<App>) -> Html<String> {
    let mut items = Vec::new();
    for sms in app.sms.sent().iter().rev() {
        items.push(format!(
            "<li><strong>SMS to {}</strong>: {}</li>",
            sms.to.masked(),
            escape(&sms.text)
        ));
    }
    for call in app.voice.calls().iter().rev() {
        let state = match &call.state {
            CallState::InProgress => format!(
                "<form method=\"post\" action=\"/inbox/answer\">\
                 <input type=\"hidden\" name=\"challenge\" value=\"{}\">\
                 <button type=\"submit\">Answer and press #</button></form>",
                call.request.challenge_id
            ),
            CallState::Ended(p) => match p.end {
                CallEnd::Outcome(CallOutcome::Confirmed) => "(answered, # pressed)".to_owned(),
                CallEnd::Outcome(_) => "(answered, reported as fraud)".to_owned(),
                CallEnd::CodeRead => "(answered, code read out)".to_owned(),
                _ => "(ended without a key)".to_owned(),
            },
            CallState::NotConnected(_) => "(not connected)".to_owned(),
        };
        items.push(format!(
            "<li><strong>Call to {}</strong>: \"{}\" {state}</li>",
            call.request.destination.number.masked(),
            escape(&call.script.spoken_text())
        ));
    }
    if items.is_empty() {
        items.push("<li>Nothing yet.</li>".to_owned());
    }
    page(
        "Inbox",
        &format!(
            "<p>What the simulated phones received. <a href=\"/inbox\">Reload</a></p><ul>{}</ul>\
             <h2>Helpdesk</h2><form method=\"post\" action=\"/helpdesk/access-pass\">\
             <label for=\"pass-user\">Issue a Temporary Access Pass (one use) for</label>\
             <input id=\"pass-user\" name=\"user\" type=\"email\" required>\
             <p><button type=\"submit\">Issue</button></p></form>",
            items.join("")
        ),
    )
}

#[derive(Deserialize)]
struct PassFor {
    user: String,
}

/// The helpdesk issues a one-use pass and shows it this once, as an administrator
/// would read it out to the user.
async fn issue_access_pass(State(app): State<App>, Form(f): Form<PassFor>) -> Response {
    let Ok(user) = UserId::username(&f.user) else {
        return page("Helpdesk", "<p>Write the user name as user@domain.</p>").into_response();
    };
    match app
        .web
        .mfa()
        .issue_access_pass(&user, AccessPassOptions::once())
        .await
    {
        Ok(issued) => {
            let mut r = page(
                "Helpdesk",
                &format!(
                    "<p>Temporary Access Pass for {}: <code>{}</code> (one use). On the \
                     sign-in page, \"Sign in another way\", then \"Use a temporary access \
                     pass\".</p>",
                    escape(user.as_str()),
                    escape(&issued.pass.expose())
                ),
            )
            .into_response();
            r.headers_mut().insert(
                mfa::web::axum::http::header::CACHE_CONTROL,
                mfa::web::axum::http::HeaderValue::from_static("no-store"),
            );
            r
        }
        Err(e) => page("Helpdesk", &escape(&e.to_string())).into_response(),
    }
}

#[derive(Deserialize)]
struct Answer {
    challenge: String,
}

/// The simulated callee answers: `#` at the extension prompt if there is one, then `#`;
/// the outcome goes back to `Mfa` as a voice provider's webhook would send it.
async fn answer(State(app): State<App>, Form(f): Form<Answer>) -> Redirect {
    let Ok(id) = ChallengeId::parse(&f.challenge) else {
        return Redirect::to("/inbox");
    };
    let call = app
        .voice
        .calls()
        .into_iter()
        .find(|c| c.request.challenge_id == id);
    if let Some(call) = call {
        let keys = if call.request.destination.extension.is_some() {
            "##"
        } else {
            "#"
        };
        if let Some(played) = app.voice.press(&id, keys) {
            if let CallEnd::Outcome(outcome) = played.end {
                let _ = app
                    .web
                    .mfa()
                    .report_call(&call.request.user, &id, outcome)
                    .await;
            }
        }
    }
    Redirect::to("/inbox")
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    let sms = MemorySms::new();
    let voice = MemoryVoice::new();
    let mut policy = Policy::default();
    policy.app_name = "Contoso".to_owned();
    policy.countries.home = Some(47);
    let port = std::env::var("PORT").unwrap_or_else(|_| "3000".to_owned());
    let listener = tokio::net::TcpListener::bind(format!("127.0.0.1:{port}")).await?;
    let port = listener.local_addr()?.port();
    let builder = Mfa::builder()
        .sms(SmsDelivery::new(sms.clone()))
        .voice(voice.clone())
        .app(Totp::default())
        .issuer("Contoso")
        .policy(policy);
    // Passkeys are bound to the origin the browser shows: this one, on localhost.
    #[cfg(feature = "passkey")]
    let (builder, open) = {
        let origin = format!("http://localhost:{port}");
        let verifier = mfa::webauthn::WebauthnPasskeys::new("localhost", &origin, "Contoso")?;
        (builder.passkeys(verifier), origin)
    };
    #[cfg(not(feature = "passkey"))]
    let open = format!("http://127.0.0.1:{port}");
    let mfa = builder.build()?;
    let web = MfaWeb::builder(Arc::new(mfa))
        .prefix("/mfa")
        .after_sign_in("/app")
        .sign_in_url("/")
        .on_sign_in(Audit)
        .build();
    let app = App {
        web: web.clone(),
        sms,
        voice,
    };
    let router = Router::new()
        .route("/", get(login_page))
        .route("/login", post(login))
        .route("/app", get(home))
        .route("/inbox", get(inbox))
        .route("/inbox/answer", post(answer))
        .route("/helpdesk/access-pass", post(issue_access_pass))
        .with_state(app)
        .nest(web.prefix(), web.router())
        .layer(Extension(web.clone()))
        .layer(mfa::web::memory_sessions(Duration::from_secs(30 * 60)));
    println!("Open {open}/ (password: demo)");
    // With the connection's address, so sends are limited per client too.
    let service = router.into_make_service_with_connect_info::<std::net::SocketAddr>();
    mfa::web::axum::serve(listener, service).await?;
    Ok(())
}
