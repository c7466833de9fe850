//! Backend-neutral call scripts: what a verification call says, when it waits for
//! keys and which DTMF digits it sends, rendered from English and Norwegian templates.

use std::fmt;
use std::time::Duration;

use mfa_core::{CallOutcome, Content, DeliveryRequest, Purpose, SignInNumber};

use crate::keys::{Heard, KeyPrompt};

/// Words per minute of a normal speaking rate, for the length estimate.
pub const WORDS_PER_MINUTE: u32 = 150;
/// The pause a comma adds when spoken, for the length estimate.
const COMMA_PAUSE: Duration = Duration::from_millis(200);

/// The language a script is spoken in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Language {
    /// English.
    English,
    /// Norwegian bokmål.
    NorwegianBokmal,
}

impl Language {
    /// The language for a locale such as `en`, `nb`, `nb-NO` or `no`; English otherwise.
    pub fn from_locale(locale: &str) -> Self {
        let primary = locale
            .split(['-', '_'])
            .next()
            .unwrap_or("")
            .to_ascii_lowercase();
        match primary.as_str() {
            "nb" | "no" | "nn" => Language::NorwegianBokmal,
            _ => Language::English,
        }
    }

    /// The BCP-47 tag text-to-speech engines take (`en-US`, `nb-NO`).
    pub fn tag(self) -> &'static str {
        match self {
            Language::English => "en-US",
            Language::NorwegianBokmal => "nb-NO",
        }
    }

    fn templates(self) -> &'static Templates {
        match self {
            Language::English => &ENGLISH,
            Language::NorwegianBokmal => &NORWEGIAN,
        }
    }

    /// The word for digit `d` (0 to 9) in this language.
    pub fn digit_word(self, d: u8) -> &'static str {
        self.templates().digits[usize::from(d % 10)]
    }

    /// Speaks digits one by one as words, separated by commas ("four, one, two"),
    /// so no engine reads them as a number or an ordinal. Non-digits are skipped.
    pub fn spell_digits(self, digits: &str) -> String {
        digits
            .bytes()
            .filter(u8::is_ascii_digit)
            .map(|b| self.digit_word(b - b'0'))
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// Reads digit words back into digits (the inverse of [`Language::spell_digits`]),
    /// ignoring every other word; used to check what a call said.
    pub fn digits_in(self, text: &str) -> String {
        let words = &self.templates().digits;
        text.split(|c: char| !c.is_alphanumeric())
            .filter_map(|w| {
                let w = w.to_lowercase();
                words.iter().position(|d| *d == w)
            })
            .map(|i| char::from(b'0' + i as u8))
            .collect()
    }
}

