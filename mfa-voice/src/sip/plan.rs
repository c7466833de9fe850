//! Turns a [`CallScript`] into what a SIP call does: audio to play from the prompt
//! clips, keys to wait for, DTMF to send.
//!
//! Free text cannot be spoken from fixed clips, so each step is matched to the clip
//! that says the same thing: a key prompt by what it waits for, a reading of the code
//! by its digits, the closing by the script's own closing text.

use std::time::Duration;

use crate::script::{CallEnd, CallScript, Expect, Language, Step};

use super::audio::{Clip, Prompts, silence};

/// One thing the call does, in order.
#[derive(Clone, PartialEq, Eq)]
pub enum Action {
    /// Plays audio (linear 8 kHz samples); `secret` when it carries the code.
    Play {
        /// The samples.
        samples: Vec<i16>,
        /// Whether the audio speaks the code.
        secret: bool,
    },
    /// Starts listening for keys of this kind; keys pressed while the next `Play`
    /// runs count (callers may press before the prompt ends).
    Listen(Expect),
    /// Waits up to this long for the keys the last `Listen` asked for.
    AwaitKeys(Duration),
    /// Sends DTMF digits (after `w` waits of half a second each).
    SendDigits(String),
    /// Ends the call.
    Hangup,
}

impl std::fmt::Debug for Action {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Action::Play { samples, secret } => f
                .debug_struct("Play")
                .field("ms", &(samples.len() / 8))
                .field("secret", secret)
                .finish(),
            Action::Listen(e) => f.debug_tuple("Listen").field(e).finish(),
            Action::AwaitKeys(d) => f.debug_tuple("AwaitKeys").field(d).finish(),
            Action::SendDigits(d) => f.debug_tuple("SendDigits").field(d).finish(),
            Action::Hangup => f.write_str("Hangup"),
        }
    }
}

/// Gap between clips, so digits are heard one by one.
const GAP: Duration = Duration::from_millis(250);

/// The clips that speak one sentence of the script.
pub fn clips_for(step_text: &str, secret: bool, language: Language, closing: &str) -> Vec<Clip> {
    let digits = |text: &str| {
        language
            .digits_in(text)
            .bytes()
            .map(|b| Clip::Digit(b - b'0'))
            .collect::<Vec<_>>()
    };
    if secret {
        let mut clips = vec![Clip::CodeIs];
        clips.extend(digits(step_text));
        clips
    } else if step_text == closing {
        vec![Clip::Goodbye]
    } else {
        vec![Clip::Hello]
    }
}

fn render(clips: &[Clip], language: Language, prompts: &Prompts) -> Vec<i16> {
    let mut samples = Vec::new();
    for clip in clips {
        samples.extend_from_slice(prompts.get(language, *clip));
        samples.extend(silence(GAP));
    }
    samples
}

/// The clips a key prompt speaks, by what it waits for.
pub fn prompt_clips(expect: Expect, prompt_text: &str, language: Language) -> Vec<Clip> {
    match expect {
        Expect::Confirmation => vec![Clip::Confirm],
        Expect::AnyKey => vec![Clip::PressAnyKey],
        Expect::MatchNumber(_) => vec![Clip::MatchNumber],
        Expect::AtExtension => {
            let mut clips = vec![Clip::Transfer];
            clips.extend(
                language
                    .digits_in(prompt_text)
                    .bytes()
                    .map(|b| Clip::Digit(b - b'0')),
            );
            clips
        }
    }
}

