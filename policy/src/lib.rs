//! Who may use the control socket. Until the admin's policy file arrives, the rule is the one
//! of Supervisor's socket permissions made explicit: the daemon's own user and root may do
//! everything, anyone else nothing. The peer's uid always comes from SO_PEERCRED, never from the
//! request.
#![forbid(unsafe_code)]

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn owner_and_root_only() {
        let p = OwnerOnly { owner: 1000 };
        assert_eq!(p.check(1000), Decision::Allow);
        assert_eq!(p.check(0), Decision::Allow);
        assert_eq!(
            p.check(1001),
            Decision::Deny(
                "permission denied: uid 1001 may not use this daemon (only uid 1000 and root may)"
                    .into()
            )
        );
    }
}
