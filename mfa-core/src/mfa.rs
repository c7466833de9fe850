//! The async driver: wires policy, store, clock, deliveries and events, and performs
//! the state machine's effects. One API for the whole journey.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use crate::app::{AppProvisioning, AppVerifier};
use crate::challenge::{
    self, Answer, Challenge, ChallengeEvent, ChallengeStatus, Context, Effect, EnrollmentState,
};
use crate::clock::{Clock, SystemClock, Timestamp};
use crate::code::{CodeKey, OneTimeCode, OsRandomness, Randomness, RecoveryCode, random_code};
use crate::delivery::{CallOutcome, Content, Delivery, DeliveryRequest, Purpose};
use crate::error::{Error, PolicyError};
use crate::event::{Event, EventSink, NoEvents};
use crate::method::{
    AppCredential, ChallengeId, Channel, Method, MethodId, MethodKind, MethodRecord, MethodStatus,
};
use crate::policy::{CallConfirmation, CostNotice, Lockout, Policy};
use crate::store::{MemoryStore, Removal, Store};
use crate::user::UserId;

/// The states that still wait for the user.
const AWAITING: [ChallengeStatus; 2] = [
    ChallengeStatus::AwaitingCode,
    ChallengeStatus::AwaitingCallConfirmation,
];

/// How long an authenticator app enrollment waits for its first code (time to scan).
const APP_ENROLLMENT_WINDOW: Duration = Duration::from_secs(10 * 60);

/// Where a user stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Status {
    /// "You will be asked to set up the extra security": no active method yet.
    EnrollmentRequired,
    /// Enrolled; sign-in asks for the default method.
    Enrolled {
        /// The method sign-in uses first.
        default: MethodRecord,
        /// Every active method.
        methods: usize,
    },
}

/// A challenge waiting for the user: what to show them next.
#[derive(Debug, Clone)]
pub struct Pending {
    /// The challenge to verify, resend or cancel.
    pub challenge_id: ChallengeId,
    /// The method being checked.
    pub method_id: MethodId,
    /// The method.
    pub method: Method,
    /// Enrollment or sign-in.
    pub purpose: Purpose,
    /// What the challenge waits for: a code or a key press on a call.
    pub waiting_for: ChallengeStatus,
    /// When the code dies.
    pub expires_at: Timestamp,
    /// When a new code may be asked for (`None` for app codes).
    pub resend_after: Option<Timestamp>,
    /// Wrong attempts left.
    pub attempts_left: u32,
    /// Set when the code goes abroad: tell the user, and recommend the app.
    pub cost_notice: Option<CostNotice>,
    /// For app enrollment: the secret, URI and manual key to show once.
    pub app: Option<AppProvisioning>,
}

/// The answer to a presented code or key press.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Verification {
    /// Correct. Sign-in: the user is through. Enrollment: call [`Mfa::complete`].
    Approved,
    /// Wrong.
    Rejected {
        /// Attempts left before the challenge locks.
        attempts_left: u32,
    },
    /// The code's lifetime passed; start a new challenge.
    Expired,
    /// The attempt cap was reached; start a new challenge.
    Locked,
    /// The challenge was already approved (a code is accepted once).
    AlreadyUsed,
    /// The user reported fraud on the call.
    Denied,
}

impl Verification {
    /// Whether the user passed.
    pub fn is_approved(self) -> bool {
        self == Verification::Approved
    }
}

/// A successful recovery-code sign-in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecoverySignIn {
    /// An approved sign-in challenge: proof of re-authentication for changing methods.
    pub proof: ChallengeId,
    /// Unused codes left.
    pub remaining: usize,
}

/// Builds an [`Mfa`].
pub struct MfaBuilder {
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    rng: Arc<dyn Randomness>,
    key: Option<CodeKey>,
    policy: Policy,
    sms: Option<Arc<dyn Delivery>>,
    voice: Option<Arc<dyn Delivery>>,
    app: Option<Arc<dyn AppVerifier>>,
    events: Arc<dyn EventSink>,
    issuer: Option<String>,
}

impl fmt::Debug for MfaBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MfaBuilder").finish_non_exhaustive()
    }
}

impl MfaBuilder {
    /// The store (default: a fresh [`MemoryStore`]).
    pub fn store(mut self, store: impl Store + 'static) -> Self {
        self.store = Arc::new(store);
        self
    }

    /// A shared store.
    pub fn shared_store(mut self, store: Arc<dyn Store>) -> Self {
        self.store = store;
        self
    }

