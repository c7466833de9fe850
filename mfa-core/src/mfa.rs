//! The async driver: loads a user's record, lets [`crate::machine`] decide, commits
//! the result by compare-and-set (deciding again on a conflict), then performs the
//! effects: sends after the commit that counted them, events last. Each public
//! method is one request.

use std::fmt;
use std::sync::Arc;

use crate::app::{AppProvisioning, AppVerifier};
use crate::challenge::{ChallengeStatus, EnrollmentState};
use crate::clock::{Clock, SystemClock, Timestamp};
use crate::code::{CodeKey, OneTimeCode, Randomness, RecoveryCode, ThreadRandomness, random_code};
use crate::delivery::{CallOutcome, Delivery, DeliveryError, DeliveryRequest, Purpose};
use crate::device::{DeviceToken, RememberedDevice};
use crate::email::EmailDelivery;
use crate::error::{Error, LimitScope, Missing, PolicyError, StoreError};
use crate::event::{Event, EventSink, NoEvents, Refusal};
use crate::inline::InlineStr;
use crate::machine::{self, Ctx, Effect, Fresh, Send, Verification};
use crate::method::{ChallengeId, Channel, Method, MethodId, MethodKind, MethodName, MethodRecord};
use crate::passkey::PasskeyVerifier;
use crate::policy::{CostNotice, Policy, RiskNotice};
use crate::proof::Proof;
use crate::record::{UserRecord, UserStatus};
use crate::request::{EventMeta, RequestContext};
use crate::store::{Commit, MemoryStore, Store, WindowHit};
use crate::user::UserId;

mod access_pass;
mod cache;
mod email;
mod inventory;
mod locale;
mod reports;

/// How often a request decides again after losing a commit race before it gives up.
const MAX_CONFLICTS: usize = 64;

/// Where a user stands.
#[derive(Debug, Clone, PartialEq, Eq)]
#[allow(clippy::large_enum_variant)] // returned once per request; boxing would only add an allocation
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum Status {
    /// "You will be asked to set up the extra security": no method set up yet.
    EnrollmentRequired,
    /// Enrolled; sign-in asks for the default method.
    Enrolled {
        /// The method sign-in uses first.
        default: MethodRecord,
        /// Every active method.
        methods: usize,
    },
    /// A fraud report suspended the user's factor changes; methods not reported may
    /// still sign in. Lifted by [`Mfa::unblock`] or a recovery-code sign-in.
    Suspended {
        /// When the report came.
        since: Timestamp,
        /// The method sign-in can still use, if any.
        default: Option<MethodRecord>,
    },
}

/// A challenge waiting for the user: what to show them next.
#[derive(Debug, Clone)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
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
    /// Set for phone methods (SMS and calls): tell the user their weakness.
    pub risk_notice: Option<RiskNotice>,
    /// For app enrollment: the secret, URI and manual key to show once.
    // The secret to show once: never serialized.
    #[cfg_attr(feature = "serde", serde(skip))]
    pub app: Option<AppProvisioning>,
    /// With number matching on calls: the two digits to show, which the user keys in
    /// on the call. A resend calls with a new number.
    pub match_number: Option<crate::number_match::SignInNumber>,
    /// For passkeys: the options, as JSON, to hand to the browser's WebAuthn call
    /// (`navigator.credentials.create` to register, `.get` to sign in); its answer
    /// goes to [`Mfa::verify_passkey`].
    pub passkey_options: Option<String>,
}

/// A completed enrollment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Completion {
    /// The method, now active.
    pub method: MethodRecord,
    /// Proof of the factor just shown, for the next settings change (recovery codes,
    /// say) within the re-authentication window.
    pub proof: Proof,
    /// The recovery codes the user's first active method made, to show this once;
    /// empty when the user had a method already. Made whatever proof the setup
    /// used, so a user onboarded with a Temporary Access Pass gets them too.
    pub recovery_codes: Vec<RecoveryCode>,
}

/// A successful recovery-code sign-in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecoverySignIn {
    /// Proof of re-authentication, so a user who lost their phone can set up a new one.
    pub proof: Proof,
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
    email: Option<Arc<dyn EmailDelivery>>,
    tokens: Option<Arc<dyn AppVerifier>>,
    passkeys: Option<Arc<dyn PasskeyVerifier>>,
    cache: usize,
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

    /// The key codes, recovery codes and proofs are hashed under. Durable stores need
    /// the same key on every server and across restarts (building without one fails);
    /// over the memory store the default is a random key per process.
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

    /// The email backend (such as `mfa_email::EmailChannel`). Email codes are sent only
    /// when [`Policy::allow_email`] is on.
    pub fn email(mut self, delivery: impl EmailDelivery + 'static) -> Self {
        self.email = Some(Arc::new(delivery));
        self
    }

    /// The authenticator-app verifier (such as `mfa_totp::Totp`).
    pub fn app(mut self, verifier: impl AppVerifier + 'static) -> Self {
        self.app = Some(Arc::new(verifier));
        self
    }

    /// The hardware-token verifier (such as `mfa_totp::OathTokens`), which reads the
    /// TOTP or HOTP settings each imported token's credential carries.
    pub fn hardware_tokens(mut self, verifier: impl AppVerifier + 'static) -> Self {
        self.tokens = Some(Arc::new(verifier));
        self
    }

    /// The passkey (WebAuthn) verifier, such as `mfa_passkey::WebauthnPasskeys`.
    pub fn passkeys(mut self, verifier: impl PasskeyVerifier + 'static) -> Self {
        self.passkeys = Some(Arc::new(verifier));
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

    /// How many users' last committed records to keep in this process (default 4,096;
    /// 0 turns it off), over a durable store ([`Store::is_durable`]).
    ///
    /// A request for a user this server committed a record for in the last five minutes
    /// (a sign-in's code typed after its challenge started, say) decides from that
    /// record and commits it by compare-and-set: one store round trip instead of two.
    /// The store refuses the commit if another server changed the record meanwhile; the
    /// request is then decided again from a fresh load, as is any request that ends in
    /// an error from a kept record, so every answer rests on the store's current
    /// record. Read-only calls ([`Mfa::status`], [`Mfa::methods`]) always load.
    pub fn record_cache(mut self, users: usize) -> Self {
        self.cache = users;
        self
    }

    /// Checks the policy and builds the driver.
    ///
    /// A durable store ([`Store::is_durable`]) needs [`MfaBuilder::code_key`]: with a
    /// key of its own, a restarted or second server could not check the codes, recovery
    /// codes and proofs the first one stored, nor share its send limits.
    pub fn build(self) -> Result<Mfa, Error> {
        self.policy.validate()?;
        let key = match self.key {
            Some(k) => k,
            None if self.store.is_durable() => return Err(PolicyError::CodeKeyRequired.into()),
            None => CodeKey::generate(self.rng.as_ref()),
        };
        let cache = if self.store.is_durable() {
            cache::RecordCache::new(self.cache).map(Arc::new)
        } else {
            // The memory store's load is a copy in this process already.
            None
        };
        Ok(Mfa {
            cache,
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
            tokens: self.tokens,
            passkeys: self.passkeys,
            request: None,
            email: self.email,
        })
    }
}

