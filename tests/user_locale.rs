//! The locale is the user's: kept with them, and each SMS and call is rendered in it,
//! whatever the `Mfa`'s own default.
#![cfg(all(feature = "sms", feature = "voice"))]
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::sync::Arc;

use mfa::sms::{MemorySms, SmsDelivery};
use mfa::voice::{CallScript, Language, ScriptOptions};
use mfa::{Locale, Method, Mfa, PhoneMode, PhoneNumber, UserId};

#[tokio::test]
async fn each_user_gets_texts_and_calls_in_their_own_language() {
    let clock = support::clock();
    let sms = MemorySms::with_clock(Arc::new(clock.clone()));
    let voice = support::phone_on(&clock);
    let mfa = Mfa::builder()
        .clock(clock.clone())
        .sms(SmsDelivery::new(sms.clone()))
        .voice(voice.clone())
        .build()
        .unwrap();
    assert_eq!(mfa.policy().locale, "en");

    let kari = support::kari();
    let ada = UserId::username("ada@example.com").unwrap();
    mfa.set_locale(&kari, Some(Locale::parse("nb_NO").unwrap()))
        .await
        .unwrap();
    assert_eq!(
        mfa.locale(&kari).await.unwrap(),
        Some(Locale::parse("nb-NO").unwrap())
    );
    assert_eq!(mfa.locale(&ada).await.unwrap(), None);

    let kari_phone = support::kari_phone();
    let ada_phone = PhoneNumber::parse("+47 412 34 568").unwrap();
    for (user, number) in [(&kari, &kari_phone), (&ada, &ada_phone)] {
        mfa.begin_enrollment(user, support::sms_to(number))
            .await
            .unwrap();
    }
    let kari_text = sms.last_text_to(&kari_phone).unwrap();
    let ada_text = sms.last_text_to(&ada_phone).unwrap();
    assert!(kari_text.contains("bekreftelseskoden"), "{kari_text}");
    assert!(ada_text.contains("verification code"), "{ada_text}");

    // Calls too: the request carries the user's locale, and the script speaks it.
    let ola = UserId::username("ola@example.no").unwrap();
    mfa.set_locale(&ola, Some(Locale::parse("nb").unwrap()))
        .await
        .unwrap();
    mfa.begin_enrollment(
        &ola,
        Method::OfficePhone {
            number: PhoneNumber::parse("+47 22 12 34 56").unwrap(),
            extension: None,
        },
    )
    .await
    .unwrap();
    let call = voice.sent().pop().expect("a call went out");
    assert_eq!(call.request.locale, "nb");
    let script = CallScript::for_request(&call.request, &ScriptOptions::default());
    assert_eq!(script.language(), Language::NorwegianBokmal);

    // Kari goes back to the default: her next code comes in English.
    mfa.set_locale(&kari, None).await.unwrap();
    mfa.begin_enrollment(
        &kari,
        Method::AuthenticationPhone {
            number: kari_phone.clone(),
            mode: PhoneMode::Sms,
        },
    )
    .await
    .unwrap();
    let text = sms.last_text_to(&kari_phone).unwrap();
    assert!(text.contains("verification code"), "{text}");
}
