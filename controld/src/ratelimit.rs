//! Requests per account. Every request is audited, and the audit log keeps a bounded history:
//! an account that could send requests without limit could write records faster than the
//! admins keep them, and push older records out by rotation. Each uid has a token bucket;
//! a request past it is refused with `Busy` and not recorded one by one: the refusals of each
//! account are counted and written as one record per [`SUMMARY_EVERY`].
//!
//! Root and the policy's admins are not limited: they may do anything, the audit log
//! included.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Requests per second each account may make, sustained.
pub const RATE: u32 = 20;
/// How many more it may make at once after a quiet spell.
pub const BURST: u32 = 100;
/// Bounds of the wait before a refusal is answered (see [`Limiter::take`]).
pub const TARPIT_MIN: Duration = Duration::from_millis(50);
pub const TARPIT_MAX: Duration = Duration::from_secs(1);
/// How often the refusals are written to the audit log.
pub const SUMMARY_EVERY: Duration = Duration::from_secs(10);

struct Bucket {
    tokens: f64,
    at: Instant,
    /// Refused since the last summary, and the account's name for it.
    refused: u64,
    name: String,
}

#[derive(Default)]
pub struct Limiter {
    buckets: Mutex<HashMap<u32, Bucket>>,
    /// Told of the first refusal since the last summary: the summary waits on it rather than
    /// on a timer, so an idle daemon never wakes up for it.
    refusing: tokio::sync::Notify,
}

/// Refusals of one account since the last summary.
pub struct Refused {
    pub uid: u32,
    pub name: String,
    pub count: u64,
}

impl Limiter {
    /// Takes a token from `uid`'s bucket; when it has none, how long until it has one again
    /// (at least [`TARPIT_MIN`], at most [`TARPIT_MAX`]). A refusal is answered only after that
    /// long: a client that floods waits on its own connection instead of spinning, so the
    /// flood costs the machine's CPU little, not only the daemon's.
    pub fn take(&self, uid: u32, name: &str) -> Result<(), Duration> {
        let Ok(mut buckets) = self.buckets.lock() else {
            return Ok(());
        };
        let now = Instant::now();
        let b = buckets.entry(uid).or_insert_with(|| Bucket {
            tokens: f64::from(BURST),
            at: now,
            refused: 0,
            name: name.to_owned(),
        });
        let earned = now.duration_since(b.at).as_secs_f64() * f64::from(RATE);
        b.tokens = (b.tokens + earned).min(f64::from(BURST));
        b.at = now;
        if b.tokens >= 1.0 {
            b.tokens -= 1.0;
            Ok(())
        } else {
            b.refused += 1;
            if b.refused == 1 {
                self.refusing.notify_one();
            }
            let until = Duration::from_secs_f64((1.0 - b.tokens) / f64::from(RATE));
            Err(until.clamp(TARPIT_MIN, TARPIT_MAX))
        }
    }

    /// Returns once a request has been refused since the last [`Limiter::take_refused`].
    pub async fn refused(&self) {
        self.refusing.notified().await;
    }

    /// The refusals since the last call, per account. Buckets that are full again and have
    /// nothing to report are forgotten, so the map holds only recent callers.
    pub fn take_refused(&self) -> Vec<Refused> {
        let Ok(mut buckets) = self.buckets.lock() else {
            return Vec::new();
        };
        let now = Instant::now();
        let mut out = Vec::new();
        buckets.retain(|&uid, b| {
            if b.refused > 0 {
                out.push(Refused {
                    uid,
                    name: b.name.clone(),
                    count: std::mem::take(&mut b.refused),
                });
            }
            let full = b.tokens + now.duration_since(b.at).as_secs_f64() * f64::from(RATE)
                >= f64::from(BURST);
            !full
        });
        out
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn a_burst_then_the_rate_and_refusals_counted_once() {
        let l = Limiter::default();
        let admitted = (0..BURST + 50)
            .filter(|_| l.take(7, "mallory").is_ok())
            .count();
        // The burst, plus whatever the rate earned while the loop ran (well under one token).
        assert!(
            (BURST as usize..=BURST as usize + 1).contains(&admitted),
            "{admitted}"
        );
        // A refusal says how long until the next token: about one token's time, bounded.
        let wait = l.take(7, "mallory").unwrap_err();
        assert!((TARPIT_MIN..=TARPIT_MAX).contains(&wait), "{wait:?}");
        assert!(
            l.take(8, "alice").is_ok(),
            "another account has its own bucket"
        );
        let r = l.take_refused();
        assert_eq!(r.len(), 1);
        assert_eq!((r[0].uid, r[0].name.as_str()), (7, "mallory"));
        assert!(r[0].count >= 49);
        assert!(l.take_refused().is_empty(), "each refusal is reported once");
        std::thread::sleep(Duration::from_millis(1000 / u64::from(RATE) * 2));
        assert!(l.take(7, "mallory").is_ok(), "the rate refills the bucket");
    }
}
