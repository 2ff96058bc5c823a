//! The actions a policy names.

use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Action {
    Status,
    Start,
    Stop,
    Restart,
    Signal,
    Tail,
    Pid,
    Avail,
    Reread,
    Update,
    Shutdown,
    Audit,
    ReloadPolicy,
    /// Empty processes' log files.
    Clear,
    /// Read the daemon's own log.
    Maintail,
    /// Empty the daemon's own log.
    ClearLog,
    /// Stop every service, apply the config file, start the autostart ones.
    Reload,
    /// Write to a process's stdin.
    Stdin,
    /// Send an event to the event listeners (Supervisor's `sendRemoteCommEvent`).
    Event,
    /// Read the events of the processes one may see (`proctorctl events`).
    Events,
    /// Get a login link for the web UI (`proctorctl web`); what the pages show and do is then
    /// decided action by action.
    Web,
}

const NAMES: [(Action, &str); 21] = [
    (Action::Status, "status"),
    (Action::Start, "start"),
    (Action::Stop, "stop"),
    (Action::Restart, "restart"),
    (Action::Signal, "signal"),
    (Action::Tail, "tail"),
    (Action::Pid, "pid"),
    (Action::Avail, "avail"),
    (Action::Reread, "reread"),
    (Action::Update, "update"),
    (Action::Shutdown, "shutdown"),
    (Action::Audit, "audit"),
    (Action::ReloadPolicy, "reload-policy"),
    (Action::Clear, "clear"),
    (Action::Maintail, "maintail"),
    (Action::ClearLog, "clearlog"),
    (Action::Reload, "reload"),
    (Action::Stdin, "stdin"),
    (Action::Event, "event"),
    (Action::Events, "events"),
    (Action::Web, "web"),
];

impl Action {
    pub fn name(self) -> &'static str {
        NAMES
            .iter()
            .find(|(a, _)| *a == self)
            .map_or("?", |(_, n)| n)
    }

    pub fn parse(s: &str) -> Option<Action> {
        NAMES.iter().find(|(_, n)| *n == s).map(|(a, _)| *a)
    }

    pub fn all_names() -> impl Iterator<Item = &'static str> {
        NAMES.iter().map(|(_, n)| *n)
    }

    /// Actions on processes; the others act on the daemon as a whole.
    pub fn on_processes(self) -> bool {
        matches!(
            self,
            Action::Status
                | Action::Start
                | Action::Stop
                | Action::Restart
                | Action::Signal
                | Action::Tail
                | Action::Pid
                | Action::Clear
                | Action::Stdin
        )
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}
