//! The audit seal file: the keys proctord gives each controld it starts, kept where controld
//! cannot read them, and how far each controld has sealed the log. proctord writes it (plain
//! text, no JSON or hashing in the privileged process); `proctorctl audit --verify` reads it
//! as root.
//!
//! ```text
//! proctor-audit-seal 1 anchor 7 1234                          (padded: one fixed slot)
//! epoch 1 key 5f0c…(64 hex) after 0 0 time 1796515200
//! epoch 7 key 9a41…(64 hex) after 6 523 time 1796601600
//! ```
//!
//! - The first line is rewritten in place, always [`ANCHOR_LEN`] bytes: controld of epoch 7
//!   has sealed 1234 records (the first 1234 of its epoch exist).
//! - An `epoch` line is appended each time proctord starts a controld: its first key, and the
//!   anchor of the epoch before it as it stood then (`after E N`: epoch E sealed N records).

use serde::{Deserialize, Serialize};
use std::fmt::Write;

/// Bytes of the first line, newline included.
pub const ANCHOR_LEN: usize = 80;
const MAGIC: &str = "proctor-audit-seal 1";

/// What controld gets for its audit log in its hello.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum AuditSeal {
    /// No sealing (user mode, or no audit log).
    Off,
    /// The first key of epoch `epoch`; controld replaces it after every record.
    Key { epoch: u32, key: [u8; 32] },
    /// Sealing is configured but proctord could not start an epoch: controld refuses every
    /// request (fail closed), with this reason.
    Broken(String),
}

/// An anchor: epoch `epoch` has sealed `count` records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Anchor {
    pub epoch: u32,
    pub count: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Epoch {
    pub epoch: u32,
    pub key: [u8; 32],
    /// The previous epoch's anchor when this one began.
    pub after: Anchor,
    /// Unix seconds.
    pub time: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SealFile {
    pub anchor: Anchor,
    pub epochs: Vec<Epoch>,
}

pub fn hex(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(s, "{b:02x}");
    }
    s
}

pub fn unhex32(s: &str) -> Option<[u8; 32]> {
    let b = s.as_bytes();
    if b.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, pair) in b.chunks(2).enumerate() {
        let text = std::str::from_utf8(pair).ok()?;
        out[i] = u8::from_str_radix(text, 16).ok()?;
    }
    Some(out)
}

/// The first line, padded to [`ANCHOR_LEN`].
pub fn anchor_line(a: Anchor) -> [u8; ANCHOR_LEN] {
    let mut out = [b' '; ANCHOR_LEN];
    let text = format!("{MAGIC} anchor {} {}", a.epoch, a.count);
    let n = text.len().min(ANCHOR_LEN - 1);
    out[..n].copy_from_slice(&text.as_bytes()[..n]);
    out[ANCHOR_LEN - 1] = b'\n';
    out
}

pub fn epoch_line(e: &Epoch) -> String {
    format!(
        "epoch {} key {} after {} {} time {}\n",
        e.epoch,
        hex(&e.key),
        e.after.epoch,
        e.after.count,
        e.time
    )
}

impl SealFile {
    /// Parses the file; `Err((line, why))`, 1-based.
    pub fn parse(text: &str) -> Result<SealFile, (usize, String)> {
        let mut lines = text.lines();
        let first = lines.next().ok_or((1, "empty seal file".to_owned()))?;
        let anchor = match first.split_whitespace().collect::<Vec<_>>()[..] {
            ["proctor-audit-seal", "1", "anchor", e, n] => Anchor {
                epoch: e.parse().map_err(|_| (1, format!("bad epoch {e:?}")))?,
                count: n.parse().map_err(|_| (1, format!("bad count {n:?}")))?,
            },
            _ => return Err((1, "not a proctor audit seal file".to_owned())),
        };
        let mut epochs: Vec<Epoch> = Vec::new();
        for (i, line) in lines.enumerate() {
            let at = i + 2;
            let bad = |why: &str| (at, why.to_owned());
            let e = match line.split_whitespace().collect::<Vec<_>>()[..] {
                ["epoch", e, "key", k, "after", pe, pn, "time", t] => Epoch {
                    epoch: e.parse().map_err(|_| bad("bad epoch"))?,
                    key: unhex32(k).ok_or_else(|| bad("bad key"))?,
                    after: Anchor {
                        epoch: pe.parse().map_err(|_| bad("bad epoch after"))?,
                        count: pn.parse().map_err(|_| bad("bad count after"))?,
                    },
                    time: t.parse().map_err(|_| bad("bad time"))?,
                },
                _ => return Err(bad("not an epoch line")),
            };
            if epochs.last().is_some_and(|p| p.epoch >= e.epoch) {
                return Err(bad("epochs out of order"));
            }
            epochs.push(e);
        }
        Ok(SealFile { anchor, epochs })
    }

    pub fn epoch(&self, epoch: u32) -> Option<&Epoch> {
        self.epochs.iter().find(|e| e.epoch == epoch)
    }

    /// How many records epoch `epoch` is known to have sealed: from the anchor if it is the
    /// latest, else from the next epoch's `after`.
    pub fn sealed(&self, epoch: u32) -> u64 {
        let mut n = 0;
        if self.anchor.epoch == epoch {
            n = self.anchor.count;
        }
        for e in &self.epochs {
            if e.after.epoch == epoch {
                n = n.max(e.after.count);
            }
        }
        n
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn round_trip_and_refusals() {
        let e = Epoch {
            epoch: 2,
            key: [0xab; 32],
            after: Anchor { epoch: 1, count: 5 },
            time: 1_796_515_200,
        };
        let anchor = Anchor { epoch: 2, count: 9 };
        let text = format!(
            "{}{}",
            std::str::from_utf8(&anchor_line(anchor)).unwrap(),
            epoch_line(&e)
        );
        let f = SealFile::parse(&text).unwrap();
        assert_eq!(f.anchor, anchor);
        assert_eq!(f.epochs, vec![e]);
        assert_eq!((f.sealed(1), f.sealed(2), f.sealed(3)), (5, 9, 0));
        assert_eq!(SealFile::parse("").unwrap_err().0, 1);
        let twice = format!("{text}{}", epoch_line(&f.epochs[0]));
        assert_eq!(SealFile::parse(&twice).unwrap_err().0, 3);
        let short = text.replace(&hex(&[0xab; 32]), "abab");
        assert_eq!(SealFile::parse(&short).unwrap_err(), (2, "bad key".into()));
    }
}
