//! The supervisor: one task that owns every process, talks to proctord, and answers the control
//! socket's commands. It sleeps until a message, a command or its next timer.
//!
//! What a process does next is decided by [`crate::lifecycle`] alone; the modules here carry its
//! effects out and feed it what happens:
//!
//! - [`drive`]: feeds a process's lifecycle and carries out its effects (orders, timers,
//!   waiters).
//! - [`from_helper`]: proctord's messages; [`adopt`]: what a controld learns when it starts.
//! - [`commands`]: the control socket's commands; [`names`] resolves the names they carry.
//! - [`updating`]: `reread`, `update` and `avail`.
//! - [`join`]: collecting the results of many starts, stops or signals.
//! - [`timers`]: one timer per process, in one queue.

mod adopt;
mod commands;
mod drive;
mod from_helper;
mod join;
mod names;
mod pools;
mod ticks;
mod timers;
mod updating;

pub use join::stop_in_order;
pub use timers::Token;

use crate::link::Link;
use crate::logs;
use crate::procs::Proc;
use crate::update;
use nix::unistd::Pid;
use proctor_api::control::{ActionResult, AvailInfo, Channel, ConfigDiff, ErrorKind, ProcessInfo};
use proctor_config::Config;
use proctor_events::event::Kind;
use proctor_wire::helper::HelperMsg;
use proctor_wire::ids::{ChildId, Generation, ProgramIndex, Seq};
use proctor_wire::order::{Order, OrderKind};
use std::collections::{BTreeMap, HashMap};
use std::os::fd::OwnedFd;
use std::sync::Arc;
use tokio::sync::{mpsc, oneshot};
use tracing::error;

/// (program name, process_num): a process's identity across reloads.
pub type Key = (String, u32);
pub type Failure = (ErrorKind, String);
pub type Reply<T> = oneshot::Sender<Result<T, Failure>>;

pub enum Event {
    Cmd(Box<Cmd>),
    /// What an event listener wrote, read as the protocol.
    Listener(crate::listeners::Said),
    /// Events a service's output made (PROCESS_LOG_*, PROCESS_COMMUNICATION_*).
    Notices(Vec<crate::output_events::Notice>),
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

impl TargetInfo {
    /// What the policy decides on.
    pub fn target(&self) -> proctor_policy::Target<'_> {
        proctor_policy::Target {
            namespec: &self.namespec,
            group: &self.group,
            name: &self.name,
            program: &self.program,
        }
    }
}

pub enum Cmd {
    /// The processes `names` stand for (all when empty), for the policy check.
    Targets(Vec<String>, Reply<Vec<TargetInfo>>),
    Status(Vec<String>, Reply<Vec<ProcessInfo>>),
    /// Names, and whether to answer only once each has started (or failed).
    Start(Vec<String>, bool, Reply<Vec<ActionResult>>),
    /// Names, and whether to answer only once each has stopped.
    Stop(Vec<String>, bool, Reply<Vec<ActionResult>>),
    StopKeys(Vec<Key>, oneshot::Sender<Vec<ActionResult>>),
    Signal(String, Vec<String>, Reply<Vec<ActionResult>>),
    Pids(Option<String>, Reply<Vec<(String, Option<u32>)>>),
    Tail(String, Channel, Reply<Arc<logs::LogSink>>),
    /// Each process's name (`group:name`) and its log sinks, to clear them.
    Sinks(Vec<String>, Reply<Vec<(String, Vec<Arc<logs::LogSink>>)>>),
    ReadConfig(bool, Reply<(Config, Generation)>),
    Diff(Config, Reply<ConfigDiff>),
    /// Checks that an update of these groups (all when empty) can apply `Config` as a whole.
    CheckUpdate(Config, Vec<String>, Reply<()>),
    /// Applies the config proctord made current; returns the changes and the keys to stop.
    /// The groups to apply (all when empty).
    PlanUpdate(Vec<String>, Reply<(ConfigDiff, Vec<Key>)>),
    FinishUpdate(ConfigDiff, Reply<Vec<ActionResult>>),
    Avail(Reply<Vec<AvailInfo>>),
    /// The one process a name stands for, and the write end of its stdin if it is running
    /// (`None`: not running, or stopping).
    Stdin(String, Reply<(String, Option<Arc<std::os::fd::OwnedFd>>)>),
    /// The recent events and a subscription to the next ones.
    Events(Reply<crate::events::Subscription>),
    /// `sendRemoteCommEvent(type, data)`: REMOTE_COMMUNICATION to the pools subscribed.
    RemoteComm(String, String, Reply<()>),
    /// The groups with processes (active), for `add`.
    ActiveGroups(Reply<Vec<String>>),
    /// Deactivates these groups, if none of their processes runs.
    RemoveGroups(Vec<String>, Reply<Vec<ActionResult>>),
    /// Starts every autostart process that is not running (the end of a reload).
    StartAutostart(Reply<Vec<ActionResult>>),
    Shutdown,
}

/// What an order's answer is for.
enum Pending {
    Spawn(Key),
    Signal(Option<oneshot::Sender<Result<(), String>>>),
    Config(Reply<(Config, Generation)>),
    Children { first_start: bool },
}

