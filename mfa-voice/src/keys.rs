//! What the keys pressed on a verification call mean: one interpreter every backend
//! shares (the memory playback, the SIP media loop and the Twilio webhooks).

use std::fmt;

use mfa_core::CallOutcome;

use crate::script::{CallEnd, Expect};

/// The longest key sequence looked at; anything longer is junk.
pub const MAX_KEYS: usize = 8;

/// The meaning of the keys pressed during the confirmation prompt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyResult {
    /// `#` (confirm) or `0#` (report fraud): report it to the driver.
    Outcome(CallOutcome),
    /// Nothing was pressed: voicemail, or the callee hung up.
    NoKey,
    /// A valid start (`0`) that needs one more key (`#`).
    Incomplete,
    /// Anything else: not a confirmation, the challenge stays as it is.
    Unrecognized,
}

impl KeyResult {
    /// The outcome to report to [`mfa_core::Mfa::report_call`], if the keys decided one.
    pub fn call_outcome(self) -> Option<CallOutcome> {
        match self {
            KeyResult::Outcome(outcome) => Some(outcome),
            _ => None,
        }
    }
}

/// Reads the keys pressed on a "press # to confirm" call.
///
/// `#` confirms, `0#` reports fraud, an empty sequence is no key at all, `0` waits
/// for the `#`, and anything else (or anything long) is unrecognized.
///
/// ```
/// use mfa_core::CallOutcome;
/// use mfa_voice::{interpret_keys, KeyResult};
///
/// assert_eq!(interpret_keys("#"), KeyResult::Outcome(CallOutcome::Confirmed));
/// assert_eq!(interpret_keys("0#"), KeyResult::Outcome(CallOutcome::FraudReported));
/// assert_eq!(interpret_keys(""), KeyResult::NoKey);
/// assert_eq!(interpret_keys("5"), KeyResult::Unrecognized);
/// ```
pub fn interpret_keys(keys: &str) -> KeyResult {
    if keys.len() > MAX_KEYS {
        return KeyResult::Unrecognized;
    }
    match keys {
        "" => KeyResult::NoKey,
        "#" => KeyResult::Outcome(CallOutcome::Confirmed),
        "0#" => KeyResult::Outcome(CallOutcome::FraudReported),
        "0" => KeyResult::Incomplete,
        _ => KeyResult::Unrecognized,
    }
}

/// Two keys against the number the page shows: the same digits confirm, other digits
/// are a wrong number, `0#` reports fraud, anything else (a blind `#`) means nothing.
fn match_number(number: mfa_core::SignInNumber, pressed: &str) -> Heard {
    match pressed.as_bytes() {
        [] | [b'0'..=b'9'] => Heard::More,
        [b'0', b'#'] => Heard::End(CallEnd::Outcome(CallOutcome::FraudReported)),
        [a, b] if a.is_ascii_digit() && b.is_ascii_digit() => {
            Heard::End(CallEnd::Outcome(if number.matches(pressed) {
                CallOutcome::Confirmed
            } else {
                CallOutcome::WrongNumber
            }))
        }
        _ => Heard::End(CallEnd::Unrecognized),
    }
}

/// Whether `key` is one a phone keypad can send (`0`-`9`, `*`, `#`).
pub fn is_keypad_key(key: char) -> bool {
    key.is_ascii_digit() || key == '*' || key == '#'
}

/// What the keys pressed at one prompt amount to so far.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Heard {
    /// Not decided yet: wait for another key.
    More,
    /// The prompt is satisfied: the script goes on to its next step.
    Proceed,
    /// The keys end the call this way.
    End(CallEnd),
}

