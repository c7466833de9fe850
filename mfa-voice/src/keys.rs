//! What the keys pressed on a verification call mean: a pure function every backend shares.

use mfa_core::CallOutcome;

/// The longest key sequence looked at; anything longer is junk.
const MAX_KEYS: usize = 8;

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

/// Whether `key` is one a phone keypad can send (`0`-`9`, `*`, `#`).
pub fn is_keypad_key(key: char) -> bool {
    key.is_ascii_digit() || key == '*' || key == '#'
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

    proptest! {
        #[test]
        fn only_pound_and_zero_pound_decide_an_outcome(keys in ".{0,40}") {
            let decided = interpret_keys(&keys).call_outcome().is_some();
            prop_assert_eq!(decided, keys == "#" || keys == "0#");
        }
    }
}
