//! Delivery reports from the gateways, handed to `Mfa`: Twilio's `StatusCallback`
//! ([`crate::twilio::status_callback`]), Kannel's DLR ([`crate::kannel::delivery_report`])
//! and SMPP receipts ([`crate::SmppSms::take_reports`]).
//!
//! A report names the provider's message (or, for Kannel, the challenge); whose it is
//! comes from [`SentMessages`], which [`crate::SmsDelivery::with_sent_log`] fills as
//! messages go out. The log is in memory: the reports must come back to the process
//! that sent (or to one sharing its log), as for the voice webhooks.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};

use mfa_core::{ChallengeId, DeliveryReport, Mfa, ReportAnswer, UserId};

/// How many sent messages a log remembers by default; older ones are forgotten.
pub const DEFAULT_SENT_LOG: usize = 4096;

#[derive(Debug)]
struct Sent {
    message_id: String,
    user: UserId,
    challenge_id: ChallengeId,
    /// Which send of the log it was part of (the parts of one long SMS share it).
    send: u64,
}

#[derive(Debug, Default)]
struct Log {
    entries: VecDeque<Sent>,
    sends: u64,
}

/// A sent message, as [`SentMessages::find`] tells it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SentMessage {
    /// Whose message.
    pub user: UserId,
    /// Its challenge.
    pub challenge_id: ChallengeId,
    /// Whether the challenge has sent again since, so a report on this message is not
    /// about the latest one ([`DeliveryReport::superseded`]).
    pub superseded: bool,
}

impl SentMessage {
    /// `report` on this message, ready for `Mfa`: whose it is, and marked
    /// [superseded](DeliveryReport::superseded) when its challenge has sent again since.
    pub fn report(self, report: DeliveryReport) -> SmsReport {
        SmsReport {
            user: self.user,
            challenge_id: self.challenge_id,
            report: if self.superseded {
                report.superseded()
            } else {
                report
            },
        }
    }
}

/// Which user and challenge each sent message belongs to, by the provider's id.
/// Bounded: past its capacity the oldest entries go. Clones share the log.
#[derive(Debug, Clone)]
pub struct SentMessages {
    log: Arc<Mutex<Log>>,
    capacity: usize,
}

impl Default for SentMessages {
    fn default() -> Self {
        Self::new()
    }
}

impl SentMessages {
    /// A log of the last [`DEFAULT_SENT_LOG`] messages.
    pub fn new() -> Self {
        Self::with_capacity(DEFAULT_SENT_LOG)
    }

