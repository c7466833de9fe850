//! The steps of the flow, shared by the pages and the JSON API: each takes the
//! session's [`Flow`], calls [`mfa_core::Mfa`] and says what happened. Nothing here
//! renders; nothing here advances the flow without the library's approval.

use axum::http::header::COOKIE;
use axum::http::{HeaderMap, HeaderValue};
use mfa_core::{
    AppProvisioning, ChallengeStatus, Channel, EmailAddress, Extension, Locale, Method, MethodId,
    MethodKind, MethodRecord, Mfa, PhoneMode, PhoneNumber, Proof, Status, UserId, Verification,
};
use tower_sessions::Session;

use crate::api::{ApiResult, EnrollKind};
use crate::flow::{Answering, Flow, HeldProof, OpenChallenge, Step};
use crate::hook::SignedIn;
use crate::lang::Lang;
use crate::problem::Problem;
use crate::request::Req;
use crate::{DEVICE_COOKIE, MfaWeb, csrf};

/// One request's view of the flow.
pub(crate) struct Visit {
    pub web: MfaWeb,
    /// The service, for this request (its client, for audit and send limits).
    pub mfa: Mfa,
    pub session: Session,
    pub flow: Flow,
    pub user: UserId,
    pub lang: Lang,
    /// The user's stored locale, when the pages have its language.
    pub stored_lang: Option<Lang>,
    /// The remember-this-device cookie the browser sent, if any.
    pub device: Option<String>,
}

/// Where the flow stands, for the entry page and the API's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Stage {
    /// No method yet: "Set it up now".
    EnrollmentRequired,
    /// A challenge is open.
    Answering,
    /// An enrollment's code was right: "Complete".
    Verified,
    /// Enrolled; choose how to sign in.
    SignIn,
    /// Factor changes and sign-in are closed: no method can sign in.
    Suspended,
    /// Signed in.
    Done,
}

/// What the user chose on the method page.
#[derive(Debug, Clone)]
pub(crate) enum Choice {
    /// Text message or call to a mobile.
    Phone {
        country: u16,
        number: String,
        mode: PhoneMode,
    },
    /// A desk phone, perhaps at an extension.
    Office {
        country: u16,
        number: String,
        extension: String,
    },
    /// The authenticator app.
    App,
    /// Codes by email.
    Email {
        /// The address, as typed.
        address: String,
    },
    /// A new passkey.
    Passkey {
        /// The name the user gives it ("Laptop"); empty for none.
        name: String,
    },
}

/// The method page's fields, as the form or the JSON API carries them.
#[derive(Debug, Clone)]
pub(crate) struct ChoiceFields {
    pub kind: EnrollKind,
    /// The country calling code, for a number written without `+`.
    pub country: Option<u16>,
    pub number: String,
    pub extension: String,
    pub address: String,
    pub name: String,
}

impl EnrollKind {
    /// The kind a method form's `kind` button names.
    pub(crate) fn from_form(value: &str) -> Option<EnrollKind> {
        Some(match value {
            "sms" => EnrollKind::Sms,
            "call" => EnrollKind::Call,
            "office" => EnrollKind::Office,
            "app" => EnrollKind::App,
            "email" => EnrollKind::Email,
            "passkey" => EnrollKind::Passkey,
            _ => return None,
        })
    }
}

impl Choice {
    /// The choice the fields make; a number without `+` is in `home` (the policy's
    /// home country, else Norway) unless a country is given.
    pub(crate) fn from_fields(f: ChoiceFields, home: Option<u16>) -> Choice {
        let country = f.country.or(home).unwrap_or(47);
        match f.kind {
            EnrollKind::Sms | EnrollKind::Call => Choice::Phone {
                country,
                number: f.number,
                mode: if f.kind == EnrollKind::Sms {
                    PhoneMode::Sms
                } else {
                    PhoneMode::Call
                },
            },
            EnrollKind::Office => Choice::Office {
                country,
                number: f.number,
                extension: f.extension,
            },
            EnrollKind::App => Choice::App,
            EnrollKind::Email => Choice::Email { address: f.address },
            EnrollKind::Passkey => Choice::Passkey { name: f.name },
        }
    }

