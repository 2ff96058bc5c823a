//! The supervisor: one task that owns every process's state, talks to proctord, and answers the
//! control socket's commands. It sleeps until a message, a command or its next timer.

use crate::link::{self, Link};
use crate::logs;
use crate::procs::Proc;
use crate::update;
use proctor_config::{AutoRestart, Config};
use proctor_wire::control::{
    ActionResult, AvailInfo, Channel, ConfigDiff, ErrorKind, ProcessInfo, ProcessState,
};
use proctor_wire::helper::{ExitStatus, HelperMsg};
use proctor_wire::order::{Order, OrderKind};
use proctor_wire::signal::AllowedSignal;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::os::fd::OwnedFd;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;
use tracing::{error, info, warn};

/// (program name, process_num): a process's identity across reloads.
pub type Key = (String, u32);
pub type Failure = (ErrorKind, String);
pub type Reply<T> = oneshot::Sender<Result<T, Failure>>;

pub enum Event {
    Cmd(Box<Cmd>),
    Helper(HelperMsg, Vec<OwnedFd>),
    HelperGone(String),
}

/// A process as the policy sees it.
pub struct TargetInfo {
    pub namespec: String,
    pub group: String,
    pub name: String,
    pub program: String,
}

pub enum Cmd {
    /// The processes `names` stand for (all when empty), for the policy check.
    Targets(Vec<String>, Reply<Vec<TargetInfo>>),
    Status(Vec<String>, Reply<Vec<ProcessInfo>>),
    Start(Vec<String>, Reply<Vec<ActionResult>>),
    Stop(Vec<String>, Reply<Vec<ActionResult>>),
    StopKeys(Vec<Key>, oneshot::Sender<Vec<ActionResult>>),
    Signal(String, Vec<String>, Reply<Vec<ActionResult>>),
    Pids(Option<String>, Reply<Vec<(String, Option<u32>)>>),
    Tail(String, Channel, Reply<Arc<logs::LogSink>>),
    ReadConfig(bool, Reply<(Config, u32)>),
    Diff(Config, Reply<ConfigDiff>),
    /// Checks that an update of these groups (all when empty) can apply `Config` as a whole.
    CheckUpdate(Config, Vec<String>, Reply<()>),
    /// Applies the config proctord made current; returns the changes and the keys to stop.
    PlanUpdate(Reply<(ConfigDiff, Vec<Key>)>),
    FinishUpdate(ConfigDiff, Reply<Vec<ActionResult>>),
    Avail(Reply<Vec<AvailInfo>>),
    Shutdown,
}

#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug)]
enum TimerKind {
    StartSecs,
    Backoff,
    Kill,
}

enum Pending {
    Spawn(Key),
    Signal(Option<oneshot::Sender<Result<(), String>>>),
    Config(Reply<(Config, u32)>),
    Children(bool),
}

#[derive(PartialEq, Eq)]
enum Want {
    Running,
    Stopped,
}

struct Waiter {
    key: Key,
    want: Want,
    tx: oneshot::Sender<ActionResult>,
}

pub struct Supervisor {
    /// The config file as proctord last read it.
    config: Config,
    /// Each group's settings as last applied (differs from `config` after a partial update).
    applied: BTreeMap<String, update::GroupSig>,
    generation: u32,
    helper_pid: u32,
    procs: BTreeMap<Key, Proc>,
    by_id: HashMap<u64, Key>,
    timers: BTreeSet<(Instant, u64, Key, TimerKind)>,
    next_token: u64,
    link: Arc<Link>,
    seq: u32,
    pending: HashMap<u32, Pending>,
    waiters: Vec<Waiter>,
    tx: mpsc::Sender<Event>,
    shutting_down: bool,
    /// For SIGHUP to proctord, which reloads the policy.
    auth: Arc<crate::authority::Authority>,
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

fn fail<T>(kind: ErrorKind, msg: impl Into<String>) -> Result<T, Failure> {
    Err((kind, msg.into()))
}

impl Supervisor {
    pub fn new(
        config: Config,
        generation: u32,
        helper_pid: u32,
        link: Arc<Link>,
        tx: mpsc::Sender<Event>,
        auth: Arc<crate::authority::Authority>,
    ) -> Supervisor {
        let mut s = Supervisor {
            applied: update::signatures(&config),
            config,
            generation,
            helper_pid,
            procs: BTreeMap::new(),
            by_id: HashMap::new(),
            timers: BTreeSet::new(),
            next_token: 0,
            link,
            seq: 0,
            pending: HashMap::new(),
            waiters: Vec::new(),
            tx,
            shutting_down: false,
            auth,
        };
        let all: Vec<String> = s.config.groups.iter().map(|g| g.name.clone()).collect();
        s.add_groups(&all);
        s
    }

