//! SMPP 3.4 delivery receipts (appendix B text in a `deliver_sm`): reading never
//! panics, and a receipt written back in the appendix's form reads the same.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mfa_sms::smpp::parse_receipt;

fuzz_target!(|data: &[u8]| {
    let Some(receipt) = parse_receipt(data) else {
        return;
    };
    for field in [&receipt.message_id, &receipt.state] {
        assert!(!field.chars().any(char::is_whitespace), "{receipt:?}");
    }
    let err = receipt
        .error
        .map(|e| format!(" err:{e:03}"))
        .unwrap_or_default();
    let written = format!(
        "id:{} sub:001 dlvrd:001 submit date:2601011200 done date:2601011201 stat:{}{err} text:",
        receipt.message_id, receipt.state
    );
    assert_eq!(
        parse_receipt(written.as_bytes()).as_ref(),
        Some(&receipt),
        "{written:?}"
    );
});
