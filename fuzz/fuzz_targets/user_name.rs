//! User ids and `user@domain` sign-in names: parsing never panics, a normalised
//! username is a fixed point (normalising it again changes nothing), and a plain id
//! is kept exactly as given.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mfa_core::UserId;
use mfa_core::user::MAX_USER_ID_LEN;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(id) = UserId::new(text) {
        assert_eq!(id.as_str(), text);
        assert!(!text.is_empty() && text.len() <= MAX_USER_ID_LEN);
        assert_eq!(UserId::new(id.to_string()).as_ref(), Ok(&id));
    }
    if let Ok(user) = UserId::username(text) {
        let name = user.as_str();
        assert!(
            !name.is_empty() && name.len() <= MAX_USER_ID_LEN,
            "{text:?}"
        );
        assert_eq!(name.trim(), name);
        assert_eq!(name.to_lowercase(), name);
        assert_eq!(name.matches('@').count(), 1, "{text:?} gave {name:?}");
        assert_eq!(UserId::username(name).as_ref(), Ok(&user), "{text:?}");
        assert_eq!(UserId::new(name).as_ref(), Ok(&user), "{text:?}");
    }
});
