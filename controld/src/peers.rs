//! Who a uid is (its name and groups, from the account database), looked up at most once a
//! second per uid. A lookup reads `/etc/passwd` and `/etc/group` (or asks NSS), and it blocks:
//! it runs on a blocking thread, and a client that connects thousands of times a second costs
//! one lookup a second, not one per connection. A change to the account database is seen
//! within that second.

use proctor_policy::Peer;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How long a lookup is used for.
const FRESH: Duration = Duration::from_secs(1);
/// Past this many uids, the stale entries are dropped.
const MAX_ENTRIES: usize = 4096;

pub struct Peers {
    known: Mutex<HashMap<u32, (Instant, Arc<Peer>)>>,
    /// Lookups at once: the blocking threads are shared with the log pumps, and a slow account
    /// database (LDAP through NSS) must not take them all.
    lookups: tokio::sync::Semaphore,
}

/// Account lookups running at once.
const LOOKUPS: usize = 4;

impl Default for Peers {
    fn default() -> Self {
        Peers {
            known: Mutex::new(HashMap::new()),
            lookups: tokio::sync::Semaphore::new(LOOKUPS),
        }
    }
}

impl Peers {
    pub async fn lookup(&self, uid: u32) -> Arc<Peer> {
        if let Some(p) = self.fresh(uid) {
            return p;
        }
        let _looking = self.lookups.acquire().await;
        // Connections of one uid that arrived together wait here, and all but the first find
        // the lookup done.
        if let Some(p) = self.fresh(uid) {
            return p;
        }
        let peer = Arc::new(
            tokio::task::spawn_blocking(move || Peer::lookup(uid))
                .await
                // As for a uid with no account: its number for a name, no groups.
                .unwrap_or_else(|_| Peer {
                    uid,
                    name: uid.to_string(),
                    gids: Vec::new(),
                }),
        );
        let mut known = self.known.lock().unwrap_or_else(|e| e.into_inner());
        if known.len() >= MAX_ENTRIES {
            known.retain(|_, (at, _)| at.elapsed() < FRESH);
        }
        known.insert(uid, (Instant::now(), peer.clone()));
        peer
    }

    fn fresh(&self, uid: u32) -> Option<Arc<Peer>> {
        let known = self.known.lock().unwrap_or_else(|e| e.into_inner());
        known
            .get(&uid)
            .filter(|(at, _)| at.elapsed() < FRESH)
            .map(|(_, p)| p.clone())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[tokio::test]
    async fn a_lookup_is_used_for_a_second() {
        let peers = Peers::default();
        let a = peers.lookup(0).await;
        assert_eq!(a.name, "root");
        let b = peers.lookup(0).await;
        assert!(Arc::ptr_eq(&a, &b));
        tokio::time::sleep(FRESH).await;
        let c = peers.lookup(0).await;
        assert!(!Arc::ptr_eq(&a, &c));
    }
}
