//! The driver's Temporary Access Pass requests: issue, list, revoke, sign in.

use crate::access_pass::{
    AccessPass, AccessPassInfo, AccessPassOptions, AccessPassSignIn, IssuedAccessPass,
};
use crate::error::Error;
use crate::machine;
use crate::method::AccessPassId;
use crate::user::UserId;

use super::Mfa;

impl Mfa {
    /// An administrator issues a Temporary Access Pass for `user`: it signs in once
    /// (or as many times as `options` says, within its lifetime) in place of the second
    /// factor, and its sign-in's proof adds a new method. The pass is returned this
    /// once; only a keyed hash bound to the user is kept. At most
    /// `Policy::access_pass.max_live` usable passes per user.
    pub async fn issue_access_pass(
        &self,
        user: &UserId,
        options: AccessPassOptions,
    ) -> Result<IssuedAccessPass, Error> {
        let pass = AccessPass::generate(self.rng.as_ref());
        let id = AccessPassId::generate(self.rng.as_ref());
        let hash = pass.hash(&self.key, user);
        let (info, _) = self
            .run(user, |rec, ctx, fx| {
                machine::issue_access_pass(rec, &id, hash, options, ctx, fx)
            })
            .await?;
        Ok(IssuedAccessPass { pass, info })
    }

    /// The user's passes, usable and recently dead (never the passes themselves).
    pub async fn access_passes(&self, user: &UserId) -> Result<Vec<AccessPassInfo>, Error> {
        let now = self.clock.now();
        let rec = self.read(user).await?;
        Ok(rec.access_passes.iter().map(|p| p.info(now)).collect())
    }

    /// Revokes a pass at once; a sign-in it made loses its proof too.
    pub async fn revoke_access_pass(
        &self,
        user: &UserId,
        pass: &AccessPassId,
    ) -> Result<(), Error> {
        self.run(user, |rec, ctx, fx| {
            machine::revoke_access_pass(rec, pass, ctx, fx)
        })
        .await
        .map(|_| ())
    }

    /// Signs in with a Temporary Access Pass in place of the second factor. `None`
    /// when no usable pass of this user matches; a pass matching none of the user's
    /// counts as a failed attempt. A malformed pass is an input error.
    pub async fn sign_in_with_access_pass(
        &self,
        user: &UserId,
        pass: &str,
    ) -> Result<Option<AccessPassSignIn>, Error> {
        let hash = AccessPass::parse(pass)?.hash(&self.key, user);
        let fresh = self.fresh_proof();
        let (signed_in, _) = self
            .run(user, |rec, ctx, fx| {
                machine::use_access_pass(rec, &hash, &fresh, ctx, fx)
            })
            .await?;
        Ok(signed_in)
    }
}
