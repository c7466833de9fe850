//! The store conformance suite against the in-memory store.
#![cfg(feature = "test-suite")]

use mfa_core::MemoryStore;
use mfa_core::store::conformance::{PROPERTIES, run_all};

async fn fresh() -> MemoryStore {
    MemoryStore::new()
}

mfa_core::store_conformance!(fresh);

/// The suite's entry point for callers without the macro runs every property too.
#[tokio::test]
async fn run_all_passes() {
    run_all(fresh).await;
}

/// Clones share one store, so every property holds across handles too.
#[tokio::test]
async fn run_all_passes_through_shared_clones() {
    let shared = MemoryStore::new();
    run_all(|| {
        let s = shared.clone();
        async move { s }
    })
    .await;
}

/// The names come from the same list as the tests: each once.
#[test]
fn properties_are_listed_once() {
    let mut names = PROPERTIES.to_vec();
    names.sort_unstable();
    names.dedup();
    assert_eq!(names.len(), PROPERTIES.len());
    assert!(PROPERTIES.contains(&"concurrent_increment_loops_count_exactly"));
}
