//! The services configuration after loading: every expansion done, every default applied, every
//! name checked. Both proctord and controld work from this model; proctord sends its own copy to
//! controld (postcard in a sealed memfd), so the two always agree on program indices.

use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// A loaded configuration. `programs` is in file order (includes expanded where the `[include]`
/// section stands); a program's index in it is what helper orders carry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Config {
    /// The main file, absolute.
    pub source: PathBuf,
    /// `[unix_http_server]`; `None` when the section is absent.
    pub server: Option<ServerConfig>,
    /// `[inet_http_server]`; `None` when the section is absent.
    pub inet: Option<InetServerConfig>,
    pub daemon: DaemonConfig,
    pub proctor: ProctorConfig,
    /// Shared, not copied, by the daemons' own tables of what runs.
    pub programs: Vec<Arc<ProgramConfig>>,
    /// Every process group: each `[group:x]`, plus one implicit group per program that no
    /// `[group:x]` names (named like the program, with the program's priority). Sorted by
    /// (priority, name): the order in which "start all" walks them.
    pub groups: Vec<GroupConfig>,
}

/// `[unix_http_server]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServerConfig {
    /// `file=`, absolute after `%(here)s` expansion.
    pub file: PathBuf,
    /// `chmod=`, octal, default 0o700.
    pub chmod: u32,
}

/// `[inet_http_server]`: XML-RPC and the web UI on TCP. proctord binds it (so that a port
/// below 1024 needs no capability in controld) and hands controld the socket.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InetServerConfig {
    /// `port=`'s host: an address or a name. A `port=` without one binds the loopback
    /// (`127.0.0.1`), not every interface as Supervisor does; `*` is every interface.
    pub host: String,
    pub port: u16,
    /// Where `port=` is written (`FILE:LINE`), for what proctord says when it cannot bind it.
    pub place: String,
    /// Supervisor's shared account: `username=` and `password=` (plain, or `{SHA}` and the hex
    /// SHA-1 of the password).
    pub username: Option<String>,
    pub password: Option<String>,
    /// The account that clients of the shared `username=` act as, for the policy and the audit
    /// log. Without it they may do nothing.
    pub identity: Option<String>,
    /// The file of per-person accounts and their argon2id password hashes.
    pub accounts: Option<PathBuf>,
    /// `tls_cert=` and `tls_key=` (PEM): HTTPS, which a bind beyond the loopback requires.
    pub tls: Option<TlsFiles>,
    /// More names the `Host` header may carry, beyond the loopback names and `port=`'s host.
    pub server_names: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TlsFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
}

impl InetServerConfig {
    /// Whether `host` is a loopback address or `localhost` (a name proctord resolves may still
    /// turn out to be one; it checks again then).
    pub fn host_is_loopback(&self) -> bool {
        host_is_loopback(&self.host)
    }
}

/// `localhost`, or an address in 127.0.0.0/8 or `::1` (brackets allowed).
pub fn host_is_loopback(host: &str) -> bool {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    bare.eq_ignore_ascii_case("localhost")
        || bare
            .parse::<std::net::IpAddr>()
            .is_ok_and(|a| a.is_loopback())
}

/// `[supervisord]`: the keys proctor honours.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DaemonConfig {
    /// `logfile=`; `None` when absent (proctor then logs to stderr only).
    pub logfile: Option<PathBuf>,
    /// `childlogdir=`: where `AUTO` child logs go.
    pub childlogdir: PathBuf,
    /// `identifier=`, default `supervisor`.
    pub identifier: String,
    /// `environment=`: added to every child, before the program's own `environment=`.
    pub environment: Vec<(String, String)>,
    /// `loglevel=` as a log filter for both daemons (`PROCTOR_LOG` overrides it).
    pub loglevel: Option<String>,
    /// `umask=`: the umask of programs without their own. Supervisor sets it (default 022) only
    /// when it daemonizes, so with `nodaemon=true` it is `None`: programs inherit proctord's.
    pub umask: Option<u32>,
    /// `directory=`: the working directory of programs without their own (also only without
    /// `nodaemon=true`).
    pub directory: Option<PathBuf>,
    /// `pidfile=`: where proctord writes its pid.
    pub pidfile: Option<PathBuf>,
    /// `minfds=`, `minprocs=`: the open-file and process limits proctord warns below.
    pub minfds: u64,
    pub minprocs: u64,
}

