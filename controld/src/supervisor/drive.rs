//! Feeding a process's lifecycle and carrying out what it decides: orders to proctord, its
//! timer, log lines, and the answers of the requests waiting on it.

use super::join::Joinable;
use super::timers::Token;
use super::{Key, Pending, Supervisor};
use crate::lifecycle::{Ctx, Effect, Input, Level, Refusal, Settings, NOT_IN_CONFIG};
use proctor_api::control::{ActionCode, ActionResult, ProcessState};
use proctor_daemon::now_secs;
use proctor_wire::ids::{Generation, ProgramIndex};
use proctor_wire::order::OrderKind;
use tokio::sync::oneshot;
use tracing::{info, warn};

/// What a request waits for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Want {
    Running,
    Stopped,
}

/// A start or stop request waiting for its process to get there.
pub struct Waiter {
    key: Key,
    want: Want,
    tx: oneshot::Sender<ActionResult>,
}

/// Whether a process that just entered `state` has answered a request waiting for `want`:
/// `(code, message)`, or `None` to keep waiting. As Supervisor's `startProcess`: a spawn error
/// is SPAWN_ERROR, any other way out of STARTING but RUNNING is ABNORMAL_TERMINATION.
pub fn verdict(
    want: Want,
    state: ProcessState,
    spawnerr: &str,
    spawn_code: ActionCode,
) -> Option<(ActionCode, String)> {
    match (want, state) {
        (Want::Running, ProcessState::Running) => Some((ActionCode::Success, "started".to_owned())),
        (Want::Running, ProcessState::Starting | ProcessState::Stopping) => None,
        (Want::Running, ProcessState::Stopped) => Some((
            ActionCode::AbnormalTermination,
            "ERROR (stopped while starting)".to_owned(),
        )),
        // Supervisor's words for each (supervisorctl prints only those), and the reason.
        (Want::Running, _) if !spawnerr.is_empty() => Some((
            spawn_code,
            match spawn_code {
                ActionCode::NoFile => format!("ERROR (no such file: {spawnerr})"),
                ActionCode::NotExecutable => {
                    format!("ERROR (file is not executable: {spawnerr})")
                }
                _ => format!("ERROR (spawn error: {spawnerr})"),
            },
        )),
        (Want::Running, _) => Some((
            ActionCode::AbnormalTermination,
            "ERROR (abnormal termination)".to_owned(),
        )),
        (Want::Stopped, ProcessState::Stopped | ProcessState::Exited | ProcessState::Fatal) => {
            Some((ActionCode::Success, "stopped".to_owned()))
        }
        (Want::Stopped, _) => None,
    }
}

impl Supervisor {
    /// Runs `input` through the lifecycle of `key` and carries out the effects. A `start` or
    /// `stop` that the state does not allow is refused and changes nothing.
    pub(super) async fn feed(&mut self, key: &Key, input: Input) -> Result<(), Refusal> {
        let mut next = Some(input);
        while let Some(input) = next.take() {
            // Only inputs that can lead to a spawn need the program's place in the file.
            let program = match input {
                Input::Start | Input::Timer(_) | Input::Exited { .. } | Input::ExitedAway(_) => {
                    self.procs.get(key).and_then(|p| p.spawn_from)
                }
                _ => None,
            };
            let ctx = Ctx {
                now: now_secs(),
                shutting_down: self.shutting_down,
                spawnable: program.is_some(),
            };
            let Some(p) = self.procs.get_mut(key) else {
                return Ok(());
            };
            let settings = Settings::of(&p.namespec, &p.cfg);
            let effects = p.life.step(&settings, ctx, input)?;
            for effect in effects {
                if let Some(follow) = self.apply(key, effect, program).await {
                    next = Some(follow);
                }
            }
        }
        Ok(())
    }

