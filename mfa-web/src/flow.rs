//! What the session holds between the password and the second factor: one small
//! serde value under one key. It holds ids, times and the proof token (the session
//! store is server-side; the cookie carries only the session id), never a code.

use mfa_core::{ChallengeId, Proof, Timestamp, UserId};
use serde::{Deserialize, Serialize};
use tower_sessions::Session;

use crate::lang::Lang;

/// The session key the flow lives under.
const KEY: &str = "mfa.flow";

/// Why a challenge is open.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Step {
    /// The first method, after "Set it up now".
    Enroll,
    /// Another method, or a new number, from the security-info page.
    Add,
    /// The second factor of a sign-in.
    SignIn,
    /// A fresh second factor before changing security info.
    StepUp,
}

impl Step {
    /// Whether the step sets a method up (rather than signing in).
    pub fn is_enrollment(self) -> bool {
        matches!(self, Step::Enroll | Step::Add)
    }
}

/// How the open challenge is answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Answering {
    /// A code from a text message.
    Sms,
    /// A code read out on a call.
    CallCode,
    /// `#` pressed on a call.
    CallKey,
    /// A code from the authenticator app.
    App,
    /// A code from an email.
    Email,
    /// The browser's answer to a passkey ceremony.
    Passkey,
}

/// The challenge the session is answering.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OpenChallenge {
    /// The challenge id (not a secret: it is useless without the user's session).
    pub id: String,
    /// Why it is open.
    pub step: Step,
    /// How it is answered.
    pub answering: Answering,
    /// The method as the user sees it, number masked.
    pub described: String,
    /// Where the code or call goes, number masked (empty for the app).
    #[serde(default)]
    pub to: String,
    /// When a new code may be asked for, in Unix milliseconds.
    pub resend_after: Option<u64>,
    /// The cost notice: (country code, home country code).
    pub cost_notice: Option<(u16, u16)>,
    /// Whether to warn that phone codes can be intercepted (and whether the app is
    /// offered instead): `Some(app_offered)`.
    #[serde(default)]
    pub risk_notice: Option<bool>,
    /// Set when the enrollment's code was right and it waits for "Complete".
    pub verified: bool,
    /// Whether the app's key was already shown (it is shown once).
    pub key_shown: bool,
    /// For a passkey: the options, as JSON, the page hands the browser's WebAuthn call.
    /// Not secret: they name the relying party, the user's credential ids and a
    /// challenge that only the user's authenticator can answer.
    #[serde(default)]
    pub passkey_options: Option<String>,
}

impl OpenChallenge {
    /// The challenge id, typed.
    pub fn challenge_id(&self) -> Option<ChallengeId> {
        ChallengeId::parse(&self.id).ok()
    }
}

/// A proof of a fresh second factor, held in the session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HeldProof {
    token: String,
    /// When it was minted, in Unix milliseconds.
    pub issued_at: u64,
}

impl HeldProof {
    /// Holds `proof`, minted at `now`.
    pub fn new(proof: &Proof, now: Timestamp) -> Self {
        HeldProof {
            token: proof.as_str().to_owned(),
            issued_at: now.unix_millis(),
        }
    }

    /// The proof, when still within `window` of `now` (the core checks it again).
    pub fn fresh(&self, now: Timestamp, window: std::time::Duration) -> Option<Proof> {
        let issued = Timestamp::from_unix_millis(self.issued_at);
        if now.saturating_since(issued) >= window {
            return None;
        }
        Proof::parse(&self.token).ok()
    }
}

/// The session's second-factor state.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Flow {
    /// The user who passed the password.
    pub user: String,
    /// Where the router is mounted, for redirects from outside it.
    pub prefix: String,
    /// Whether the second factor is done: the user is signed in.
    pub done: bool,
    /// The per-session CSRF token every POST must carry.
    pub csrf: String,
    /// The challenge being answered.
    pub challenge: Option<OpenChallenge>,
    /// The latest proof of a fresh second factor.
    pub proof: Option<HeldProof>,
    /// The language the user chose, over `Accept-Language`.
    pub lang: Option<Lang>,
    /// Set after a settings change: the next page confirms it, once.
    pub changed: bool,
}

impl Flow {
    /// The user, typed.
    pub fn user_id(&self) -> Option<UserId> {
        UserId::new(self.user.clone()).ok()
    }

    /// The flow of this session, if the password step handed one over.
    pub async fn load(session: &Session) -> Result<Option<Flow>, tower_sessions::session::Error> {
        session.get::<Flow>(KEY).await
    }

    /// Stores the flow.
    pub async fn save(&self, session: &Session) -> Result<(), tower_sessions::session::Error> {
        session.insert(KEY, self).await
    }

    /// Forgets the flow (sign-out).
    pub async fn clear(session: &Session) -> Result<(), tower_sessions::session::Error> {
        session.remove::<Flow>(KEY).await.map(|_| ())
    }
}