struct Templates {
    digits: [&'static str; 10],
    transfer: &'static str,
    confirm_sign_in: &'static str,
    confirm_enrollment: &'static str,
    match_sign_in: &'static str,
    match_enrollment: &'static str,
    wrong_number: &'static str,
    code_greeting: &'static str,
    code_intro: &'static str,
    key_before_code: &'static str,
    again: &'static str,
    confirmed: &'static str,
    fraud: &'static str,
    no_key: &'static str,
    unrecognized: &'static str,
    goodbye: &'static str,
}

const ENGLISH: Templates = Templates {
    digits: [
        "zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine",
    ],
    transfer: "Hello, this is {app}. Please transfer this call to extension {ext}. \
               If you are already at this extension, press the pound key.",
    confirm_sign_in: "This is {app}, checking your sign-in. Press the pound key to finish your verification. \
                      If you did not start this, press zero, then pound.",
    confirm_enrollment: "This is {app}, checking your phone. Press the pound key to finish your verification. \
                         If you did not start this, press zero, then pound.",
    match_sign_in: "This is {app}, checking your sign-in. Enter the two-digit number shown on your sign-in screen. \
                    If you did not start this, press zero, then pound.",
    match_enrollment: "This is {app}, checking your phone. Enter the two-digit number shown on your screen. \
                       If you did not start this, press zero, then pound.",
    wrong_number: "That is not the number on your screen. The request was denied. Goodbye.",
    code_greeting: "Hello, this is {app}.",
    code_intro: "Your verification code is:",
    key_before_code: "Press any key to hear your verification code.",
    again: "Again:",
    confirmed: "Thank you. Your verification is complete. Goodbye.",
    fraud: "Thank you. The request was denied and reported. Goodbye.",
    no_key: "No key was pressed. Goodbye.",
    unrecognized: "That key was not recognized. Goodbye.",
    goodbye: "Goodbye.",
};

const NORWEGIAN: Templates = Templates {
    digits: [
        "null", "én", "to", "tre", "fire", "fem", "seks", "sju", "åtte", "ni",
    ],
    transfer: "Hei, dette er {app}. Sett denne samtalen over til internnummer {ext}. \
               Hvis du allerede er på dette nummeret, trykk firkant.",
    confirm_sign_in: "Dette er {app}, som sjekker påloggingen din. Trykk firkant for å fullføre bekreftelsen. \
                      Hvis det ikke var deg, trykk null, og så firkant.",
    confirm_enrollment: "Dette er {app}, som sjekker telefonen din. Trykk firkant for å fullføre bekreftelsen. \
                         Hvis det ikke var deg, trykk null, og så firkant.",
    match_sign_in: "Dette er {app}, som sjekker påloggingen din. Tast inn det tosifrede tallet som vises på påloggingssiden. \
                    Hvis det ikke var deg, trykk null, og så firkant.",
    match_enrollment: "Dette er {app}, som sjekker telefonen din. Tast inn det tosifrede tallet som vises på skjermen. \
                       Hvis det ikke var deg, trykk null, og så firkant.",
    wrong_number: "Det er ikke tallet på skjermen din. Forespørselen er avvist. Ha det.",
    code_greeting: "Hei, dette er {app}.",
    code_intro: "Koden din er:",
    key_before_code: "Trykk en tast for å høre koden din.",
    again: "Igjen:",
    confirmed: "Takk. Bekreftelsen er fullført. Ha det.",
    fraud: "Takk. Forespørselen er avvist og rapportert. Ha det.",
    no_key: "Ingen tast ble trykket. Ha det.",
    unrecognized: "Tasten ble ikke gjenkjent. Ha det.",
    goodbye: "Ha det.",
};

/// What a key prompt waits for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Expect {
    /// `#` from the person at the office extension, before the verification prompt.
    AtExtension,
    /// `#` to confirm or `0#` to report fraud.
    Confirmation,
    /// Any key, before the code is read (so voicemail never records it).
    AnyKey,
    /// The two digits the sign-in page shows (never spoken), or `0#` to report fraud.
    MatchNumber(SignInNumber),
}

/// One step of a call.
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Step {
    /// Sends DTMF digits once the call is answered; each `w` waits half a second first.
    SendDigits(String),
    /// Speaks text.
    Say {
        /// The text.
        text: String,
        /// Its language.
        language: Language,
        /// Whether the text carries the code (hidden from `Debug`).
        secret: bool,
    },
    /// Silence.
    Pause(Duration),
    /// Speaks the prompt while waiting for keys; if none come, the call ends.
    Gather {
        /// What is said while waiting.
        prompt: Vec<Step>,
        /// What the keys are for.
        expect: Expect,
        /// How long to wait after the prompt.
        timeout: Duration,
    },
    /// Ends the call.
    Hangup,
}

impl fmt::Debug for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Step::SendDigits(d) => f.debug_tuple("SendDigits").field(d).finish(),
            Step::Say {
                text,
                language,
                secret,
            } => f
                .debug_struct("Say")
                .field("text", if *secret { &"<redacted>" } else { text })
                .field("language", language)
                .finish(),
            Step::Pause(d) => f.debug_tuple("Pause").field(d).finish(),
            Step::Gather {
                prompt,
                expect,
                timeout,
            } => f
                .debug_struct("Gather")
                .field("prompt", prompt)
                .field("expect", expect)
                .field("timeout", timeout)
                .finish(),
            Step::Hangup => f.write_str("Hangup"),
        }
    }
}

/// How scripts are rendered.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ScriptOptions {
    /// How many times a code is read (default 3).
    pub code_repeats: u8,
    /// Whether the callee must press a key before the code is read, so voicemail never
    /// records it (default on).
    pub key_before_code: bool,
    /// Silence between readings of the code (default 1 s).
    pub pause_between_repeats: Duration,
    /// How long a key prompt waits after it is spoken (default 8 s).
    pub key_timeout: Duration,
    /// Half-second waits before an office extension is dialled (default 4: 2 s).
    pub extension_waits: u8,
}