    /// The name given, when one was.
    fn name(&self) -> Option<&str> {
        match self {
            Choice::Passkey { name } => Some(name.trim()).filter(|n| !n.is_empty()),
            _ => None,
        }
    }

    fn method(&self) -> Result<Method, Problem> {
        let parse = |country: u16, number: &str| {
            let number = number.trim();
            if number.starts_with('+') {
                PhoneNumber::parse(number)
            } else {
                PhoneNumber::from_parts(country, number)
            }
            .map_err(|_| Problem::BadNumber)
        };
        Ok(match self {
            Choice::Phone {
                country,
                number,
                mode,
            } => Method::AuthenticationPhone {
                number: parse(*country, number)?,
                mode: *mode,
            },
            Choice::Office {
                country,
                number,
                extension,
            } => Method::OfficePhone {
                number: parse(*country, number)?,
                extension: match extension.trim() {
                    "" => None,
                    e => Some(Extension::parse(e).map_err(|_| Problem::BadExtension)?),
                },
            },
            Choice::App => Method::AuthenticatorApp,
            Choice::Email { address } => Method::Email {
                address: EmailAddress::parse(address.trim()).map_err(|_| Problem::BadEmail)?,
            },
            Choice::Passkey { .. } => Method::Passkey,
        })
    }
}

/// The answer to a code, a call check or a recovery code.
#[derive(Debug)]
pub(crate) enum Checked {
    /// The enrollment's code was right; it waits for "Complete".
    Verified,
    /// Signed in. Carries the device token to set as a cookie, when one was asked for.
    SignedIn { device_token: Option<String> },
    /// A fresh second factor for a settings change.
    SteppedUp,
    /// Signed in with a Temporary Access Pass: next, set up a new method.
    AccessPass,
}

/// Where a passed step leads: the same for the pages and the JSON API.
#[derive(Debug)]
pub(crate) struct Outcome {
    /// What it led to, as the API names it.
    pub result: ApiResult,
    /// The page the browser goes to next.
    pub page: String,
    /// Where the application wants a signed-in browser next (the API's `next`).
    pub next: Option<String>,
    /// The remember-this-device cookie to set, when one was asked for.
    pub cookie: Option<HeaderValue>,
}

/// A completed enrollment.
#[derive(Debug)]
pub(crate) struct Completed {
    /// The method, as the user sees it.
    pub described: String,
    /// New recovery codes, to show this once (the user's first active method makes them).
    pub recovery_codes: Vec<String>,
    /// Where the application wants the browser next, when the first enrollment
    /// signed the user in.
    pub next: Option<String>,
}

/// A method described for the user, number masked, in their language.
pub(crate) fn describe(method: &Method, lang: Lang) -> String {
    let t = lang.texts();
    match method {
        Method::AuthenticationPhone {
            number,
            mode: PhoneMode::Sms,
        } => format!("{} {}", t.sms_kind, number.masked()),
        Method::AuthenticationPhone { number, .. } => {
            format!("{} {}", t.call_kind, number.masked())
        }
        Method::OfficePhone {
            number,
            extension: Some(ext),
        } => format!("{} {} ({})", t.office_kind, number.masked(), ext.as_str()),
        Method::OfficePhone { number, .. } => format!("{} {}", t.office_kind, number.masked()),
        Method::Email { address } => format!("{} {}", t.email_kind, address.masked()),
        Method::Passkey => t.passkey_kind.to_owned(),
        _ => t.app_kind.to_owned(),
    }
}

/// A method of the user described with the name they gave it: "passkey (Laptop)".
pub(crate) fn describe_record(m: &MethodRecord, lang: Lang) -> String {
    let described = describe(&m.method, lang);
    match &m.name {
        Some(name) => format!("{described} ({})", name.as_str()),
        None => described,
    }
}

