//! One process's lifecycle, as Supervisor defines it (STOPPED, STARTING, RUNNING, BACKOFF,
//! STOPPING, EXITED, FATAL), as data and one function: [`Lifecycle::step`] takes what happened
//! and returns what controld must do. Nothing here reads a clock, touches a socket or spawns a
//! task: time comes in with the input, and every state change leaves as an [`Effect::State`], so
//! anything that follows state changes (waiters, events) hangs off the effects alone.
//!
//! The table in `tests.rs` runs every transition in microseconds; the end-to-end tests prove the
//! same on real processes.

#[cfg(test)]
mod tests;

use nix::unistd::Pid;
use proctor_api::control::ProcessState;
use proctor_config::{AutoRestart, ProgramConfig};
use proctor_wire::helper::ExitStatus;
use proctor_wire::ids::ChildId;
use proctor_wire::signal::AllowedSignal;
use std::fmt;
use std::time::Duration;

/// A live child, as proctord named it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Child {
    pub id: ChildId,
    pub pid: Pid,
}

/// Where a process is. Each phase carries what it needs, so no two fields can disagree.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Phase {
    #[default]
    Stopped,
    /// A Spawn order is out and unanswered (STARTING). With `stop_requested`, a stop came in
    /// meanwhile (STOPPING): the child is stopped as soon as proctord reports it.
    Spawning {
        stop_requested: bool,
    },
    /// Running for less than `startsecs`; the StartSecs timer is armed.
    Starting(Child),
    Running(Child),
    /// A start failed; the Backoff timer will try again.
    Backoff,
    /// The stop signal was sent; the Kill timer is armed.
    Stopping(Child),
    Exited,
    Fatal,
}

/// The state of one process, and what `status` shows about its past.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Lifecycle {
    pub phase: Phase,
    /// Seconds since the epoch; 0 when never started.
    pub laststart: u64,
    pub laststop: u64,
    /// Failed starts in a row (Supervisor's `backoff`).
    pub backoff: u32,
    pub exitstatus: Option<i32>,
    /// Whether the last exit's code was one of `exitcodes` (PROCESS_STATE_EXITED says so).
    pub expected: bool,
    pub spawnerr: String,
}

/// The program's settings a step needs.
#[derive(Debug, Clone, Copy)]
pub struct Settings<'a> {
    /// `group:name`, for the log lines.
    pub namespec: &'a str,
    pub startsecs: u32,
    pub startretries: u32,
    pub autorestart: AutoRestart,
    pub exitcodes: &'a [i32],
    pub stopsignal: AllowedSignal,
    pub stopwaitsecs: u32,
    pub stopasgroup: bool,
    pub killasgroup: bool,
}

impl<'a> Settings<'a> {
    pub fn of(namespec: &'a str, cfg: &'a ProgramConfig) -> Settings<'a> {
        Settings {
            namespec,
            startsecs: cfg.startsecs,
            startretries: cfg.startretries,
            autorestart: cfg.autorestart,
            exitcodes: &cfg.exitcodes,
            // The loader accepts only allow-listed stop signals.
            stopsignal: AllowedSignal::from_number(cfg.stopsignal.number)
                .unwrap_or(AllowedSignal::Term),
            stopwaitsecs: cfg.stopwaitsecs,
            stopasgroup: cfg.stopasgroup,
            killasgroup: cfg.killasgroup,
        }
    }
}

/// What controld knows besides the process itself.
#[derive(Debug, Clone, Copy)]
pub struct Ctx {
    /// Seconds since the epoch.
    pub now: u64,
    /// Every service is being stopped: nothing restarts.
    pub shutting_down: bool,
    /// The program is in the config file proctord spawns from. A partial `update` can leave a
    /// process whose program the file no longer has: it cannot be started until an update
    /// removes it.
    pub spawnable: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum TimerKind {
    StartSecs,
    Backoff,
    Kill,
}

/// What happened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    /// `start` was asked.
    Start,
    /// `stop` was asked.
    Stop,
    /// proctord answered a Spawn: the child runs.
    Spawned(Child),
    /// proctord (or controld, for a program no longer in the file) refused a Spawn.
    /// `permanent`: no retry can help, so FATAL at once.
    SpawnRefused { reason: String, permanent: bool },
    /// Child `id` was reaped.
    Exited { id: ChildId, status: ExitStatus },
    /// The process exited while no controld was running (reported at adoption).
    ExitedAway(ExitStatus),
    /// A restarted controld learns of a child started at `started` (epoch seconds).
    Adopted { child: Child, started: u64 },
    /// The timer armed last fired (a cancelled or replaced timer never comes in).
    Timer(TimerKind),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    Info,
    Warn,
}

