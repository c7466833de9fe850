//! The user's language: [`Mfa::set_locale`] and [`Mfa::locale`].

use super::Mfa;
use crate::error::Error;
use crate::locale::Locale;
use crate::user::UserId;

impl Mfa {
    /// Keeps `locale` as the user's language (`None`: the policy's `locale`): every SMS
    /// and call from now on is rendered in it. Not a security setting, so it needs no
    /// proof; take it from the user's profile or the sign-in page's language.
    #[cfg_attr(feature = "tracing", tracing::instrument(name = "mfa.set_locale", skip_all, fields(user = %user, locale = ?locale), ret, err(level = "warn", Display)))]
    pub async fn set_locale(&self, user: &UserId, locale: Option<Locale>) -> Result<(), Error> {
        self.run(user, |rec, _, _| {
            rec.locale = locale.clone();
            Ok(())
        })
        .await
        .map(|_| ())
    }

    /// The user's language, if one was set.
    pub async fn locale(&self, user: &UserId) -> Result<Option<Locale>, Error> {
        Ok(self.read(user).await?.locale)
    }
}