pub struct Supervisor {
    /// The config file as proctord last read it.
    config: Config,
    /// Each group's settings as last applied (differs from `config` after a partial update).
    applied: BTreeMap<String, update::GroupSig>,
    generation: Generation,
    helper_pid: Pid,
    procs: BTreeMap<Key, Proc>,
    by_id: HashMap<ChildId, Key>,
    timers: timers::Timers,
    link: Arc<Link>,
    seq: Seq,
    pending: HashMap<Seq, Pending>,
    waiters: Vec<drive::Waiter>,
    /// One sink per log path, shared by every process that names it.
    sinks: logs::Sinks,
    tx: mpsc::Sender<Event>,
    shutting_down: bool,
    /// Process events, for `proctorctl events`.
    events: crate::events::Bus,
    /// The event listener pools, by group name.
    pools: BTreeMap<String, pools::PoolState>,
    /// Supervisor's global event serial: taken by each event some pool accepts.
    event_serial: proctor_events::pool::Serial,
    /// When each TICK_* period last began, as supervisord keeps them.
    ticks: ticks::Ticks,
    /// For SIGHUP to proctord, which reloads the policy.
    auth: Arc<crate::authority::Authority>,
}

fn fail<T>(kind: ErrorKind, msg: impl Into<String>) -> Result<T, Failure> {
    Err((kind, msg.into()))
}

impl Supervisor {
    pub fn new(
        config: Config,
        generation: Generation,
        helper_pid: Pid,
        link: Arc<Link>,
        tx: mpsc::Sender<Event>,
        auth: Arc<crate::authority::Authority>,
        first_start: bool,
    ) -> Supervisor {
        let mut s = Supervisor {
            applied: update::signatures(&config),
            config,
            generation,
            helper_pid,
            procs: BTreeMap::new(),
            by_id: HashMap::new(),
            timers: timers::Timers::default(),
            link,
            seq: Seq(0),
            pending: HashMap::new(),
            waiters: Vec::new(),
            sinks: logs::Sinks::default(),
            tx,
            shutting_down: false,
            auth,
            events: crate::events::Bus::default(),
            pools: BTreeMap::new(),
            event_serial: proctor_events::pool::Serial::default(),
            ticks: ticks::Ticks::new(),
        };
        let all: Vec<String> = s.config.groups.iter().map(|g| g.name.clone()).collect();
        // A controld started again after a crash finds the groups where they were: no
        // PROCESS_GROUP_ADDED for them (supervisord never restarts under its groups).
        s.add_groups(&all, first_start);
        proctor_daemon::give_back_free_heap();
        s
    }

    /// Creates the processes of the named groups from their settings as applied, and their
    /// pools; `announce`: with PROCESS_GROUP_ADDED for each.
    fn add_groups(&mut self, groups: &[String], announce: bool) {
        for g in groups {
            let Some((_, _, programs)) = self.applied.get(g) else {
                continue;
            };
            for cfg in programs {
                // Spawned from the file as proctord holds it now, until the group is updated.
                let index = self
                    .config
                    .program(&cfg.name)
                    .and_then(|(i, _)| ProgramIndex::of(i));
                let spawn_from = index.map(|i| (self.generation, i));
                for instance in 0..cfg.processes.len() {
                    if let Some(mut p) = Proc::new(cfg.clone(), instance, &mut self.sinks) {
                        p.spawn_from = spawn_from;
                        self.procs.insert((p.program.clone(), p.process_num), p);
                    }
                }
            }
            if announce {
                self.group_added(g);
            } else {
                self.group_pool(g);
            }
        }
    }

    pub async fn run(mut self, mut rx: mpsc::Receiver<Event>, first_start: bool) {
        if first_start {
            self.notify(Kind::SupervisorStateChangeRunning, String::new(), None);
        }
        let listing = self
            .order(OrderKind::Children, Some(Pending::Children { first_start }))
            .await;
        // Commands wait until the live children are known: a restarted controld answering
        // `status` earlier would show running services as STOPPED.
        let mut held = Vec::new();
        while self.pending.contains_key(&listing) {
            match rx.recv().await {
                Some(Event::Cmd(cmd)) => held.push(cmd),
                Some(Event::Helper(msg, fds)) => self.helper(msg, fds).await,
                Some(Event::Listener(said)) => self.listener_said(said),
                Some(Event::Notices(notices)) => self.notices(notices),
                Some(Event::HelperGone(why)) => helper_gone(&why),
                None => return,
            }
        }
        for cmd in held {
            self.command(*cmd).await;
        }
        loop {
            let next = self.timers.next_deadline();
            let tick = self.next_tick();
            tokio::select! {
                ev = rx.recv() => match ev {
                    Some(Event::Cmd(cmd)) => self.command(*cmd).await,
                    Some(Event::Helper(msg, fds)) => {
                        self.helper(msg, fds).await;
                        crate::heap::busy();
                    }
                    Some(Event::Listener(said)) => self.listener_said(said),
                    Some(Event::Notices(notices)) => self.notices(notices),
                    Some(Event::HelperGone(why)) => helper_gone(&why),
                    None => return,
                },
                _ = tokio::time::sleep_until(next.unwrap_or_else(tokio::time::Instant::now)), if next.is_some() => {
                    self.fire_timers().await;
                }
                _ = tokio::time::sleep(tick.unwrap_or_default()), if tick.is_some() => self.tick(),
            }
        }
    }

    /// Sends an order; its answer goes to `pending`. proctord gone means nothing can be
    /// supervised any more: exit, and let proctord's end decide what happens to the services.
    async fn order(&mut self, kind: OrderKind, pending: Option<Pending>) -> Seq {
        self.seq = self.seq.next();
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
}

fn helper_gone(why: &str) -> ! {
    error!("link to proctord: {why}; exiting");
    std::process::exit(1)
}
