//! Rendering: each page of the flow from the session's state, with the headers every
//! page carries.

use askama::Template;
use axum::http::header::{
    CACHE_CONTROL, CONTENT_SECURITY_POLICY, REFERRER_POLICY, RETRY_AFTER, X_CONTENT_TYPE_OPTIONS,
    X_FRAME_OPTIONS,
};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use mfa_core::{MethodKind, MethodStatus};

use crate::MfaWeb;
use crate::actions::{Stage, Visit, describe_record};
use crate::flow::{Answering, Step};
use crate::lang::{Lang, Texts};
use crate::problem::Problem;
use crate::views::{
    AccessPassPage, Base, COUNTRIES, CodePage, CodeView, Country, DeviceRow, EnrollPage,
    MessagePage, MethodPage, MethodRow, PasskeyPage, SecurityPage, SignInOption, SignInPage,
    VerifiedPage,
};

/// What every page forbids: framing (clickjacking), scripts but our own, forms to
/// other origins, plugins; images only inline (the QR code is inline SVG).
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'unsafe-inline'; \
     img-src data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// Pages hold codes and keys: never cached, never stored.
pub(crate) fn html(status: StatusCode, body: Result<String, askama::Error>) -> Response {
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

pub(crate) fn see_other(to: &str) -> Response {
    Redirect::to(to).into_response()
}

pub(crate) fn base(
    v: &mut Visit,
    title: fn(&Texts) -> &'static str,
    alert: Option<&Problem>,
) -> Base {
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

pub(crate) fn not_signed_in(web: &MfaWeb, headers: &HeaderMap, problem: &Problem) -> Response {
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

/// A page answering a problem: its status, and `Retry-After` when it passes with time.
pub(crate) fn with_problem(mut r: Response, problem: &Problem) -> Response {
    *r.status_mut() = problem.status();
    if let Some(secs) = problem.retry_after() {
        if let Ok(value) = HeaderValue::from_str(&secs.to_string()) {
            r.headers_mut().insert(RETRY_AFTER, value);
        }
    }
    r
}

/// The page for where the flow stands (the problem shown on it, if any).
pub(crate) async fn current(v: &mut Visit, alert: Option<&Problem>) -> Response {
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

pub(crate) fn render_method(
    v: &mut Visit,
    replaces: Option<String>,
    alert: Option<&Problem>,
) -> Response {
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
        offer_email: v.mfa.offers_email(),
        offer_passkey: offered.contains(&MethodKind::Passkey),
        replaces,
        number: String::new(),
    };
    html(StatusCode::OK, page.render())
}

/// The code page. `provisioning` is the app's key, shown by this one response.
pub(crate) fn render_code(
    v: &mut Visit,
    provisioning: Option<&mfa_core::AppProvisioning>,
    alert: Option<&Problem>,
) -> Response {
    let Some(c) = v.flow.challenge.clone() else {
        return see_other(v.web.prefix());
    };
    if c.answering == Answering::Passkey {
        return render_passkey(v, alert);
    }
    let t = v.lang.texts();
    let now = v.web.mfa().now().unix_millis();
    let policy = v.web.mfa().policy();
    let intro = match c.answering {
        Answering::Sms => t.code_sms.replace("{to}", &c.to),
        Answering::CallCode => t.code_call.replace("{to}", &c.to),
        Answering::CallKey => t.call_body.replace("{to}", &c.to),
        Answering::App => t.code_app.to_owned(),
        Answering::Email => t.code_email.replace("{to}", &c.to),
        Answering::Passkey => String::new(),
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

/// The passkey page: the ceremony's options on the form, for passkey.js.
fn render_passkey(v: &mut Visit, alert: Option<&Problem>) -> Response {
    let Some(c) = v.flow.challenge.clone() else {
        return see_other(v.web.prefix());
    };
    let t = v.lang.texts();
    let remember_days = v.web.mfa().policy().remember_device_for.as_secs() / 86_400;
    let enrolling = c.step.is_enrollment();
    let page = PasskeyPage {
        b: base(v, |t| t.passkey_title, alert),
        body: if enrolling {
            t.passkey_create_body
        } else {
            t.passkey_get_body
        },
        ceremony: if enrolling { "create" } else { "get" },
        options: c.passkey_options.unwrap_or_default(),
        remember: (c.step == Step::SignIn && remember_days > 0)
            .then(|| t.remember.replace("{days}", &remember_days.to_string())),
    };
    html(StatusCode::OK, page.render())
}

/// The Temporary Access Pass page.
pub(crate) fn render_access_pass(v: &mut Visit, alert: Option<&Problem>) -> Response {
    let page = AccessPassPage {
        b: base(v, |t| t.access_pass_title, alert),
    };
    html(StatusCode::OK, page.render())
}

/// The QR code of an `otpauth://` URI as inline SVG (no URL carries the secret).
pub(crate) fn qr_svg(uri: &str) -> Option<String> {
    let svg = mfa_totp::KeyUri::parse(uri).ok()?.qr().ok()?.to_svg();
    // Inline SVG takes no XML declaration.
    let start = svg.find("<svg")?;
    Some(svg[start..].to_owned())
}

pub(crate) fn render_verified(v: &mut Visit, alert: Option<&Problem>) -> Response {
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

pub(crate) async fn render_sign_in(
    v: &mut Visit,
    step_up: bool,
    alert: Option<&Problem>,
) -> Response {
    // Strongest first: a passkey before the default when the user has one.
    let active = match v.web.mfa().sign_in_options(&v.user).await {
        Ok(m) => m,
        Err(e) => return fail_render(v, &Problem::from_error(&e)),
    };
    let t = v.lang.texts();
    let option = |m: &mfa_core::MethodRecord| SignInOption {
        id: m.id.as_str().to_owned(),
        label: match (&m.method, &m.name) {
            (mfa_core::Method::Passkey, Some(name)) => {
                format!("{} ({})", t.sign_in_passkey, name.as_str())
            }
            (mfa_core::Method::Passkey, None) => t.sign_in_passkey.to_owned(),
            _ => t
                .send_code_to
                .replace("{method}", &describe_record(m, v.lang)),
        },
    };
    let first = active.first().map(&option);
    let others = active.iter().skip(1).map(option).collect();
    let title: fn(&Texts) -> &'static str = if step_up {
        |t| t.stepup_title
    } else {
        |t| t.signin_title
    };
    let page = SignInPage {
        b: base(v, title, alert),
        step_up,
        access_pass: !step_up,
        first,
        others,
    };
    html(StatusCode::OK, page.render())
}

pub(crate) fn fail_render(v: &mut Visit, problem: &Problem) -> Response {
    let t = v.lang.texts();
    let page = MessagePage {
        b: base(v, |t| t.unavailable, None),
        body: problem.message(t),
        link: None,
    };
    html(problem.status(), page.render())
}

pub(crate) async fn render_security(
    v: &mut Visit,
    codes: Vec<String>,
    alert: Option<&Problem>,
) -> Response {
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
            label: capitalized(&describe_record(m, v.lang)),
            is_default: m.is_default,
            blocked: m.status == MethodStatus::Blocked,
            phone: matches!(
                m.method,
                mfa_core::Method::AuthenticationPhone { .. } | mfa_core::Method::OfficePhone { .. }
            ),
            name: m
                .name
                .as_ref()
                .map(|n| n.as_str().to_owned())
                .unwrap_or_default(),
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
        locale: v.stored_lang.map_or("", Lang::tag),
    };
    html(StatusCode::OK, page.render())
}

pub(crate) fn capitalized(s: &str) -> String {
    let mut chars = s.chars();
    chars
        .next()
        .map(|c| c.to_uppercase().chain(chars).collect())
        .unwrap_or_default()
}

/// A date as `YYYY-MM-DD` (UTC).
pub(crate) fn date(t: mfa_core::Timestamp) -> String {
    let secs = i64::try_from(t.unix_secs()).unwrap_or(i64::MAX);
    tower_sessions::cookie::time::OffsetDateTime::from_unix_timestamp(secs)
        .map(|d| d.date().to_string())
        .unwrap_or_default()
}
