//! One handler per order. Each checks the order against proctord's own state and config and
//! either carries it out (and answers) or refuses it with a [`Refusal`]: this, the order
//! decoder in `proctor-wire` and the channel are all the code a compromised controld reaches.

use super::{Helper, Phase};
use crate::children::Child;
use crate::spawn::{self, SpawnContext};
use crate::sys;
use proctor_config::Config;
use proctor_wire::helper::{HelperMsg, Pipes};
use proctor_wire::ids::{ChildId, Generation, InstanceIndex, ProgramIndex, Seq};
use proctor_wire::order::{Order, OrderKind};
use proctor_wire::refusal::{Errno, Handover, Refusal, MAX_DIAGNOSTIC};
use proctor_wire::signal::AllowedSignal;
use std::io::Write;
use std::os::fd::OwnedFd;
use tracing::{error, info, warn};

impl Helper {
    pub(super) fn execute(&mut self, order: Order) {
        let seq = order.seq;
        let done = match order.kind {
            OrderKind::Spawn {
                generation,
                program,
                instance,
            } => self.spawn(seq, generation, program, instance),
            OrderKind::Signal { id, signal, group } => self.signal(seq, id, signal, group),
            OrderKind::Reload => self.read_config(seq, true),
            OrderKind::ReadConfig => self.read_config(seq, false),
            OrderKind::Children => {
                self.list_children(seq);
                // A controld asks for the children once it serves the control socket (it
                // answers requests as soon as it has them): systemd may start what depends on
                // proctor.
                if !self.told_ready {
                    self.told_ready = true;
                    self.notifier.say("READY=1");
                }
                Ok(())
            }
            OrderKind::AckExit { id } => {
                if self.exits.ack(id) {
                    Ok(())
                } else {
                    Err(Refusal::NoExit(id))
                }
            }
            OrderKind::Sealed { count } => match &mut self.sealer {
                Some(s) => s.sealed(count),
                None => Err(Refusal::NotSealing),
            },
            OrderKind::Quit => {
                info!(%seq, "controld is quitting; proctord exits after it");
                self.notifier.say("STOPPING=1");
                self.phase = match self.phase {
                    Phase::Serving => Phase::Quitting { signalled: false },
                    Phase::ShuttingDown => Phase::Quitting { signalled: true },
                    other => other,
                };
                Ok(())
            }
        };
        if let Err(refusal) = done {
            self.refuse(seq, refusal);
        }
    }

    fn spawn(
        &mut self,
        seq: Seq,
        generation: Generation,
        program: ProgramIndex,
        instance: InstanceIndex,
    ) -> Result<(), Refusal> {
        if self.phase != Phase::Serving {
            return Err(Refusal::ShuttingDown);
        }
        let stale = Refusal::StaleGeneration {
            ordered: generation,
            current: self.generation,
        };
        let config = if generation == self.generation {
            &self.config
        } else {
            self.earlier
                .iter()
                .find(|(g, _)| *g == generation)
                .map(|(_, c)| c)
                .ok_or(stale)?
        };
        let prog = config
            .programs
            .get(program.get())
            .ok_or(Refusal::NoProgram(program))?;
        let process = prog
            .processes
            .get(instance.get())
            .ok_or(Refusal::NoInstance {
                program,
                instance,
                numprocs: prog.numprocs,
            })?;
        if let Some(id) = self.children.running(&prog.name, process.process_num) {
            return Err(Refusal::AlreadyRunning {
                program,
                instance,
                id,
            });
        }
        let ctx = SpawnContext {
            root_mode: self.root_mode,
            socket: &self.socket,
            inherited_env: &self.inherited_env,
            own_uids: &self.own_uids,
        };
        // From proctord's own sockets, for the program as its config says: an order names a
        // program, never an address. A program of an earlier config whose socket has since
        // closed cannot start: its config is stale.
        let sockets = self
            .held
            .fds_of(prog)
            .ok_or(stale_again(generation, self.generation))?;
        let started = spawn::spawn(&ctx, &mut self.accounts, prog, process, &sockets)
            .map_err(Refusal::Spawn)?;
        let pipes = Pipes {
            stderr: started.stderr.is_some(),
            stdin: true,
        };
        let fds =
            pipe_copies(&started.stdout, started.stderr.as_ref(), &started.stdin).map_err(|e| {
                // Without its pipes controld could not log it: it must not run.
                let _ = sys::pidfd_send_signal(&started.pidfd, libc::SIGKILL);
                Refusal::Handover {
                    what: Handover::Pipes,
                    errno: Some(Errno::from(&e)),
                }
            })?;
        let (name, num, pid) = (prog.name.clone(), process.process_num, started.pid);
        let id = self.children.insert(Child {
            pid,
            pidfd: started.pidfd,
            program: name.clone(),
            process_num: num,
            started: proctor_daemon::now_secs(),
            stdout: started.stdout,
            stderr: started.stderr,
            stdin: started.stdin,
        });
        info!(%seq, %id, %pid, program = %name, process_num = num, "spawned");
        self.queue(
            &HelperMsg::Spawned {
                seq,
                id,
                pid,
                pipes,
            },
            fds,
        );
        Ok(())
    }

    fn signal(
        &mut self,
        seq: Seq,
        id: ChildId,
        signal: AllowedSignal,
        group: bool,
    ) -> Result<(), Refusal> {
        let child = self.children.get(id).ok_or(Refusal::NoChild(id))?;
        let result = if group {
            // The child is unreaped (still in our table), so its pid, which is also its process
            // group id since it called setsid, cannot have been reused.
            sys::kill_process_group(child.pid, signal.number())
        } else {
            sys::pidfd_send_signal(&child.pidfd, signal.number())
        };
        if let Err(e) = result {
            return Err(Refusal::SignalFailed {
                id,
                signal,
                errno: Errno::from(&e),
            });
        }
        info!(%seq, %id, pid = %child.pid, signal = signal.name(), group, "signalled");
        self.queue(&HelperMsg::Signalled { seq }, Vec::new());
        Ok(())
    }