    /// The clock (default: the system clock).
    pub fn clock(mut self, clock: impl Clock + 'static) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    /// The random source (default: the OS CSPRNG).
    pub fn randomness(mut self, rng: impl Randomness + 'static) -> Self {
        self.rng = Arc::new(rng);
        self
    }

    /// The key codes are hashed under. Persistent stores need the same key on every
    /// server and across restarts; the default is a random key per process.
    pub fn code_key(mut self, key: CodeKey) -> Self {
        self.key = Some(key);
        self
    }

    /// The rules (default: [`Policy::default`]).
    pub fn policy(mut self, policy: Policy) -> Self {
        self.policy = policy;
        self
    }

    /// The SMS backend.
    pub fn sms(mut self, delivery: impl Delivery + 'static) -> Self {
        self.sms = Some(Arc::new(delivery));
        self
    }

    /// The voice backend.
    pub fn voice(mut self, delivery: impl Delivery + 'static) -> Self {
        self.voice = Some(Arc::new(delivery));
        self
    }

    /// The authenticator-app verifier (such as `mfa_totp::Totp`).
    pub fn app(mut self, verifier: impl AppVerifier + 'static) -> Self {
        self.app = Some(Arc::new(verifier));
        self
    }

    /// Where events go (default: nowhere).
    pub fn events(mut self, sink: impl EventSink + 'static) -> Self {
        self.events = Arc::new(sink);
        self
    }

    /// The issuer shown in authenticator apps (default: the policy's app name).
    pub fn issuer(mut self, issuer: impl Into<String>) -> Self {
        self.issuer = Some(issuer.into());
        self
    }

    /// Checks the policy and builds the driver.
    pub fn build(self) -> Result<Mfa, Error> {
        self.policy.validate()?;
        let key = match self.key {
            Some(k) => k,
            None => CodeKey::generate(self.rng.as_ref()),
        };
        Ok(Mfa {
            issuer: self.issuer.unwrap_or_else(|| self.policy.app_name.clone()),
            store: self.store,
            clock: self.clock,
            rng: self.rng,
            key,
            policy: self.policy,
            sms: self.sms,
            voice: self.voice,
            app: self.app,
            events: self.events,
        })
    }
}

/// The second-factor service: enrollment, sign-in and managing methods.
///
/// Cheap to share: wrap it in an `Arc`.
pub struct Mfa {
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    rng: Arc<dyn Randomness>,
    key: CodeKey,
    policy: Policy,
    sms: Option<Arc<dyn Delivery>>,
    voice: Option<Arc<dyn Delivery>>,
    app: Option<Arc<dyn AppVerifier>>,
    events: Arc<dyn EventSink>,
    issuer: String,
}

impl fmt::Debug for Mfa {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Mfa")
            .field("store", &self.store)
            .field("policy", &self.policy)
            .field("sms", &self.sms)
            .field("voice", &self.voice)
            .field("app", &self.app)
            .finish_non_exhaustive()
    }
}

impl Mfa {
    /// A builder with the defaults: memory store, system clock, OS randomness, default policy.
    pub fn builder() -> MfaBuilder {
        MfaBuilder {
            store: Arc::new(MemoryStore::new()),
            clock: Arc::new(SystemClock),
            rng: Arc::new(OsRandomness),
            key: None,
            policy: Policy::default(),
            sms: None,
            voice: None,
            app: None,
            events: Arc::new(NoEvents),
            issuer: None,
        }
    }

    /// The rules in force.
    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    /// The current time on the driver's clock.
    pub fn now(&self) -> Timestamp {
        self.clock.now()
    }

    /// Whether the user must set up a method, or which one sign-in will use.
    pub async fn status(&self, user: &UserId) -> Result<Status, Error> {
        let methods = self.active_methods(user).await?;
        match methods.iter().find(|m| m.is_default).or(methods.first()) {
            None => Ok(Status::EnrollmentRequired),
            Some(default) => Ok(Status::Enrolled {
                default: default.clone(),
                methods: methods.len(),
            }),
        }
    }

    /// The user's methods: active, blocked and pending.
    pub async fn methods(&self, user: &UserId) -> Result<Vec<MethodRecord>, Error> {
        Ok(self.store.methods(user).await?)
    }

    async fn active_methods(&self, user: &UserId) -> Result<Vec<MethodRecord>, Error> {
        let mut methods = self.store.methods(user).await?;
        methods.retain(|m| m.status == MethodStatus::Active);
        Ok(methods)
    }

    /// "Set it up now": starts enrolling the first method of a user who has none.
    ///
    /// Sends the SMS or places the call at once; for an app, returns the secret and
    /// URI to show. A user who already has a method must use [`Mfa::add_method`].
    pub async fn begin_enrollment(&self, user: &UserId, method: Method) -> Result<Pending, Error> {
        if !self.active_methods(user).await?.is_empty() {
            return Err(PolicyError::ReauthenticationRequired.into());
        }
        self.enroll(user, method, None).await
    }

