//! The HTML pages: a GET shows where the flow stands; a POST carries the session's
//! CSRF token, acts, and redirects (303) to the next page, or answers with the page
//! again and the problem (its status, and `Retry-After` when it passes with time).

use askama::Template;
use axum::Router;
use axum::extract::{Form, Query, State};
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE, SET_COOKIE};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use tower_sessions::Session;

use crate::MfaWeb;
use crate::actions::{Checked, Choice, ChoiceFields, Stage, Visit};
use crate::api::EnrollKind;
use crate::flow::Step;
use crate::lang::Lang;
use crate::problem::Problem;
use crate::render::{
    base, capitalized, current, html, not_signed_in, render_access_pass, render_code,
    render_method, render_security, render_sign_in, see_other, with_problem,
};
use crate::request::Req;
use crate::views::CompletePage;

pub(crate) fn routes() -> Router<MfaWeb> {
    Router::new()
        .route("/", get(entry))
        .route("/enroll", get(enroll_page))
        .route("/enroll/method", get(method_page).post(choose_method))
        .route("/verify", get(code_page).post(check_code))
        .route("/verify/call", post(check_call))
        .route("/verify/passkey", post(check_passkey))
        .route("/verify/resend", post(resend))
        .route("/verify/cancel", post(cancel))
        .route("/complete", post(complete))
        .route("/sign-in", get(sign_in_page).post(start_sign_in))
        .route("/sign-in/recovery", post(recovery_sign_in))
        .route(
            "/sign-in/access-pass",
            get(access_pass_page).post(access_pass_sign_in),
        )
        .route("/step-up", get(step_up_page))
        .route("/security", get(security_page))
        .route("/security/change-number", get(change_number_page))
        .route("/security/default", post(set_default))
        .route("/security/remove", post(remove))
        .route("/security/rename", post(rename))
        .route("/security/recovery-codes", post(regenerate))
        .route("/security/devices/forget", post(forget_device))
        .route("/security/language", post(set_locale))
        .route("/language", post(language))
        .route("/sign-out", post(sign_out))
        .route("/webotp.js", get(webotp))
        .route("/passkey.js", get(passkey_js))
}

/// The passkey page's script: the WebAuthn call with the server's options.
async fn passkey_js() -> Response {
    (
        [
            (CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (CACHE_CONTROL, "public, max-age=86400"),
        ],
        include_str!("passkey.js"),
    )
        .into_response()
}

/// The WebOTP enhancement of the SMS code page (the page works without it).
async fn webotp() -> Response {
    (
        [
            (CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (CACHE_CONTROL, "public, max-age=86400"),
        ],
        include_str!("webotp.js"),
    )
        .into_response()
}

// ---- forms ----------------------------------------------------------------------
// Every field is optional so a malformed form reaches the CSRF check and a typed
// problem, never a framework rejection that skips them.

#[derive(Debug, Deserialize, Default)]
#[serde(default)]
struct CsrfForm {
    csrf: Option<String>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(default)]
struct MethodForm {
    csrf: Option<String>,
    kind: String,
    country: Option<u16>,
    number: String,
    extension: String,
    replaces: Option<String>,
    /// The email address, for `kind=email`.
    address: String,
    /// The name the user gives a passkey.
    name: String,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct CodeForm {
    csrf: Option<String>,
    code: String,
    remember: Option<String>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(default)]
struct PasskeyForm {
    csrf: Option<String>,
    /// The JSON of the browser's `PublicKeyCredential`, written in by passkey.js.
    response: String,
    remember: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct AccessPassForm {
    csrf: Option<String>,
    pass: String,
}

// Codes and passes are secrets: Debug leaves them out.
impl std::fmt::Debug for CodeForm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CodeForm")
            .field("code_len", &self.code.len())
            .field("remember", &self.remember.is_some())
            .finish_non_exhaustive()
    }
}

impl std::fmt::Debug for AccessPassForm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccessPassForm")
            .field("pass_len", &self.pass.len())
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Deserialize, Default)]
#[serde(default)]
struct MethodIdForm {
    csrf: Option<String>,
    method: Option<String>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(default)]
struct RenameForm {
    csrf: Option<String>,
    method: String,
    name: String,
}

