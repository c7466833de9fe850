//! What an application stores or returns, as JSON (feature `serde`): the views
//! serialize, read back to the same values, and never carry a secret or a code.
#![cfg(all(feature = "serde", feature = "totp"))]
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use mfa::totp::Totp;
use mfa::{
    ChallengeId, Event, MemoryEvents, Method, MethodRecord, Mfa, Pending, PhoneNumber, Policy,
    UserId, Verification,
};

macro_rules! json {
    ($value:expr) => {
        serde_json::to_string(&$value).unwrap()
    };
}

#[tokio::test]
async fn views_serialize_without_secrets_or_codes() {
    let clock = support::clock();
    let sms = support::phone_on(&clock);
    let events = MemoryEvents::new();
    let mfa = Mfa::builder()
        .clock(clock.clone())
        .sms(sms.clone())
        .app(Totp::default())
        .events(events.clone())
        .build()
        .unwrap();
    let user = support::kari();
    let number = support::kari_phone();

    // An SMS enrollment: the code sent is nowhere in the view.
    let pending = mfa
        .begin_enrollment(&user, support::sms_to(&number))
        .await
        .unwrap();
    let code = sms.last_code_to(&number).unwrap();
    let text = json!(pending);
    assert!(text.contains(r#""+4741234567""#), "E.164: {text}");
    assert!(!text.contains(code.expose()), "{text}");
    let back: Pending = serde_json::from_str(&text).unwrap();
    assert_eq!(back.challenge_id, pending.challenge_id);
    assert_eq!(back.method, pending.method);

    mfa.verify(&user, &pending.challenge_id, code.expose())
        .await
        .unwrap();
    let done = mfa.complete(&user, &pending.challenge_id).await.unwrap();

    // A sign-in's approval: its proof is a bearer token and stays out.
    let sign_in = mfa.challenge(&user).await.unwrap();
    let code = sms.last_code_to(&number).unwrap();
    let answer = mfa
        .verify(&user, &sign_in.challenge_id, code.expose())
        .await
        .unwrap();
    let proof = answer.proof().unwrap().clone();
    let text = json!(answer);
    assert!(!text.contains(proof.as_str()), "{text}");
    assert!(!text.contains(code.expose()), "{text}");
    let back: Verification = serde_json::from_str(&text).unwrap();
    assert!(back.is_approved() && back.proof().is_none());

    // An app enrollment: the secret, URI and manual key are shown once, never serialized.
    let app = mfa
        .add_method(&user, Method::AuthenticatorApp, &done.proof)
        .await
        .unwrap();
    let provisioning = app.app.as_ref().unwrap();
    let text = json!(app);
    assert!(!text.contains(&provisioning.manual_entry_key), "{text}");
    assert!(!text.contains("otpauth"), "{text}");
    let methods = mfa.methods(&user).await.unwrap();
    let text = json!(methods);
    assert!(!text.contains(&provisioning.manual_entry_key), "{text}");
    let back: Vec<MethodRecord> = serde_json::from_str(&text).unwrap();
    assert_eq!(back.len(), methods.len());
    assert!(back.iter().all(|m| m.app.is_none()));
    assert_eq!(back[0].id, methods[0].id);

    // Events: none carries a code or a number.
    let all = events.events();
    assert!(!all.is_empty());
    let text = json!(all);
    assert!(!text.contains("4741234567"), "{text}");
    let back: Vec<Event> = serde_json::from_str(&text).unwrap();
    assert_eq!(back, all);
}

#[test]
fn values_read_back_are_checked() {
    assert!(serde_json::from_str::<UserId>(r#""""#).is_err());
    assert!(serde_json::from_str::<PhoneNumber>(r#""12345""#).is_err());
    assert!(serde_json::from_str::<ChallengeId>(r#""a b""#).is_err());
    let number: PhoneNumber = serde_json::from_str(r#""+4741234567""#).unwrap();
    assert_eq!(number.e164(), "+4741234567");
    let policy = Policy::default();
    let back: Policy = serde_json::from_str(&json!(policy)).unwrap();
    assert_eq!(back, policy);
}
