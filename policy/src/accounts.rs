//! The accounts file of `[inet_http_server] accounts=`: who may log in over TCP, and with which
//! password. One account a line, `NAME:HASH`, where NAME is an account of this machine (the
//! person's own, so that the policy and the audit log know them as they know them on the
//! socket) and HASH an argon2id PHC string, as `proctorctl policy hash-password` prints; `#`
//! starts a comment.
//!
//! ```text
//! alice:$argon2id$v=19$m=19456,t=2,p=1$...
//! ```
//!
//! The file holds password hashes: besides the policy's own rules (its owner's alone to
//! write), nobody but its owner and group may read it.

use crate::PolicyError;
use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use argon2::{Algorithm, Argon2, Params};
use std::collections::HashMap;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// The most memory one verification may take (KiB): a hash that asks more would let one login
/// attempt take the daemon's memory. OWASP's minimum is 19 MiB; 256 MiB leaves room above it.
const MAX_M_COST: u32 = 256 * 1024;

#[derive(Debug, Clone)]
pub struct Account {
    pub uid: u32,
    pub name: String,
    hash: String,
}

#[derive(Debug, Clone, Default)]
pub struct Accounts {
    pub file: PathBuf,
    by_name: HashMap<String, Account>,
}

/// A new hash of `password`: argon2id with the crate's defaults (m=19456, t=2, p=1, OWASP's
/// recommended minimum) and a random salt.
pub fn hash_password(password: &[u8]) -> Result<String, String> {
    Argon2::default()
        .hash_password(password)
        .map(|h| h.to_string())
        .map_err(|e| format!("cannot hash the password: {e}"))
}

/// Checks a PHC string as the accounts file needs it: argon2id, at most [`MAX_M_COST`].
fn check_hash(phc: &str) -> Result<(), String> {
    let parsed = PasswordHash::new(phc).map_err(|e| format!("not a PHC hash string: {e}"))?;
    if parsed.algorithm.as_str() != Algorithm::Argon2id.ident().as_str() {
        return Err(format!(
            "{} is not argon2id: make the hash with `proctorctl policy hash-password`",
            parsed.algorithm
        ));
    }
    let params = Params::try_from(&parsed).map_err(|e| format!("argon2 parameters: {e}"))?;
    if params.m_cost() > MAX_M_COST {
        return Err(format!(
            "m={} KiB is more memory than one login may take (at most {MAX_M_COST})",
            params.m_cost()
        ));
    }
    if parsed.hash.is_none() || parsed.salt.is_none() {
        return Err("the hash has no salt or no output".into());
    }
    Ok(())
}

impl Account {
    /// Whether `password` is this account's. Costs what the hash's parameters say (tens of
    /// milliseconds and ~19 MiB by default): call it off the async workers.
    pub fn verify(&self, password: &[u8]) -> bool {
        PasswordHash::new(&self.hash)
            .is_ok_and(|h| Argon2::default().verify_password(password, &h).is_ok())
    }
}

impl Accounts {
    pub fn parse(file: &Path, text: &str) -> Result<Accounts, PolicyError> {
        let mut by_name = HashMap::new();
        for (i, raw) in text.lines().enumerate() {
            let line = u32::try_from(i + 1).unwrap_or(u32::MAX);
            let err = |message: String| PolicyError {
                file: file.to_path_buf(),
                line,
                message,
            };
            let entry = raw.trim();
            if entry.is_empty() || entry.starts_with('#') {
                continue;
            }
            let Some((name, hash)) = entry.split_once(':') else {
                return Err(err(
                    "expected NAME:HASH (an account and its argon2id hash)".into()
                ));
            };
            let (name, hash) = (name.trim(), hash.trim());
            let user = match nix::unistd::User::from_name(name) {
                Ok(Some(u)) => u,
                Ok(None) => return Err(err(format!("user '{name}' does not exist"))),
                Err(e) => return Err(err(format!("cannot look up user '{name}': {e}"))),
            };
            check_hash(hash).map_err(|m| err(format!("{name}: {m}")))?;
            let account = Account {
                uid: user.uid.as_raw(),
                name: user.name,
                hash: hash.to_owned(),
            };
            if by_name.insert(name.to_owned(), account).is_some() {
                return Err(err(format!("{name} is listed twice")));
            }
        }
        Ok(Accounts {
            file: file.to_path_buf(),
            by_name,
        })
    }

    /// An account of nobody with `hash`: to check the passwords of unknown names against, so
    /// that they take as long as known ones.
    pub fn decoy(hash: String) -> Account {
        Account {
            uid: u32::MAX,
            name: String::new(),
            hash,
        }
    }

    pub fn get(&self, name: &str) -> Option<&Account> {
        self.by_name.get(name)
    }

    pub fn len(&self) -> usize {
        self.by_name.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_name.is_empty()
    }
}

/// Reads the accounts file as the policy is read ([`crate::read_trusted`]'s checks, at most
/// 1 MiB), and also refuses one that every account may read.
pub fn read_accounts(path: &Path, owner: u32) -> Result<Accounts, String> {
    let text = crate::trust::read_checked(path, owner, |meta| {
        let mode = meta.mode();
        if mode & 0o004 != 0 {
            return Err(format!(
                "every account may read it (mode {:o}), and it holds password hashes: chmod \
                 o-r (proctor's own account reads it through the file's group)",
                mode & 0o7777
            ));
        }
        Ok(())
    })?;
    Accounts::parse(path, &text).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn me() -> String {
        nix::unistd::User::from_uid(nix::unistd::getuid())
            .unwrap()
            .unwrap()
            .name
    }

    #[test]
    fn a_hash_verifies_its_password_only() {
        let h = hash_password(b"correct horse").unwrap();
        assert!(h.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{h}");
        let a = Accounts::parse(Path::new("/a"), &format!("# staff\n\n{}:{h}\n", me())).unwrap();
        let acc = a.get(&me()).unwrap();
        assert!(acc.verify(b"correct horse"));
        assert!(!acc.verify(b"correct horsf"));
        assert!(a.get("nobody-such").is_none());
    }

    #[test]
    fn bad_lines_name_their_line() {
        let h = hash_password(b"x").unwrap();
        let me = me();
        for (text, want) in [
            (format!("\n{me}\n"), "/a:2: expected NAME:HASH"),
            (
                format!("no-such-user-x:{h}\n"),
                "/a:1: user 'no-such-user-x' does not exist",
            ),
            (format!("{me}:plain\n"), "not a PHC hash string"),
            (
                format!("{me}:$argon2i$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA\n"),
                "is not argon2id",
            ),
            (
                format!(
                    "{me}:$argon2id$v=19$m=2000000,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA\n"
                ),
                "more memory than one login may take",
            ),
            (format!("{me}:{h}\n{me}:{h}\n"), "/a:2: "),
        ] {
            let e = Accounts::parse(Path::new("/a"), &text)
                .unwrap_err()
                .to_string();
            assert!(e.contains(want), "{text:?}: {e}");
        }
    }
}