    /// Creates the processes of the named groups from the current config.
    fn add_groups(&mut self, groups: &[String]) {
        for g in groups {
            let Some(group) = self.config.group(g) else {
                continue;
            };
            for &pi in &group.programs {
                let Some(prog) = self.config.programs.get(pi) else {
                    continue;
                };
                let cfg = Arc::new(prog.clone());
                for instance in 0..prog.processes.len() as u32 {
                    if let Some(p) = Proc::new(cfg.clone(), instance) {
                        self.procs.insert((p.program.clone(), p.process_num), p);
                    }
                }
            }
        }
    }

    pub async fn run(mut self, mut rx: mpsc::Receiver<Event>, first_start: bool) {
        let listing = self
            .order(OrderKind::Children, Some(Pending::Children(first_start)))
            .await;
        // Commands wait until the live children are known: a restarted controld answering
        // `status` earlier would show running services as STOPPED.
        let mut held = Vec::new();
        while self.pending.contains_key(&listing) {
            match rx.recv().await {
                Some(Event::Cmd(cmd)) => held.push(cmd),
                Some(Event::Helper(msg, fds)) => self.helper(msg, fds).await,
                Some(Event::HelperGone(why)) => helper_gone(&why),
                None => return,
            }
        }
        for cmd in held {
            self.command(*cmd).await;
        }
        loop {
            let next = self.timers.first().map(|t| t.0);
            tokio::select! {
                ev = rx.recv() => match ev {
                    Some(Event::Cmd(cmd)) => self.command(*cmd).await,
                    Some(Event::Helper(msg, fds)) => self.helper(msg, fds).await,
                    Some(Event::HelperGone(why)) => helper_gone(&why),
                    None => return,
                },
                _ = tokio::time::sleep_until(next.unwrap_or_else(Instant::now)), if next.is_some() => {
                    self.fire_timers().await;
                }
            }
        }
    }

    async fn order(&mut self, kind: OrderKind, pending: Option<Pending>) -> u32 {
        self.seq = self.seq.wrapping_add(1);
        let seq = self.seq;
        if let Some(p) = pending {
            self.pending.insert(seq, p);
        }
        if let Err(e) = self.link.send(&Order { seq, kind }).await {
            error!("cannot send an order to proctord: {e}; exiting");
            std::process::exit(1);
        }
        seq
    }

    fn set_timer(&mut self, key: &Key, after: Duration, kind: TimerKind) {
        self.next_token += 1;
        let token = self.next_token;
        if let Some(p) = self.procs.get_mut(key) {
            p.timer = token;
            self.timers
                .insert((Instant::now() + after, token, key.clone(), kind));
        }
    }

    fn cancel_timer(&mut self, key: &Key) {
        if let Some(p) = self.procs.get_mut(key) {
            p.timer = 0;
        }
    }

    async fn fire_timers(&mut self) {
        let now = Instant::now();
        while let Some(first) = self.timers.first() {
            if first.0 > now {
                break;
            }
            let Some((_, token, key, kind)) = self.timers.pop_first() else {
                break;
            };
            let Some(p) = self.procs.get_mut(&key) else {
                continue;
            };
            if p.timer != token {
                continue;
            }
            p.timer = 0;
            match (kind, p.state) {
                (TimerKind::StartSecs, ProcessState::Starting) => {
                    p.backoff = 0;
                    info!("success: {} entered RUNNING state, process has stayed up for > than {} seconds (startsecs)", p.namespec, p.cfg.startsecs);
                    self.set_state(&key, ProcessState::Running);
                }
                (TimerKind::Backoff, ProcessState::Backoff) if self.shutting_down => {
                    self.set_state(&key, ProcessState::Stopped);
                }
                (TimerKind::Backoff, ProcessState::Backoff) => self.spawn(&key).await,
                (TimerKind::Kill, ProcessState::Stopping) => {
                    if let Some(id) = p.id {
                        let group = p.cfg.killasgroup;
                        warn!("killing {} (pid {:?}) with SIGKILL", p.namespec, p.pid);
                        self.order(
                            OrderKind::Signal {
                                id,
                                signal: AllowedSignal::Kill,
                                group,
                            },
                            Some(Pending::Signal(None)),
                        )
                        .await;
                    }
                }
                _ => {}
            }
        }
    }

