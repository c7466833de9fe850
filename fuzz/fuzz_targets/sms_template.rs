//! SMS templates an administrator configures: parsing never panics, and a template
//! that parses renders exactly as an independent reading of the same text says
//! (`{{`/`}}` are braces, `{code}`, `{app}`, `{minutes}` are replaced).
#![no_main]

use std::time::Duration;

use libfuzzer_sys::fuzz_target;
use mfa_sms::message::MAX_TEMPLATE_LEN;
use mfa_sms::{MessageValues, Messages, Template};

const CODE: &str = "\u{E000}123456\u{E000}";
const APP: &str = "\u{E001}Contoso\u{E001}";
const MINUTES: u64 = 7;

/// The template rendered by a second, simpler reading; `None` where it is invalid.
fn expected(source: &str) -> Option<String> {
    if source.len() > MAX_TEMPLATE_LEN {
        return None;
    }
    let mut out = String::new();
    let mut has_code = false;
    let mut chars = source.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '{' if chars.peek() == Some(&'{') => {
                chars.next();
                out.push('{');
            }
            '}' if chars.peek() == Some(&'}') => {
                chars.next();
                out.push('}');
            }
            '}' => return None,
            '{' => {
                let mut name = String::new();
                loop {
                    match chars.next()? {
                        '}' => break,
                        c => name.push(c),
                    }
                }
                match name.as_str() {
                    "code" => {
                        has_code = true;
                        out.push_str(CODE);
                    }
                    "app" => out.push_str(APP),
                    "minutes" => out.push_str(&MINUTES.to_string()),
                    _ => return None,
                }
            }
            c => out.push(c),
        }
    }
    has_code.then_some(out)
}

fuzz_target!(|data: &[u8]| {
    let Ok(source) = std::str::from_utf8(data) else {
        return;
    };
    let parsed = Template::parse(source);
    let want = expected(source);
    assert_eq!(parsed.is_ok(), want.is_some(), "{source:?}: {parsed:?}");
    let Some(want) = want else {
        return;
    };
    let messages = Messages::new()
        .template("en", source)
        .expect("the template parsed once already");
    let values = MessageValues {
        code: CODE,
        app: APP,
        expires_in: Duration::from_secs(MINUTES * 60),
        locale: "en",
    };
    let mut rendered = String::new();
    messages.render_into(&mut rendered, &values);
    assert_eq!(rendered, want, "{source:?}");
});
