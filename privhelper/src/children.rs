//! proctord's bookkeeping of its live children: the only processes it will ever signal.

use std::collections::{BTreeMap, HashMap};
use std::os::fd::OwnedFd;

pub struct Child {
    pub pid: i32,
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
}

/// Indexed by name and by pid too: with a thousand services, a scan per spawn or per exit
/// would make starting them all quadratic.
#[derive(Default)]
pub struct Children {
    by_id: BTreeMap<u64, Child>,
    by_name: HashMap<(String, u32), u64>,
    by_pid: HashMap<i32, u64>,
    last_id: u64,
}

impl Children {
    /// Registers a child and issues its id. Ids are never reused while proctord lives and are
    /// unrelated to pids.
    pub fn insert(&mut self, child: Child) -> u64 {
        self.last_id += 1;
        self.by_name
            .insert((child.program.clone(), child.process_num), self.last_id);
        self.by_pid.insert(child.pid, self.last_id);
        self.by_id.insert(self.last_id, child);
        self.last_id
    }

    pub fn get(&self, id: u64) -> Option<&Child> {
        self.by_id.get(&id)
    }

    pub fn running(&self, program: &str, process_num: u32) -> Option<u64> {
        self.by_name
            .get(&(program.to_owned(), process_num))
            .copied()
    }

    /// Removes the child with this pid after it was reaped.
    pub fn remove_pid(&mut self, pid: i32) -> Option<(u64, Child)> {
        let id = self.by_pid.remove(&pid)?;
        let child = self.by_id.remove(&id)?;
        self.by_name
            .remove(&(child.program.clone(), child.process_num));
        Some((id, child))
    }

    pub fn iter(&self) -> impl Iterator<Item = (u64, &Child)> {
        self.by_id.iter().map(|(id, c)| (*id, c))
    }

    pub fn is_empty(&self) -> bool {
        self.by_id.is_empty()
    }

    pub fn len(&self) -> usize {
        self.by_id.len()
    }
}