    fn set_state(&mut self, key: &Key, state: ProcessState) {
        let Some(p) = self.procs.get_mut(key) else {
            return;
        };
        p.state = state;
        let (namespec, spawnerr) = (p.namespec.clone(), p.spawnerr.clone());
        let mut i = 0;
        while i < self.waiters.len() {
            let w = &self.waiters[i];
            if &w.key != key {
                i += 1;
                continue;
            }
            let done = match (&w.want, state) {
                (Want::Running, ProcessState::Running) => Some((true, "started".to_owned())),
                (Want::Running, ProcessState::Starting | ProcessState::Stopping) => None,
                (Want::Running, ProcessState::Stopped) => {
                    Some((false, "ERROR (stopped while starting)".to_owned()))
                }
                (Want::Running, _) if !spawnerr.is_empty() => {
                    Some((false, format!("ERROR (spawn error: {spawnerr})")))
                }
                (Want::Running, _) => Some((false, "ERROR (abnormal termination)".to_owned())),
                (
                    Want::Stopped,
                    ProcessState::Stopped | ProcessState::Exited | ProcessState::Fatal,
                ) => Some((true, "stopped".to_owned())),
                (Want::Stopped, _) => None,
            };
            match done {
                Some((ok, message)) => {
                    let w = self.waiters.swap_remove(i);
                    let _ = w.tx.send(ActionResult {
                        name: namespec.clone(),
                        ok,
                        message,
                    });
                }
                None => i += 1,
            }
        }
    }

    async fn spawn(&mut self, key: &Key) {
        let Some(program) = self.config.program(&key.0).map(|(i, _)| i as u32) else {
            // The program left the config file (re-read by a partial `update`): it cannot be
            // started until an update removes it.
            if let Some(p) = self.procs.get_mut(key) {
                p.spawnerr = "no longer in the config file (run proctorctl update)".into();
            }
            self.set_state(key, ProcessState::Fatal);
            return;
        };
        let Some(p) = self.procs.get_mut(key) else {
            return;
        };
        let instance = p.instance;
        p.laststart = now_secs();
        p.spawnerr.clear();
        p.stop_pending = false;
        let generation = self.generation;
        self.set_state(key, ProcessState::Starting);
        let seq = self
            .order(
                OrderKind::Spawn {
                    generation,
                    program,
                    instance,
                },
                Some(Pending::Spawn(key.clone())),
            )
            .await;
        if let Some(p) = self.procs.get_mut(key) {
            p.spawning = Some(seq);
        }
    }

    /// A start attempt failed (refused spawn, or exited before startsecs): BACKOFF with a delay
    /// growing by a second per failure, FATAL after startretries.
    fn start_failed(&mut self, key: &Key, reason: String) {
        let Some(p) = self.procs.get_mut(key) else {
            return;
        };
        p.spawnerr = reason;
        p.backoff += 1;
        if p.stop_pending {
            p.stop_pending = false;
            self.set_state(key, ProcessState::Stopped);
        } else if p.backoff > p.cfg.startretries {
            info!(
                "gave up: {} entered FATAL state, too many start retries too quickly",
                p.namespec
            );
            self.set_state(key, ProcessState::Fatal);
        } else {
            let delay = Duration::from_secs(p.backoff.into());
            info!(
                "{} entered BACKOFF ({}), retrying in {}s",
                p.namespec, p.spawnerr, p.backoff
            );
            self.set_state(key, ProcessState::Backoff);
            self.set_timer(key, delay, TimerKind::Backoff);
        }
    }

    /// Starts a process; `Err` is the reason it cannot be started now.
    async fn start(&mut self, key: &Key) -> Result<(), String> {
        let Some(p) = self.procs.get_mut(key) else {
            return Err("ERROR (no such process)".into());
        };
        match p.state {
            ProcessState::Starting | ProcessState::Running | ProcessState::Backoff => {
                Err("ERROR (already started)".into())
            }
            ProcessState::Stopping => Err("ERROR (still stopping)".into()),
            _ if p.removing => Err("ERROR (being removed by update)".into()),
            _ => {
                p.backoff = 0;
                self.cancel_timer(key);
                self.spawn(key).await;
                Ok(())
            }
        }
    }

    async fn stop(&mut self, key: &Key) -> Result<(), String> {
        let Some(p) = self.procs.get_mut(key) else {
            return Err("ERROR (no such process)".into());
        };
        match (p.state, p.id) {
            (ProcessState::Starting | ProcessState::Running, Some(id)) => {
                let signal = AllowedSignal::from_number(p.cfg.stopsignal.number)
                    .unwrap_or(AllowedSignal::Term);
                let (group, wait) = (p.cfg.stopasgroup, p.cfg.stopwaitsecs);
                p.laststop = now_secs();
                self.set_state(key, ProcessState::Stopping);
                self.set_timer(key, Duration::from_secs(wait.into()), TimerKind::Kill);
                self.order(
                    OrderKind::Signal { id, signal, group },
                    Some(Pending::Signal(None)),
                )
                .await;
                Ok(())
            }
            (ProcessState::Starting, None) => {
                // The spawn is in flight: stop as soon as it answers.
                p.stop_pending = true;
                self.set_state(key, ProcessState::Stopping);
                Ok(())
            }
            (ProcessState::Backoff, _) => {
                p.laststop = now_secs();
                self.cancel_timer(key);
                self.set_state(key, ProcessState::Stopped);
                Ok(())
            }
            (ProcessState::Stopping, _) => Ok(()),
            _ => Err("ERROR (not running)".into()),
        }
    }

