//! The guide's journey, narrated step by step, on embedded defaults: the in-memory
//! store, a simulated phone, a simulated desk phone and a simulated clock (so "wait a
//! minute" takes no time).
//!
//! ```text
//! cargo run --example walkthrough                # the simulated user types the codes
//! cargo run --example walkthrough -- --interactive   # you type them
//! cargo run --features email --example walkthrough   # with the email step
//! ```

use std::io::{BufRead, Write};
use std::sync::Arc;
use std::time::Duration;

#[cfg(feature = "email")]
use mfa::email::{EmailChannel, MemoryEmail};
use mfa::sms::{MemorySms, SmsDelivery};
use mfa::totp::{
    Hotp, KeyUri, OathTokens, TerminalBackground, Totp, TotpVerifier, parse_seed_file,
};
use mfa::voice::{Callee, MemoryVoice};
use mfa::{
    AccessPassOptions, Clock, Extension, ManualClock, MemoryStore, Method, MethodKind, Mfa,
    PhoneMode, PhoneNumber, Policy, Status, Timestamp, UserId, Verification,
};

type Error = Box<dyn std::error::Error>;

/// Something the simulation expected and did not find.
fn missing(what: &str) -> Error {
    format!("the simulation found no {what}").into()
}

/// A check's answer, in the guide's words.
fn verdict(v: &Verification) -> String {
    match v {
        Verification::Approved(_) => "Approved".to_owned(),
        Verification::Rejected { attempts_left } => {
            format!("Rejected ({attempts_left} attempts left)")
        }
        other => format!("{other:?}"),
    }
}

struct Narrator {
    interactive: bool,
    step: usize,
}

impl Narrator {
    fn step(&mut self, title: &str) {
        self.step += 1;
        println!("\n{}. {title}", self.step);
    }

    fn say(&self, line: &str) {
        println!("   {line}");
    }

    fn phone(&self, what: &str, text: &str) {
        println!("   [{what}] {text}");
    }