    /// A log of the last `capacity` messages (at least one).
    pub fn with_capacity(capacity: usize) -> Self {
        SentMessages {
            log: Arc::default(),
            capacity: capacity.max(1),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Log> {
        match self.log.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        }
    }

    /// Remembers that the provider's `message_id` is for `user`'s `challenge`: one send.
    pub fn record(&self, message_id: &str, user: &UserId, challenge: &ChallengeId) {
        self.record_send(&[message_id], user, challenge);
    }

    /// Remembers one send of `user`'s `challenge`, made of the provider's
    /// `message_ids` (one per part of a long SMS).
    pub fn record_send(&self, message_ids: &[&str], user: &UserId, challenge: &ChallengeId) {
        let mut log = self.lock();
        log.sends += 1;
        let send = log.sends;
        for id in message_ids {
            while log.entries.len() >= self.capacity {
                log.entries.pop_front();
            }
            log.entries.push_back(Sent {
                message_id: (*id).to_owned(),
                user: user.clone(),
                challenge_id: challenge.clone(),
                send,
            });
        }
    }

    /// The user and challenge of the provider's `message_id`.
    pub fn by_message(&self, message_id: &str) -> Option<(UserId, ChallengeId)> {
        self.find(message_id).map(|m| (m.user, m.challenge_id))
    }

    /// The provider's `message_id`: whose, and whether its challenge sent again since.
    pub fn find(&self, message_id: &str) -> Option<SentMessage> {
        let log = self.lock();
        let at = log
            .entries
            .iter()
            .rposition(|s| s.message_id == message_id)?;
        let sent = &log.entries[at];
        let superseded = log
            .entries
            .iter()
            .skip(at + 1)
            .any(|later| later.challenge_id == sent.challenge_id && later.send > sent.send);
        Some(SentMessage {
            user: sent.user.clone(),
            challenge_id: sent.challenge_id.clone(),
            superseded,
        })
    }

    /// The user of `challenge`, for gateways whose reports name the challenge.
    pub fn by_challenge(&self, challenge: &ChallengeId) -> Option<UserId> {
        self.lock()
            .entries
            .iter()
            .rev()
            .find(|s| &s.challenge_id == challenge)
            .map(|s| s.user.clone())
    }

    /// How many messages the log holds.
    pub fn len(&self) -> usize {
        self.lock().entries.len()
    }

    /// Whether the log is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A delivery report and whose message it is, ready for `Mfa`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SmsReport {
    /// Whose message.
    pub user: UserId,
    /// Its challenge.
    pub challenge_id: ChallengeId,
    /// What the gateway said.
    pub report: DeliveryReport,
}

impl SmsReport {
    /// Hands the report to [`Mfa::report_delivery`]; the answer says what to offer the
    /// user when the message will not arrive.
    pub async fn report_to(&self, mfa: &Mfa) -> Result<ReportAnswer, mfa_core::Error> {
        mfa.report_delivery(&self.user, &self.challenge_id, &self.report)
            .await
    }
}

/// A refused delivery report. Nothing about any challenge changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ReportError {
    /// No signature where the gateway signs its reports.
    #[error("the report is not signed")]
    MissingSignature,
    /// The signature does not match: not from the gateway, or altered.
    #[error("the report's signature does not match")]
    BadSignature,
    /// No message this process sent (or the log has forgotten it).
    #[error("no message sent from here has this id")]
    UnknownMessage,
    /// A required parameter is missing or malformed.
    #[error("missing or malformed parameter: {0}")]
    BadParameter(&'static str),
}

impl ReportError {
    /// The HTTP status to answer the gateway with.
    pub fn http_status(self) -> u16 {
        match self {
            ReportError::MissingSignature | ReportError::BadSignature => 403,
            ReportError::UnknownMessage => 404,
            ReportError::BadParameter(_) => 400,
        }
    }
}

/// The value of `name` in decoded form or query parameters.
#[cfg_attr(not(any(feature = "twilio", feature = "kannel")), allow(dead_code))]
pub(crate) fn param<'a>(params: &'a [(String, String)], name: &str) -> Option<&'a str> {
    params
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_log_is_bounded_and_finds_the_latest() {
        let log = SentMessages::with_capacity(2);
        let user = UserId::new("a@b.c").unwrap();
        let c1 = ChallengeId::parse("c1").unwrap();
        let c2 = ChallengeId::parse("c2").unwrap();
        log.record("m1", &user, &c1);
        log.record("m2", &user, &c2);
        log.record("m3", &user, &c2);
        assert_eq!(log.len(), 2);
        assert_eq!(log.by_message("m1"), None);
        assert_eq!(log.by_message("m3"), Some((user.clone(), c2.clone())));
        assert_eq!(log.by_challenge(&c2), Some(user));
        assert_eq!(log.by_challenge(&c1), None);
    }

    #[test]
    fn a_message_is_superseded_by_a_later_send_of_its_challenge_only() {
        let log = SentMessages::new();
        let user = UserId::new("a@b.c").unwrap();
        let c1 = ChallengeId::parse("c1").unwrap();
        let c2 = ChallengeId::parse("c2").unwrap();
        // A long SMS in two parts, another challenge's message, then a resend.
        log.record_send(&["m1", "m2"], &user, &c1);
        log.record("m3", &user, &c2);
        let superseded = |id: &str| log.find(id).map(|m| m.superseded);
        assert_eq!(superseded("m1"), Some(false), "the parts of one send");
        assert_eq!(superseded("m3"), Some(false));
        log.record("m4", &user, &c1);
        assert_eq!(superseded("m1"), Some(true));
        assert_eq!(superseded("m2"), Some(true));
        assert_eq!(superseded("m3"), Some(false), "another challenge's send");
        assert_eq!(superseded("m4"), Some(false));
        assert_eq!(superseded("m5"), None);
    }
}