/// Where a phone method's codes go, masked: "+47 ••••••67 (ext. 1234)".
pub(crate) fn destination(method: &Method) -> String {
    match method.destination() {
        Some(d) => match d.extension {
            Some(ext) => format!("{} ({})", d.number.masked(), ext.as_str()),
            None => d.number.masked(),
        },
        None => method
            .email_address()
            .map(|a| a.masked())
            .unwrap_or_default(),
    }
}

fn answering(method: &Method, waiting_for: ChallengeStatus) -> Answering {
    if method.kind() == MethodKind::Passkey {
        return Answering::Passkey;
    }
    match method.channel() {
        Some(Channel::Sms) => Answering::Sms,
        Some(Channel::Voice) if waiting_for == ChallengeStatus::AwaitingCode => Answering::CallCode,
        Some(Channel::Voice) => Answering::CallKey,
        Some(Channel::Email) => Answering::Email,
        None => Answering::App,
    }
}

/// The device cookie's value in a `Cookie` header.
fn device_cookie(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(tower_sessions::cookie::Cookie::split_parse)
        .filter_map(Result::ok)
        .find(|c| c.name() == DEVICE_COOKIE)
        .map(|c| c.value().to_owned())
}

impl Visit {
    /// The visit of a session the password step handed over; `NotSignedIn` otherwise.
    pub async fn open(web: MfaWeb, session: Session, req: &Req) -> Result<Self, Problem> {
        let headers = &req.headers;
        let flow = Flow::load(&session)
            .await
            .map_err(|_| Problem::Unavailable)?
            .ok_or(Problem::NotSignedIn)?;
        let user = flow.user_id().ok_or(Problem::NotSignedIn)?;
        // One more read per request; a failing read only loses the stored language.
        let stored_lang = match web.mfa().locale(&user).await {
            Ok(Some(locale)) => Lang::from_locale(&locale),
            Ok(None) | Err(_) => None,
        };
        let lang = Lang::choose(
            flow.lang.or(stored_lang),
            headers,
            &web.mfa().policy().locale,
        );
        Ok(Visit {
            mfa: web.mfa().with_request(req.request.clone()),
            web,
            session,
            flow,
            user,
            lang,
            stored_lang,
            device: device_cookie(headers),
        })
    }

    /// Stores the flow.
    pub async fn save(&self) -> Result<(), Problem> {
        self.flow
            .save(&self.session)
            .await
            .map_err(|_| Problem::Unavailable)
    }

    /// Refuses a request without the session's CSRF token.
    pub fn check_csrf(&self, presented: Option<&str>) -> Result<(), Problem> {
        if csrf::matches(&self.flow.csrf, presented) {
            Ok(())
        } else {
            Err(Problem::CsrfRefused)
        }
    }

    /// The session's proof, while fresh.
    pub fn fresh_proof(&self) -> Option<Proof> {
        self.flow
            .proof
            .as_ref()
            .and_then(|p| p.fresh(self.mfa.now(), self.web.reauthentication_window()))
    }

    fn require_proof(&self) -> Result<Proof, Problem> {
        if !self.flow.done {
            return Err(Problem::NotSignedIn);
        }
        self.fresh_proof().ok_or(Problem::StepUpNeeded)
    }

    /// Where the flow stands.
    pub async fn stage(&mut self) -> Result<Stage, Problem> {
        if self.flow.done
            && self
                .flow
                .challenge
                .as_ref()
                .is_none_or(|c| c.step == Step::SignIn)
        {
            return Ok(Stage::Done);
        }
        if let Some(c) = &self.flow.challenge {
            return Ok(if c.verified {
                Stage::Verified
            } else {
                Stage::Answering
            });
        }
        if self.flow.done {
            return Ok(Stage::Done);
        }
        Ok(match self.status().await? {
            Status::EnrollmentRequired => Stage::EnrollmentRequired,
            Status::Enrolled { .. }
            | Status::Suspended {
                default: Some(_), ..
            } => Stage::SignIn,
            _ => Stage::Suspended,
        })
    }

