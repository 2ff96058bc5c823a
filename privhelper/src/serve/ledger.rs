//! The exit ledger: services that exited, kept until a controld has handled them. A controld
//! that dies before acknowledging an exit must not lose it: its successor is told instead.

use proctor_wire::helper::ExitStatus;
use proctor_wire::ids::ChildId;
use std::collections::BTreeMap;
use std::os::fd::OwnedFd;

/// A service that exited. Its pipes' read ends are kept too: what it wrote last may still be
/// in them, unread.
pub struct Exit {
    pub program: String,
    pub process_num: u32,
    pub status: ExitStatus,
    pub stdout: OwnedFd,
    pub stderr: Option<OwnedFd>,
}

#[derive(Default)]
pub struct Ledger {
    /// Exited while no controld could hear it (none running, or not yet given the children).
    away: Vec<Exit>,
    /// Reported to the current controld, not yet acknowledged.
    unacked: BTreeMap<ChildId, Exit>,
}

impl Ledger {
    /// An exit reported to controld as `id`, kept until it says it handled it.
    pub fn reported(&mut self, id: ChildId, exit: Exit) {
        self.unacked.insert(id, exit);
    }

    /// An exit no controld has heard of.
    pub fn away(&mut self, exit: Exit) {
        self.away.push(exit);
    }

    /// controld handled exit `id`; false when no such exit waits.
    pub fn ack(&mut self, id: ChildId) -> bool {
        self.unacked.remove(&id).is_some()
    }

    /// controld died: what it did not acknowledge goes to its successor.
    pub fn controld_gone(&mut self) {
        let unacked = std::mem::take(&mut self.unacked);
        self.away.extend(unacked.into_values());
    }

    /// The exits a new controld must be told of, once.
    pub fn take_away(&mut self) -> Vec<Exit> {
        std::mem::take(&mut self.away)
    }
}