    /// Resolves `name`, `group:name`, `group:*`, a bare group name, and `all`.
    fn resolve(&self, names: &[String]) -> Result<Vec<Key>, Failure> {
        let mut out = Vec::new();
        for n in names {
            let found: Vec<Key> = if n == "all" {
                self.procs.keys().cloned().collect()
            } else if let Some((g, rest)) = n.split_once(':') {
                self.procs
                    .iter()
                    .filter(|(_, p)| p.group == g && (rest == "*" || p.name == rest))
                    .map(|(k, _)| k.clone())
                    .collect()
            } else {
                let exact: Vec<Key> = self
                    .procs
                    .iter()
                    .filter(|(_, p)| p.name == *n)
                    .map(|(k, _)| k.clone())
                    .collect();
                if exact.is_empty() {
                    self.procs
                        .iter()
                        .filter(|(_, p)| p.group == *n)
                        .map(|(k, _)| k.clone())
                        .collect()
                } else {
                    exact
                }
            };
            if found.is_empty() {
                return fail(ErrorKind::BadName, format!("no such process: {n}"));
            }
            for k in found {
                if !out.contains(&k) {
                    out.push(k);
                }
            }
        }
        Ok(out)
    }

    /// (group priority, program priority, group, name): Supervisor's start order.
    fn priority(&self, key: &Key) -> (i32, i32, String, String) {
        let p = &self.procs[key];
        let gp = self
            .config
            .group(&p.group)
            .map_or(p.cfg.priority, |g| g.priority);
        (gp, p.cfg.priority, p.group.clone(), p.name.clone())
    }

    fn sorted_for_display(&self, keys: &mut [Key]) {
        keys.sort_by(|a, b| {
            let (pa, pb) = (&self.procs[a], &self.procs[b]);
            (&pa.group, &pa.name).cmp(&(&pb.group, &pb.name))
        });
    }

    /// A waiter for `key` reaching what `want` asks; judged at once against the current state
    /// too, since a start or stop may already have ended (a spawn refused before the waiter
    /// existed, a BACKOFF process stopped on the spot).
    fn waiter(&mut self, key: &Key, want: Want) -> oneshot::Receiver<ActionResult> {
        let (tx, rx) = oneshot::channel();
        self.waiters.push(Waiter {
            key: key.clone(),
            want,
            tx,
        });
        match self.procs.get(key).map(|p| p.state) {
            Some(state) => self.set_state(key, state),
            None => {
                // Gone already (removed by update): nothing will ever fire it.
                self.waiters.pop();
                let (tx, rx) = oneshot::channel();
                let _ = tx.send(ActionResult {
                    name: key.0.clone(),
                    ok: false,
                    message: "ERROR (no such process)".into(),
                });
                return rx;
            }
        }
        rx
    }

    async fn start_keys(&mut self, mut keys: Vec<Key>) -> Vec<Joinable> {
        keys.sort_by_key(|k| self.priority(k));
        let mut out = Vec::new();
        for k in keys {
            let name = self.procs[&k].namespec.clone();
            if self.shutting_down {
                out.push(Joinable::Done(ActionResult {
                    name,
                    ok: false,
                    message: "ERROR (shutting down)".into(),
                }));
                continue;
            }
            match self.start(&k).await {
                Ok(()) => out.push(Joinable::Wait(self.waiter(&k, Want::Running))),
                Err(message) => out.push(Joinable::Done(ActionResult {
                    name,
                    ok: false,
                    message,
                })),
            }
        }
        out
    }

    async fn stop_keys(&mut self, keys: Vec<Key>) -> Vec<Joinable> {
        let mut out = Vec::new();
        for k in keys {
            let name = self
                .procs
                .get(&k)
                .map(|p| p.namespec.clone())
                .unwrap_or_default();
            match self.stop(&k).await {
                Ok(()) => out.push(Joinable::Wait(self.waiter(&k, Want::Stopped))),
                Err(message) => out.push(Joinable::Done(ActionResult {
                    name,
                    ok: false,
                    message,
                })),
            }
        }
        out
    }

    /// Groups keys by priority, highest first: each level is stopped before the next starts.
    fn stop_levels(&self, keys: Vec<Key>) -> Vec<Vec<Key>> {
        let mut levels: BTreeMap<(i32, i32), Vec<Key>> = BTreeMap::new();
        for k in keys {
            let (gp, pp, _, _) = self.priority(&k);
            levels.entry((gp, pp)).or_default().push(k);
        }
        levels.into_values().rev().collect()
    }

