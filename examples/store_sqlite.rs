//! Enrollments that survive a restart: an SMS method enrolled into an SQLite file,
//! then a sign-in after the store is opened again, as a restarted server would.
//!
//! `cargo run --example store_sqlite --features sqlite`

use std::error::Error;

use mfa::{
    CodeKey, MemoryDelivery, Method, Mfa, PhoneMode, PhoneNumber, Status, UserId, Verification,
};
use mfa_store::{IndexKey, Keyring, SecretKey, SqliteStore};

/// Both keys would come from a secrets manager; never from the database.
fn keys() -> Result<(Keyring, CodeKey), Box<dyn Error>> {
    Ok((
        Keyring::new(IndexKey::new([3; 32]), SecretKey::new("2026-01", [7; 32])?),
        CodeKey::from_bytes([9; 32]),
    ))
}

fn server(db: &std::path::Path, phone: &MemoryDelivery) -> Result<Mfa, Box<dyn Error>> {
    let (keys, code_key) = keys()?;
    Ok(Mfa::builder()
        .store(SqliteStore::open(db, keys)?)
        .code_key(code_key)
        .sms(phone.clone())
        .build()?)
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn Error>> {
    let dir = std::env::temp_dir().join(format!("mfa-example-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let db = dir.join("mfa.db");
    let phone = MemoryDelivery::new();
    let user = UserId::username("kari.nordmann@example.no")?;
    let number = PhoneNumber::from_parts(47, "412 34 567")?;

    {
        let mfa = server(&db, &phone)?;
        let method = Method::AuthenticationPhone {
            number: number.clone(),
            mode: PhoneMode::Sms,
        };
        let pending = mfa.begin_enrollment(&user, method).await?;
        let code = phone.last_code_to(&number).ok_or("no SMS")?;
        assert!(matches!(
            mfa.verify(&user, &pending.challenge_id, code.expose())
                .await?,
            Verification::Approved(_)
        ));
        mfa.complete(&user, &pending.challenge_id).await?;
        println!("enrolled {user} with an SMS method in {}", db.display());
    }

    // A new process: the same file, the same keys.
    let mfa = server(&db, &phone)?;
    let Status::Enrolled { default, .. } = mfa.status(&user).await? else {
        return Err("the enrollment was lost".into());
    };
    println!("after the restart, sign-in uses: {}", default.method);
    let pending = mfa.challenge(&user).await?;
    let code = phone.last_code_to(&number).ok_or("no SMS")?;
    let signed_in = mfa
        .verify(&user, &pending.challenge_id, code.expose())
        .await?;
    println!(
        "sign-in: {}",
        if signed_in.proof().is_some() {
            "approved, with a proof for settings changes"
        } else {
            "not approved"
        }
    );
    std::fs::remove_dir_all(&dir)?;
    Ok(())
}