    /// Adds another method; needs a sign-in approved within the re-authentication window.
    pub async fn add_method(
        &self,
        user: &UserId,
        method: Method,
        proof: &ChallengeId,
    ) -> Result<Pending, Error> {
        self.check_reauthentication(user, proof).await?;
        self.enroll(user, method, None).await
    }

    /// Replaces a phone method's number: the new number must be verified, and the old
    /// method goes only when the new one completes. Emits [`Event::PhoneNumberChanged`].
    pub async fn change_phone_number(
        &self,
        user: &UserId,
        old: &MethodId,
        method: Method,
        proof: &ChallengeId,
    ) -> Result<Pending, Error> {
        self.check_reauthentication(user, proof).await?;
        let methods = self.store.methods(user).await?;
        let Some(old_record) = methods.iter().find(|m| &m.id == old) else {
            return Err(Error::NotFound("method"));
        };
        if old_record.method.number().is_none() || method.number().is_none() {
            return Err(crate::error::InputError::InvalidSetting(
                "only a phone method's number can be changed",
            )
            .into());
        }
        self.enroll(user, method, Some(old.clone())).await
    }

    async fn enroll(
        &self,
        user: &UserId,
        method: Method,
        replaces: Option<MethodId>,
    ) -> Result<Pending, Error> {
        let now = self.clock.now();
        if method.kind() == MethodKind::RecoveryCodes {
            return Err(crate::error::InputError::InvalidSetting(
                "recovery codes are made with regenerate_recovery_codes",
            )
            .into());
        }
        let existing = self.store.methods(user).await?;
        if existing
            .iter()
            .any(|m| m.status == MethodStatus::Active && m.method == method)
        {
            return Err(PolicyError::AlreadyEnrolled.into());
        }
        let (app, credential) = if method.kind() == MethodKind::AuthenticatorApp {
            let verifier = self
                .app
                .as_ref()
                .ok_or(Error::NotConfigured("authenticator app verifier"))?;
            let provisioning =
                verifier.provision(&self.issuer, user.as_str(), self.rng.as_ref())?;
            let credential = provisioning.credential.clone();
            (Some(provisioning), Some(credential))
        } else {
            (None, None)
        };
        let record = MethodRecord {
            id: MethodId::generate(self.rng.as_ref()),
            method: method.clone(),
            status: MethodStatus::Pending,
            is_default: false,
            created_at: now,
            app: credential,
            replaces,
        };
        // Check the destination before anything is stored or sent.
        if let (Some(channel), Some(dest)) = (method.channel(), method.destination()) {
            self.delivery(channel)?;
            self.policy.check_destination(&dest, channel)?;
        }
        self.store.insert_method(user, record.clone()).await?;
        self.events.emit(Event::EnrollmentStarted {
            user: user.clone(),
            method: method.kind(),
        });
        let mut pending = self
            .start_challenge(user, &record, Purpose::Enrollment, now)
            .await?;
        pending.app = app;
        Ok(pending)
    }

    /// Starts a sign-in challenge on the user's default method.
    pub async fn challenge(&self, user: &UserId) -> Result<Pending, Error> {
        let methods = self.active_methods(user).await?;
        let Some(default) = methods.iter().find(|m| m.is_default).or(methods.first()) else {
            return Err(Error::NotFound("enrolled method"));
        };
        self.start_challenge(user, default, Purpose::SignIn, self.clock.now())
            .await
    }

    /// Starts a sign-in challenge on another of the user's active methods.
    pub async fn challenge_with(
        &self,
        user: &UserId,
        method_id: &MethodId,
    ) -> Result<Pending, Error> {
        let methods = self.active_methods(user).await?;
        let Some(method) = methods.iter().find(|m| &m.id == method_id) else {
            return Err(Error::NotFound("method"));
        };
        self.start_challenge(user, method, Purpose::SignIn, self.clock.now())
            .await
    }

