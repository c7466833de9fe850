//! Enrolls a phone by SMS through Twilio's Messages API: sends the code, asks you to
//! type what arrived, and completes the enrollment.
//!
//! ```text
//! TWILIO_ACCOUNT_SID=AC... TWILIO_AUTH_TOKEN=... TWILIO_FROM=+15017122661 \
//!   cargo run --features twilio --example sms_twilio -- +4741234567
//! ```
//! Use `TWILIO_MESSAGING_SERVICE_SID=MG...` instead of `TWILIO_FROM` to send through a
//! Messaging Service.

use std::io::BufRead;

use mfa::sms::{SmsDelivery, TwilioSender, TwilioSms};
use mfa::{Method, Mfa, PhoneMode, PhoneNumber, UserId};

fn setting(name: &str) -> Result<String, Box<dyn std::error::Error>> {
    std::env::var(name)
        .map_err(|_| format!("set {name} (see the comment at the top of this example)").into())
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let number = std::env::args()
        .nth(1)
        .ok_or("usage: sms_twilio +COUNTRYNUMBER")?;
    let number = PhoneNumber::parse(&number)?;
    let sender = match std::env::var("TWILIO_MESSAGING_SERVICE_SID") {
        Ok(sid) => TwilioSender::MessagingService(sid),
        Err(_) => TwilioSender::From(setting("TWILIO_FROM")?),
    };
    let twilio = TwilioSms::new(
        &setting("TWILIO_ACCOUNT_SID")?,
        &setting("TWILIO_AUTH_TOKEN")?,
        sender,
    )?;
    let mfa = Mfa::builder().sms(SmsDelivery::new(twilio)).build()?;

    let user = UserId::new("demo@example.com")?;
    let pending = mfa
        .begin_enrollment(
            &user,
            Method::AuthenticationPhone {
                number: number.clone(),
                mode: PhoneMode::Sms,
            },
        )
        .await?;
    println!(
        "A code is on its way to {}. Type it and press Enter:",
        number.masked()
    );
    for line in std::io::stdin().lock().lines() {
        match mfa.verify(&user, &pending.challenge_id, line?.trim()).await {
            Ok(v) if v.is_approved() => {
                mfa.complete(&user, &pending.challenge_id).await?;
                println!("Authentication is complete: from now on you will get an SMS at sign-in.");
                return Ok(());
            }
            Ok(v) => println!("Not accepted ({v:?}); try again:"),
            Err(e) => println!("{e}; try again:"),
        }
    }
    Ok(())
}
