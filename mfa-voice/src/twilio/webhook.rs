//! Framework-agnostic handlers for Twilio's Gather and status-callback webhooks.

use std::fmt;
use std::sync::Arc;

use mfa_core::{ChallengeId, DeliveryError, DeliveryErrorKind, Timestamp};

use super::{Shared, lock, twiml};
use crate::keys::{Heard, KeyPrompt, is_keypad_key};
use crate::report::CallEvent;
use crate::script::{CallEnd, Expect, Step};

/// The longest webhook URL looked at.
const MAX_URL: usize = 4096;
/// The most form parameters looked at.
const MAX_PARAMS: usize = 200;

/// The answer to a webhook request: the TwiML to return (HTTP 200,
/// `Content-Type: text/xml`) and the event, if any, for the driver.
#[derive(Clone, PartialEq, Eq)]
pub struct WebhookReply {
    /// The TwiML document. May hold the code being read: never log it.
    pub twiml: String,
    /// What happened, if anything the driver must hear about.
    pub event: Option<CallEvent>,
}

impl fmt::Debug for WebhookReply {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebhookReply")
            .field("twiml_bytes", &self.twiml.len())
            .field("event", &self.event)
            .finish()
    }
}

/// A refused webhook request. Nothing about any challenge changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum WebhookError {
    /// No `X-Twilio-Signature` header.
    #[error("the request has no X-Twilio-Signature header")]
    MissingSignature,
    /// The signature does not match: not from Twilio, or altered.
    #[error("the request's Twilio signature does not match")]
    BadSignature,
    /// The link's own token does not match: not a link this server made.
    #[error("the webhook link was not made by this server")]
    ForgedLink,
    /// The link is past its lifetime.
    #[error("the webhook link has expired")]
    Expired,
    /// This exact request was handled before.
    #[error("this webhook request was already handled")]
    Replayed,
    /// No call of ours is waiting for it (unknown challenge, or another call's SID).
    #[error("no call is waiting for this request")]
    UnknownCall,
    /// Keys that mean nothing at this prompt; the call is ended.
    #[error("the keys pressed mean nothing at this prompt")]
    UnrecognizedKeys,
    /// A required parameter is missing or malformed.
    #[error("missing or malformed parameter: {0}")]
    BadParameter(&'static str),
}

impl WebhookError {
    /// The HTTP status to answer with.
    pub fn http_status(self) -> u16 {
        match self {
            WebhookError::MissingSignature
            | WebhookError::BadSignature
            | WebhookError::ForgedLink => 403,
            WebhookError::Expired | WebhookError::Replayed => 409,
            WebhookError::UnknownCall => 404,
            WebhookError::UnrecognizedKeys => 200,
            WebhookError::BadParameter(_) => 400,
        }
    }

    /// A TwiML body that ends the call, for answers with status 200.
    pub fn twiml(self) -> String {
        r#"<?xml version="1.0" encoding="UTF-8"?><Response><Hangup/></Response>"#.to_owned()
    }
}

/// Handles the webhooks of a [`super::TwilioVoice`]'s calls: made by
/// [`super::TwilioVoice::webhooks`], cheap to clone.
///
/// Each handler takes the full URL Twilio requested (scheme, host, path and query,
/// exactly as Twilio sees it), the decoded form parameters, and the
/// `X-Twilio-Signature` header.
#[derive(Debug, Clone)]
pub struct TwilioWebhooks {
    shared: Arc<Shared>,
}

/// A checked webhook link: its challenge, its query fields and its expiry.
type Link = (ChallengeId, Vec<(String, String)>, Timestamp);

fn param<'a>(params: &'a [(String, String)], name: &str) -> Option<&'a str> {
    params
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

fn query(url: &str) -> Vec<(String, String)> {
    match url.split_once('?') {
        Some((_, q)) => form_urlencoded::parse(q.split('#').next().unwrap_or("").as_bytes())
            .into_owned()
            .collect(),
        None => Vec::new(),
    }
}

fn valid_sid(sid: &str) -> bool {
    !sid.is_empty() && sid.len() <= 64 && sid.bytes().all(|b| b.is_ascii_alphanumeric())
}

impl TwilioWebhooks {
    pub(super) fn new(shared: Arc<Shared>) -> Self {
        TwilioWebhooks { shared }
    }