/// The keys pressed at one key prompt, read the same way by every backend: feed each
/// key to [`KeyPrompt::press`] as it comes; when the prompt times out, the call ends
/// as [`KeyPrompt::timed_out`] says.
///
/// ```
/// use mfa_core::CallOutcome;
/// use mfa_voice::{CallEnd, Expect, Heard, KeyPrompt};
///
/// let mut prompt = KeyPrompt::new(Expect::Confirmation);
/// assert_eq!(prompt.press('0'), Heard::More);
/// assert_eq!(prompt.press('#'), Heard::End(CallEnd::Outcome(CallOutcome::FraudReported)));
///
/// let mut at_extension = KeyPrompt::new(Expect::AtExtension);
/// assert_eq!(at_extension.press('#'), Heard::Proceed);
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct KeyPrompt {
    expect: Expect,
    pressed: String,
    decided: Option<Heard>,
}

impl fmt::Debug for KeyPrompt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyPrompt")
            .field("expect", &self.expect)
            .field("keys_pressed", &self.pressed.len())
            .field("decided", &self.decided)
            .finish()
    }
}

impl KeyPrompt {
    /// A prompt waiting for its first key.
    pub fn new(expect: Expect) -> Self {
        KeyPrompt {
            expect,
            pressed: String::new(),
            decided: None,
        }
    }

    /// A prompt that has already heard `keys` (a webhook that gets them in pieces),
    /// with what they amount to.
    pub fn after(expect: Expect, keys: &str) -> (Self, Heard) {
        let mut prompt = Self::new(expect);
        let mut heard = Heard::More;
        for key in keys.chars() {
            heard = prompt.press(key);
        }
        (prompt, heard)
    }

    /// What the prompt waits for.
    pub fn expect(&self) -> Expect {
        self.expect
    }

    /// The keys pressed at this prompt so far (at most [`MAX_KEYS`]).
    pub fn pressed(&self) -> &str {
        &self.pressed
    }

    /// One key. Once the keys have decided, later keys change nothing.
    pub fn press(&mut self, key: char) -> Heard {
        if let Some(decided) = self.decided {
            return decided;
        }
        let heard = if !is_keypad_key(key) || self.pressed.len() >= MAX_KEYS {
            Heard::End(CallEnd::Unrecognized)
        } else {
            self.pressed.push(key);
            match self.expect {
                Expect::AtExtension if key == '#' => Heard::Proceed,
                Expect::AtExtension => Heard::End(CallEnd::Unrecognized),
                Expect::AnyKey => Heard::Proceed,
                Expect::Confirmation => match interpret_keys(&self.pressed) {
                    KeyResult::Outcome(o) => Heard::End(CallEnd::Outcome(o)),
                    KeyResult::NoKey | KeyResult::Incomplete => Heard::More,
                    KeyResult::Unrecognized => Heard::End(CallEnd::Unrecognized),
                },
                Expect::MatchNumber(number) => match_number(number, &self.pressed),
            }
        };
        if heard != Heard::More {
            self.decided = Some(heard);
        }
        heard
    }

    /// How many keys the prompt takes at most in one go (a gateway's `numDigits`).
    pub fn keys_wanted(&self) -> usize {
        match self.expect {
            Expect::MatchNumber(_) => 2usize,
            _ => 1,
        }
        .saturating_sub(self.pressed.len())
        .max(1)
    }

