//! The HTML pages: a GET shows where the flow stands; a POST carries the session's
//! CSRF token, acts, and redirects (303) to the next page, or answers with the page
//! again and the problem (its status, and `Retry-After` when it passes with time).

use askama::Template;
use axum::Router;
use axum::extract::{Form, Query, State};
use axum::http::header::{
    CACHE_CONTROL, CONTENT_SECURITY_POLICY, CONTENT_TYPE, REFERRER_POLICY, RETRY_AFTER, SET_COOKIE,
    X_CONTENT_TYPE_OPTIONS, X_FRAME_OPTIONS,
};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use mfa_core::{MethodKind, MethodStatus, PhoneMode};
use serde::Deserialize;
use tower_sessions::Session;

use crate::MfaWeb;
use crate::actions::{Checked, Choice, Stage, Visit, describe};
use crate::flow::{Answering, Step};
use crate::lang::{Lang, Texts};
use crate::problem::Problem;
use crate::request::Req;
use crate::views::{
    Base, COUNTRIES, CodePage, CodeView, CompletePage, Country, DeviceRow, EnrollPage, MessagePage,
    MethodPage, MethodRow, SecurityPage, SignInOption, SignInPage, VerifiedPage,
};

pub(crate) fn routes() -> Router<MfaWeb> {
    Router::new()
        .route("/", get(entry))
        .route("/enroll", get(enroll_page))
        .route("/enroll/method", get(method_page).post(choose_method))
        .route("/verify", get(code_page).post(check_code))
        .route("/verify/call", post(check_call))
        .route("/verify/resend", post(resend))
        .route("/verify/cancel", post(cancel))
        .route("/complete", post(complete))
        .route("/sign-in", get(sign_in_page).post(start_sign_in))
        .route("/sign-in/recovery", post(recovery_sign_in))
        .route("/step-up", get(step_up_page))
        .route("/security", get(security_page))
        .route("/security/change-number", get(change_number_page))
        .route("/security/default", post(set_default))
        .route("/security/remove", post(remove))
        .route("/security/recovery-codes", post(regenerate))
        .route("/security/devices/forget", post(forget_device))
        .route("/language", post(language))
        .route("/sign-out", post(sign_out))
        .route("/webotp.js", get(webotp))
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

/// What every page forbids: framing (clickjacking), scripts but our own, forms to
/// other origins, plugins; images only inline (the QR code is inline SVG).
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'unsafe-inline'; \
     img-src data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

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
}

#[derive(Debug, Deserialize, Default)]
#[serde(default)]
struct CodeForm {
    csrf: Option<String>,
    code: String,
    remember: Option<String>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(default)]
