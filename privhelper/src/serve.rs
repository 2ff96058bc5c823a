//! proctord's single-threaded event loop: signals (child exits, shutdown) through a signalfd,
//! orders from controld through the socketpair, and nothing else.

use crate::channel::Incoming;
use crate::children::{Child, Children};
use crate::launch::{self, ControldProc};
use crate::spawn::{self, SpawnContext};
use crate::sys;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::signal::Signal;
use nix::sys::signalfd::SignalFd;
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;
use proctor_config::{Config, LoadContext};
use proctor_wire::helper::{ExitStatus, HelperMsg, Pipes, HELPER_PROTOCOL_VERSION, MAX_HELPER_MSG};
use proctor_wire::order::{Order, OrderKind};
use std::collections::{BTreeMap, VecDeque};
use std::io::Write;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::path::PathBuf;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tracing::{debug, error, info, warn};

/// controld restarts allowed in a row when each dies within `QUICK_DEATH` of its start.
const MAX_QUICK_RESTARTS: u32 = 5;
const QUICK_DEATH: Duration = Duration::from_secs(10);
const RESTART_DELAY: Duration = Duration::from_secs(1);
/// Longest refusal reason passed on (the rest is cut).
const MAX_REASON: usize = 4096;
/// controld's exit status when it refuses the configuration at first start (EX_CONFIG).
const CONTROLD_EXIT_CONFIG: i32 = 78;

/// A service that exited, kept until a controld has handled it. Its pipes' read ends are kept
/// too: what it wrote last may still be in them, unread.
struct Exit {
    program: String,
    process_num: u32,
    status: ExitStatus,
    stdout: OwnedFd,
    stderr: Option<OwnedFd>,
}

struct Outgoing {
    bytes: Vec<u8>,
    fds: Vec<OwnedFd>,
}

pub struct Helper {
    pub config: Config,
    pub config_path: PathBuf,
    pub load_ctx: LoadContext,
    pub generation: u32,
    pub root_mode: bool,
    pub socket: PathBuf,
    pub inherited_env: Vec<(String, String)>,
    pub signals: SignalFd,
    pub launch: launch::Launcher,
    children: Children,
    controld: Option<ControldProc>,
    /// Messages for controld not yet accepted by its socket (it may be busy or stopped).
    outbox: VecDeque<Outgoing>,
    restart_at: Option<Instant>,
    quick_deaths: u32,
    shutting_down: bool,
    quit_ordered: bool,
    /// controld could not be kept running: every service was stopped, exit non-zero.
    gave_up: bool,
    /// controld refused the configuration (its policy file) at start: exit 2, as for a bad config.
    config_refused: bool,
    /// Services that exited while no controld was there to hear it.
    away_exits: Vec<Exit>,
    /// Exits reported to the current controld and not yet acknowledged (AckExit).
    unacked: BTreeMap<u64, Exit>,
    /// A controld has had the live children listed once: later ones must not autostart.
    listed_once: bool,
    accounts: spawn::Accounts,
}