impl Default for ScriptOptions {
    fn default() -> Self {
        ScriptOptions {
            code_repeats: 3,
            key_before_code: true,
            pause_between_repeats: Duration::from_secs(1),
            key_timeout: Duration::from_secs(8),
            extension_waits: 4,
        }
    }
}

/// How a call ended, as far as the script can tell.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallEnd {
    /// The callee pressed `#` or `0#`.
    Outcome(CallOutcome),
    /// The code was read to the callee.
    CodeRead,
    /// No key came when one was needed (voicemail, silence, a hang-up).
    NoKey,
    /// A key that means nothing here.
    Unrecognized,
}

/// What a simulated callee heard and sent on a played call.
#[derive(Clone, PartialEq, Eq)]
pub struct Playback {
    /// Every sentence spoken to the callee, in order.
    pub heard: Vec<String>,
    /// DTMF digits the call sent (extensions).
    pub sent_digits: Vec<String>,
    /// How the call ended.
    pub end: CallEnd,
    language: Language,
}

impl Playback {
    /// A call the callee hung up on at once: nothing heard, no key.
    pub(crate) fn hung_up(language: Language) -> Self {
        Playback {
            heard: Vec::new(),
            sent_digits: Vec::new(),
            end: CallEnd::NoKey,
            language,
        }
    }

    /// The digits heard as spoken digit words, in order (empty if no code was read).
    pub fn digits_heard(&self) -> String {
        self.heard
            .iter()
            .map(|s| self.language.digits_in(s))
            .collect()
    }

    /// The outcome to report to the driver, if the keys decided one.
    pub fn call_outcome(&self) -> Option<CallOutcome> {
        match self.end {
            CallEnd::Outcome(o) => Some(o),
            _ => None,
        }
    }
}

impl fmt::Debug for Playback {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Playback")
            .field("sentences_heard", &self.heard.len())
            .field("sent_digits", &self.sent_digits)
            .field("end", &self.end)
            .finish()
    }
}

/// A verification call: its steps in order, in one language.
///
/// ```
/// use mfa_voice::{CallScript, Language, ScriptOptions};
///
/// let script = CallScript::confirm_by_key(Language::English, "Contoso", true, Some("1234"), &ScriptOptions::default());
/// assert!(script.spoken_text().contains("press the pound key"));
/// assert!(script.estimated_greeting().as_secs() < 20);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallScript {
    language: Language,
    steps: Vec<Step>,
}

impl CallScript {
    /// The script for a delivery request, in the request's locale.
    pub fn for_request(request: &DeliveryRequest, options: &ScriptOptions) -> Self {
        let language = Language::from_locale(&request.locale);
        let extension = request.destination.extension.as_ref().map(|e| e.as_str());
        match &request.content {
            Content::ConfirmByKey => Self::confirm_by_key(
                language,
                &request.app_name,
                request.purpose == Purpose::SignIn,
                extension,
                options,
            ),
            Content::Code(code) => Self::read_code(
                language,
                &request.app_name,
                code.expose(),
                extension,
                options,
            ),
            Content::MatchNumber(number) => Self::match_number(
                language,
                &request.app_name,
                request.purpose == Purpose::SignIn,
                *number,
                extension,
                options,
            ),
        }
    }

    /// Number matching: "enter the two-digit number shown on your sign-in screen"; the
    /// number itself is never spoken, so voicemail hears nothing it could give away.
    /// `0#` reports fraud.
    pub fn match_number(
        language: Language,
        app: &str,
        sign_in: bool,
        number: SignInNumber,
        extension: Option<&str>,
        options: &ScriptOptions,
    ) -> Self {
        let t = language.templates();
        let mut steps = Self::extension_steps(language, app, extension, options);
        let text = if sign_in {
            t.match_sign_in
        } else {
            t.match_enrollment
        };
        steps.push(Step::Gather {
            prompt: vec![say(language, text.replace("{app}", app))],
            expect: Expect::MatchNumber(number),
            timeout: options.key_timeout,
        });
        CallScript { language, steps }
    }