    /// The code the user types: the simulated user's, or the person's at the keyboard.
    fn types(&self, simulated: &str) -> String {
        if !self.interactive {
            println!("   > the user types {simulated} and chooses Check");
            return simulated.to_owned();
        }
        print!("   > type the code and press Enter (Check): ");
        let _ = std::io::stdout().flush();
        let mut line = String::new();
        match std::io::stdin().lock().read_line(&mut line) {
            Ok(0) | Err(_) => {
                println!("(no input: the simulated user types {simulated})");
                simulated.to_owned()
            }
            Ok(_) => line.trim().to_owned(),
        }
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    let mut n = Narrator {
        interactive: std::env::args().any(|a| a == "--interactive"),
        step: 0,
    };
    let clock = ManualClock::new(Timestamp::from_unix_secs(1_767_225_600));
    let phone = MemorySms::with_clock(Arc::new(clock.clone()));
    let desk_phone = MemoryVoice::with_clock(Arc::new(clock.clone()));
    let mut policy = Policy::default();
    policy.app_name = "Contoso".to_owned();
    policy.countries.home = Some(47);
    // Email is a restricted channel (NIST SP 800-63B does not accept it for codes):
    // this organisation allows it, knowingly.
    policy.allow_email = cfg!(feature = "email");
    let builder = Mfa::builder()
        .store(MemoryStore::new())
        .clock(clock.clone())
        .sms(SmsDelivery::new(phone.clone()))
        .voice(desk_phone.clone())
        .app(TotpVerifier::new(Totp::default()))
        .hardware_tokens(OathTokens::default())
        .policy(policy);
    #[cfg(feature = "email")]
    let mailbox = MemoryEmail::with_clock(Arc::new(clock.clone()));
    #[cfg(feature = "email")]
    let builder = builder.email(EmailChannel::new(mailbox.clone()));
    let mfa = builder.build()?;

    n.step("Sign in with your username in the required form (user@domain)");
    match UserId::username("kari.nordmann") {
        Err(e) => n.say(&format!("'kari.nordmann' is refused: {e}")),
        Ok(_) => unreachable!("a username without a domain is refused"),
    }
    let user = UserId::username("Kari.Nordmann@Contoso.no")?;
    n.say(&format!("'Kari.Nordmann@Contoso.no' is accepted as {user}"));

    n.step("You will be asked to set up the extra security");
    if mfa.status(&user).await? == Status::EnrollmentRequired {
        n.say("Your organisation needs more information to keep your account secure.");
        n.say("> Set it up now");
    }

    n.step("Authentication phone: country code +47, your number, 'Send me an SMS'");
    let number = PhoneNumber::from_parts(47, "412 34 567")?;
    n.say(&format!(
        "Number {} ({:?} line in {})",
        number.masked(),
        number.kind(),
        number.region().unwrap_or("?")
    ));
    phone.delay_next(Duration::from_secs(90)); // the operator is slow today
    let pending = mfa
        .begin_enrollment(
            &user,
            Method::AuthenticationPhone {
                number: number.clone(),
                mode: PhoneMode::Sms,
            },
        )
        .await?;
    n.say("We have sent a text message with a verification code to your phone.");

    n.step("The SMS is late: after a minute, Cancel, then Next to get a new code");
    clock.advance(Duration::from_secs(60));
    n.say(&format!(
        "One minute later the phone has {} messages.",
        phone.inbox(&number).len()
    ));
    mfa.resend(&user, &pending.challenge_id).await?;
    let new_code = phone
        .last_code_to(&number)
        .ok_or_else(|| missing("new SMS"))?;
    n.phone("phone", &phone.last_text_to(&number).unwrap_or_default());
    clock.advance(Duration::from_secs(40));
    let late_sms = phone
        .inbox(&number)
        .into_iter()
        .find(|m| m.code.as_ref() != Some(&new_code))
        .ok_or_else(|| missing("late SMS"))?;
    let late = late_sms.code.clone().ok_or_else(|| missing("late code"))?;
    n.phone("phone, late", &late_sms.text);
    n.say("The user types the code from the late message first:");
    let typed = n.types(late.expose());
    match mfa.verify(&user, &pending.challenge_id, &typed).await? {
        Verification::Rejected { attempts_left } => n.say(&format!(
            "The old code is no longer valid. {attempts_left} attempts left."
        )),
        other => n.say(&format!("{other:?}")),
    }

    n.step("Write in the code and choose Check, then Complete");
    loop {
        let typed = n.types(new_code.expose());
        match mfa.verify(&user, &pending.challenge_id, &typed).await {
            Ok(Verification::Approved(_)) => break,
            Ok(Verification::Rejected { attempts_left }) => {
                n.say(&format!("Wrong code: {attempts_left} attempts left."))
            }
            Ok(other) => {
                n.say(&format!("{other:?}: start again."));
                return Ok(());
            }
            Err(e) => n.say(&format!("{e}")),
        }
    }
    n.say("Verified.");
    let completion = mfa.complete(&user, &pending.challenge_id).await?;
    n.say(&format!(
        "Authentication is complete: {} is your default method.",
        completion.method.method
    ));

    n.step("Recovery codes, for the day the phone is lost");
    // The first method's completion made them, in the same commit.
    let recovery = &completion.recovery_codes;
    n.say(&format!(
        "Keep these {} recovery codes somewhere safe; each works once and they are shown only now:",
        recovery.len()
    ));
    for pair in recovery.chunks(2) {
        let shown: Vec<String> = pair.iter().map(|c| c.expose()).collect();
        n.say(&format!("  {}", shown.join("   ")));
    }

    n.step("Next sign-in: an SMS with a code");
    clock.advance(Duration::from_secs(24 * 3600));
    let signin = mfa.challenge(&user).await?;
    let code = phone.last_code_to(&number).ok_or_else(|| missing("SMS"))?;
    n.phone("phone", &phone.last_text_to(&number).unwrap_or_default());
    let typed = n.types(code.expose());
    let result = mfa.verify(&user, &signin.challenge_id, &typed).await?;
    n.say(&format!("Sign-in: {}", verdict(&result)));
    // Only an approved sign-in carries a proof, once: the session keeps it for
    // settings changes within the re-authentication window.
    let proof = result
        .proof()
        .cloned()
        .ok_or("the sign-in was not approved")?;
    n.say(&format!(
        "The session keeps the sign-in's proof for settings changes in the next {} minutes.",
        mfa.policy().reauthentication_window.as_secs() / 60
    ));

    n.step("Changing the settings later: add the authenticator app");
    let pending = mfa
        .add_method(&user, Method::AuthenticatorApp, &proof)
        .await?;
    let provisioning = pending.app.clone().ok_or_else(|| missing("provisioning"))?;
    let uri = KeyUri::parse(&provisioning.uri)?;
    n.say("Scan this QR code with the authenticator app:");
    if let Ok(qr) = uri.qr() {
        for line in qr.to_terminal(TerminalBackground::Dark).lines() {
            println!("      {line}");
        }
    }
    n.say("(or type the key by hand; it is shown to the user only)");
    // The simulated app: the same secret, the same clock.
    let app = Totp::default();
    let app_code = app.generate(&uri.secret, clock.now())?;
    n.phone("app", &format!("Contoso: {}", app_code.expose()));
    let typed = n.types(app_code.expose());
    n.say(&format!(
        "Check: {}",
        verdict(&mfa.verify(&user, &pending.challenge_id, &typed).await?)
    ));
    let app_method = mfa.complete(&user, &pending.challenge_id).await?.method;
    n.say(&format!("Added: {}", app_method.method));

    n.step("Add the office phone, extension 1234");
    desk_phone.set_default_callee(Callee::Presses("##".to_owned()));
    let office = Method::OfficePhone {
        number: PhoneNumber::from_parts(47, "22 12 34 56")?,
        extension: Some(Extension::parse("1234")?),
    };
    let pending = mfa.add_method(&user, office, &proof).await?;
    if let Some(call) = desk_phone.calls().last() {
        n.phone(
            "desk phone",
            &format!("rings and says: \"{}\"", call.script.spoken_text()),
        );
        n.phone(
            "desk phone",
            "the user presses # (at the extension), then # (to verify)",
        );
    }
    n.say(&format!(
        "Call: {:?}",
        mfa.enrollment_state(&user, &pending.challenge_id).await?
    ));
    let office_method = mfa.complete(&user, &pending.challenge_id).await?.method;
    n.say(&format!("Added: {}", office_method.method));

    n.step("A second authenticator app, on the work tablet: it gets a name");
    let pending = mfa
        .add_method_named(&user, Method::AuthenticatorApp, "work tablet", &proof)
        .await?;
    let tablet = KeyUri::parse(
        &pending
            .app
            .clone()
            .ok_or_else(|| missing("provisioning"))?
            .uri,
    )?;
    let tablet_code = app.generate(&tablet.secret, clock.now())?;
    n.phone("tablet", &format!("Contoso: {}", tablet_code.expose()));
    let typed = n.types(tablet_code.expose());
    n.say(&format!(
        "Check: {}",
        verdict(&mfa.verify(&user, &pending.challenge_id, &typed).await?)
    ));
    mfa.complete(&user, &pending.challenge_id).await?;
    n.say("Added: authenticator app \"work tablet\"; the first app is as it was.");

    n.step("The help desk imports the vendor's seed file and assigns a token from it");
    let seeds = parse_seed_file(
        b"serial,secret,type\nOATH0001,3132333435363738393031323334353637383930,hotp\n",
    )?;
    let imports: Vec<_> = seeds.tokens.iter().map(|t| t.import()).collect();
    let report = mfa.import_hardware_tokens(&imports).await?;
    n.say(&format!("Imported into the inventory: {report:?}"));
    let token = seeds.tokens.first().ok_or_else(|| missing("token"))?;
    // The inventory claims the token for this user: no second user can get it.
    let pending = mfa
        .assign_hardware_token(&user, &token.serial, Some("key ring"))
        .await?;
    // The simulated token: the seed's secret, its first press.
    let token_code = Hotp::default().generate(&token.secret, 0);
    n.phone(
        "token",
        &format!("the user presses the button: {}", token_code.expose()),
    );
    let typed = n.types(token_code.expose());
    n.say(&format!(
        "Check: {}",
        verdict(&mfa.verify(&user, &pending.challenge_id, &typed).await?)
    ));
    let token_method = mfa.complete(&user, &pending.challenge_id).await?.method;
    n.say(&format!("Added: {}", token_method.method));
    #[cfg(feature = "email")]
    {
        n.step("Codes by email: a restricted channel, off unless the policy allows it");
        let address = mfa::EmailAddress::parse("Kari.Nordmann@Contoso.no")?;
        let strict = Mfa::builder()
            .email(EmailChannel::new(MemoryEmail::new()))
            .build()?;
        let other = UserId::username("ola@contoso.no")?;
        let by_email = Method::Email {
            address: address.clone(),
        };
        if let Err(e) = strict.begin_enrollment(&other, by_email.clone()).await {
            n.say(&format!("With the default policy: {e}"));
        }
        let pending = mfa.add_method(&user, by_email, &proof).await?;
        let mail = mailbox
            .inbox(&address)
            .pop()
            .ok_or_else(|| missing("email"))?;
        n.phone(
            &format!("mail to {address}"),
            &format!("Subject: {}", mail.content.subject),
        );
        let typed = n.types(mail.code.expose());
        n.say(&format!(
            "Check: {}",
            verdict(&mfa.verify(&user, &pending.challenge_id, &typed).await?)
        ));
        let email_method = mfa.complete(&user, &pending.challenge_id).await?.method;
        n.say(&format!("Added: {}", email_method.method));
    }

    n.step("Make the app the default");
    mfa.set_default(&user, &app_method.id, &proof).await?;
    if let Status::Enrolled { default, .. } = mfa.status(&user).await? {
        n.say(&format!("Default method now: {}", default.method));
        debug_assert_eq!(default.method.kind(), MethodKind::AuthenticatorApp);
    }

    n.step("A number outside Norway: the operator may charge, the app avoids that");
    let abroad = PhoneNumber::parse("+46 70 123 45 67")?;
    let pending = mfa
        .add_method(
            &user,
            Method::AuthenticationPhone {
                number: abroad,
                mode: PhoneMode::Sms,
            },
            &proof,
        )
        .await?;
    if let Some(notice) = pending.cost_notice {
        n.say(&notice.message());
    }
    mfa.cancel(&user, &pending.challenge_id).await?;

    n.step("Your methods");
    for m in mfa.methods(&user).await? {
        n.say(&format!(
            "{}{}{}",
            m.method,
            m.name.map(|n| format!(" \"{n}\"")).unwrap_or_default(),
            if m.is_default { " (default)" } else { "" }
        ));
    }

    n.step("The phone is lost: a recovery code signs in instead");
    let typed = n.types(&recovery[0].expose());
    match mfa.verify_recovery_code(&user, &typed).await? {
        Some(signed_in) => {
            n.say(&format!(
                "Signed in with a recovery code; {} left.",
                signed_in.remaining
            ));
            // Its proof lets the user set up a new phone right away.
            let _ = signed_in.proof;
        }
        None => n.say("That recovery code is not valid."),
    }

    n.step(
        "Another day, no recovery code at hand: an administrator issues a Temporary Access Pass",
    );
    let issued = mfa
        .issue_access_pass(&user, AccessPassOptions::once())
        .await?;
    n.say(&format!(
        "Pass for {user}: {} (one sign-in, valid {} minutes; only its hash is kept)",
        issued.pass.expose(),
        issued
            .info
            .expires_at
            .saturating_since(clock.now())
            .as_secs()
            / 60
    ));
    let typed = n.types(&issued.pass.expose());
    let Some(signed_in) = mfa.sign_in_with_access_pass(&user, &typed).await? else {
        n.say("That pass is not valid.");
        return Ok(());
    };
    n.say(&format!(
        "Signed in with the Temporary Access Pass; {} uses left.",
        signed_in.uses_left
    ));
    let new_phone = PhoneNumber::from_parts(47, "987 65 432")?;
    let pending = mfa
        .add_method(
            &user,
            Method::AuthenticationPhone {
                number: new_phone.clone(),
                mode: PhoneMode::Sms,
            },
            &signed_in.proof,
        )
        .await?;
    let code = phone
        .last_code_to(&new_phone)
        .ok_or_else(|| missing("SMS to the new phone"))?;
    let typed = n.types(code.expose());
    mfa.verify(&user, &pending.challenge_id, &typed).await?;
    let new_method = mfa.complete(&user, &pending.challenge_id).await?.method;
    n.say(&format!(
        "The pass's sign-in set up the new phone: {}",
        new_method.method
    ));
    if mfa
        .sign_in_with_access_pass(&user, &issued.pass.expose())
        .await?
        .is_none()
    {
        n.say("The pass again: refused, it is used up.");
    }
    println!("\nDone.");
    Ok(())
}
