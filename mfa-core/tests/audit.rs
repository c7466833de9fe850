//! The request behind a call: events carry its time, client address and user agent,
//! and sends are limited per client address as well as per number, user and country.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::time::Duration;

use mfa_core::{
    Error, Event, LimitScope, Method, PhoneMode, PhoneNumber, PolicyError, RequestContext,
    Timestamp, UserId,
};
use support::world;

fn phone(i: u32) -> Method {
    Method::AuthenticationPhone {
        number: PhoneNumber::from_parts(47, &format!("412 {:05}", 30_000 + i)).unwrap(),
        mode: PhoneMode::Sms,
    }
}

fn user(i: u32) -> UserId {
    UserId::new(format!("user{i}@example.no")).unwrap()
}

fn assert_client_limited(refused: &Error) {
    assert!(
        matches!(
            refused,
            Error::Policy(PolicyError::RateLimited {
                scope: LimitScope::ClientAddress,
                ..
            })
        ),
        "{refused:?}"
    );
}

fn from(addr: &str) -> RequestContext {
    RequestContext::new()
        .client(addr.parse().unwrap())
        .user_agent("Mozilla/5.0 (X11; Linux x86_64)")
}

#[tokio::test]
async fn every_event_of_a_request_carries_its_time_client_and_user_agent() {
    let w = world();
    let request = from("203.0.113.7");
    let mfa = w.mfa.with_request(request.clone());
    let pending = mfa.begin_enrollment(&user(1), phone(1)).await.unwrap();
    w.clock.advance(Duration::from_secs(20));
    let sent = w.sms.sent();
    let code = sent[0].request.code().unwrap();
    let wrong = if code.expose() == "000000" {
        "111111"
    } else {
        "000000"
    };
    mfa.verify(&user(1), &pending.challenge_id, wrong)
        .await
        .unwrap();
    let entries = w.events.entries();
    let kinds: Vec<_> = entries
        .iter()
        .map(|(e, _)| match e {
            Event::EnrollmentStarted { .. } => "started",
            Event::CodeSent { .. } => "sent",
            Event::CheckFailed { .. } => "failed",
            _ => "other",
        })
        .collect();
    assert_eq!(kinds, ["started", "sent", "failed"], "{entries:?}");
    for (event, meta) in &entries {
        let meta = meta.as_ref().expect("Mfa hands every event with its meta");
        assert_eq!(meta.request.as_deref(), Some(&request), "{event:?}");
    }
    let start = Timestamp::from_unix_secs(1_767_225_600);
    assert_eq!(entries[0].1.as_ref().unwrap().at, start);
    assert_eq!(
        entries[2].1.as_ref().unwrap().at,
        start + Duration::from_secs(20)
    );

    // The same service without a request says so: no context is made up.
    w.mfa
        .challenge_status(&user(1), &pending.challenge_id)
        .await
        .ok();
    w.mfa.begin_enrollment(&user(2), phone(2)).await.unwrap();
    let (_, last) = w.events.entries().pop().unwrap();
    assert_eq!(last.unwrap().request, None);
}

#[tokio::test]
async fn one_client_address_cannot_pump_sms_through_many_accounts() {
    let w = world();
    let max = w.mfa.policy().send_limits.per_client.max;
    // Every send is to another user and another number: only the client limit bites.
    for i in 0..max {
        w.mfa
            .with_request(from("198.51.100.4"))
            .begin_enrollment(&user(i), phone(i))
            .await
            .unwrap();
    }
    let sent = w.sms.sent().len();
    let refused = w
        .mfa
        .with_request(from("198.51.100.4"))
        .begin_enrollment(&user(max), phone(max))
        .await
        .unwrap_err();
    assert_client_limited(&refused);
    assert_eq!(
        w.sms.sent().len(),
        sent,
        "nothing is sent for a refused request"
    );
    // Nothing is stored for it either: the user can start once the window allows.
    assert_eq!(
        w.mfa.methods(&user(max)).await.unwrap(),
        Vec::new(),
        "a refused enrollment leaves no method"
    );
    // Another client is not held back, nor is a call without a request.
    w.mfa
        .with_request(from("198.51.100.5"))
        .begin_enrollment(&user(max), phone(max))
        .await
        .unwrap();
    w.mfa
        .begin_enrollment(&user(max + 1), phone(max + 1))
        .await
        .unwrap();
    // An hour later the window is new.
    w.clock.advance(Duration::from_secs(3601));
    w.mfa
        .with_request(from("198.51.100.4"))
        .begin_enrollment(&user(max + 2), phone(max + 2))
        .await
        .unwrap();
}

#[tokio::test]
async fn ipv6_clients_share_a_limit_across_their_64_prefix() {
    let w = world();
    let max = w.mfa.policy().send_limits.per_client.max;
    for i in 0..max {
        // A new address inside the same /64 for each request.
        let addr = format!("2001:db8:7:9::{:x}", i + 1);
        w.mfa
            .with_request(from(&addr))
            .begin_enrollment(&user(i), phone(i))
            .await
            .unwrap();
    }
    let refused = w
        .mfa
        .with_request(from("2001:db8:7:9:ffff::1"))
        .begin_enrollment(&user(max), phone(max))
        .await
        .unwrap_err();
    assert_client_limited(&refused);
    w.mfa
        .with_request(from("2001:db8:7:a::1"))
        .begin_enrollment(&user(max), phone(max))
        .await
        .unwrap();
}
