//! The driver's part of the email channel: its send window and its sends. The rules
//! (policy, lifetimes, attempts, lockout, per-user and per-challenge send limits) are
//! the machine's, shared with SMS.

use crate::email::{EmailAddress, EmailDelivery, EmailRequest};
use crate::error::{Error, LimitScope, Missing, PolicyError};
use crate::event::{Event, Refusal};
use crate::machine::Send;
use crate::method::{ChallengeId, Channel};
use crate::store::WindowHit;
use crate::{Content, Timestamp, UserId};

use super::Mfa;

impl Mfa {
    /// Whether email codes can be set up: the policy allows them
    /// ([`crate::Policy::allow_email`]) and an email backend is configured. Pages offer
    /// email only then.
    pub fn offers_email(&self) -> bool {
        self.policy.allow_email && self.email.is_some()
    }

    /// The email backend, or the error that says none is configured.
    pub(super) fn email_delivery(&self) -> Result<&dyn EmailDelivery, Error> {
        self.email
            .as_deref()
            .ok_or(Error::NotConfigured(Missing::EmailDelivery))
    }

    /// Refuses a method whose channel has no backend, before anything is stored.
    pub(super) fn check_configured(&self, channel: Channel) -> Result<(), Error> {
        match channel {
            Channel::Email => self.email_delivery().map(|_| ()),
            other => self.delivery(other).map(|_| ()),
        }
    }

    /// Counts a send in the per-destination window of an address, as for a number.
    /// The key is a keyed hash: a shared store never holds the address.
    pub(super) async fn count_email_window(
        &self,
        user: &UserId,
        address: &EmailAddress,
        challenge: &ChallengeId,
        now: Timestamp,
    ) -> Result<(), Error> {
        let limit = self.policy.send_limits.per_destination;
        let key = self.limit_key("email", &address.limit_subject());
        let hits = [WindowHit {
            key: &key,
            window: limit.window,
        }];
        let counts = self.store.hit(&hits, now).await?;
        if let Some(count) = counts.first().filter(|c| c.count > limit.max) {
            self.emit_one(
                Event::Refused {
                    user: user.clone(),
                    challenge_id: Some(challenge.clone()),
                    reason: Refusal::RateLimited,
                    at: now,
                },
                now,
            );
            return Err(PolicyError::RateLimited {
                scope: LimitScope::EmailAddress,
                retry_after: count.resets_at.saturating_since(now),
            }
            .into());
        }
        Ok(())
    }

    /// Sends one committed email. A failed send closes a new challenge (nothing
    /// reached the user), as for SMS; a failed resend leaves it to try again.
    pub(super) async fn perform_email(
        &self,
        user: &UserId,
        send: Send,
        to: EmailAddress,
    ) -> Result<(), Error> {
        let Content::Code(code) = send.content else {
            return Err(Error::NotFound(Missing::Method));
        };
        let request = EmailRequest {
            challenge_id: send.challenge_id.clone(),
            user: user.clone(),
            to,
            code,
            purpose: send.purpose,
            expires_in: send.expires_at.saturating_since(self.clock.now()),
            // The user's language when set, as for SMS and calls.
            locale: send
                .locale
                .as_ref()
                .map_or_else(|| self.policy.locale.clone(), |l| l.as_str().to_owned()),
            app_name: self.policy.app_name.clone(),
            resend: send.resend,
        };
        match self.email_delivery()?.send(&request).await {
            Ok(_) => {
                self.emit_one(
                    Event::CodeSent {
                        user: user.clone(),
                        channel: Channel::Email,
                        country_code: 0,
                        purpose: send.purpose,
                        resend: send.resend,
                    },
                    self.clock.now(),
                );
                Ok(())
            }
            Err(e) => {
                self.emit_one(
                    Event::DeliveryFailed {
                        user: user.clone(),
                        channel: Channel::Email,
                        transient: e.is_transient(),
                    },
                    self.clock.now(),
                );
                if !send.resend {
                    // Best effort: the error the caller sees is the delivery's.
                    let _ = self.cancel(user, &send.challenge_id).await;
                }
                Err(e.into())
            }
        }
    }
}
