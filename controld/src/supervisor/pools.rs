//! Event listener pools, as supervisord's `EventListenerPool` runs them: every event goes into
//! the queue of each pool subscribed to it, and from there to the first of the pool's
//! listeners that is RUNNING and READY; a rejected event, or one whose listener died BUSY,
//! goes back to the head of its queue with its serials and is sent again.

use super::{Key, Supervisor};
use crate::events::Who;
use crate::listeners::{self, Said};
use proctor_api::control::ProcessState;
use proctor_events::event::{self, Kind};
use proctor_events::pool::{Event, Pool, Queued};
use proctor_events::{ListenerState, Step};
use std::sync::Arc;
use tracing::{debug, error, warn};

impl Supervisor {
    /// An event happened: to `proctorctl events` when it is about a process (`who`), and into
    /// every pool subscribed to its type, which then send what they can.
    pub(super) fn notify(&mut self, kind: Kind, payload: String, who: Option<Who>) {
        let subscribed: Vec<String> = self
            .pools
            .iter()
            .filter(|(_, p)| p.pool.subscribed(kind))
            .map(|(name, _)| name.clone())
            .collect();
        if subscribed.is_empty() {
            if let Some(who) = who {
                self.events.publish(who, kind, payload);
            }
            return;
        }
        // One global serial per event, taken only when some pool accepts it (Supervisor's
        // GlobalSerial).
        let e = Arc::new(Event {
            kind,
            payload,
            serial: self.event_serial.take(),
        });
        if let Some(who) = who {
            self.events.publish(who, kind, e.payload.clone());
        }
        for name in subscribed {
            if let Some(state) = self.pools.get_mut(&name) {
                if let Some(dropped) = state.pool.accept(e.clone()) {
                    overflowed(&name, &dropped);
                }
            }
            self.dispatch(&name);
        }
    }

    /// Events a service's output made.
    pub(super) fn notices(&mut self, notices: Vec<crate::output_events::Notice>) {
        for n in notices {
            self.notify(n.kind, n.payload, Some(n.who));
        }
    }

    /// Sends the pool's queued events, oldest first, each to the first RUNNING and READY
    /// listener; stops at the first that none can take, which stays at the head.
    pub(super) fn dispatch(&mut self, pool_name: &str) {
        loop {
            let Some(q) = self.pools.get_mut(pool_name).and_then(|s| s.pool.pop()) else {
                return;
            };
            if !self.send_to_a_listener(pool_name, &q) {
                if let Some(state) = self.pools.get_mut(pool_name) {
                    if let Some(dropped) = state.pool.rebuffer(q) {
                        overflowed(pool_name, &dropped);
                    }
                }
                return;
            }
        }
    }

    /// Supervisor's `_dispatchEvent`: the first listener of the pool that is RUNNING and READY
    /// and whose stdin takes the envelope gets the event and is BUSY.
    fn send_to_a_listener(&mut self, pool_name: &str, q: &Queued) -> bool {
        let Some(members) = self.pools.get(pool_name).map(|p| p.members.clone()) else {
            return false;
        };
        let mut envelope = None;
        for key in &members {
            let Some(p) = self.procs.get_mut(key) else {
                continue;
            };
            if p.life.state() != ProcessState::Running {
                continue;
            }
            let (Some(link), Some(stdin)) = (&mut p.listener, &p.stdin) else {
                continue;
            };
            // READY as the supervisor has read it, not only as the reader has: the reader may
            // already have fed the answer to the event in flight and the next READY, whose
            // steps (the answer first) are still on their way here.
            if !link.ready {
                continue;
            }
            let Ok(mut protocol) = link.protocol.lock() else {
                continue;
            };
            // And still READY: bytes after it may have made it UNKNOWN meanwhile.
            if protocol.state() != ListenerState::Ready {
                continue;
            }
            let envelope = envelope.get_or_insert_with(|| {
                event::envelope(
                    &self.config.daemon.identifier,
                    q.event.serial,
                    pool_name,
                    q.pool_serial,
                    q.event.kind,
                    &q.event.payload,
                )
                .into_bytes()
            });
            if let Err(e) = listeners::send(stdin, envelope.clone()) {
                debug!(
                    "{e} while sending event {} to listener {}, listener state unchanged",
                    q.event.serial, p.name
                );
                continue;
            }
            protocol.sent();
            drop(protocol);
            link.ready = false;
            link.in_flight = Some(q.clone());
            debug!("event {} sent to listener {}", q.event.serial, p.name);
            return true;
        }
        false
    }

