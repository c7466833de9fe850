//! The store conformance suite against the in-memory store.
#![cfg(feature = "test-suite")]

use mfa_core::MemoryStore;

async fn fresh() -> MemoryStore {
    MemoryStore::new()
}

mfa_core::store_conformance!(fresh);

/// The suite's entry point for callers without the macro runs every property too.
#[tokio::test]
async fn run_all_passes() {
    mfa_core::store::conformance::run_all(fresh).await;
}

/// Clones share one store, so every property holds across handles too.
#[tokio::test]
async fn run_all_passes_through_shared_clones() {
    let shared = MemoryStore::new();
    mfa_core::store::conformance::run_all(|| {
        let s = shared.clone();
        async move { s }
    })
    .await;
}
