//! The world most journeys run in: `Mfa` over the memory store, memory SMS and voice
//! deliveries and an event recorder, all on one manual clock.

use std::sync::Arc;

use mfa_core::{
    Completion, ManualClock, MemoryDelivery, MemoryEvents, MemoryStore, Method, Mfa, MfaBuilder,
    PhoneMode, PhoneNumber, Policy, Timestamp, UserId,
};

/// New Year 2026, where every world's clock starts.
pub const START: Timestamp = Timestamp::from_unix_secs(1_767_225_600);

/// The service and what a test looks at: the store, the clock, what was sent, the
/// events.
pub struct World {
    pub mfa: Arc<Mfa>,
    pub store: MemoryStore,
    pub clock: ManualClock,
    pub sms: MemoryDelivery,
    pub voice: MemoryDelivery,
    pub events: MemoryEvents,
}

/// The world under the default policy.
pub fn world() -> World {
    world_with(Policy::default())
}

/// The world under `policy`.
pub fn world_with(policy: Policy) -> World {
    world_built(policy, |b| b)
}

/// The world under `policy`, its builder configured further by `configure` (an app
/// verifier, say).
pub fn world_built(policy: Policy, configure: impl FnOnce(MfaBuilder) -> MfaBuilder) -> World {
    let clock = ManualClock::new(START);
    let sms = MemoryDelivery::with_clock(Arc::new(clock.clone()));
    let voice = MemoryDelivery::with_clock(Arc::new(clock.clone()));
    let events = MemoryEvents::new();
    let store = MemoryStore::new();
    let builder = Mfa::builder()
        .store(store.clone())
        .clock(clock.clone())
        .sms(sms.clone())
        .voice(voice.clone())
        .events(events.clone())
        .policy(policy);
    let mfa = configure(builder).build().unwrap();
    World {
        mfa: Arc::new(mfa),
        store,
        clock,
        sms,
        voice,
        events,
    }
}

/// Text messages to `number`.
pub fn sms_to(number: PhoneNumber) -> Method {
    Method::AuthenticationPhone {
        number,
        mode: PhoneMode::Sms,
    }
}

/// Enrolls `user`'s first method, SMS to `number`: the code sent is typed, approved,
/// and completed.
pub async fn enroll_by_sms(w: &World, user: &UserId, number: &PhoneNumber) -> Completion {
    let pending = w
        .mfa
        .begin_enrollment(user, sms_to(number.clone()))
        .await
        .unwrap();
    let code = w.sms.last_code_to(number).unwrap();
    assert!(
        w.mfa
            .verify(user, &pending.challenge_id, code.expose())
            .await
            .unwrap()
            .is_approved()
    );
    w.mfa.complete(user, &pending.challenge_id).await.unwrap()
}
