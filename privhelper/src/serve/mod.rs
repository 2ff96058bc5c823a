//! proctord's single-threaded event loop: signals (child exits, shutdown) through a signalfd,
//! orders from controld through the socketpair, and nothing else.
//!
//! - [`orders`]: one handler per order controld may send.
//! - [`keeper`]: keeping controld running.
//! - [`ledger`]: exits kept until a controld has handled them.
//! - [`outbox`]: messages waiting for controld's socket.

mod keeper;
mod ledger;
mod orders;
mod outbox;

use crate::channel::Incoming;
use crate::children::Children;
use crate::launch::Launcher;
use crate::spawn;
use crate::sys;
use keeper::{Death, Keeper};
use ledger::{Exit, Ledger};
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::signal::Signal;
use nix::sys::signalfd::SignalFd;
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;
use outbox::Outbox;
use proctor_config::{Config, LoadContext};
use proctor_wire::helper::{ExitStatus, HelperMsg, HELPER_PROTOCOL_VERSION};
use proctor_wire::ids::{Generation, Seq};
use proctor_wire::refusal::Refusal;
use proctor_wire::seal::AuditSeal;
use std::io::Write;
use std::os::fd::{AsFd, OwnedFd};
use std::path::PathBuf;
use std::time::{Duration, Instant};
use tracing::{debug, error, info, warn};

/// Where proctord is in its own life. One value, so that no two flags can disagree.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Carrying out controld's orders; a controld that dies is restarted.
    Serving,
    /// A signal asked for the end: controld stops every service, then says Quit.
    ShuttingDown,
    /// controld has stopped every service and said Quit: proctord exits after it. `signalled`
    /// when a shutdown signal came as well (a second one kills everything).
    Quitting { signalled: bool },
    /// controld could not be kept running, or refused the config at its first start: the
    /// services are stopped and proctord exits with an error.
    GaveUp { config_refused: bool },
}

impl Phase {
    fn exit_code(self) -> i32 {
        match self {
            Phase::ShuttingDown | Phase::Quitting { .. } => 0,
            Phase::GaveUp {
                config_refused: true,
            } => 2,
            Phase::GaveUp { .. } | Phase::Serving => 1,
        }
    }
}

/// Everything proctord serves with, prepared by `main`.
pub struct Settings {
    pub config: Config,
    pub config_path: PathBuf,
    pub load_ctx: LoadContext,
    pub root_mode: bool,
    pub socket: PathBuf,
    pub inherited_env: Vec<(String, String)>,
    /// Root mode: the uids of controld_user and helper_user (empty in user mode).
    pub own_uids: Vec<u32>,
    /// Root mode: controld_user's uid.
    pub controld_uid: Option<u32>,
    pub signals: SignalFd,
    pub launch: Launcher,
    /// Root mode with an audit log: the seal file.
    pub sealer: Option<crate::seal::Sealer>,
    /// The listening sockets the config names, bound at start.
    pub held: crate::held::Held,
    /// systemd's readiness socket, when systemd started proctord.
    pub notifier: crate::notify::Notifier,
}

/// How many config generations before the current one proctord keeps spawning from.
pub const KEPT_GENERATIONS: usize = 4;

pub struct Helper {
    config: Config,
    config_path: PathBuf,
    load_ctx: LoadContext,
    generation: Generation,
    /// The generations loaded before the current one, oldest first, at most
    /// [`KEPT_GENERATIONS`]: a group not yet updated keeps the settings it was added with, as
    /// under Supervisor, and is spawned from the file as it was then.
    earlier: std::collections::VecDeque<(Generation, Config)>,
    root_mode: bool,
    socket: PathBuf,
    inherited_env: Vec<(String, String)>,
    own_uids: Vec<u32>,
    controld_uid: Option<u32>,
    signals: SignalFd,
    phase: Phase,
    children: Children,
    controld: Keeper,
    outbox: Outbox,
    exits: Ledger,
    accounts: spawn::Accounts,
    held: crate::held::Held,
    sealer: Option<crate::seal::Sealer>,
    notifier: crate::notify::Notifier,
    /// READY=1 was sent: once, when the first controld asked for the children.
    told_ready: bool,
}