/// What controld must do, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    /// Send a Spawn order for this process.
    Spawn,
    Signal {
        id: ChildId,
        signal: AllowedSignal,
        group: bool,
    },
    /// Arm this process's one timer, replacing any other.
    Arm(TimerKind, Duration),
    /// Disarm this process's timer.
    Disarm,
    /// The process entered state `to` (possibly the one it was in) from `from`; `pid` is its
    /// child's, the new phase's or, once it has exited, the one it had (what Supervisor's state
    /// events carry).
    State {
        from: ProcessState,
        to: ProcessState,
        pid: Option<u32>,
    },
    Log(Level, String),
}

/// Why a `start` or `stop` was not carried out; the state is unchanged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    AlreadyStarted,
    StillStopping,
    NotRunning,
}

impl Refusal {
    /// Supervisor's name for it: STOPPING counts as running there, so starting a stopping
    /// process is ALREADY_STARTED.
    pub fn code(&self) -> proctor_api::control::ActionCode {
        use proctor_api::control::ActionCode;
        match self {
            Refusal::AlreadyStarted | Refusal::StillStopping => ActionCode::AlreadyStarted,
            Refusal::NotRunning => ActionCode::NotRunning,
        }
    }
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Refusal::AlreadyStarted => "ERROR (already started)",
            Refusal::StillStopping => "ERROR (still stopping)",
            Refusal::NotRunning => "ERROR (not running)",
        })
    }
}

/// The reason shown after a process dies before `startsecs`, as Supervisor words it.
pub const EXITED_TOO_QUICKLY: &str = "Exited too quickly (process log may have details)";

/// The reason shown for a process whose program left the config file.
pub const NOT_IN_CONFIG: &str = "no longer in the config file (run proctorctl update)";

impl Phase {
    /// The state `status` shows.
    pub fn state(self) -> ProcessState {
        match self {
            Phase::Stopped => ProcessState::Stopped,
            Phase::Spawning {
                stop_requested: false,
            }
            | Phase::Starting(_) => ProcessState::Starting,
            Phase::Running(_) => ProcessState::Running,
            Phase::Backoff => ProcessState::Backoff,
            Phase::Spawning {
                stop_requested: true,
            }
            | Phase::Stopping(_) => ProcessState::Stopping,
            Phase::Exited => ProcessState::Exited,
            Phase::Fatal => ProcessState::Fatal,
        }
    }

    /// The live child, if there is one.
    pub fn child(self) -> Option<Child> {
        match self {
            Phase::Starting(c) | Phase::Running(c) | Phase::Stopping(c) => Some(c),
            _ => None,
        }
    }
}

impl Lifecycle {
    pub fn state(&self) -> ProcessState {
        self.phase.state()
    }

    /// The one transition function: applies `input` and returns the effects, or refuses a
    /// `start`/`stop` that the current state does not allow (and changes nothing).
    pub fn step(
        &mut self,
        s: &Settings<'_>,
        ctx: Ctx,
        input: Input,
    ) -> Result<Vec<Effect>, Refusal> {
        let mut fx = Vec::new();
        match input {
            Input::Start => self.start(ctx, &mut fx)?,
            Input::Stop => self.stop(s, ctx, &mut fx)?,
            Input::Spawned(child) => self.spawned(s, ctx, child, &mut fx),
            Input::SpawnRefused { reason, permanent } => {
                if let Phase::Spawning { stop_requested } = self.phase {
                    fx.push(Effect::Log(
                        Level::Warn,
                        format!("spawnerr: {}: {reason}", s.namespec),
                    ));
                    if permanent && !stop_requested {
                        // No retry can help (the account is gone): FATAL now.
                        self.spawnerr = reason;
                        fx.push(Effect::Log(
                            Level::Info,
                            format!(
                                "gave up: {} entered FATAL state: retrying cannot help",
                                s.namespec
                            ),
                        ));
                        self.enter(Phase::Fatal, &mut fx);
                    } else {
                        self.start_failed(s, reason, stop_requested, &mut fx);
                    }
                }
            }
            Input::Exited { id, status } => match self.phase.child() {
                Some(c) if c.id == id => self.exited(s, ctx, status, &mut fx),
                // Not this process's child (a report that crossed a replacement): ignored.
                _ => {}
            },
            Input::ExitedAway(status) => {
                // Only a process nobody has touched since this controld started: one that was
                // started again already must not be started twice by a second report.
                if self.phase == Phase::Stopped && self.laststart == 0 {
                    fx.push(Effect::Log(
                        Level::Info,
                        format!("{} exited while controld was down", s.namespec),
                    ));
                    self.exited_running(s, ctx, status, &mut fx);
                }
            }
            Input::Adopted { child, started } => {
                self.laststart = started;
                let age = ctx.now.saturating_sub(started);
                let startsecs = u64::from(s.startsecs);
                if age >= startsecs {
                    self.enter(Phase::Running(child), &mut fx);
                } else {
                    self.enter(Phase::Starting(child), &mut fx);
                    fx.push(Effect::Arm(
                        TimerKind::StartSecs,
                        Duration::from_secs(startsecs - age),
                    ));
                }
            }
            Input::Timer(kind) => self.timer(s, ctx, kind, &mut fx),
        }
        Ok(fx)
    }