#[derive(Debug, Deserialize, Default)]
#[serde(default)]
struct DeviceForm {
    csrf: Option<String>,
    device: String,
}

#[derive(Debug, Deserialize, Default)]
#[serde(default)]
struct LangForm {
    csrf: Option<String>,
    lang: String,
}

#[derive(Debug, Deserialize)]
struct LocaleForm {
    csrf: Option<String>,
    /// `en`, `nb`, or empty for "as my browser asks".
    #[serde(default)]
    locale: String,
}

#[derive(Debug, Deserialize, Default)]
#[serde(default)]
struct MethodQuery {
    method: String,
}

// ---- answers --------------------------------------------------------------------

/// The visit, or the page that says there is none.
async fn visit(web: &MfaWeb, session: Session, headers: &Req) -> Result<Visit, Response> {
    Visit::open(web.clone(), session, headers)
        .await
        .map_err(|p| not_signed_in(web, &headers.headers, &p))
}

/// Answers a failed step: the page the flow now stands on, with the problem.
async fn fail(mut v: Visit, problem: Problem) -> Response {
    if v.save().await.is_err() {
        return not_signed_in(&v.web, &HeaderMap::new(), &Problem::Unavailable);
    }
    match problem {
        Problem::StepUpNeeded => return see_other(&format!("{}/step-up", v.web.prefix())),
        Problem::NotSignedIn => return not_signed_in(&v.web, &HeaderMap::new(), &problem),
        _ => {}
    }
    let response = current(&mut v, Some(&problem)).await;
    if response.status().is_success() {
        with_problem(response, &problem)
    } else {
        response
    }
}

// ---- GET ------------------------------------------------------------------------

async fn entry(State(web): State<MfaWeb>, session: Session, headers: Req) -> Response {
    let mut v = match visit(&web, session, &headers).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    match v.try_remembered_device().await {
        Ok(true) => return see_other(&web.inner.after_sign_in),
        Ok(false) => {}
        Err(p) => return fail(v, p).await,
    }
    let to = match v.stage().await {
        Ok(Stage::EnrollmentRequired) => "/enroll",
        Ok(Stage::Answering | Stage::Verified) => "/verify",
        Ok(Stage::SignIn) => "/sign-in",
        Ok(Stage::Done) => "/security",
        Ok(Stage::Suspended) => return current(&mut v, None).await,
        Err(p) => return fail(v, p).await,
    };
    see_other(&format!("{}{to}", web.prefix()))
}

/// The page for `want`, or a redirect to the entry when the flow is elsewhere.
async fn page_at(web: &MfaWeb, session: Session, headers: &Req, want: &[Stage]) -> Response {
    let mut v = match visit(web, session, headers).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    match v.stage().await {
        Ok(stage) if want.contains(&stage) => current(&mut v, None).await,
        Ok(_) => see_other(web.prefix()),
        Err(p) => fail(v, p).await,
    }
}

async fn enroll_page(State(web): State<MfaWeb>, session: Session, headers: Req) -> Response {
    page_at(&web, session, &headers, &[Stage::EnrollmentRequired]).await
}

async fn code_page(State(web): State<MfaWeb>, session: Session, headers: Req) -> Response {
    page_at(
        &web,
        session,
        &headers,
        &[Stage::Answering, Stage::Verified],
    )
    .await
}

async fn sign_in_page(State(web): State<MfaWeb>, session: Session, headers: Req) -> Response {
    page_at(&web, session, &headers, &[Stage::SignIn]).await
}

async fn security_page(State(web): State<MfaWeb>, session: Session, headers: Req) -> Response {
    page_at(&web, session, &headers, &[Stage::Done]).await
}

async fn method_page(State(web): State<MfaWeb>, session: Session, headers: Req) -> Response {
    let mut v = match visit(&web, session, &headers).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    match v.stage().await {
        Ok(Stage::EnrollmentRequired) => render_method(&mut v, None, None),
        // Adding a method needs a fresh second factor first.
        Ok(Stage::Done) if v.fresh_proof().is_none() => {
            see_other(&format!("{}/step-up", web.prefix()))
        }
        Ok(Stage::Done) => render_method(&mut v, None, None),
        Ok(_) => see_other(web.prefix()),
        Err(p) => fail(v, p).await,
    }
}