    async fn status(&self) -> Result<Status, Problem> {
        self.mfa
            .status(&self.user)
            .await
            .map_err(|e| Problem::from_error(&e))
    }

    /// Forgets the open challenge, canceling it in the library (best effort: a
    /// challenge that already ended cannot be canceled, and need not be).
    async fn drop_challenge(&mut self) {
        if let Some(id) = self.flow.challenge.take().and_then(|c| c.challenge_id()) {
            let _ = self.mfa.cancel(&self.user, &id).await;
        }
    }

    fn open_challenge(&mut self, pending: &mfa_core::Pending, step: Step) {
        self.flow.challenge = Some(OpenChallenge {
            id: pending.challenge_id.as_str().to_owned(),
            step,
            answering: answering(&pending.method, pending.waiting_for),
            described: describe(&pending.method, self.lang),
            to: destination(&pending.method),
            resend_after: pending.resend_after.map(|t| t.unix_millis()),
            cost_notice: pending.cost_notice.map(|n| (n.country_code, n.home)),
            risk_notice: pending.risk_notice.map(|n| n.app_offered),
            verified: false,
            key_shown: false,
            passkey_options: pending.passkey_options.clone(),
        });
    }

    /// "Set it up now" / "Add method" / "Change number": starts the enrollment and
    /// sends the code. For the app, returns the key to show this once.
    pub async fn enroll(
        &mut self,
        choice: &Choice,
        replaces: Option<&str>,
    ) -> Result<Option<AppProvisioning>, Problem> {
        let method = choice.method()?;
        let name = choice.name();
        let mfa = self.mfa.clone();
        let (result, step) = if self.flow.done {
            let proof = self.require_proof()?;
            let result = match (replaces, name) {
                (Some(old), _) => {
                    let old = MethodId::parse(old).map_err(|_| Problem::NothingOpen)?;
                    mfa.change_phone_number(&self.user, &old, method, &proof)
                        .await
                }
                (None, Some(name)) => mfa.add_method_named(&self.user, method, name, &proof).await,
                (None, None) => mfa.add_method(&self.user, method, &proof).await,
            };
            (result, Step::Add)
        } else {
            let result = match name {
                Some(name) => mfa.begin_enrollment_named(&self.user, method, name).await,
                None => mfa.begin_enrollment(&self.user, method).await,
            };
            (result, Step::Enroll)
        };
        let pending = result.map_err(|e| Problem::from_error(&e))?;
        self.drop_challenge().await;
        self.open_challenge(&pending, step);
        Ok(pending.app)
    }

    /// Starts a sign-in (or, once signed in, a step-up) challenge on the default
    /// method or the one chosen.
    pub async fn start_sign_in(&mut self, method: Option<&str>) -> Result<(), Problem> {
        let mfa = self.mfa.clone();
        let result = match method {
            Some(id) => {
                let id = MethodId::parse(id).map_err(|_| Problem::NothingOpen)?;
                mfa.challenge_with(&self.user, &id).await
            }
            None => mfa.challenge(&self.user).await,
        };
        let pending = result.map_err(|e| Problem::from_error(&e))?;
        self.drop_challenge().await;
        let step = if self.flow.done {
            Step::StepUp
        } else {
            Step::SignIn
        };
        self.open_challenge(&pending, step);
        Ok(())
    }

    fn answering_now(&self) -> Result<(OpenChallenge, mfa_core::ChallengeId), Problem> {
        let c = self.flow.challenge.clone().ok_or(Problem::NothingOpen)?;
        let id = c.challenge_id().ok_or(Problem::NothingOpen)?;
        Ok((c, id))
    }