struct MethodIdForm {
    csrf: Option<String>,
    method: Option<String>,
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

#[derive(Debug, Deserialize, Default)]
#[serde(default)]
struct MethodQuery {
    method: String,
}

// ---- rendering ------------------------------------------------------------------

/// Pages hold codes and keys: never cached, never stored.
fn html(status: StatusCode, body: Result<String, askama::Error>) -> Response {
    match body {
        Ok(body) => {
            let mut r = (status, Html(body)).into_response();
            let h = r.headers_mut();
            h.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
            h.insert(CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP));
            h.insert(X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
            h.insert(REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
            h.insert(X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
            r
        }
        Err(_) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}

fn see_other(to: &str) -> Response {
    Redirect::to(to).into_response()
}

fn base(v: &mut Visit, title: fn(&Texts) -> &'static str, alert: Option<&Problem>) -> Base {
    let t = v.lang.texts();
    let changed = std::mem::take(&mut v.flow.changed);
    Base {
        t,
        title: title(t),
        prefix: v.web.prefix().to_owned(),
        csrf: v.flow.csrf.clone(),
        app_name: v.web.mfa().policy().app_name.clone(),
        alert: alert.map(|p| p.message(t)),
        info: changed.then(|| t.changed.to_owned()),
        signed_in: v.flow.done,
    }
}

fn not_signed_in(web: &MfaWeb, headers: &HeaderMap, problem: &Problem) -> Response {
    let lang = Lang::choose(None, headers, &web.mfa().policy().locale);
    let t = lang.texts();
    let status = problem.status();
    let page = MessagePage {
        b: Base {
            t,
            title: if *problem == Problem::NotSignedIn {
                t.not_signed_in
            } else {
                t.unavailable
            },
            prefix: web.prefix().to_owned(),
            csrf: String::new(),
            app_name: web.mfa().policy().app_name.clone(),
            alert: None,
            info: None,
            signed_in: false,
        },
        body: problem.message(t),
        link: Some((web.inner.sign_in_url.clone(), t.continue_.to_owned())),
    };
    html(status, page.render())
}

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
    let mut response = current(&mut v, Some(&problem)).await;
    if response.status().is_success() || response.status().is_redirection() {
        *response.status_mut() = problem.status();
    }
    if let Some(secs) = problem.retry_after() {
        if let Ok(value) = HeaderValue::from_str(&secs.to_string()) {
            response.headers_mut().insert(RETRY_AFTER, value);
        }
    }
    response
}

/// The page for where the flow stands (the problem shown on it, if any).
async fn current(v: &mut Visit, alert: Option<&Problem>) -> Response {
    let stage = match v.stage().await {
        Ok(s) => s,
        Err(p) => return not_signed_in(&v.web, &HeaderMap::new(), &p),
    };
    let response = match stage {
        Stage::EnrollmentRequired if alert.is_none() => html(
            StatusCode::OK,
            EnrollPage {
                b: base(v, |t| t.enroll_title, None),
            }
            .render(),
        ),
        Stage::EnrollmentRequired => render_method(v, None, alert),
        Stage::Answering => render_code(v, None, alert),
        Stage::Verified => render_verified(v, alert),
        Stage::SignIn => render_sign_in(v, false, alert).await,
        Stage::Done => render_security(v, Vec::new(), alert).await,
        Stage::Suspended => {
            let t = v.lang.texts();
            let page = MessagePage {
                b: base(v, |t| t.signin_title, alert),
                body: t.suspended.to_owned(),
                link: None,
            };
            html(StatusCode::LOCKED, page.render())
        }
    };
    let _ = v.save().await;
    response
}

fn render_method(v: &mut Visit, replaces: Option<String>, alert: Option<&Problem>) -> Response {
    let policy = v.web.mfa().policy();
    let home = policy.countries.home;
    let allowed = policy.countries.allowed.clone();
    let lang = v.lang;
    let countries: Vec<Country> = COUNTRIES
        .iter()
        .filter(|(code, _, _)| allowed.as_ref().is_none_or(|a| a.contains(code)))
        .enumerate()
        .map(|(i, (code, en, nb))| Country {
            code: *code,
            name: if lang == Lang::Nb { nb } else { en },
            selected: home.map_or(i == 0, |h| h == *code),
        })
        .collect();
    let offered = v.mfa.offered_methods();
    let t = lang.texts();
    let cost_home = home.map(|h| t.cost_home.replace("{home}", &h.to_string()));
    let page = MethodPage {
        b: base(v, |t| t.method_title, alert),
        countries,
        cost_home,
        offer_app: offered.contains(&MethodKind::AuthenticatorApp),
        offer_phone: offered.contains(&MethodKind::AuthenticationPhone),
        offer_office: offered.contains(&MethodKind::OfficePhone),
        replaces,
        number: String::new(),
    };
    html(StatusCode::OK, page.render())
}

/// The code page. `provisioning` is the app's key, shown by this one response.
fn render_code(
    v: &mut Visit,
    provisioning: Option<&mfa_core::AppProvisioning>,
    alert: Option<&Problem>,
) -> Response {
    let Some(c) = v.flow.challenge.clone() else {
        return see_other(v.web.prefix());
    };
    let t = v.lang.texts();
    let now = v.web.mfa().now().unix_millis();
    let policy = v.web.mfa().policy();
    let intro = match c.answering {
        Answering::Sms => t.code_sms.replace("{to}", &c.to),
        Answering::CallCode => t.code_call.replace("{to}", &c.to),
        Answering::CallKey => t.call_body.replace("{to}", &c.to),
        Answering::App => t.code_app.to_owned(),
    };
    let resend_in = c
        .resend_after
        .map(|at| at.saturating_sub(now).div_ceil(1000));
    let remember_days = policy.remember_device_for.as_secs() / 86_400;
    let (qr_svg, manual_key) = match provisioning {
        Some(p) => (qr_svg(&p.uri), Some(p.manual_entry_key.clone())),
        None => (None, None),
    };
    let key_gone = c.answering == Answering::App
        && c.step.is_enrollment()
        && c.key_shown
        && provisioning.is_none();
    if provisioning.is_some() {
        if let Some(open) = &mut v.flow.challenge {
            open.key_shown = true;
        }
    }
    let view = CodeView {
        intro,
        call_key: c.answering == Answering::CallKey,
        digits: policy.code_digits.max(6),
        resend: resend_in.is_some(),
        resend_in: resend_in.unwrap_or(0),
        resend_note: t
            .resend_wait
            .replace("{secs}", &resend_in.unwrap_or(0).to_string()),
        cost_notice: c.cost_notice.map(|(cc, home)| {
            t.cost_abroad
                .replace("{cc}", &cc.to_string())
                .replace("{home}", &home.to_string())
        }),
        risk_notice: c
            .risk_notice
            .filter(|_| c.step.is_enrollment())
            .map(|app| if app { t.risk_app } else { t.risk }),
        remember: (c.step == Step::SignIn && remember_days > 0)
            .then(|| t.remember.replace("{days}", &remember_days.to_string())),
        qr_svg,
        manual_key,
        key_gone,
        sms: c.answering == Answering::Sms,
    };
    let title: fn(&Texts) -> &'static str = if c.answering == Answering::CallKey {
        |t| t.call_title
    } else {
        |t| t.code_title
    };
    let page = CodePage {
        b: base(v, title, alert),
        c: view,
    };
    html(StatusCode::OK, page.render())
}

/// The QR code of an `otpauth://` URI as inline SVG (no URL carries the secret).
fn qr_svg(uri: &str) -> Option<String> {
    let svg = mfa_totp::KeyUri::parse(uri).ok()?.qr().ok()?.to_svg();
    // Inline SVG takes no XML declaration.
    let start = svg.find("<svg")?;
    Some(svg[start..].to_owned())
}

fn render_verified(v: &mut Visit, alert: Option<&Problem>) -> Response {
    let described = v
        .flow
        .challenge
        .as_ref()
        .map(|c| c.described.clone())
        .unwrap_or_default();
    let body = v.lang.texts().verified_body.replace("{method}", &described);
    let page = VerifiedPage {
        b: base(v, |t| t.verified_title, alert),
        body,
    };
    html(StatusCode::OK, page.render())
}

async fn render_sign_in(v: &mut Visit, step_up: bool, alert: Option<&Problem>) -> Response {
    let methods = match v.web.mfa().methods(&v.user).await {
        Ok(m) => m,
        Err(e) => return fail_render(v, &Problem::from_error(&e)),
    };
    let t = v.lang.texts();
    let mut active: Vec<_> = methods
        .iter()
        .filter(|m| m.status == MethodStatus::Active)
        .collect();
    // The default first.
    active.sort_by_key(|m| !m.is_default);
    let option = |m: &mfa_core::MethodRecord| SignInOption {
        id: m.id.as_str().to_owned(),
        label: t
            .send_code_to
            .replace("{method}", &describe(&m.method, v.lang)),
    };
    let first = active.first().map(|m| option(m));
    let others = active.iter().skip(1).map(|m| option(m)).collect();
    let title: fn(&Texts) -> &'static str = if step_up {
        |t| t.stepup_title
    } else {
        |t| t.signin_title
    };
    let page = SignInPage {
        b: base(v, title, alert),
        step_up,
        first,
        others,
    };
    html(StatusCode::OK, page.render())
}

fn fail_render(v: &mut Visit, problem: &Problem) -> Response {
    let t = v.lang.texts();
    let page = MessagePage {
        b: base(v, |t| t.unavailable, None),
        body: problem.message(t),
        link: None,
    };
    html(problem.status(), page.render())
}

async fn render_security(v: &mut Visit, codes: Vec<String>, alert: Option<&Problem>) -> Response {
    let mfa = v.web.mfa().clone();
    let (methods, devices) = match (mfa.methods(&v.user).await, mfa.devices(&v.user).await) {
        (Ok(m), Ok(d)) => (m, d),
        (Err(e), _) | (_, Err(e)) => return fail_render(v, &Problem::from_error(&e)),
    };
    let t = v.lang.texts();
    let methods = methods
        .iter()
        .filter(|m| m.status != MethodStatus::Pending)
        .map(|m| MethodRow {
            id: m.id.as_str().to_owned(),
            label: capitalized(&describe(&m.method, v.lang)),
            is_default: m.is_default,
            blocked: m.status == MethodStatus::Blocked,
            phone: matches!(
                m.method,
                mfa_core::Method::AuthenticationPhone { .. } | mfa_core::Method::OfficePhone { .. }
            ),
        })
        .collect();
    let devices = devices
        .iter()
        .map(|d| DeviceRow {
            id: d.id.clone(),
            until: t.device_until.replace("{date}", &date(d.expires_at)),
        })
        .collect();
    let page = SecurityPage {
        b: base(v, |t| t.security_title, alert),
        methods,
        devices,
        codes,
    };
    html(StatusCode::OK, page.render())
}

fn capitalized(s: &str) -> String {
    let mut chars = s.chars();
    chars
        .next()
        .map(|c| c.to_uppercase().chain(chars).collect())
        .unwrap_or_default()
}

/// A date as `YYYY-MM-DD` (UTC).
fn date(t: mfa_core::Timestamp) -> String {
    let secs = i64::try_from(t.unix_secs()).unwrap_or(i64::MAX);
    tower_sessions::cookie::time::OffsetDateTime::from_unix_timestamp(secs)
        .map(|d| d.date().to_string())
        .unwrap_or_default()
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
    let country = f
        .country
        .or(web.mfa().policy().countries.home)
        .unwrap_or(47);
    let choice = match f.kind.as_str() {
        "sms" | "call" => Choice::Phone {
            country,
            number: f.number,
            mode: if f.kind == "sms" {
                PhoneMode::Sms
            } else {
                PhoneMode::Call
            },
        },
        "office" => Choice::Office {
            country,
            number: f.number,
            extension: f.extension,
        },
        "app" => Choice::App,
        _ => return fail(v, Problem::BadNumber).await,
    };
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
            // Back to the method page with the problem, the flow unchanged.
            let _ = v.save().await;
            let mut r = render_method(&mut v, f.replaces, Some(&p));
            *r.status_mut() = p.status();
            if let Some(secs) = p.retry_after() {
                if let Ok(value) = HeaderValue::from_str(&secs.to_string()) {
                    r.headers_mut().insert(RETRY_AFTER, value);
                }
            }
            if p == Problem::StepUpNeeded {
                return see_other(&format!("{}/step-up", web.prefix()));
            }
            r
        }
    }
}