impl Helper {
    pub fn new(s: Settings) -> Helper {
        Helper {
            config: s.config,
            held: s.held,
            config_path: s.config_path,
            load_ctx: s.load_ctx,
            generation: Generation(1),
            earlier: std::collections::VecDeque::new(),
            root_mode: s.root_mode,
            socket: s.socket,
            inherited_env: s.inherited_env,
            own_uids: s.own_uids,
            controld_uid: s.controld_uid,
            signals: s.signals,
            phase: Phase::Serving,
            children: Children::default(),
            controld: Keeper::new(s.launch),
            outbox: Outbox::default(),
            exits: Ledger::default(),
            accounts: spawn::Accounts::default(),
            sealer: s.sealer,
            notifier: s.notifier,
            told_ready: false,
        }
    }

    /// Runs until everything has stopped; returns the exit code.
    pub fn run(&mut self) -> i32 {
        loop {
            if self.controld.start_due() {
                if let Err(code) = self.start_controld() {
                    return code;
                }
            }
            if self.controld.done() {
                // Shutting down with controld gone: finish here.
                return self.finish();
            }
            let (sig_ready, chan_ready, chan_writable) = {
                let mut fds = vec![PollFd::new(self.signals.as_fd(), PollFlags::POLLIN)];
                // A closed link would report POLLHUP forever; the reaper finishes it off.
                if let Some(c) = self.controld.proc.as_ref().filter(|c| !c.closed) {
                    let mut flags = PollFlags::POLLIN;
                    if !self.outbox.is_empty() {
                        flags |= PollFlags::POLLOUT;
                    }
                    fds.push(PollFd::new(c.channel.as_fd(), flags));
                }
                match poll(&mut fds, self.controld.timeout()) {
                    Ok(_) => {}
                    Err(nix::errno::Errno::EINTR) => continue,
                    Err(e) => {
                        error!("poll: {e}");
                        return 1;
                    }
                }
                let ready = |i: usize, f: PollFlags| {
                    fds.get(i)
                        .and_then(|p| p.revents())
                        .is_some_and(|r| r.intersects(f))
                };
                let hup = PollFlags::POLLHUP | PollFlags::POLLERR;
                (
                    ready(0, PollFlags::POLLIN),
                    ready(1, PollFlags::POLLIN | hup),
                    ready(1, PollFlags::POLLOUT),
                )
            };
            if sig_ready {
                self.handle_signals();
            }
            if chan_writable {
                self.flush();
            }
            if chan_ready {
                self.handle_orders();
            }
        }
    }

    fn start_controld(&mut self) -> Result<(), i32> {
        match self.controld.start() {
            Ok(pid) => {
                info!(%pid, "started proctor-controld");
                let seal = match &mut self.sealer {
                    None => AuditSeal::Off,
                    Some(s) => match s.begin_epoch() {
                        Ok((epoch, key)) => {
                            info!(epoch, "audit seal epoch started");
                            AuditSeal::Key { epoch, key }
                        }
                        Err(e) => {
                            // controld refuses every request until this is fixed.
                            error!("{e}");
                            AuditSeal::Broken(e)
                        }
                    },
                };
                let hello = HelperMsg::Hello {
                    version: HELPER_PROTOCOL_VERSION,
                    generation: self.generation,
                    helper_pid: Pid::this(),
                    first_start: !self.controld.listed_once,
                    root_mode: self.root_mode,
                    seal,
                };
                match orders::config_memfd(&self.config) {
                    Ok(fd) => self.queue(&hello, vec![fd]),
                    Err(e) => {
                        // It would wait for its hello forever: end it, and the reaper treats
                        // this as any other death of controld.
                        error!("cannot hand the config to controld: {e}");
                        if let Some(c) = &self.controld.proc {
                            let _ = sys::pidfd_send_signal(&c.pidfd, libc::SIGKILL);
                        }
                    }
                }
                Ok(())
            }
            Err(e) if self.controld.retry_start() => {
                error!("cannot start proctor-controld: {e}; trying again");
                Ok(())
            }
            Err(e) => {
                error!("cannot start proctor-controld: {e}");
                self.phase = Phase::GaveUp {
                    config_refused: false,
                };
                self.stop_all_children();
                Err(1)
            }
        }
    }

    fn queue(&mut self, msg: &HelperMsg, fds: Vec<OwnedFd>) {
        self.outbox.push(msg, fds);
        self.flush();
    }

    fn flush(&mut self) {
        if let Some(c) = &self.controld.proc {
            self.outbox.flush(&c.channel);
        }
    }

