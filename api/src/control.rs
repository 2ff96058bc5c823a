//! The control protocol between proctorctl and controld.
//!
//! A frame is a 4-byte big-endian length followed by that many bytes of postcard. The client's
//! frames are [`ClientFrame`]s carrying the protocol version; every
//! frame is bounded ([`MAX_REQUEST`] one way, [`MAX_RESPONSE`] the other) and anything that does
//! not decode exactly closes the connection.

use serde::{Deserialize, Serialize};
use std::io::{self, Read, Write};

pub const CONTROL_PROTOCOL_VERSION: u16 = 4;
pub const MAX_REQUEST: usize = 64 * 1024;
pub const MAX_RESPONSE: usize = 16 * 1024 * 1024;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClientFrame {
    pub version: u16,
    pub request: Request,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Channel {
    Stdout,
    Stderr,
}

impl Channel {
    pub fn name(self) -> &'static str {
        match self {
            Channel::Stdout => "stdout",
            Channel::Stderr => "stderr",
        }
    }
}

/// A log controld keeps: a process's channel, or the daemon's own (`[supervisord] logfile`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Log {
    Process { name: String, channel: Channel },
    Main,
}

/// How much of a log's end a tail shows first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Back {
    Lines(u32),
    /// What Supervisor's clients ask for.
    Bytes(u32),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Request {
    /// Names: `name`, `group:name`, `group:*`; empty = all.
    Status {
        names: Vec<String>,
    },
    /// Names as for status, or `all`. With `wait`, the answer comes once each process is
    /// RUNNING or has failed (proctorctl always waits); without, once each is on its way
    /// (Supervisor's `startProcess(name, False)`).
    Start {
        names: Vec<String>,
        wait: bool,
    },
    /// As `Start`: with `wait`, once each process has stopped.
    Stop {
        names: Vec<String>,
        wait: bool,
    },
    Restart {
        names: Vec<String>,
    },
    Signal {
        signal: String,
        names: Vec<String>,
    },
    /// `None`: the pids of proctord and controld; `Some("all")`: every process; else one name.
    Pid {
        name: Option<String>,
    },
    /// The end of a log; with `follow`, then every new chunk until the client hangs up.
    Tail {
        log: Log,
        back: Back,
        follow: bool,
    },
    /// Part of a log, as Supervisor's `readLog`/`readProcessStdoutLog` (`tail: false`: from
    /// `offset`, or the last `-offset` bytes) and `tailProcessStdoutLog` (`tail: true`) read it.
    Read {
        log: Log,
        offset: i64,
        length: i64,
        tail: bool,
    },
    /// Supervisor's `sendRemoteCommEvent`: an event of type `kind` with `data` for the event
    /// listeners subscribed to REMOTE_COMMUNICATION.
    RemoteCommEvent {
        kind: String,
        data: String,
    },
    /// The recent process events (of the processes named, or all), and with `follow` every new
    /// one until the client hangs up: one JSON object per line.
    Events {
        names: Vec<String>,
        follow: bool,
    },
    /// A one-time login link's token for the web UI, for the caller's own account.
    WebLink,
    /// Write to the stdin of one process (Supervisor's `sendProcessStdin`).
    Stdin {
        name: String,
        data: Vec<u8>,
    },
    /// Empty the log files of these processes (names as for stop, or `all`).
    Clear {
        names: Vec<String>,
    },
    /// Empty the daemon's own log.
    ClearMainLog,
    Reread,
    /// Groups to update; empty = all.
    Update {
        groups: Vec<String>,
    },
    /// Activate these groups from the config file (Supervisor's `add`).
    Add {
        groups: Vec<String>,
    },
    /// Deactivate these stopped groups (Supervisor's `remove`): they stay in the file, and
    /// `add` or `update` brings them back.
    Remove {
        groups: Vec<String>,
    },
    Avail,
    /// Supervisor's `reload`: stop every service, apply the config file as a whole, start the
    /// autostart services.
    Reload,
    Shutdown,
    Version,
    /// Re-read the policy file.
    ReloadPolicy,
    /// The last `lines` records of the audit log (of `user` only, if given); with `follow`, then
    /// every new one until the client hangs up.
    Audit {
        lines: u32,
        user: Option<String>,
        follow: bool,
    },
}

