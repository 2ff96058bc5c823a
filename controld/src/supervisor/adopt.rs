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
        attach_pipes(p, &mut fds, pipes, Some((child, &self.tx)));
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
        attach_pipes(p, &mut fds, pipes, None);
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
            self.restart_adopted_listeners();
        }
    }

    /// An event listener's place in the protocol went with the controld that died (it may
    /// have said READY to it, or hold an event it sent): each adopted one is stopped and
    /// started again, so that it starts the protocol afresh.
    fn restart_adopted_listeners(&mut self) {
        let (keys, names): (Vec<Key>, Vec<String>) = self
            .procs
            .iter()
            .filter(|(_, p)| p.cfg.listener.is_some() && p.life.state().is_running())
            .map(|(k, p)| (k.clone(), p.namespec.clone()))
            .unzip();
        if keys.is_empty() {
            return;
        }
        warn!(
            "restarting the event listeners {}: where they were in the protocol was lost with \
             the previous controld",
            names.join(", ")
        );
        let tx = self.tx.clone();
        tokio::spawn(async move {
            super::stop_in_order(tx.clone(), vec![keys]).await;
            let (reply, _) = tokio::sync::oneshot::channel();
            let start = super::Cmd::Start(names, false, reply);
            let _ = tx.send(super::Event::Cmd(Box::new(start))).await;
        });
    }
}
