//! Who may hold the control socket's connections. Every connection holds a slot from accept to
//! hang-up; there are [`MAX_CLIENTS`], of which [`RESERVED`] only root and the admins may
//! take, and no account but root and the daemon's own holds more than [`PER_ACCOUNT`] at once. So a few accounts
//! without any right, opening connections and sending nothing, cannot lock out the people who
//! run the machine. Followers (`tail -f`, `audit -f`) hold their connection for as long as they
//! like: at most [`FOLLOWERS_PER_ACCOUNT`] per account, root and admins excepted.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Connections served at once.
pub const MAX_CLIENTS: usize = 512;
/// Of those, kept for root and the admins.
pub const RESERVED: usize = 32;
/// Connections one account (but root and the daemon's own) may hold at once.
pub const PER_ACCOUNT: usize = 64;
/// `tail -f` and `audit -f` one account (but root and the admins) may hold at once.
pub const FOLLOWERS_PER_ACCOUNT: usize = 8;

pub struct Slots {
    /// Root and the daemon's own account: never counted, and reserved slots at once.
    owners: [u32; 2],
    shared: Arc<Semaphore>,
    reserved: Arc<Semaphore>,
    connections: Counts,
    followers: Counts,
    /// Looking up whether a caller who found the shared slots full is an admin costs an
    /// account lookup: a few at once, and at most one a second per account that was not one.
    lookups: Arc<Semaphore>,
    not_admins: Mutex<HashMap<u32, Instant>>,
}

/// Account lookups for reserved slots in flight at once.
const LOOKUPS: usize = 4;
/// How long an account found not to be an admin is refused a reserved slot without a lookup.
const NOT_ADMIN_FOR: Duration = Duration::from_secs(1);

/// Why a connection gets no slot.
#[derive(Debug, PartialEq, Eq)]
pub enum Refused {
    /// Every slot anyone may take is held: only root and the admins are still served.
    Full,
    /// This account holds [`PER_ACCOUNT`] connections already.
    Account,
}

impl Refused {
    pub fn message(&self) -> String {
        match self {
            Refused::Full => format!(
                "the daemon is serving {MAX_CLIENTS} clients already ({RESERVED} of the slots are \
                 kept for root and the admins); try again"
            ),
            Refused::Account => format!(
                "your account has {PER_ACCOUNT} connections to the daemon open already; close \
                 some and try again"
            ),
        }
    }
}

/// A connection's slot, given back when dropped.
pub struct Slot {
    _permit: OwnedSemaphorePermit,
    _count: Option<Counted>,
}

impl Slots {
    /// `own_uid`: the uid the daemon runs as (in user mode, its owner).
    pub fn new(own_uid: u32) -> Slots {
        Slots {
            owners: [0, own_uid],
            shared: Arc::new(Semaphore::new(MAX_CLIENTS - RESERVED)),
            reserved: Arc::new(Semaphore::new(RESERVED)),
            connections: Counts::default(),
            followers: Counts::default(),
            lookups: Arc::new(Semaphore::new(LOOKUPS)),
            not_admins: Mutex::new(HashMap::new()),
        }
    }

    /// Leave to look `uid` up for a reserved slot, held while the lookup runs; `None` when the
    /// account was found not to be an admin within the last second, or too many lookups run.
    pub fn admin_lookup(&self, uid: u32) -> Option<OwnedSemaphorePermit> {
        let recent = self
            .not_admins
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&uid)
            .is_some_and(|t| t.elapsed() < NOT_ADMIN_FOR);
        if recent {
            return None;
        }
        self.lookups.clone().try_acquire_owned().ok()
    }

    /// `uid` was looked up and is not an admin.
    pub fn not_admin(&self, uid: u32) {
        let mut map = self.not_admins.lock().unwrap_or_else(|e| e.into_inner());
        if map.len() >= 1024 {
            map.retain(|_, t| t.elapsed() < NOT_ADMIN_FOR);
        }
        map.insert(uid, Instant::now());
    }

    /// A slot for a connection of `uid`, from the shared ones (root and the daemon's own
    /// account may also take a reserved one). On `Full`, an admin may still get one from
    /// [`Slots::reserved`] once looked up.
    pub fn take(&self, uid: u32) -> Result<Slot, Refused> {
        let owner = self.owners.contains(&uid);
        let count = if owner {
            None
        } else {
            Some(
                self.connections
                    .add(uid, PER_ACCOUNT)
                    .ok_or(Refused::Account)?,
            )
        };
        let permit = self.shared.clone().try_acquire_owned().or_else(|_| {
            if owner {
                self.reserved.clone().try_acquire_owned()
            } else {
                Err(tokio::sync::TryAcquireError::NoPermits)
            }
        });
        match permit {
            Ok(p) => Ok(Slot {
                _permit: p,
                _count: count,
            }),
            Err(_) => Err(Refused::Full),
        }
    }

    /// A reserved slot, for an admin who found the shared ones taken.
    pub fn reserved(&self, uid: u32) -> Result<Slot, Refused> {
        let count = self
            .connections
            .add(uid, PER_ACCOUNT)
            .ok_or(Refused::Account)?;
        let permit = self
            .reserved
            .clone()
            .try_acquire_owned()
            .map_err(|_| Refused::Full)?;
        Ok(Slot {
            _permit: permit,
            _count: Some(count),
        })
    }

    /// Leave to follow, for a follower of `uid`; `privileged` (root, admins) always may.
    pub fn follower(&self, uid: u32, privileged: bool) -> Result<Option<Counted>, String> {
        if privileged {
            return Ok(None);
        }
        self.followers
            .add(uid, FOLLOWERS_PER_ACCOUNT)
            .map(Some)
            .ok_or_else(|| {
                format!(
                    "your account follows {FOLLOWERS_PER_ACCOUNT} logs already (tail -f, audit \
                     -f); stop one and try again"
                )
            })
    }
}

