//! Properties over arbitrary input: templates, texts and lengths never panic, and the
//! segment count agrees with a plain reference count.
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use mfa_sms::{Encoding, MessageValues, Messages, SmsLength, Template, is_gsm7};
use proptest::prelude::*;

/// A direct, slow count: each character's width, packed into parts without splitting.
fn reference(text: &str) -> (Encoding, usize, usize) {
    let gsm: Option<Vec<usize>> = text.chars().map(mfa_sms::encoding::gsm7_septets).collect();
    let (encoding, widths, single, multi) = match gsm {
        Some(w) => (Encoding::Gsm7, w, 160, 153),
        None => (
            Encoding::Ucs2,
            text.chars().map(char::len_utf16).collect(),
            70,
            67,
        ),
    };
    let total: usize = widths.iter().sum();
    if total <= single {
        return (encoding, total, 1);
    }
    let mut parts = vec![0usize];
    for w in widths {
        if parts.last().unwrap() + w > multi {
            parts.push(0);
        }
        *parts.last_mut().unwrap() += w;
    }
    (encoding, total, parts.len())
}

fn sms_text() -> impl Strategy<Value = String> {
    prop_oneof![
        "[ -~]{0,400}",
        "[a-zæøåÆØÅ€\\[\\]{}^~|\\\\ 0-9]{0,400}",
        "[a-zжЖ😀 ]{0,200}",
        any::<String>(),
    ]
}

proptest! {
    #[test]
    fn lengths_agree_with_the_reference(text in sms_text()) {
        let len = SmsLength::of(&text);
        let (encoding, units, segments) = reference(&text);
        prop_assert_eq!(len.encoding, encoding);
        prop_assert_eq!(len.units, units);
        prop_assert_eq!(len.segments, segments);
        prop_assert_eq!(is_gsm7(&text), encoding == Encoding::Gsm7);
        prop_assert!(len.segments >= 1);
    }

    #[test]
    fn any_template_parses_or_fails_cleanly(source in any::<String>()) {
        if let Ok(template) = Template::parse(&source) {
            let _ = template;
            let messages = Messages::new().template("xx", &source).unwrap();
            let values = MessageValues {
                code: "123456",
                app: "App",
                expires_in: Duration::from_secs(300),
                locale: "xx",
            };
            let mut out = String::new();
            messages.render_into(&mut out, &values);
            prop_assert!(out.contains("123456"));
        }
    }

    #[test]
    fn rendering_with_any_app_name_and_locale_never_panics(
        app in any::<String>(),
        locale in any::<String>(),
        secs in any::<u64>(),
    ) {
        let messages = Messages::new().do_not_share(true);
        let values = MessageValues {
            code: "123456",
            app: &app,
            expires_in: Duration::from_secs(secs),
            locale: &locale,
        };
        match messages.render(&values) {
            Ok(text) => prop_assert!(SmsLength::of(&text).segments <= messages.segment_limit()),
            Err(e) => prop_assert!(e.segments > e.max),
        }
    }
}
