//! One supervised process: its state (Supervisor's state machine) and how `status` shows it.

use proctor_config::{Config, ProgramConfig};
use proctor_wire::control::{ProcessInfo, ProcessState};
use std::sync::Arc;

use crate::logs::LogSink;

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
    pub instance: u32,
    pub state: ProcessState,
    pub pid: Option<u32>,
    /// proctord's id for the live child.
    pub id: Option<u64>,
    /// A Spawn order is out and not yet answered.
    pub spawning: Option<u32>,
    /// A stop was asked while the spawn was in flight.
    pub stop_pending: bool,
    pub laststart: u64,
    pub laststop: u64,
    /// Failed starts in a row (Supervisor's `backoff`).
    pub backoff: u32,
    pub exitstatus: Option<i32>,
    pub spawnerr: String,
    /// The pending timer's token; a firing timer with another token is stale.
    pub timer: u64,
    pub stdout: Arc<LogSink>,
    pub stderr: Arc<LogSink>,
    /// Removed from the config by `update`: dropped once stopped.
    pub removing: bool,
}

impl Proc {
    pub fn new(cfg: Arc<ProgramConfig>, instance: u32) -> Option<Proc> {
        let p = cfg.processes.get(instance as usize)?;
        let namespec = Config::namespec(&cfg.group, &p.name);
        let stdout = LogSink::new(&p.stdout, &namespec);
        let stderr = if matches!(p.stderr.target, proctor_config::LogTarget::Merged) {
            stdout.clone()
        } else {
            LogSink::new(&p.stderr, &namespec)
        };
        Some(Proc {
            program: cfg.name.clone(),
            process_num: p.process_num,
            name: p.name.clone(),
            group: cfg.group.clone(),
            namespec,
            instance,
            state: ProcessState::Stopped,
            pid: None,
            id: None,
            spawning: None,
            stop_pending: false,
            laststart: 0,
            laststop: 0,
            backoff: 0,
            exitstatus: None,
            spawnerr: String::new(),
            timer: 0,
            stdout,
            stderr,
            removing: false,
            cfg,
        })
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
            state: self.state,
            pid: self.pid,
            start: self.laststart,
            stop: self.laststop,
            now,
            exitstatus: self.exitstatus,
            spawnerr: self.spawnerr.clone(),
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
        match self.state {
            ProcessState::Running | ProcessState::Starting | ProcessState::Stopping => {
                match self.pid {
                    Some(pid) => format!(
                        "pid {pid}, uptime {}",
                        uptime(now.saturating_sub(self.laststart))
                    ),
                    None => String::new(),
                }
            }
            ProcessState::Backoff | ProcessState::Fatal => self.spawnerr.clone(),
            ProcessState::Stopped | ProcessState::Exited => {
                if self.laststart == 0 {
                    "Not started".into()
                } else {
                    let mut d = local_time(self.laststop);
                    if self.state == ProcessState::Exited {
                        if let Some(code) = self.exitstatus {
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
fn local_time(secs: u64) -> String {
    jiff::Timestamp::from_second(secs as i64)
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
