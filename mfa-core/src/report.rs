//! Delivery reports: what the SMS gateway later says became of a message (Twilio's
//! `StatusCallback`, Kannel's DLR, an SMPP receipt), handed to
//! [`Mfa::report_delivery`](crate::Mfa::report_delivery). A report that the message
//! did not arrive offers the next step within the same challenge: a call to the same
//! number, or the authenticator app ([`Mfa::fall_back`](crate::Mfa::fall_back)).

use std::time::Duration;

use crate::clock::Timestamp;
use crate::delivery::ProviderCode;
use crate::method::MethodId;

/// The longest provider message id kept; longer ones are cut (they are only shown).
pub const MAX_MESSAGE_ID_LEN: usize = 64;

/// Where a message stands, in the provider's report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[non_exhaustive]
pub enum ReportStatus {
    /// Accepted, queued or sent on: not final.
    InTransit,
    /// Delivered to the handset.
    Delivered,
    /// The network could not deliver it (phone off, unknown subscriber, expired).
    Undelivered,
    /// The provider could not send it at all.
    Failed,
}

impl ReportStatus {
    /// Whether the message will not arrive.
    pub fn is_failure(self) -> bool {
        matches!(self, ReportStatus::Undelivered | ReportStatus::Failed)
    }
}

/// One delivery report.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct DeliveryReport {
    /// The provider's id of the message (Twilio's `MessageSid`, an SMPP message id).
    pub message_id: String,
    /// Where it stands.
    pub status: ReportStatus,
    /// The provider's own reason, if it gave one (Twilio `30003`, an SMPP `err:`).
    pub provider_code: Option<ProviderCode>,
    /// When the provider says the state was reached; `None`: when the report came.
    pub at: Option<Timestamp>,
    /// The message was not its challenge's latest: the challenge has sent again since
    /// (a sent log that knows the provider's ids tells). Such a report is told, as
    /// [`Event::DeliveryReported`](crate::Event::DeliveryReported), but offers no
    /// fallback, since the newer message may still arrive.
    pub superseded: bool,
}

impl DeliveryReport {
    /// A report on `message_id` (cut to [`MAX_MESSAGE_ID_LEN`] printable characters).
    pub fn new(message_id: &str, status: ReportStatus) -> Self {
        DeliveryReport {
            message_id: message_id
                .chars()
                .filter(|c| c.is_ascii_graphic())
                .take(MAX_MESSAGE_ID_LEN)
                .collect(),
            status,
            provider_code: None,
            at: None,
            superseded: false,
        }
    }

    /// The same report, on a message its challenge has sent again since.
    pub fn superseded(mut self) -> Self {
        self.superseded = true;
        self
    }

    /// The same report, with the provider's reason.
    pub fn with_provider_code(mut self, code: ProviderCode) -> Self {
        self.provider_code = Some(code);
        self
    }

    /// The same report, for a state reached at `at`.
    pub fn at(mut self, at: Timestamp) -> Self {
        self.at = Some(at);
        self
    }
}

/// A way to finish a challenge whose message did not arrive.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[non_exhaustive]
pub enum NextStep {
    /// Call the same number and read a new code (the challenge and its attempt count
    /// stay; the SMS code dies).
    Call,
    /// Answer the same sign-in with a code from this authenticator app.
    App {
        /// The user's app method.
        method_id: MethodId,
    },
}

/// What [`Mfa::report_delivery`](crate::Mfa::report_delivery) found.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[non_exhaustive]
pub struct ReportAnswer {
    /// From the send to the report (or the provider's time of it).
    pub latency: Option<Duration>,
    /// For a message that will not arrive on a challenge still waiting for its code:
    /// what to offer the user instead, best first. Empty otherwise.
    pub next: Vec<NextStep>,
}
