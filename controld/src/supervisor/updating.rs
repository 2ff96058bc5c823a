//! `reread`, `update` and `avail`: the config file against what runs. controld keeps each
//! group's settings as last applied, so a partial `update` leaves other changes pending, as
//! Supervisor does.

use super::{fail, Failure, Key, Supervisor};
use crate::lifecycle::Phase;
use crate::update;
use proctor_api::control::{ActionResult, AvailInfo, ConfigDiff, ErrorKind, LogInfo};
use proctor_config::{Config, LogConfig, LogTarget};

impl Supervisor {
    /// Whether an update of `groups` (all when empty) can apply `new` as a whole.
    pub(super) fn check_update(&self, new: &Config, groups: &[String]) -> Result<(), Failure> {
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
        let others: Vec<&str> = d
            .added
            .iter()
            .chain(&d.changed)
            .chain(&d.removed)
            .filter(|g| !groups.contains(g))
            .map(String::as_str)
            .collect();
        if others.is_empty() {
            return Ok(());
        }
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

    /// Applies the config proctord made current: returns the changes and the processes to stop.
    /// Everything that differs from what runs is applied: proctord spawns from the file as it
    /// last read it, so nothing may stay pending (`check_update` made sure a named update
    /// changes nothing but the named groups).
    pub(super) fn plan_update(&mut self) -> (ConfigDiff, Vec<Key>) {
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
        (d, to_stop)
    }

    /// Once the processes of changed and removed groups have stopped: drops them, creates the
    /// new ones, and starts those with autostart.
    pub(super) async fn finish_update(&mut self, d: &ConfigDiff) -> Vec<ActionResult> {
        self.procs
            .retain(|_, p| !p.removing || p.life.state().is_running());
        let mut results: Vec<ActionResult> = d
            .removed
            .iter()
            .map(|g| ActionResult::done(g.clone(), "removed process group"))
            .collect();
        let fresh: Vec<String> = d.changed.iter().chain(d.added.iter()).cloned().collect();
        self.add_groups(&fresh);
        results.extend(
            d.changed
                .iter()
                .map(|g| ActionResult::done(g.clone(), "updated process group")),
        );
        results.extend(
            d.added
                .iter()
                .map(|g| ActionResult::done(g.clone(), "added process group")),
        );
        let autostart: Vec<Key> = self
            .procs
            .iter()
            .filter(|(_, p)| {
                fresh.contains(&p.group) && p.cfg.autostart && p.life.phase == Phase::Stopped
            })
            .map(|(k, _)| k.clone())
            .collect();
        let _ = self.start_keys(autostart, true).await;
        proctor_daemon::give_back_free_heap();
        results
    }

    pub(super) fn avail(&self) -> Vec<AvailInfo> {
        let mut out = Vec::new();
        for prog in &self.config.programs {
            let gp = self
                .config
                .group(&prog.group)
                .map_or(prog.priority, |g| g.priority);
            for p in &prog.processes {
                out.push(AvailInfo {
                    name: Config::namespec(&prog.group, &p.name),
                    process: p.name.clone(),
                    group: prog.group.clone(),
                    in_use: self.procs.contains_key(&(prog.name.clone(), p.process_num)),
                    autostart: prog.autostart,
                    priority: prog.priority,
                    group_priority: gp,
                    command: p.command.clone(),
                    directory: p.directory.as_ref().map(|d| d.display().to_string()),
                    user: prog.user.clone(),
                    exitcodes: prog.exitcodes.clone(),
                    killasgroup: prog.killasgroup,
                    redirect_stderr: prog.redirect_stderr,
                    startretries: prog.startretries,
                    startsecs: prog.startsecs,
                    stopsignal: prog.stopsignal.number,
                    stopwaitsecs: prog.stopwaitsecs,
                    stdout: log_info(&p.stdout),
                    stderr: log_info(&p.stderr),
                    serverurl: prog.serverurl.clone(),
                });
            }
        }
        out.sort_by(|a, b| a.name.cmp(&b.name));
        out
    }
}

fn log_info(c: &LogConfig) -> LogInfo {
    let logfile = match &c.target {
        LogTarget::File(p) | LogTarget::Stream(p) => Some(p.display().to_string()),
        LogTarget::Discard | LogTarget::Merged => None,
    };
    LogInfo {
        logfile,
        maxbytes: c.maxbytes,
        backups: c.backups,
        syslog: c.syslog,
    }
}