impl Request {
    /// Every string the client chose: names, groups, the signal, the audit user.
    fn texts(&self) -> Vec<&str> {
        fn strs(v: &[String]) -> Vec<&str> {
            v.iter().map(String::as_str).collect()
        }
        match self {
            Request::Status { names }
            | Request::Start { names, .. }
            | Request::Stop { names, .. }
            | Request::Restart { names } => strs(names),
            Request::Signal { signal, names } => {
                let mut t = strs(names);
                t.push(signal);
                t
            }
            Request::Pid { name } => name.iter().map(String::as_str).collect(),
            Request::Tail { log, .. } | Request::Read { log, .. } => match log {
                Log::Process { name, .. } => vec![name],
                Log::Main => Vec::new(),
            },
            Request::Clear { names } => strs(names),
            Request::Stdin { name, .. } => vec![name],
            Request::Events { names, .. } => strs(names),
            // The event's body is the sender's business: only its type is checked.
            Request::RemoteCommEvent { kind, .. } => vec![kind],
            Request::Update { groups } | Request::Add { groups } | Request::Remove { groups } => {
                strs(groups)
            }
            Request::Audit { user, .. } => user.iter().map(String::as_str).collect(),
            Request::Reread
            | Request::Avail
            | Request::Shutdown
            | Request::Reload
            | Request::Version
            | Request::WebLink
            | Request::ClearMainLog
            | Request::ReloadPolicy => Vec::new(),
        }
    }

    /// What a request may name at most, once repeats are dropped.
    pub const MAX_NAMES: usize = 1024;

    /// Makes a decoded request fit to run: repeated names are dropped (first one kept), and a
    /// request naming more than [`Request::MAX_NAMES`] things or with a control character in
    /// any text is refused. Every name costs a resolution against every process: a client
    /// sending `all` ten thousand times must cost what `all` costs.
    pub fn tidy(&mut self) -> Result<(), String> {
        if let Request::Status { names }
        | Request::Start { names, .. }
        | Request::Stop { names, .. }
        | Request::Restart { names }
        | Request::Signal { names, .. }
        | Request::Clear { names }
        | Request::Events { names, .. }
        | Request::Add { groups: names }
        | Request::Remove { groups: names }
        | Request::Update { groups: names } = self
        {
            let mut seen = std::collections::HashSet::new();
            names.retain(|n| seen.insert(n.clone()));
            if names.len() > Self::MAX_NAMES {
                return Err(format!(
                    "{} names in one request: at most {} (name groups, or all)",
                    names.len(),
                    Self::MAX_NAMES
                ));
            }
        }
        self.check_text()
    }

