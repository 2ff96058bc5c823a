//! TICK_5, TICK_60 and TICK_3600, as supervisord sends them: each time a wall-clock slice of
//! the period begins (the first after start included), with the slice's start as `when`.
//! controld wakes for them only while some pool subscribes to one: without listeners it never
//! wakes on its own.

use super::Supervisor;
use proctor_events::event::{self, Kind};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

const PERIODS: [(u64, Kind); 3] = [(5, Kind::Tick5), (60, Kind::Tick60), (3600, Kind::Tick3600)];

/// The slice of each period that was current when last looked at.
pub struct Ticks {
    last: [u64; 3],
}

fn now() -> Duration {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
}

impl Ticks {
    pub fn new() -> Ticks {
        let now = now().as_secs();
        Ticks {
            last: PERIODS.map(|(p, _)| now - now % p),
        }
    }
}

impl Supervisor {
    /// How long until the next slice of a period some pool subscribes to begins.
    pub(super) fn next_tick(&self) -> Option<Duration> {
        let now = now();
        PERIODS
            .iter()
            .filter(|(_, kind)| self.pools.values().any(|p| p.pool.subscribed(*kind)))
            .map(|(period, _)| {
                let next = Duration::from_secs((now.as_secs() / period + 1) * period);
                next.saturating_sub(now)
            })
            .min()
    }

    /// Sends the TICK events of every period whose slice has changed.
    pub(super) fn tick(&mut self) {
        let now = now().as_secs();
        for (i, (period, kind)) in PERIODS.iter().enumerate() {
            let this = now - now % period;
            if this != self.ticks.last[i] {
                self.ticks.last[i] = this;
                self.notify(*kind, event::tick(this), None);
            }
        }
    }
}
