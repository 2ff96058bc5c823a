//! One queue of deadlines for every process's one timer. Arming a timer gives it a token that
//! the process keeps; a timer whose token is no longer the process's was cancelled or replaced,
//! and is dropped when it comes due.

use super::Key;
use crate::lifecycle::TimerKind;
use std::collections::BTreeSet;
use std::time::Duration;
use tokio::time::Instant;

/// A timer's token; 0 is "no timer".
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct Token(u64);

impl Token {
    pub const NONE: Token = Token(0);
}

#[derive(Default)]
pub struct Timers {
    queue: BTreeSet<(Instant, Token, Key, TimerKind)>,
    last: u64,
}

impl Timers {
    /// Arms a timer for `key`; the process must keep the token for it to count.
    pub fn arm(&mut self, key: &Key, after: Duration, kind: TimerKind) -> Token {
        self.last += 1;
        let token = Token(self.last);
        self.queue
            .insert((Instant::now() + after, token, key.clone(), kind));
        token
    }

    pub fn next_deadline(&self) -> Option<Instant> {
        self.queue.first().map(|t| t.0)
    }

    /// The next timer due at `now`, if any.
    pub fn pop_due(&mut self, now: Instant) -> Option<(Token, Key, TimerKind)> {
        if self.queue.first()?.0 > now {
            return None;
        }
        self.queue
            .pop_first()
            .map(|(_, token, key, kind)| (token, key, kind))
    }
}