    /// Refuses control characters in what the client chose: no name has one, and a newline
    /// would let a client forge lines of the daemon's log or of the audit log's readers.
    fn check_text(&self) -> Result<(), String> {
        for t in self.texts() {
            if let Some(c) = t.chars().find(|c| c.is_control()) {
                return Err(format!(
                    "{:?} contains a control character (U+{:04X}): refused",
                    t,
                    u32::from(c)
                ));
            }
        }
        Ok(())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ProcessState {
    Stopped,
    Starting,
    Running,
    Backoff,
    Stopping,
    Exited,
    Fatal,
    Unknown,
}

impl ProcessState {
    pub fn name(self) -> &'static str {
        match self {
            ProcessState::Stopped => "STOPPED",
            ProcessState::Starting => "STARTING",
            ProcessState::Running => "RUNNING",
            ProcessState::Backoff => "BACKOFF",
            ProcessState::Stopping => "STOPPING",
            ProcessState::Exited => "EXITED",
            ProcessState::Fatal => "FATAL",
            ProcessState::Unknown => "UNKNOWN",
        }
    }

    /// Supervisor's numeric codes (`supervisor/states.py`).
    pub fn code(self) -> u16 {
        match self {
            ProcessState::Stopped => 0,
            ProcessState::Starting => 10,
            ProcessState::Running => 20,
            ProcessState::Backoff => 30,
            ProcessState::Stopping => 40,
            ProcessState::Exited => 100,
            ProcessState::Fatal => 200,
            ProcessState::Unknown => 1000,
        }
    }

    /// A process "is running" for supervisorctl's purposes (status exit code 3 otherwise).
    pub fn is_running(self) -> bool {
        matches!(
            self,
            ProcessState::Starting
                | ProcessState::Running
                | ProcessState::Backoff
                | ProcessState::Stopping
        )
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProcessInfo {
    /// `group:name`, or `name` when both are equal.
    pub namespec: String,
    pub name: String,
    pub group: String,
    pub state: ProcessState,
    pub pid: Option<u32>,
    /// Unix seconds of the last start (0 if never).
    pub start: u64,
    /// Unix seconds of the last stop/exit (0 if never).
    pub stop: u64,
    /// Unix seconds now, by the daemon's clock.
    pub now: u64,
    /// Exit code of the last exit (`-N` for death by signal N).
    pub exitstatus: Option<i32>,
    /// Why the last spawn failed, if it did.
    pub spawnerr: String,
    /// Supervisor's description column: `pid 42, uptime 0:01:02`, `Exited too quickly ...`.
    pub description: String,
    pub stdout_logfile: String,
    pub stderr_logfile: String,
    /// Output that could not be written to the log files (disk full...), in bytes, since the
    /// daemon started.
    pub log_bytes_lost: u64,
}

/// What became of one process's start, stop or signal, in Supervisor's terms (its fault names,
/// which Supervisor's XML-RPC clients are told).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ActionCode {
    Success,
    BadName,
    NoFile,
    NotExecutable,
    Failed,
    AbnormalTermination,
    SpawnError,
    AlreadyStarted,
    NotRunning,
    ShuttingDown,
    /// `add` of a group that is already active.
    AlreadyAdded,
    /// `remove` of a group with a process still running.
    StillRunning,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActionResult {
    pub name: String,
    pub code: ActionCode,
    /// As supervisorctl words it: `started`, `ERROR (already started)`.
    pub message: String,
}

impl ActionResult {
    pub fn done(name: impl Into<String>, message: impl Into<String>) -> ActionResult {
        ActionResult {
            name: name.into(),
            code: ActionCode::Success,
            message: message.into(),
        }
    }

    pub fn failed(
        name: impl Into<String>,
        code: ActionCode,
        message: impl Into<String>,
    ) -> ActionResult {
        ActionResult {
            name: name.into(),
            code,
            message: message.into(),
        }
    }

    pub fn ok(&self) -> bool {
        self.code == ActionCode::Success
    }
}

/// One configured process, in use or not: what `avail` lists and Supervisor's
/// `getAllConfigInfo` describes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AvailInfo {
    /// `group:name`, or `name` when both are equal.
    pub name: String,
    pub process: String,
    pub group: String,
    pub in_use: bool,
    pub autostart: bool,
    pub priority: i32,
    pub group_priority: i32,
    /// `command=` as written (expanded); empty for a caller who is not an admin (a config
    /// kept from other accounts may hold secrets in it).
    pub command: String,
    /// As `command`: `None` for a caller who is not an admin.
    pub directory: Option<String>,
    pub user: Option<String>,
    pub exitcodes: Vec<i32>,
    pub killasgroup: bool,
    pub redirect_stderr: bool,
    pub startretries: u32,
    pub startsecs: u32,
    pub stopsignal: i32,
    pub stopwaitsecs: u32,
    pub stdout: LogInfo,
    pub stderr: LogInfo,
    /// `serverurl=`; `None` is `AUTO`.
    pub serverurl: Option<String>,
}

/// A channel's log settings, as `getAllConfigInfo` reports them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogInfo {
    /// The file, or `None` (`NONE`, or stderr sent to the stdout log).
    pub logfile: Option<String>,
    pub maxbytes: u64,
    pub backups: u32,
    pub syslog: bool,
    pub events_enabled: bool,
    pub capture_maxbytes: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConfigDiff {
    pub added: Vec<String>,
    pub changed: Vec<String>,
    pub removed: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ErrorKind {
    /// A name that matches nothing.
    BadName,
    /// Malformed request (bad signal name, bad arguments).
    BadArguments,
    /// The peer may not do this.
    PermissionDenied,
    /// The config could not be re-read.
    CantReread,
    /// The daemon is shutting down.
    ShuttingDown,
    Failed,
    /// Too many clients at once: try again.
    Busy,
    /// The log asked for does not exist (not configured, or not written yet). For a `Read`
    /// (what Supervisor's clients ask), the message is the file's path, or empty when none is
    /// configured, as Supervisor's NO_FILE fault says it.
    NoFile,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Response {
    Status(Vec<ProcessInfo>),
    /// For start/stop/restart/signal/update: one line per process or group.
    Actions(Vec<ActionResult>),
    Pids(Vec<(String, Option<u32>)>),
    /// Part of a tail; more may follow when following.
    TailChunk(Vec<u8>),
    TailEnd,
    /// What a [`Request::Read`] read (as Supervisor's `tailProcessStdoutLog` answers: the
    /// bytes, the offset to ask from next, and whether the log grew past what was asked).
    Read {
        data: Vec<u8>,
        offset: u64,
        overflow: bool,
    },
    Reread(ConfigDiff),
    Avail(Vec<AvailInfo>),
    /// The token of a one-time login link, and for how many seconds it may wait.
    WebLink {
        token: String,
        expires_in: u64,
    },
    Version(String),
    Done,
    Error {
        kind: ErrorKind,
        message: String,
    },
    /// The answer for what the caller may act on, and what the policy made it skip.
    Partial {
        skipped: Vec<String>,
        /// Never itself a `Partial`: decoding refuses one, as each level would take stack.
        #[serde(deserialize_with = "not_partial")]
        response: Box<Response>,
    },
}

thread_local! {
    /// True while the `response` of a `Partial` is being decoded.
    static IN_PARTIAL: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Decodes the `response` of a `Partial`, refusing one nested in it: a frame of `Partial`s (two
/// bytes each) nested as deep as [`MAX_RESPONSE`] allows overflowed the decoder's stack.
fn not_partial<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Box<Response>, D::Error> {
    struct Leave;
    impl Drop for Leave {
        fn drop(&mut self) {
            IN_PARTIAL.set(false);
        }
    }
    if IN_PARTIAL.get() {
        return Err(serde::de::Error::custom(
            "a Partial response inside a Partial one",
        ));
    }
    IN_PARTIAL.set(true);
    let _leave = Leave;
    Response::deserialize(d).map(Box::new)
}

/// Writes one frame (blocking; for the client).
pub fn write_frame<W: Write, T: Serialize>(w: &mut W, value: &T) -> io::Result<()> {
    let body = postcard::to_stdvec(value).map_err(io::Error::other)?;
    let len = u32::try_from(body.len()).map_err(io::Error::other)?;
    let mut buf = Vec::with_capacity(body.len() + 4);
    buf.extend_from_slice(&len.to_be_bytes());
    buf.extend_from_slice(&body);
    w.write_all(&buf)
}

/// Reads one frame of at most `max` bytes (blocking; for the client). `Ok(None)` on a clean EOF
/// before the frame starts.
pub fn read_frame<R: Read>(r: &mut R, max: usize) -> io::Result<Option<Vec<u8>>> {
    let mut len = [0u8; 4];
    let mut got = 0;
    while got < 4 {
        let n = r.read(&mut len[got..])?;
        if n == 0 {
            return if got == 0 {
                Ok(None)
            } else {
                Err(io::ErrorKind::UnexpectedEof.into())
            };
        }
        got += n;
    }
    let len = u32::from_be_bytes(len) as usize;
    if len > max {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("frame of {len} bytes exceeds the limit of {max}"),
        ));
    }
    let mut body = vec![0u8; len];
    r.read_exact(&mut body)?;
    Ok(Some(body))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn frames_round_trip_and_limits_hold() {
        let frame = ClientFrame {
            version: CONTROL_PROTOCOL_VERSION,
            request: Request::Signal {
                signal: "HUP".into(),
                names: vec!["web:*".into()],
            },
        };
        let mut buf = Vec::new();
        write_frame(&mut buf, &frame).unwrap();
        let body = read_frame(&mut buf.as_slice(), MAX_REQUEST)
            .unwrap()
            .unwrap();
        assert_eq!(
            proctor_wire::decode_exact::<ClientFrame>(&body).unwrap(),
            frame
        );
        assert!(read_frame(&mut buf.as_slice(), 3).is_err());
        let mut trailing = body.clone();
        trailing.push(0);
        assert!(proctor_wire::decode_exact::<ClientFrame>(&trailing).is_err());
        assert!(read_frame(&mut &buf[..6], MAX_REQUEST).is_err());
        assert!(read_frame(&mut &[][..], MAX_REQUEST).unwrap().is_none());
    }

    /// Found while writing `fuzz/` (control): 100 000 nested `Partial`s, a 200 001-byte frame
    /// (under MAX_RESPONSE), overflowed the stack of the decoder (proctorctl), which aborted.
    #[test]
    fn nested_partials_are_refused_not_recursed() {
        let mut body = [0x0a, 0x00].repeat(100_000); // Partial { skipped: [], response: ...
        body.push(0x04); // ... TailEnd }
        assert!(body.len() <= MAX_RESPONSE);
        assert!(proctor_wire::decode_exact::<Response>(&body).is_err());
        assert!(proctor_wire::decode_exact::<Response>(&body[body.len() - 5..]).is_err());
        let one = Response::Partial {
            skipped: vec!["db".into()],
            response: Box::new(Response::TailEnd),
        };
        let bytes = postcard::to_stdvec(&one).unwrap();
        assert_eq!(proctor_wire::decode_exact::<Response>(&bytes).unwrap(), one);
        // and the flag is cleared after a refusal
        assert_eq!(proctor_wire::decode_exact::<Response>(&bytes).unwrap(), one);
    }
}
