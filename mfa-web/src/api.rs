//! The JSON API beside the pages, for single-page applications: the same steps, the
//! same session, the CSRF token in the `x-csrf-token` header (read it from
//! `GET api/state`). Errors are a [`Problem`] with its message, status and
//! `Retry-After`.

use axum::Router;
use axum::extract::{Json, State};
use axum::http::header::{CACHE_CONTROL, RETRY_AFTER, SET_COOKIE};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use mfa_core::MethodStatus;
use serde::{Deserialize, Serialize};
use tower_sessions::Session;

use crate::actions::{Checked, Choice, ChoiceFields, Stage, Visit, describe_record};
use crate::flow::{Answering, Step};
use crate::problem::Problem;
use crate::request::Req;
use crate::{CSRF_HEADER, MfaWeb};

pub(crate) fn routes() -> Router<MfaWeb> {
    Router::new()
        .route("/state", get(state))
        .route("/enroll", post(enroll))
        .route("/sign-in", post(sign_in))
        .route("/verify", post(verify))
        .route("/verify/call", post(verify_call))
        .route("/verify/passkey", post(verify_passkey))
        .route("/access-pass", post(access_pass))
        .route("/resend", post(resend))
        .route("/cancel", post(cancel))
        .route("/complete", post(complete))
        .route("/recovery", post(recovery))
        .route("/methods/default", post(set_default))
        .route("/methods/remove", post(remove))
        .route("/methods/rename", post(rename))
        .route("/recovery-codes", post(regenerate))
        .route("/devices/forget", post(forget_device))
        .route("/language", post(set_language))
}

/// Where the flow stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ApiStage {
    /// No method yet: `POST api/enroll`.
    EnrollmentRequired,
    /// A challenge is open: `POST api/verify` (or `api/verify/call`).
    Answering,
    /// The enrollment's code was right: `POST api/complete`.
    Verified,
    /// Enrolled: `POST api/sign-in`.
    SignIn,
    /// No method can sign in (a fraud report): a recovery code or an administrator.
    Suspended,
    /// Signed in.
    Done,
}

/// What a passed step led to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ApiResult {
    /// The enrollment's code was right: complete it.
    Verified,
    /// Signed in: go to `next`.
    SignedIn,
    /// A fresh second factor: settings can change.
    SteppedUp,
    /// The method is set up.
    Complete,
    /// A new set of recovery codes.
    RecoveryCodes,
}

/// Where the flow stands, and what the client needs to go on.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ApiState {
    /// Where the flow stands.
    pub stage: ApiStage,
    /// The token to send in the `x-csrf-token` header.
    pub csrf: String,
    /// The challenge being answered.
    pub challenge: Option<ApiChallenge>,
    /// The user's methods (numbers masked).
    pub methods: Vec<ApiMethod>,
    /// The language stored for the user's pages, texts and calls (`POST api/language`);
    /// `None`: the browser's.
    #[serde(default)]
    pub language: Option<String>,
}

/// The open challenge.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ApiChallenge {
    /// Why it is open.
    pub step: Step,
    /// How it is answered.
    pub answering: Answering,
    /// The method, number masked.
    pub method: String,
    /// When a new code may be asked for (Unix milliseconds).
    pub resend_after_ms: Option<u64>,
    /// The code was right; `POST api/complete` finishes.
    pub verified: bool,
    /// The cost notice, when the code goes abroad: (country code, home country code).
    pub cost_notice: Option<(u16, u16)>,
    /// For a passkey: the options, as JSON, for the browser's WebAuthn call
    /// (`navigator.credentials.create` while setting one up, `.get` to sign in); its
    /// answer goes to `POST api/verify/passkey`.
    #[serde(default)]
    pub passkey_options: Option<String>,
}

/// A method of the user.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ApiMethod {
    /// Its id, for `api/sign-in` and the settings calls.
    pub id: String,
    /// As the user sees it, number masked.
    pub label: String,
    /// Whether sign-in uses it first.
    pub is_default: bool,
    /// Blocked after a fraud report.
    pub blocked: bool,
    /// The name the user gave it, if any (`api/methods/rename` changes it).
    #[serde(default)]
    pub name: Option<String>,
}

/// The method chosen on the method page.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum EnrollKind {
    /// "Send me a code by text message".
    Sms,
    /// "Call me".
    Call,
    /// "Call my office phone".
    Office,
    /// "Use verification code through app".
    App,
    /// Codes by email (only where the policy allows it).
    Email,
    /// A passkey (only where the service has a passkey verifier).
    Passkey,
}

