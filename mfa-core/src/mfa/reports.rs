//! Delivery reports into the journey: [`Mfa::report_delivery`] and [`Mfa::fall_back`].

use super::{Mfa, Pending};
use crate::error::Error;
use crate::machine;
use crate::method::{ChallengeId, Channel};
use crate::report::{DeliveryReport, NextStep, ReportAnswer};
use crate::user::UserId;

impl Mfa {
    /// What the gateway later said of a message sent for `challenge` (Twilio's
    /// `StatusCallback`, a Kannel DLR, an SMPP receipt): emits
    /// [`Event::DeliveryReported`](crate::Event::DeliveryReported) with the provider's
    /// message id and the latency. When the message will not arrive and the challenge
    /// still waits for its code, the answer offers what to do instead: a call to the
    /// same number (when a voice backend is configured and sends are left) and, for a
    /// sign-in, the user's authenticator apps. Hand the user's choice to
    /// [`Mfa::fall_back`].
    ///
    /// A report marked [superseded](DeliveryReport::superseded) (on a message the
    /// challenge has sent again since) offers nothing. `mfa-sms` marks Twilio's, SMPP
    /// and Kannel's reports from its sent log (Kannel's when its `dlr-url` carries
    /// `send={send}`).
    #[cfg_attr(feature = "tracing", tracing::instrument(name = "mfa.report_delivery", skip_all, fields(user = %user, challenge = %challenge, status = ?report.status), ret, err(level = "warn", Display)))]
    pub async fn report_delivery(
        &self,
        user: &UserId,
        challenge: &ChallengeId,
        report: &DeliveryReport,
    ) -> Result<ReportAnswer, Error> {
        let voice = self.voice.is_some();
        let (answer, _) = self
            .run(user, |rec, ctx, fx| {
                machine::report_delivery(rec, challenge, report, voice, ctx, fx)
            })
            .await?;
        Ok(answer)
    }

    /// Finishes `challenge` another way after its SMS did not arrive: [`NextStep::Call`]
    /// calls the same number and reads a new code (the SMS code dies); [`NextStep::App`]
    /// takes the app's codes instead. The challenge id, its wrong attempts and its send
    /// count carry over. A call right after an undelivered report skips the resend
    /// cooldown; otherwise it waits it out like [`Mfa::resend`].
    #[cfg_attr(feature = "tracing", tracing::instrument(name = "mfa.fall_back", skip_all, fields(user = %user, challenge = %challenge, step = ?step), ret, err(level = "warn", Display)))]
    pub async fn fall_back(
        &self,
        user: &UserId,
        challenge: &ChallengeId,
        step: &NextStep,
    ) -> Result<Pending, Error> {
        if *step == NextStep::Call {
            self.delivery(Channel::Voice)?;
        }
        let fresh = self.fresh();
        let (mut pending, sends) = self
            .run(user, |rec, ctx, fx| {
                machine::fall_back(rec, challenge, step, &fresh, ctx, fx)
            })
            .await?;
        self.perform(user, sends, &mut pending).await?;
        Ok(pending)
    }
}