/// What the call does for `script`, spoken from `prompts`.
pub fn plan(script: &CallScript, prompts: &Prompts) -> Vec<Action> {
    let language = script.language();
    let closing = match script.closing(CallEnd::CodeRead) {
        Step::Say { text, .. } => text,
        _ => String::new(),
    };
    let mut actions = Vec::new();
    for step in script.steps() {
        match step {
            Step::SendDigits(d) => actions.push(Action::SendDigits(d.clone())),
            Step::Say { text, secret, .. } => actions.push(Action::Play {
                samples: render(
                    &clips_for(text, *secret, language, &closing),
                    language,
                    prompts,
                ),
                secret: *secret,
            }),
            Step::Pause(d) => actions.push(Action::Play {
                samples: silence(*d),
                secret: false,
            }),
            Step::Gather {
                prompt,
                expect,
                timeout,
            } => {
                let text: Vec<&str> = prompt
                    .iter()
                    .filter_map(|s| match s {
                        Step::Say { text, .. } => Some(text.as_str()),
                        _ => None,
                    })
                    .collect();
                actions.push(Action::Listen(*expect));
                actions.push(Action::Play {
                    samples: render(
                        &prompt_clips(*expect, &text.join(" "), language),
                        language,
                        prompts,
                    ),
                    secret: false,
                });
                actions.push(Action::AwaitKeys(*timeout));
            }
            Step::Hangup => actions.push(Action::Hangup),
            #[allow(unreachable_patterns)] // steps added later are skipped, not guessed at
            _ => {}
        }
    }
    actions
}

/// The closing the call plays when it ends this way.
pub fn closing(language: Language, end: CallEnd, prompts: &Prompts) -> Vec<i16> {
    let clip = match end {
        CallEnd::Outcome(mfa_core::CallOutcome::WrongNumber) => Clip::WrongNumber,
        _ => Clip::Goodbye,
    };
    render(&[clip], language, prompts)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::script::ScriptOptions;

    fn kinds(actions: &[Action]) -> Vec<String> {
        actions
            .iter()
            .map(|a| match a {
                Action::Play { secret, .. } => format!("play{}", if *secret { "!" } else { "" }),
                Action::Listen(e) => format!("listen {e:?}"),
                Action::AwaitKeys(_) => "await".into(),
                Action::SendDigits(d) => format!("dtmf {d}"),
                Action::Hangup => "hangup".into(),
            })
            .collect()
    }

    #[test]
    fn press_pound_with_an_extension() {
        let opts = ScriptOptions::default();
        let script =
            CallScript::confirm_by_key(Language::English, "Contoso", true, Some("42"), &opts);
        let actions = plan(&script, &Prompts::builtin());
        assert_eq!(
            kinds(&actions),
            [
                "dtmf wwww42",
                "listen AtExtension",
                "play",
                "await",
                "listen Confirmation",
                "play",
                "await"
            ]
        );
        let words = |c: &[Clip]| c.to_vec();
        assert_eq!(
            words(&prompt_clips(
                Expect::AtExtension,
                "Please transfer this call to extension four, two.",
                Language::English
            )),
            [Clip::Transfer, Clip::Digit(4), Clip::Digit(2)]
        );
    }

    #[test]
    fn a_read_out_code_is_spoken_digit_by_digit() {
        let opts = ScriptOptions::default();
        let script =
            CallScript::read_code(Language::NorwegianBokmal, "Contoso", "907", None, &opts);
        let prompts = Prompts::builtin();
        let actions = plan(&script, &prompts);
        assert_eq!(
            kinds(&actions),
            [
                "listen AnyKey",
                "play",
                "await",
                "play!",
                "play",
                "play!",
                "play",
                "play!",
                "play",
                "hangup"
            ]
        );
        let lang = Language::NorwegianBokmal;
        let mut expected = Vec::new();
        for clip in [Clip::CodeIs, Clip::Digit(9), Clip::Digit(0), Clip::Digit(7)] {
            expected.extend_from_slice(prompts.get(lang, clip));
            expected.extend(silence(GAP));
        }
        assert_eq!(
            actions[3],
            Action::Play {
                samples: expected,
                secret: true
            }
        );
        // The last sentence is the goodbye clip.
        let goodbye = closing(lang, CallEnd::CodeRead, &prompts);
        assert_eq!(
            actions[8],
            Action::Play {
                samples: goodbye,
                secret: false
            }
        );
        // Debug shows lengths, never audio.
        assert!(format!("{actions:?}").contains("secret: true"));
    }
}