    async fn start_challenge(
        &self,
        user: &UserId,
        record: &MethodRecord,
        purpose: Purpose,
        now: Timestamp,
    ) -> Result<Pending, Error> {
        self.check_user_lockout(user, now).await?;
        let id = ChallengeId::generate(self.rng.as_ref());
        let channel = record.method.channel();
        let press_key = channel == Some(Channel::Voice)
            && self.policy.call_confirmation == CallConfirmation::PressKey;
        let code = match channel {
            Some(_) if !press_key => Some(random_code(self.rng.as_ref(), self.policy.code_digits)),
            _ => None,
        };
        let lifetime = match (channel, purpose) {
            (None, Purpose::Enrollment) => APP_ENROLLMENT_WINDOW,
            _ => self.policy.code_lifetime,
        };
        let (challenge, _) = challenge::begin(
            challenge::Begin {
                id: id.clone(),
                user: user.clone(),
                method_id: record.id.clone(),
                purpose,
                channel,
                code: code.as_ref(),
                lifetime,
            },
            &self.context(now),
        );
        let mut cost_notice = None;
        if let Some(channel) = channel {
            let dest = record
                .method
                .destination()
                .ok_or(Error::NotFound("destination"))?;
            let delivery = self.delivery(channel)?;
            cost_notice = self.policy.check_destination(&dest, channel)?;
            self.check_send_limits(user, &dest.number, now).await?;
            self.store.insert_challenge(challenge.clone()).await?;
            let sent = self
                .deliver(
                    delivery,
                    &challenge,
                    &record.method,
                    code,
                    cost_notice,
                    false,
                )
                .await;
            if let Err(e) = sent {
                // A call that rang out, was busy or was hung up stays pending, so the
                // user can be called again (`resend`) or switch method.
                if let Error::Delivery(d) = &e {
                    if channel == Channel::Voice && d.is_call_outcome() {
                        return Err(Error::CallNotCompleted {
                            challenge_id: id,
                            error: d.clone(),
                        });
                    }
                }
                // Nothing reached the user: the challenge cannot be answered.
                self.store
                    .close_challenge(&id, &[challenge.status], ChallengeStatus::Canceled)
                    .await?;
                return Err(e);
            }
        } else {
            self.store.insert_challenge(challenge.clone()).await?;
        }
        // Only a call can have changed the challenge already (a key pressed within the
        // send); everything else is as it was inserted, so no read is needed.
        let current = if channel == Some(Channel::Voice) {
            self.store.challenge(&id).await?.unwrap_or(challenge)
        } else {
            challenge
        };
        Ok(self.pending(&current, record.method.clone(), cost_notice))
    }

    fn pending(&self, c: &Challenge, method: Method, cost_notice: Option<CostNotice>) -> Pending {
        Pending {
            challenge_id: c.id.clone(),
            method_id: c.method_id.clone(),
            method,
            purpose: c.purpose,
            waiting_for: c.status,
            expires_at: c.expires_at,
            resend_after: c.last_sent_at.map(|t| t + self.policy.resend_cooldown),
            attempts_left: c.attempts_left(),
            cost_notice,
            app: None,
        }
    }

    fn delivery(&self, channel: Channel) -> Result<&Arc<dyn Delivery>, Error> {
        match channel {
            Channel::Sms => self
                .sms
                .as_ref()
                .ok_or(Error::NotConfigured("SMS delivery")),
            Channel::Voice => self
                .voice
                .as_ref()
                .ok_or(Error::NotConfigured("voice delivery")),
        }
    }

    async fn check_send_limits(
        &self,
        user: &UserId,
        number: &crate::phone::PhoneNumber,
        now: Timestamp,
    ) -> Result<(), Error> {
        let limits = &self.policy.send_limits;
        // Keys are keyed hashes, so a shared store never holds numbers or user ids in clear.
        let checks = [
            (
                "destination",
                self.limit_key("dest", number.e164()),
                limits.per_destination,
            ),
            (
                "user",
                self.limit_key("user", user.as_str()),
                limits.per_user,
            ),
            (
                "country",
                format!("cc:{}", number.country_code()),
                limits.per_country,
            ),
        ];
        for (scope, key, limit) in checks {
            let count = self.store.hit(&key, limit.window, now).await?;
            if count.count > limit.max {
                return Err(PolicyError::RateLimited {
                    scope,
                    retry_after: count.resets_at.saturating_since(now),
                }
                .into());
            }
        }
        Ok(())
    }

    fn limit_key(&self, scope: &str, subject: &str) -> String {
        let hash = self.key.hash(scope.as_bytes(), subject.as_bytes());
        let hex: String = hash.0[..12].iter().map(|b| format!("{b:02x}")).collect();
        format!("{scope}:{hex}")
    }

    async fn deliver(
        &self,
        delivery: &Arc<dyn Delivery>,
        challenge: &Challenge,
        method: &Method,
        code: Option<OneTimeCode>,
        cost_notice: Option<CostNotice>,
        resend: bool,
    ) -> Result<(), Error> {
        let channel = method.channel().ok_or(Error::NotFound("channel"))?;
        let destination = method.destination().ok_or(Error::NotFound("destination"))?;
        let country_code = destination.number.country_code();
        let request = DeliveryRequest {
            challenge_id: challenge.id.clone(),
            user: challenge.user.clone(),
            channel,
            destination,
            content: match code {
                Some(code) => Content::Code(code),
                None => Content::ConfirmByKey,
            },
            purpose: challenge.purpose,
            expires_in: challenge.expires_at.saturating_since(self.clock.now()),
            locale: self.policy.locale.clone(),
            app_name: self.policy.app_name.clone(),
            cost_notice,
        };
        match delivery.send(&request).await {
            Ok(receipt) => {
                self.events.emit(Event::CodeSent {
                    user: challenge.user.clone(),
                    channel,
                    country_code,
                    purpose: challenge.purpose,
                    resend,
                });
                if let Some(outcome) = receipt.call_outcome {
                    self.report_call(&challenge.id, outcome).await?;
                }
                Ok(())
            }
            Err(e) => {
                self.events.emit(Event::DeliveryFailed {
                    user: challenge.user.clone(),
                    channel,
                    transient: e.is_transient(),
                });
                Err(e.into())
            }
        }
    }

