//! Renders call scripts as TwiML: `<Say>`, `<Pause>`, `<Gather>` and `<Hangup>`.

use std::fmt::Write;

use crate::keys::KeyPrompt;
use crate::script::{CallEnd, CallScript, Step};

const HEADER: &str = r#"<?xml version="1.0" encoding="UTF-8"?>"#;

/// Escapes text for XML content and attribute values.
pub(crate) fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c if c.is_control() && c != '\n' && c != '\t' => {}
            c => out.push(c),
        }
    }
    out
}

/// An empty TwiML document: Twilio goes on (status callbacks) or hangs up.
pub(crate) fn empty() -> String {
    format!("{HEADER}<Response/>")
}

/// A document that says the closing for `end` and hangs up.
pub(crate) fn closing(script: &CallScript, end: CallEnd) -> String {
    let mut out = format!("{HEADER}<Response>");
    write_step(&mut out, &script.closing(end));
    out.push_str("<Hangup/></Response>");
    out
}

/// A document that waits for the rest of a prompt's keys (after `0`, the `#`; after
/// the first digit of a number, the second).
pub(crate) fn gather_more(
    script: &CallScript,
    prompt: &KeyPrompt,
    timeout_secs: u64,
    action: &str,
) -> String {
    let mut out = format!("{HEADER}<Response>");
    write_gather_open(&mut out, prompt.keys_wanted(), timeout_secs, action);
    out.push_str("</Gather>");
    write_step(&mut out, &script.closing(CallEnd::NoKey));
    out.push_str("<Hangup/></Response>");
    out
}

/// The steps from `start` up to and including the next key prompt, whose action URL
/// `action(index)` gives. If the prompt gets no key, the call says so and hangs up.
/// DTMF steps are left out: they go in the call's `SendDigits` parameter.
pub(crate) fn segment(
    script: &CallScript,
    start: usize,
    action: &dyn Fn(usize) -> String,
) -> String {
    let mut out = format!("{HEADER}<Response>");
    for (index, step) in script.steps().iter().enumerate().skip(start) {
        match step {
            Step::Gather {
                prompt,
                timeout,
                expect,
            } => {
                let keys = KeyPrompt::new(*expect).keys_wanted();
                write_gather_open(&mut out, keys, timeout.as_secs().max(1), &action(index));
                for p in prompt {
                    write_step(&mut out, p);
                }
                out.push_str("</Gather>");
                write_step(&mut out, &script.closing(CallEnd::NoKey));
                out.push_str("<Hangup/>");
                break;
            }
            other => write_step(&mut out, other),
        }
    }
    out.push_str("</Response>");
    out
}

fn write_gather_open(out: &mut String, keys: usize, timeout_secs: u64, action: &str) {
    // As many keys as the prompt takes (one, or the two digits of a number) and no
    // finish key: `#` arrives as a digit of its own, so "#" and silence can never be
    // confused.
    let _ = write!(
        out,
        r#"<Gather input="dtmf" numDigits="{keys}" finishOnKey="" timeout="{timeout_secs}" method="POST" action="{}">"#,
        escape(action)
    );
}

fn write_step(out: &mut String, step: &Step) {
    match step {
        Step::Say { text, language, .. } => {
            let _ = write!(
                out,
                r#"<Say language="{}">{}</Say>"#,
                language.tag(),
                escape(text)
            );
        }
        Step::Pause(d) => {
            let _ = write!(out, r#"<Pause length="{}"/>"#, d.as_secs().max(1));
        }
        Step::Hangup => out.push_str("<Hangup/>"),
        Step::Gather { .. } | Step::SendDigits(_) => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::script::{Language, ScriptOptions};

    #[test]
    fn text_is_escaped() {
        assert_eq!(
            escape(r#"A&B <"x"> 'y'"#),
            "A&amp;B &lt;&quot;x&quot;&gt; &apos;y&apos;"
        );
        assert_eq!(escape("a\u{0}b"), "ab");
    }

    #[test]
    fn a_confirmation_call_is_one_gather_with_a_fallback() {
        let script = CallScript::confirm_by_key(
            Language::NorwegianBokmal,
            "Contoso & Co",
            true,
            None,
            &ScriptOptions::default(),
        );
        let doc = segment(&script, 0, &|i| format!("https://example.com/g?s={i}&x=1"));
        assert!(doc.starts_with(HEADER));
        assert!(doc.contains(
            r#"<Gather input="dtmf" numDigits="1" finishOnKey="" timeout="8" method="POST" action="https://example.com/g?s=0&amp;x=1"><Say language="nb-NO">Dette er Contoso &amp; Co"#
        ), "{doc}");
        assert!(
            doc.ends_with(
                r#"<Say language="nb-NO">Ingen tast ble trykket. Ha det.</Say><Hangup/></Response>"#
            ),
            "{doc}"
        );
    }

    #[test]
    fn the_code_is_held_back_until_the_key() {
        let script = CallScript::read_code(
            Language::English,
            "Contoso",
            "123456",
            None,
            &ScriptOptions::default(),
        );
        let first = segment(&script, 0, &|i| format!("/g?s={i}"));
        assert!(!first.contains("one, two"), "{first}");
        let rest = segment(&script, 1, &|i| format!("/g?s={i}"));
        assert_eq!(
            rest.matches("one, two, three, four, five, six").count(),
            3,
            "{rest}"
        );
        assert!(rest.contains(r#"<Pause length="1"/>"#));
        assert!(rest.ends_with("<Hangup/></Response>"));
    }
}
