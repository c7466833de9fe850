//! How this crate takes its locks.

use std::sync::{Mutex, MutexGuard, PoisonError};

/// Locks `mutex`, and takes a poisoned lock as it is: a panic in one request must not
/// stop every later one.
#[inline]
pub(crate) fn lock<T: ?Sized>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}