    /// "Cancel, then Next": a new code after the cooldown; the old code dies and the
    /// wrong-attempt count is kept. For calls, calls again.
    ///
    /// If the send fails the challenge stays pending, so the user can try again.
    pub async fn resend(&self, id: &ChallengeId) -> Result<Pending, Error> {
        let now = self.clock.now();
        let challenge = self.load(id).await?;
        let method = self.method_of(&challenge).await?;
        let Some(channel) = method.method.channel() else {
            return Err(refused(&challenge, now, "resend"));
        };
        if challenge.status_at(now).is_awaiting() {
            if let Some(last) = challenge.last_sent_at {
                let ready = last + self.policy.resend_cooldown;
                if now < ready {
                    return Err(PolicyError::ResendTooSoon {
                        retry_after: ready.saturating_since(now),
                    }
                    .into());
                }
            }
            if challenge.sends >= self.policy.max_sends {
                return Err(PolicyError::TooManySends.into());
            }
        }
        let code = match challenge.answer {
            Answer::SentCode(_) => Some(random_code(self.rng.as_ref(), self.policy.code_digits)),
            _ => None,
        };
        let (next, effects) = challenge::transition(
            challenge.clone(),
            ChallengeEvent::Resend(code.as_ref()),
            &self.context(now),
        )?;
        let destination = method
            .method
            .destination()
            .ok_or(Error::NotFound("destination"))?;
        let cost_notice = self.policy.check_destination(&destination, channel)?;
        self.check_send_limits(&challenge.user, &destination.number, now)
            .await?;
        for effect in effects {
            match effect {
                Effect::ReplaceCode {
                    generation,
                    hash,
                    expires_at,
                } => {
                    let replaced = self
                        .store
                        .replace_code(id, generation, hash, expires_at, now)
                        .await?;
                    if !replaced {
                        return Err(refused(&challenge, now, "resend"));
                    }
                }
                Effect::Deliver { .. } => {
                    let delivery = self.delivery(channel)?;
                    self.deliver(
                        delivery,
                        &next,
                        &method.method,
                        code.clone(),
                        cost_notice,
                        true,
                    )
                    .await?;
                }
                _ => {}
            }
        }
        let current = self.load(id).await?;
        Ok(self.pending(&current, method.method, cost_notice))
    }

    /// "Write in the code and choose Check".
    ///
    /// A malformed code is an input error and costs no attempt. Any store failure is an
    /// error: never an approval.
    pub async fn verify(&self, id: &ChallengeId, code: &str) -> Result<Verification, Error> {
        let now = self.clock.now();
        let challenge = self.load(id).await?;
        let code = match challenge.answer {
            Answer::SentCode(_) => OneTimeCode::parse_exact(code, self.policy.code_digits)?,
            _ => OneTimeCode::parse(code)?,
        };
        if !challenge.status_at(now).is_awaiting() {
            return settled(challenge.status_at(now));
        }
        self.check_user_lockout(&challenge.user, now).await?;
        let method = if challenge.answer == Answer::AppCode {
            Some(self.method_of(&challenge).await?)
        } else {
            None
        };
        let last_step = match &method {
            Some(m) => self.store.app_step(&challenge.user, &m.id).await?,
            None => None,
        };
        let app = match (&method, &self.app) {
            (
                Some(MethodRecord {
                    app: Some(credential),
                    ..
                }),
                Some(verifier),
            ) => Some((verifier.as_ref(), credential, last_step)),
            (Some(_), None) => return Err(Error::NotConfigured("authenticator app verifier")),
            _ => None,
        };
        let ctx = Context {
            now,
            policy: &self.policy,
            key: &self.key,
            app: app.map(|(v, c, s)| (v as &dyn AppVerifier, c as &AppCredential, s)),
        };
        let outcome =
            match challenge::transition(challenge.clone(), ChallengeEvent::SubmitCode(&code), &ctx)
            {
                Ok((_, effects)) => self.apply_check(&challenge, effects, now).await?,
                Err(_) => settled(challenge.status_at(now))?,
            };
        Ok(outcome)
    }

