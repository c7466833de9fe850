//! Who is signing in: [`UserId`] and the optional `user@domain` normaliser.

use std::fmt;

use crate::error::InputError;

/// The longest user id accepted, in bytes.
pub const MAX_USER_ID_LEN: usize = 320;

/// The application's identifier for a user.
///
/// Any non-empty text up to [`MAX_USER_ID_LEN`] bytes without control characters.
/// Applications whose sign-in asks for `user@domain` (as Office 365 does) can use
/// [`UserId::username`], which trims, case-folds and insists on that form.
///
/// ```
/// use mfa_core::UserId;
///
/// let user = UserId::username("  Kari.Nordmann@Example.NO ").unwrap();
/// assert_eq!(user.as_str(), "kari.nordmann@example.no");
/// assert!(UserId::username("kari").is_err());
/// ```
///
/// Cheap to clone: the text is shared, so the events and records that name the user
/// do not each copy it.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct UserId(std::sync::Arc<str>);

impl UserId {
    /// A user id taken as it is, after checking it is non-empty, not too long and printable.
    pub fn new(id: impl Into<String>) -> Result<Self, InputError> {
        let id = id.into();
        if id.is_empty() {
            return Err(InputError::EmptyUserId);
        }
        if id.len() > MAX_USER_ID_LEN {
            return Err(InputError::UserIdTooLong {
                max: MAX_USER_ID_LEN,
            });
        }
        if id.chars().any(char::is_control) {
            return Err(InputError::UserIdControlCharacter);
        }
        Ok(UserId(id.into()))
    }

    /// A username in the form `user@domain`: trimmed, lower-cased, and checked.
    ///
    /// The domain must have at least two labels of letters, digits and hyphens.
    pub fn username(input: &str) -> Result<Self, InputError> {
        let trimmed = input.trim();
        if trimmed.is_empty() {
            return Err(InputError::EmptyUserId);
        }
        if trimmed.len() > MAX_USER_ID_LEN {
            return Err(InputError::UserIdTooLong {
                max: MAX_USER_ID_LEN,
            });
        }
        let folded = trimmed.to_lowercase();
        // Case folding can grow a name (`İ` and `Ⱥ` are 2 bytes, their lower case 3):
        // check again, or a name accepted here could not be stored and read back.
        if folded.len() > MAX_USER_ID_LEN {
            return Err(InputError::UserIdTooLong {
                max: MAX_USER_ID_LEN,
            });
        }
        let Some((local, domain)) = folded.rsplit_once('@') else {
            return Err(InputError::UsernameForm("missing '@domain'"));
        };
        if local.is_empty() {
            return Err(InputError::UsernameForm("nothing before '@'"));
        }
        if local.contains('@') {
            return Err(InputError::UsernameForm("more than one '@'"));
        }
        if local.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(InputError::UsernameForm("spaces in the user name"));
        }
        let labels: Vec<&str> = domain.split('.').collect();
        if labels.len() < 2 {
            return Err(InputError::UsernameForm(
                "the domain needs a dot, as in example.com",
            ));
        }
        let label_ok = |l: &&str| {
            !l.is_empty()
                && l.len() <= 63
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.chars().all(|c| c.is_alphanumeric() || c == '-')
        };
        if !labels.iter().all(label_ok) {
            return Err(InputError::UsernameForm(
                "the domain is not a valid host name",
            ));
        }
        Ok(UserId(folded.into()))
    }

    /// A key of the library's own (the hardware-token inventory's), which holds a
    /// control character so that no id from [`UserId::new`] can equal it.
    pub(crate) fn reserved(key: String) -> Self {
        UserId(key.into())
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for UserId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "UserId({:?})", self.0)
    }
}

impl fmt::Display for UserId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn username_is_trimmed_and_case_folded() {
        let u = UserId::username(" Ola@Contoso.COM\t").unwrap();
        assert_eq!(u.as_str(), "ola@contoso.com");
    }

    #[test]
    fn malformed_usernames_get_reasons() {
        for bad in [
            "",
            "   ",
            "ola",
            "@contoso.com",
            "ola@",
            "ola@contoso",
            "a@b@c.com",
            "o la@x.no",
            "ola@-x.no",
            "ola@x..no",
        ] {
            let err = UserId::username(bad).unwrap_err();
            assert!(
                matches!(err, InputError::UsernameForm(_) | InputError::EmptyUserId),
                "{bad:?} gave {err:?}"
            );
        }
    }

    /// From the `user_name` fuzz target's check that a username fits the limit:
    /// lower-casing can lengthen text (`Ⱥ` is two bytes, `ⱥ` three), so a name under
    /// the limit became one over it.
    #[test]
    fn a_folded_username_fits_the_limit() {
        let label = "Ⱥ".repeat(21);
        let input = format!("a@{}.no", [label.as_str(); 7].join("."));
        assert!(input.len() <= MAX_USER_ID_LEN);
        assert_eq!(
            UserId::username(&input),
            Err(InputError::UserIdTooLong {
                max: MAX_USER_ID_LEN
            })
        );
        assert_eq!(UserId::username("ȺȺ@Ⱥ.no").unwrap().as_str(), "ⱥⱥ@ⱥ.no");
    }

    #[test]
    fn plain_ids_reject_empty_overlong_and_control_characters() {
        assert_eq!(UserId::new(""), Err(InputError::EmptyUserId));
        assert_eq!(
            UserId::new("x".repeat(MAX_USER_ID_LEN + 1)),
            Err(InputError::UserIdTooLong {
                max: MAX_USER_ID_LEN
            })
        );
        assert_eq!(
            UserId::new("a\u{0}b"),
            Err(InputError::UserIdControlCharacter)
        );
        assert_eq!(
            UserId::new("\u{fffd}\u{fffd}").unwrap().as_str(),
            "\u{fffd}\u{fffd}"
        );
        assert!(UserId::username(&"é".repeat(10_000)).is_err());
    }
}