    fn enter(&mut self, phase: Phase, fx: &mut Vec<Effect>) {
        let from = self.phase.state();
        let pid = phase
            .child()
            .or(self.phase.child())
            .and_then(|c| u32::try_from(c.pid.as_raw()).ok());
        self.phase = phase;
        fx.push(Effect::State {
            from,
            to: phase.state(),
            pid,
        });
    }

    fn spawn(&mut self, ctx: Ctx, fx: &mut Vec<Effect>) {
        if !ctx.spawnable {
            self.spawnerr = NOT_IN_CONFIG.to_owned();
            self.enter(Phase::Fatal, fx);
            return;
        }
        self.laststart = ctx.now;
        self.spawnerr.clear();
        // As Supervisor: a new run has no exit status yet.
        self.exitstatus = None;
        self.enter(
            Phase::Spawning {
                stop_requested: false,
            },
            fx,
        );
        fx.push(Effect::Spawn);
    }

    fn start(&mut self, ctx: Ctx, fx: &mut Vec<Effect>) -> Result<(), Refusal> {
        match self.phase {
            Phase::Spawning {
                stop_requested: false,
            }
            | Phase::Starting(_)
            | Phase::Running(_)
            | Phase::Backoff => Err(Refusal::AlreadyStarted),
            Phase::Spawning {
                stop_requested: true,
            }
            | Phase::Stopping(_) => Err(Refusal::StillStopping),
            Phase::Stopped | Phase::Exited | Phase::Fatal => {
                self.backoff = 0;
                fx.push(Effect::Disarm);
                self.spawn(ctx, fx);
                Ok(())
            }
        }
    }

    fn stop(&mut self, s: &Settings<'_>, ctx: Ctx, fx: &mut Vec<Effect>) -> Result<(), Refusal> {
        match self.phase {
            Phase::Starting(child) | Phase::Running(child) => {
                self.send_stop(s, ctx, child, fx);
                Ok(())
            }
            Phase::Spawning {
                stop_requested: false,
            } => {
                // The spawn is in flight: stop as soon as it answers.
                self.enter(
                    Phase::Spawning {
                        stop_requested: true,
                    },
                    fx,
                );
                Ok(())
            }
            Phase::Backoff => {
                self.laststop = ctx.now;
                fx.push(Effect::Disarm);
                self.enter(Phase::Stopped, fx);
                Ok(())
            }
            Phase::Spawning {
                stop_requested: true,
            }
            | Phase::Stopping(_) => Ok(()),
            Phase::Stopped | Phase::Exited | Phase::Fatal => Err(Refusal::NotRunning),
        }
    }

    fn send_stop(&mut self, s: &Settings<'_>, ctx: Ctx, child: Child, fx: &mut Vec<Effect>) {
        self.laststop = ctx.now;
        self.enter(Phase::Stopping(child), fx);
        fx.push(Effect::Arm(
            TimerKind::Kill,
            Duration::from_secs(s.stopwaitsecs.into()),
        ));
        fx.push(Effect::Signal {
            id: child.id,
            signal: s.stopsignal,
            group: s.stopasgroup,
        });
    }

    fn spawned(&mut self, s: &Settings<'_>, ctx: Ctx, child: Child, fx: &mut Vec<Effect>) {
        match self.phase {
            Phase::Spawning {
                stop_requested: true,
            } => self.send_stop(s, ctx, child, fx),
            Phase::Spawning {
                stop_requested: false,
            } if s.startsecs == 0 => {
                self.backoff = 0;
                self.enter(Phase::Running(child), fx);
            }
            Phase::Spawning {
                stop_requested: false,
            } => {
                // STARTING already: no state change, only the child and its timer.
                self.phase = Phase::Starting(child);
                fx.push(Effect::Arm(
                    TimerKind::StartSecs,
                    Duration::from_secs(s.startsecs.into()),
                ));
            }
            // controld sends one Spawn per Spawning phase and nothing leaves that phase but its
            // answer, so this cannot happen; a child nobody tracks must not run.
            _ => {
                fx.push(Effect::Log(
                    Level::Warn,
                    format!(
                        "{}: a spawn answered in state {}: stopping the new child",
                        s.namespec,
                        self.state().name()
                    ),
                ));
                fx.push(Effect::Signal {
                    id: child.id,
                    signal: AllowedSignal::Kill,
                    group: s.killasgroup,
                });
            }
        }
    }