/// `[proctor]`: our own keys.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProctorConfig {
    pub policy: Option<PathBuf>,
    pub audit_log: Option<PathBuf>,
    /// Rotate the audit log past this size (0 = never). Default 50 MB.
    pub audit_log_maxbytes: u64,
    /// Rotated audit logs kept (`audit.log.1` …). Default 10.
    pub audit_log_backups: u32,
    /// Seconds: rotation never deletes a file whose last record is younger than this on behalf
    /// of someone who is not an admin; their requests are refused instead. Default 1 day.
    pub audit_log_min_age: u64,
    pub audit_syslog: bool,
    /// Root mode: the file of audit seal keys, root's alone (default
    /// [`ProctorConfig::DEFAULT_SEAL`]). Not used without `audit_log`.
    pub audit_seal: Option<PathBuf>,
    /// Default `proctor`.
    pub controld_user: String,
    /// Default `proctor-helper`.
    pub helper_user: String,
    /// As root: the account of programs without `user=` (`[supervisord] user=` when this is
    /// absent). None: every program needs `user=`.
    pub default_user: Option<String>,
}

impl ProctorConfig {
    pub const DEFAULT_SEAL: &'static str = "/var/lib/proctor/audit.seal";

    /// Where the audit log's seal keys are (root mode): none without an audit log.
    pub fn seal_path(&self) -> Option<PathBuf> {
        self.audit_log.as_ref()?;
        Some(
            self.audit_seal
                .clone()
                .unwrap_or_else(|| PathBuf::from(Self::DEFAULT_SEAL)),
        )
    }
}

impl Default for ProctorConfig {
    /// What a config without `[proctor]`, or without a key of it, gets.
    fn default() -> ProctorConfig {
        ProctorConfig {
            policy: None,
            audit_log: None,
            audit_log_maxbytes: 50 << 20,
            audit_log_backups: 10,
            audit_log_min_age: 86400,
            audit_syslog: false,
            audit_seal: None,
            controld_user: "proctor".into(),
            helper_user: "proctor-helper".into(),
            default_user: None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupConfig {
    pub name: String,
    pub priority: i32,
    /// Indices into `Config::programs`, in the order `programs=` lists them.
    pub programs: Vec<usize>,
    /// True for a `[group:x]` section, false for a program's implicit group.
    pub explicit: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum AutoRestart {
    Never,
    Unexpected,
    Always,
}

/// The only capability a service may be granted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Capability {
    NetBindService,
}

/// Where the file in a config came from, for messages. Never part of equality, so that moving a
/// section does not make `update` restart it.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Origin {
    pub file: PathBuf,
    pub line: u32,
}

impl PartialEq for Origin {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}
impl Eq for Origin {}

impl std::fmt::Display for Origin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.file.display(), self.line)
    }
}

/// A signal, by number (validated against the names Supervisor accepts for `stopsignal`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignalSpec {
    pub number: i32,
}

/// `[program:x]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProgramConfig {
    pub name: String,
    /// The group this program's processes belong to: the `[group:x]` that lists it, else its
    /// own name.
    pub group: String,
    pub origin: Origin,
    pub numprocs: u32,
    pub numprocs_start: u32,
    pub priority: i32,
    pub autostart: bool,
    pub autorestart: AutoRestart,
    pub startsecs: u32,
    pub startretries: u32,
    pub exitcodes: Vec<i32>,
    pub stopsignal: SignalSpec,
    pub stopwaitsecs: u32,
    /// `stopasgroup=true` implies `killasgroup=true`, as in Supervisor; already applied here.
    pub stopasgroup: bool,
    pub killasgroup: bool,
    /// `user=`; `None` means "the account proctord runs as" (refused when that is root).
    pub user: Option<String>,
    pub umask: Option<u32>,
    pub redirect_stderr: bool,
    /// `serverurl=`: what the processes get as SUPERVISOR_SERVER_URL; `None` (`AUTO`, the
    /// default) is the daemon's own socket.
    pub serverurl: Option<String>,
    pub capabilities: Vec<Capability>,
    /// `[eventlistener:x]`: a pool of event listeners (its group is its own name).
    pub listener: Option<ListenerConfig>,
    /// Listening sockets proctord binds from this config and hands to every instance:
    /// `[fcgi-program:x] socket=` (as fd 0), or `sockets=` (as fds 3 and up, with `LISTEN_FDS`,
    /// as systemd passes them).
    pub sockets: Vec<HeldSocket>,
    /// `[fcgi-program:x]`: its one socket is the instances' fd 0.
    pub fcgi: bool,
    /// One entry per instance: `numprocs` of them, `process_num` from `numprocs_start` up.
    pub processes: Vec<ProcessConfig>,
}

/// What an `[eventlistener:x]` section adds to a program.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ListenerConfig {
    /// `events=`: the event type names the pool subscribes to, upper-cased, each once, sorted
    /// (Supervisor keeps them as a set).
    pub events: Vec<String>,
    /// `buffer_size`: the pool's queue, at least 1 (default 10).
    pub buffer_size: u32,
    /// The pool's priority, as its group's: `priority=`, else -1 (Supervisor's default for a
    /// pool, so that listeners start first and stop last; the processes' own stays 999).
    pub priority: i32,
}

