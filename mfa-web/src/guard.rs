//! Extractors for the application's own routes: let a request through only when the
//! second factor is done, or only with a fresh one (before changing factors).

use axum::extract::FromRequestParts;
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Redirect, Response};
use mfa_core::{Proof, UserId};
use tower_sessions::Session;

use crate::MfaWeb;
use crate::flow::Flow;

/// A request from a user who passed both factors.
///
/// It takes the session's word: a reset or a removed method does not end sessions
/// already signed in (sign them out through [`MfaWeb::sign_out`] when that matters);
/// [`FreshSecondFactor`] and every settings change are checked by the library again.
///
/// ```
/// use mfa_web::SecondFactor;
///
/// async fn inbox(signed_in: SecondFactor) -> String {
///     format!("Hello, {}", signed_in.user)
/// }
/// let _app: mfa_web::axum::Router = mfa_web::axum::Router::new()
///     .route("/inbox", mfa_web::axum::routing::get(inbox));
/// ```
#[derive(Debug, Clone)]
pub struct SecondFactor {
    /// The user.
    pub user: UserId,
}

/// A request from a user whose second factor is fresh (within the policy's
/// re-authentication window): the guard for changing security settings. It reads the
/// window from the [`MfaWeb`] the application puts in the request extensions
/// (`.layer(axum::Extension(web.clone()))`); without it the request is refused (503).
#[derive(Debug, Clone)]
pub struct FreshSecondFactor {
    /// The user.
    pub user: UserId,
    /// The proof to hand to [`mfa_core::Mfa`]'s factor-changing calls.
    pub proof: Proof,
}

/// Why a guard refused a request.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Denied {
    /// No password step handed a user over: 401.
    NotSignedIn,
    /// The second factor is not done: 303 to the flow's entry.
    SecondFactorNeeded {
        /// Where the flow starts.
        location: String,
    },
    /// The second factor is not fresh: 303 to the flow's step-up page.
    StepUpNeeded {
        /// Where the step-up starts.
        location: String,
    },
    /// The session store failed: 503.
    Unavailable,
}

impl IntoResponse for Denied {
    fn into_response(self) -> Response {
        match self {
            Denied::NotSignedIn => (StatusCode::UNAUTHORIZED, "sign in first").into_response(),
            Denied::SecondFactorNeeded { location } | Denied::StepUpNeeded { location } => {
                Redirect::to(&location).into_response()
            }
            Denied::Unavailable => StatusCode::SERVICE_UNAVAILABLE.into_response(),
        }
    }
}

async fn flow_of(parts: &mut Parts) -> Result<(Flow, UserId), Denied> {
    let session = parts
        .extensions
        .get::<Session>()
        .cloned()
        .ok_or(Denied::Unavailable)?;
    let flow = Flow::load(&session)
        .await
        .map_err(|_| Denied::Unavailable)?
        .ok_or(Denied::NotSignedIn)?;
    let user = flow.user_id().ok_or(Denied::NotSignedIn)?;
    if !flow.done {
        return Err(Denied::SecondFactorNeeded {
            location: flow.prefix.clone(),
        });
    }
    Ok((flow, user))
}

impl<S: Send + Sync> FromRequestParts<S> for SecondFactor {
    type Rejection = Denied;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Denied> {
        let (_, user) = flow_of(parts).await?;
        Ok(SecondFactor { user })
    }
}

impl<S: Send + Sync> FromRequestParts<S> for FreshSecondFactor {
    type Rejection = Denied;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Denied> {
        let (flow, user) = flow_of(parts).await?;
        let step_up = Denied::StepUpNeeded {
            location: format!("{}/step-up", flow.prefix),
        };
        let proof = flow.proof.as_ref().ok_or(step_up.clone())?;
        // The core checks the proof again when it is used; this only spares the user a
        // form that would be refused.
        let web = parts
            .extensions
            .get::<MfaWeb>()
            .ok_or(Denied::Unavailable)?;
        let proof = proof
            .fresh(web.mfa().now(), web.reauthentication_window())
            .ok_or(step_up)?;
        Ok(FreshSecondFactor { user, proof })
    }
}
