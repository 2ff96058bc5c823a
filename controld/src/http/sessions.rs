//! Who a browser is, for the web UI on the control socket: one-time login links, which only
//! `proctorctl web` (the daemon's own protocol, never HTTP) can ask for, and the sessions they
//! open. A session belongs to the account that asked for the link, and is used only on
//! connections from that account (SO_PEERCRED): a forwarded port is not enough to act, and a
//! session cookie is useless on another account's connection.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How long a login link may wait to be opened.
pub const LINK_TTL: Duration = Duration::from_secs(120);
/// How long a session lasts, used or not.
pub const SESSION_TTL: Duration = Duration::from_secs(12 * 3600);
/// At most this many links waiting and sessions open: the oldest goes first past it.
const MAX_LINKS: usize = 256;
const MAX_SESSIONS: usize = 1024;

struct Link {
    uid: u32,
    expires: Instant,
}

/// Where a session was opened, and the only place it is good: a session of the control
/// socket needs that account's connection besides its cookie; one of `[inet_http_server]` has
/// only its cookie, so each is refused on the other.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Kind {
    Socket,
    Tcp,
}

struct Session {
    uid: u32,
    kind: Kind,
    csrf: String,
    expires: Instant,
    /// What the last action came to, shown once on the next page.
    flash: Option<String>,
}

/// What a page needs of its session.
pub struct Current {
    pub csrf: String,
    pub flash: Option<String>,
}

#[derive(Default)]
pub struct Sessions {
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    links: HashMap<String, Link>,
    sessions: HashMap<String, Session>,
}

/// 256 random bits, in hex.
pub(super) fn token() -> std::io::Result<String> {
    let mut b = [0u8; 32];
    getrandom::fill(&mut b).map_err(std::io::Error::other)?;
    Ok(hex(&b))
}

/// Bytes in lower-case hex.
pub(super) fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Compares in time that does not depend on where two strings differ.
pub(super) fn same(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

impl Inner {
    fn prune(&mut self, now: Instant) {
        self.links.retain(|_, l| l.expires > now);
        self.sessions.retain(|_, s| s.expires > now);
    }
}

/// Drops the entry that expires first, to make room.
fn evict_oldest<V>(map: &mut HashMap<String, V>, expires: impl Fn(&V) -> Instant) {
    if let Some(k) = map
        .iter()
        .min_by_key(|(_, v)| expires(v))
        .map(|(k, _)| k.clone())
    {
        map.remove(&k);
    }
}

impl Sessions {
    /// A one-time login link's token for `uid`, good for [`LINK_TTL`].
    pub fn link(&self, uid: u32) -> std::io::Result<String> {
        let t = token()?;
        let now = Instant::now();
        let mut inner = self
            .inner
            .lock()
            .map_err(|_| std::io::Error::other("sessions lock poisoned"))?;
        inner.prune(now);
        if inner.links.len() >= MAX_LINKS {
            evict_oldest(&mut inner.links, |l| l.expires);
        }
        inner.links.insert(
            t.clone(),
            Link {
                uid,
                expires: now + LINK_TTL,
            },
        );
        Ok(t)
    }

    /// Opens a session of `kind` with the link `token`, for `uid` (on the socket: the
    /// connection's account): the link is used up whatever happens. The session's id, or why
    /// not.
    pub fn redeem(&self, token: &str, uid: u32, kind: Kind) -> Result<String, &'static str> {
        if token.len() != 64 || !token.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err("this is not a login link of this daemon");
        }
        let fresh = || self::token().map_err(|_| "the daemon cannot make a random token");
        let (id, csrf) = (fresh()?, fresh()?);
        let now = Instant::now();
        let mut inner = self
            .inner
            .lock()
            .map_err(|_| "the daemon's sessions are unusable")?;
        inner.prune(now);
        let Some(link) = inner.links.remove(token) else {
            return Err(
                "this login link is unknown, used already or expired: run `proctorctl web` again",
            );
        };
        if link.uid != uid {
            return Err("this login link belongs to another account");
        }
        if inner.sessions.len() >= MAX_SESSIONS {
            evict_oldest(&mut inner.sessions, |s| s.expires);
        }
        inner.sessions.insert(
            id.clone(),
            Session {
                uid,
                kind,
                csrf,
                expires: now + SESSION_TTL,
                flash: None,
            },
        );
        Ok(id)
    }

    /// The session `id`, if it is live, of `kind` and `uid`'s; its flash message is taken.
    pub fn current(&self, id: &str, uid: u32, kind: Kind) -> Option<Current> {
        let now = Instant::now();
        let mut inner = self.inner.lock().ok()?;
        inner.prune(now);
        let s = inner
            .sessions
            .get_mut(id)
            .filter(|s| s.uid == uid && s.kind == kind)?;
        Some(Current {
            csrf: s.csrf.clone(),
            flash: s.flash.take(),
        })
    }

    /// Whose session `id` of `kind` is, if it is live.
    pub fn owner(&self, id: &str, kind: Kind) -> Option<u32> {
        let inner = self.inner.lock().ok()?;
        inner
            .sessions
            .get(id)
            .filter(|s| s.kind == kind && s.expires > Instant::now())
            .map(|s| s.uid)
    }

    /// Whether `csrf` is the token of session `id` (live and `uid`'s).
    pub fn check_csrf(&self, id: &str, uid: u32, csrf: &str) -> bool {
        let Ok(inner) = self.inner.lock() else {
            return false;
        };
        inner
            .sessions
            .get(id)
            .filter(|s| s.uid == uid && s.expires > Instant::now())
            .is_some_and(|s| same(&s.csrf, csrf))
    }

    /// The message the next page of session `id` shows.
    pub fn flash(&self, id: &str, message: String) {
        if let Ok(mut inner) = self.inner.lock() {
            if let Some(s) = inner.sessions.get_mut(id) {
                s.flash = Some(message);
            }
        }
    }

    pub fn end(&self, id: &str) {
        if let Ok(mut inner) = self.inner.lock() {
            inner.sessions.remove(id);
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn a_link_opens_one_session_for_its_account_only() {
        let s = Sessions::default();
        let t = s.link(1000).unwrap();
        assert!(s.redeem(&t, 1001, Kind::Socket).is_err(), "another account");
        assert!(
            s.redeem(&t, 1000, Kind::Socket).is_err(),
            "used up by the failed try"
        );
        let t = s.link(1000).unwrap();
        let id = s.redeem(&t, 1000, Kind::Socket).unwrap();
        assert!(s.redeem(&t, 1000, Kind::Socket).is_err(), "once only");
        assert!(s.current(&id, 1000, Kind::Tcp).is_none(), "not on TCP");
        assert_eq!(s.owner(&id, Kind::Socket), Some(1000));
        assert_eq!(s.owner(&id, Kind::Tcp), None);
        let cur = s.current(&id, 1000, Kind::Socket).unwrap();
        assert!(s.current(&id, 1001, Kind::Socket).is_none());
        assert!(s.check_csrf(&id, 1000, &cur.csrf));
        assert!(!s.check_csrf(&id, 1000, "x"));
        assert!(!s.check_csrf(&id, 1001, &cur.csrf));
        s.flash(&id, "done".into());
        assert_eq!(
            s.current(&id, 1000, Kind::Socket).unwrap().flash.as_deref(),
            Some("done")
        );
        assert_eq!(s.current(&id, 1000, Kind::Socket).unwrap().flash, None);
        s.end(&id);
        assert!(s.current(&id, 1000, Kind::Socket).is_none());
    }
}