impl ProgramConfig {
    /// The section it comes from, as messages name it: `program:x` or `eventlistener:x`.
    pub fn section(&self) -> String {
        let kind = if self.listener.is_some() {
            "eventlistener"
        } else if self.fcgi {
            "fcgi-program"
        } else {
            "program"
        };
        format!("{kind}:{}", self.name)
    }
}

/// A listening socket that proctord binds (it holds CAP_NET_BIND_SERVICE and outlives every
/// service) and keeps for as long as the config names it, so that a restart of the service
/// refuses no connection: they wait in the backlog.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HeldSocket {
    pub address: SocketAddress,
    /// The name in `LISTEN_FDNAMES` (the program's name unless `NAME=` was given).
    pub name: String,
    /// `socket_backlog`: the listen queue (Supervisor's default: the system's SOMAXCONN).
    pub backlog: u32,
    /// A unix socket's `socket_owner` (`user[:group]`; default the program's user) and
    /// `socket_mode` (default 0700).
    pub owner: Option<String>,
    pub mode: u32,
    /// Where it is written, for what proctord says when it cannot bind it.
    pub origin: Origin,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum SocketAddress {
    /// `tcp://HOST:PORT`; the host `*` is every interface.
    Tcp { host: String, port: u16 },
    /// `unix:///PATH`.
    Unix { path: PathBuf },
}

impl std::fmt::Display for SocketAddress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SocketAddress::Tcp { host, port } => write!(f, "tcp://{host}:{port}"),
            SocketAddress::Unix { path } => write!(f, "unix://{}", path.display()),
        }
    }
}

/// One instance of a program, with every per-process expansion done.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProcessConfig {
    /// `process_name` expanded.
    pub name: String,
    pub process_num: u32,
    /// `command=` expanded, as written (what Supervisor's `getAllConfigInfo` shows).
    pub command: String,
    /// `command=` expanded and split like a POSIX shell would (no shell runs it). Never empty.
    pub argv: Vec<String>,
    /// `[supervisord] environment=` then the program's `environment=`, expanded. The inherited
    /// environment and the SUPERVISOR_* variables are added at spawn time.
    pub environment: Vec<(String, String)>,
    pub directory: Option<PathBuf>,
    pub stdout: LogConfig,
    /// With `redirect_stderr=true`, `target` is `LogTarget::Merged`.
    pub stderr: LogConfig,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum LogTarget {
    /// `NONE`: output is read and dropped.
    Discard,
    /// A path, or `AUTO` resolved to `childlogdir/NAME-CHANNEL---IDENTIFIER.log`.
    File(PathBuf),
    /// Not a regular file: `/dev/stdout`, `/dev/fd/N`, `/proc/PID/fd/N`, a tty, a FIFO.
    /// Written as a stream (no rotation, no size), shared by any number of processes, never
    /// read back.
    Stream(PathBuf),
    /// stderr goes to the stdout pipe (`redirect_stderr=true`).
    Merged,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogConfig {
    pub target: LogTarget,
    /// Rotate when the file would exceed this; 0 = never. Default 50 MB.
    pub maxbytes: u64,
    /// Rotated copies kept (`file.1` … `file.N`); 0 = truncate instead. Default 10.
    pub backups: u32,
    pub syslog: bool,
    /// `*_events_enabled`: each piece of output also a PROCESS_LOG_* event.
    pub events_enabled: bool,
    /// `*_capture_maxbytes`: capture mode (PROCESS_COMMUNICATION_* events) keeping at most
    /// this much of a communication; 0 = off.
    pub capture_maxbytes: u64,
}

impl Config {
    /// Supervisor's namespec: `group:process`, or just `process` when the two are equal.
    pub fn namespec(group: &str, process: &str) -> String {
        if group == process {
            process.to_owned()
        } else {
            format!("{group}:{process}")
        }
    }

    pub fn group(&self, name: &str) -> Option<&GroupConfig> {
        self.groups.iter().find(|g| g.name == name)
    }

    pub fn program(&self, name: &str) -> Option<(usize, &ProgramConfig)> {
        self.programs
            .iter()
            .enumerate()
            .find(|(_, p)| p.name == name)
            .map(|(i, p)| (i, &**p))
    }
}

impl LogTarget {
    /// The target for a log path: a [`LogTarget::Stream`] for a process's own descriptors
    /// (`/dev/stdout`, `/dev/stderr`, `/dev/fd/N`, `/proc/PID/fd/N`) and for anything that
    /// exists and is not a regular file (a tty, a FIFO), else a file.
    pub fn for_path(path: PathBuf) -> LogTarget {
        let special = path == Path::new("/dev/stdout")
            || path == Path::new("/dev/stderr")
            || path.starts_with("/dev/fd")
            || (path.starts_with("/proc") && path.components().any(|c| c.as_os_str() == "fd"));
        let not_a_file = std::fs::metadata(&path).is_ok_and(|m| !m.is_file() && !m.is_dir());
        if special || not_a_file {
            LogTarget::Stream(path)
        } else {
            LogTarget::File(path)
        }
    }
}