    /// Reads the config file again and sends it; with `current`, it is in force from now on.
    fn read_config(&mut self, seq: Seq, current: bool) -> Result<(), Refusal> {
        let loaded = proctor_config::load(&self.config_path, &self.load_ctx)
            .map_err(|d| Refusal::Config(d.bounded(MAX_DIAGNOSTIC)))?;
        for w in &loaded.warnings {
            warn!("{w}");
        }
        // The start-up rule holds for every reload: no service under proctor's own accounts.
        crate::rootmode::no_service_as(&loaded.config, &self.own_uids)
            .map_err(|d| Refusal::Config(d.bounded(MAX_DIAGNOSTIC)))?;
        if let Some(controld) = self.controld_uid {
            for w in crate::rootmode::log_dirs(&loaded.config, controld)
                .map_err(|d| Refusal::Config(d.bounded(MAX_DIAGNOSTIC)))?
            {
                warn!("{w}");
            }
        }
        let fd = config_memfd(&loaded.config).map_err(|e| Refusal::Handover {
            what: Handover::Config,
            errno: e.raw_os_error().map(Errno),
        })?;
        if current {
            // Every socket the new config names is held before it is in force, or nothing
            // changes.
            self.held
                .reconcile(&loaded.config, false)
                .map_err(|d| Refusal::Config(d.bounded(MAX_DIAGNOSTIC)))?;
        }
        let generation = if current {
            let before = std::mem::replace(&mut self.config, loaded.config);
            self.earlier.push_back((self.generation, before));
            if self.earlier.len() > super::KEPT_GENERATIONS {
                self.earlier.pop_front();
            }
            self.generation = self.generation.next();
            proctor_daemon::give_back_free_heap();
            info!(%seq, generation = %self.generation, "config reloaded");
            self.generation
        } else {
            self.generation.next()
        };
        self.queue(
            &HelperMsg::Config {
                seq,
                generation,
                current,
            },
            vec![fd],
        );
        Ok(())
    }

    /// The live children with their pipes, then the exits no controld has heard of, then the
    /// end of the list. Once answered, exits are reported to this controld as they happen.
    fn list_children(&mut self, seq: Seq) {
        let mut msgs = Vec::new();
        for (id, c) in self.children.iter() {
            let fds = match pipe_copies(&c.stdout, c.stderr.as_ref(), &c.stdin) {
                Ok(fds) => fds,
                Err(e) => {
                    error!(%id, "cannot pass the pipes of {}: {e}", c.program);
                    continue;
                }
            };
            let msg = HelperMsg::Child {
                seq,
                id,
                pid: c.pid,
                program: c.program.clone(),
                process_num: c.process_num,
                started: c.started,
                pipes: Pipes {
                    stderr: c.stderr.is_some(),
                    stdin: true,
                },
            };
            msgs.push((msg, fds));
        }
        let exits = self.exits.take_away();
        info!(
            %seq,
            children = msgs.len(),
            exited = exits.len(),
            "listed live children"
        );
        for (m, fds) in msgs {
            self.queue(&m, fds);
        }
        for e in exits {
            let m = HelperMsg::ExitedAway {
                seq,
                program: e.program,
                process_num: e.process_num,
                status: e.status,
                pipes: Pipes {
                    stderr: e.stderr.is_some(),
                    stdin: false,
                },
            };
            let fds = std::iter::once(e.stdout).chain(e.stderr).collect();
            self.queue(&m, fds);
        }
        self.queue(&HelperMsg::ChildrenEnd { seq }, Vec::new());
        self.controld.listed_once = true;
        if let Some(c) = &mut self.controld.proc {
            c.adopted = true;
        }
    }
}

/// The config, postcard-encoded, in a sealed memfd: controld reads it with no way to alter what
/// proctord holds, and its size is not bound by a datagram.
pub(super) fn config_memfd(config: &Config) -> std::io::Result<OwnedFd> {
    use nix::fcntl::{fcntl, FcntlArg, SealFlag};
    use nix::sys::memfd::{memfd_create, MFdFlags};
    let bytes = postcard::to_stdvec(config).map_err(std::io::Error::other)?;
    let fd = memfd_create(
        "proctor-config",
        MFdFlags::MFD_CLOEXEC | MFdFlags::MFD_ALLOW_SEALING,
    )?;
    let mut file = std::fs::File::from(fd);
    file.write_all(&bytes)?;
    let fd = OwnedFd::from(file);
    fcntl(
        &fd,
        FcntlArg::F_ADD_SEALS(
            SealFlag::F_SEAL_SHRINK
                | SealFlag::F_SEAL_GROW
                | SealFlag::F_SEAL_WRITE
                | SealFlag::F_SEAL_SEAL,
        ),
    )?;
    Ok(fd)
}

/// Copies of a live child's pipe ends, to send: stdout, stderr if it has its own, stdin.
fn pipe_copies(
    stdout: &OwnedFd,
    stderr: Option<&OwnedFd>,
    stdin: &OwnedFd,
) -> std::io::Result<Vec<OwnedFd>> {
    std::iter::once(stdout)
        .chain(stderr)
        .chain(std::iter::once(stdin))
        .map(OwnedFd::try_clone)
        .collect()
}

fn stale_again(ordered: Generation, current: Generation) -> Refusal {
    Refusal::StaleGeneration { ordered, current }
}
