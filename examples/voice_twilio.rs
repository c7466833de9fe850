//! Enrolls a phone by a Twilio voice call: "press the pound key to finish your
//! verification" (or `0#` to report fraud), with an optional office extension.
//!
//! Twilio must reach this program's webhooks, so expose the local port through a
//! tunnel and give its public base URL:
//!
//! ```text
//! TWILIO_ACCOUNT_SID=AC... TWILIO_AUTH_TOKEN=... TWILIO_FROM=+15017122661 \
//! MFA_WEBHOOK_BASE=https://your-tunnel.example MFA_WEBHOOK_PORT=8080 \
//!   cargo run --features twilio-voice --example voice_twilio -- +4722123456 [extension]
//! ```
//!
//! The webhook server here is a few lines of `std::net` to keep the example free of a
//! web framework: the handlers take the URL, the form and the signature header, so
//! any framework serves them the same way.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::mpsc;

use mfa::voice::twilio::{
    AuthToken, CallEvent, TwilioConfig, TwilioVoice, TwilioWebhooks, parse_form,
};
use mfa::{Extension, Method, Mfa, PhoneNumber, UserId};

fn setting(name: &str) -> Result<String, Box<dyn std::error::Error>> {
    std::env::var(name)
        .map_err(|_| format!("set {name} (see the comment at the top of this example)").into())
}

/// Serves `POST /gather` and `POST /status` for Twilio, passing events to `events`.
fn serve(
    listener: TcpListener,
    base: String,
    hooks: TwilioWebhooks,
    events: mpsc::Sender<CallEvent>,
) {
    for stream in listener.incoming() {
        let Ok(mut stream) = stream else { continue };
        let mut reader = BufReader::new(match stream.try_clone() {
            Ok(s) => s,
            Err(_) => continue,
        });
        let mut request_line = String::new();
        if reader.read_line(&mut request_line).is_err() {
            continue;
        }
        let target = request_line
            .split_whitespace()
            .nth(1)
            .unwrap_or("/")
            .to_owned();
        let (mut length, mut signature) = (0usize, None);
        loop {
            let mut line = String::new();
            if reader.read_line(&mut line).is_err() || line.trim().is_empty() {
                break;
            }
            if let Some((name, value)) = line.split_once(':') {
                match name.trim().to_ascii_lowercase().as_str() {
                    "content-length" => length = value.trim().parse().unwrap_or(0).min(64 * 1024),
                    "x-twilio-signature" => signature = Some(value.trim().to_owned()),
                    _ => {}
                }
            }
        }
        let mut body = vec![0; length];
        if reader.read_exact(&mut body).is_err() {
            continue;
        }
        let url = format!("{base}{target}");
        let params = parse_form(&body);
        let result = if target.starts_with("/gather") {
            hooks.handle_gather(&url, &params, signature.as_deref())
        } else {
            hooks.handle_status(&url, &params, signature.as_deref())
        };
        let (status, twiml) = match result {
            Ok(reply) => {
                if let Some(event) = reply.event {
                    let _ = events.send(event);
                }
                (200, reply.twiml)
            }
            Err(e) => {
                eprintln!("refused a webhook: {e}");
                (e.http_status(), e.twiml())
            }
        };
        let _ = write!(
            stream,
            "HTTP/1.1 {status} X\r\nContent-Type: text/xml\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{twiml}",
            twiml.len()
        );
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let number = PhoneNumber::parse(
        &args
            .next()
            .ok_or("usage: voice_twilio +COUNTRYNUMBER [extension]")?,
    )?;
    let extension = args.next().map(|e| Extension::parse(&e)).transpose()?;
    let base = setting("MFA_WEBHOOK_BASE")?
        .trim_end_matches('/')
        .to_owned();
    let port: u16 = std::env::var("MFA_WEBHOOK_PORT")
        .unwrap_or_else(|_| "8080".into())
        .parse()?;

    let config = TwilioConfig::new(
        setting("TWILIO_ACCOUNT_SID")?,
        AuthToken::new(setting("TWILIO_AUTH_TOKEN")?),
        PhoneNumber::parse(&setting("TWILIO_FROM")?)?,
        base.clone(),
    );
    let voice = TwilioVoice::new(config)?;
    let (events, received) = mpsc::channel();
    let listener = TcpListener::bind(("0.0.0.0", port))?;
    let hooks = voice.webhooks();
    std::thread::spawn(move || serve(listener, base, hooks, events));

    let mfa = Mfa::builder().voice(voice).build()?;
    let user = UserId::new("demo@example.com")?;
    let pending = mfa
        .begin_enrollment(
            &user,
            Method::OfficePhone {
                number: number.clone(),
                extension,
            },
        )
        .await?;
    println!(
        "Calling {}: answer and press the pound key.",
        number.masked()
    );
    let mut received = received;
    loop {
        let (back, event) = tokio::task::spawn_blocking(move || {
            let event = received.recv();
            (received, event)
        })
        .await?;
        received = back;
        let event = event.map_err(|_| "the webhook server stopped")?;
        if event.user() != &user || event.challenge_id() != &pending.challenge_id {
            continue;
        }
        match (event.report_to(&mfa).await?, &event) {
            (Some(v), _) if v.is_approved() => {
                mfa.complete(&user, &pending.challenge_id).await?;
                println!("Authentication is complete: sign-in will call this phone.");
            }
            (Some(v), _) => {
                println!("Not verified: {v:?} (0# reports fraud and blocks the phone).")
            }
            (None, CallEvent::Ended { error, .. }) => {
                println!("The call did not verify ({error}); the challenge is still pending.")
            }
            (None, _) => continue,
        }
        return Ok(());
    }
}