    /// A start attempt failed (refused spawn, or exited before startsecs): BACKOFF with a delay
    /// growing by a second per failure, FATAL after startretries.
    fn start_failed(
        &mut self,
        s: &Settings<'_>,
        reason: String,
        stop_requested: bool,
        fx: &mut Vec<Effect>,
    ) {
        self.spawnerr = reason;
        self.backoff = self.backoff.saturating_add(1);
        if stop_requested {
            self.enter(Phase::Stopped, fx);
        } else if self.backoff > s.startretries {
            fx.push(Effect::Log(
                Level::Info,
                format!(
                    "gave up: {} entered FATAL state, too many start retries too quickly",
                    s.namespec
                ),
            ));
            self.enter(Phase::Fatal, fx);
        } else {
            fx.push(Effect::Log(
                Level::Info,
                format!(
                    "{} entered BACKOFF ({}), retrying in {}s",
                    s.namespec, self.spawnerr, self.backoff
                ),
            ));
            self.enter(Phase::Backoff, fx);
            fx.push(Effect::Arm(
                TimerKind::Backoff,
                Duration::from_secs(self.backoff.into()),
            ));
        }
    }

    /// Supervisor's reaction to an exit, by the state the process was in.
    fn exited(&mut self, s: &Settings<'_>, ctx: Ctx, status: ExitStatus, fx: &mut Vec<Effect>) {
        let stopping = match self.phase {
            Phase::Stopping(_) => true,
            Phase::Starting(_) => false,
            _ => return self.exited_running(s, ctx, status, fx),
        };
        self.record_exit(s, ctx, status);
        let line = if stopping {
            format!("stopped: {} ({})", s.namespec, how(status))
        } else {
            format!("exited: {} ({}; not expected)", s.namespec, how(status))
        };
        fx.push(Effect::Log(Level::Info, line));
        fx.push(Effect::Disarm);
        if stopping {
            self.enter(Phase::Stopped, fx);
        } else {
            self.start_failed(s, EXITED_TOO_QUICKLY.to_owned(), false, fx);
        }
    }

    fn exited_running(
        &mut self,
        s: &Settings<'_>,
        ctx: Ctx,
        status: ExitStatus,
        fx: &mut Vec<Effect>,
    ) {
        let expected = self.record_exit(s, ctx, status);
        let restart = match s.autorestart {
            AutoRestart::Always => true,
            AutoRestart::Unexpected => !expected,
            AutoRestart::Never => false,
        };
        fx.push(Effect::Log(
            Level::Info,
            format!(
                "exited: {} ({}; {})",
                s.namespec,
                how(status),
                if expected { "expected" } else { "not expected" }
            ),
        ));
        self.enter(Phase::Exited, fx);
        if restart && !ctx.shutting_down {
            self.backoff = 0;
            self.spawn(ctx, fx);
        }
    }

    /// Notes the exit; true when its code is one of `exitcodes`.
    fn record_exit(&mut self, s: &Settings<'_>, ctx: Ctx, status: ExitStatus) -> bool {
        self.laststop = ctx.now;
        let (code, expected) = match status {
            ExitStatus::Code(c) => (c, s.exitcodes.contains(&c)),
            ExitStatus::Signal(sig) => (-sig, false),
        };
        self.exitstatus = Some(code);
        self.expected = expected;
        expected
    }

    fn timer(&mut self, s: &Settings<'_>, ctx: Ctx, kind: TimerKind, fx: &mut Vec<Effect>) {
        match (kind, self.phase) {
            (TimerKind::StartSecs, Phase::Starting(child)) => {
                self.backoff = 0;
                fx.push(Effect::Log(
                    Level::Info,
                    format!(
                        "success: {} entered RUNNING state, process has stayed up for > than {} seconds (startsecs)",
                        s.namespec, s.startsecs
                    ),
                ));
                self.enter(Phase::Running(child), fx);
            }
            (TimerKind::Backoff, Phase::Backoff) if ctx.shutting_down => {
                self.enter(Phase::Stopped, fx);
            }
            (TimerKind::Backoff, Phase::Backoff) => self.spawn(ctx, fx),
            (TimerKind::Kill, Phase::Stopping(child)) => {
                fx.push(Effect::Log(
                    Level::Warn,
                    format!("killing {} (pid {}) with SIGKILL", s.namespec, child.pid),
                ));
                fx.push(Effect::Signal {
                    id: child.id,
                    signal: AllowedSignal::Kill,
                    group: s.killasgroup,
                });
            }
            _ => {}
        }
    }
}

fn how(status: ExitStatus) -> String {
    match status {
        ExitStatus::Code(c) => format!("exit status {c}"),
        ExitStatus::Signal(sig) => format!("terminated by signal {sig}"),
    }
}