    fn refuse(&mut self, seq: Seq, refusal: Refusal) {
        warn!(%seq, %refusal, "refused order");
        self.queue(&HelperMsg::Refused { seq, refusal }, Vec::new());
    }

    fn handle_signals(&mut self) {
        loop {
            match self.signals.read_signal() {
                Ok(Some(info)) => match Signal::try_from(info.ssi_signo as i32) {
                    Ok(Signal::SIGCHLD) => self.reap(),
                    Ok(Signal::SIGTERM | Signal::SIGINT | Signal::SIGQUIT) => {
                        self.shutdown_signal(info.ssi_signo)
                    }
                    Ok(Signal::SIGHUP) => {
                        // The policy is controld's: pass it on. Config changes go through
                        // `proctorctl update`.
                        info!("SIGHUP: asking controld to reload the policy");
                        if self.controld.proc.is_some() {
                            self.queue(&HelperMsg::ReloadPolicy, Vec::new());
                        }
                    }
                    Ok(Signal::SIGUSR2) => {
                        // Supervisor's meaning: reopen the logs, once logrotate has moved them.
                        // The services' logs are controld's.
                        info!("SIGUSR2: asking controld to reopen the log files");
                        if self.controld.proc.is_some() {
                            self.queue(&HelperMsg::ReopenLogs, Vec::new());
                        }
                    }
                    _ => {}
                },
                Ok(None) => return,
                Err(nix::errno::Errno::EINTR) => continue,
                Err(e) => {
                    error!("signalfd: {e}");
                    return;
                }
            }
        }
    }

    fn shutdown_signal(&mut self, signo: u32) {
        let next = match self.phase {
            Phase::Serving => Phase::ShuttingDown,
            Phase::Quitting { signalled: false } => Phase::Quitting { signalled: true },
            Phase::ShuttingDown | Phase::Quitting { signalled: true } | Phase::GaveUp { .. } => {
                warn!(
                    signal = signo,
                    "second shutdown signal: killing every service now"
                );
                self.kill_everything();
                return;
            }
        };
        info!(signal = signo, "shutting down: stopping every service");
        self.notifier.say("STOPPING=1");
        self.phase = next;
        self.controld.cancel_restart();
        if self.controld.proc.is_some() {
            self.queue(&HelperMsg::ShutdownRequested, Vec::new());
        }
    }

    fn reap(&mut self) {
        loop {
            match waitpid(Pid::from_raw(-1), Some(WaitPidFlag::WNOHANG)) {
                Ok(WaitStatus::StillAlive) | Err(nix::errno::Errno::ECHILD) => return,
                Ok(WaitStatus::Exited(pid, code)) => self.reaped(pid, ExitStatus::Code(code)),
                Ok(WaitStatus::Signaled(pid, sig, _)) => {
                    self.reaped(pid, ExitStatus::Signal(sig as i32))
                }
                Ok(_) => continue,
                Err(nix::errno::Errno::EINTR) => continue,
                Err(e) => {
                    error!("waitpid: {e}");
                    return;
                }
            }
        }
    }

    fn reaped(&mut self, pid: Pid, status: ExitStatus) {
        if self.controld.proc.as_ref().is_some_and(|c| c.pid == pid) {
            // What it sent before dying is still in the socket (a Quit above all): read it
            // first, or an orderly exit would look like a crash.
            self.handle_orders();
            self.controld_exited(status);
            return;
        }
        let Some((id, child)) = self.children.remove_pid(pid) else {
            // An orphaned grandchild re-parented to us (we are a subreaper), or a child whose
            // exec failed and was reported as a refused spawn.
            debug!(%pid, ?status, "reaped a process that is not a service");
            return;
        };
        info!(%id, %pid, program = %child.program, process_num = child.process_num, ?status, "service exited");
        let exit = Exit {
            program: child.program,
            process_num: child.process_num,
            status,
            stdout: child.stdout,
            stderr: child.stderr,
        };
        // A controld that has not yet adopted the children could not place the exit: it
        // learns of it with the children instead.
        if self
            .controld
            .proc
            .as_ref()
            .is_some_and(|c| !c.closed && c.adopted)
        {
            self.exits.reported(id, exit);
            self.queue(&HelperMsg::Exited { id, pid, status }, Vec::new());
        } else {
            self.exits.away(exit);
        }
    }