/// Per-account counts, each held by a [`Counted`].
#[derive(Default, Clone)]
struct Counts(Arc<Mutex<HashMap<u32, usize>>>);

/// One unit of an account's count, given back when dropped.
pub struct Counted {
    counts: Counts,
    uid: u32,
}

impl Counts {
    fn add(&self, uid: u32, max: usize) -> Option<Counted> {
        let mut map = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let n = map.entry(uid).or_insert(0);
        if *n >= max {
            return None;
        }
        *n += 1;
        Some(Counted {
            counts: self.clone(),
            uid,
        })
    }
}

impl Drop for Counted {
    fn drop(&mut self) {
        let mut map = self.counts.0.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(n) = map.get_mut(&self.uid) {
            *n -= 1;
            if *n == 0 {
                map.remove(&self.uid);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn accounts_are_capped_and_root_and_admins_keep_their_share() {
        let s = Slots::new(500);
        // One account: PER_ACCOUNT, then refused; given back on drop.
        let mut held: Vec<Slot> = (0..PER_ACCOUNT).map(|_| s.take(1000).unwrap()).collect();
        assert_eq!(s.take(1000).err(), Some(Refused::Account));
        held.pop();
        assert!(s.take(1000).is_ok());
        drop(held);
        // Many accounts fill the shared slots; then only root and admins get in.
        let mut held = Vec::new();
        for i in 0..(MAX_CLIENTS - RESERVED) {
            held.push(s.take(2000 + (i / PER_ACCOUNT) as u32).unwrap());
        }
        assert_eq!(s.take(9999).err(), Some(Refused::Full));
        let root: Vec<Slot> = (0..RESERVED / 4).map(|_| s.take(0).unwrap()).collect();
        let own: Vec<Slot> = (0..RESERVED / 4).map(|_| s.take(500).unwrap()).collect();
        let admin: Vec<Slot> = (0..RESERVED / 2).map(|_| s.reserved(7).unwrap()).collect();
        assert_eq!(s.take(0).err(), Some(Refused::Full));
        assert_eq!(s.reserved(7).err(), Some(Refused::Full));
        drop((root, own, admin, held));
        assert!(s.take(9999).is_ok());
    }

    #[test]
    fn followers_are_capped_per_account_but_not_for_the_privileged() {
        let s = Slots::new(500);
        let f: Vec<_> = (0..FOLLOWERS_PER_ACCOUNT)
            .map(|_| s.follower(5, false).unwrap())
            .collect();
        assert!(s.follower(5, false).is_err());
        assert!(s.follower(6, false).is_ok());
        assert!(s.follower(5, true).is_ok());
        drop(f);
        assert!(s.follower(5, false).is_ok());
    }

    #[test]
    fn an_account_found_not_to_be_an_admin_is_not_looked_up_again_at_once() {
        let s = Slots::new(500);
        let first = s.admin_lookup(9).unwrap();
        s.not_admin(9);
        drop(first);
        assert!(s.admin_lookup(9).is_none());
        let others: Vec<_> = (0..LOOKUPS)
            .map(|u| s.admin_lookup(u as u32 + 10))
            .collect();
        assert!(others.iter().all(Option::is_some));
        assert!(s.admin_lookup(99).is_none());
    }
}