    /// "Press the pound key to finish your verification"; `0#` reports fraud.
    pub fn confirm_by_key(
        language: Language,
        app: &str,
        sign_in: bool,
        extension: Option<&str>,
        options: &ScriptOptions,
    ) -> Self {
        let t = language.templates();
        let mut steps = Self::extension_steps(language, app, extension, options);
        let text = if sign_in {
            t.confirm_sign_in
        } else {
            t.confirm_enrollment
        };
        steps.push(Step::Gather {
            prompt: vec![say(language, text.replace("{app}", app))],
            expect: Expect::Confirmation,
            timeout: options.key_timeout,
        });
        CallScript { language, steps }
    }

    /// Reads `code` digit by digit, repeated; optionally only after a key press.
    pub fn read_code(
        language: Language,
        app: &str,
        code: &str,
        extension: Option<&str>,
        options: &ScriptOptions,
    ) -> Self {
        let t = language.templates();
        let mut steps = Self::extension_steps(language, app, extension, options);
        let greeted = extension.is_some();
        if options.key_before_code {
            let text = if greeted {
                t.key_before_code.to_owned()
            } else {
                format!(
                    "{} {}",
                    t.code_greeting.replace("{app}", app),
                    t.key_before_code
                )
            };
            steps.push(Step::Gather {
                prompt: vec![say(language, text)],
                expect: Expect::AnyKey,
                timeout: options.key_timeout,
            });
        } else if !greeted {
            steps.push(say(language, t.code_greeting.replace("{app}", app)));
        }
        let spoken = language.spell_digits(code);
        for i in 0..options.code_repeats.max(1) {
            if i > 0 {
                steps.push(Step::Pause(options.pause_between_repeats));
            }
            let lead = if i == 0 { t.code_intro } else { t.again };
            steps.push(Step::Say {
                text: format!("{lead} {spoken}."),
                language,
                secret: true,
            });
        }
        steps.push(say(language, t.goodbye.to_owned()));
        steps.push(Step::Hangup);
        CallScript { language, steps }
    }

    fn extension_steps(
        language: Language,
        app: &str,
        extension: Option<&str>,
        options: &ScriptOptions,
    ) -> Vec<Step> {
        let Some(ext) = extension else {
            return Vec::new();
        };
        let t = language.templates();
        let waits = "w".repeat(usize::from(options.extension_waits));
        vec![
            Step::SendDigits(format!("{waits}{ext}")),
            Step::Gather {
                prompt: vec![say(
                    language,
                    t.transfer
                        .replace("{app}", app)
                        .replace("{ext}", &language.spell_digits(ext)),
                )],
                expect: Expect::AtExtension,
                timeout: options.key_timeout,
            },
        ]
    }

    /// The language it is spoken in.
    pub fn language(&self) -> Language {
        self.language
    }

    /// The steps in order.
    pub fn steps(&self) -> &[Step] {
        &self.steps
    }

    /// The DTMF digits sent once the call is answered (office extensions), if any.
    pub fn send_digits(&self) -> Option<&str> {
        self.steps.iter().find_map(|s| match s {
            Step::SendDigits(d) => Some(d.as_str()),
            _ => None,
        })
    }

    /// What the call says when it ends this way.
    pub fn closing(&self, end: CallEnd) -> Step {
        let t = self.language.templates();
        let text = match end {
            CallEnd::Outcome(CallOutcome::Confirmed) => t.confirmed,
            CallEnd::Outcome(CallOutcome::FraudReported) => t.fraud,
            CallEnd::Outcome(CallOutcome::WrongNumber) => t.wrong_number,
            CallEnd::CodeRead => t.goodbye,
            CallEnd::NoKey => t.no_key,
            CallEnd::Unrecognized => t.unrecognized,
        };
        say(self.language, text.to_owned())
    }

    /// Every sentence the script can say before it ends, closings excluded. Holds the
    /// code for read-out calls: keep it out of logs.
    pub fn spoken_text(&self) -> String {
        let mut out = Vec::new();
        collect_text(&self.steps, &mut out);
        out.join(" ")
    }

    /// The speaking time of the whole script at [`WORDS_PER_MINUTE`], with its pauses.
    pub fn estimated_length(&self) -> Duration {
        estimate(&self.steps)
    }

