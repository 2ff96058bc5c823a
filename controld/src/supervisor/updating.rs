//! `reread`, `update` and `avail`: the config file against what runs. controld keeps each
//! group's settings as last applied, so a partial `update` leaves other changes pending, as
//! Supervisor does.

use super::{fail, Failure, Key, Supervisor};
use crate::lifecycle::Phase;
use crate::update;
use proctor_api::control::{ActionCode, ActionResult, AvailInfo, ConfigDiff, ErrorKind, LogInfo};
use proctor_config::{Config, LogConfig, LogTarget};
use proctor_wire::ids::ProgramIndex;

impl Supervisor {
    /// Whether an update of `groups` (all when empty) can apply `new`: each named group must be
    /// in the file or running. The groups it does not name stay as they run, on the config
    /// generation they were added from, until they are updated.
    pub(super) fn check_update(&self, new: &Config, groups: &[String]) -> Result<(), Failure> {
        if let Some(g) = groups
            .iter()
            .find(|g| new.group(g).is_none() && !self.applied.contains_key(*g))
        {
            return fail(ErrorKind::BadName, format!("no such group: {g}"));
        }
        Ok(())
    }

    /// Applies the config proctord made current to `groups` (all when empty): returns the
    /// changes and the processes to stop. The other groups' changes stay pending, as under
    /// Supervisor: their processes are spawned from the generation they were added from.
    pub(super) fn plan_update(&mut self, groups: &[String]) -> (ConfigDiff, Vec<Key>) {
        let mut d = update::diff(&self.applied, &self.config);
        if !groups.is_empty() {
            for list in [&mut d.added, &mut d.changed, &mut d.removed] {
                list.retain(|g| groups.contains(g));
            }
        }
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
            } else if fresh
                .get(&p.group)
                .is_some_and(|sig| self.applied.get(&p.group) == Some(sig))
            {
                // The file has this group's settings as they run: spawned from the new
                // generation from now on, so that the old one can be let go.
                p.spawn_from = self
                    .config
                    .program(&p.program)
                    .and_then(|(i, _)| ProgramIndex::of(i))
                    .map(|i| (self.generation, i));
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
        // A changed group is removed and added again, as supervisorctl's update does it.
        for g in d.removed.iter().chain(d.changed.iter()) {
            self.group_removed(g);
        }
        let fresh: Vec<String> = d.changed.iter().chain(d.added.iter()).cloned().collect();
        self.add_groups(&fresh, true);
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

impl Supervisor {
    /// Supervisor's `remove`: a group none of whose processes runs leaves the active set; the
    /// file keeps it, and `add` or `update` brings it back.
    pub(super) fn remove_group(&mut self, group: &str) -> ActionResult {
        let keys: Vec<Key> = self
            .procs
            .iter()
            .filter(|(_, p)| p.group == group)
            .map(|(k, _)| k.clone())
            .collect();
        if keys.is_empty() {
            return ActionResult::failed(group, ActionCode::BadName, "ERROR (no such group)");
        }
        if keys.iter().any(|k| self.procs[k].life.state().is_running()) {
            return ActionResult::failed(group, ActionCode::StillRunning, "ERROR (still running)");
        }
        // A timer still armed for one of them finds no process when it fires, and is dropped.
        for k in &keys {
            self.procs.remove(k);
        }
        self.applied.remove(group);
        self.group_removed(group);
        ActionResult::done(group, "removed process group")
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
        events_enabled: c.events_enabled,
        capture_maxbytes: c.capture_maxbytes,
    }
}
