//! What a `tracing` subscriber sees of a whole journey (feature `tracing`): a span per
//! operation with the user and its outcome, the audit events, and never a code, a
//! secret, a proof or a full number.
#![cfg(all(feature = "tracing", feature = "totp"))]
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use mfa::totp::Totp;
use mfa::{Method, Mfa, TracingEvents};
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Metadata, Subscriber};

/// Writes every span, field and event it is given into one text: what any real
/// subscriber (a log file, an OpenTelemetry exporter) could see.
#[derive(Clone, Default)]
struct Capture {
    text: Arc<Mutex<String>>,
    next: Arc<AtomicU64>,
}

struct Fields<'a>(&'a mut String);

impl Visit for Fields<'_> {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        let _ = write!(self.0, " {}={value:?}", field.name());
    }
}

impl Subscriber for Capture {
    fn enabled(&self, _: &Metadata<'_>) -> bool {
        true
    }

    fn new_span(&self, span: &Attributes<'_>) -> Id {
        let mut text = self.text.lock().unwrap();
        let _ = write!(text, "\nspan {}:", span.metadata().name());
        span.record(&mut Fields(&mut text));
        Id::from_u64(self.next.fetch_add(1, Ordering::Relaxed) + 1)
    }

    fn record(&self, _: &Id, values: &Record<'_>) {
        values.record(&mut Fields(&mut self.text.lock().unwrap()));
    }

    fn record_follows_from(&self, _: &Id, _: &Id) {}

    fn event(&self, event: &tracing::Event<'_>) {
        let mut text = self.text.lock().unwrap();
        let _ = write!(text, "\nevent {}:", event.metadata().target());
        event.record(&mut Fields(&mut text));
    }

    fn enter(&self, _: &Id) {}

    fn exit(&self, _: &Id) {}
}

#[tokio::test]
async fn a_journey_leaves_no_code_secret_or_number_in_the_trace() {
    let capture = Capture::default();
    let _guard = tracing::subscriber::set_default(capture.clone());

    let clock = support::clock();
    let sms = support::phone_on(&clock);
    let mfa = Mfa::builder()
        .clock(clock.clone())
        .sms(sms.clone())
        .app(Totp::default())
        .events(TracingEvents)
        .build()
        .unwrap();
    let user = support::kari();
    let number = support::kari_phone();
    let mut secrets: Vec<String> = Vec::new();

    let pending = mfa
        .begin_enrollment(&user, support::sms_to(&number))
        .await
        .unwrap();
    let code = sms.last_code_to(&number).unwrap();
    secrets.push(code.expose().to_owned());
    // A wrong code (the right one reversed) goes into a span's call too.
    let wrong: String = code.expose().chars().rev().collect();
    mfa.verify(&user, &pending.challenge_id, &wrong)
        .await
        .unwrap();
    mfa.verify(&user, &pending.challenge_id, code.expose())
        .await
        .unwrap();
    let done = mfa.complete(&user, &pending.challenge_id).await.unwrap();
    secrets.push(done.proof.as_str().to_owned());

    let sign_in = mfa.challenge(&user).await.unwrap();
    let code = sms.last_code_to(&number).unwrap();
    secrets.push(code.expose().to_owned());
    let answer = mfa
        .verify(&user, &sign_in.challenge_id, code.expose())
        .await
        .unwrap();
    let proof = answer.proof().unwrap().clone();
    secrets.push(proof.as_str().to_owned());

    let app = mfa
        .add_method(&user, Method::AuthenticatorApp, &proof)
        .await
        .unwrap();
    let provisioning = app.app.clone().unwrap();
    secrets.push(provisioning.manual_entry_key.clone());
    secrets.push(provisioning.uri.clone());

    let codes = mfa.regenerate_recovery_codes(&user, &proof).await.unwrap();
    secrets.extend(codes.iter().map(|c| c.expose()));
    mfa.verify_recovery_code(&user, &codes[0].expose())
        .await
        .unwrap()
        .unwrap();
    // A refused request: its error message is traced, and says nothing secret.
    assert!(
        mfa.verify(&user, &sign_in.challenge_id, "12")
            .await
            .is_err()
    );

    let text = capture.text.lock().unwrap().clone();
    for secret in &secrets {
        assert!(!text.contains(secret.as_str()), "{secret} in:{text}");
    }
    assert!(!text.contains(&wrong), "{text}");
    assert!(
        !text.contains("4741234567") && !text.contains("41234567"),
        "{text}"
    );

    // What the trace is for: one span per operation, who, how it ended, the events.
    for span in [
        "span mfa.begin_enrollment:",
        "span mfa.verify:",
        "span mfa.complete:",
        "span mfa.challenge:",
        "span mfa.add_method:",
        "span mfa.regenerate_recovery_codes:",
        "span mfa.verify_recovery_code:",
    ] {
        assert!(text.contains(span), "{span} missing:{text}");
    }
    assert!(text.contains("user=kari@example.no"), "{text}");
    assert!(text.contains("••67"), "the masked number:{text}");
    assert!(text.contains("Rejected"), "the wrong code's outcome:{text}");
    assert!(text.contains("event=\"code_sent\""), "{text}");
    assert!(text.contains("a code has"), "the refusal's message:{text}");
}
