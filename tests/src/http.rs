//! HTTP as a browser or a script speaks it, through `curl`: for the web UI and XML-RPC tests.
#![allow(clippy::unwrap_used)]

use crate::Account;

/// What the daemon answered: status code, head and body.
pub struct Answer {
    pub status: u16,
    pub head: String,
    pub body: String,
}

impl Answer {
    /// A header's value (the first, if it is repeated); names in any case.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.head.lines().find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case(name).then(|| v.trim())
        })
    }

    /// The `name=value` of the cookie the answer sets.
    pub fn cookie(&self) -> Option<&str> {
        self.header("set-cookie")?.split(';').next()
    }
}

/// `curl -s -i ARGS`, as `who` (or as ourselves).
pub fn curl(who: Option<&Account>, args: &[&str]) -> Answer {
    use std::os::unix::process::CommandExt;
    let mut c = std::process::Command::new("/usr/bin/curl");
    if let Some(a) = who {
        c.uid(a.uid).gid(a.gid).env("HOME", "/nonexistent");
    }
    let o = c.args(["-s", "-i"]).args(args).output().unwrap();
    let text = String::from_utf8_lossy(&o.stdout).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    Answer {
        status: head
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or(0),
        head: head.to_owned(),
        body: body.to_owned(),
    }
}
