//! [`SmsDelivery`]: mfa-core's [`Delivery`] for SMS. It checks the number, renders
//! the text and hands it to an [`SmsBackend`], the one thing each gateway implements.

use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use mfa_core::{
    Channel, Content, Delivery, DeliveryError, DeliveryErrorKind, DeliveryRequest, NumberKind,
    PhoneNumber, Receipt,
};

use crate::encoding::SmsLength;
use crate::message::{MessageValues, Messages};
use crate::reports::SentMessages;

/// One rendered SMS, ready for a gateway.
///
/// `Debug` hides the text: it holds the code.
#[derive(Clone, Copy)]
#[non_exhaustive]
pub struct OutgoingSms<'a> {
    /// The recipient.
    pub to: &'a PhoneNumber,
    /// The text, code included.
    pub text: &'a str,
    /// Its alphabet and segment count.
    pub length: SmsLength,
    /// The request it was rendered from (challenge id, purpose, code).
    pub request: &'a DeliveryRequest,
}

impl<'a> OutgoingSms<'a> {
    /// A message for `to`, measured here.
    pub fn new(to: &'a PhoneNumber, text: &'a str, request: &'a DeliveryRequest) -> Self {
        OutgoingSms {
            to,
            text,
            length: SmsLength::of(text),
            request,
        }
    }
}

impl fmt::Debug for OutgoingSms<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OutgoingSms")
            .field("to", self.to)
            .field("text", &"<redacted>")
            .field("length", &self.length)
            .finish()
    }
}

/// An SMS gateway: takes a rendered message and returns the provider's receipt.
///
/// One required method; object-safe (`Arc<dyn SmsBackend>` works). Wrap a backend in
/// [`SmsDelivery`] to give it to `mfa_core::Mfa`.
#[async_trait]
pub trait SmsBackend: Send + Sync + fmt::Debug {
    /// Hands one message to the gateway.
    async fn submit(&self, sms: &OutgoingSms<'_>) -> Result<Receipt, DeliveryError>;
}

#[async_trait]
impl<T: SmsBackend + ?Sized> SmsBackend for Arc<T> {
    async fn submit(&self, sms: &OutgoingSms<'_>) -> Result<Receipt, DeliveryError> {
        (**self).submit(sms).await
    }
}

#[async_trait]
impl<T: SmsBackend + ?Sized> SmsBackend for Box<T> {
    async fn submit(&self, sms: &OutgoingSms<'_>) -> Result<Receipt, DeliveryError> {
        (**self).submit(sms).await
    }
}

/// The SMS channel for `mfa_core::Mfa`: renders each request with [`Messages`] and
/// submits it through a backend.
///
/// Refuses numbers that cannot receive SMS (fixed lines, premium rate) with
/// [`DeliveryErrorKind::InvalidDestination`] before the backend is called, even though
/// the core policy already refuses them.
#[derive(Debug, Clone)]
pub struct SmsDelivery {
    messages: Arc<Messages>,
    backend: Arc<dyn SmsBackend>,
    sent: Option<SentMessages>,
}

impl SmsDelivery {
    /// The channel over `backend`, with the built-in texts.
    pub fn new(backend: impl SmsBackend + 'static) -> Self {
        SmsDelivery {
            messages: Arc::new(Messages::new()),
            backend: Arc::new(backend),
            sent: None,
        }
    }

    /// The channel over a shared backend.
    pub fn shared(backend: Arc<dyn SmsBackend>) -> Self {
        SmsDelivery {
            messages: Arc::new(Messages::new()),
            backend,
            sent: None,
        }
    }

    /// Uses `messages` for the texts.
    pub fn with_messages(mut self, messages: Messages) -> Self {
        self.messages = Arc::new(messages);
        self
    }

    /// Records each message sent in `log` (by the provider's id; an SMPP message in
    /// parts by each part's id), so its delivery reports can be handed to `Mfa`.
    pub fn with_sent_log(mut self, log: SentMessages) -> Self {
        self.sent = Some(log);
        self
    }

    /// The texts in use.
    pub fn messages(&self) -> &Messages {
        &self.messages
    }

    /// Renders `request` as it would be sent, checking the number and the length.
    pub fn render(&self, request: &DeliveryRequest) -> Result<String, DeliveryError> {
        check_request(request)?;
        let Content::Code(code) = &request.content else {
            return Err(DeliveryError::new(
                DeliveryErrorKind::Configuration,
                "an SMS carries a code; key-press confirmation needs a voice call",
            ));
        };
        let values = MessageValues {
            code: code.expose(),
            app: &request.app_name,
            expires_in: request.expires_in,
            locale: &request.locale,
        };
        self.messages
            .render(&values)
            .map_err(|e| DeliveryError::new(DeliveryErrorKind::Configuration, e.to_string()))
    }
}

fn check_request(request: &DeliveryRequest) -> Result<(), DeliveryError> {
    if request.channel != Channel::Sms {
        return Err(DeliveryError::new(
            DeliveryErrorKind::Configuration,
            "the SMS backend was given a voice request",
        ));
    }
    let number = &request.destination.number;
    if !number.kind().can_receive_sms() {
        let what = match number.kind() {
            NumberKind::PremiumRate => "a premium-rate number",
            NumberKind::FixedLine => "a fixed line",
            NumberKind::TollFree => "a toll-free number",
            _ => "a number that cannot receive SMS",
        };
        return Err(DeliveryError::new(
            DeliveryErrorKind::InvalidDestination,
            format!(
                "{} is {what}: SMS cannot reach it; use a voice call or the authenticator app",
                number.masked()
            ),
        ));
    }
    Ok(())
}

#[async_trait]
impl Delivery for SmsDelivery {
    async fn send(&self, request: &DeliveryRequest) -> Result<Receipt, DeliveryError> {
        let text = self.render(request)?;
        let sms = OutgoingSms::new(&request.destination.number, &text, request);
        let receipt = self.backend.submit(&sms).await?;
        if let Some(log) = &self.sent {
            let ids: Vec<&str> = receipt.id.split(',').filter(|id| !id.is_empty()).collect();
            log.record_send(&ids, &request.user, &request.challenge_id);
        }
        Ok(receipt)
    }
}

/// A backend that cannot be built as configured.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// A URL is malformed or of the wrong scheme.
    #[error("invalid URL: {0}")]
    InvalidUrl(&'static str),
    /// A required setting is missing or malformed.
    #[error("invalid setting: {0}")]
    InvalidSetting(&'static str),
    /// The HTTP client could not be built.
    #[error("the HTTP client could not be built: {0}")]
    Client(String),
    /// A Twilio setting Twilio would refuse (a SID, a secret, a callback host).
    #[cfg(feature = "twilio")]
    #[error(transparent)]
    Twilio(#[from] mfa_twilio::ConfigError),
}