    async fn command(&mut self, cmd: Cmd) {
        match cmd {
            Cmd::Targets(names, reply) => {
                let r = if names.is_empty() {
                    Ok(self.procs.keys().cloned().collect())
                } else {
                    self.resolve(&names)
                };
                let _ = reply.send(r.map(|keys| {
                    keys.iter()
                        .map(|k| {
                            let p = &self.procs[k];
                            TargetInfo {
                                namespec: p.namespec.clone(),
                                group: p.group.clone(),
                                name: p.name.clone(),
                                program: p.program.clone(),
                            }
                        })
                        .collect()
                }));
            }
            Cmd::Status(names, reply) => {
                let now = now_secs();
                let r = if names.is_empty() {
                    Ok(self.procs.keys().cloned().collect())
                } else {
                    self.resolve(&names)
                };
                let _ = reply.send(r.map(|mut keys| {
                    self.sorted_for_display(&mut keys);
                    keys.iter().map(|k| self.procs[k].info(now)).collect()
                }));
            }
            Cmd::Start(names, reply) => match self.resolve(&names) {
                Ok(mut keys) => {
                    // `all` means "whatever is not started yet", as in supervisorctl.
                    if names.iter().any(|n| n == "all") {
                        keys.retain(|k| !self.procs[k].state.is_running());
                    }
                    let jobs = self.start_keys(keys).await;
                    tokio::spawn(async move {
                        let _ = reply.send(Ok(join(jobs).await));
                    });
                }
                Err(e) => {
                    let _ = reply.send(Err(e));
                }
            },
            Cmd::Stop(names, reply) => match self.resolve(&names) {
                Ok(mut keys) => {
                    if names.iter().any(|n| n == "all") {
                        keys.retain(|k| self.procs[k].state.is_running());
                    }
                    let levels = self.stop_levels(keys);
                    let tx = self.tx.clone();
                    tokio::spawn(async move {
                        let _ = reply.send(Ok(stop_in_order(tx, levels).await));
                    });
                }
                Err(e) => {
                    let _ = reply.send(Err(e));
                }
            },
            Cmd::StopKeys(keys, reply) => {
                let jobs = self.stop_keys(keys).await;
                tokio::spawn(async move {
                    let _ = reply.send(join(jobs).await);
                });
            }
            Cmd::Signal(sig, names, reply) => {
                let Some(signal) = AllowedSignal::parse(&sig) else {
                    let allowed: Vec<&str> = AllowedSignal::all_names().collect();
                    let _ = reply.send(fail(
                        ErrorKind::BadArguments,
                        format!("bad signal name '{sig}' (allowed: {})", allowed.join(" ")),
                    ));
                    return;
                };
                match self.resolve(&names) {
                    Ok(mut keys) => {
                        self.sorted_for_display(&mut keys);
                        let mut jobs = Vec::new();
                        for k in keys {
                            let p = &self.procs[&k];
                            let name = p.namespec.clone();
                            match (p.state, p.id) {
                                (
                                    ProcessState::Starting
                                    | ProcessState::Running
                                    | ProcessState::Stopping,
                                    Some(id),
                                ) => {
                                    let (tx, rx) = oneshot::channel();
                                    self.order(
                                        OrderKind::Signal {
                                            id,
                                            signal,
                                            group: false,
                                        },
                                        Some(Pending::Signal(Some(tx))),
                                    )
                                    .await;
                                    jobs.push(Joinable::Signal(name, rx));
                                }
                                _ => jobs.push(Joinable::Done(ActionResult {
                                    name,
                                    ok: false,
                                    message: "ERROR (not running)".into(),
                                })),
                            }
                        }
                        tokio::spawn(async move {
                            let _ = reply.send(Ok(join(jobs).await));
                        });
                    }
                    Err(e) => {
                        let _ = reply.send(Err(e));
                    }
                }
            }
            Cmd::Pids(name, reply) => {
                let r = match name.as_deref() {
                    None => Ok(vec![
                        ("proctord".to_owned(), Some(self.helper_pid)),
                        ("proctor-controld".to_owned(), Some(std::process::id())),
                    ]),
                    Some(n) => self.resolve(&[n.to_owned()]).map(|mut keys| {
                        self.sorted_for_display(&mut keys);
                        keys.iter()
                            .map(|k| (self.procs[k].namespec.clone(), self.procs[k].pid))
                            .collect()
                    }),
                };
                let _ = reply.send(r);
            }
            Cmd::Tail(name, channel, reply) => {
                let r = self
                    .resolve(std::slice::from_ref(&name))
                    .and_then(|keys| match keys.as_slice() {
                        [k] => {
                            let p = &self.procs[k];
                            match channel {
                                Channel::Stdout => Ok(p.stdout.clone()),
                                Channel::Stderr if Arc::ptr_eq(&p.stdout, &p.stderr) => fail(
                                    ErrorKind::Failed,
                                    format!("{name} has no stderr log file (redirect_stderr=true sends stderr to the stdout log)"),
                                ),
                                Channel::Stderr => Ok(p.stderr.clone()),
                            }
                        }
                        _ => fail(
                            ErrorKind::BadArguments,
                            format!("{name} names {} processes; tail one", keys.len()),
                        ),
                    });
                let r = r.and_then(|sink| {
                    if sink.path.is_none() {
                        fail(
                            ErrorKind::Failed,
                            format!(
                                "{name} has no {} log file (NONE or redirected)",
                                channel.name()
                            ),
                        )
                    } else {
                        Ok(sink)
                    }
                });
                let _ = reply.send(r);
            }
            Cmd::ReadConfig(current, reply) => {
                let kind = if current {
                    OrderKind::Reload
                } else {
                    OrderKind::ReadConfig
                };
                self.order(kind, Some(Pending::Config(reply))).await;
            }
            Cmd::CheckUpdate(new, groups, reply) => {
                let _ = reply.send(self.check_update(&new, &groups));
            }
            Cmd::Diff(new, reply) => {
                let _ = reply.send(Ok(update::diff(&self.applied, &new)));
            }
            Cmd::PlanUpdate(reply) => {
                // Everything that differs from what runs is applied: proctord spawns from the
                // file as it last read it, so nothing may stay pending (CheckUpdate made sure
                // a named update changes nothing but the named groups).
                let d = update::diff(&self.applied, &self.config);
                let fresh = update::signatures(&self.config);
                for g in d.added.iter().chain(d.changed.iter()) {
                    if let Some(sig) = fresh.get(g) {
                        self.applied.insert(g.clone(), sig.clone());
                    }
                }
                for g in &d.removed {
                    self.applied.remove(g);
                }
                let mut to_stop = Vec::new();
                for p in self.procs.values_mut() {
                    if d.changed.contains(&p.group) || d.removed.contains(&p.group) {
                        p.removing = true;
                        to_stop.push((p.program.clone(), p.process_num));
                    }
                }
                let _ = reply.send(Ok((d, to_stop)));
            }
            Cmd::FinishUpdate(d, reply) => {
                let mut results = Vec::new();
                let gone: Vec<Key> = self
                    .procs
                    .iter()
                    .filter(|(_, p)| p.removing && !p.state.is_running())
                    .map(|(k, _)| k.clone())
                    .collect();
                for k in gone {
                    self.procs.remove(&k);
                }
                for g in &d.removed {
                    results.push(ActionResult {
                        name: g.clone(),
                        ok: true,
                        message: "removed process group".into(),
                    });
                }
                let fresh: Vec<String> = d.changed.iter().chain(d.added.iter()).cloned().collect();
                self.add_groups(&fresh);
                for g in &d.changed {
                    results.push(ActionResult {
                        name: g.clone(),
                        ok: true,
                        message: "updated process group".into(),
                    });
                }
                for g in &d.added {
                    results.push(ActionResult {
                        name: g.clone(),
                        ok: true,
                        message: "added process group".into(),
                    });
                }
                let autostart: Vec<Key> = self
                    .procs
                    .iter()
                    .filter(|(_, p)| {
                        fresh.contains(&p.group)
                            && p.cfg.autostart
                            && p.state == ProcessState::Stopped
                    })
                    .map(|(k, _)| k.clone())
                    .collect();
                let _ = self.start_keys(autostart).await;
                let _ = reply.send(Ok(results));
            }
            Cmd::Avail(reply) => {
                let mut out = Vec::new();
                for prog in &self.config.programs {
                    let gp = self
                        .config
                        .group(&prog.group)
                        .map_or(prog.priority, |g| g.priority);
                    for p in &prog.processes {
                        out.push(AvailInfo {
                            name: Config::namespec(&prog.group, &p.name),
                            in_use: self.procs.contains_key(&(prog.name.clone(), p.process_num)),
                            autostart: prog.autostart,
                            priority: prog.priority,
                            group_priority: gp,
                        });
                    }
                }
                out.sort_by(|a, b| a.name.cmp(&b.name));
                let _ = reply.send(Ok(out));
            }
            Cmd::Shutdown => self.shutdown(),
        }
    }

