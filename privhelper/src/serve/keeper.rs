//! Keeping proctor-controld running: starting it, restarting it when it dies, and giving up
//! when it keeps dying at start (the services are then stopped by proctord itself).

use crate::launch::{ControldProc, Launcher};
use nix::poll::PollTimeout;
use proctor_wire::helper::ExitStatus;
use std::time::{Duration, Instant};

/// controld restarts allowed in a row when each dies within `QUICK_DEATH` of its start.
const MAX_QUICK_RESTARTS: u32 = 5;
const QUICK_DEATH: Duration = Duration::from_secs(10);
const RESTART_DELAY: Duration = Duration::from_secs(1);
/// controld's exit status when it refuses the configuration at first start (EX_CONFIG).
const CONTROLD_EXIT_CONFIG: i32 = 78;

pub struct Keeper {
    launch: Launcher,
    /// The running controld, if any.
    pub proc: Option<ControldProc>,
    restart_at: Option<Instant>,
    quick_deaths: u32,
    /// A controld has had the live children listed once: later ones must not autostart.
    pub listed_once: bool,
}

/// What a controld's death means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Death {
    /// It was told to stop, or stopped every service: no restart.
    Expected,
    /// It refused the configuration (its policy file) at first start.
    ConfigRefused,
    /// It died at start too often in a row.
    KeepsDying,
    /// Restarted after a delay; the services keep running.
    Restart,
}

impl Keeper {
    pub fn new(launch: Launcher) -> Keeper {
        Keeper {
            launch,
            proc: None,
            restart_at: Some(Instant::now()),
            quick_deaths: 0,
            listed_once: false,
        }
    }

    /// True once when a (re)start is due.
    pub fn start_due(&mut self) -> bool {
        match self.restart_at {
            Some(at) if Instant::now() >= at => {
                self.restart_at = None;
                true
            }
            _ => false,
        }
    }

    /// No controld runs and none will be started.
    pub fn done(&self) -> bool {
        self.proc.is_none() && self.restart_at.is_none()
    }

    pub fn cancel_restart(&mut self) {
        self.restart_at = None;
    }

    /// How long poll may sleep before a restart is due.
    pub fn timeout(&self) -> PollTimeout {
        match self.restart_at {
            Some(at) => {
                let ms = at.saturating_duration_since(Instant::now()).as_millis();
                let ms = i32::try_from(ms.min(60_000)).unwrap_or(60_000) + 1;
                PollTimeout::try_from(ms).unwrap_or(PollTimeout::NONE)
            }
            None => PollTimeout::NONE,
        }
    }

    /// Starts a controld; its pid once it runs.
    pub fn start(&mut self) -> Result<nix::unistd::Pid, String> {
        let proc = self.launch.start()?;
        Ok(self.proc.insert(proc).pid)
    }

    /// A start failed: true when it is tried again later. The services are running once a
    /// controld has adopted them, and a passing shortage (fds, processes) is no reason to stop
    /// them all: retry, within the same budget as deaths.
    pub fn retry_start(&mut self) -> bool {
        if self.listed_once && self.quick_deaths < MAX_QUICK_RESTARTS {
            self.quick_deaths += 1;
            self.restart_at = Some(Instant::now() + RESTART_DELAY);
            true
        } else {
            false
        }
    }

    /// The controld exited with `status`; `serving` is false once proctord is stopping.
    pub fn exited(&mut self, status: ExitStatus, serving: bool) -> Option<Death> {
        let proc = self.proc.take()?;
        if !serving {
            return Some(Death::Expected);
        }
        if status == ExitStatus::Code(CONTROLD_EXIT_CONFIG) && !self.listed_once {
            return Some(Death::ConfigRefused);
        }
        let quick = proc.started.elapsed() < QUICK_DEATH;
        self.quick_deaths = if quick { self.quick_deaths + 1 } else { 0 };
        if self.quick_deaths >= MAX_QUICK_RESTARTS {
            return Some(Death::KeepsDying);
        }
        self.restart_at = Some(Instant::now() + RESTART_DELAY);
        Some(Death::Restart)
    }
}
