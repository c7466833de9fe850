//! The rendering layer: [`EmailChannel`] turns a core [`EmailRequest`] into subject
//! and bodies, and hands the result to a one-method [`EmailBackend`].

use std::fmt;

use async_trait::async_trait;
use mfa_core::{
    ChallengeId, DeliveryError, EmailAddress, EmailDelivery, EmailRequest, OneTimeCode, Purpose,
    Receipt,
};

use crate::template::{RenderedEmail, Templates};

/// One email as a backend sends it. `Debug` hides the bodies and the code.
#[derive(Clone)]
pub struct OutgoingEmail {
    /// The recipient.
    pub to: EmailAddress,
    /// Subject and bodies.
    pub content: RenderedEmail,
    /// The code the bodies carry (for the memory backend's inbox).
    pub code: OneTimeCode,
    /// The challenge it belongs to.
    pub challenge_id: ChallengeId,
    /// Enrollment or sign-in.
    pub purpose: Purpose,
}

impl fmt::Debug for OutgoingEmail {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OutgoingEmail")
            .field("to", &self.to)
            .field("subject", &self.content.subject)
            .field("challenge_id", &self.challenge_id)
            .finish_non_exhaustive()
    }
}

/// Sends one rendered email: what each mail backend implements.
#[async_trait]
pub trait EmailBackend: Send + Sync + fmt::Debug {
    /// Submits the email; the receipt carries the server's queue id when it gave one.
    async fn submit(&self, email: &OutgoingEmail) -> Result<Receipt, DeliveryError>;
}

/// The email channel: renders with [`Templates`] and submits through a backend.
/// Give it to `Mfa::builder().email(..)`.
///
/// ```
/// use mfa_email::{EmailChannel, MemoryEmail, Templates};
///
/// let mailbox = MemoryEmail::new();
/// let channel = EmailChannel::new(mailbox.clone()).with_templates(Templates::new());
/// let mfa = mfa_core::Mfa::builder().email(channel).build().unwrap();
/// # let _ = mfa;
/// ```
#[derive(Debug, Clone)]
pub struct EmailChannel<B> {
    backend: B,
    templates: Templates,
}

impl<B: EmailBackend> EmailChannel<B> {
    /// The channel over `backend`, with the built-in English and Norwegian texts.
    pub fn new(backend: B) -> Self {
        EmailChannel {
            backend,
            templates: Templates::new(),
        }
    }

    /// Other texts.
    pub fn with_templates(mut self, templates: Templates) -> Self {
        self.templates = templates;
        self
    }

    /// The backend.
    pub fn backend(&self) -> &B {
        &self.backend
    }

    /// Renders a request as the backend would get it.
    pub fn render(&self, request: &EmailRequest) -> OutgoingEmail {
        OutgoingEmail {
            to: request.to.clone(),
            content: self.templates.render(request),
            code: request.code.clone(),
            challenge_id: request.challenge_id.clone(),
            purpose: request.purpose,
        }
    }
}

#[async_trait]
impl<B: EmailBackend> EmailDelivery for EmailChannel<B> {
    async fn send(&self, request: &EmailRequest) -> Result<Receipt, DeliveryError> {
        self.backend.submit(&self.render(request)).await
    }
}