    fn check_update(&self, new: &Config, groups: &[String]) -> Result<(), Failure> {
        if let Some(g) = groups
            .iter()
            .find(|g| new.group(g).is_none() && !self.applied.contains_key(*g))
        {
            return fail(ErrorKind::BadName, format!("no such group: {g}"));
        }
        if groups.is_empty() {
            return Ok(());
        }
        let d = update::diff(&self.applied, new);
        let others: Vec<&String> = d
            .added
            .iter()
            .chain(&d.changed)
            .chain(&d.removed)
            .filter(|g| !groups.contains(g))
            .collect();
        if others.is_empty() {
            return Ok(());
        }
        let others: Vec<&str> = others.iter().map(|s| s.as_str()).collect();
        fail(
            ErrorKind::Failed,
            format!(
                "the config file also changes {}: proctord always spawns from the file as a whole, so update those too (proctorctl update {} {}) or all (proctorctl update)",
                others.join(", "),
                groups.join(" "),
                others.join(" ")
            ),
        )
    }

    fn shutdown(&mut self) {
        if self.shutting_down {
            return;
        }
        self.shutting_down = true;
        info!("stopping every service (reverse priority order)");
        let keys: Vec<Key> = self.procs.keys().cloned().collect();
        let levels = self.stop_levels(keys);
        let tx = self.tx.clone();
        let link = self.link.clone();
        tokio::spawn(async move {
            let _ = stop_in_order(tx, levels).await;
            // The last lines a service wrote may still be in its pipe.
            logs::drained(Duration::from_secs(2)).await;
            info!("every service stopped; exiting");
            let _ = link
                .send(&Order {
                    seq: 0,
                    kind: OrderKind::Quit,
                })
                .await;
            std::process::exit(0);
        });
    }