    /// Carries out one effect; returns what happened as a result, if that is an input too.
    async fn apply(
        &mut self,
        key: &Key,
        effect: Effect,
        program: Option<(Generation, ProgramIndex)>,
    ) -> Option<Input> {
        match effect {
            Effect::Spawn => {
                let (Some((generation, program)), Some(p)) = (program, self.procs.get(key)) else {
                    // The machine spawns only what the file has: this cannot happen.
                    return Some(Input::SpawnRefused {
                        reason: NOT_IN_CONFIG.into(),
                        permanent: true,
                    });
                };
                let kind = OrderKind::Spawn {
                    generation,
                    program,
                    instance: p.instance,
                };
                self.order(kind, Some(Pending::Spawn(key.clone()))).await;
            }
            Effect::Signal { id, signal, group } => {
                self.order(
                    OrderKind::Signal { id, signal, group },
                    Some(Pending::Signal(None)),
                )
                .await;
            }
            Effect::Arm(kind, after) => {
                let token = self.timers.arm(key, after, kind);
                if let Some(p) = self.procs.get_mut(key) {
                    p.timer = token;
                }
            }
            Effect::Disarm => {
                if let Some(p) = self.procs.get_mut(key) {
                    p.timer = Token::NONE;
                }
            }
            Effect::State { from, to, pid } => {
                if from != to {
                    if let Some(p) = self.procs.get(key) {
                        let extra = crate::events::StateExtra {
                            tries: p.life.backoff,
                            pid: pid.unwrap_or(0),
                            expected: p.life.expected,
                        };
                        let (kind, payload) =
                            crate::events::state_change(&p.name, &p.group, from, to, extra);
                        let who = p.who();
                        let pool = (to == ProcessState::Running && p.listener.is_some())
                            .then(|| p.group.clone());
                        self.notify(kind, payload, Some(who));
                        // A listener may have said READY while STARTING: now it may be sent
                        // events.
                        if let Some(pool) = pool {
                            self.dispatch(&pool);
                        }
                    }
                }
                self.answer_waiters(key, to)
            }
            Effect::Log(Level::Info, line) => info!("{line}"),
            Effect::Log(Level::Warn, line) => warn!("{line}"),
        }
        None
    }

    pub(super) async fn fire_timers(&mut self) {
        let now = tokio::time::Instant::now();
        while let Some((token, key, kind)) = self.timers.pop_due(now) {
            let Some(p) = self.procs.get_mut(&key) else {
                continue;
            };
            if p.timer != token {
                continue;
            }
            p.timer = Token::NONE;
            // Timers are never start or stop requests: nothing to refuse.
            let _ = self.feed(&key, Input::Timer(kind)).await;
        }
    }

    fn answer_waiters(&mut self, key: &Key, state: ProcessState) {
        let Some(p) = self.procs.get(key) else {
            return;
        };
        let (namespec, spawnerr, code) = (&p.namespec, &p.life.spawnerr, p.spawn_code);
        let mut i = 0;
        while i < self.waiters.len() {
            let w = &self.waiters[i];
            if &w.key != key {
                i += 1;
                continue;
            }
            match verdict(w.want, state, spawnerr, code) {
                Some((code, message)) => {
                    let w = self.waiters.swap_remove(i);
                    let _ =
                        w.tx.send(ActionResult::failed(namespec.clone(), code, message));
                }
                None => i += 1,
            }
        }
    }

    /// A waiter for `key` reaching what `want` asks; judged at once against the current state
    /// too, since a start or stop may already have ended (a spawn refused before the waiter
    /// existed, a BACKOFF process stopped on the spot).
    pub(super) fn waiter(&mut self, key: &Key, want: Want) -> Joinable {
        let Some(state) = self.procs.get(key).map(|p| p.life.state()) else {
            // Gone already (removed by update): nothing will ever answer it.
            return Joinable::Done(ActionResult::failed(
                key.0.clone(),
                ActionCode::BadName,
                "ERROR (no such process)",
            ));
        };
        let (tx, rx) = oneshot::channel();
        self.waiters.push(Waiter {
            key: key.clone(),
            want,
            tx,
        });
        self.answer_waiters(key, state);
        Joinable::Wait(rx)
    }
}
