//! The in-memory store: one lock around plain maps, so every operation is atomic.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use async_trait::async_trait;

use super::{Failures, RecordedFailure, Removal, Store, WindowCount};
use crate::challenge::{Answer, Challenge, ChallengeStatus};
use crate::clock::Timestamp;
use crate::code::CodeHash;
use crate::error::StoreError;
use crate::method::{ChallengeId, MethodId, MethodRecord, MethodStatus};
use crate::user::UserId;

#[derive(Debug, Default)]
struct State {
    methods: HashMap<UserId, Vec<MethodRecord>>,
    app_steps: HashMap<(UserId, MethodId), u64>,
    challenges: HashMap<ChallengeId, Challenge>,
    windows: HashMap<String, WindowCount>,
    failures: HashMap<UserId, Failures>,
    recovery: HashMap<UserId, Vec<(CodeHash, bool)>>,
}

/// Keeps everything in process memory; clones share the same data.
///
/// The default store: right for tests, development and single-process apps that
/// accept losing enrollments on restart.
#[derive(Clone, Default)]
pub struct MemoryStore {
    state: Arc<Mutex<State>>,
}

impl std::fmt::Debug for MemoryStore {
    /// Counts only: the maps hold personal data.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let state = self.lock();
        f.debug_struct("MemoryStore")
            .field("users", &state.methods.len())
            .field("challenges", &state.challenges.len())
            .field("rate_windows", &state.windows.len())
            .finish()
    }
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        match self.state.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        }
    }
}

fn ensure_one_default(methods: &mut [MethodRecord]) {
    let has_default = methods
        .iter()
        .any(|m| m.is_default && m.status == MethodStatus::Active);
    if !has_default {
        if let Some(first) = methods
            .iter_mut()
            .find(|m| m.status == MethodStatus::Active)
        {
            first.is_default = true;
        }
    }
}

#[async_trait]
impl Store for MemoryStore {
    async fn methods(&self, user: &UserId) -> Result<Vec<MethodRecord>, StoreError> {
        Ok(self.lock().methods.get(user).cloned().unwrap_or_default())
    }

    async fn insert_method(&self, user: &UserId, record: MethodRecord) -> Result<(), StoreError> {
        self.lock()
            .methods
            .entry(user.clone())
            .or_default()
            .push(record);
        Ok(())
    }

    async fn activate_method(
        &self,
        user: &UserId,
        id: &MethodId,
        make_default: bool,
    ) -> Result<bool, StoreError> {
        let mut state = self.lock();
        let State {
            methods, app_steps, ..
        } = &mut *state;
        let Some(list) = methods.get_mut(user) else {
            return Ok(false);
        };
        let Some(pos) = list
            .iter()
            .position(|m| &m.id == id && m.status == MethodStatus::Pending)
        else {
            return Ok(false);
        };
        let replaced = list[pos].replaces.clone();
        let mut inherit_default = false;
        if let Some(old) = &replaced {
            if let Some(old_pos) = list.iter().position(|m| &m.id == old) {
                inherit_default = list[old_pos].is_default;
                list.remove(old_pos);
                app_steps.remove(&(user.clone(), old.clone()));
            }
        }
        let make_default = make_default || inherit_default;
        for m in list.iter_mut() {
            if &m.id == id {
                m.status = MethodStatus::Active;
                m.is_default = make_default;
                m.replaces = None;
            } else if make_default {
                m.is_default = false;
            }
        }
        ensure_one_default(list);
        Ok(true)
    }

    async fn remove_method(
        &self,
        user: &UserId,
        id: &MethodId,
        allow_last: bool,
    ) -> Result<Removal, StoreError> {
        let mut state = self.lock();
        let State {
            methods, app_steps, ..
        } = &mut *state;
        let Some(list) = methods.get_mut(user) else {
            return Ok(Removal::NotFound);
        };
        let Some(pos) = list.iter().position(|m| &m.id == id) else {
            return Ok(Removal::NotFound);
        };
        let active = list
            .iter()
            .filter(|m| m.status == MethodStatus::Active)
            .count();
        if list[pos].status == MethodStatus::Active && active == 1 && !allow_last {
            return Ok(Removal::LastMethod);
        }
        list.remove(pos);
        app_steps.remove(&(user.clone(), id.clone()));
        ensure_one_default(list);
        Ok(Removal::Removed)
    }

    async fn set_default(&self, user: &UserId, id: &MethodId) -> Result<bool, StoreError> {
        let mut state = self.lock();
        let Some(list) = state.methods.get_mut(user) else {
            return Ok(false);
        };
        if !list
            .iter()
            .any(|m| &m.id == id && m.status == MethodStatus::Active)
        {
            return Ok(false);
        }
        for m in list.iter_mut() {
            m.is_default = &m.id == id;
        }
        Ok(true)
    }

    async fn block_method(&self, user: &UserId, id: &MethodId) -> Result<bool, StoreError> {
        let mut state = self.lock();
        let Some(list) = state.methods.get_mut(user) else {
            return Ok(false);
        };
        let Some(m) = list.iter_mut().find(|m| &m.id == id) else {
            return Ok(false);
        };
        m.status = MethodStatus::Blocked;
        m.is_default = false;
        ensure_one_default(list);
        Ok(true)
    }

    async fn remove_all_methods(&self, user: &UserId) -> Result<(), StoreError> {
        let mut state = self.lock();
        state.methods.remove(user);
        state.app_steps.retain(|(u, _), _| u != user);
        state.recovery.remove(user);
        Ok(())
    }

