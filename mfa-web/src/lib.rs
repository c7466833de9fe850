#![doc = include_str!("../README.md")]
//! The guide's pages as an axum router: the half-signed-in session the application
//! hands over after its password step, the extractors that guard its own routes, and
//! a JSON API beside the pages.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use mfa_core::{Mfa, UserId};
use tower_sessions::cookie::SameSite;
use tower_sessions::{Expiry, MemoryStore, Session, SessionManagerLayer};

mod actions;
mod api;
mod csrf;
mod device;
mod flow;
mod guard;
mod hook;
pub mod lang;
mod pages;
pub mod problem;
mod render;
mod request;
mod views;

pub use api::{
    ApiChallenge, ApiChecked, ApiEnrolled, ApiError, ApiMethod, ApiProvisioning, ApiResult,
    ApiStage, ApiState, CodeRequest, EnrollKind, EnrollRequest, MethodRequest, PasskeyRequest,
    RenameRequest, SignInRequest,
};
pub use flow::{Answering, Step};
pub use guard::{Denied, FreshSecondFactor, SecondFactor};
pub use hook::{SignInHook, SignedIn};
pub use lang::Lang;
pub use problem::Problem;

/// The crates the router's types come from, so an application uses the same versions.
pub use async_trait::async_trait;
pub use axum;
pub use tower_sessions;

/// The header a JSON client sends its CSRF token in (from `GET api/state`).
pub const CSRF_HEADER: &str = "x-csrf-token";

/// The name of the remember-this-device cookie.
pub const DEVICE_COOKIE: &str = "mfa_device";

/// The second-factor web flow: the router, and the hand-over from the password step.
///
/// Cheap to clone; every clone shares the same [`Mfa`].
#[derive(Clone)]
pub struct MfaWeb {
    inner: Arc<Inner>,
}

struct Inner {
    mfa: Arc<Mfa>,
    prefix: String,
    after_sign_in: String,
    sign_in_url: String,
    secure_cookies: bool,
    trust_forwarded_for: bool,
    hook: Option<Arc<dyn SignInHook>>,
}

impl fmt::Debug for MfaWeb {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MfaWeb")
            .field("prefix", &self.inner.prefix)
            .field("after_sign_in", &self.inner.after_sign_in)
            .finish_non_exhaustive()
    }
}

/// Builds an [`MfaWeb`].
pub struct MfaWebBuilder {
    mfa: Arc<Mfa>,
    prefix: String,
    after_sign_in: String,
    sign_in_url: String,
    secure_cookies: bool,
    trust_forwarded_for: bool,
    hook: Option<Arc<dyn SignInHook>>,
}

impl fmt::Debug for MfaWebBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MfaWebBuilder")
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

impl MfaWebBuilder {
    /// Where the application nests the router (default `/mfa`); links and redirects
    /// are built from it.
    pub fn prefix(mut self, prefix: impl Into<String>) -> Self {
        let p: String = prefix.into();
        self.prefix = format!("/{}", p.trim_matches('/'));
        self
    }

    /// Where a completed sign-in goes (default `/`).
    pub fn after_sign_in(mut self, url: impl Into<String>) -> Self {
        self.after_sign_in = url.into();
        self
    }

    /// The application's password page, linked when a request has no half-signed-in
    /// session (default `/`).
    pub fn sign_in_url(mut self, url: impl Into<String>) -> Self {
        self.sign_in_url = url.into();
        self
    }

    /// Whether the device cookie is `Secure` (default true). Browsers keep `Secure`
    /// cookies on `http://localhost` and `http://127.0.0.1` too.
    pub fn secure_cookies(mut self, secure: bool) -> Self {
        self.secure_cookies = secure;
        self
    }

    /// Whether the client's address is the last `X-Forwarded-For` entry (default
    /// false: the connection's address, from axum's `ConnectInfo` when the server
    /// provides it). Turn on only behind your own proxy, which appends that entry.
    /// The address reaches the library's events and its per-client send limits.
    pub fn trust_forwarded_for(mut self, trust: bool) -> Self {
        self.trust_forwarded_for = trust;
        self
    }

    /// Called when a sign-in completes, before the redirect.
    pub fn on_sign_in(mut self, hook: impl SignInHook) -> Self {
        self.hook = Some(Arc::new(hook));
        self
    }

    /// The flow.
    pub fn build(self) -> MfaWeb {
        MfaWeb {
            inner: Arc::new(Inner {
                mfa: self.mfa,
                prefix: self.prefix,
                after_sign_in: self.after_sign_in,
                sign_in_url: self.sign_in_url,
                secure_cookies: self.secure_cookies,
                trust_forwarded_for: self.trust_forwarded_for,
                hook: self.hook,
            }),
        }
    }
}

/// What [`MfaWeb::password_passed`] can fail with.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HandOverError {
    /// The session store failed.
    #[error("the session store failed: {0}")]
    Session(#[from] tower_sessions::session::Error),
}

impl MfaWeb {
    /// A builder over `mfa`.
    pub fn builder(mfa: Arc<Mfa>) -> MfaWebBuilder {
        MfaWebBuilder {
            mfa,
            prefix: "/mfa".to_owned(),
            after_sign_in: "/".to_owned(),
            sign_in_url: "/".to_owned(),
            secure_cookies: true,
            trust_forwarded_for: false,
            hook: None,
        }
    }

    /// The service underneath.
    pub fn mfa(&self) -> &Arc<Mfa> {
        &self.inner.mfa
    }

    /// Where the router is to be nested.
    pub fn prefix(&self) -> &str {
        &self.inner.prefix
    }

    /// "This user passed the password": starts a half-signed-in session (a new
    /// session id, against fixation) and returns where to send the browser next: the
    /// router's entry, which asks for enrollment or the second factor.
    pub async fn password_passed(
        &self,
        session: &Session,
        user: &UserId,
    ) -> Result<String, HandOverError> {
        session.cycle_id().await?;
        let f = flow::Flow {
            user: user.as_str().to_owned(),
            prefix: self.inner.prefix.clone(),
            csrf: csrf::token(),
            ..flow::Flow::default()
        };
        f.save(session).await?;
        Ok(self.inner.prefix.clone())
    }

    /// Ends the session's sign-in (the application's sign-out calls it).
    pub async fn sign_out(&self, session: &Session) -> Result<(), HandOverError> {
        flow::Flow::clear(session).await?;
        session.cycle_id().await?;
        Ok(())
    }

    /// The router, to nest under [`MfaWeb::prefix`]. It needs a tower-sessions
    /// [`SessionManagerLayer`] around the application (see [`memory_sessions`]).
    pub fn router(&self) -> axum::Router {
        pages::routes()
            .nest("/api", api::routes())
            .with_state(self.clone())
    }

    pub(crate) fn reauthentication_window(&self) -> Duration {
        self.inner.mfa.policy().reauthentication_window
    }
}

/// A session layer over the in-memory store, with the settings the flow expects:
/// `HttpOnly`, `SameSite=Strict`, `Secure`, ending after `idle` without a request.
/// In production give the same settings to any tower-sessions store.
pub fn memory_sessions(idle: Duration) -> SessionManagerLayer<MemoryStore> {
    SessionManagerLayer::new(MemoryStore::default())
        .with_name("mfa_session")
        .with_http_only(true)
        .with_same_site(SameSite::Strict)
        .with_secure(true)
        .with_expiry(Expiry::OnInactivity(
            tower_sessions::cookie::time::Duration::seconds(
                i64::try_from(idle.as_secs()).unwrap_or(i64::MAX),
            ),
        ))
}