    /// "Write in the code and choose Check".
    pub async fn check(&mut self, code: &str, remember: bool) -> Result<Checked, Problem> {
        let (c, id) = self.answering_now()?;
        if c.verified {
            return Ok(Checked::Verified);
        }
        let answer = self
            .mfa
            .verify(&self.user, &id, code)
            .await
            .map_err(|e| Problem::from_error(&e))?;
        self.settle(c, answer, remember).await
    }

    /// The browser's answer to the open passkey ceremony (the JSON of its
    /// `PublicKeyCredential`).
    pub async fn check_passkey(
        &mut self,
        response: &str,
        remember: bool,
    ) -> Result<Checked, Problem> {
        let (c, id) = self.answering_now()?;
        if c.verified {
            return Ok(Checked::Verified);
        }
        if c.answering != Answering::Passkey {
            return Err(Problem::NothingOpen);
        }
        let answer = self
            .mfa
            .verify_passkey(&self.user, &id, response)
            .await
            .map_err(|e| Problem::from_error(&e))?;
        self.settle(c, answer, remember).await
    }

    /// "I have answered: Check": where the call stands.
    pub async fn check_call(&mut self, remember: bool) -> Result<Checked, Problem> {
        let (c, id) = self.answering_now()?;
        if c.verified {
            return Ok(Checked::Verified);
        }
        let answer = self
            .mfa
            .poll(&self.user, &id)
            .await
            .map_err(|e| Problem::from_error(&e))?;
        self.settle(c, answer, remember).await
    }

    async fn settle(
        &mut self,
        c: OpenChallenge,
        answer: Verification,
        remember: bool,
    ) -> Result<Checked, Problem> {
        let approved = match answer {
            Verification::Approved(a) => a,
            other => {
                let problem = match Problem::from_verification(&other) {
                    Some(Problem::WrongCode { attempts_left })
                        if c.answering == Answering::Passkey =>
                    {
                        Problem::PasskeyRejected { attempts_left }
                    }
                    Some(p) => p,
                    None => Problem::Unavailable,
                };
                if matches!(
                    other,
                    Verification::Expired
                        | Verification::Locked
                        | Verification::Denied
                        | Verification::Canceled
                        | Verification::AlreadyUsed
                ) {
                    // Nothing more to answer: the next page offers a new start.
                    self.flow.challenge = None;
                }
                return Err(problem);
            }
        };
        if c.step.is_enrollment() {
            if let Some(open) = &mut self.flow.challenge {
                open.verified = true;
            }
            return Ok(Checked::Verified);
        }
        let proof = approved.proof.ok_or(Problem::AlreadyUsed)?;
        let now = self.mfa.now();
        self.flow.proof = Some(HeldProof::new(&proof, now));
        self.flow.challenge = None;
        if c.step == Step::StepUp {
            return Ok(Checked::SteppedUp);
        }
        let device_token = if remember {
            self.web
                .mfa()
                .remember_device(&self.user, &proof)
                .await
                .ok()
                .map(|t| t.as_str().to_owned())
        } else {
            None
        };
        self.finish(Some(approved.method), false, false).await?;
        Ok(Checked::SignedIn { device_token })
    }

    /// Where a passed step leads, and the device cookie it sets.
    pub fn outcome(&self, checked: Checked) -> Outcome {
        let prefix = self.web.prefix();
        let after = self.web.inner.after_sign_in.clone();
        let (result, page, next, token) = match checked {
            Checked::Verified => (ApiResult::Verified, format!("{prefix}/verify"), None, None),
            Checked::SteppedUp => (
                ApiResult::SteppedUp,
                format!("{prefix}/security"),
                None,
                None,
            ),
            Checked::SignedIn { device_token } => (
                ApiResult::SignedIn,
                after.clone(),
                Some(after),
                device_token,
            ),
            // Entra's journey: the pass stood in for a lost factor; set up a new one.
            Checked::AccessPass => (
                ApiResult::SignedIn,
                format!("{prefix}/enroll/method"),
                Some(after),
                None,
            ),
        };
        let cookie = token.and_then(|token| {
            crate::device::set_cookie(
                &token,
                self.web.mfa().policy().remember_device_for,
                self.web.inner.secure_cookies,
            )
        });
        Outcome {
            result,
            page,
            next,
            cookie,
        }
    }

