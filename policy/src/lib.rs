//! Who may do what on the control socket.
//!
//! With `[proctor] policy=` set, the admin's policy file decides ([`Policy`], default deny);
//! without it, the interim rule of [`OwnerOnly`] applies: the daemon's own account and root. The
//! peer's uid always comes from SO_PEERCRED, never from the request, and its groups from the
//! account database.
#![forbid(unsafe_code)]

mod accounts;
mod action;
mod file;
mod trust;

pub use accounts::{hash_password, read_accounts, Account, Accounts};
pub use action::Action;
pub use file::{Policy, PolicyError};
pub use trust::read_trusted;

use nix::unistd::{Gid, Uid, User};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    Allow,
    /// Refused, with the message for the caller.
    Deny(String),
}

/// The interim policy: the owner (the uid controld runs as) and root.
#[derive(Debug, Clone, Copy)]
pub struct OwnerOnly {
    pub owner: u32,
}

impl OwnerOnly {
    pub fn check(&self, peer_uid: u32) -> Decision {
        if peer_uid == self.owner || peer_uid == 0 {
            Decision::Allow
        } else {
            Decision::Deny(format!(
                "permission denied: uid {peer_uid} may not use this daemon (only uid {} and root may)",
                self.owner
            ))
        }
    }
}

/// Who is asking: a uid from SO_PEERCRED, with its name and groups from the account database.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Peer {
    pub uid: u32,
    /// The account name, or the uid as text when the uid has no account.
    pub name: String,
    /// Primary and supplementary groups.
    pub gids: Vec<u32>,
}

impl Peer {
    /// Looks the uid up. A uid without an account gets no groups (and so only what rules naming
    /// nobody in particular could grant: nothing).
    pub fn lookup(uid: u32) -> Peer {
        match User::from_uid(Uid::from_raw(uid)) {
            Ok(Some(u)) => {
                let gids = std::ffi::CString::new(u.name.clone())
                    .ok()
                    .and_then(|c| nix::unistd::getgrouplist(&c, u.gid).ok())
                    .unwrap_or_else(|| vec![u.gid])
                    .into_iter()
                    .map(Gid::as_raw)
                    .collect();
                Peer {
                    uid,
                    name: u.name,
                    gids,
                }
            }
            _ => Peer {
                uid,
                name: uid.to_string(),
                gids: Vec::new(),
            },
        }
    }
}

/// What a request acts on, for the program patterns of the rules.
#[derive(Debug, Clone, Copy)]
pub struct Target<'a> {
    /// `group:name`, or `name` when both are equal: what status shows.
    pub namespec: &'a str,
    pub group: &'a str,
    /// The process name.
    pub name: &'a str,
    /// The program (`[program:x]`) it belongs to.
    pub program: &'a str,
}

/// The outcome of a check, with what decided it (for messages and the audit log).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    pub allow: bool,
    /// `FILE:LINE` of the rule (or the `admins` line) that allowed it, `root`, or
    /// `default deny`.
    pub rule: String,
}
