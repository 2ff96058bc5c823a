//! proctord's bookkeeping of its live children: the only processes it will ever signal.

use nix::unistd::Pid;
use proctor_wire::ids::ChildId;
use std::collections::{BTreeMap, HashMap};
use std::os::fd::OwnedFd;

pub struct Child {
    pub pid: Pid,
    /// Every signal goes through this, so a recycled pid can never be hit.
    pub pidfd: OwnedFd,
    pub program: String,
    pub process_num: u32,
    pub started: u64,
    /// proctord's copies of the read ends of the log pipes. Never read here: they keep the pipes
    /// open while controld is down (services block instead of dying of SIGPIPE), and a restarted
    /// controld gets them again.
    pub stdout: OwnedFd,
    pub stderr: Option<OwnedFd>,
    /// proctord's copy of the write end of its stdin pipe, for a restarted controld.
    pub stdin: OwnedFd,
}

/// Indexed by name and by pid too: with a thousand services, a scan per spawn or per exit
/// would make starting them all quadratic.
#[derive(Default)]
pub struct Children {
    by_id: BTreeMap<ChildId, Child>,
    by_name: HashMap<(String, u32), ChildId>,
    by_pid: HashMap<Pid, ChildId>,
    last_id: ChildId,
}

impl Children {
    /// Registers a child and issues its id. Ids are never reused while proctord lives and are
    /// unrelated to pids.
    pub fn insert(&mut self, child: Child) -> ChildId {
        self.last_id = ChildId(self.last_id.0 + 1);
        let id = self.last_id;
        self.by_name
            .insert((child.program.clone(), child.process_num), id);
        self.by_pid.insert(child.pid, id);
        self.by_id.insert(id, child);
        id
    }

    pub fn get(&self, id: ChildId) -> Option<&Child> {
        self.by_id.get(&id)
    }

    pub fn running(&self, program: &str, process_num: u32) -> Option<ChildId> {
        self.by_name
            .get(&(program.to_owned(), process_num))
            .copied()
    }

    /// Removes the child with this pid after it was reaped.
    pub fn remove_pid(&mut self, pid: Pid) -> Option<(ChildId, Child)> {
        let id = self.by_pid.remove(&pid)?;
        let child = self.by_id.remove(&id)?;
        self.by_name
            .remove(&(child.program.clone(), child.process_num));
        Some((id, child))
    }

    pub fn iter(&self) -> impl Iterator<Item = (ChildId, &Child)> {
        self.by_id.iter().map(|(id, c)| (*id, c))
    }

    pub fn is_empty(&self) -> bool {
        self.by_id.is_empty()
    }

    pub fn len(&self) -> usize {
        self.by_id.len()
    }
}