    fn controld_exited(&mut self, status: ExitStatus) {
        let serving = self.phase == Phase::Serving;
        let Some(death) = self.controld.exited(status, serving) else {
            return;
        };
        // Exits it did not confirm having handled go to its successor (a report can be sent
        // into the socket of a controld that is already dying).
        self.outbox.clear();
        self.exits.controld_gone();
        match death {
            Death::Expected => info!(?status, "proctor-controld exited"),
            Death::ConfigRefused => {
                error!("proctor-controld refused the configuration (see above); stopping");
                self.phase = Phase::GaveUp {
                    config_refused: true,
                };
            }
            Death::KeepsDying => {
                error!(
                    ?status,
                    "proctor-controld keeps dying at start; giving up and stopping every service"
                );
                self.phase = Phase::GaveUp {
                    config_refused: false,
                };
            }
            Death::Restart => warn!(
                ?status,
                "proctor-controld died; restarting it (services keep running)"
            ),
        }
    }

    fn handle_orders(&mut self) {
        self.accounts.forget();
        loop {
            let incoming = match &self.controld.proc {
                Some(c) => c.channel.recv(),
                None => return,
            };
            match incoming {
                Ok(Incoming::Order(order)) => self.execute(order),
                Ok(Incoming::Invalid { seq, error }) => self.refuse(seq, Refusal::BadOrder(error)),
                Ok(Incoming::WouldBlock) => return,
                Ok(Incoming::Closed) | Err(_) => {
                    // EOF: controld is exiting; the reaper takes it from here.
                    if let Some(c) = &mut self.controld.proc {
                        c.closed = true;
                    }
                    return;
                }
            }
        }
    }

    /// Without controld (it cannot be started, or it died during shutdown): stop the services
    /// ourselves with their stop signals, then SIGKILL after the longest stopwaitsecs.
    fn stop_all_children(&mut self) {
        if self.children.is_empty() {
            return;
        }
        let mut wait = 1;
        for (_, c) in self.children.iter() {
            // The newest settings of its program, from any generation still kept.
            let prog = std::iter::once(&self.config)
                .chain(self.earlier.iter().rev().map(|(_, c)| c))
                .find_map(|cfg| cfg.programs.iter().find(|p| p.name == c.program));
            let (sig, group) = prog.map_or((libc::SIGTERM, false), |p| {
                (p.stopsignal.number, p.stopasgroup)
            });
            wait = wait.max(prog.map_or(10, |p| p.stopwaitsecs));
            let _ = if group {
                sys::kill_process_group(c.pid, sig)
            } else {
                sys::pidfd_send_signal(&c.pidfd, sig)
            };
        }
        let deadline = Instant::now() + Duration::from_secs(wait.into());
        while !self.children.is_empty() && Instant::now() < deadline {
            let left = deadline
                .saturating_duration_since(Instant::now())
                .as_millis();
            let left = i32::try_from(left).unwrap_or(i32::MAX - 1) + 1;
            let mut fds = [PollFd::new(self.signals.as_fd(), PollFlags::POLLIN)];
            let _ = poll(
                &mut fds,
                PollTimeout::try_from(left).unwrap_or(PollTimeout::NONE),
            );
            self.handle_signals();
        }
        self.kill_everything();
    }

    fn kill_everything(&mut self) {
        for (_, c) in self.children.iter() {
            let _ = sys::kill_process_group(c.pid, libc::SIGKILL);
            let _ = sys::pidfd_send_signal(&c.pidfd, libc::SIGKILL);
        }
        if let Some(c) = &self.controld.proc {
            let _ = sys::pidfd_send_signal(&c.pidfd, libc::SIGKILL);
        }
    }

    fn finish(&mut self) -> i32 {
        if !self.children.is_empty() {
            warn!(
                left = self.children.len(),
                "services still running without controld; stopping them"
            );
            self.stop_all_children();
            // SIGKILLed children must be reaped before we go.
            let deadline = Instant::now() + Duration::from_secs(5);
            while !self.children.is_empty() && Instant::now() < deadline {
                let mut fds = [PollFd::new(self.signals.as_fd(), PollFlags::POLLIN)];
                let _ = poll(&mut fds, PollTimeout::from(100u8));
                self.reap();
            }
        }
        let _ = std::io::stderr().flush();
        let code = self.phase.exit_code();
        if code == 0 {
            info!("proctord exiting");
        }
        code
    }
}
