//! What a controld learns when it starts: the children proctord already runs (a controld that
//! died is being replaced), the exits nobody heard of meanwhile, and then, at the very first
//! start only, the autostart programs to start.

use super::from_helper::attach_pipes;
use super::{Key, Supervisor};
use crate::lifecycle::{Child, Input, Phase};
use proctor_wire::helper::{ExitStatus, Pipes};
use std::os::fd::OwnedFd;
use tracing::{info, warn};

impl Supervisor {
    /// A live child started by an earlier controld, `started` seconds since the epoch.
    pub(super) async fn adopt(
        &mut self,
        key: Key,
        child: Child,
        started: u64,
        mut fds: Vec<OwnedFd>,
        pipes: Pipes,
    ) {
        let Some(p) = self.procs.get_mut(&key) else {
            warn!(
                pid = %child.pid,
                "proctord has a child of program {} that the config no longer has", key.0
            );
            return;
        };
        attach_pipes(p, &mut fds, pipes);
        info!("adopted '{}' (pid {}) from proctord", p.namespec, child.pid);
        self.by_id.insert(child.id, key.clone());
        let _ = self.feed(&key, Input::Adopted { child, started }).await;
    }

    /// A service that exited while no controld was running.
    pub(super) async fn exited_away(
        &mut self,
        key: Key,
        status: ExitStatus,
        mut fds: Vec<OwnedFd>,
        pipes: Pipes,
    ) {
        let Some(p) = self.procs.get_mut(&key) else {
            return;
        };
        // What it wrote last may still be in its pipes.
        attach_pipes(p, &mut fds, pipes);
        let _ = self.feed(&key, Input::ExitedAway(status)).await;
    }

    /// Every live child and missed exit is known.
    pub(super) async fn children_listed(&mut self, first_start: bool) {
        if first_start {
            let keys: Vec<Key> = self
                .procs
                .iter()
                .filter(|(_, p)| p.cfg.autostart && p.life.phase == Phase::Stopped)
                .map(|(k, _)| k.clone())
                .collect();
            let _ = self.start_keys(keys, true).await;
        } else {
            info!("restarted: adopted {} running services", self.by_id.len());
        }
    }
}