async fn change_number_page(
    State(web): State<MfaWeb>,
    session: Session,
    headers: Req,
    Query(q): Query<MethodQuery>,
) -> Response {
    let mut v = match visit(&web, session, &headers).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    match v.stage().await {
        Ok(Stage::Done) if v.fresh_proof().is_none() => {
            see_other(&format!("{}/step-up", web.prefix()))
        }
        Ok(Stage::Done) if mfa_core::MethodId::parse(&q.method).is_ok() => {
            let r = render_method(&mut v, Some(q.method), None);
            let _ = v.save().await;
            r
        }
        _ => see_other(web.prefix()),
    }
}

async fn step_up_page(State(web): State<MfaWeb>, session: Session, headers: Req) -> Response {
    let mut v = match visit(&web, session, &headers).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    if !v.flow.done {
        return see_other(web.prefix());
    }
    let r = render_sign_in(&mut v, true, None).await;
    let _ = v.save().await;
    r
}

// ---- POST -----------------------------------------------------------------------

/// Opens the visit and checks the CSRF token, or answers.
async fn posted(
    web: &MfaWeb,
    session: Session,
    headers: &Req,
    csrf: Option<&str>,
) -> Result<Visit, Response> {
    let v = visit(web, session, headers).await?;
    match v.check_csrf(csrf) {
        Ok(()) => Ok(v),
        Err(p) => Err(fail(v, p).await),
    }
}

async fn choose_method(
    State(web): State<MfaWeb>,
    session: Session,
    headers: Req,
    Form(f): Form<MethodForm>,
) -> Response {
    let mut v = match posted(&web, session, &headers, f.csrf.as_deref()).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let Some(kind) = EnrollKind::from_form(&f.kind) else {
        return fail(v, Problem::BadNumber).await;
    };
    let choice = Choice::from_fields(
        ChoiceFields {
            kind,
            country: f.country,
            number: f.number,
            extension: f.extension,
            address: f.address,
            name: f.name,
        },
        web.mfa().policy().countries.home,
    );
    match v.enroll(&choice, f.replaces.as_deref()).await {
        Ok(Some(provisioning)) => {
            // The key is shown by this response only.
            let r = render_code(&mut v, Some(&provisioning), None);
            match v.save().await {
                Ok(()) => r,
                Err(p) => fail(v, p).await,
            }
        }
        Ok(None) => match v.save().await {
            Ok(()) => see_other(&format!("{}/verify", web.prefix())),
            Err(p) => fail(v, p).await,
        },
        Err(Problem::NothingOpen) if f.replaces.is_some() => fail(v, Problem::NothingOpen).await,
        Err(p) => {
            if p == Problem::StepUpNeeded {
                return see_other(&format!("{}/step-up", web.prefix()));
            }
            // Back to the method page with the problem, the flow unchanged.
            let _ = v.save().await;
            let r = render_method(&mut v, f.replaces, Some(&p));
            with_problem(r, &p)
        }
    }
}

/// Where a passed check sends the browser.
async fn after_check(v: Visit, checked: Checked) -> Response {
    if let Err(p) = v.save().await {
        return fail(v, p).await;
    }
    let outcome = v.outcome(checked);
    let mut r = see_other(&outcome.page);
    if let Some(cookie) = outcome.cookie {
        r.headers_mut().insert(SET_COOKIE, cookie);
    }
    r
}

async fn check_code(
    State(web): State<MfaWeb>,
    session: Session,
    headers: Req,
    Form(f): Form<CodeForm>,
) -> Response {
    let mut v = match posted(&web, session, &headers, f.csrf.as_deref()).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    match v.check(&f.code, f.remember.is_some()).await {
        Ok(checked) => after_check(v, checked).await,
        Err(p) => fail(v, p).await,
    }
}

async fn check_call(
    State(web): State<MfaWeb>,
    session: Session,
    headers: Req,
    Form(f): Form<CodeForm>,
) -> Response {
    let mut v = match posted(&web, session, &headers, f.csrf.as_deref()).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    match v.check_call(f.remember.is_some()).await {
        Ok(checked) => after_check(v, checked).await,
        Err(p) => fail(v, p).await,
    }
}

