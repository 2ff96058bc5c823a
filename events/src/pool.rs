//! An event listener pool's queue, as Supervisor's `EventListenerPool` keeps it
//! (`process.py`): a FIFO of at most `buffer_size` events, the oldest dropped when a new one
//! (or a rejected one coming back) would not fit; serials given once, kept when an event is
//! sent again.

use crate::event::Kind;
use std::collections::VecDeque;
use std::sync::Arc;

/// One event as every pool that accepts it shares it: its type, payload and global serial.
#[derive(Debug, PartialEq, Eq)]
pub struct Event {
    pub kind: Kind,
    pub payload: String,
    pub serial: u64,
}

/// An event in one pool's queue, with the serial that pool gave it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Queued {
    pub event: Arc<Event>,
    pub pool_serial: u64,
}

/// Supervisor's serials: from 0, back to 0 after the largest (`sys.maxsize`).
#[derive(Debug, Default)]
pub struct Serial {
    next: u64,
}

impl Serial {
    pub fn take(&mut self) -> u64 {
        let n = self.next;
        self.next = if n == i64::MAX as u64 { 0 } else { n + 1 };
        n
    }
}

#[derive(Debug)]
pub struct Pool {
    pub name: String,
    /// `events=`, as written (upper-cased): concrete or abstract type names.
    pub subscriptions: Vec<String>,
    buffer_size: usize,
    queue: VecDeque<Queued>,
    serial: Serial,
}

impl Pool {
    /// `buffer_size` is at least 1 (the config refuses 0, as Supervisor's does).
    pub fn new(name: String, subscriptions: Vec<String>, buffer_size: usize) -> Pool {
        Pool {
            name,
            subscriptions,
            buffer_size: buffer_size.max(1),
            queue: VecDeque::new(),
            serial: Serial::default(),
        }
    }

    pub fn subscribed(&self, kind: Kind) -> bool {
        self.subscriptions.iter().any(|s| kind.subscribed(s))
    }

    /// A new event, given this pool's next serial and queued last; the event it pushed out, if
    /// the queue was full (Supervisor logs `pool P event buffer overflowed, discarding event S`).
    pub fn accept(&mut self, event: Arc<Event>) -> Option<Queued> {
        let q = Queued {
            event,
            pool_serial: self.serial.take(),
        };
        let dropped = self.make_room();
        self.queue.push_back(q);
        dropped
    }

    /// An event a listener rejected (or died holding), back at the head with its serials.
    pub fn rebuffer(&mut self, q: Queued) -> Option<Queued> {
        let dropped = self.make_room();
        self.queue.push_front(q);
        dropped
    }

    fn make_room(&mut self) -> Option<Queued> {
        if self.queue.len() >= self.buffer_size {
            self.queue.pop_front()
        } else {
            None
        }
    }

    /// The oldest event, to offer to a listener; if none takes it, [`Pool::rebuffer`] it.
    pub fn pop(&mut self) -> Option<Queued> {
        self.queue.pop_front()
    }

    /// The queue, oldest first.
    pub fn iter(&self) -> impl Iterator<Item = &Queued> {
        self.queue.iter()
    }

    pub fn len(&self) -> usize {
        self.queue.len()
    }

    pub fn is_empty(&self) -> bool {
        self.queue.is_empty()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn serials_wrap_as_supervisors() {
        let mut s = Serial {
            next: i64::MAX as u64,
        };
        assert_eq!(s.take(), i64::MAX as u64);
        assert_eq!(s.take(), 0);
    }
}
