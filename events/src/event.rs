//! Supervisor's event types, their names, how `events=` subscribes to them (by Supervisor's
//! class hierarchy), their payloads, and the envelope a listener receives: as
//! `supervisor/events.py` and `EventListenerPool._eventEnvelope` write them.

/// Every concrete event type, by Supervisor's name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    ProcessStateStopped,
    ProcessStateExited,
    ProcessStateStarting,
    ProcessStateStopping,
    ProcessStateBackoff,
    ProcessStateFatal,
    ProcessStateRunning,
    ProcessStateUnknown,
    ProcessCommunicationStdout,
    ProcessCommunicationStderr,
    ProcessLogStdout,
    ProcessLogStderr,
    RemoteCommunication,
    SupervisorStateChangeRunning,
    SupervisorStateChangeStopping,
    Tick5,
    Tick60,
    Tick3600,
    ProcessGroupAdded,
    ProcessGroupRemoved,
}

/// Each type's name and the abstract type above it (`EVENT` is above them all).
const TYPES: [(Kind, &str, &str); 20] = [
    (
        Kind::ProcessStateStopped,
        "PROCESS_STATE_STOPPED",
        "PROCESS_STATE",
    ),
    (
        Kind::ProcessStateExited,
        "PROCESS_STATE_EXITED",
        "PROCESS_STATE",
    ),
    (
        Kind::ProcessStateStarting,
        "PROCESS_STATE_STARTING",
        "PROCESS_STATE",
    ),
    (
        Kind::ProcessStateStopping,
        "PROCESS_STATE_STOPPING",
        "PROCESS_STATE",
    ),
    (
        Kind::ProcessStateBackoff,
        "PROCESS_STATE_BACKOFF",
        "PROCESS_STATE",
    ),
    (
        Kind::ProcessStateFatal,
        "PROCESS_STATE_FATAL",
        "PROCESS_STATE",
    ),
    (
        Kind::ProcessStateRunning,
        "PROCESS_STATE_RUNNING",
        "PROCESS_STATE",
    ),
    (
        Kind::ProcessStateUnknown,
        "PROCESS_STATE_UNKNOWN",
        "PROCESS_STATE",
    ),
    (
        Kind::ProcessCommunicationStdout,
        "PROCESS_COMMUNICATION_STDOUT",
        "PROCESS_COMMUNICATION",
    ),
    (
        Kind::ProcessCommunicationStderr,
        "PROCESS_COMMUNICATION_STDERR",
        "PROCESS_COMMUNICATION",
    ),
    (Kind::ProcessLogStdout, "PROCESS_LOG_STDOUT", "PROCESS_LOG"),
    (Kind::ProcessLogStderr, "PROCESS_LOG_STDERR", "PROCESS_LOG"),
    (Kind::RemoteCommunication, "REMOTE_COMMUNICATION", "EVENT"),
    (
        Kind::SupervisorStateChangeRunning,
        "SUPERVISOR_STATE_CHANGE_RUNNING",
        "SUPERVISOR_STATE_CHANGE",
    ),
    (
        Kind::SupervisorStateChangeStopping,
        "SUPERVISOR_STATE_CHANGE_STOPPING",
        "SUPERVISOR_STATE_CHANGE",
    ),
    (Kind::Tick5, "TICK_5", "TICK"),
    (Kind::Tick60, "TICK_60", "TICK"),
    (Kind::Tick3600, "TICK_3600", "TICK"),
    (
        Kind::ProcessGroupAdded,
        "PROCESS_GROUP_ADDED",
        "PROCESS_GROUP",
    ),
    (
        Kind::ProcessGroupRemoved,
        "PROCESS_GROUP_REMOVED",
        "PROCESS_GROUP",
    ),
];

/// The abstract types `events=` may name besides the concrete ones.
const ABSTRACT: [&str; 7] = [
    "EVENT",
    "PROCESS_STATE",
    "PROCESS_COMMUNICATION",
    "PROCESS_LOG",
    "SUPERVISOR_STATE_CHANGE",
    "TICK",
    "PROCESS_GROUP",
];

impl Kind {
    pub fn name(self) -> &'static str {
        TYPES.iter().find(|t| t.0 == self).map_or("EVENT", |t| t.1)
    }

    fn parent(self) -> &'static str {
        TYPES.iter().find(|t| t.0 == self).map_or("EVENT", |t| t.2)
    }

    /// Whether a subscription to the type named `to` (concrete or abstract) receives this.
    pub fn subscribed(self, to: &str) -> bool {
        to == "EVENT" || to == self.name() || to == self.parent()
    }

    /// Whether `events=` may name `name` (Supervisor upper-cases what it reads first).
    pub fn known(name: &str) -> bool {
        ABSTRACT.contains(&name) || TYPES.iter().any(|t| t.1 == name)
    }

    pub fn all() -> impl Iterator<Item = Kind> {
        TYPES.iter().map(|t| t.0)
    }
}

