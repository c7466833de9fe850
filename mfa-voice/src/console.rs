//! The console backend: prints each call's script to stderr, for development.

use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};

use async_trait::async_trait;
use mfa_core::{Delivery, DeliveryError, DeliveryRequest, Receipt};

use crate::script::{CallScript, ScriptOptions};

/// Prints the script of every call to stderr instead of calling anyone.
///
/// For development only: a read-out script shows the code. The receipt carries no
/// outcome, so confirm a key-press call with [`mfa_core::Mfa::report_call`], for the
/// user and challenge the printout ends with.
#[derive(Debug, Default)]
pub struct ConsoleVoice {
    options: ScriptOptions,
    calls: AtomicU64,
}

impl ConsoleVoice {
    /// A console backend with the default script options.
    pub fn new() -> Self {
        Self::default()
    }

    /// Renders scripts with these options.
    pub fn with_options(mut self, options: ScriptOptions) -> Self {
        self.options = options;
        self
    }

    /// The text printed for one call.
    pub fn render(&self, request: &DeliveryRequest) -> String {
        let script = CallScript::for_request(request, &self.options);
        let extension = match &request.destination.extension {
            Some(e) => format!(" extension {}", e.as_str()),
            None => String::new(),
        };
        format!(
            "--- call to {}{extension} ({}) ---\n{script}--- for {}, challenge {} ---",
            request.destination.number.e164(),
            script.language().tag(),
            request.user,
            request.challenge_id,
        )
    }
}

#[async_trait]
impl Delivery for ConsoleVoice {
    async fn send(&self, request: &DeliveryRequest) -> Result<Receipt, DeliveryError> {
        let text = self.render(request);
        let n = self.calls.fetch_add(1, Ordering::Relaxed) + 1;
        let mut err = std::io::stderr().lock();
        writeln!(err, "{text}").map_err(|e| DeliveryError::transient(format!("stderr: {e}")))?;
        Ok(Receipt::new(format!("console-call-{n}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mfa_core::{
        ChallengeId, Channel, Content, Destination, Extension, PhoneNumber, Purpose, UserId,
    };
    use std::time::Duration;

    #[test]
    fn the_printout_names_the_number_extension_and_every_step() {
        let request = DeliveryRequest {
            challenge_id: ChallengeId::parse("c1").unwrap(),
            user: UserId::new("kari@example.no").unwrap(),
            channel: Channel::Voice,
            destination: Destination {
                number: PhoneNumber::parse("+4722123456").unwrap(),
                extension: Some(Extension::parse("12").unwrap()),
            },
            content: Content::ConfirmByKey,
            purpose: Purpose::SignIn,
            expires_in: Duration::from_secs(300),
            locale: "nb".into(),
            app_name: "Contoso".into(),
            cost_notice: None,
            meta: None,
        };
        let text = ConsoleVoice::new().render(&request);
        assert!(
            text.starts_with("--- call to +4722123456 extension 12 (nb-NO) ---"),
            "{text}"
        );
        assert!(text.contains("[send DTMF wwww12]"), "{text}");
        assert!(
            text.ends_with("--- for kari@example.no, challenge c1 ---"),
            "the user and challenge to report the keys for: {text}"
        );
        assert!(
            text.contains("[say nb-NO] Hei, dette er Contoso."),
            "{text}"
        );
        assert!(
            text.contains("Trykk firkant for å fullføre bekreftelsen"),
            "{text}"
        );
    }
}
