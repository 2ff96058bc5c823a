//! One supervised process: its state (Supervisor's state machine) and how `status` shows it.

use crate::lifecycle::Lifecycle;
use crate::logs::{LogSink, Sinks};
use crate::supervisor::Token;
use proctor_api::control::{ProcessInfo, ProcessState};
use proctor_config::{Config, ProgramConfig};
use proctor_wire::ids::{Generation, InstanceIndex, ProgramIndex};
use std::sync::Arc;

pub struct Proc {
    /// Program name and process_num: the identity that survives reloads.
    pub program: String,
    pub process_num: u32,
    pub name: String,
    pub group: String,
    pub namespec: String,
    /// The program's settings this process runs under (replaced by `update`).
    pub cfg: Arc<ProgramConfig>,
    /// Index of the instance in the program (0..numprocs): what Spawn orders carry.
    pub instance: InstanceIndex,
    /// Where it is in Supervisor's state machine, and what `status` shows of its past.
    pub life: Lifecycle,
    /// The pending timer's token; a firing timer with another token is stale.
    pub timer: Token,
    pub stdout: Arc<LogSink>,
    pub stderr: Arc<LogSink>,
    /// Removed from the config by `update`: dropped once stopped.
    pub removing: bool,
    /// The config generation its group was added from, and its program's place in it: what
    /// it is spawned from until its group is updated, as Supervisor keeps a group's settings.
    pub spawn_from: Option<(Generation, ProgramIndex)>,
    /// The write end of the live child's stdin pipe (shared with a write under way).
    pub stdin: Option<Arc<std::os::fd::OwnedFd>>,
    /// An `[eventlistener:x]` process's side of the protocol, from its spawn to its exit.
    pub listener: Option<crate::listeners::ListenerLink>,
    /// How Supervisor names the last spawn failure (its `spawnerr`), for a start's answer.
    pub spawn_code: proctor_api::control::ActionCode,
}

impl Proc {
    /// `sinks`: the log sinks in use, so that processes naming one path share its sink.
    pub fn new(cfg: Arc<ProgramConfig>, index: usize, sinks: &mut Sinks) -> Option<Proc> {
        let p = cfg.processes.get(index)?;
        let instance = InstanceIndex::of(index)?;
        let namespec = Config::namespec(&cfg.group, &p.name);
        let stdout = sinks.get(&p.stdout, &namespec);
        let stderr = if matches!(p.stderr.target, proctor_config::LogTarget::Merged) {
            stdout.clone()
        } else {
            sinks.get(&p.stderr, &namespec)
        };
        Some(Proc {
            program: cfg.name.clone(),
            process_num: p.process_num,
            name: p.name.clone(),
            group: cfg.group.clone(),
            namespec,
            instance,
            life: Lifecycle::default(),
            timer: Token::NONE,
            stdout,
            stderr,
            removing: false,
            spawn_from: None,
            stdin: None,
            listener: None,
            spawn_code: proctor_api::control::ActionCode::SpawnError,
            cfg,
        })
    }

    /// What its events say it is.
    pub fn who(&self) -> crate::events::Who {
        crate::events::Who {
            namespec: self.namespec.clone(),
            group: self.group.clone(),
            name: self.name.clone(),
            program: self.program.clone(),
        }
    }

    /// The live child's pid, as the control protocol carries it.
    pub fn pid(&self) -> Option<u32> {
        self.life
            .phase
            .child()
            .and_then(|c| u32::try_from(c.pid.as_raw()).ok())
    }

    pub fn info(&self, now: u64) -> ProcessInfo {
        let path = |s: &Arc<LogSink>| {
            s.path
                .as_ref()
                .map(|p| p.display().to_string())
                .unwrap_or_default()
        };
        ProcessInfo {
            namespec: self.namespec.clone(),
            name: self.name.clone(),
            group: self.group.clone(),
            state: self.life.state(),
            pid: self.pid(),
            start: self.life.laststart,
            stop: self.life.laststop,
            now,
            exitstatus: self.life.exitstatus,
            spawnerr: self.life.spawnerr.clone(),
            description: self.description(now),
            stdout_logfile: path(&self.stdout),
            stderr_logfile: path(&self.stderr),
            log_bytes_lost: self.log_bytes_lost(),
        }
    }

    fn log_bytes_lost(&self) -> u64 {
        let err = if Arc::ptr_eq(&self.stdout, &self.stderr) {
            0
        } else {
            self.stderr.lost()
        };
        self.stdout.lost() + err
    }

    /// Supervisor's description column, and what proctor adds to it (lost log output).
    fn description(&self, now: u64) -> String {
        let mut d = self.supervisor_description(now);
        let lost = self.log_bytes_lost();
        if lost > 0 {
            if !d.is_empty() {
                d.push_str(", ");
            }
            d.push_str(&format!("{lost} log bytes lost"));
        }
        d
    }

    fn supervisor_description(&self, now: u64) -> String {
        let life = &self.life;
        match life.state() {
            ProcessState::Running | ProcessState::Starting | ProcessState::Stopping => {
                match self.pid() {
                    Some(pid) => format!(
                        "pid {pid}, uptime {}",
                        uptime(now.saturating_sub(life.laststart))
                    ),
                    None => String::new(),
                }
            }
            ProcessState::Backoff | ProcessState::Fatal => life.spawnerr.clone(),
            ProcessState::Stopped | ProcessState::Exited => {
                if life.laststart == 0 {
                    "Not started".into()
                } else {
                    let mut d = local_time(life.laststop);
                    if life.state() == ProcessState::Exited {
                        if let Some(code) = life.exitstatus {
                            d.push_str(&format!(", exit status {code}"));
                        }
                    }
                    d
                }
            }
            ProcessState::Unknown => String::new(),
        }
    }
}

/// `H:MM:SS`, with `N days, ` in front past a day, as Supervisor prints it.
pub fn uptime(secs: u64) -> String {
    let (days, rest) = (secs / 86400, secs % 86400);
    let hms = format!("{}:{:02}:{:02}", rest / 3600, rest % 3600 / 60, rest % 60);
    match days {
        0 => hms,
        1 => format!("1 day, {hms}"),
        d => format!("{d} days, {hms}"),
    }
}

/// `Nov 24 01:02 AM`, in the system's time zone.
pub fn local_time(secs: u64) -> String {
    i64::try_from(secs)
        .ok()
        .and_then(|s| jiff::Timestamp::from_second(s).ok())
        .map(|t| {
            t.to_zoned_datetime(jiff::tz::TimeZone::system())
                .strftime("%b %d %I:%M %p")
                .to_string()
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uptime_is_formatted_like_supervisor() {
        assert_eq!(uptime(0), "0:00:00");
        assert_eq!(uptime(3 * 60 + 12), "0:03:12");
        assert_eq!(uptime(86400 + 3600), "1 day, 1:00:00");
        assert_eq!(uptime(2 * 86400 + 61), "2 days, 0:01:01");
    }
}