    /// Checks Twilio's signature and our link token; returns the link's fields.
    fn authenticate(
        &self,
        kind: &str,
        url: &str,
        params: &[(String, String)],
        signature: Option<&str>,
    ) -> Result<Link, WebhookError> {
        if url.len() > MAX_URL {
            return Err(WebhookError::BadParameter("url"));
        }
        if params.len() > MAX_PARAMS {
            return Err(WebhookError::BadParameter("form"));
        }
        self.shared
            .account
            .check_signature(url, params, signature)
            .map_err(|e| match e {
                mfa_twilio::SignatureError::Missing => WebhookError::MissingSignature,
                _ => WebhookError::BadSignature,
            })?;
        let q = query(url);
        let field = |name: &str| param(&q, name).unwrap_or("");
        let (c, e, t) = (field("c"), field("e"), field("t"));
        let fields: Vec<&str> = match kind {
            "gather" => vec![kind, c, field("s"), field("k"), e],
            _ => vec![kind, c, e],
        };
        if !self.shared.link_token_matches(&fields, t) {
            return Err(WebhookError::ForgedLink);
        }
        let expires = Timestamp::from_unix_secs(e.parse().map_err(|_| WebhookError::ForgedLink)?);
        if self.shared.clock.now() >= expires {
            return Err(WebhookError::Expired);
        }
        let challenge = ChallengeId::parse(c).map_err(|_| WebhookError::ForgedLink)?;
        Ok((challenge, q, expires))
    }

    /// Refuses a request seen before; remembers this one until its link expires.
    fn once(&self, key: String, expires: Timestamp) -> Result<(), WebhookError> {
        let now = self.shared.clock.now();
        let mut seen = lock(&self.shared.seen);
        seen.retain(|_, until| *until > now);
        if seen.contains_key(&key) {
            return Err(WebhookError::Replayed);
        }
        seen.insert(key, expires);
        Ok(())
    }

    /// The `<Gather>` action: a key pressed at a prompt.
    pub fn handle_gather(
        &self,
        url: &str,
        params: &[(String, String)],
        signature: Option<&str>,
    ) -> Result<WebhookReply, WebhookError> {
        let (challenge, q, expires) = self.authenticate("gather", url, params, signature)?;
        let call_sid = param(params, "CallSid")
            .filter(|s| valid_sid(s))
            .ok_or(WebhookError::BadParameter("CallSid"))?;
        let digits = param(params, "Digits").unwrap_or("");
        if digits.chars().count() > 8 {
            return Err(WebhookError::BadParameter("Digits"));
        }
        let step: usize = param(&q, "s")
            .and_then(|s| s.parse().ok())
            .ok_or(WebhookError::ForgedLink)?;
        let before = param(&q, "k").unwrap_or("");

        let mut calls = lock(&self.shared.calls);
        let call = calls
            .get_mut(challenge.as_str())
            .filter(|c| c.call_sid == call_sid)
            .ok_or(WebhookError::UnknownCall)?;
        let Some(Step::Gather {
            expect, timeout, ..
        }) = call.script.steps().get(step)
        else {
            return Err(WebhookError::ForgedLink);
        };
        let (expect, timeout) = (*expect, timeout.as_secs().max(1));
        self.once(
            format!("gather|{call_sid}|{challenge}|{step}|{before}"),
            expires,
        )?;
        if !digits.chars().all(is_keypad_key) {
            return Err(WebhookError::UnrecognizedKeys);
        }
        let script = call.script.clone();
        let shared = &self.shared;
        let c = challenge.as_str();
        let reply = |twiml: String, event: Option<CallEvent>| Ok(WebhookReply { twiml, event });
        let (mut listening, before_heard) = KeyPrompt::after(expect, before);
        if before_heard != Heard::More {
            // Our own link never carries keys that already decided.
            return Err(WebhookError::ForgedLink);
        }
        let heard = digits
            .chars()
            .map(|k| listening.press(k))
            .last()
            // No digits: the prompt timed out.
            .unwrap_or_else(|| Heard::End(listening.timed_out()));
        match heard {
            Heard::More => reply(
                twiml::gather_more(
                    &script,
                    &listening,
                    timeout,
                    &shared.gather_url(c, step, listening.pressed(), expires),
                ),
                None,
            ),
            Heard::Proceed => {
                // Past the key before the code: hanging up now is the normal end.
                call.settled |= expect == Expect::AnyKey;
                reply(
                    twiml::segment(&script, step + 1, &|i| shared.gather_url(c, i, "", expires)),
                    None,
                )
            }
            Heard::End(CallEnd::Outcome(outcome)) => {
                call.settled = true;
                reply(
                    twiml::closing(&script, CallEnd::Outcome(outcome)),
                    Some(CallEvent::Outcome {
                        user: call.user.clone(),
                        challenge_id: challenge.clone(),
                        outcome,
                    }),
                )
            }
            Heard::End(CallEnd::Unrecognized) => Err(WebhookError::UnrecognizedKeys),
            Heard::End(end) => reply(twiml::closing(&script, end), None),
        }
    }