    /// The speaking time up to and including the first key prompt or the first reading
    /// of the code: what the callee hears before they are asked to act.
    pub fn estimated_greeting(&self) -> Duration {
        let end = self
            .steps
            .iter()
            .position(|s| matches!(s, Step::Gather { .. } | Step::Say { secret: true, .. }))
            .map_or(self.steps.len(), |i| i + 1);
        estimate(&self.steps[..end])
    }

    /// Plays the script to a simulated callee who presses `keys` (in order, as the
    /// prompts come): what they heard, and how the call ended.
    pub fn play(&self, keys: &str) -> Playback {
        let mut keys = keys.chars();
        let mut heard = Vec::new();
        let mut sent_digits = Vec::new();
        let mut code_read = false;
        let mut end = None;
        for step in &self.steps {
            match step {
                Step::SendDigits(d) => sent_digits.push(d.clone()),
                Step::Say { text, secret, .. } => {
                    heard.push(text.clone());
                    code_read |= *secret;
                }
                Step::Pause(_) => {}
                Step::Hangup => break,
                Step::Gather { prompt, expect, .. } => {
                    collect_text(prompt, &mut heard);
                    let mut listening = KeyPrompt::new(*expect);
                    let outcome = loop {
                        match keys.next().map(|k| listening.press(k)) {
                            Some(Heard::More) => {}
                            Some(decided) => break decided,
                            None => break Heard::End(listening.timed_out()),
                        }
                    };
                    if let Heard::End(e) = outcome {
                        end = Some(e);
                        break;
                    }
                }
            }
        }
        let end = end.unwrap_or(if code_read {
            CallEnd::CodeRead
        } else {
            CallEnd::NoKey
        });
        if end != CallEnd::CodeRead {
            if let Step::Say { text, .. } = self.closing(end) {
                heard.push(text);
            }
        }
        Playback {
            heard,
            sent_digits,
            end,
            language: self.language,
        }
    }
}

impl fmt::Display for CallScript {
    /// The script as readable lines, for the console backend. Shows the code.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fn write_steps(f: &mut fmt::Formatter<'_>, steps: &[Step], indent: &str) -> fmt::Result {
            for step in steps {
                match step {
                    Step::SendDigits(d) => writeln!(f, "{indent}[send DTMF {d}]")?,
                    Step::Say { text, language, .. } => {
                        writeln!(f, "{indent}[say {}] {text}", language.tag())?
                    }
                    Step::Pause(d) => writeln!(f, "{indent}[pause {} ms]", d.as_millis())?,
                    Step::Gather {
                        prompt,
                        expect,
                        timeout,
                    } => {
                        writeln!(
                            f,
                            "{indent}[wait up to {} s for {expect:?}]",
                            timeout.as_secs()
                        )?;
                        write_steps(f, prompt, "    ")?;
                    }
                    Step::Hangup => writeln!(f, "{indent}[hang up]")?,
                }
            }
            Ok(())
        }
        write_steps(f, &self.steps, "")
    }
}

fn say(language: Language, text: String) -> Step {
    Step::Say {
        text,
        language,
        secret: false,
    }
}

fn collect_text(steps: &[Step], out: &mut Vec<String>) {
    for step in steps {
        match step {
            Step::Say { text, .. } => out.push(text.clone()),
            Step::Gather { prompt, .. } => collect_text(prompt, out),
            _ => {}
        }
    }
}