/// Where a passed check sends the browser.
async fn after_check(v: Visit, checked: Checked) -> Response {
    let prefix = v.web.prefix().to_owned();
    if let Err(p) = v.save().await {
        return fail(v, p).await;
    }
    match checked {
        Checked::Verified => see_other(&format!("{prefix}/verify")),
        Checked::SteppedUp => see_other(&format!("{prefix}/security")),
        Checked::SignedIn { device_token } => {
            let mut r = see_other(&v.web.inner.after_sign_in);
            if let Some(cookie) = device_token.and_then(|token| {
                crate::device::set_cookie(
                    &token,
                    v.web.mfa().policy().remember_device_for,
                    v.web.inner.secure_cookies,
                )
            }) {
                r.headers_mut().insert(SET_COOKIE, cookie);
            }
            r
        }
    }
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
    let first = v
        .flow
        .challenge
        .as_ref()
        .is_some_and(|c| c.step == Step::Enroll);
    match v.complete().await {
        Ok(done) => {
            let t = v.lang.texts();
            let next = if first {
                web.inner.after_sign_in.clone()
            } else {
                format!("{}/security", web.prefix())
            };
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
            let mut r = render_sign_in(&mut v, step_up, Some(&p)).await;
            let _ = v.save().await;
            *r.status_mut() = p.status();
            if let Some(secs) = p.retry_after() {
                if let Ok(value) = HeaderValue::from_str(&secs.to_string()) {
                    r.headers_mut().insert(RETRY_AFTER, value);
                }
            }
            r
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
            let mut r = render_sign_in(&mut v, step_up, Some(&p)).await;
            let _ = v.save().await;
            *r.status_mut() = p.status();
            if let Some(secs) = p.retry_after() {
                if let Ok(value) = HeaderValue::from_str(&secs.to_string()) {
                    r.headers_mut().insert(RETRY_AFTER, value);
                }
            }
            r
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
