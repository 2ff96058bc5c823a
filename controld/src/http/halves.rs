//! Stock supervisorctl's `restart` is a `stopProcess` followed by a `startProcess`. A caller
//! whom the policy allows to restart a process but not to stop it may still make that stop, as
//! the first half of a restart: it is checked and recorded as the restart, and the start that
//! follows from the same account is let through as its second half. If no start follows within
//! [`GRACE`], controld starts the process itself, with a record of its own: a restart right
//! never leaves a service stopped.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

/// How long the second half of a restart may take to come.
pub const GRACE: Duration = Duration::from_secs(5);

/// The stops let through as first halves, by (uid, `group:name`), each with a token, so that a
/// later restart of the same process is not completed by an earlier one's timer.
#[derive(Default)]
pub struct Halves {
    pending: Mutex<HashMap<(u32, String), u64>>,
    tokens: AtomicU64,
}

impl Halves {
    /// A first half has stopped `spec` for `uid`: the token its timer completes it with.
    pub fn begin(&self, uid: u32, spec: &str) -> u64 {
        let token = self.tokens.fetch_add(1, Ordering::Relaxed);
        self.lock().insert((uid, spec.to_owned()), token);
        token
    }

    /// Of `specs`, those `uid` has stopped as a first half; they are second halves now.
    pub fn finish(&self, uid: u32, specs: &[String]) -> Vec<String> {
        let mut pending = self.lock();
        specs
            .iter()
            .filter(|s| pending.remove(&(uid, (*s).clone())).is_some())
            .cloned()
            .collect()
    }

    /// The timer's turn: true if the first half with `token` is still waiting (and is no
    /// longer).
    pub fn expire(&self, uid: u32, spec: &str, token: u64) -> bool {
        let mut pending = self.lock();
        let key = (uid, spec.to_owned());
        if pending.get(&key) == Some(&token) {
            pending.remove(&key);
            true
        } else {
            false
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<(u32, String), u64>> {
        // A panic while holding it cannot leave the map half-changed: each use is one call.
        self.pending.lock().unwrap_or_else(|e| e.into_inner())
    }
}