fn estimate(steps: &[Step]) -> Duration {
    let mut total = Duration::ZERO;
    for step in steps {
        match step {
            Step::Say { text, .. } => {
                let words = text.split_whitespace().count() as u32;
                let commas = text.matches(',').count() as u32;
                total +=
                    Duration::from_millis(u64::from(words) * 60_000 / u64::from(WORDS_PER_MINUTE));
                total += COMMA_PAUSE * commas;
            }
            Step::Pause(d) => total += *d,
            Step::Gather { prompt, .. } => total += estimate(prompt),
            Step::SendDigits(d) => {
                total += Duration::from_millis(500) * d.matches('w').count() as u32;
            }
            Step::Hangup => {}
        }
    }
    total
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options() -> ScriptOptions {
        ScriptOptions::default()
    }

    #[test]
    fn locales_map_to_languages() {
        assert_eq!(Language::from_locale("nb"), Language::NorwegianBokmal);
        assert_eq!(Language::from_locale("nb-NO"), Language::NorwegianBokmal);
        assert_eq!(Language::from_locale("NO"), Language::NorwegianBokmal);
        assert_eq!(Language::from_locale("en"), Language::English);
        assert_eq!(Language::from_locale("fr"), Language::English);
        assert_eq!(Language::from_locale(""), Language::English);
        assert_eq!(Language::NorwegianBokmal.tag(), "nb-NO");
    }

    #[test]
    fn digits_are_spoken_one_by_one_as_words() {
        assert_eq!(Language::English.spell_digits("412"), "four, one, two");
        assert_eq!(
            Language::NorwegianBokmal.spell_digits("4107"),
            "fire, én, null, sju"
        );
        let script =
            CallScript::read_code(Language::English, "Contoso", "041207", None, &options());
        let text = script.spoken_text();
        assert!(
            text.contains("zero, four, one, two, zero, seven."),
            "{text}"
        );
        assert!(
            !text.chars().any(|c| c.is_ascii_digit()),
            "no numerals: {text}"
        );
        for lang in [Language::English, Language::NorwegianBokmal] {
            assert_eq!(
                lang.digits_in(&lang.spell_digits("9081726354")),
                "9081726354"
            );
        }
    }

    #[test]
    fn the_code_is_read_three_times_by_default() {
        let mut opts = options();
        opts.key_before_code = false;
        let script = CallScript::read_code(Language::English, "Contoso", "123456", None, &opts);
        let played = script.play("");
        assert_eq!(played.end, CallEnd::CodeRead);
        assert_eq!(played.digits_heard(), "123456".repeat(3));
        opts.code_repeats = 2;
        let script =
            CallScript::read_code(Language::NorwegianBokmal, "Contoso", "123456", None, &opts);
        assert_eq!(script.play("").digits_heard(), "123456".repeat(2));
        assert!(script.spoken_text().contains("Igjen:"));
    }

    #[test]
    fn voicemail_never_hears_the_code_behind_a_key() {
        let script =
            CallScript::read_code(Language::English, "Contoso", "123456", None, &options());
        let voicemail = script.play("");
        assert_eq!(voicemail.end, CallEnd::NoKey);
        assert_eq!(voicemail.digits_heard(), "");
        let person = script.play("5");
        assert_eq!(person.end, CallEnd::CodeRead);
        assert_eq!(person.digits_heard(), "123456".repeat(3));
    }

    #[test]
    fn confirm_by_key_asks_for_pound_and_offers_fraud_report() {
        let script =
            CallScript::confirm_by_key(Language::English, "Contoso", true, None, &options());
        let text = script.spoken_text();
        assert!(
            text.contains("Press the pound key to finish your verification"),
            "{text}"
        );
        assert!(
            text.contains("If you did not start this, press zero, then pound"),
            "{text}"
        );
        assert_eq!(
            script.play("#").call_outcome(),
            Some(CallOutcome::Confirmed)
        );
        assert_eq!(
            script.play("0#").call_outcome(),
            Some(CallOutcome::FraudReported)
        );
        assert_eq!(script.play("").end, CallEnd::NoKey);
        assert_eq!(script.play("0").end, CallEnd::NoKey);
        assert_eq!(script.play("7").end, CallEnd::Unrecognized);
        let nb = CallScript::confirm_by_key(
            Language::NorwegianBokmal,
            "Contoso",
            false,
            None,
            &options(),
        );
        assert!(nb.spoken_text().contains("Trykk firkant"));
        assert!(nb.play("0#").heard.last().unwrap().contains("rapportert"));
    }

    #[test]
    fn number_matching_asks_for_the_number_without_saying_it() {
        let number = SignInNumber::parse("42").unwrap();
        for (lang, asks) in [
            (
                Language::English,
                "Enter the two-digit number shown on your sign-in screen",
            ),
            (
                Language::NorwegianBokmal,
                "Tast inn det tosifrede tallet som vises på påloggingssiden",
            ),
        ] {
            let script = CallScript::match_number(lang, "Contoso", true, number, None, &options());
            let text = script.spoken_text();
            assert!(text.contains(asks), "{text}");
            assert!(!text.contains(&lang.spell_digits("42")), "{text}");
            assert_eq!(
                script.play("42").call_outcome(),
                Some(CallOutcome::Confirmed)
            );
            let wrong = script.play("24");
            assert_eq!(wrong.call_outcome(), Some(CallOutcome::WrongNumber));
            assert_eq!(
                Some(wrong.heard.last().unwrap().clone()),
                match script.closing(CallEnd::Outcome(CallOutcome::WrongNumber)) {
                    Step::Say { text, .. } => Some(text),
                    _ => None,
                }
            );
            assert_eq!(
                script.play("0#").call_outcome(),
                Some(CallOutcome::FraudReported)
            );
            assert_eq!(script.play("#").end, CallEnd::Unrecognized);
            assert_eq!(script.play("4").end, CallEnd::NoKey);
            assert!(script.estimated_greeting() < Duration::from_secs(20));
        }
        // With an extension, the person there presses # first, then the number.
        let script = CallScript::match_number(
            Language::English,
            "Contoso",
            false,
            number,
            Some("12"),
            &options(),
        );
        assert_eq!(
            script.play("#42").call_outcome(),
            Some(CallOutcome::Confirmed)
        );
        assert!(!format!("{script:?}").contains("42"));
    }

    #[test]
    fn office_extensions_are_dialled_then_confirmed_at_the_extension() {
        let script = CallScript::confirm_by_key(
            Language::English,
            "Contoso",
            false,
            Some("1234"),
            &options(),
        );
        assert_eq!(script.send_digits(), Some("wwww1234"));
        let text = script.spoken_text();
        assert!(
            text.contains("transfer this call to extension one, two, three, four"),
            "{text}"
        );
        assert!(
            text.contains("If you are already at this extension, press the pound key"),
            "{text}"
        );
        let played = script.play("##");
        assert_eq!(played.sent_digits, vec!["wwww1234".to_owned()]);
        assert_eq!(played.call_outcome(), Some(CallOutcome::Confirmed));
        // The first # only says "I am at the extension": it never confirms on its own.
        assert_eq!(script.play("#").end, CallEnd::NoKey);
        assert_eq!(script.play("1#").end, CallEnd::Unrecognized);
    }

    #[test]
    fn every_greeting_is_under_twenty_seconds() {
        for lang in [Language::English, Language::NorwegianBokmal] {
            for ext in [None, Some("1234567890")] {
                for key_first in [false, true] {
                    let mut opts = options();
                    opts.key_before_code = key_first;
                    let scripts = [
                        CallScript::confirm_by_key(lang, "Contoso", true, ext, &opts),
                        CallScript::confirm_by_key(lang, "Contoso", false, ext, &opts),
                        CallScript::read_code(lang, "Contoso", "123456", ext, &opts),
                        CallScript::read_code(lang, "Contoso", "12345678", ext, &opts),
                    ];
                    for s in scripts {
                        assert!(s.estimated_greeting() < Duration::from_secs(20), "{s}");
                        for step in s.steps() {
                            let one = estimate(std::slice::from_ref(step));
                            assert!(one < Duration::from_secs(20), "{step:?} in {lang:?}");
                        }
                    }
                    // The default reading (6 digits, three times, with pauses) fits in 20 seconds.
                    let s = CallScript::read_code(lang, "Contoso", "123456", None, &opts);
                    let reading: Vec<Step> = s
                        .steps()
                        .iter()
                        .skip_while(|s| !matches!(s, Step::Say { secret: true, .. }))
                        .cloned()
                        .collect();
                    assert!(estimate(&reading) < Duration::from_secs(20), "{s}");
                    assert!(estimate(&reading) > Duration::from_secs(10), "{s}");
                }
            }
        }
    }

    #[test]
    fn the_estimate_counts_words_at_150_per_minute_and_pauses() {
        let steps = [
            say(Language::English, "one two three four five".into()),
            Step::Pause(Duration::from_secs(1)),
        ];
        assert_eq!(estimate(&steps), Duration::from_secs(3));
    }

    #[test]
    fn debug_never_shows_the_code() {
        let script =
            CallScript::read_code(Language::English, "Contoso", "987654", None, &options());
        let shown = format!("{script:?} {:?}", script.play("1"));
        assert!(!shown.contains("nine, eight"), "{shown}");
        assert!(shown.contains("<redacted>"));
        assert!(script.to_string().contains("nine, eight, seven"));
    }
}
