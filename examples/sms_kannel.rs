//! Enrolls a phone by SMS through a Kannel gateway: sends the code, asks you to type
//! what arrived, and completes the enrollment.
//!
//! ```text
//! MFA_KANNEL_SENDSMS_URL=http://127.0.0.1:13013/cgi-bin/sendsms \
//! MFA_KANNEL_USER=mfa MFA_KANNEL_PASS=secret \
//!   cargo run --features kannel --example sms_kannel -- +4741234567
//! ```

use std::io::BufRead;

use mfa::sms::{KannelSms, Messages, SmsDelivery};
use mfa::{Method, Mfa, PhoneMode, PhoneNumber, UserId};

fn setting(name: &str) -> Result<String, Box<dyn std::error::Error>> {
    std::env::var(name)
        .map_err(|_| format!("set {name} (see the comment at the top of this example)").into())
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let number = std::env::args()
        .nth(1)
        .ok_or("usage: sms_kannel +COUNTRYNUMBER")?;
    let number = PhoneNumber::parse(&number)?;
    let kannel = KannelSms::new(
        &setting("MFA_KANNEL_SENDSMS_URL")?,
        &setting("MFA_KANNEL_USER")?,
        &setting("MFA_KANNEL_PASS")?,
    )?;
    let mfa = Mfa::builder()
        .sms(SmsDelivery::new(kannel).with_messages(Messages::new().do_not_share(true)))
        .build()?;

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
        let verification = mfa.verify(&user, &pending.challenge_id, line?.trim()).await;
        match verification {
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