    /// How the call ends when the prompt times out before the keys decided: no key
    /// (voicemail, silence, a key that needed another).
    pub fn timed_out(&self) -> CallEnd {
        match self.decided {
            Some(Heard::End(end)) => end,
            _ => CallEnd::NoKey,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn pound_confirms_and_zero_pound_reports_fraud() {
        assert_eq!(
            interpret_keys("#").call_outcome(),
            Some(CallOutcome::Confirmed)
        );
        assert_eq!(
            interpret_keys("0#").call_outcome(),
            Some(CallOutcome::FraudReported)
        );
    }

    #[test]
    fn silence_and_junk_decide_nothing() {
        assert_eq!(interpret_keys(""), KeyResult::NoKey);
        assert_eq!(interpret_keys("0"), KeyResult::Incomplete);
        for junk in [
            "1",
            "*",
            "##",
            "00#",
            "#0",
            "1#",
            "0*",
            "ab",
            "٣#",
            &"#".repeat(1000),
        ] {
            assert_eq!(interpret_keys(junk), KeyResult::Unrecognized, "{junk:?}");
            assert_eq!(interpret_keys(junk).call_outcome(), None);
        }
    }

    #[test]
    fn keypad_keys() {
        assert!("0123456789*#".chars().all(is_keypad_key));
        assert!(!"aA w+".chars().any(is_keypad_key));
    }

    #[test]
    fn each_prompt_reads_its_keys() {
        let ends = |expect, keys: &str| {
            let (prompt, heard) = KeyPrompt::after(expect, keys);
            match heard {
                Heard::More => Heard::End(prompt.timed_out()),
                h => h,
            }
        };
        let fraud = Heard::End(CallEnd::Outcome(CallOutcome::FraudReported));
        let confirmed = Heard::End(CallEnd::Outcome(CallOutcome::Confirmed));
        let unrecognized = Heard::End(CallEnd::Unrecognized);
        let no_key = Heard::End(CallEnd::NoKey);
        assert_eq!(ends(Expect::Confirmation, "#"), confirmed);
        assert_eq!(ends(Expect::Confirmation, "0#"), fraud);
        assert_eq!(ends(Expect::Confirmation, "0"), no_key);
        assert_eq!(ends(Expect::Confirmation, ""), no_key);
        assert_eq!(ends(Expect::Confirmation, "5"), unrecognized);
        // Keys after the decision change nothing.
        assert_eq!(ends(Expect::Confirmation, "#0#"), confirmed);
        assert_eq!(ends(Expect::AtExtension, "#"), Heard::Proceed);
        assert_eq!(ends(Expect::AtExtension, "1"), unrecognized);
        assert_eq!(ends(Expect::AtExtension, ""), no_key);
        assert_eq!(ends(Expect::AnyKey, "7"), Heard::Proceed);
        assert_eq!(ends(Expect::AnyKey, ""), no_key);
        // What no keypad sends is never a key.
        assert_eq!(ends(Expect::AnyKey, "x"), unrecognized);
        assert_eq!(ends(Expect::Confirmation, "٣"), unrecognized);

        let number = Expect::MatchNumber(mfa_core::SignInNumber::parse("07").unwrap());
        assert_eq!(ends(number, "07"), confirmed);
        assert_eq!(
            ends(number, "70"),
            Heard::End(CallEnd::Outcome(CallOutcome::WrongNumber))
        );
        assert_eq!(ends(number, "0#"), fraud);
        // A blind `#`, out of habit or fatigue, approves nothing.
        assert_eq!(ends(number, "#"), unrecognized);
        assert_eq!(ends(number, "7#"), unrecognized);
        assert_eq!(ends(number, "0"), no_key);
        assert_eq!(ends(number, ""), no_key);
        assert_eq!(KeyPrompt::new(number).keys_wanted(), 2);
        assert_eq!(KeyPrompt::after(number, "0").0.keys_wanted(), 1);
        assert_eq!(KeyPrompt::new(Expect::Confirmation).keys_wanted(), 1);
    }

    proptest! {
        /// However many keys come, the prompt holds at most MAX_KEYS of them.
        #[test]
        fn a_prompt_stays_small(keys in "[0-9*#]{0,200}") {
            for expect in [Expect::AtExtension, Expect::AnyKey, Expect::Confirmation] {
                let (prompt, _) = KeyPrompt::after(expect, &keys);
                prop_assert!(prompt.pressed().len() <= MAX_KEYS);
            }
        }

        #[test]
        fn only_pound_and_zero_pound_decide_an_outcome(keys in ".{0,40}") {
            let decided = interpret_keys(&keys).call_outcome().is_some();
            prop_assert_eq!(decided, keys == "#" || keys == "0#");
        }
    }
}