    /// What a listener wrote came to these steps.
    pub(super) fn listener_said(&mut self, said: Said) {
        let Some(p) = self.procs.get_mut(&said.key) else {
            return;
        };
        // From a child that has exited since: its event was sent again already.
        if p.life.phase.child().map(|c| c.id) != Some(said.id) {
            return;
        }
        let (name, pool) = (p.name.clone(), p.group.clone());
        let Some(link) = &mut p.listener else {
            return;
        };
        let mut rejected = Vec::new();
        for step in said.steps {
            match step {
                Step::State(ListenerState::Unknown) => {
                    link.ready = false;
                    warn!(
                        "{name}: has entered the UNKNOWN state and will no longer receive \
                         events, this usually indicates the process violated the eventlistener \
                         protocol"
                    )
                }
                Step::State(state) => {
                    link.ready = state == ListenerState::Ready;
                    debug!("{name}: -> {}", state.name())
                }
                Step::Result { ok: true, .. } => {
                    debug!("{name}: event was processed");
                    link.in_flight = None;
                }
                Step::Result { ok: false, .. } => {
                    warn!("{name}: event was rejected");
                    rejected.extend(link.in_flight.take());
                }
                Step::BadResultLine(line) => {
                    warn!("{line}");
                    warn!("{name}: event caused an error");
                    rejected.extend(link.in_flight.take());
                }
            }
        }
        self.rebuffer(&pool, rejected);
        self.dispatch(&pool);
    }

    /// A listener's child is gone: the event it held, if it was BUSY, is sent again.
    pub(super) fn listener_gone(&mut self, key: &Key) {
        let Some(p) = self.procs.get_mut(key) else {
            return;
        };
        let Some(mut link) = p.listener.take() else {
            return;
        };
        let pool = p.group.clone();
        self.rebuffer(&pool, link.in_flight.take().into_iter().collect());
        self.dispatch(&pool);
    }

    fn rebuffer(&mut self, pool_name: &str, events: Vec<Queued>) {
        let Some(PoolState { pool, .. }) = self.pools.get_mut(pool_name) else {
            return;
        };
        for q in events {
            debug!(
                "rebuffering event {} for pool {pool_name} (buf size={})",
                q.event.serial,
                pool.len()
            );
            if let Some(dropped) = pool.rebuffer(q) {
                overflowed(pool_name, &dropped);
            }
        }
    }

    /// Group `name` was added (its processes exist now): its pool if it is an
    /// `[eventlistener:x]`, then PROCESS_GROUP_ADDED, which the new pool receives too, as in
    /// Supervisor (a pool subscribes when it is made, before its group is announced).
    pub(super) fn group_added(&mut self, name: &str) {
        self.group_pool(name);
        self.notify(Kind::ProcessGroupAdded, event::process_group(name), None);
    }

    /// The pool of group `name`, new and empty, if the group is an `[eventlistener:x]`.
    pub(super) fn group_pool(&mut self, name: &str) {
        let members: Vec<Key> = self
            .procs
            .iter()
            .filter(|(_, p)| p.group == name)
            .map(|(k, _)| k.clone())
            .collect();
        let listener = members
            .first()
            .and_then(|k| self.procs.get(k))
            .and_then(|p| p.cfg.listener.clone());
        if let Some(l) = listener {
            let pool = Pool::new(name.to_owned(), l.events, l.buffer_size as usize);
            self.pools
                .insert(name.to_owned(), PoolState { pool, members });
        }
    }

    /// Group `name` is gone: so is its pool and what it held, then PROCESS_GROUP_REMOVED.
    pub(super) fn group_removed(&mut self, name: &str) {
        self.pools.remove(name);
        self.notify(Kind::ProcessGroupRemoved, event::process_group(name), None);
    }
}

/// A pool, and its listeners in the order they are offered events (Supervisor's: by process).
pub struct PoolState {
    pub pool: Pool,
    pub members: Vec<Key>,
}

fn overflowed(pool: &str, dropped: &Queued) {
    error!(
        "pool {pool} event buffer overflowed, discarding event {}",
        dropped.event.serial
    );
}