/// The second-factor service: enrollment, sign-in and managing methods.
///
/// Cheap to share: wrap it in an `Arc`. [`Mfa::with_request`] makes a copy for one
/// request.
#[derive(Clone)]
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
    tokens: Option<Arc<dyn AppVerifier>>,
    passkeys: Option<Arc<dyn PasskeyVerifier>>,
    request: Option<Arc<RequestContext>>,
    email: Option<Arc<dyn EmailDelivery>>,
    cache: Option<Arc<cache::RecordCache>>,
}

impl fmt::Debug for Mfa {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Mfa")
            .field("store", &self.store)
            .field("policy", &self.policy)
            .field("sms", &self.sms)
            .field("voice", &self.voice)
            .field("app", &self.app)
            .field("email", &self.email)
            .finish_non_exhaustive()
    }
}

impl Mfa {
    /// A builder with the defaults: memory store, system clock, a thread-local CSPRNG
    /// seeded from the OS ([`ThreadRandomness`]), default policy.
    pub fn builder() -> MfaBuilder {
        MfaBuilder {
            store: Arc::new(MemoryStore::new()),
            clock: Arc::new(SystemClock),
            rng: Arc::new(ThreadRandomness),
            key: None,
            policy: Policy::default(),
            sms: None,
            voice: None,
            app: None,
            events: Arc::new(NoEvents),
            issuer: None,
            email: None,
            tokens: None,
            passkeys: None,
            cache: cache::DEFAULT_CAPACITY,
        }
    }

    /// This service for one request: its events carry `request` (client address and
    /// user agent, see [`EventMeta`]) and its sends also count against the client's
    /// send limit ([`SendLimits::per_client`](crate::policy::SendLimits::per_client)).
    ///
    /// ```
    /// # async fn sign_in(mfa: &mfa_core::Mfa, user: &mfa_core::UserId) -> Result<(), mfa_core::Error> {
    /// use mfa_core::RequestContext;
    ///
    /// let request = RequestContext::new()
    ///     .client("203.0.113.7".parse().expect("an address"))
    ///     .user_agent("Mozilla/5.0");
    /// let pending = mfa.with_request(request).challenge(user).await?;
    /// # let _ = pending; Ok(()) }
    /// ```
    pub fn with_request(&self, request: RequestContext) -> Mfa {
        Mfa {
            request: Some(Arc::new(request)),
            ..self.clone()
        }
    }