impl Helper {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        config: Config,
        config_path: PathBuf,
        load_ctx: LoadContext,
        root_mode: bool,
        socket: PathBuf,
        inherited_env: Vec<(String, String)>,
        signals: SignalFd,
        launch: launch::Launcher,
    ) -> Helper {
        Helper {
            config,
            config_path,
            load_ctx,
            generation: 1,
            root_mode,
            socket,
            inherited_env,
            signals,
            launch,
            children: Children::default(),
            controld: None,
            outbox: VecDeque::new(),
            restart_at: Some(Instant::now()),
            quick_deaths: 0,
            shutting_down: false,
            quit_ordered: false,
            gave_up: false,
            config_refused: false,
            away_exits: Vec::new(),
            unacked: BTreeMap::new(),
            listed_once: false,
            accounts: spawn::Accounts::default(),
        }
    }

    /// Runs until everything has stopped; returns the exit code.
    pub fn run(&mut self) -> i32 {
        loop {
            if let Some(at) = self.restart_at {
                if Instant::now() >= at {
                    self.restart_at = None;
                    if let Err(code) = self.start_controld() {
                        return code;
                    }
                }
            }
            if self.controld.is_none() && self.restart_at.is_none() {
                // Shutting down with controld gone: finish here.
                return self.finish();
            }
            let timeout = match self.restart_at {
                Some(at) => {
                    let ms = at.saturating_duration_since(Instant::now()).as_millis();
                    PollTimeout::try_from(ms.min(60_000) as i32 + 1).unwrap_or(PollTimeout::NONE)
                }
                None => PollTimeout::NONE,
            };
            let (sig_ready, chan_ready, chan_writable) = {
                let mut fds = vec![PollFd::new(self.signals.as_fd(), PollFlags::POLLIN)];
                // A closed link would report POLLHUP forever; the reaper finishes it off.
                if let Some(c) = self.controld.as_ref().filter(|c| !c.closed) {
                    let mut flags = PollFlags::POLLIN;
                    if !self.outbox.is_empty() {
                        flags |= PollFlags::POLLOUT;
                    }
                    fds.push(PollFd::new(c.channel.as_fd(), flags));
                }
                match poll(&mut fds, timeout) {
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
        match self.launch.start() {
            Ok(proc) => {
                info!(pid = proc.pid, "started proctor-controld");
                self.controld = Some(proc);
                let hello = HelperMsg::Hello {
                    version: HELPER_PROTOCOL_VERSION,
                    generation: self.generation,
                    helper_pid: std::process::id(),
                    first_start: !self.listed_once,
                    root_mode: self.root_mode,
                };
                match config_memfd(&self.config) {
                    Ok(fd) => self.queue(&hello, vec![fd]),
                    Err(e) => {
                        // It would wait for its hello forever: end it, and the reaper treats
                        // this as any other death of controld.
                        error!("cannot hand the config to controld: {e}");
                        if let Some(c) = &self.controld {
                            let _ = sys::pidfd_send_signal(&c.pidfd, libc::SIGKILL);
                        }
                    }
                }
                Ok(())
            }
            Err(e) if self.listed_once && self.quick_deaths < MAX_QUICK_RESTARTS => {
                // The services are running: a passing shortage (fds, processes) is no reason
                // to stop them all. Try again, within the same budget as deaths.
                self.quick_deaths += 1;
                error!("cannot start proctor-controld: {e}; trying again");
                self.restart_at = Some(Instant::now() + RESTART_DELAY);
                Ok(())
            }
            Err(e) => {
                error!("cannot start proctor-controld: {e}");
                self.shutting_down = true;
                self.gave_up = true;
                self.stop_all_children();
                Err(1)
            }
        }
    }

    fn queue(&mut self, msg: &HelperMsg, fds: Vec<OwnedFd>) {
        let shortened;
        let msg = match msg {
            // Reasons can quote config text; keep every message within one datagram.
            HelperMsg::Refused {
                seq,
                reason,
                permanent,
            } if reason.len() > MAX_REASON => {
                let mut cut = MAX_REASON;
                while !reason.is_char_boundary(cut) {
                    cut -= 1;
                }
                shortened = HelperMsg::Refused {
                    seq: *seq,
                    permanent: *permanent,
                    reason: format!("{}…", &reason[..cut]),
                };
                &shortened
            }
            m => m,
        };
        match postcard::to_stdvec(msg) {
            Ok(bytes) if bytes.len() > MAX_HELPER_MSG => {
                error!("dropping a message for controld of {} bytes", bytes.len());
            }
            Ok(bytes) => self.outbox.push_back(Outgoing { bytes, fds }),
            Err(e) => error!("cannot encode a message for controld: {e}"),
        }
        self.flush();
    }

    /// Sends what controld's socket accepts now; the rest waits for POLLOUT.
    fn flush(&mut self) {
        let Some(c) = &self.controld else {
            return;
        };
        while let Some(out) = self.outbox.front() {
            let raw: Vec<i32> = out.fds.iter().map(|f| f.as_raw_fd()).collect();
            match c.channel.send_bytes(&out.bytes, &raw) {
                Ok(true) => {
                    self.outbox.pop_front();
                }
                Ok(false) => return,
                Err(e) => {
                    // controld is gone; the reaper notices and restarts it.
                    debug!("send to controld: {e}");
                    return;
                }
            }
        }
    }

    fn handle_signals(&mut self) {
        loop {
            match self.signals.read_signal() {
                Ok(Some(info)) => match Signal::try_from(info.ssi_signo as i32) {
                    Ok(Signal::SIGCHLD) => self.reap(),
                    Ok(Signal::SIGTERM | Signal::SIGINT | Signal::SIGQUIT) => {
                        self.begin_shutdown(info.ssi_signo)
                    }
                    Ok(Signal::SIGHUP) => {
                        // The policy is controld's: pass it on. Config changes go through
                        // `proctorctl update`.
                        info!("SIGHUP: asking controld to reload the policy");
                        if self.controld.is_some() {
                            self.queue(&HelperMsg::ReloadPolicy, Vec::new());
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

    fn begin_shutdown(&mut self, signo: u32) {
        if self.shutting_down {
            warn!(
                signal = signo,
                "second shutdown signal: killing every service now"
            );
            self.kill_everything();
            return;
        }
        info!(signal = signo, "shutting down: stopping every service");
        self.shutting_down = true;
        self.restart_at = None;
        if self.controld.is_some() {
            self.queue(&HelperMsg::ShutdownRequested, Vec::new());
        }
    }

    fn reap(&mut self) {
        loop {
            match waitpid(Pid::from_raw(-1), Some(WaitPidFlag::WNOHANG)) {
                Ok(WaitStatus::StillAlive) | Err(nix::errno::Errno::ECHILD) => return,
                Ok(WaitStatus::Exited(pid, code)) => {
                    self.reaped(pid.as_raw(), ExitStatus::Code(code))
                }
                Ok(WaitStatus::Signaled(pid, sig, _)) => {
                    self.reaped(pid.as_raw(), ExitStatus::Signal(sig as i32))
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

    fn reaped(&mut self, pid: i32, status: ExitStatus) {
        if self.controld.as_ref().is_some_and(|c| c.pid == pid) {
            // What it sent before dying is still in the socket (a Quit above all): read it
            // first, or an orderly exit would look like a crash.
            self.handle_orders();
            self.controld_exited(status);
            return;
        }
        match self.children.remove_pid(pid) {
            Some((id, child)) => {
                info!(id, pid, program = %child.program, process_num = child.process_num, ?status, "service exited");
                let exit = Exit {
                    program: child.program,
                    process_num: child.process_num,
                    status,
                    stdout: child.stdout,
                    stderr: child.stderr,
                };
                // A controld that has not yet adopted the children could not place the exit:
                // it learns of it with the children instead.
                if self
                    .controld
                    .as_ref()
                    .is_some_and(|c| !c.closed && c.adopted)
                {
                    let msg = HelperMsg::Exited {
                        id,
                        pid: pid as u32,
                        status,
                    };
                    // Kept until controld acknowledges it: if it dies first, its successor is
                    // told instead.
                    self.unacked.insert(id, exit);
                    self.queue(&msg, Vec::new());
                } else {
                    self.away_exits.push(exit);
                }
            }
            // An orphaned grandchild re-parented to us (we are a subreaper), or a child whose
            // exec failed and was reported as a refused spawn.
            None => debug!(pid, ?status, "reaped a process that is not a service"),
        }
    }

    fn controld_exited(&mut self, status: ExitStatus) {
        let Some(proc) = self.controld.take() else {
            return;
        };
        // Exits it did not confirm having handled go to its successor (a report can be
        // sent into the socket of a controld that is already dying).
        self.outbox.clear();
        let unacked = std::mem::take(&mut self.unacked);
        self.away_exits.extend(unacked.into_values());
        if self.quit_ordered || self.shutting_down {
            info!(?status, "proctor-controld exited");
            return;
        }
        if status == ExitStatus::Code(CONTROLD_EXIT_CONFIG) && !self.listed_once {
            error!("proctor-controld refused the configuration (see above); stopping");
            self.shutting_down = true;
            self.gave_up = true;
            self.config_refused = true;
            return;
        }
        let quick = proc.started.elapsed() < QUICK_DEATH;
        self.quick_deaths = if quick { self.quick_deaths + 1 } else { 0 };
        if self.quick_deaths >= MAX_QUICK_RESTARTS {
            error!(
                ?status,
                "proctor-controld keeps dying at start; giving up and stopping every service"
            );
            self.shutting_down = true;
            self.gave_up = true;
            return;
        }
        warn!(
            ?status,
            "proctor-controld died; restarting it (services keep running)"
        );
        self.restart_at = Some(Instant::now() + RESTART_DELAY);
    }

    fn handle_orders(&mut self) {
        self.accounts.forget();
        loop {
            let incoming = match &self.controld {
                Some(c) => c.channel.recv(),
                None => return,
            };
            match incoming {
                Ok(Incoming::Order(order)) => self.execute(order),
                Ok(Incoming::Invalid { seq, reason }) => self.refuse(seq, reason),
                Ok(Incoming::WouldBlock) => return,
                Ok(Incoming::Closed) | Err(_) => {
                    // EOF: controld is exiting; the reaper takes it from here.
                    if let Some(c) = &mut self.controld {
                        c.closed = true;
                    }
                    return;
                }
            }
        }
    }

    fn refuse(&mut self, seq: u32, reason: String) {
        self.refuse_with(seq, reason, false);
    }

    fn refuse_with(&mut self, seq: u32, reason: String, permanent: bool) {
        warn!(seq, %reason, "refused order");
        let msg = HelperMsg::Refused {
            seq,
            reason,
            permanent,
        };
        self.queue(&msg, Vec::new());
    }

    fn execute(&mut self, order: Order) {
        let seq = order.seq;
        match order.kind {
            OrderKind::Spawn {
                generation,
                program,
                instance,
            } => self.order_spawn(seq, generation, program, instance),
            OrderKind::Signal { id, signal, group } => {
                let Some(child) = self.children.get(id) else {
                    return self.refuse(seq, format!("no live child with id {id}"));
                };
                let result = if group {
                    // The child is unreaped (still in our table), so its pid, which is also its
                    // process group id since it called setsid, cannot have been reused.
                    sys::kill_process_group(child.pid, signal.number())
                } else {
                    sys::pidfd_send_signal(&child.pidfd, signal.number())
                };
                match result {
                    Ok(()) => {
                        info!(
                            seq,
                            id,
                            pid = child.pid,
                            signal = signal.name(),
                            group,
                            "signalled"
                        );
                        self.queue(&HelperMsg::Signalled { seq }, Vec::new());
                    }
                    Err(e) => self.refuse(seq, format!("signal {} to id {id}: {e}", signal.name())),
                }
            }
            OrderKind::Reload | OrderKind::ReadConfig => {
                let current = order.kind == OrderKind::Reload;
                match proctor_config::load(&self.config_path, &self.load_ctx) {
                    Ok(loaded) => {
                        for w in &loaded.warnings {
                            warn!("{w}");
                        }
                        let generation = if current {
                            self.generation += 1;
                            self.config = loaded.config.clone();
                            info!(seq, generation = self.generation, "config reloaded");
                            self.generation
                        } else {
                            self.generation + 1
                        };
                        match config_memfd(&loaded.config) {
                            Ok(fd) => self.queue(
                                &HelperMsg::Config {
                                    seq,
                                    generation,
                                    current,
                                },
                                vec![fd],
                            ),
                            Err(e) => self.refuse(seq, format!("cannot pass the config: {e}")),
                        }
                    }
                    Err(diag) => self.refuse(seq, diag.to_string()),
                }
            }
            OrderKind::Children => {
                let mut msgs = Vec::new();
                for (id, c) in self.children.iter() {
                    let fds = match pipe_copies(&c.stdout, c.stderr.as_ref()) {
                        Ok(fds) => fds,
                        Err(e) => {
                            error!(id, "cannot pass the pipes of {}: {e}", c.program);
                            continue;
                        }
                    };
                    let msg = HelperMsg::Child {
                        seq,
                        id,
                        pid: c.pid as u32,
                        program: c.program.clone(),
                        process_num: c.process_num,
                        started: c.started,
                        pipes: Pipes {
                            stderr: c.stderr.is_some(),
                        },
                    };
                    msgs.push((msg, fds));
                }
                let exits = std::mem::take(&mut self.away_exits);
                info!(
                    seq,
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
                        },
                    };
                    let fds = std::iter::once(e.stdout).chain(e.stderr).collect();
                    self.queue(&m, fds);
                }
                self.queue(&HelperMsg::ChildrenEnd { seq }, Vec::new());
                self.listed_once = true;
                if let Some(c) = &mut self.controld {
                    c.adopted = true;
                }
            }
            OrderKind::AckExit { id } => {
                if self.unacked.remove(&id).is_none() {
                    self.refuse(seq, format!("no unacknowledged exit with id {id}"));
                }
            }
            OrderKind::Quit => {
                info!(seq, "controld is quitting; proctord exits after it");
                self.quit_ordered = true;
            }
        }
    }

    fn order_spawn(&mut self, seq: u32, generation: u32, program: u32, instance: u32) {
        if self.shutting_down || self.quit_ordered {
            return self.refuse(seq, "shutting down".into());
        }
        if generation != self.generation {
            return self.refuse(
                seq,
                format!(
                    "stale config generation {generation} (current {})",
                    self.generation
                ),
            );
        }
        let Some(prog) = self.config.programs.get(program as usize) else {
            return self.refuse(seq, format!("no program with index {program}"));
        };
        let Some(process) = prog.processes.get(instance as usize) else {
            return self.refuse(
                seq,
                format!(
                    "program {} has no instance {instance} (numprocs = {})",
                    prog.name, prog.numprocs
                ),
            );
        };
        if let Some(id) = self.children.running(&prog.name, process.process_num) {
            return self.refuse(
                seq,
                format!("{} is already running (id {id})", process.name),
            );
        }
        let ctx = SpawnContext {
            root_mode: self.root_mode,
            socket: &self.socket,
            inherited_env: &self.inherited_env,
        };
        match spawn::spawn(&ctx, &mut self.accounts, prog, process) {
            Ok(started) => {
                let pipes = Pipes {
                    stderr: started.stderr.is_some(),
                };
                let fds = match pipe_copies(&started.stdout, started.stderr.as_ref()) {
                    Ok(fds) => fds,
                    Err(e) => {
                        // Without its pipes controld could not log it: it must not run.
                        let _ = sys::pidfd_send_signal(&started.pidfd, libc::SIGKILL);
                        return self.refuse(
                            seq,
                            format!("cannot pass the log pipes: {e} (the new process was killed)"),
                        );
                    }
                };
                let (name, num, pid) = (prog.name.clone(), process.process_num, started.pid);
                let id = self.children.insert(Child {
                    pid,
                    pidfd: started.pidfd,
                    program: name.clone(),
                    process_num: num,
                    started: now_secs(),
                    stdout: started.stdout,
                    stderr: started.stderr,
                });
                info!(seq, id, pid, program = %name, process_num = num, "spawned");
                self.queue(
                    &HelperMsg::Spawned {
                        seq,
                        id,
                        pid: pid as u32,
                        pipes,
                    },
                    fds,
                );
            }
            Err(r) => self.refuse_with(seq, r.reason, r.permanent),
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
            let prog = self.config.programs.iter().find(|p| p.name == c.program);
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
                .as_millis() as i32
                + 1;
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
        if let Some(c) = &self.controld {
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
        if self.config_refused {
            2
        } else if !self.gave_up && (self.quit_ordered || self.shutting_down) {
            info!("proctord exiting");
            0
        } else {
            1
        }
    }
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// The config, postcard-encoded, in a sealed memfd: controld reads it with no way to alter what
/// proctord holds, and its size is not bound by a datagram.
fn config_memfd(config: &Config) -> std::io::Result<OwnedFd> {
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

/// Copies of a child's pipe read ends, to send: stdout, then stderr if it has its own.
fn pipe_copies(stdout: &OwnedFd, stderr: Option<&OwnedFd>) -> std::io::Result<Vec<OwnedFd>> {
    std::iter::once(stdout)
        .chain(stderr)
        .map(OwnedFd::try_clone)
        .collect()
}
