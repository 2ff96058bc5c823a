//! proctord's messages: answers to orders, exits, and the live children a restarted controld
//! adopts.

use super::{fail, Key, Pending, Supervisor};
use crate::lifecycle::{Child, Input, Phase};
use crate::link;
use crate::logs;
use crate::procs::Proc;
use proctor_api::control::{ActionCode, ErrorKind};
use proctor_wire::helper::{ExitStatus, HelperMsg, Pipes};
use proctor_wire::ids::ChildId;
use proctor_wire::order::OrderKind;
use proctor_wire::refusal::{Names, Refusal};
use std::os::fd::OwnedFd;
use std::sync::Arc;
use tracing::{error, info, warn};

impl Supervisor {
    pub(super) async fn helper(&mut self, msg: HelperMsg, mut fds: Vec<OwnedFd>) {
        match msg {
            HelperMsg::Spawned {
                seq,
                id,
                pid,
                pipes,
            } => {
                let Some(Pending::Spawn(key)) = self.pending.remove(&seq) else {
                    warn!(%seq, "Spawned for an order we did not send");
                    return;
                };
                let Some(p) = self.procs.get_mut(&key) else {
                    return;
                };
                info!("spawned: '{}' with pid {pid}", p.namespec);
                let child = Child { id, pid };
                attach_pipes(p, &mut fds, pipes, Some((child, &self.tx)));
                self.by_id.insert(id, key.clone());
                let _ = self.feed(&key, Input::Spawned(child)).await;
            }
            HelperMsg::Refused { seq, refusal } => match self.pending.remove(&seq) {
                Some(Pending::Spawn(key)) => {
                    if let Some(p) = self.procs.get_mut(&key) {
                        p.spawn_code = start_code(&refusal);
                    }
                    let input = Input::SpawnRefused {
                        reason: self.word(&refusal, &key),
                        permanent: refusal.permanent(),
                    };
                    let _ = self.feed(&key, input).await;
                }
                Some(Pending::Signal(tx)) => {
                    let reason = refusal.to_string();
                    warn!("signal refused: {reason}");
                    if let Some(tx) = tx {
                        let _ = tx.send(Err(reason));
                    }
                }
                Some(Pending::Config(reply)) => {
                    let _ = reply.send(fail(ErrorKind::CantReread, refusal.to_string()));
                }
                Some(Pending::Children { .. }) | None => {
                    warn!(%seq, "proctord refused: {refusal}")
                }
            },
            HelperMsg::Signalled { seq } => {
                if let Some(Pending::Signal(Some(tx))) = self.pending.remove(&seq) {
                    let _ = tx.send(Ok(()));
                }
            }
            HelperMsg::Config {
                seq,
                generation,
                current,
            } => {
                let Some(Pending::Config(reply)) = self.pending.remove(&seq) else {
                    return;
                };
                let r = match fds.pop().map(link::read_config) {
                    Some(Ok(c)) => {
                        if current {
                            // proctord spawns from this from now on: so must every order.
                            self.config = c.clone();
                            self.generation = generation;
                        }
                        Ok((c, generation))
                    }
                    Some(Err(e)) => {
                        fail(ErrorKind::Failed, format!("bad config from proctord: {e}"))
                    }
                    None => fail(ErrorKind::Failed, "config message without its fd"),
                };
                let _ = reply.send(r);
            }
            HelperMsg::Exited { id, status, .. } => self.exited(id, status).await,
            HelperMsg::Child {
                id,
                pid,
                program,
                process_num,
                started,
                pipes,
                ..
            } => {
                let child = Child { id, pid };
                self.adopt((program, process_num), child, started, fds, pipes)
                    .await
            }
            HelperMsg::ExitedAway {
                program,
                process_num,
                status,
                pipes,
                ..
            } => {
                self.exited_away((program, process_num), status, fds, pipes)
                    .await
            }
            HelperMsg::ChildrenEnd { seq } => {
                if let Some(Pending::Children { first_start }) = self.pending.remove(&seq) {
                    self.children_listed(first_start).await;
                }
            }
            HelperMsg::ShutdownRequested => self.shutdown(),
            HelperMsg::ReloadPolicy => {
                // Reading the file and looking its accounts up blocks: off the async workers,
                // and the supervisor goes on meanwhile.
                let auth = self.auth.clone();
                tokio::task::spawn_blocking(move || match auth.reload() {
                    Ok(what) => info!("SIGHUP: {what}"),
                    Err(e) => {
                        error!("SIGHUP: policy refused, the previous one stays in force: {e}")
                    }
                });
            }
            HelperMsg::ReopenLogs => {
                let sinks = self.sinks.all();
                tokio::task::spawn_blocking(move || {
                    for s in &sinks {
                        s.reopen();
                    }
                    info!("SIGUSR2: reopened {} log files", sinks.len());
                });
            }
            HelperMsg::Hello { .. } => warn!("unexpected second Hello from proctord"),
        }
    }