    /// Both factors are done: a new session id, the hook, then the redirect.
    async fn finish(
        &mut self,
        method: Option<MethodKind>,
        remembered_device: bool,
        enrolled: bool,
    ) -> Result<(), Problem> {
        self.finish_with(method, remembered_device, enrolled, false)
            .await
    }

    async fn finish_with(
        &mut self,
        method: Option<MethodKind>,
        remembered_device: bool,
        enrolled: bool,
        access_pass: bool,
    ) -> Result<(), Problem> {
        self.flow.done = true;
        self.flow.challenge = None;
        self.session
            .cycle_id()
            .await
            .map_err(|_| Problem::Unavailable)?;
        self.save().await?;
        if let Some(hook) = &self.web.inner.hook {
            hook.signed_in(&SignedIn {
                user: self.user.clone(),
                method,
                remembered_device,
                enrolled,
                session: self.session.clone(),
                access_pass,
            })
            .await;
        }
        Ok(())
    }

    /// Lets a remembered device through without a code. Whether it did.
    pub async fn try_remembered_device(&mut self) -> Result<bool, Problem> {
        if self.flow.done {
            return Ok(false);
        }
        let Some(token) = self.device.clone() else {
            return Ok(false);
        };
        let remembered = self
            .mfa
            .device_is_remembered(&self.user, &token)
            .await
            .map_err(|e| Problem::from_error(&e))?;
        if !remembered || !matches!(self.status().await?, Status::Enrolled { .. }) {
            return Ok(false);
        }
        self.drop_challenge().await;
        self.finish(None, true, false).await?;
        Ok(true)
    }

    /// "Complete": the method becomes active. The first enrollment signs the user in;
    /// the user's first active method brings recovery codes, shown once.
    pub async fn complete(&mut self) -> Result<Completed, Problem> {
        let (c, id) = self.answering_now()?;
        if !c.verified {
            return Err(Problem::NothingOpen);
        }
        let mfa = self.mfa.clone();
        let done = mfa
            .complete(&self.user, &id)
            .await
            .map_err(|e| Problem::from_error(&e))?;
        let now = mfa.now();
        self.flow.proof = Some(HeldProof::new(&done.proof, now));
        self.flow.challenge = None;
        // The core makes them with the user's first active method, however it was
        // reached: enrolling after the password, or adding one after a pass sign-in.
        let recovery_codes = done.recovery_codes.iter().map(|c| c.expose()).collect();
        let mut next = None;
        if c.step == Step::Enroll {
            next = Some(self.web.inner.after_sign_in.clone());
            self.finish(Some(done.method.method.kind()), false, true)
                .await?;
        }
        Ok(Completed {
            described: describe(&done.method.method, self.lang),
            recovery_codes,
            next,
        })
    }

    /// "Cancel, then Next": a new code once the cooldown passed.
    pub async fn resend(&mut self) -> Result<(), Problem> {
        let (_, id) = self.answering_now()?;
        let pending = self
            .mfa
            .resend(&self.user, &id)
            .await
            .map_err(|e| Problem::from_error(&e))?;
        if let Some(open) = &mut self.flow.challenge {
            open.resend_after = pending.resend_after.map(|t| t.unix_millis());
        }
        Ok(())
    }

    /// "Cancel".
    pub async fn cancel(&mut self) {
        self.drop_challenge().await;
    }

    /// A recovery code instead of a second factor.
    pub async fn recovery_sign_in(&mut self, code: &str) -> Result<Checked, Problem> {
        let used = self
            .mfa
            .verify_recovery_code(&self.user, code)
            .await
            .map_err(|e| Problem::from_error(&e))?
            .ok_or(Problem::WrongRecoveryCode)?;
        let now = self.mfa.now();
        self.flow.proof = Some(HeldProof::new(&used.proof, now));
        if self.flow.done {
            self.flow.challenge = None;
            return Ok(Checked::SteppedUp);
        }
        self.drop_challenge().await;
        self.finish(None, false, false).await?;
        Ok(Checked::SignedIn { device_token: None })
    }