async fn check_passkey(
    State(web): State<MfaWeb>,
    session: Session,
    headers: Req,
    Form(f): Form<PasskeyForm>,
) -> Response {
    let mut v = match posted(&web, session, &headers, f.csrf.as_deref()).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    match v.check_passkey(&f.response, f.remember.is_some()).await {
        Ok(checked) => after_check(v, checked).await,
        Err(p) => fail(v, p).await,
    }
}

/// "Use a temporary access pass": offered wherever the second factor is asked.
async fn access_pass_page(State(web): State<MfaWeb>, session: Session, headers: Req) -> Response {
    let mut v = match visit(&web, session, &headers).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    match v.stage().await {
        Ok(Stage::SignIn | Stage::EnrollmentRequired | Stage::Suspended) => {
            let r = render_access_pass(&mut v, None);
            let _ = v.save().await;
            r
        }
        Ok(_) => see_other(web.prefix()),
        Err(p) => fail(v, p).await,
    }
}

async fn access_pass_sign_in(
    State(web): State<MfaWeb>,
    session: Session,
    headers: Req,
    Form(f): Form<AccessPassForm>,
) -> Response {
    let mut v = match posted(&web, session, &headers, f.csrf.as_deref()).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    match v.access_pass_sign_in(&f.pass).await {
        Ok(checked) => after_check(v, checked).await,
        Err(p) => {
            // The pass page again, with the problem; the pass typed is not echoed.
            let r = render_access_pass(&mut v, Some(&p));
            let _ = v.save().await;
            with_problem(r, &p)
        }
    }
}

async fn resend(
    State(web): State<MfaWeb>,
    session: Session,
    headers: Req,
    Form(f): Form<CsrfForm>,
) -> Response {
    let mut v = match posted(&web, session, &headers, f.csrf.as_deref()).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    match v.resend().await {
        Ok(()) => match v.save().await {
            Ok(()) => see_other(&format!("{}/verify", web.prefix())),
            Err(p) => fail(v, p).await,
        },
        Err(p) => fail(v, p).await,
    }
}

async fn cancel(
    State(web): State<MfaWeb>,
    session: Session,
    headers: Req,
    Form(f): Form<CsrfForm>,
) -> Response {
    let mut v = match posted(&web, session, &headers, f.csrf.as_deref()).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let was = v.flow.challenge.as_ref().map(|c| c.step);
    v.cancel().await;
    if let Err(p) = v.save().await {
        return fail(v, p).await;
    }
    let to = match was {
        Some(Step::Enroll) => "/enroll/method",
        Some(Step::Add | Step::StepUp) => "/security",
        _ => "",
    };
    see_other(&format!("{}{to}", web.prefix()))
}

async fn complete(
    State(web): State<MfaWeb>,
    session: Session,
    headers: Req,
    Form(f): Form<CsrfForm>,
) -> Response {
    let mut v = match posted(&web, session, &headers, f.csrf.as_deref()).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    match v.complete().await {
        Ok(done) => {
            let t = v.lang.texts();
            let next = done
                .next
                .unwrap_or_else(|| format!("{}/security", web.prefix()));
            let page = CompletePage {
                b: base(&mut v, |t| t.complete_title, None),
                body: t
                    .complete_body
                    .replace("{method}", &capitalized(&done.described)),
                codes: done.recovery_codes,
                next,
            };
            match v.save().await {
                Ok(()) => html(StatusCode::OK, page.render()),
                Err(p) => fail(v, p).await,
            }
        }
        Err(p) => fail(v, p).await,
    }
}

async fn start_sign_in(
    State(web): State<MfaWeb>,
    session: Session,
    headers: Req,
    Form(f): Form<MethodIdForm>,
) -> Response {
    let mut v = match posted(&web, session, &headers, f.csrf.as_deref()).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    match v.start_sign_in(f.method.as_deref()).await {
        Ok(()) => match v.save().await {
            Ok(()) => see_other(&format!("{}/verify", web.prefix())),
            Err(p) => fail(v, p).await,
        },
        Err(p) => {
            let step_up = v.flow.done;
            let r = render_sign_in(&mut v, step_up, Some(&p)).await;
            let _ = v.save().await;
            with_problem(r, &p)
        }
    }
}

