//! The control socket's commands, as the server passes them on (already authorized).

use super::drive::Want;
use super::join::{join, stop_in_order, Joinable};
use super::{fail, Cmd, Failure, Key, Pending, Reply, Supervisor, TargetInfo};
use crate::lifecycle::Input;
use crate::logs::{self, LogSink};
use proctor_api::control::{ActionCode, ActionResult, Channel, ErrorKind};
use proctor_daemon::now_secs;
use proctor_events::event::Kind;
use proctor_wire::order::{Order, OrderKind};
use proctor_wire::signal::AllowedSignal;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::oneshot;
use tracing::info;

impl Supervisor {
    pub(super) async fn command(&mut self, cmd: Cmd) {
        match cmd {
            Cmd::Targets(names, reply) => {
                let r = self.resolve_or_all(&names).map(|keys| {
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
                });
                let _ = reply.send(r);
            }
            Cmd::Status(names, reply) => {
                let now = now_secs();
                let r = self.resolve_or_all(&names).map(|mut keys| {
                    self.sorted_for_display(&mut keys);
                    keys.iter().map(|k| self.procs[k].info(now)).collect()
                });
                let _ = reply.send(r);
            }
            Cmd::Start(names, wait, reply) => match self.resolve(&names) {
                Ok(mut keys) => {
                    // `all` means "whatever is not started yet", as in supervisorctl.
                    if names.iter().any(|n| n == "all") {
                        keys.retain(|k| !self.procs[k].life.state().is_running());
                    }
                    let jobs = self.start_keys(keys, wait).await;
                    tokio::spawn(async move {
                        let _ = reply.send(Ok(join(jobs).await));
                    });
                }
                Err(e) => {
                    let _ = reply.send(Err(e));
                }
            },
            Cmd::Stop(names, wait, reply) => match self.resolve(&names) {
                Ok(mut keys) => {
                    if names.iter().any(|n| n == "all") {
                        keys.retain(|k| self.procs[k].life.state().is_running());
                    }
                    if wait {
                        let levels = self.stop_levels(keys);
                        let tx = self.tx.clone();
                        tokio::spawn(async move {
                            let _ = reply.send(Ok(stop_in_order(tx, levels).await));
                        });
                    } else {
                        // Not waiting, there is no order to keep: each is told to stop now.
                        let jobs = self.stop_keys(keys, false).await;
                        let _ = reply.send(Ok(join(jobs).await));
                    }
                }
                Err(e) => {
                    let _ = reply.send(Err(e));
                }
            },
            Cmd::StopKeys(keys, reply) => {
                let jobs = self.stop_keys(keys, true).await;
                tokio::spawn(async move {
                    let _ = reply.send(join(jobs).await);
                });
            }
            Cmd::Signal(sig, names, reply) => self.signal(&sig, &names, reply).await,
            Cmd::Pids(name, reply) => {
                let r = match name.as_deref() {
                    None => Ok(vec![
                        (
                            "proctord".to_owned(),
                            u32::try_from(self.helper_pid.as_raw()).ok(),
                        ),
                        ("proctor-controld".to_owned(), Some(std::process::id())),
                    ]),
                    Some(n) => self.resolve(&[n.to_owned()]).map(|mut keys| {
                        self.sorted_for_display(&mut keys);
                        keys.iter()
                            .map(|k| (self.procs[k].namespec.clone(), self.procs[k].pid()))
                            .collect()
                    }),
                };
                let _ = reply.send(r);
            }
            Cmd::Tail(name, channel, reply) => {
                let _ = reply.send(self.tail(&name, channel));
            }
            Cmd::Sinks(names, reply) => {
                let r = self.resolve(&names).map(|mut keys| {
                    self.sorted_for_display(&mut keys);
                    keys.iter()
                        .map(|k| {
                            let p = &self.procs[k];
                            let mut sinks = vec![p.stdout.clone()];
                            if !Arc::ptr_eq(&p.stdout, &p.stderr) {
                                sinks.push(p.stderr.clone());
                            }
                            (p.namespec.clone(), sinks)
                        })
                        .collect()
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
                let _ = reply.send(Ok(crate::update::diff(&self.applied, &new)));
            }
            Cmd::PlanUpdate(groups, reply) => {
                let _ = reply.send(Ok(self.plan_update(&groups)));
            }
            Cmd::FinishUpdate(d, reply) => {
                let results = self.finish_update(&d).await;
                let _ = reply.send(Ok(results));
            }
            Cmd::Stdin(name, reply) => {
                let r = self.resolve(std::slice::from_ref(&name)).and_then(|keys| {
                    let [k] = keys.as_slice() else {
                        return fail(
                            ErrorKind::BadArguments,
                            format!("{name} names {} processes; write to one", keys.len()),
                        );
                    };
                    let p = &self.procs[k];
                    // Supervisor's rule: a process with a pid that is not being stopped.
                    let open = p.pid().is_some()
                        && !matches!(p.life.state(), proctor_api::control::ProcessState::Stopping);
                    Ok((p.namespec.clone(), p.stdin.clone().filter(|_| open)))
                });
                let _ = reply.send(r);
            }
            Cmd::Events(reply) => {
                let _ = reply.send(Ok(self.events.subscribe()));
            }
            Cmd::RemoteComm(kind, data, reply) => {
                let payload = proctor_events::event::remote_communication(&kind, &data);
                self.notify(Kind::RemoteCommunication, payload, None);
                let _ = reply.send(Ok(()));
            }
            Cmd::ActiveGroups(reply) => {
                let mut groups: Vec<String> =
                    self.procs.values().map(|p| p.group.clone()).collect();
                groups.sort();
                groups.dedup();
                let _ = reply.send(Ok(groups));
            }
            Cmd::RemoveGroups(groups, reply) => {
                let results = groups.iter().map(|g| self.remove_group(g)).collect();
                let _ = reply.send(Ok(results));
            }
            Cmd::StartAutostart(reply) => {
                let keys: Vec<Key> = self
                    .procs
                    .iter()
                    .filter(|(_, p)| p.cfg.autostart && !p.life.state().is_running())
                    .map(|(k, _)| k.clone())
                    .collect();
                let jobs = self.start_keys(keys, true).await;
                tokio::spawn(async move {
                    let _ = reply.send(Ok(join(jobs).await));
                });
            }
            Cmd::Avail(reply) => {
                let _ = reply.send(Ok(self.avail()));
            }
            Cmd::Shutdown => self.shutdown(),
        }
    }

    /// Starts `keys` in priority order; with `wait`, each answer comes once its process is
    /// RUNNING or has failed, else once it is on its way.
    pub(super) async fn start_keys(&mut self, mut keys: Vec<Key>, wait: bool) -> Vec<Joinable> {
        keys.sort_by_key(|k| self.priority(k));
        let mut out = Vec::new();
        for k in keys {
            let name = self.procs[&k].namespec.clone();
            if self.shutting_down {
                out.push(Joinable::Done(ActionResult::failed(
                    name,
                    ActionCode::ShuttingDown,
                    "ERROR (shutting down)",
                )));
                continue;
            }
            match self.start(&k).await {
                Ok(()) if wait => out.push(self.waiter(&k, Want::Running)),
                Ok(()) => out.push(Joinable::Done(ActionResult::done(name, "started"))),
                Err((code, message)) => {
                    out.push(Joinable::Done(ActionResult::failed(name, code, message)))
                }
            }
        }
        out
    }

    /// Starts a process; `Err` is why it cannot be started now.
    async fn start(&mut self, key: &Key) -> Result<(), (ActionCode, String)> {
        let Some(p) = self.procs.get(key) else {
            return Err((ActionCode::BadName, "ERROR (no such process)".into()));
        };
        // A process on its way out of the config is not started again (one that runs still
        // says so first).
        if p.removing && !p.life.state().is_running() {
            return Err((ActionCode::Failed, "ERROR (being removed by update)".into()));
        }
        self.feed(key, Input::Start)
            .await
            .map_err(|r| (r.code(), r.to_string()))
    }

    /// Stops `keys`; with `wait`, each answer comes once its process has stopped.
    async fn stop_keys(&mut self, keys: Vec<Key>, wait: bool) -> Vec<Joinable> {
        let mut out = Vec::new();
        for k in keys {
            let Some(name) = self.procs.get(&k).map(|p| p.namespec.clone()) else {
                out.push(Joinable::Done(ActionResult::failed(
                    "",
                    ActionCode::BadName,
                    "ERROR (no such process)",
                )));
                continue;
            };
            match self.feed(&k, Input::Stop).await {
                Ok(()) if wait => out.push(self.waiter(&k, Want::Stopped)),
                Ok(()) => out.push(Joinable::Done(ActionResult::done(name, "stopped"))),
                Err(r) => out.push(Joinable::Done(ActionResult::failed(
                    name,
                    r.code(),
                    r.to_string(),
                ))),
            }
        }
        out
    }

    async fn signal(&mut self, sig: &str, names: &[String], reply: Reply<Vec<ActionResult>>) {
        let Some(signal) = AllowedSignal::parse(sig) else {
            let allowed: Vec<&str> = AllowedSignal::all_names().collect();
            let _ = reply.send(fail(
                ErrorKind::BadArguments,
                format!("bad signal name '{sig}' (allowed: {})", allowed.join(" ")),
            ));
            return;
        };
        let mut keys = match self.resolve(names) {
            Ok(keys) => keys,
            Err(e) => {
                let _ = reply.send(Err(e));
                return;
            }
        };
        self.sorted_for_display(&mut keys);
        let mut jobs = Vec::new();
        for k in keys {
            let p = &self.procs[&k];
            let name = p.namespec.clone();
            match p.life.phase.child() {
                Some(child) => {
                    let (tx, rx) = oneshot::channel();
                    let kind = OrderKind::Signal {
                        id: child.id,
                        signal,
                        group: false,
                    };
                    self.order(kind, Some(Pending::Signal(Some(tx)))).await;
                    jobs.push(Joinable::Signal(name, rx));
                }
                None => jobs.push(Joinable::Done(ActionResult::failed(
                    name,
                    ActionCode::NotRunning,
                    "ERROR (not running)",
                ))),
            }
        }
        tokio::spawn(async move {
            let _ = reply.send(Ok(join(jobs).await));
        });
    }

    fn tail(&self, name: &str, channel: Channel) -> Result<Arc<LogSink>, Failure> {
        let keys = self.resolve(&[name.to_owned()])?;
        let [k] = keys.as_slice() else {
            return fail(
                ErrorKind::BadArguments,
                format!("{name} names {} processes; tail one", keys.len()),
            );
        };
        let p = &self.procs[k];
        let sink = match channel {
            Channel::Stdout => p.stdout.clone(),
            Channel::Stderr if Arc::ptr_eq(&p.stdout, &p.stderr) => {
                return fail(
                    ErrorKind::NoFile,
                    format!("{name} has no stderr log file (redirect_stderr=true sends stderr to the stdout log)"),
                )
            }
            Channel::Stderr => p.stderr.clone(),
        };
        if sink.stream {
            let to = sink
                .path
                .as_ref()
                .map(|p| p.display().to_string())
                .unwrap_or_default();
            return fail(
                ErrorKind::Failed,
                format!(
                    "{name} logs its {} to {to}, a stream that cannot be read back: read it where \
                     it goes (the container's output, the terminal)",
                    channel.name()
                ),
            );
        }
        if sink.path.is_none() {
            return fail(
                ErrorKind::NoFile,
                format!(
                    "{name} has no {} log file (NONE or redirected)",
                    channel.name()
                ),
            );
        }
        Ok(sink)
    }

    pub(super) fn shutdown(&mut self) {
        if self.shutting_down {
            return;
        }
        self.shutting_down = true;
        self.notify(Kind::SupervisorStateChangeStopping, String::new(), None);
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
                    seq: proctor_wire::ids::Seq(0),
                    kind: OrderKind::Quit,
                })
                .await;
            std::process::exit(0);
        });
    }
}