    /// A Temporary Access Pass in place of the second factor (or, signed in, as the
    /// fresh proof a settings change needs).
    pub async fn access_pass_sign_in(&mut self, pass: &str) -> Result<Checked, Problem> {
        let used = self
            .mfa
            .sign_in_with_access_pass(&self.user, pass.trim())
            .await
            .map_err(|e| Problem::from_error(&e))?
            .ok_or(Problem::WrongAccessPass)?;
        let now = self.mfa.now();
        self.flow.proof = Some(HeldProof::new(&used.proof, now));
        if self.flow.done {
            self.flow.challenge = None;
            return Ok(Checked::SteppedUp);
        }
        self.drop_challenge().await;
        self.finish_with(None, false, false, true).await?;
        Ok(Checked::AccessPass)
    }

    /// Makes a method the default.
    pub async fn set_default(&mut self, method: &str) -> Result<(), Problem> {
        let proof = self.require_proof()?;
        let id = MethodId::parse(method).map_err(|_| Problem::NothingOpen)?;
        self.mfa
            .set_default(&self.user, &id, &proof)
            .await
            .map_err(|e| Problem::from_error(&e))
    }

    /// Removes a method.
    pub async fn remove(&mut self, method: &str) -> Result<(), Problem> {
        let proof = self.require_proof()?;
        let id = MethodId::parse(method).map_err(|_| Problem::NothingOpen)?;
        self.mfa
            .remove_method(&self.user, &id, &proof)
            .await
            .map_err(|e| Problem::from_error(&e))
    }

    /// Gives a method a new name, unique among the user's methods.
    pub async fn rename(&mut self, method: &str, name: &str) -> Result<(), Problem> {
        let proof = self.require_proof()?;
        let id = MethodId::parse(method).map_err(|_| Problem::NothingOpen)?;
        self.mfa
            .rename_method(&self.user, &id, name, &proof)
            .await
            .map_err(|e| Problem::from_error(&e))
    }

    /// A new set of recovery codes, to show once.
    pub async fn regenerate(&mut self) -> Result<Vec<String>, Problem> {
        let proof = self.require_proof()?;
        let codes = self
            .mfa
            .regenerate_recovery_codes(&self.user, &proof)
            .await
            .map_err(|e| Problem::from_error(&e))?;
        Ok(codes.iter().map(|c| c.expose()).collect())
    }

    /// Forgets a remembered device.
    pub async fn forget_device(&mut self, device: &str) -> Result<(), Problem> {
        let proof = self.require_proof()?;
        self.mfa
            .forget_device(&self.user, device, &proof)
            .await
            .map_err(|e| Problem::from_error(&e))
    }

    /// Stores the user's language (`""`: none, follow the browser). Not a security
    /// setting, so it needs no fresh proof, but a finished sign-in: a password alone
    /// does not change what the user's texts and calls say.
    pub async fn set_locale(&mut self, tag: &str) -> Result<(), Problem> {
        if !self.flow.done {
            return Err(Problem::NotSignedIn);
        }
        let lang = match tag {
            "" => None,
            tag => Some(Lang::from_tag(tag).ok_or(Problem::BadLanguage)?),
        };
        let locale = lang
            .map(|lang| Locale::parse(lang.tag()))
            .transpose()
            .map_err(|_| Problem::BadLanguage)?;
        self.mfa
            .set_locale(&self.user, locale)
            .await
            .map_err(|e| Problem::from_error(&e))?;
        self.stored_lang = lang;
        // The stored language shows from the next page on, over this session's switch.
        self.flow.lang = None;
        Ok(())
    }
}
