//! The application's hook for a completed sign-in.

use async_trait::async_trait;
use mfa_core::{MethodKind, UserId};
use tower_sessions::Session;

/// A completed sign-in, as the hook sees it.
#[derive(Debug, Clone)]
pub struct SignedIn {
    /// Who signed in.
    pub user: UserId,
    /// The method that passed (`None`: a remembered device or a recovery code).
    pub method: Option<MethodKind>,
    /// Whether a remembered device let the user through without a code.
    pub remembered_device: bool,
    /// Whether this sign-in was the first enrollment's completion.
    pub enrolled: bool,
    /// The session, for the application's own keys.
    pub session: Session,
    /// Whether a Temporary Access Pass stood in for the second factor (the pages then
    /// lead to setting up a new method).
    pub access_pass: bool,
}

/// Told when a sign-in completes, before the browser is sent on.
///
/// ```
/// use mfa_web::{SignInHook, SignedIn};
///
/// struct Audit;
///
/// #[mfa_web::async_trait]
/// impl SignInHook for Audit {
///     async fn signed_in(&self, done: &SignedIn) {
///         let _ = done.session.insert("app.user", done.user.as_str()).await;
///     }
/// }
/// ```
#[async_trait]
pub trait SignInHook: Send + Sync + 'static {
    /// The user is signed in with both factors.
    async fn signed_in(&self, done: &SignedIn);
}