    async fn apply_check(
        &self,
        challenge: &Challenge,
        effects: Vec<Effect>,
        now: Timestamp,
    ) -> Result<Verification, Error> {
        let user = &challenge.user;
        for effect in effects {
            match effect {
                Effect::AdvanceAppStep { step, .. } => {
                    let advanced = self
                        .store
                        .advance_app_step(user, &challenge.method_id, step)
                        .await?;
                    if !advanced {
                        // Another request took this step between our read and our
                        // write: the same code twice at once. A replay, not a guess.
                        return self.refuse_replay(challenge, now).await;
                    }
                }
                Effect::RefuseReplay => return self.refuse_replay(challenge, now).await,
                Effect::Approve { generation } => {
                    if self.store.approve(&challenge.id, generation, now).await? {
                        self.store.clear_user_failures(user).await?;
                        let kind = self.method_of(challenge).await.map(|m| m.method.kind());
                        self.events.emit(Event::CheckSucceeded {
                            user: user.clone(),
                            purpose: challenge.purpose,
                            method: kind.unwrap_or(MethodKind::AuthenticationPhone),
                        });
                        return Ok(Verification::Approved);
                    }
                    let current = self.load(&challenge.id).await?;
                    return settled(current.status_at(now));
                }
                Effect::RecordFailure => return self.record_failure(challenge, now).await,
                Effect::Close { to } => {
                    self.store
                        .close_challenge(&challenge.id, &AWAITING, to)
                        .await?;
                    let current = self.load(&challenge.id).await?;
                    return settled(current.status);
                }
                _ => {}
            }
        }
        Err(Error::NotFound("verification outcome"))
    }

    /// A spent app code: refused, no attempt counted.
    async fn refuse_replay(
        &self,
        challenge: &Challenge,
        now: Timestamp,
    ) -> Result<Verification, Error> {
        let current = self.load(&challenge.id).await?;
        match current.status_at(now) {
            s if s.is_awaiting() => Ok(Verification::Rejected {
                attempts_left: current.attempts_left(),
            }),
            s => settled(s),
        }
    }

    async fn record_failure(
        &self,
        challenge: &Challenge,
        now: Timestamp,
    ) -> Result<Verification, Error> {
        let user = &challenge.user;
        let Some(recorded) = self.store.record_failure(&challenge.id, now).await? else {
            return Err(Error::NotFound("challenge"));
        };
        let (after, counted) = (recorded.challenge, recorded.counted);
        if !counted {
            return settled(after.status_at(now));
        }
        let failures = self.store.record_user_failure(user, now).await?;
        self.events.emit(Event::CheckFailed {
            user: user.clone(),
            purpose: challenge.purpose,
            attempts_left: after.attempts_left(),
        });
        if failures.count == self.policy.lockout.hard_limit {
            self.events.emit(Event::UserLocked { user: user.clone() });
        }
        if after.status == ChallengeStatus::Locked {
            self.events
                .emit(Event::ChallengeLocked { user: user.clone() });
            return Ok(Verification::Locked);
        }
        Ok(Verification::Rejected {
            attempts_left: after.attempts_left(),
        })
    }

    /// A call's outcome, reported by a voice backend or its webhook: `#` approves,
    /// `0#` denies the challenge, reports fraud and blocks the method.
    pub async fn report_call(
        &self,
        id: &ChallengeId,
        outcome: CallOutcome,
    ) -> Result<Verification, Error> {
        let now = self.clock.now();
        let challenge = self.load(id).await?;
        let event = match outcome {
            CallOutcome::Confirmed => ChallengeEvent::CallConfirmed,
            CallOutcome::FraudReported => ChallengeEvent::FraudReported,
        };
        let (_, effects) = match challenge::transition(challenge.clone(), event, &self.context(now))
        {
            Ok(t) => t,
            Err(_) => return settled(challenge.status_at(now)),
        };
        // The machine's `Close { to: Denied }` effect denies a fraud report's challenge.
        let verification = self.apply_check(&challenge, effects, now).await?;
        if outcome == CallOutcome::FraudReported {
            self.events.emit(Event::FraudReported {
                user: challenge.user.clone(),
                method_id: challenge.method_id.clone(),
            });
            self.store
                .block_method(&challenge.user, &challenge.method_id)
                .await?;
        }
        Ok(verification)
    }