    /// The status callback: how the call ended.
    pub fn handle_status(
        &self,
        url: &str,
        params: &[(String, String)],
        signature: Option<&str>,
    ) -> Result<WebhookReply, WebhookError> {
        let (challenge, _, expires) = self.authenticate("status", url, params, signature)?;
        let call_sid = param(params, "CallSid")
            .filter(|s| valid_sid(s))
            .ok_or(WebhookError::BadParameter("CallSid"))?;
        let status = param(params, "CallStatus").ok_or(WebhookError::BadParameter("CallStatus"))?;
        let failure = match status {
            "queued" | "initiated" | "ringing" | "in-progress" => None,
            "completed" => Some((
                DeliveryErrorKind::Declined,
                "the call ended before a key was pressed",
            )),
            "busy" => Some((DeliveryErrorKind::Busy, "the line was busy")),
            "no-answer" => Some((DeliveryErrorKind::NoAnswer, "the call was not answered")),
            "failed" => Some((DeliveryErrorKind::Rejected, "the call could not be placed")),
            "canceled" => Some((DeliveryErrorKind::Rejected, "the call was canceled")),
            _ => return Err(WebhookError::BadParameter("CallStatus")),
        };
        let mut calls = lock(&self.shared.calls);
        let (settled, user) = calls
            .get(challenge.as_str())
            .filter(|c| c.call_sid == call_sid)
            .map(|c| (c.settled, c.user.clone()))
            .ok_or(WebhookError::UnknownCall)?;
        self.once(format!("status|{call_sid}|{challenge}|{status}"), expires)?;
        let Some((kind, message)) = failure else {
            return Ok(WebhookReply {
                twiml: twiml::empty(),
                event: None,
            });
        };
        calls.remove(challenge.as_str());
        let event = (!(settled && status == "completed")).then(|| CallEvent::Ended {
            user,
            challenge_id: challenge,
            error: DeliveryError::new(kind, message),
        });
        Ok(WebhookReply {
            twiml: twiml::empty(),
            event,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::twilio::{AuthToken, TwilioConfig, TwilioVoice};
    use mfa_core::{ManualClock, PhoneNumber};
    use proptest::prelude::*;

    fn hooks() -> TwilioWebhooks {
        let config = TwilioConfig::new(
            "AC0123456789abcdef0123456789abcdef",
            AuthToken::new("token"),
            PhoneNumber::parse("+15005550006").unwrap(),
            "https://example.com/hooks",
        );
        let clock = ManualClock::new(Timestamp::from_unix_secs(1_000));
        TwilioVoice::with_link_key(config, [1; 32], Arc::new(clock))
            .unwrap()
            .webhooks()
    }

    proptest! {
        /// Any input, however odd, gets a typed answer and never an event without a
        /// valid signature.
        #[test]
        fn arbitrary_requests_are_refused_without_panicking(
            url in ".{0,300}",
            params in proptest::collection::vec((".{0,20}", ".{0,20}"), 0..8),
            signature in proptest::option::of(".{0,40}"),
        ) {
            let hooks = hooks();
            prop_assert!(hooks.handle_gather(&url, &params, signature.as_deref()).is_err());
            prop_assert!(hooks.handle_status(&url, &params, signature.as_deref()).is_err());
        }

        /// A genuine Twilio signature on a link we did not make is still refused.
        #[test]
        fn signed_but_unknown_links_are_refused(
            query in "[a-z=&0-9]{0,80}",
            digits in "[0-9#*]{0,3}",
        ) {
            let hooks = hooks();
            let url = format!("https://example.com/hooks/gather?{query}");
            let params = vec![
                ("CallSid".to_owned(), "CA1".to_owned()),
                ("Digits".to_owned(), digits),
            ];
            let signature = crate::twilio::compute_signature("token", &url, &params);
            let refused = hooks.handle_gather(&url, &params, Some(&signature)).unwrap_err();
            prop_assert_eq!(refused, WebhookError::ForgedLink);
        }
    }
}
