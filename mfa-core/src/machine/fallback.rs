//! Delivery reports and the fallbacks they offer, decided on the record like every
//! other request.

use super::*;
use crate::method::{Channel, PhoneMode};
use crate::record::Undelivered;
use crate::report::{DeliveryReport, NextStep, ReportAnswer};

/// A delivery report on challenge `id`: an event with the provider's id and the
/// latency; a message that will not arrive, on a challenge still waiting for its
/// code, is remembered and answered with what to offer instead, unless the report is
/// [superseded](DeliveryReport::superseded). `voice` says whether calls can be placed.
pub fn report_delivery(
    rec: &mut UserRecord,
    id: &ChallengeId,
    report: &DeliveryReport,
    voice: bool,
    ctx: &Ctx<'_>,
    effects: &mut Vec<Effect>,
) -> Result<ReportAnswer, Error> {
    let challenge = find(rec, id)?.clone();
    let method = rec
        .method(&challenge.method_id)
        .ok_or(Error::NotFound(Missing::Method))?;
    let channel = method.method.channel();
    let latency = challenge
        .last_sent_at
        .map(|sent| report.at.unwrap_or(ctx.now).saturating_since(sent));
    emit(
        effects,
        Event::DeliveryReported {
            user: ctx.user.clone(),
            challenge_id: id.clone(),
            message_id: report.message_id.clone(),
            status: report.status,
            provider_code: report.provider_code.map(|c| c.code),
            latency,
        },
    );
    let mut next = Vec::new();
    let waiting = challenge.status_at(ctx.now) == ChallengeStatus::AwaitingCode
        && matches!(challenge.answer, Answer::SentCode(_));
    // A report on an earlier send says nothing of the latest one, which may arrive.
    if report.status.is_failure() && waiting && channel == Some(Channel::Sms) && !report.superseded
    {
        rec.undelivered.retain(|u| u.challenge_id != *id);
        if rec.undelivered.len() >= MAX_OPEN_CHALLENGES {
            rec.undelivered.remove(0);
        }
        rec.undelivered.push(Undelivered {
            challenge_id: id.clone(),
            generation: challenge.generation,
        });
        if voice && challenge.sends < ctx.policy.max_sends {
            next.push(NextStep::Call);
        }
        if challenge.purpose == Purpose::SignIn && ctx.app.is_some() {
            next.extend(
                rec.active_methods()
                    .filter(|m| m.method.kind() == MethodKind::AuthenticatorApp)
                    .map(|m| NextStep::App {
                        method_id: m.id.clone(),
                    }),
            );
        }
    }
    Ok(ReportAnswer { latency, next })
}

/// Finishes challenge `id` another way: a call to the SMS number with a new code, or
/// the user's authenticator app. The challenge, its attempts and its send count stay.
/// A call waits out the resend cooldown unless the SMS was reported undelivered.
pub fn fall_back(
    rec: &mut UserRecord,
    id: &ChallengeId,
    step: &NextStep,
    fresh: &Fresh,
    ctx: &Ctx<'_>,
    effects: &mut Vec<Effect>,
) -> Result<crate::Pending, Error> {
    let challenge = find(rec, id)?.clone();
    let refuse = |event: &'static str| -> Error {
        crate::error::TransitionError {
            state: challenge.status_at(ctx.now).name(),
            event,
        }
        .into()
    };
    if challenge.status_at(ctx.now) != ChallengeStatus::AwaitingCode
        || !matches!(challenge.answer, Answer::SentCode(_))
    {
        return Err(refuse("fall back"));
    }
    check_lockout(rec, ctx, Some(id), effects)?;
    let method = rec
        .method(&challenge.method_id)
        .map(|m| m.method.clone())
        .ok_or(Error::NotFound(Missing::Method))?;
    let reported = rec
        .undelivered
        .iter()
        .any(|u| u.challenge_id == *id && u.generation == challenge.generation);
    match step {
        NextStep::Call => {
            let Method::AuthenticationPhone {
                number,
                mode: PhoneMode::Sms,
            } = method
            else {
                return Err(refuse("fall back to a call"));
            };
            let call = Method::AuthenticationPhone {
                number,
                mode: PhoneMode::Call,
            };
            let dest = call.destination().ok_or(Error::NotFound(Missing::Method))?;
            if !reported {
                if let Some(last) = challenge.last_sent_at {
                    let ready = last + ctx.policy.resend_cooldown;
                    if ctx.now < ready {
                        refused(effects, ctx, Some(id), Refusal::ResendTooSoon);
                        return Err(PolicyError::ResendTooSoon {
                            retry_after: ready.saturating_since(ctx.now),
                        }
                        .into());
                    }
                }
            }
            if challenge.sends >= ctx.policy.max_sends {
                refused(effects, ctx, Some(id), Refusal::RateLimited);
                return Err(PolicyError::TooManySends.into());
            }
            let (next, _) = challenge::transition(
                challenge,
                ChallengeEvent::Resend(Some(&fresh.code)),
                &challenge_context(ctx),
            )?;
            let cost_notice = ctx.policy.check_destination(&dest, Channel::Voice)?;
            count_user_send(rec, ctx, Some(id), effects)?;
            effects.push(Effect::Send(Send {
                challenge_id: next.id.clone(),
                method: call.clone(),
                content: Content::Code(fresh.code.clone()),
                purpose: next.purpose,
                expires_at: next.expires_at,
                resend: true,
                cost_notice,
                locale: rec.locale.clone(),
            }));
            let pending = pending(&next, call, cost_notice, ctx);
            rec.undelivered.retain(|u| u.challenge_id != *id);
            replace(rec, next);
            Ok(pending)
        }
        NextStep::App { method_id } => {
            if challenge.purpose != Purpose::SignIn {
                return Err(refuse("fall back to the app"));
            }
            ctx.app.ok_or(Error::NotConfigured(Missing::AppVerifier))?;
            let app = rec
                .active_methods()
                .find(|m| &m.id == method_id && m.method.kind() == MethodKind::AuthenticatorApp)
                .map(|m| m.method.clone())
                .ok_or(Error::NotFound(Missing::Method))?;
            let mut next = challenge;
            // The SMS code dies: only the app's codes answer from now on.
            next.method_id = method_id.clone();
            next.answer = Answer::AppCode;
            next.generation += 1;
            let mut pending = pending(&next, app, None, ctx);
            pending.resend_after = None;
            rec.undelivered.retain(|u| u.challenge_id != *id);
            replace(rec, next);
            Ok(pending)
        }
    }
}