/// `POST api/enroll`: the method chosen.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EnrollRequest {
    /// Which method.
    pub kind: EnrollKind,
    /// The country calling code, for a number written without `+`.
    #[serde(default)]
    pub country: Option<u16>,
    /// The phone number.
    #[serde(default)]
    pub number: String,
    /// The office extension.
    #[serde(default)]
    pub extension: String,
    /// The phone method whose number this replaces (from the security settings).
    #[serde(default)]
    pub replaces: Option<String>,
    /// The email address, for [`EnrollKind::Email`].
    #[serde(default)]
    pub address: String,
    /// The name the user gives the method, for [`EnrollKind::Passkey`].
    #[serde(default)]
    pub name: String,
}

/// The authenticator app's key, in the one answer that carries it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ApiProvisioning {
    /// The `otpauth://` URI (for a QR code made by the client).
    pub otpauth_uri: String,
    /// The key to type by hand.
    pub manual_key: String,
}

/// The answer to `POST api/enroll`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ApiEnrolled {
    /// The flow, with the challenge now open.
    pub state: ApiState,
    /// For the app: the key, shown this once.
    pub provisioning: Option<ApiProvisioning>,
}

/// `POST api/sign-in`: the method to sign in with (default when absent).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct SignInRequest {
    /// A method id from [`ApiState::methods`].
    #[serde(default)]
    pub method: Option<String>,
}

/// `POST api/verify`, `api/verify/call`, `api/recovery`, `api/access-pass`: the code
/// (or the Temporary Access Pass) typed.
#[derive(Clone, Default, Serialize, Deserialize)]
pub struct CodeRequest {
    /// The code (empty for `api/verify/call`).
    #[serde(default)]
    pub code: String,
    /// "Don't ask again on this device".
    #[serde(default)]
    pub remember: bool,
}

// A code or pass is a secret: Debug shows its length only.
impl std::fmt::Debug for CodeRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CodeRequest")
            .field("code_len", &self.code.len())
            .field("remember", &self.remember)
            .finish()
    }
}

/// `POST api/verify/passkey`: the browser's answer to the passkey ceremony.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct PasskeyRequest {
    /// The JSON of the browser's `PublicKeyCredential` (`toJSON()`).
    #[serde(default)]
    pub response: String,
    /// "Don't ask again on this device".
    #[serde(default)]
    pub remember: bool,
}

/// `POST api/methods/default`, `api/methods/remove`, `api/devices/forget`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MethodRequest {
    /// The method's (or device's) id.
    pub id: String,
}

/// `POST api/language`: the user's language, a tag the pages speak (`en`, `nb`), or
/// `""` to follow the browser again.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LanguageRequest {
    /// The language tag.
    pub locale: String,
}

/// `POST api/methods/rename`: a method's new name.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RenameRequest {
    /// The method's id.
    pub id: String,
    /// The name to give it: 1 to 64 characters, unique among the user's methods.
    pub name: String,
}

/// A passed check or completion.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ApiChecked {
    /// What it led to.
    pub result: ApiResult,
    /// Recovery codes, shown this once (after the first enrollment, or on request).
    #[serde(default)]
    pub recovery_codes: Vec<String>,
    /// Where the application wants the browser next, after a sign-in.
    pub next: Option<String>,
}

/// An error: the problem, and its message in the request's language.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ApiError {
    /// What went wrong, with its details (`error` names it).
    #[serde(flatten)]
    pub problem: Problem,
    /// For the user.
    pub message: String,
}

