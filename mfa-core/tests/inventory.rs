//! The hardware-token inventory's listing, page by page, and its bounds, through `Mfa`.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code

use mfa_core::inventory::{INDEX_PAGE, MAX_IMPORT};
use mfa_core::{
    AppCredential, Error, ImportOutcome, MemoryEvents, Mfa, OathKind, SecretBytes, TokenImport,
    TokenSerial,
};

fn import(i: usize) -> TokenImport {
    TokenImport {
        serial: TokenSerial::parse(&format!("PAGE-{i:05}")).unwrap(),
        kind: if i % 2 == 0 {
            OathKind::Totp
        } else {
            OathKind::Hotp
        },
        credential: AppCredential {
            secret: SecretBytes::new(format!("secret-of-token-{i:05}").into_bytes()),
            parameters: "TOTP:SHA1:6:30".to_owned(),
        },
    }
}

#[tokio::test]
async fn the_listing_comes_in_pages_in_import_order_and_shows_no_secret() {
    let events = MemoryEvents::new();
    let mfa = Mfa::builder().events(events.clone()).build().unwrap();
    let first: Vec<_> = (0..INDEX_PAGE - 3).map(import).collect();
    let second: Vec<_> = (INDEX_PAGE - 3..INDEX_PAGE + 5).map(import).collect();
    mfa.import_hardware_tokens(&first).await.unwrap();
    // The second import fills page 0 and starts page 1; a repeated serial is kept once.
    let mut again = second.clone();
    again.push(import(0));
    let report = mfa.import_hardware_tokens(&again).await.unwrap();
    assert_eq!(report.last().unwrap().1, ImportOutcome::AlreadyPresent);
    assert_eq!(
        report
            .iter()
            .filter(|(_, o)| *o == ImportOutcome::Imported)
            .count(),
        8
    );

    let page0 = mfa.hardware_token_page(0).await.unwrap();
    assert_eq!(page0.tokens.len(), INDEX_PAGE);
    assert_eq!(page0.next, Some(1));
    let page1 = mfa.hardware_token_page(1).await.unwrap();
    assert_eq!(page1.next, None);
    let serials: Vec<String> = page0
        .tokens
        .iter()
        .chain(&page1.tokens)
        .map(|t| t.serial.to_string())
        .collect();
    let expected: Vec<String> = (0..INDEX_PAGE + 5)
        .map(|i| format!("PAGE-{i:05}"))
        .collect();
    assert_eq!(serials, expected, "every token once, in import order");
    assert_eq!(page1.tokens[0].kind, OathKind::Totp);
    assert_eq!(page1.tokens[1].kind, OathKind::Hotp);
    assert!(mfa.hardware_token_page(2).await.unwrap().tokens.is_empty());

    let shown = format!("{page0:?}{page1:?}{:?}", events.events());
    assert!(!shown.contains("secret-of-token"), "no secret in a listing");
}

#[tokio::test]
async fn an_import_is_bounded_and_unknown_tokens_are_typed_errors() {
    let mfa = Mfa::builder().build().unwrap();
    let too_many: Vec<_> = (0..=MAX_IMPORT).map(import).collect();
    assert!(matches!(
        mfa.import_hardware_tokens(&too_many).await,
        Err(Error::Input(_))
    ));
    assert!(mfa.hardware_token_page(0).await.unwrap().tokens.is_empty());
    let unknown = TokenSerial::parse("NONE").unwrap();
    assert_eq!(mfa.hardware_token(&unknown).await.unwrap(), None);
    assert!(matches!(
        mfa.retire_hardware_token(&unknown).await,
        Err(Error::NotFound(mfa_core::Missing::HardwareToken))
    ));
    assert!(matches!(
        mfa.unassign_hardware_token(&unknown).await,
        Err(Error::NotFound(mfa_core::Missing::HardwareToken))
    ));
    // Without a token verifier, nothing is assigned.
    mfa.import_hardware_tokens(&[import(1)]).await.unwrap();
    assert!(matches!(
        mfa.assign_hardware_token(
            &mfa_core::UserId::new("a@b.no").unwrap(),
            &import(1).serial,
            None
        )
        .await,
        Err(Error::NotConfigured(mfa_core::Missing::TokenVerifier))
    ));
    // Nothing was written for the unknown serial.
    assert_eq!(mfa.hardware_token(&unknown).await.unwrap(), None);
}