/// What a process-state event says besides the process and the state it left.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Extra {
    /// STARTING and BACKOFF: the failed starts so far.
    Tries(u32),
    /// RUNNING, STOPPING, STOPPED: the pid.
    Pid(u32),
    /// EXITED: whether the exit code was one of `exitcodes`, and the pid.
    Exited { expected: bool, pid: u32 },
    /// FATAL, UNKNOWN.
    Nothing,
}

/// `processname:N groupname:G from_state:S` and the state's extra values.
pub fn process_state(name: &str, group: &str, from_state: &str, extra: Extra) -> String {
    let mut s = format!("processname:{name} groupname:{group} from_state:{from_state}");
    match extra {
        Extra::Tries(t) => s.push_str(&format!(" tries:{t}")),
        Extra::Pid(p) => s.push_str(&format!(" pid:{p}")),
        Extra::Exited { expected, pid } => {
            s.push_str(&format!(" expected:{} pid:{pid}", u8::from(expected)));
        }
        Extra::Nothing => {}
    }
    s
}

/// PROCESS_LOG_*: the header line, then the data (bytes that are not UTF-8 shown as Python
/// shows them: `Undecodable: b'...'`).
pub fn process_log(name: &str, group: &str, pid: u32, channel: &str, data: &[u8]) -> String {
    format!(
        "processname:{name} groupname:{group} pid:{pid} channel:{channel}\n{}",
        text(data)
    )
}

/// PROCESS_COMMUNICATION_*: the header line, then what the process wrote between the tokens.
pub fn process_communication(name: &str, group: &str, pid: u32, data: &[u8]) -> String {
    format!(
        "processname:{name} groupname:{group} pid:{pid}\n{}",
        text(data)
    )
}

/// REMOTE_COMMUNICATION, from `sendRemoteCommEvent(type, data)`.
pub fn remote_communication(kind: &str, data: &str) -> String {
    format!("type:{kind}\n{data}")
}

/// TICK_*: the start of the slice that has just begun, in seconds since the epoch.
pub fn tick(when: u64) -> String {
    format!("when:{when}")
}

/// PROCESS_GROUP_ADDED, PROCESS_GROUP_REMOVED.
pub fn process_group(group: &str) -> String {
    format!("groupname:{group}\n")
}

/// What a listener reads: the header line, then the payload with no newline after it. `len`
/// counts the payload's characters, as Python 3's `len()` of a `str` does (Supervisor 4; its
/// listeners read their stdin as text, so a count in bytes would leave them waiting).
pub fn envelope(
    server: &str,
    serial: u64,
    pool: &str,
    pool_serial: u64,
    kind: Kind,
    payload: &str,
) -> String {
    format!(
        "ver:3.0 server:{server} serial:{serial} pool:{pool} poolserial:{pool_serial} \
         eventname:{} len:{}\n{payload}",
        kind.name(),
        payload.chars().count()
    )
}

fn text(data: &[u8]) -> String {
    match std::str::from_utf8(data) {
        Ok(s) => s.to_owned(),
        Err(_) => format!("Undecodable: {}", crate::listener::python_bytes_repr(data)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subscriptions_follow_supervisors_hierarchy() {
        assert!(Kind::ProcessStateRunning.subscribed("EVENT"));
        assert!(Kind::ProcessStateRunning.subscribed("PROCESS_STATE"));
        assert!(Kind::ProcessStateRunning.subscribed("PROCESS_STATE_RUNNING"));
        assert!(!Kind::ProcessStateRunning.subscribed("PROCESS_STATE_STOPPED"));
        assert!(!Kind::ProcessStateRunning.subscribed("TICK"));
        assert!(Kind::Tick60.subscribed("TICK"));
        assert!(Kind::RemoteCommunication.subscribed("REMOTE_COMMUNICATION"));
        assert!(!Kind::RemoteCommunication.subscribed("PROCESS_COMMUNICATION"));
        assert_eq!(Kind::all().count(), 20);
        for k in Kind::all() {
            assert!(Kind::known(k.name()), "{k:?}");
        }
        assert!(Kind::known("PROCESS_GROUP"));
        assert!(!Kind::known("PROCESS_STATE_BOGUS"));
    }
}