fn no_store(mut r: Response) -> Response {
    r.headers_mut()
        .insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

fn error(problem: Problem, lang: crate::Lang) -> Response {
    let body = ApiError {
        message: problem.message(lang.texts()),
        problem: problem.clone(),
    };
    let mut r = (problem.status(), Json(body)).into_response();
    if let Some(secs) = problem.retry_after() {
        if let Ok(v) = HeaderValue::from_str(&secs.to_string()) {
            r.headers_mut().insert(RETRY_AFTER, v);
        }
    }
    no_store(r)
}

fn ok<T: Serialize>(body: T) -> Response {
    no_store((StatusCode::OK, Json(body)).into_response())
}

async fn open(
    web: &MfaWeb,
    session: Session,
    headers: &Req,
    csrf: bool,
) -> Result<Visit, Response> {
    let lang = crate::Lang::choose(None, &headers.headers, &web.mfa().policy().locale);
    let v = Visit::open(web.clone(), session, headers)
        .await
        .map_err(|p| error(p, lang))?;
    if csrf {
        let presented = headers
            .headers
            .get(CSRF_HEADER)
            .and_then(|h| h.to_str().ok());
        v.check_csrf(presented).map_err(|p| error(p, v.lang))?;
    }
    Ok(v)
}

async fn snapshot(v: &mut Visit) -> Result<ApiState, Problem> {
    let stage = match v.stage().await? {
        Stage::EnrollmentRequired => ApiStage::EnrollmentRequired,
        Stage::Answering => ApiStage::Answering,
        Stage::Verified => ApiStage::Verified,
        Stage::SignIn => ApiStage::SignIn,
        Stage::Suspended => ApiStage::Suspended,
        Stage::Done => ApiStage::Done,
    };
    let methods = v
        .web
        .mfa()
        .methods(&v.user)
        .await
        .map_err(|e| Problem::from_error(&e))?
        .iter()
        .filter(|m| m.status != MethodStatus::Pending)
        .map(|m| ApiMethod {
            id: m.id.as_str().to_owned(),
            label: describe_record(m, v.lang),
            is_default: m.is_default,
            blocked: m.status == MethodStatus::Blocked,
            name: m.name.as_ref().map(|n| n.as_str().to_owned()),
        })
        .collect();
    Ok(ApiState {
        stage,
        csrf: v.flow.csrf.clone(),
        challenge: v.flow.challenge.as_ref().map(|c| ApiChallenge {
            step: c.step,
            answering: c.answering,
            method: c.described.clone(),
            resend_after_ms: c.resend_after,
            verified: c.verified,
            cost_notice: c.cost_notice,
            passkey_options: c.passkey_options.clone(),
        }),
        methods,
        language: v.stored_lang.map(|l| l.tag().to_owned()),
    })
}

/// Saves the flow and answers with its state, or the problem.
async fn answer(mut v: Visit, result: Result<(), Problem>) -> Response {
    if let Err(p) = result {
        let _ = v.save().await;
        return error(p, v.lang);
    }
    match snapshot(&mut v).await {
        Ok(state) => match v.save().await {
            Ok(()) => ok(state),
            Err(p) => error(p, v.lang),
        },
        Err(p) => error(p, v.lang),
    }
}

async fn state(State(web): State<MfaWeb>, session: Session, headers: Req) -> Response {
    match open(&web, session, &headers, false).await {
        Ok(v) => answer(v, Ok(())).await,
        Err(r) => r,
    }
}

async fn enroll(
    State(web): State<MfaWeb>,
    session: Session,
    headers: Req,
    Json(req): Json<EnrollRequest>,
) -> Response {
    let mut v = match open(&web, session, &headers, true).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let choice = Choice::from_fields(
        ChoiceFields {
            kind: req.kind,
            country: req.country,
            number: req.number,
            extension: req.extension,
            address: req.address,
            name: req.name,
        },
        web.mfa().policy().countries.home,
    );
    let provisioning = match v.enroll(&choice, req.replaces.as_deref()).await {
        Ok(p) => p,
        Err(p) => return answer(v, Err(p)).await,
    };
    if let Some(open) = &mut v.flow.challenge {
        open.key_shown = provisioning.is_some();
    }
    match snapshot(&mut v).await {
        Ok(state) => match v.save().await {
            Ok(()) => ok(ApiEnrolled {
                state,
                provisioning: provisioning.map(|p| ApiProvisioning {
                    otpauth_uri: p.uri.clone(),
                    manual_key: p.manual_entry_key.clone(),
                }),
            }),
            Err(p) => error(p, v.lang),
        },
        Err(p) => error(p, v.lang),
    }
}

async fn sign_in(
    State(web): State<MfaWeb>,
    session: Session,
    headers: Req,
    Json(req): Json<SignInRequest>,
) -> Response {
    let mut v = match open(&web, session, &headers, true).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let result = v.start_sign_in(req.method.as_deref()).await;
    answer(v, result).await
}

async fn checked(v: Visit, result: Result<Checked, Problem>) -> Response {
    let checked = match result {
        Ok(c) => c,
        Err(p) => return answer(v, Err(p)).await,
    };
    if let Err(p) = v.save().await {
        return error(p, v.lang);
    }
    let outcome = v.outcome(checked);
    let mut r = ok(ApiChecked {
        result: outcome.result,
        recovery_codes: Vec::new(),
        next: outcome.next,
    });
    if let Some(cookie) = outcome.cookie {
        r.headers_mut().insert(SET_COOKIE, cookie);
    }
    r
}

async fn verify(
    State(web): State<MfaWeb>,
    session: Session,
    headers: Req,
    Json(req): Json<CodeRequest>,
) -> Response {
    let mut v = match open(&web, session, &headers, true).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let result = v.check(&req.code, req.remember).await;
    checked(v, result).await
}

async fn verify_call(
    State(web): State<MfaWeb>,
    session: Session,
    headers: Req,
    Json(req): Json<CodeRequest>,
) -> Response {
    let mut v = match open(&web, session, &headers, true).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let result = v.check_call(req.remember).await;
    checked(v, result).await
}

async fn verify_passkey(
    State(web): State<MfaWeb>,
    session: Session,
    headers: Req,
    Json(req): Json<PasskeyRequest>,
) -> Response {
    let mut v = match open(&web, session, &headers, true).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let result = v.check_passkey(&req.response, req.remember).await;
    checked(v, result).await
}

/// `POST api/access-pass` with the pass as `code`.
async fn access_pass(
    State(web): State<MfaWeb>,
    session: Session,
    headers: Req,
    Json(req): Json<CodeRequest>,
) -> Response {
    let mut v = match open(&web, session, &headers, true).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let result = v.access_pass_sign_in(&req.code).await;
    checked(v, result).await
}

async fn recovery(
    State(web): State<MfaWeb>,
    session: Session,
    headers: Req,
    Json(req): Json<CodeRequest>,
) -> Response {
    let mut v = match open(&web, session, &headers, true).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let result = v.recovery_sign_in(&req.code).await;
    checked(v, result).await
}

async fn resend(State(web): State<MfaWeb>, session: Session, headers: Req) -> Response {
    let mut v = match open(&web, session, &headers, true).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let result = v.resend().await;
    answer(v, result).await
}

async fn cancel(State(web): State<MfaWeb>, session: Session, headers: Req) -> Response {
    let mut v = match open(&web, session, &headers, true).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    v.cancel().await;
    answer(v, Ok(())).await
}

async fn complete(State(web): State<MfaWeb>, session: Session, headers: Req) -> Response {
    let mut v = match open(&web, session, &headers, true).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    match v.complete().await {
        Ok(done) => match v.save().await {
            Ok(()) => ok(ApiChecked {
                result: ApiResult::Complete,
                recovery_codes: done.recovery_codes,
                next: done.next,
            }),
            Err(p) => error(p, v.lang),
        },
        Err(p) => answer(v, Err(p)).await,
    }
}

async fn set_default(
    State(web): State<MfaWeb>,
    session: Session,
    headers: Req,
    Json(req): Json<MethodRequest>,
) -> Response {
    let mut v = match open(&web, session, &headers, true).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let result = v.set_default(&req.id).await;
    answer(v, result).await
}

async fn remove(
    State(web): State<MfaWeb>,
    session: Session,
    headers: Req,
    Json(req): Json<MethodRequest>,
) -> Response {
    let mut v = match open(&web, session, &headers, true).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let result = v.remove(&req.id).await;
    answer(v, result).await
}

async fn rename(
    State(web): State<MfaWeb>,
    session: Session,
    headers: Req,
    Json(req): Json<RenameRequest>,
) -> Response {
    let mut v = match open(&web, session, &headers, true).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let result = v.rename(&req.id, &req.name).await;
    answer(v, result).await
}

async fn forget_device(
    State(web): State<MfaWeb>,
    session: Session,
    headers: Req,
    Json(req): Json<MethodRequest>,
) -> Response {
    let mut v = match open(&web, session, &headers, true).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let result = v.forget_device(&req.id).await;
    answer(v, result).await
}

async fn set_language(
    State(web): State<MfaWeb>,
    session: Session,
    headers: Req,
    Json(req): Json<LanguageRequest>,
) -> Response {
    let mut v = match open(&web, session, &headers, true).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let result = v.set_locale(&req.locale).await;
    answer(v, result).await
}

async fn regenerate(State(web): State<MfaWeb>, session: Session, headers: Req) -> Response {
    let mut v = match open(&web, session, &headers, true).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    match v.regenerate().await {
        Ok(codes) => match v.save().await {
            Ok(()) => ok(ApiChecked {
                result: ApiResult::RecoveryCodes,
                recovery_codes: codes,
                next: None,
            }),
            Err(p) => error(p, v.lang),
        },
        Err(p) => answer(v, Err(p)).await,
    }
}