    /// The kinds of method this service can set up, strongest first: a passkey
    /// (when a passkey verifier is configured), the
    /// authenticator app (when an app verifier is configured), then the
    /// authentication phone (SMS or call), then the office phone (calls).
    ///
    /// OWASP ASVS 5.0 (6.6.1) asks that a phone is offered only beside a stronger
    /// method: list them in this order, and show each phone method's
    /// [`Pending::risk_notice`].
    pub fn offered_methods(&self) -> Vec<MethodKind> {
        let mut kinds = Vec::with_capacity(4);
        if self.passkeys.is_some() {
            kinds.push(MethodKind::Passkey);
        }
        if self.app.is_some() {
            kinds.push(MethodKind::AuthenticatorApp);
        }
        if self.sms.is_some() || self.voice.is_some() {
            kinds.push(MethodKind::AuthenticationPhone);
        }
        if self.voice.is_some() {
            kinds.push(MethodKind::OfficePhone);
        }
        kinds
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
    #[cfg_attr(feature = "tracing", tracing::instrument(name = "mfa.status", skip_all, fields(user = %user), ret, err(level = "warn", Display)))]
    pub async fn status(&self, user: &UserId) -> Result<Status, Error> {
        let rec = self.read(user).await?;
        let default = rec.default_method().cloned();
        Ok(match (rec.status, default) {
            (UserStatus::Suspended { since }, default) => Status::Suspended { since, default },
            (UserStatus::Active, Some(default)) => Status::Enrolled {
                default,
                methods: rec.active_methods().count(),
            },
            // A user whose methods are all blocked is enrolled: only a proof adds one.
            (UserStatus::Active, None) if rec.is_enrolled() => Status::Suspended {
                since: rec.updated_at,
                default: None,
            },
            (UserStatus::Active, None) => Status::EnrollmentRequired,
        })
    }

    /// The user's methods: active, blocked and pending.
    #[cfg_attr(feature = "tracing", tracing::instrument(name = "mfa.methods", skip_all, fields(user = %user), err(level = "warn", Display)))]
    pub async fn methods(&self, user: &UserId) -> Result<Vec<MethodRecord>, Error> {
        Ok(self.read(user).await?.methods)
    }

    /// "Set it up now": starts enrolling the first method of a user who has none.
    ///
    /// Sends the SMS or places the call at once; for an app, returns the secret and
    /// URI to show. A user who has set up a method must use [`Mfa::add_method`].
    #[cfg_attr(feature = "tracing", tracing::instrument(name = "mfa.begin_enrollment", skip_all, fields(user = %user, method = %method), ret, err(level = "warn", Display)))]
    pub async fn begin_enrollment(&self, user: &UserId, method: Method) -> Result<Pending, Error> {
        self.enroll(user, method, None, None).await
    }

    /// Adds another method; needs a proof of a fresh second factor.
    #[cfg_attr(feature = "tracing", tracing::instrument(name = "mfa.add_method", skip_all, fields(user = %user, method = %method), ret, err(level = "warn", Display)))]
    pub async fn add_method(
        &self,
        user: &UserId,
        method: Method,
        proof: &Proof,
    ) -> Result<Pending, Error> {
        self.enroll(user, method, None, Some(proof)).await
    }

    /// Replaces a phone method's number: the new number must be verified, and the old
    /// method goes only when the new one completes. Emits [`Event::PhoneNumberChanged`].
    #[cfg_attr(feature = "tracing", tracing::instrument(name = "mfa.change_phone_number", skip_all, fields(user = %user, method = %method, old = %old), ret, err(level = "warn", Display)))]
    pub async fn change_phone_number(
        &self,
        user: &UserId,
        old: &MethodId,
        method: Method,
        proof: &Proof,
    ) -> Result<Pending, Error> {
        self.enroll(user, method, Some(old), Some(proof)).await
    }

    /// [`Mfa::begin_enrollment`] of a method the user names ("work phone"), shown in
    /// [`Mfa::methods`]; names are unique among the user's methods.
    #[cfg_attr(feature = "tracing", tracing::instrument(name = "mfa.begin_enrollment_named", skip_all, fields(user = %user, method = %method), ret, err(level = "warn", Display)))]
    pub async fn begin_enrollment_named(
        &self,
        user: &UserId,
        method: Method,
        name: &str,
    ) -> Result<Pending, Error> {
        let name = MethodName::parse(name)?;
        self.enroll_named(user, method, Some(name), None, None)
            .await
    }

    /// [`Mfa::add_method`] of a method the user names. A second (up to
    /// [`Policy::max_authenticator_apps`]) authenticator app needs a name; setting it
    /// up leaves the first untouched.
    #[cfg_attr(feature = "tracing", tracing::instrument(name = "mfa.add_method_named", skip_all, fields(user = %user, method = %method), ret, err(level = "warn", Display)))]
    pub async fn add_method_named(
        &self,
        user: &UserId,
        method: Method,
        name: &str,
        proof: &Proof,
    ) -> Result<Pending, Error> {
        let name = MethodName::parse(name)?;
        self.enroll_named(user, method, Some(name), None, Some(proof))
            .await
    }

    /// Gives a method a new name; needs a proof.
    #[cfg_attr(feature = "tracing", tracing::instrument(name = "mfa.rename_method", skip_all, fields(user = %user, method_id = %method_id), ret, err(level = "warn", Display)))]
    pub async fn rename_method(
        &self,
        user: &UserId,
        method_id: &MethodId,
        name: &str,
        proof: &Proof,
    ) -> Result<(), Error> {
        let name = MethodName::parse(name)?;
        self.run(user, |rec, ctx, fx| {
            machine::rename_method(rec, method_id, name.clone(), proof, ctx, fx)
        })
        .await
        .map(|_| ())
    }

    async fn enroll(
        &self,
        user: &UserId,
        method: Method,
        replaces: Option<&MethodId>,
        proof: Option<&Proof>,
    ) -> Result<Pending, Error> {
        self.enroll_named(user, method, None, replaces, proof).await
    }

    async fn enroll_named(
        &self,
        user: &UserId,
        method: Method,
        name: Option<MethodName>,
        replaces: Option<&MethodId>,
        proof: Option<&Proof>,
    ) -> Result<Pending, Error> {
        if let Some(channel) = method.channel() {
            self.check_configured(channel)?;
        }
        if method.kind() == MethodKind::Passkey && self.passkeys.is_none() {
            return Err(Error::NotConfigured(Missing::PasskeyVerifier));
        }
        let provisioning = match method.kind() {
            MethodKind::AuthenticatorApp => {
                let verifier = self
                    .app
                    .as_ref()
                    .ok_or(Error::NotConfigured(Missing::AppVerifier))?;
                Some(verifier.provision(&self.issuer, user.as_str(), self.rng.as_ref())?)
            }
            _ => None,
        };
        let fresh = self.fresh();
        let (mut pending, sends) = self
            .run(user, |rec, ctx, fx| {
                machine::begin_named_enrollment(
                    rec,
                    method.clone(),
                    name.clone(),
                    replaces,
                    proof,
                    provisioning.as_ref(),
                    &fresh,
                    ctx,
                    fx,
                )
            })
            .await?;
        self.perform(user, sends, &mut pending).await?;
        pending.app = provisioning;
        Ok(pending)
    }

    /// Moves an HOTP hardware token's counter forward from two consecutive codes,
    /// when it ran past the look-ahead (the button pressed many times away from a
    /// sign-in). `false` when the pair matches no counters (counted as a failure).
    /// Signs nobody in.
    #[cfg_attr(feature = "tracing", tracing::instrument(name = "mfa.resync_hardware_token", skip_all, fields(user = %user, method_id = %method_id), ret, err(level = "warn", Display)))]
    pub async fn resync_hardware_token(
        &self,
        user: &UserId,
        method_id: &MethodId,
        first: &str,
        second: &str,
    ) -> Result<bool, Error> {
        let first = OneTimeCode::parse(first)?;
        let second = OneTimeCode::parse(second)?;
        let (done, _) = self
            .run(user, |rec, ctx, fx| {
                machine::resync_token(rec, method_id, &first, &second, ctx, fx)
            })
            .await?;
        Ok(done)
    }

    /// The open enrollment challenge of a pending method, such as an assigned
    /// hardware token waiting for its first code.
    #[cfg_attr(feature = "tracing", tracing::instrument(name = "mfa.enrollment_challenge", skip_all, fields(user = %user, method_id = %method_id), ret, err(level = "warn", Display)))]
    pub async fn enrollment_challenge(
        &self,
        user: &UserId,
        method_id: &MethodId,
    ) -> Result<Option<ChallengeId>, Error> {
        let rec = self.read(user).await?;
        let now = self.clock.now();
        Ok(rec
            .challenges
            .iter()
            .find(|c| {
                &c.method_id == method_id
                    && c.purpose == Purpose::Enrollment
                    && (c.status_at(now).is_awaiting() || c.status == ChallengeStatus::Approved)
            })
            .map(|c| c.id.clone()))
    }

    /// The browser's answer to a passkey challenge (the JSON of its
    /// `PublicKeyCredential`). Registration: an answer that verifies waits for
    /// [`Mfa::complete`], like a correct code. Sign-in: one that verifies is redeemed
    /// at once and carries its proof. An answer from another origin, for another
    /// challenge, from a passkey that is not this user's, with a counter that went
    /// back (a cloned authenticator) or without the user verification the policy
    /// asks is `Rejected` and costs an attempt; one that is not WebAuthn at all is
    /// an input error.
    #[cfg_attr(feature = "tracing", tracing::instrument(name = "mfa.verify_passkey", skip_all, fields(user = %user, challenge = %challenge), ret, err(level = "warn", Display)))]
    pub async fn verify_passkey(
        &self,
        user: &UserId,
        challenge: &ChallengeId,
        response: &str,
    ) -> Result<Verification, Error> {
        let fresh = self.fresh_proof();
        let (answer, _) = self
            .run(user, |rec, ctx, fx| {
                machine::verify_passkey(rec, challenge, response, &fresh, ctx, fx)
            })
            .await?;
        Ok(answer)
    }

    /// The user's active methods in the order sign-in offers them: a passkey first
    /// when they have one ([`Policy::passkeys_first`]), then the default, then the
    /// rest, strongest first. [`Mfa::challenge`] starts on the first; the others are
    /// "sign in another way" ([`Mfa::challenge_with`]).
    #[cfg_attr(feature = "tracing", tracing::instrument(name = "mfa.sign_in_options", skip_all, fields(user = %user), err(level = "warn", Display)))]
    pub async fn sign_in_options(&self, user: &UserId) -> Result<Vec<MethodRecord>, Error> {
        let rec = self.read(user).await?;
        Ok(machine::sign_in_order(&rec, &self.policy)
            .into_iter()
            .cloned()
            .collect())
    }

    /// Starts a sign-in challenge on the first of [`Mfa::sign_in_options`]: the
    /// user's default method, or their passkey when they have one.
    #[cfg_attr(feature = "tracing", tracing::instrument(name = "mfa.challenge", skip_all, fields(user = %user), ret, err(level = "warn", Display)))]
    pub async fn challenge(&self, user: &UserId) -> Result<Pending, Error> {
        self.sign_in(user, None).await
    }

    /// Starts a sign-in challenge on another of the user's active methods ("sign in
    /// another way").
    #[cfg_attr(feature = "tracing", tracing::instrument(name = "mfa.challenge_with", skip_all, fields(user = %user, method_id = %method_id), ret, err(level = "warn", Display)))]
    pub async fn challenge_with(
        &self,
        user: &UserId,
        method_id: &MethodId,
    ) -> Result<Pending, Error> {
        self.sign_in(user, Some(method_id)).await
    }

    async fn sign_in(&self, user: &UserId, method: Option<&MethodId>) -> Result<Pending, Error> {
        let fresh = self.fresh();
        let (mut pending, sends) = self
            .run(user, |rec, ctx, fx| {
                machine::begin_sign_in(rec, method, &fresh, ctx, fx)
            })
            .await?;
        self.perform(user, sends, &mut pending).await?;
        Ok(pending)
    }

    /// "Write in the code and choose Check".
    ///
    /// The challenge must be this user's. A sign-in that passes is redeemed at once:
    /// [`Verification::proof`] is its proof, given this once. A malformed code is an
    /// input error and costs no attempt. Any store failure is an error, never an approval.
    #[cfg_attr(feature = "tracing", tracing::instrument(name = "mfa.verify", skip_all, fields(user = %user, challenge = %challenge), ret, err(level = "warn", Display)))]
    pub async fn verify(
        &self,
        user: &UserId,
        challenge: &ChallengeId,
        code: &str,
    ) -> Result<Verification, Error> {
        let fresh = self.fresh_proof();
        self.decide(user, |rec, ctx, fx| {
            machine::verify(rec, challenge, code, &fresh, ctx, fx)
        })
        .await
    }

    /// Where a challenge stands, for a page waiting on a call: `Waiting` until the user
    /// answers; an approved sign-in is redeemed by the first poll that sees it, which
    /// alone gets the proof; later polls say `AlreadyUsed`.
    #[cfg_attr(feature = "tracing", tracing::instrument(name = "mfa.poll", skip_all, fields(user = %user, challenge = %challenge), ret, err(level = "warn", Display)))]
    pub async fn poll(
        &self,
        user: &UserId,
        challenge: &ChallengeId,
    ) -> Result<Verification, Error> {
        let rec = self.read(user).await?;
        let status = rec
            .challenge(challenge)
            .ok_or(Error::NotFound(Missing::Challenge))?
            .status_at(self.clock.now());
        if status != ChallengeStatus::Approved {
            let fresh = self.fresh_proof();
            let ctx = self.ctx(user, self.clock.now());
            return machine::poll(&mut rec.clone(), challenge, &fresh, &ctx);
        }
        let fresh = self.fresh_proof();
        let (answer, _) = self
            .run(user, |rec, ctx, _| {
                machine::poll(rec, challenge, &fresh, ctx)
            })
            .await?;
        Ok(answer)
    }

    /// A call's outcome, reported by a voice backend or its webhook: `#` approves (the
    /// sign-in page then redeems it with [`Mfa::poll`]); `0#` denies the challenge,
    /// blocks the method and suspends changes to the user's factors.
    #[cfg_attr(feature = "tracing", tracing::instrument(name = "mfa.report_call", skip_all, fields(user = %user, challenge = %challenge, outcome = ?outcome), ret, err(level = "warn", Display)))]
    pub async fn report_call(
        &self,
        user: &UserId,
        challenge: &ChallengeId,
        outcome: CallOutcome,
    ) -> Result<Verification, Error> {
        let (answer, _) = self
            .run(user, |rec, ctx, fx| {
                machine::report_call(rec, challenge, outcome, ctx, fx)
            })
            .await?;
        Ok(answer)
    }

    /// A call that ended without an outcome, reported by a voice backend's own task or
    /// webhook after its `send` returned: no answer, busy, hung up before the key, or
    /// answered without media. Nothing changes (the challenge stays pending, to call
    /// again with [`Mfa::resend`] or switch method); [`Event::CallEnded`] says why.
    ///
    /// The challenge must be this user's; otherwise [`Error::NotFound`].
    pub async fn report_call_ended(
        &self,
        user: &UserId,
        challenge: &ChallengeId,
        error: &DeliveryError,
    ) -> Result<(), Error> {
        let rec = self.read(user).await?;
        rec.challenge(challenge)
            .ok_or(Error::NotFound(Missing::Challenge))?;
        self.events.emit(Event::CallEnded {
            user: user.clone(),
            challenge_id: challenge.clone(),
            reason: error.kind(),
            at: self.clock.now(),
        });
        Ok(())
    }

    /// "Cancel, then Next": a new code after the cooldown; the old code dies and the
    /// wrong-attempt count is kept. For calls, calls again.
    ///
    /// If the send fails the challenge stays pending, so the user can try again.
    #[cfg_attr(feature = "tracing", tracing::instrument(name = "mfa.resend", skip_all, fields(user = %user, challenge = %challenge), ret, err(level = "warn", Display)))]
    pub async fn resend(&self, user: &UserId, challenge: &ChallengeId) -> Result<Pending, Error> {
        let fresh = self.fresh();
        let (mut pending, sends) = self
            .run(user, |rec, ctx, fx| {
                machine::resend(rec, challenge, &fresh, ctx, fx)
            })
            .await?;
        self.perform(user, sends, &mut pending).await?;
        Ok(pending)
    }

    /// Gives up on a challenge; for an enrollment the pending method is dropped.
    #[cfg_attr(feature = "tracing", tracing::instrument(name = "mfa.cancel", skip_all, fields(user = %user, challenge = %challenge), ret, err(level = "warn", Display)))]
    pub async fn cancel(&self, user: &UserId, challenge: &ChallengeId) -> Result<(), Error> {
        self.run(user, |rec, ctx, fx| {
            machine::cancel(rec, challenge, ctx, fx)
        })
        .await
        .map(|_| ())
    }

    /// "Authentication is complete. Click Complete": the verified method becomes active
    /// (and default when it is the user's first). The answer carries a proof of the
    /// factor just shown, for another method, and when the method is the user's
    /// first active one, their recovery codes to show once.
    #[cfg_attr(feature = "tracing", tracing::instrument(name = "mfa.complete", skip_all, fields(user = %user, challenge = %challenge), ret, err(level = "warn", Display)))]
    pub async fn complete(
        &self,
        user: &UserId,
        challenge: &ChallengeId,
    ) -> Result<Completion, Error> {
        let fresh = self.fresh_proof();
        let codes: Vec<RecoveryCode> = (0..self.policy.recovery_codes)
            .map(|_| RecoveryCode::generate(self.rng.as_ref()))
            .collect();
        let ((method, proof, made), _) = self
            .run(user, |rec, ctx, fx| {
                machine::complete_and_make_recovery_codes(rec, challenge, &fresh, &codes, ctx, fx)
            })
            .await?;
        let recovery_codes = if made { codes } else { Vec::new() };
        Ok(Completion {
            method,
            proof,
            recovery_codes,
        })
    }

    /// Makes another active method the default; needs a proof.
    #[cfg_attr(feature = "tracing", tracing::instrument(name = "mfa.set_default", skip_all, fields(user = %user, method_id = %method_id), ret, err(level = "warn", Display)))]
    pub async fn set_default(
        &self,
        user: &UserId,
        method_id: &MethodId,
        proof: &Proof,
    ) -> Result<(), Error> {
        self.run(user, |rec, ctx, fx| {
            machine::set_default(rec, method_id, proof, ctx, fx)
        })
        .await
        .map(|_| ())
    }

    /// Removes a method, never the last active one (see [`Mfa::reset_user`]); its open
    /// challenges and the proofs made from it die with it.
    #[cfg_attr(feature = "tracing", tracing::instrument(name = "mfa.remove_method", skip_all, fields(user = %user, method_id = %method_id), ret, err(level = "warn", Display)))]
    pub async fn remove_method(
        &self,
        user: &UserId,
        method_id: &MethodId,
        proof: &Proof,
    ) -> Result<(), Error> {
        let mut token = Vec::new();
        self.run(user, |rec, ctx, fx| {
            token = rec
                .method(method_id)
                .and_then(|m| match &m.method {
                    Method::HardwareToken { serial } => Some(serial.clone()),
                    _ => None,
                })
                .into_iter()
                .collect();
            machine::remove_method(rec, method_id, proof, ctx, fx)
        })
        .await?;
        // A removed hardware token goes back to the inventory.
        self.return_tokens(user, &token).await
    }

    /// An administrator's reset: every method, recovery code, proof and open challenge
    /// goes, failures are cleared, and the user must enroll again.
    #[cfg_attr(feature = "tracing", tracing::instrument(name = "mfa.reset_user", skip_all, fields(user = %user), ret, err(level = "warn", Display)))]
    pub async fn reset_user(&self, user: &UserId) -> Result<(), Error> {
        let mut tokens = Vec::new();
        self.run(user, |rec, ctx, fx| {
            tokens = inventory::token_serials(rec);
            machine::reset(rec, ctx, fx);
            Ok(())
        })
        .await?;
        // Its hardware tokens go back to the inventory.
        self.return_tokens(user, &tokens).await
    }

    /// An administrator lifts a fraud report's suspension: the user may change factors
    /// again, and the blocked methods sign in again.
    #[cfg_attr(feature = "tracing", tracing::instrument(name = "mfa.unblock", skip_all, fields(user = %user), ret, err(level = "warn", Display)))]
    pub async fn unblock(&self, user: &UserId) -> Result<(), Error> {
        self.run(user, |rec, ctx, fx| {
            machine::unblock(rec, ctx, fx);
            Ok(())
        })
        .await
        .map(|_| ())
    }

    /// Makes a new set of recovery codes (the old set dies) and returns them to show
    /// once. Needs a proof: from a sign-in, or from the enrollment just completed.
    #[cfg_attr(feature = "tracing", tracing::instrument(name = "mfa.regenerate_recovery_codes", skip_all, fields(user = %user), err(level = "warn", Display)))]
    pub async fn regenerate_recovery_codes(
        &self,
        user: &UserId,
        proof: &Proof,
    ) -> Result<Vec<RecoveryCode>, Error> {
        let codes: Vec<RecoveryCode> = (0..self.policy.recovery_codes)
            .map(|_| RecoveryCode::generate(self.rng.as_ref()))
            .collect();
        let hashes: Vec<_> = codes
            .iter()
            .map(|c| machine::recovery_hash(&self.key, user, c.as_bytes()))
            .collect();
        self.run(user, |rec, ctx, fx| {
            machine::replace_recovery_codes(rec, proof, hashes.clone(), ctx, fx)
        })
        .await?;
        Ok(codes)
    }

    /// Signs in with a recovery code, which then dies; lifts a fraud report's
    /// suspension. `None` when no unused code matches (counted as a failure).
    #[cfg_attr(feature = "tracing", tracing::instrument(name = "mfa.verify_recovery_code", skip_all, fields(user = %user), ret, err(level = "warn", Display)))]
    pub async fn verify_recovery_code(
        &self,
        user: &UserId,
        code: &str,
    ) -> Result<Option<RecoverySignIn>, Error> {
        let code = RecoveryCode::parse(code)?;
        let hash = machine::recovery_hash(&self.key, user, code.as_bytes());
        let fresh = self.fresh_proof();
        let (used, _) = self
            .run(user, |rec, ctx, fx| {
                machine::use_recovery_code(rec, &hash, &fresh, ctx, fx)
            })
            .await?;
        Ok(used.map(|(proof, remaining)| RecoverySignIn { proof, remaining }))
    }

    /// Where an enrollment stands, in the guide's words.
    #[cfg_attr(feature = "tracing", tracing::instrument(name = "mfa.enrollment_state", skip_all, fields(user = %user, challenge = %challenge), ret, err(level = "warn", Display)))]
    pub async fn enrollment_state(
        &self,
        user: &UserId,
        challenge: &ChallengeId,
    ) -> Result<EnrollmentState, Error> {
        let rec = self.read(user).await?;
        let c = rec
            .challenge(challenge)
            .ok_or(Error::NotFound(Missing::Challenge))?;
        Ok(EnrollmentState::of(Some(c), self.clock.now()))
    }

    /// A challenge as it stands (a view: it never redeems; see [`Mfa::poll`]).
    #[cfg_attr(feature = "tracing", tracing::instrument(name = "mfa.challenge_status", skip_all, fields(user = %user, challenge = %challenge), ret, err(level = "warn", Display)))]
    pub async fn challenge_status(
        &self,
        user: &UserId,
        challenge: &ChallengeId,
    ) -> Result<ChallengeStatus, Error> {
        let rec = self.read(user).await?;
        let c = rec
            .challenge(challenge)
            .ok_or(Error::NotFound(Missing::Challenge))?;
        Ok(c.status_at(self.clock.now()))
    }

    /// "Don't ask again on this device": remembers the browser for the policy's
    /// `remember_device_for`, and returns the token to keep in its cookie (shown this
    /// once; the record keeps its keyed hash). Needs a proof, as from the sign-in just
    /// passed. Changing the user's factors forgets every device.
    pub async fn remember_device(
        &self,
        user: &UserId,
        proof: &Proof,
    ) -> Result<DeviceToken, Error> {
        let lifetime = self.policy.remember_device_for;
        if lifetime.is_zero() {
            return Err(Error::NotConfigured(Missing::Device));
        }
        let token = DeviceToken::generate(self.rng.as_ref());
        let hash = crate::device::device_hash(&self.key, user, &token);
        self.run(user, |rec, ctx, fx| {
            machine::check_proof(rec, proof, ctx, fx)?;
            crate::device::remember(rec, hash, ctx.now, lifetime);
            Ok(())
        })
        .await?;
        Ok(token)
    }

    /// Whether the browser holding `token` is a remembered device of this user. A
    /// malformed token is simply not remembered. One load, no commit.
    pub async fn device_is_remembered(&self, user: &UserId, token: &str) -> Result<bool, Error> {
        let Ok(token) = DeviceToken::parse(token) else {
            return Ok(false);
        };
        let hash = crate::device::device_hash(&self.key, user, &token);
        let rec = self.read(user).await?;
        Ok(crate::device::is_remembered(&rec, &hash, self.clock.now()))
    }

    /// The user's remembered devices, to list on the security-info page.
    pub async fn devices(&self, user: &UserId) -> Result<Vec<RememberedDevice>, Error> {
        Ok(self
            .read(user)
            .await?
            .devices
            .iter()
            .map(|d| RememberedDevice {
                id: d.id(),
                created_at: d.created_at,
                expires_at: d.expires_at,
            })
            .collect())
    }

    /// Forgets one remembered device (by its listed id); needs a proof.
    pub async fn forget_device(&self, user: &UserId, id: &str, proof: &Proof) -> Result<(), Error> {
        self.run(user, |rec, ctx, fx| {
            machine::check_proof(rec, proof, ctx, fx)?;
            if crate::device::forget(rec, id) {
                Ok(())
            } else {
                Err(Error::NotFound(Missing::Device))
            }
        })
        .await
        .map(|_| ())
    }

    /// Asks the store to forget what has expired; returns how many entries went.
    #[cfg_attr(
        feature = "tracing",
        tracing::instrument(name = "mfa.purge", skip_all, ret, err(level = "warn", Display))
    )]
    pub async fn purge(&self) -> Result<u64, Error> {
        Ok(self.store.purge(self.clock.now()).await?)
    }

    async fn read(&self, user: &UserId) -> Result<UserRecord, Error> {
        let mut rec = self
            .store
            .load(user)
            .await?
            .map(|v| v.record)
            .unwrap_or_default();
        rec.prune(self.clock.now());
        Ok(rec)
    }

    fn ctx<'a>(&'a self, user: &'a UserId, now: Timestamp) -> Ctx<'a> {
        Ctx {
            user,
            now,
            policy: &self.policy,
            key: &self.key,
            app: self.app.as_deref(),
            tokens: self.tokens.as_deref(),
            passkeys: self.passkeys.as_deref(),
        }
    }

    fn fresh(&self) -> Fresh {
        let rng = self.rng.as_ref();
        Fresh {
            challenge_id: ChallengeId::generate(rng),
            method_id: MethodId::generate(rng),
            code: random_code(rng, self.policy.code_digits),
            match_number: crate::number_match::SignInNumber::generate(rng),
        }
    }

    /// The token a proof minted by this request gets.
    fn fresh_proof(&self) -> Proof {
        Proof::generate(self.rng.as_ref())
    }

    /// [`Mfa::run`] for a decision that sends nothing and, when it refuses, leaves the
    /// record as it found it (as `machine::verify` does). Over a store that keeps its
    /// records in this process ([`Store::in_place`]) it runs on the stored record under
    /// the store's lock: nothing is copied out or back, and there is no conflict to
    /// retry. Events are emitted after the lock is let go.
    async fn decide<T>(
        &self,
        user: &UserId,
        mut decide: impl FnMut(&mut UserRecord, &Ctx<'_>, &mut Vec<Effect>) -> Result<T, Error>,
    ) -> Result<T, Error> {
        if let Some(local) = self.store.in_place() {
            if let Some(outcome) = self.decide_in_place(local, user, &mut decide) {
                return outcome;
            }
        }
        // No in-place store, or no record yet: decided as any request is. The
        // load-and-commit future is boxed: it is large, and this one is moved into
        // whatever runs it on every call.
        Box::pin(self.run(user, decide))
            .await
            .map(|(value, _)| value)
    }

    /// The in-place half of [`Mfa::decide`]: `None` when the user has no record.
    fn decide_in_place<T>(
        &self,
        local: &dyn crate::store::InPlace,
        user: &UserId,
        decide: &mut impl FnMut(&mut UserRecord, &Ctx<'_>, &mut Vec<Effect>) -> Result<T, Error>,
    ) -> Option<Result<T, Error>> {
        let now = self.clock.now();
        let ctx = self.ctx(user, now);
        let mut effects = Vec::new();
        let mut decided = None;
        local.decide_in_place(user, &mut |rec| {
            rec.prune(now);
            // Tests (debug builds) check the promise a refusal keeps.
            #[cfg(debug_assertions)]
            let before = rec.clone();
            let outcome = decide(rec, &ctx, &mut effects);
            let keep = outcome.is_ok();
            if keep {
                rec.updated_at = now;
            } else {
                #[cfg(debug_assertions)]
                assert!(before == *rec, "a refused decision changed the record");
            }
            decided = Some(outcome);
            keep
        });
        debug_assert!(
            !effects.iter().any(|e| matches!(e, Effect::Send(_))),
            "a decision made in place sent nothing"
        );
        self.emit(effects, now);
        decided
    }

    /// One request: load, decide, count shared windows for any send, commit by
    /// compare-and-set (deciding again on a conflict), emit the events. Returns the
    /// decision and the sends to perform.
    async fn run<T>(
        &self,
        user: &UserId,
        mut decide: impl FnMut(&mut UserRecord, &Ctx<'_>, &mut Vec<Effect>) -> Result<T, Error>,
    ) -> Result<(T, Vec<Send>), Error> {
        let mut counted: Option<String> = None;
        let mut kept = self.cache.as_deref();
        for _ in 0..MAX_CONFLICTS {
            let now = self.clock.now();
            // The record this server committed last, if young enough; else a load.
            let guess = kept.and_then(|c| c.take(user, now));
            let guessed = guess.is_some();
            let (version, mut rec) = match guess {
                Some((v, rec)) => (Some(v), rec),
                None => match self.store.load(user).await? {
                    Some(v) => (Some(v.version), v.record),
                    None => (None, UserRecord::default()),
                },
            };
            rec.prune(now);
            let ctx = self.ctx(user, now);
            let mut effects = Vec::new();
            let decided = decide(&mut rec, &ctx, &mut effects);
            let value = match decided {
                Ok(v) => v,
                // A refusal is only given from a record the store has just handed out.
                Err(_) if guessed => {
                    kept = None;
                    continue;
                }
                Err(e) => {
                    self.emit(effects, now);
                    return Err(e);
                }
            };
            let sends: Vec<Send> = effects
                .iter()
                .filter_map(|e| match e {
                    Effect::Send(s) => Some(s.clone()),
                    Effect::Emit(_) => None,
                })
                .collect();
            if guessed && !sends.is_empty() {
                // Shared windows are counted only for a decision from a loaded record,
                // so a guess that loses its commit never spends a send.
                kept = None;
                continue;
            }
            // Shared windows are counted once per request, before the commit: a
            // refused send leaves nothing stored.
            for send in &sends {
                if let Some(address) = send.method.email_address() {
                    let subject = address.limit_subject();
                    if counted.as_deref() != Some(subject.as_str()) {
                        self.count_email_window(user, address, &send.challenge_id, now)
                            .await?;
                        counted = Some(subject);
                    }
                } else if let Some(dest) = send.method.destination() {
                    if counted.as_deref() != Some(dest.number.e164()) {
                        self.count_windows(user, &dest.number, &send.challenge_id, now)
                            .await?;
                        counted = Some(dest.number.e164().to_owned());
                    }
                }
            }
            rec.updated_at = now;
            let keep = self.cache.as_deref().map(|c| (c, rec.clone()));
            match self.store.commit(user, version, rec).await? {
                Commit::Committed(v) => {
                    if let Some((cache, copy)) = keep {
                        cache.put(user, v, copy, now);
                    }
                    self.emit(effects, now);
                    return Ok((value, sends));
                }
                // Someone else changed the record: decide again from a load. (A guess
                // was taken out of the cache, so no stale entry is left behind.)
                Commit::Conflict => kept = None,
            }
        }
        Err(StoreError::unavailable("the user's record kept changing; try again").into())
    }

    fn emit(&self, effects: Vec<Effect>, at: Timestamp) {
        for effect in effects {
            if let Effect::Emit(event) = effect {
                self.emit_one(event, at);
            }
        }
    }

    /// Hands one event to the sink with its time and this request.
    fn emit_one(&self, event: Event, at: Timestamp) {
        let meta = EventMeta {
            at,
            request: self.request.clone(),
        };
        self.events.emit_with(event, &meta);
    }

    async fn count_windows(
        &self,
        user: &UserId,
        number: &crate::phone::PhoneNumber,
        challenge: &ChallengeId,
        now: Timestamp,
    ) -> Result<(), Error> {
        let limits = &self.policy.send_limits;
        // Keys are keyed hashes, so a shared store never holds numbers in clear.
        let dest = self.limit_key("dest", number.e164());
        let country = format!("cc:{}", number.country_code());
        let client = self
            .request
            .as_deref()
            .and_then(RequestContext::client_key)
            .map(|c| self.limit_key("client", &c));
        let mut hits = vec![
            WindowHit {
                key: &dest,
                window: limits.per_destination.window,
            },
            WindowHit {
                key: &country,
                window: limits.per_country.window,
            },
        ];
        let mut scopes = vec![
            (LimitScope::Destination, limits.per_destination.max),
            (LimitScope::Country, limits.per_country.max),
        ];
        if let Some(client) = &client {
            hits.push(WindowHit {
                key: client,
                window: limits.per_client.window,
            });
            scopes.push((LimitScope::ClientAddress, limits.per_client.max));
        }
        let counts = self.store.hit(&hits, now).await?;
        for ((scope, max), count) in scopes.into_iter().zip(counts) {
            if count.count > max {
                self.emit_one(
                    Event::Refused {
                        user: user.clone(),
                        challenge_id: Some(challenge.clone()),
                        reason: Refusal::RateLimited,
                        at: now,
                    },
                    now,
                );
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
        let hex = InlineStr::<24>::hex(&hash.0[..12]).unwrap_or_else(|| unreachable!());
        format!("{scope}:{}", hex.as_str())
    }

    fn delivery(&self, channel: Channel) -> Result<&Arc<dyn Delivery>, Error> {
        match channel {
            Channel::Sms => self
                .sms
                .as_ref()
                .ok_or(Error::NotConfigured(Missing::SmsDelivery)),
            Channel::Voice => self
                .voice
                .as_ref()
                .ok_or(Error::NotConfigured(Missing::VoiceDelivery)),
            // Email has a trait of its own: see `email_delivery`.
            Channel::Email => Err(Error::NotConfigured(Missing::EmailDelivery)),
        }
    }

    /// Performs the sends a committed request decided. A send that fails closes its
    /// challenge (nothing reached the user), except a call that rang out, was busy or
    /// hung up: that challenge stays pending, to call again or switch method.
    async fn perform(
        &self,
        user: &UserId,
        sends: Vec<Send>,
        pending: &mut Pending,
    ) -> Result<(), Error> {
        for send in sends {
            if let Some(address) = send.method.email_address().cloned() {
                self.perform_email(user, send, address).await?;
                continue;
            }
            let channel = send
                .method
                .channel()
                .ok_or(Error::NotFound(Missing::Method))?;
            let destination = send
                .method
                .destination()
                .ok_or(Error::NotFound(Missing::Method))?;
            let country_code = destination.number.country_code();
            let request = DeliveryRequest {
                challenge_id: send.challenge_id.clone(),
                user: user.clone(),
                channel,
                destination,
                content: send.content,
                purpose: send.purpose,
                expires_in: send.expires_at.saturating_since(self.clock.now()),
                locale: send
                    .locale
                    .as_ref()
                    .map_or_else(|| self.policy.locale.clone(), |l| l.as_str().to_owned()),
                app_name: self.policy.app_name.clone(),
                cost_notice: send.cost_notice,
                meta: Some(EventMeta {
                    at: self.clock.now(),
                    request: self.request.clone(),
                }),
            };
            match self.delivery(channel)?.send(&request).await {
                Ok(receipt) => {
                    self.emit_one(
                        Event::CodeSent {
                            user: user.clone(),
                            channel,
                            country_code,
                            purpose: send.purpose,
                            resend: send.resend,
                        },
                        self.clock.now(),
                    );
                    if let Some(outcome) = receipt.call_outcome {
                        let answer = self.report_call(user, &send.challenge_id, outcome).await?;
                        pending.waiting_for = match answer {
                            Verification::Approved(_) => ChallengeStatus::Approved,
                            Verification::Denied => ChallengeStatus::Denied,
                            _ => pending.waiting_for,
                        };
                    }
                }
                Err(e) => {
                    self.emit_one(
                        Event::DeliveryFailed {
                            user: user.clone(),
                            channel,
                            transient: e.is_transient(),
                        },
                        self.clock.now(),
                    );
                    if channel == Channel::Voice && e.is_call_outcome() {
                        return Err(Error::CallNotCompleted {
                            challenge_id: send.challenge_id,
                            error: e,
                        });
                    }
                    if !send.resend {
                        // Best effort: the error the caller sees is the delivery's.
                        let _ = self.cancel(user, &send.challenge_id).await;
                    }
                    return Err(e.into());
                }
            }
        }
        Ok(())
    }
}
