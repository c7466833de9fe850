//! The account, its SIDs and its credentials.

use std::fmt;

use zeroize::Zeroizing;

use crate::ConfigError;

/// Whether `s` is `prefix` followed by 32 hexadecimal digits, the form Twilio's
/// OpenAPI description gives every SID (`^AC[0-9a-fA-F]{32}$` and the like).
fn is_sid(s: &str, prefix: &str) -> bool {
    s.len() == 34
        && s.starts_with(prefix)
        && s.as_bytes()[2..].iter().all(|b| b.is_ascii_hexdigit())
}

macro_rules! sid {
    ($(#[$doc:meta])* $name:ident, $prefix:literal, $error:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash)]
        pub struct $name(String);

        impl $name {
            #[doc = concat!("Checks `", $prefix, "` and 32 hexadecimal digits.")]
            pub fn parse(s: &str) -> Result<Self, ConfigError> {
                if is_sid(s, $prefix) {
                    Ok($name(s.to_owned()))
                } else {
                    Err(ConfigError::$error)
                }
            }

            /// The SID as Twilio writes it.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

sid!(
    /// An account SID (`AC…`): the account every request's path names.
    AccountSid,
    "AC",
    InvalidAccountSid
);
sid!(
    /// A Messaging Service SID (`MG…`): a sender pool that picks the `From`.
    MessagingServiceSid,
    "MG",
    InvalidMessagingServiceSid
);
sid!(
    /// An API key SID (`SK…`): a credential of an account, never an account.
    ApiKeySid,
    "SK",
    InvalidApiKeySid
);

/// The account's auth token, or an API key's secret. Redacted in `Debug`, wiped on drop.
#[derive(Clone)]
pub struct AuthToken(Zeroizing<String>);

impl AuthToken {
    /// Wraps a token.
    pub fn new(token: impl Into<String>) -> Self {
        AuthToken(Zeroizing::new(token.into()))
    }

    /// The token, to sign or authenticate with. Keep it out of logs.
    pub fn expose(&self) -> &str {
        &self.0
    }

    fn check(&self) -> Result<(), ConfigError> {
        if self.0.is_empty() || self.0.chars().any(char::is_control) {
            return Err(ConfigError::InvalidSecret);
        }
        Ok(())
    }
}

impl fmt::Debug for AuthToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AuthToken(<redacted>)")
    }
}

/// How requests to the REST API authenticate (HTTP Basic auth).
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum Credentials {
    /// The account SID and its auth token.
    AuthToken(AuthToken),
    /// An API key: its SID and secret. Twilio recommends keys for production, since
    /// each can be revoked on its own.
    ApiKey {
        /// The key's SID (`SK…`).
        sid: ApiKeySid,
        /// The key's secret.
        secret: AuthToken,
    },
}

/// A Twilio account: its SID, how requests authenticate, and the auth token that
/// Twilio signs its webhooks with.
///
/// Webhooks are always signed with the account's auth token, never with an API key:
/// an account on an API key checks webhooks only after
/// [`Account::with_webhook_token`].
#[derive(Debug, Clone)]
pub struct Account {
    sid: AccountSid,
    credentials: Credentials,
    webhook_token: Option<AuthToken>,
}

impl Account {
    /// The account `sid` (`AC…`), authenticated with its auth token, which also
    /// checks webhook signatures.
    pub fn new(sid: &str, auth_token: AuthToken) -> Result<Self, ConfigError> {
        let sid = AccountSid::parse(sid)?;
        auth_token.check()?;
        Ok(Account {
            sid,
            credentials: Credentials::AuthToken(auth_token.clone()),
            webhook_token: Some(auth_token),
        })
    }

    /// The account `sid` (`AC…`), authenticated with the API key `key_sid` (`SK…`) and
    /// its secret. The path still names the account the key belongs to.
    pub fn with_api_key(
        sid: &str,
        key_sid: &str,
        key_secret: AuthToken,
    ) -> Result<Self, ConfigError> {
        let sid = AccountSid::parse(sid)?;
        let key = ApiKeySid::parse(key_sid)?;
        key_secret.check()?;
        Ok(Account {
            sid,
            credentials: Credentials::ApiKey {
                sid: key,
                secret: key_secret,
            },
            webhook_token: None,
        })
    }

    /// The auth token Twilio signs webhooks with (needed with an API key).
    pub fn with_webhook_token(mut self, auth_token: AuthToken) -> Result<Self, ConfigError> {
        auth_token.check()?;
        self.webhook_token = Some(auth_token);
        Ok(self)
    }

    /// The account SID.
    pub fn sid(&self) -> &AccountSid {
        &self.sid
    }

    /// How requests authenticate.
    pub fn credentials(&self) -> &Credentials {
        &self.credentials
    }

    /// The Basic auth user and password: the account SID and token, or the key's SID
    /// and secret.
    pub fn basic_auth(&self) -> (&str, &str) {
        match &self.credentials {
            Credentials::AuthToken(token) => (self.sid.as_str(), token.expose()),
            Credentials::ApiKey { sid, secret } => (sid.as_str(), secret.expose()),
        }
    }

    /// The token webhooks are signed with, if known.
    pub fn webhook_token(&self) -> Option<&AuthToken> {
        self.webhook_token.as_ref()
    }

    /// `{base}/2010-04-01/Accounts/{AccountSid}/{resource}.json`, for `Messages` or `Calls`.
    pub fn resource_url(&self, base: &str, resource: &str) -> String {
        format!(
            "{}/2010-04-01/Accounts/{}/{resource}.json",
            base.trim_end_matches('/'),
            self.sid
        )
    }

    /// Checks a webhook's `X-Twilio-Signature` against the account's auth token.
    pub fn check_signature(
        &self,
        url: &str,
        params: &[(String, String)],
        header: Option<&str>,
    ) -> Result<(), crate::SignatureError> {
        let token = self
            .webhook_token
            .as_ref()
            .ok_or(crate::SignatureError::NoToken)?;
        let header = header.ok_or(crate::SignatureError::Missing)?;
        if crate::signature_is_valid(token.expose(), url, params, header) {
            Ok(())
        } else {
            Err(crate::SignatureError::Mismatch)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const AC: &str = "AC0123456789abcdef0123456789ABCDEF";

    #[test]
    fn sids_have_the_documented_form() {
        assert!(AccountSid::parse(AC).is_ok());
        for bad in [
            "AC123",
            "",
            "SK0123456789abcdef0123456789abcdef",
            "AC0123456789abcdef0123456789abcdeg",
            "AC0123456789abcdef0123456789abcdef0",
        ] {
            assert_eq!(
                AccountSid::parse(bad),
                Err(ConfigError::InvalidAccountSid),
                "{bad}"
            );
        }
        // Multi-byte text of the right length is refused, not sliced inside a character.
        assert!(AccountSid::parse("ACé123456789abcdef0123456789abcde").is_err());
        assert!(MessagingServiceSid::parse("MG0123456789abcdef0123456789abcdef").is_ok());
        assert!(ApiKeySid::parse("SK0123456789abcdef0123456789abcdef").is_ok());
    }

    #[test]
    fn basic_auth_follows_the_credentials() {
        let token = Account::new(AC, AuthToken::new("t0ken")).unwrap();
        assert_eq!(token.basic_auth(), (AC, "t0ken"));
        let key = Account::with_api_key(
            AC,
            "SK0123456789abcdef0123456789abcdef",
            AuthToken::new("s3cret"),
        )
        .unwrap();
        assert_eq!(
            key.basic_auth(),
            ("SK0123456789abcdef0123456789abcdef", "s3cret")
        );
        assert!(
            key.resource_url("https://api.twilio.com/", "Calls")
                .contains(&format!("/Accounts/{AC}/Calls.json"))
        );
        assert!(!format!("{key:?}{token:?}").contains("s3cret"));
        assert!(!format!("{token:?}").contains("t0ken"));
        assert_eq!(
            key.check_signature("https://a", &[], Some("x")),
            Err(crate::SignatureError::NoToken)
        );
        assert!(Account::new(AC, AuthToken::new("a\nb")).is_err());
        assert!(Account::new(AC, AuthToken::new("")).is_err());
    }
}