    async fn app_step(&self, user: &UserId, id: &MethodId) -> Result<Option<u64>, StoreError> {
        Ok(self
            .lock()
            .app_steps
            .get(&(user.clone(), id.clone()))
            .copied())
    }

    async fn advance_app_step(
        &self,
        user: &UserId,
        id: &MethodId,
        step: u64,
    ) -> Result<bool, StoreError> {
        let mut state = self.lock();
        let slot = state.app_steps.entry((user.clone(), id.clone()));
        match slot {
            std::collections::hash_map::Entry::Occupied(mut e) => {
                if step > *e.get() {
                    e.insert(step);
                    Ok(true)
                } else {
                    Ok(false)
                }
            }
            std::collections::hash_map::Entry::Vacant(e) => {
                e.insert(step);
                Ok(true)
            }
        }
    }

    async fn insert_challenge(&self, challenge: Challenge) -> Result<(), StoreError> {
        self.lock()
            .challenges
            .insert(challenge.id.clone(), challenge);
        Ok(())
    }

    async fn challenge(&self, id: &ChallengeId) -> Result<Option<Challenge>, StoreError> {
        Ok(self.lock().challenges.get(id).cloned())
    }

    async fn record_failure(
        &self,
        id: &ChallengeId,
        now: Timestamp,
    ) -> Result<Option<RecordedFailure>, StoreError> {
        let mut state = self.lock();
        let Some(c) = state.challenges.get_mut(id) else {
            return Ok(None);
        };
        let counted = c.status == ChallengeStatus::AwaitingCode
            && now < c.expires_at
            && c.attempts < c.max_attempts;
        if counted {
            c.attempts += 1;
            if c.attempts >= c.max_attempts {
                c.status = ChallengeStatus::Locked;
            }
        }
        Ok(Some(RecordedFailure {
            challenge: c.clone(),
            counted,
        }))
    }

    async fn approve(
        &self,
        id: &ChallengeId,
        generation: u32,
        now: Timestamp,
    ) -> Result<bool, StoreError> {
        let mut state = self.lock();
        let Some(c) = state.challenges.get_mut(id) else {
            return Ok(false);
        };
        if c.status.is_awaiting()
            && c.generation == generation
            && now < c.expires_at
            && c.attempts < c.max_attempts
        {
            c.status = ChallengeStatus::Approved;
            c.approved_at = Some(now);
            Ok(true)
        } else {
            Ok(false)
        }
    }

    async fn replace_code(
        &self,
        id: &ChallengeId,
        generation: u32,
        hash: Option<CodeHash>,
        expires_at: Timestamp,
        now: Timestamp,
    ) -> Result<bool, StoreError> {
        let mut state = self.lock();
        let Some(c) = state.challenges.get_mut(id) else {
            return Ok(false);
        };
        if !c.status.is_awaiting() || c.generation != generation || now >= c.expires_at {
            return Ok(false);
        }
        if let Some(h) = hash {
            c.answer = Answer::SentCode(h);
        }
        c.generation += 1;
        c.sends += 1;
        c.expires_at = expires_at;
        c.last_sent_at = Some(now);
        Ok(true)
    }

    async fn close_challenge(
        &self,
        id: &ChallengeId,
        from: &[ChallengeStatus],
        to: ChallengeStatus,
    ) -> Result<bool, StoreError> {
        let mut state = self.lock();
        let Some(c) = state.challenges.get_mut(id) else {
            return Ok(false);
        };
        if from.contains(&c.status) {
            c.status = to;
            Ok(true)
        } else {
            Ok(false)
        }
    }

    async fn hit(
        &self,
        key: &str,
        window: Duration,
        now: Timestamp,
    ) -> Result<WindowCount, StoreError> {
        let mut state = self.lock();
        let entry = state.windows.entry(key.to_owned()).or_insert(WindowCount {
            count: 0,
            resets_at: now + window,
        });
        if now >= entry.resets_at {
            *entry = WindowCount {
                count: 0,
                resets_at: now + window,
            };
        }
        entry.count = entry.count.saturating_add(1);
        Ok(*entry)
    }

    async fn record_user_failure(
        &self,
        user: &UserId,
        now: Timestamp,
    ) -> Result<Failures, StoreError> {
        let mut state = self.lock();
        let f = state.failures.entry(user.clone()).or_default();
        f.count = f.count.saturating_add(1);
        f.last_at = Some(now);
        Ok(*f)
    }

    async fn user_failures(&self, user: &UserId) -> Result<Failures, StoreError> {
        Ok(self.lock().failures.get(user).copied().unwrap_or_default())
    }

    async fn clear_user_failures(&self, user: &UserId) -> Result<(), StoreError> {
        self.lock().failures.remove(user);
        Ok(())
    }

    async fn replace_recovery_codes(
        &self,
        user: &UserId,
        hashes: Vec<CodeHash>,
    ) -> Result<(), StoreError> {
        self.lock().recovery.insert(
            user.clone(),
            hashes.into_iter().map(|h| (h, false)).collect(),
        );
        Ok(())
    }

    async fn consume_recovery_code(
        &self,
        user: &UserId,
        hash: &CodeHash,
    ) -> Result<Option<usize>, StoreError> {
        let mut state = self.lock();
        let Some(codes) = state.recovery.get_mut(user) else {
            return Ok(None);
        };
        // Compare against every code so the time taken does not depend on which matched.
        let mut found = None;
        for (i, (h, used)) in codes.iter().enumerate() {
            if h.matches(hash) && !*used {
                found = Some(i);
            }
        }
        let Some(i) = found else {
            return Ok(None);
        };
        codes[i].1 = true;
        Ok(Some(codes.iter().filter(|(_, used)| !used).count()))
    }
}