    async fn helper(&mut self, msg: HelperMsg, mut fds: Vec<OwnedFd>) {
        match msg {
            HelperMsg::Spawned {
                seq,
                id,
                pid,
                pipes,
            } => {
                let Some(Pending::Spawn(key)) = self.pending.remove(&seq) else {
                    warn!(seq, "Spawned for an order we did not send");
                    return;
                };
                let Some(p) = self.procs.get_mut(&key) else {
                    return;
                };
                p.spawning = None;
                p.id = Some(id);
                p.pid = Some(pid);
                self.by_id.insert(id, key.clone());
                info!("spawned: '{}' with pid {pid}", p.namespec);
                attach_pipes(p, &mut fds, pipes.stderr);
                if p.stop_pending {
                    p.stop_pending = false;
                    p.state = ProcessState::Starting;
                    let _ = self.stop(&key).await;
                } else if p.cfg.startsecs == 0 {
                    p.backoff = 0;
                    self.set_state(&key, ProcessState::Running);
                } else {
                    let after = Duration::from_secs(p.cfg.startsecs.into());
                    self.set_timer(&key, after, TimerKind::StartSecs);
                }
            }
            HelperMsg::Refused {
                seq,
                reason,
                permanent,
            } => match self.pending.remove(&seq) {
                Some(Pending::Spawn(key)) => {
                    if let Some(p) = self.procs.get_mut(&key) {
                        p.spawning = None;
                        warn!("spawnerr: {}: {reason}", p.namespec);
                        if permanent {
                            // No retry can help (the account is gone): FATAL now.
                            p.backoff = p.cfg.startretries;
                        }
                    }
                    self.start_failed(&key, reason);
                }
                Some(Pending::Signal(tx)) => {
                    warn!("signal refused: {reason}");
                    if let Some(tx) = tx {
                        let _ = tx.send(Err(reason));
                    }
                }
                Some(Pending::Config(reply)) => {
                    let _ = reply.send(fail(ErrorKind::CantReread, reason));
                }
                Some(Pending::Children(_)) | None => warn!(seq, "proctord refused: {reason}"),
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
                let key = (program, process_num);
                let Some(p) = self.procs.get_mut(&key) else {
                    warn!(
                        pid,
                        "proctord has a child of program {} that the config no longer has", key.0
                    );
                    return;
                };
                p.id = Some(id);
                p.pid = Some(pid);
                p.laststart = started;
                let age = now_secs().saturating_sub(started);
                attach_pipes(p, &mut fds, pipes.stderr);
                self.by_id.insert(id, key.clone());
                info!("adopted '{}' (pid {pid}) from proctord", p.namespec);
                if age >= u64::from(p.cfg.startsecs) {
                    self.set_state(&key, ProcessState::Running);
                } else {
                    let left = u64::from(p.cfg.startsecs) - age;
                    self.set_state(&key, ProcessState::Starting);
                    self.set_timer(&key, Duration::from_secs(left), TimerKind::StartSecs);
                }
            }
            HelperMsg::ExitedAway {
                program,
                process_num,
                status,
                pipes,
                ..
            } => {
                let key = (program, process_num);
                let Some(p) = self.procs.get_mut(&key) else {
                    return;
                };
                // What it wrote last may still be in its pipes.
                attach_pipes(p, &mut fds, pipes.stderr);
                // Only a process nobody has touched since this controld started: one adopted
                // above was already started again by the dead controld, and a second report
                // for the same process must not start it twice.
                if p.state == ProcessState::Stopped && p.laststart == 0 {
                    // It was running when the previous controld died; its exit is handled as
                    // if seen live, so autorestart applies.
                    info!("{} exited while controld was down", p.namespec);
                    p.state = ProcessState::Running;
                    self.exit_of(key, status).await;
                }
            }
            HelperMsg::ChildrenEnd { seq } => {
                if let Some(Pending::Children(first_start)) = self.pending.remove(&seq) {
                    if first_start {
                        let keys: Vec<Key> = self
                            .procs
                            .iter()
                            .filter(|(_, p)| p.cfg.autostart && p.state == ProcessState::Stopped)
                            .map(|(k, _)| k.clone())
                            .collect();
                        let _ = self.start_keys(keys).await;
                    } else {
                        info!("restarted: adopted {} running services", self.by_id.len());
                    }
                }
            }
            HelperMsg::ShutdownRequested => self.shutdown(),
            HelperMsg::ReloadPolicy => match self.auth.reload() {
                Ok(what) => info!("SIGHUP: {what}"),
                Err(e) => error!("SIGHUP: policy refused, the previous one stays in force: {e}"),
            },
            HelperMsg::Hello { .. } => warn!("unexpected second Hello from proctord"),
        }
    }

