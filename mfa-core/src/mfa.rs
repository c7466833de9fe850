#![allow(unused_imports, dead_code)] // the driver is being ported to the record store
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
use crate::store::{MemoryStore, Store};
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
}