    /// Gives up on a challenge; for an enrollment the pending method is dropped.
    pub async fn cancel(&self, id: &ChallengeId) -> Result<(), Error> {
        let now = self.clock.now();
        let challenge = self.load(id).await?;
        challenge::transition(
            challenge.clone(),
            ChallengeEvent::Cancel,
            &self.context(now),
        )?;
        let closed = self
            .store
            .close_challenge(
                id,
                &[AWAITING[0], AWAITING[1], ChallengeStatus::Approved],
                ChallengeStatus::Canceled,
            )
            .await?;
        if closed && challenge.purpose == Purpose::Enrollment {
            let methods = self.store.methods(&challenge.user).await?;
            if methods
                .iter()
                .any(|m| m.id == challenge.method_id && m.status == MethodStatus::Pending)
            {
                self.store
                    .remove_method(&challenge.user, &challenge.method_id, true)
                    .await?;
            }
        }
        Ok(())
    }

    /// "Authentication is complete. Click Complete": the verified method becomes active
    /// (and default when it is the user's first).
    pub async fn complete(&self, id: &ChallengeId) -> Result<MethodRecord, Error> {
        let now = self.clock.now();
        let challenge = self.load(id).await?;
        let (_, effects) = challenge::transition(
            challenge.clone(),
            ChallengeEvent::Complete,
            &self.context(now),
        )?;
        let user = &challenge.user;
        for effect in effects {
            match effect {
                Effect::Close { to } => {
                    let closed = self
                        .store
                        .close_challenge(id, &[ChallengeStatus::Approved], to)
                        .await?;
                    if !closed {
                        return Err(refused(&challenge, now, "complete"));
                    }
                }
                Effect::ActivateMethod => {
                    let before = self.method_of(&challenge).await?;
                    if !self
                        .store
                        .activate_method(user, &challenge.method_id, false)
                        .await?
                    {
                        return Err(Error::NotFound("pending method"));
                    }
                    self.events.emit(Event::MethodAdded {
                        user: user.clone(),
                        method_id: challenge.method_id.clone(),
                        method: before.method.kind(),
                    });
                    if before.replaces.is_some() {
                        self.events.emit(Event::PhoneNumberChanged {
                            user: user.clone(),
                            method_id: challenge.method_id.clone(),
                        });
                    }
                }
                _ => {}
            }
        }
        self.method_of(&challenge).await
    }

    /// Makes another active method the default; needs recent re-authentication.
    pub async fn set_default(
        &self,
        user: &UserId,
        method_id: &MethodId,
        proof: &ChallengeId,
    ) -> Result<(), Error> {
        self.check_reauthentication(user, proof).await?;
        if !self.store.set_default(user, method_id).await? {
            return Err(Error::NotFound("active method"));
        }
        self.events.emit(Event::DefaultChanged {
            user: user.clone(),
            method_id: method_id.clone(),
        });
        Ok(())
    }

    /// Removes a method; never the last active one (see [`Mfa::reset_user`]).
    pub async fn remove_method(
        &self,
        user: &UserId,
        method_id: &MethodId,
        proof: &ChallengeId,
    ) -> Result<(), Error> {
        self.check_reauthentication(user, proof).await?;
        match self.store.remove_method(user, method_id, false).await? {
            Removal::Removed => {
                self.events.emit(Event::MethodRemoved {
                    user: user.clone(),
                    method_id: method_id.clone(),
                });
                Ok(())
            }
            Removal::NotFound => Err(Error::NotFound("method")),
            Removal::LastMethod => Err(PolicyError::LastMethod.into()),
        }
    }

    /// An administrator's reset: every method and recovery code goes, failures are
    /// cleared, and the user must enroll again.
    pub async fn reset_user(&self, user: &UserId) -> Result<(), Error> {
        self.store.remove_all_methods(user).await?;
        self.store.clear_user_failures(user).await?;
        self.events.emit(Event::UserReset { user: user.clone() });
        Ok(())
    }

    /// Makes a new set of recovery codes (the old set dies) and returns them to show
    /// once. An enrolled user needs recent re-authentication.
    pub async fn regenerate_recovery_codes(
        &self,
        user: &UserId,
        proof: Option<&ChallengeId>,
    ) -> Result<Vec<RecoveryCode>, Error> {
        let enrolled = !self.active_methods(user).await?.is_empty();
        match proof {
            Some(p) => self.check_reauthentication(user, p).await?,
            None if enrolled => return Err(PolicyError::ReauthenticationRequired.into()),
            None => {}
        }
        let codes: Vec<RecoveryCode> = (0..self.policy.recovery_codes)
            .map(|_| RecoveryCode::generate(self.rng.as_ref()))
            .collect();
        let hashes = codes
            .iter()
            .map(|c| self.key.hash(user.as_str().as_bytes(), c.as_bytes()))
            .collect();
        self.store.replace_recovery_codes(user, hashes).await?;
        self.events
            .emit(Event::RecoveryCodesRegenerated { user: user.clone() });
        Ok(codes)
    }

