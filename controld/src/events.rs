//! The events controld publishes, as Supervisor's event system names and words them: each
//! process state change (PROCESS_STATE_*), from the one place a state changes
//! ([`crate::lifecycle`]'s `enter`, seen as `Effect::State`), so none can be missed. People and
//! tools read them with `proctorctl events`; listener pools get them from the supervisor
//! (`supervisor::pools`), with the events that are about no one process.

use proctor_api::control::ProcessState;
use proctor_events::event::{self, Extra, Kind};
use proctor_events::pool::Serial;
use std::collections::VecDeque;
use std::sync::Arc;
use tokio::sync::broadcast;

/// How many recent events `proctorctl events` shows first, and how many payload bytes they may
/// hold together (output events carry up to 64 KiB each).
const RECENT: usize = 200;
const RECENT_BYTES: usize = 1 << 20;

/// One published event, and what the policy needs to decide who may see it.
#[derive(Debug)]
pub struct Published {
    pub serial: u64,
    /// Unix seconds.
    pub when: u64,
    pub kind: Kind,
    pub payload: String,
    pub namespec: String,
    pub group: String,
    pub name: String,
    pub program: String,
}

impl Published {
    /// One JSON line, as `proctorctl events` receives it.
    pub fn line(&self) -> Vec<u8> {
        let mut v = serde_json::json!({
            "serial": self.serial,
            "when": self.when,
            "eventname": self.kind.name(),
            "process": self.namespec,
            "payload": self.payload,
        })
        .to_string()
        .into_bytes();
        v.push(b'\n');
        v
    }
}

pub type Subscription = (Vec<Arc<Published>>, broadcast::Receiver<Arc<Published>>);

pub struct Bus {
    tx: broadcast::Sender<Arc<Published>>,
    recent: VecDeque<Arc<Published>>,
    recent_bytes: usize,
    serial: Serial,
}

impl Default for Bus {
    fn default() -> Bus {
        Bus {
            // What a follower that falls behind may leave held (it is then told how many it
            // skipped): 256 events of at most 64 KiB.
            tx: broadcast::channel(256).0,
            recent: VecDeque::with_capacity(RECENT),
            recent_bytes: 0,
            serial: Serial::default(),
        }
    }
}

/// What a process is, for its events.
#[derive(Clone)]
pub struct Who {
    pub namespec: String,
    pub group: String,
    pub name: String,
    pub program: String,
}

/// A process went from `from` to `to`: Supervisor's PROCESS_STATE_ event for `to`.
pub fn state_change(
    name: &str,
    group: &str,
    from: ProcessState,
    to: ProcessState,
    extra: StateExtra,
) -> (Kind, String) {
    let (kind, extra) = match to {
        ProcessState::Stopped => (Kind::ProcessStateStopped, Extra::Pid(extra.pid)),
        ProcessState::Starting => (Kind::ProcessStateStarting, Extra::Tries(extra.tries)),
        ProcessState::Running => (Kind::ProcessStateRunning, Extra::Pid(extra.pid)),
        ProcessState::Backoff => (Kind::ProcessStateBackoff, Extra::Tries(extra.tries)),
        ProcessState::Stopping => (Kind::ProcessStateStopping, Extra::Pid(extra.pid)),
        ProcessState::Exited => (
            Kind::ProcessStateExited,
            Extra::Exited {
                expected: extra.expected,
                pid: extra.pid,
            },
        ),
        ProcessState::Fatal => (Kind::ProcessStateFatal, Extra::Nothing),
        ProcessState::Unknown => (Kind::ProcessStateUnknown, Extra::Nothing),
    };
    (kind, event::process_state(name, group, from.name(), extra))
}

impl Bus {
    /// An event about a process, for `proctorctl events`.
    pub fn publish(&mut self, who: Who, kind: Kind, payload: String) {
        let p = Arc::new(Published {
            serial: self.serial.take(),
            when: proctor_daemon::now_secs(),
            kind,
            payload,
            namespec: who.namespec,
            group: who.group,
            name: who.name,
            program: who.program,
        });
        self.recent_bytes += p.payload.len();
        self.recent.push_back(p.clone());
        while self.recent.len() > RECENT || self.recent_bytes > RECENT_BYTES {
            match self.recent.pop_front() {
                Some(old) => self.recent_bytes -= old.payload.len(),
                None => break,
            }
        }
        // No one following: nothing to send.
        let _ = self.tx.send(p);
    }

    /// The recent events, and every one published from now on.
    pub fn subscribe(&self) -> Subscription {
        (self.recent.iter().cloned().collect(), self.tx.subscribe())
    }
}

/// What a state event carries besides the states.
pub struct StateExtra {
    pub tries: u32,
    pub pid: u32,
    pub expected: bool,
}