async fn recovery_sign_in(
    State(web): State<MfaWeb>,
    session: Session,
    headers: Req,
    Form(f): Form<CodeForm>,
) -> Response {
    let mut v = match posted(&web, session, &headers, f.csrf.as_deref()).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    match v.recovery_sign_in(&f.code).await {
        Ok(checked) => after_check(v, checked).await,
        Err(p) => {
            let step_up = v.flow.done;
            let r = render_sign_in(&mut v, step_up, Some(&p)).await;
            let _ = v.save().await;
            with_problem(r, &p)
        }
    }
}

/// A settings change: done, then back to the security page saying so.
async fn changed(mut v: Visit, result: Result<(), Problem>) -> Response {
    match result {
        Ok(()) => {
            v.flow.changed = true;
            match v.save().await {
                Ok(()) => see_other(&format!("{}/security", v.web.prefix())),
                Err(p) => fail(v, p).await,
            }
        }
        Err(p) => fail(v, p).await,
    }
}

async fn set_default(
    State(web): State<MfaWeb>,
    session: Session,
    headers: Req,
    Form(f): Form<MethodIdForm>,
) -> Response {
    let mut v = match posted(&web, session, &headers, f.csrf.as_deref()).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let result = v.set_default(f.method.as_deref().unwrap_or_default()).await;
    changed(v, result).await
}

async fn remove(
    State(web): State<MfaWeb>,
    session: Session,
    headers: Req,
    Form(f): Form<MethodIdForm>,
) -> Response {
    let mut v = match posted(&web, session, &headers, f.csrf.as_deref()).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let result = v.remove(f.method.as_deref().unwrap_or_default()).await;
    changed(v, result).await
}

async fn rename(
    State(web): State<MfaWeb>,
    session: Session,
    headers: Req,
    Form(f): Form<RenameForm>,
) -> Response {
    let mut v = match posted(&web, session, &headers, f.csrf.as_deref()).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let result = v.rename(&f.method, &f.name).await;
    changed(v, result).await
}

async fn forget_device(
    State(web): State<MfaWeb>,
    session: Session,
    headers: Req,
    Form(f): Form<DeviceForm>,
) -> Response {
    let mut v = match posted(&web, session, &headers, f.csrf.as_deref()).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let result = v.forget_device(&f.device).await;
    changed(v, result).await
}

async fn regenerate(
    State(web): State<MfaWeb>,
    session: Session,
    headers: Req,
    Form(f): Form<CsrfForm>,
) -> Response {
    let mut v = match posted(&web, session, &headers, f.csrf.as_deref()).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    match v.regenerate().await {
        // Shown by this response only.
        Ok(codes) => {
            let r = render_security(&mut v, codes, None).await;
            let _ = v.save().await;
            r
        }
        Err(p) => fail(v, p).await,
    }
}

async fn language(
    State(web): State<MfaWeb>,
    session: Session,
    headers: Req,
    Form(f): Form<LangForm>,
) -> Response {
    let mut v = match posted(&web, session, &headers, f.csrf.as_deref()).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    v.flow.lang = Lang::from_tag(&f.lang);
    match v.save().await {
        Ok(()) => see_other(web.prefix()),
        Err(p) => fail(v, p).await,
    }
}

/// The security-info page's language form: stores the user's locale.
async fn set_locale(
    State(web): State<MfaWeb>,
    session: Session,
    headers: Req,
    Form(f): Form<LocaleForm>,
) -> Response {
    let mut v = match posted(&web, session, &headers, f.csrf.as_deref()).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let result = v.set_locale(f.locale.trim()).await;
    changed(v, result).await
}

async fn sign_out(
    State(web): State<MfaWeb>,
    session: Session,
    headers: Req,
    Form(f): Form<CsrfForm>,
) -> Response {
    let v = match posted(&web, session, &headers, f.csrf.as_deref()).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    match web.sign_out(&v.session).await {
        Ok(()) => see_other(&web.inner.sign_in_url),
        Err(_) => fail(v, Problem::Unavailable).await,
    }
}