    /// Signs in with a recovery code, which then dies. The answer carries proof of
    /// re-authentication, so a user who lost their phone can set up a new one.
    pub async fn verify_recovery_code(
        &self,
        user: &UserId,
        code: &str,
    ) -> Result<Option<RecoverySignIn>, Error> {
        let now = self.clock.now();
        let code = RecoveryCode::parse(code)?;
        self.check_user_lockout(user, now).await?;
        let hash = self.key.hash(user.as_str().as_bytes(), code.as_bytes());
        let Some(remaining) = self.store.consume_recovery_code(user, &hash).await? else {
            self.store.record_user_failure(user, now).await?;
            return Ok(None);
        };
        self.store.clear_user_failures(user).await?;
        let proof = ChallengeId::generate(self.rng.as_ref());
        self.store
            .insert_challenge(Challenge {
                id: proof.clone(),
                user: user.clone(),
                method_id: MethodId::parse("recovery-codes")?,
                purpose: Purpose::SignIn,
                status: ChallengeStatus::Approved,
                answer: Answer::KeyPress,
                generation: 0,
                attempts: 0,
                max_attempts: self.policy.max_attempts,
                sends: 0,
                created_at: now,
                expires_at: now,
                last_sent_at: None,
                approved_at: Some(now),
            })
            .await?;
        self.events.emit(Event::RecoveryCodeUsed {
            user: user.clone(),
            remaining,
        });
        Ok(Some(RecoverySignIn { proof, remaining }))
    }

    /// Where an enrollment stands, in the guide's words.
    pub async fn enrollment_state(&self, id: &ChallengeId) -> Result<EnrollmentState, Error> {
        let challenge = self.load(id).await?;
        Ok(EnrollmentState::of(Some(&challenge), self.clock.now()))
    }

    /// A challenge as it stands.
    pub async fn challenge_status(&self, id: &ChallengeId) -> Result<ChallengeStatus, Error> {
        let challenge = self.load(id).await?;
        Ok(challenge.status_at(self.clock.now()))
    }

    async fn load(&self, id: &ChallengeId) -> Result<Challenge, Error> {
        self.store
            .challenge(id)
            .await?
            .ok_or(Error::NotFound("challenge"))
    }

    async fn method_of(&self, challenge: &Challenge) -> Result<MethodRecord, Error> {
        self.store
            .methods(&challenge.user)
            .await?
            .into_iter()
            .find(|m| m.id == challenge.method_id)
            .ok_or(Error::NotFound("method"))
    }

    fn context(&self, now: Timestamp) -> Context<'_> {
        Context {
            now,
            policy: &self.policy,
            key: &self.key,
            app: None,
        }
    }

    async fn check_user_lockout(&self, user: &UserId, now: Timestamp) -> Result<(), Error> {
        let failures = self.store.user_failures(user).await?;
        match self.policy.lockout.after(failures.count) {
            Lockout::Open => Ok(()),
            Lockout::Locked => Err(PolicyError::UserLocked { retry_after: None }.into()),
            Lockout::Delay(delay) => {
                let until = failures.last_at.unwrap_or(now) + delay;
                if now < until {
                    Err(PolicyError::UserLocked {
                        retry_after: Some(until.saturating_since(now)),
                    }
                    .into())
                } else {
                    Ok(())
                }
            }
        }
    }

    async fn check_reauthentication(
        &self,
        user: &UserId,
        proof: &ChallengeId,
    ) -> Result<(), Error> {
        let now = self.clock.now();
        let fresh = match self.store.challenge(proof).await? {
            Some(c) => {
                &c.user == user
                    && c.purpose == Purpose::SignIn
                    && c.status == ChallengeStatus::Approved
                    && c.approved_at
                        .is_some_and(|t| now < t + self.policy.reauthentication_window)
            }
            None => false,
        };
        if fresh {
            Ok(())
        } else {
            Err(PolicyError::ReauthenticationRequired.into())
        }
    }
}

/// The error for an event the challenge's current state does not take.
fn refused(challenge: &Challenge, now: Timestamp, event: &'static str) -> Error {
    crate::error::TransitionError {
        state: challenge.status_at(now).name(),
        event,
    }
    .into()
}

/// The verification answer for a challenge that no longer takes codes.
fn settled(status: ChallengeStatus) -> Result<Verification, Error> {
    match status {
        ChallengeStatus::Approved | ChallengeStatus::Completed => Ok(Verification::AlreadyUsed),
        ChallengeStatus::Locked => Ok(Verification::Locked),
        ChallengeStatus::Expired => Ok(Verification::Expired),
        ChallengeStatus::Denied => Ok(Verification::Denied),
        s => Err(crate::error::TransitionError {
            state: s.name(),
            event: "submit code",
        }
        .into()),
    }
}