    /// A refused spawn of `key`, worded with the names in the config it was spawned from:
    /// proctord answers orders in the order they came, so the answer to a Spawn arrives before
    /// the answer to any Reload sent after it, while `self.config` is still the spawn's.
    fn word(&self, refusal: &Refusal, key: &Key) -> String {
        let Some((_, prog)) = self.config.program(&key.0) else {
            return refusal.to_string();
        };
        let process = prog.processes.iter().find(|p| p.process_num == key.1);
        refusal.describe(Names {
            program: Some(&prog.name),
            process: process.map(|p| p.name.as_str()),
            user: prog.user.as_deref(),
            command: process.and_then(|p| p.argv.first()).map(String::as_str),
        })
    }

    async fn exited(&mut self, id: ChildId, status: ExitStatus) {
        if let Some(key) = self.by_id.remove(&id) {
            let _ = self.feed(&key, Input::Exited { id, status }).await;
            // After its EXITED event, as supervisord's `finish` puts the event back.
            self.listener_gone(&key);
            // Removed from the config by `update`: gone once stopped.
            if self
                .procs
                .get(&key)
                .is_some_and(|p| p.removing && p.life.phase == Phase::Stopped)
            {
                self.procs.remove(&key);
            }
        }
        self.order(OrderKind::AckExit { id }, None).await;
    }
}

/// How Supervisor's `startProcess` names a spawn that failed this way: it looks for the command
/// before it forks, and says NO_FILE for one it cannot find, NOT_EXECUTABLE for one it may not
/// run; anything else is SPAWN_ERROR.
fn start_code(refusal: &Refusal) -> ActionCode {
    use proctor_wire::refusal::{ChildStep, SpawnFailure};
    match refusal {
        Refusal::Spawn(SpawnFailure::CommandNotFound) => ActionCode::NoFile,
        Refusal::Spawn(SpawnFailure::EmptyCommand | SpawnFailure::CommandNotExecutable) => {
            ActionCode::NotExecutable
        }
        Refusal::Spawn(SpawnFailure::Child {
            step: ChildStep::Exec,
            errno,
        }) if [libc::EACCES, libc::ENOEXEC, libc::EISDIR].contains(&errno.0) => {
            ActionCode::NotExecutable
        }
        _ => ActionCode::SpawnError,
    }
}

/// Pumps a child's output pipes into its logs, and keeps its stdin pipe (a live child's) for
/// `sendProcessStdin`. A live child's (`live`: the child, and where to send what its output
/// comes to) channels that make events are read for them, and an event listener's stdout as
/// the listener protocol, from a fresh start.
pub(super) fn attach_pipes(
    p: &mut Proc,
    fds: &mut Vec<OwnedFd>,
    pipes: Pipes,
    live: Option<(Child, &tokio::sync::mpsc::Sender<super::Event>)>,
) {
    let mut it = std::mem::take(fds).into_iter();
    let key = (p.program.clone(), p.process_num);
    let tx = live.map(|(_, tx)| tx);
    let (out_tap, err_tap) = match live {
        Some((child, _)) => (tap(p, "stdout", child), tap(p, "stderr", child)),
        None => (None, None),
    };
    if let Some(out) = it.next() {
        match live.filter(|_| p.cfg.listener.is_some()) {
            Some((child, tx)) => {
                let link = crate::listeners::ListenerLink::new();
                tokio::spawn(crate::listeners::read_stdout(
                    out,
                    p.stdout.clone(),
                    link.protocol.clone(),
                    tx.clone(),
                    key,
                    child.id,
                ));
                p.listener = Some(link);
            }
            None => read_output(out, &p.stdout, out_tap, tx),
        }
    }
    if pipes.stderr {
        if let Some(err) = it.next() {
            read_output(err, &p.stderr, err_tap, tx);
        }
    }
    if pipes.stdin {
        p.stdin = it.next().map(Arc::new);
    }
}

/// What a channel of `p`'s live `child` must make events of, if anything.
fn tap(p: &Proc, channel: &'static str, child: Child) -> Option<crate::output_events::Tap> {
    let process = p.cfg.processes.get(p.instance.get())?;
    let log = if channel == "stdout" {
        &process.stdout
    } else {
        &process.stderr
    };
    (log.events_enabled || log.capture_maxbytes > 0).then(|| crate::output_events::Tap {
        channel,
        log_events: log.events_enabled,
        capture_maxbytes: usize::try_from(log.capture_maxbytes).unwrap_or(usize::MAX),
        who: p.who(),
        pid: u32::try_from(child.pid.as_raw()).unwrap_or(0),
    })
}

/// A channel into its log: read for its events when it makes any, else pumped.
fn read_output(
    fd: OwnedFd,
    sink: &Arc<logs::LogSink>,
    tap: Option<crate::output_events::Tap>,
    tx: Option<&tokio::sync::mpsc::Sender<super::Event>>,
) {
    match (tap, tx) {
        (Some(tap), Some(tx)) => {
            tokio::spawn(crate::output_events::read(
                fd,
                sink.clone(),
                tap,
                tx.clone(),
            ));
        }
        _ => {
            tokio::spawn(logs::pump(fd, sink.clone()));
        }
    }
}
