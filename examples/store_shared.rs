//! Two servers, one shared store: a user enrolls through one and signs in through the
//! other, as behind a load balancer.
//!
//! ```text
//! MFA_STORE_URL=postgres://mfa@127.0.0.1:5432/mfa cargo run --example store_shared --features postgres,redis
//! MFA_STORE_URL=redis://127.0.0.1:6379/0          cargo run --example store_shared --features postgres,redis
//! ```

use std::error::Error;
use std::sync::Arc;

use mfa::{
    CodeKey, MemoryDelivery, Method, Mfa, PhoneMode, PhoneNumber, Store, UserId, Verification,
};
use mfa_store::{IndexKey, Keyring, PostgresStore, RedisStore, SecretKey};

/// The same keys on every server; in production from a secrets manager.
fn keys() -> Result<Keyring, Box<dyn Error>> {
    let sealing = SecretKey::new("2026-01", [7; 32])?;
    Ok(Keyring::new(IndexKey::new([3; 32]), sealing))
}

async fn connect(url: &str) -> Result<Arc<dyn Store>, Box<dyn Error>> {
    Ok(if url.starts_with("redis://") {
        Arc::new(RedisStore::connect(url, keys()?).await?)
    } else {
        Arc::new(PostgresStore::connect(url, keys()?).await?)
    })
}

async fn server(url: &str, phone: &MemoryDelivery) -> Result<Mfa, Box<dyn Error>> {
    Ok(Mfa::builder()
        .shared_store(connect(url).await?)
        .code_key(CodeKey::from_bytes([9; 32]))
        .sms(phone.clone())
        .build()?)
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn Error>> {
    let url = std::env::var("MFA_STORE_URL")
        .map_err(|_| "set MFA_STORE_URL to a postgres:// or redis:// URL")?;
    let phone = MemoryDelivery::new();
    let (a, b) = (server(&url, &phone).await?, server(&url, &phone).await?);
    let user = UserId::username(&format!("ola.{}@example.no", std::process::id()))?;
    let number = PhoneNumber::from_parts(47, "412 34 567")?;

    let method = Method::AuthenticationPhone {
        number: number.clone(),
        mode: PhoneMode::Sms,
    };
    let pending = a.begin_enrollment(&user, method).await?;
    let code = phone.last_code_to(&number).ok_or("no SMS")?;
    // The code typed into a page served by the other server.
    assert!(matches!(
        b.verify(&user, &pending.challenge_id, code.expose())
            .await?,
        Verification::Approved(_)
    ));
    a.complete(&user, &pending.challenge_id).await?;
    println!("enrolled {user} through server A, verified through server B");

    let pending = b.challenge(&user).await?;
    let code = phone.last_code_to(&number).ok_or("no SMS")?;
    let signed_in = a
        .verify(&user, &pending.challenge_id, code.expose())
        .await?;
    println!(
        "sign-in through A: {}",
        if signed_in.proof().is_some() {
            "approved, with a proof for settings changes"
        } else {
            "not approved"
        }
    );
    println!(
        "the same code again through B: {:?}",
        b.verify(&user, &pending.challenge_id, code.expose())
            .await?
    );
    a.reset_user(&user).await?;
    Ok(())
}