    async fn exited(&mut self, id: u64, status: ExitStatus) {
        if let Some(key) = self.by_id.remove(&id) {
            self.exit_of(key, status).await;
        }
        self.order(OrderKind::AckExit { id }, None).await;
    }

    /// Supervisor's reaction to an exit, by the state the process was in.
    async fn exit_of(&mut self, key: Key, status: ExitStatus) {
        let Some(p) = self.procs.get_mut(&key) else {
            return;
        };
        p.id = None;
        p.pid = None;
        p.laststop = now_secs();
        let (code, expected) = match status {
            ExitStatus::Code(c) => (c, p.cfg.exitcodes.contains(&c)),
            ExitStatus::Signal(s) => (-s, false),
        };
        p.exitstatus = Some(code);
        let how = match status {
            ExitStatus::Code(c) => format!("exit status {c}"),
            ExitStatus::Signal(s) => format!("terminated by signal {s}"),
        };
        match p.state {
            ProcessState::Stopping => {
                info!("stopped: {} ({how})", p.namespec);
                self.cancel_timer(&key);
                self.set_state(&key, ProcessState::Stopped);
                if self.procs.get(&key).is_some_and(|p| p.removing) {
                    self.procs.remove(&key);
                }
            }
            ProcessState::Starting => {
                info!("exited: {} ({how}; not expected)", p.namespec);
                self.cancel_timer(&key);
                self.start_failed(
                    &key,
                    "Exited too quickly (process log may have details)".into(),
                );
            }
            _ => {
                let restart = match p.cfg.autorestart {
                    AutoRestart::Always => true,
                    AutoRestart::Unexpected => !expected,
                    AutoRestart::Never => false,
                };
                info!(
                    "exited: {} ({how}; {})",
                    p.namespec,
                    if expected { "expected" } else { "not expected" }
                );
                self.set_state(&key, ProcessState::Exited);
                if restart && !self.shutting_down {
                    if let Some(p) = self.procs.get_mut(&key) {
                        p.backoff = 0;
                    }
                    self.spawn(&key).await;
                }
            }
        }
    }
}

fn helper_gone(why: &str) -> ! {
    error!("link to proctord: {why}; exiting");
    std::process::exit(1)
}

fn attach_pipes(p: &mut Proc, fds: &mut Vec<OwnedFd>, has_stderr: bool) {
    let mut it = std::mem::take(fds).into_iter();
    if let Some(out) = it.next() {
        tokio::spawn(logs::pump(out, p.stdout.clone()));
    }
    if has_stderr {
        if let Some(err) = it.next() {
            tokio::spawn(logs::pump(err, p.stderr.clone()));
        }
    }
}

enum Joinable {
    Done(ActionResult),
    Wait(oneshot::Receiver<ActionResult>),
    Signal(String, oneshot::Receiver<Result<(), String>>),
}

async fn join(jobs: Vec<Joinable>) -> Vec<ActionResult> {
    let mut out = Vec::with_capacity(jobs.len());
    for j in jobs {
        out.push(match j {
            Joinable::Done(r) => r,
            Joinable::Wait(rx) => rx.await.unwrap_or_else(|_| ActionResult {
                name: String::new(),
                ok: false,
                message: "ERROR (abandoned)".into(),
            }),
            Joinable::Signal(name, rx) => match rx.await {
                Ok(Ok(())) => ActionResult {
                    name,
                    ok: true,
                    message: "signalled".into(),
                },
                Ok(Err(e)) => ActionResult {
                    name,
                    ok: false,
                    message: format!("ERROR ({e})"),
                },
                Err(_) => ActionResult {
                    name,
                    ok: false,
                    message: "ERROR (abandoned)".into(),
                },
            },
        });
    }
    out
}

/// Stops level after level, each fully before the next.
pub async fn stop_in_order(tx: mpsc::Sender<Event>, levels: Vec<Vec<Key>>) -> Vec<ActionResult> {
    let mut out = Vec::new();
    for level in levels {
        let (rtx, rrx) = oneshot::channel();
        if tx
            .send(Event::Cmd(Box::new(Cmd::StopKeys(level, rtx))))
            .await
            .is_err()
        {
            break;
        }
        out.extend(rrx.await.unwrap_or_default());
    }
    out
}
