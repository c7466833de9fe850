//! Runs the walkthrough example and checks the narration's key lines.

#![cfg(all(feature = "totp", feature = "sms", feature = "voice"))]
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;
use std::process::Command;

/// `cargo test` builds the examples next to the test binaries' `deps` folder.
fn example(name: &str) -> PathBuf {
    let mut path = std::env::current_exe().unwrap();
    path.pop();
    if path.ends_with("deps") {
        path.pop();
    }
    path.push("examples");
    path.push(format!("{name}{}", std::env::consts::EXE_SUFFIX));
    path
}

#[test]
fn the_walkthrough_tells_the_whole_journey_and_exits_zero() {
    let path = example("walkthrough");
    assert!(
        path.exists(),
        "{} is missing: run through cargo test",
        path.display()
    );
    let out = Command::new(&path).output().unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(out.status.success(), "exit {:?}\n{text}", out.status);
    for line in [
        "'kari.nordmann' is refused: the user name must be written as user@domain",
        "Set it up now",
        "One minute later the phone has 0 messages.",
        "The old code is no longer valid. 4 attempts left.",
        "Authentication is complete",
        "Keep these 10 recovery codes somewhere safe",
        "Sign-in: Approved",
        "The session keeps the sign-in's proof",
        "Scan this QR code with the authenticator app",
        "Check: Approved",
        "Call: Verified",
        "ext. 1234",
        "Default method now: authenticator app",
        "use the authenticator app",
        "Signed in with a recovery code; 9 left.",
        "an administrator issues a Temporary Access Pass",
        "(one sign-in, valid 60 minutes; only its hash is kept)",
        "Signed in with the Temporary Access Pass; 0 uses left.",
        "The pass's sign-in set up the new phone: SMS to +47 ••••••32",
        "The pass again: refused, it is used up.",
    ] {
        assert!(text.contains(line), "missing {line:?} in:\n{text}");
    }
    #[cfg(feature = "email")]
    for line in [
        "With the default policy: codes by email are not allowed",
        "[mail to K•••@contoso.no] Subject: Your Contoso verification code",
        "Added: email to K•••@contoso.no",
    ] {
        assert!(text.contains(line), "missing {line:?} in:\n{text}");
    }
    // v2 recovery codes: 24 characters shown as six groups of four.
    let shown = text
        .split_whitespace()
        .filter(|w| {
            let groups: Vec<&str> = w.split('-').collect();
            groups.len() == 6
                && groups
                    .iter()
                    .all(|g| g.len() == 4 && g.bytes().all(|b| b.is_ascii_alphanumeric()))
        })
        .count();
    // Ten shown once, and the one the user types at the end; then the access pass, in
    // the same form, shown to the administrator and typed by the user.
    assert_eq!(
        shown, 13,
        "recovery codes as XXXX-XXXX-XXXX-XXXX-XXXX-XXXX in:\n{text}"
    );
}
