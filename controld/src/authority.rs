//! Who may do what: the admin's policy file when `[proctor] policy=` is set, else the interim
//! owner-and-root rule. Reloaded atomically: a refused file leaves the last good one in force.

use proctor_policy::{Action, OwnerOnly, Peer, Policy, Target, Verdict};
use std::path::PathBuf;
use std::sync::RwLock;

enum Rules {
    OwnerOnly(OwnerOnly),
    File(Policy),
    /// The policy could not be loaded when controld restarted: only root gets in.
    Closed(String),
}

pub struct Authority {
    rules: RwLock<Rules>,
    path: Option<PathBuf>,
    /// Who must own the policy file and the directories above it: root in root mode, else
    /// the daemon's own account.
    trusted_owner: u32,
    reloading: std::sync::Mutex<()>,
    /// What is re-read with the policy: `[inet_http_server]`'s accounts file.
    also: std::sync::OnceLock<Companion>,
}

/// A file re-read with the policy; `Err` is why it was refused (the last good one stays).
pub type Companion = Box<dyn Fn() -> Result<(), String> + Send + Sync>;

fn load(path: &std::path::Path, owner: u32) -> Result<Policy, String> {
    let text = proctor_policy::read_trusted(path, owner)?;
    Policy::parse(path, &text).map_err(|e| e.to_string())
}

impl Authority {
    pub fn new(
        path: Option<PathBuf>,
        trusted_owner: u32,
        own_uid: u32,
    ) -> Result<Authority, String> {
        let rules = match &path {
            Some(p) => Rules::File(load(p, trusted_owner)?),
            None => Rules::OwnerOnly(OwnerOnly { owner: own_uid }),
        };
        Ok(Authority {
            rules: RwLock::new(rules),
            path,
            trusted_owner,
            reloading: std::sync::Mutex::new(()),
            also: std::sync::OnceLock::new(),
        })
    }

    /// After a restart with a policy that no longer loads: fail closed.
    pub fn closed(path: PathBuf, trusted_owner: u32, why: String) -> Authority {
        Authority {
            rules: RwLock::new(Rules::Closed(why)),
            path: Some(path),
            trusted_owner,
            reloading: std::sync::Mutex::new(()),
            also: std::sync::OnceLock::new(),
        }
    }

    /// Has `f` re-read with the policy from now on.
    pub fn reload_also(&self, f: Companion) {
        let _ = self.also.set(f);
    }

    /// Re-reads the policy file (and its companion); on any problem the last good one stays in
    /// force.
    pub fn reload(&self) -> Result<String, String> {
        if let Some(also) = self.also.get() {
            also()?;
        }
        let Some(path) = &self.path else {
            return Err("no [proctor] policy= is configured".into());
        };
        // One reload at a time (SIGHUP and `reload-policy` may come together): the file read
        // last is the one in force.
        let _one = self.reloading.lock().unwrap_or_else(|e| e.into_inner());
        let policy = load(path, self.trusted_owner)?;
        if let Ok(mut r) = self.rules.write() {
            *r = Rules::File(policy);
        }
        Ok(format!("reloaded {}", path.display()))
    }

    /// Checked at connection time: without a policy file, others are turned away at once.
    pub fn may_connect(&self, peer: &Peer) -> Result<(), String> {
        match self.rules.read().as_deref() {
            Ok(Rules::OwnerOnly(o)) => match o.check(peer.uid) {
                proctor_policy::Decision::Allow => Ok(()),
                proctor_policy::Decision::Deny(m) => Err(m),
            },
            Ok(Rules::Closed(why)) if peer.uid != 0 => Err(format!(
                "permission denied: the policy could not be loaded ({why}); only root may use the daemon until it is fixed"
            )),
            _ => Ok(()),
        }
    }

    pub fn decide(&self, peer: &Peer, action: Action, target: Option<&Target<'_>>) -> Verdict {
        match self.rules.read().as_deref() {
            Ok(Rules::File(p)) => p.decide(peer, action, target),
            Ok(Rules::OwnerOnly(o)) => Verdict {
                allow: matches!(o.check(peer.uid), proctor_policy::Decision::Allow),
                rule: "owner-only (no policy file)".into(),
            },
            _ => Verdict {
                allow: peer.uid == 0,
                rule: "closed (policy not loaded)".into(),
            },
        }
    }

    /// Root, the policy's admins, or (without a policy) the daemon's own account: those who
    /// may do anything, and whose requests are not rate-limited.
    pub fn is_admin(&self, peer: &Peer) -> bool {
        match self.rules.read().as_deref() {
            Ok(Rules::File(p)) => p.is_admin(peer),
            Ok(Rules::OwnerOnly(o)) => matches!(o.check(peer.uid), proctor_policy::Decision::Allow),
            _ => peer.uid == 0,
        }
    }

    /// Where the rules come from, for people: the policy file, or the rule without one.
    pub fn source(&self) -> String {
        match &self.path {
            Some(p) => p.display().to_string(),
            None => "no policy file: only root and the daemon's own account".to_owned(),
        }
    }

    pub fn denial(&self, peer: &Peer, action: Action, what: &str) -> String {
        match self.rules.read().as_deref() {
            Ok(Rules::File(p)) => p.denial(peer, action, what),
            _ => format!("permission denied: {} may not {action} {what}", peer.name),
        }
    }
}
