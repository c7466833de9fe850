#![doc = include_str!("../README.md")]

use std::fmt;
use std::time::Duration;

use mfa_core::{
    Ceremony, PasskeyAssertion, PasskeyCredential, PasskeyError, PasskeyUser, PasskeyVerifier,
};
use webauthn_rs::prelude::{
    Credential, CredentialID, Passkey, PasskeyAuthentication, PasskeyRegistration,
    PublicKeyCredential, RegisterPublicKeyCredential, Url, Uuid, Webauthn, WebauthnBuilder,
    WebauthnError,
};

/// Why a relying party could not be set up.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The origin is not a URL.
    #[error("the origin is not a URL such as https://login.example.com")]
    Origin,
    /// The relying party id is not the origin's host or a registrable suffix of it.
    #[error("the relying party id must be the origin's host or a parent domain of it")]
    RelyingParty,
}

/// The passkey verifier over webauthn-rs, for one relying party: its id (a domain,
/// such as `example.com`) and the origin the browser shows (`https://login.example.com`).
///
/// ```
/// let passkeys = mfa_passkey::WebauthnPasskeys::new("contoso.com", "https://login.contoso.com", "Contoso").unwrap();
/// let mfa = mfa_core::Mfa::builder().passkeys(passkeys).build().unwrap();
/// # let _ = mfa;
/// ```
pub struct WebauthnPasskeys {
    webauthn: Webauthn,
}

impl fmt::Debug for WebauthnPasskeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebauthnPasskeys").finish_non_exhaustive()
    }
}

impl WebauthnPasskeys {
    /// A relying party `rp_id` at `origin`, named `rp_name` in the browser's prompt.
    /// Ceremonies time out after 5 minutes, as the core's sign-in challenges do.
    pub fn new(rp_id: &str, origin: &str, rp_name: &str) -> Result<Self, ConfigError> {
        let origin = Url::parse(origin).map_err(|_| ConfigError::Origin)?;
        let webauthn = WebauthnBuilder::new(rp_id, &origin)
            .map_err(|_| ConfigError::RelyingParty)?
            .rp_name(rp_name)
            .timeout(Duration::from_secs(300))
            .build()
            .map_err(|_| ConfigError::RelyingParty)?;
        Ok(WebauthnPasskeys { webauthn })
    }
}

fn passkey_of(credential: &PasskeyCredential) -> Result<Passkey, PasskeyError> {
    serde_json::from_slice(&credential.data).map_err(|_| PasskeyError::Failed)
}

fn stored(passkey: &Passkey) -> Result<PasskeyCredential, PasskeyError> {
    let data = serde_json::to_vec(passkey).map_err(|_| PasskeyError::Failed)?;
    let internals: Credential = passkey.clone().into();
    Ok(PasskeyCredential {
        credential_id: passkey.cred_id().as_ref().to_vec(),
        counter: internals.counter,
        backup_eligible: internals.backup_eligible,
        backup_state: internals.backup_state,
        user_verified: internals.user_verified,
        last_used_at: None,
        data,
    })
}

/// Sorts webauthn-rs's errors into the core's: the user's failed attempt, a
/// cloned authenticator, or the verifier's own failure.
fn classify(e: WebauthnError) -> PasskeyError {
    match e {
        WebauthnError::CredentialPossibleCompromise => PasskeyError::CounterRegressed,
        WebauthnError::UserNotVerified => PasskeyError::UserNotVerified,
        WebauthnError::ParseJSONFailure(_)
        | WebauthnError::ParseNOMFailure
        | WebauthnError::ParseInsufficientBytesAvailable => PasskeyError::Malformed,
        // Everything else in an answer is its fault: another origin or challenge, a
        // credential not allowed, a bad signature, bad CBOR inside, an unsupported
        // key. Not verified, and an attempt counted.
        _ => PasskeyError::Rejected,
    }
}

impl PasskeyVerifier for WebauthnPasskeys {
    /// webauthn-rs passkeys always ask the authenticator to verify the user; with
    /// the policy's `passkey_user_verification` off the core merely stops checking.
    fn start_registration(
        &self,
        user: &PasskeyUser<'_>,
        existing: &[PasskeyCredential],
        _require_user_verification: bool,
    ) -> Result<Ceremony, PasskeyError> {
        let exclude: Vec<CredentialID> = existing
            .iter()
            .map(|c| CredentialID::from(c.credential_id.clone()))
            .collect();
        let (options, state) = self
            .webauthn
            .start_passkey_registration(
                Uuid::from_bytes(user.handle),
                user.name,
                user.display_name,
                (!exclude.is_empty()).then_some(exclude),
            )
            .map_err(|_| PasskeyError::Failed)?;
        Ok(Ceremony {
            options: serde_json::to_string(&options).map_err(|_| PasskeyError::Failed)?,
            state: serde_json::to_vec(&state).map_err(|_| PasskeyError::Failed)?,
        })
    }

    fn finish_registration(
        &self,
        state: &[u8],
        response: &str,
    ) -> Result<PasskeyCredential, PasskeyError> {
        let state: PasskeyRegistration =
            serde_json::from_slice(state).map_err(|_| PasskeyError::Failed)?;
        let response: RegisterPublicKeyCredential =
            serde_json::from_str(response).map_err(|_| PasskeyError::Malformed)?;
        let passkey = self
            .webauthn
            .finish_passkey_registration(&response, &state)
            .map_err(classify)?;
        stored(&passkey)
    }

    fn start_authentication(
        &self,
        credentials: &[PasskeyCredential],
        _require_user_verification: bool,
    ) -> Result<Ceremony, PasskeyError> {
        let passkeys = credentials
            .iter()
            .map(passkey_of)
            .collect::<Result<Vec<_>, _>>()?;
        let (options, state) = self
            .webauthn
            .start_passkey_authentication(&passkeys)
            .map_err(|_| PasskeyError::Failed)?;
        Ok(Ceremony {
            options: serde_json::to_string(&options).map_err(|_| PasskeyError::Failed)?,
            state: serde_json::to_vec(&state).map_err(|_| PasskeyError::Failed)?,
        })
    }

    fn finish_authentication(
        &self,
        state: &[u8],
        response: &str,
        credentials: &[PasskeyCredential],
    ) -> Result<PasskeyAssertion, PasskeyError> {
        let state: PasskeyAuthentication =
            serde_json::from_slice(state).map_err(|_| PasskeyError::Failed)?;
        let response: PublicKeyCredential =
            serde_json::from_str(response).map_err(|_| PasskeyError::Malformed)?;
        let result = self
            .webauthn
            .finish_passkey_authentication(&response, &state)
            .map_err(classify)?;
        let mut passkey = credentials
            .iter()
            .find(|c| c.credential_id.as_slice() == result.cred_id().as_ref())
            .map(passkey_of)
            .transpose()?
            .ok_or(PasskeyError::Rejected)?;
        passkey.update_credential(&result);
        Ok(PasskeyAssertion {
            credential_id: result.cred_id().as_ref().to_vec(),
            counter: result.counter(),
            backup_eligible: result.backup_eligible(),
            backup_state: result.backup_state(),
            user_verified: result.user_verified(),
            data: serde_json::to_vec(&passkey).map_err(|_| PasskeyError::Failed)?,
        })
    }
}
