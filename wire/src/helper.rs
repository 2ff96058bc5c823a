//! Messages from proctord to controld: postcard, one per SOCK_SEQPACKET datagram, at most
//! [`MAX_HELPER_MSG`] bytes. File descriptors travel only in this direction, as SCM_RIGHTS on the
//! message that declares them (`pipes` says how many; the receiver checks).

use crate::ids::{self, ChildId, Generation, Seq};
use crate::refusal::Refusal;
use nix::unistd::Pid;
use serde::{Deserialize, Serialize};

pub const HELPER_PROTOCOL_VERSION: u16 = 4;

/// Upper bound of one message; the receiver reads into a buffer one byte larger and treats a
/// full buffer as a violation.
pub const MAX_HELPER_MSG: usize = 16 * 1024;

/// How a child ended, as `waitid` reported it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ExitStatus {
    Code(i32),
    Signal(i32),
}

/// Where a child's pipes are, in the SCM_RIGHTS of the message that carries them: the stdout
/// read end first, then the stderr read end unless stderr is merged into stdout, then the stdin
/// write end for a live child (every service gets a stdin pipe, as under Supervisor).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pipes {
    pub stderr: bool,
    pub stdin: bool,
}

impl Pipes {
    pub fn count(self) -> usize {
        1 + usize::from(self.stderr) + usize::from(self.stdin)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum HelperMsg {
    /// First message after controld starts. Carries one fd: a sealed memfd holding the postcard
    /// of the current `Config`.
    Hello {
        version: u16,
        generation: Generation,
        /// proctord's pid, for `proctorctl pid`.
        #[serde(with = "ids::pid")]
        helper_pid: Pid,
        /// True when proctord was started as root and switches users for services.
        root_mode: bool,
        /// False when this controld replaces one that died: it adopts the live children and
        /// starts nothing by itself.
        first_start: bool,
        /// The first key of this controld's audit epoch (root mode with an audit log).
        seal: crate::seal::AuditSeal,
    },
    /// Answer to Reload (`current`: now in force) or ReadConfig (not in force). One fd: the
    /// memfd with the config.
    Config {
        seq: Seq,
        generation: Generation,
        current: bool,
    },
    /// Answer to Spawn: the child runs (exec succeeded). Fds: its log pipes.
    Spawned {
        seq: Seq,
        id: ChildId,
        #[serde(with = "ids::pid")]
        pid: Pid,
        pipes: Pipes,
    },
    /// Answer to Signal: delivered.
    Signalled {
        seq: Seq,
    },
    /// Any order that was not carried out, and why.
    Refused {
        seq: Seq,
        refusal: Refusal,
    },
    /// A child was reaped.
    Exited {
        id: ChildId,
        #[serde(with = "ids::pid")]
        pid: Pid,
        status: ExitStatus,
    },
    /// Answer to Children: one per live child, then `ChildrenEnd`. Fds: its log pipes.
    Child {
        seq: Seq,
        id: ChildId,
        #[serde(with = "ids::pid")]
        pid: Pid,
        program: String,
        process_num: u32,
        /// Seconds since the epoch when it was spawned.
        started: u64,
        pipes: Pipes,
    },
    /// Answer to Children, after the `Child` messages: a service that exited while no controld
    /// was running.
    ExitedAway {
        seq: Seq,
        program: String,
        process_num: u32,
        status: ExitStatus,
        /// Fds: the read ends of its log pipes, with whatever it wrote last still in them.
        pipes: Pipes,
    },
    ChildrenEnd {
        seq: Seq,
    },
    /// proctord got SIGHUP: re-read the policy file.
    ReloadPolicy,
    /// proctord got SIGUSR2: reopen the services' log files (after they were moved away).
    ReopenLogs,
    /// proctord was asked to stop (SIGTERM/SIGINT): stop every service, then send Quit.
    ShutdownRequested,
}

impl HelperMsg {
    /// The order this message answers, if it answers one.
    pub fn answers(&self) -> Option<Seq> {
        match self {
            HelperMsg::Config { seq, .. }
            | HelperMsg::Spawned { seq, .. }
            | HelperMsg::Signalled { seq }
            | HelperMsg::Refused { seq, .. }
            | HelperMsg::Child { seq, .. }
            | HelperMsg::ExitedAway { seq, .. }
            | HelperMsg::ChildrenEnd { seq } => Some(*seq),
            HelperMsg::Hello { .. }
            | HelperMsg::Exited { .. }
            | HelperMsg::ReloadPolicy
            | HelperMsg::ReopenLogs
            | HelperMsg::ShutdownRequested => None,
        }
    }
}
