//! Why proctord did not carry out an order: data, never text, so that nothing proctord
//! formats crosses the boundary and every message has a fixed, small size. controld words it
//! for people, with the names from its own copy of the config ([`Refusal`]'s `Display` is the
//! wording without them).

use crate::ids::{ChildId, Generation, InstanceIndex, ProgramIndex};
use crate::order::OrderError;
use crate::signal::AllowedSignal;
pub use proctor_config::Diagnostic;
use serde::{Deserialize, Serialize};
use std::fmt;

/// An OS error number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Errno(pub i32);

impl fmt::Display for Errno {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        std::io::Error::from_raw_os_error(self.0).fmt(f)
    }
}

impl From<nix::errno::Errno> for Errno {
    fn from(e: nix::errno::Errno) -> Errno {
        Errno(e as i32)
    }
}

impl Errno {
    /// As nix words it (`EIO: Input/output error`), the form account lookups and pipes were
    /// always reported in.
    pub fn named(self) -> nix::errno::Errno {
        nix::errno::Errno::from_raw(self.0)
    }
}

impl From<&std::io::Error> for Errno {
    /// Errors without an OS number (none of proctord's calls make one) read as EIO.
    fn from(e: &std::io::Error) -> Errno {
        Errno(e.raw_os_error().unwrap_or(nix::errno::Errno::EIO as i32))
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Refusal {
    /// The datagram was not an order.
    BadOrder(OrderError),
    /// proctord is stopping every service: nothing new starts.
    ShuttingDown,
    StaleGeneration {
        ordered: Generation,
        current: Generation,
    },
    NoProgram(ProgramIndex),
    NoInstance {
        program: ProgramIndex,
        instance: InstanceIndex,
        numprocs: u32,
    },
    AlreadyRunning {
        program: ProgramIndex,
        instance: InstanceIndex,
        id: ChildId,
    },
    /// No live child has this id (never issued, or reaped).
    NoChild(ChildId),
    /// No exit of this id waits for an acknowledgement.
    NoExit(ChildId),
    SignalFailed {
        id: ChildId,
        signal: AllowedSignal,
        errno: Errno,
    },
    Spawn(SpawnFailure),
    /// The config file no longer loads. The diagnostic is the config loader's, about the
    /// admin's own file: the one text proctord passes on, cut to [`MAX_DIAGNOSTIC`] bytes
    /// ([`Diagnostic::bounded`]).
    Config(Diagnostic),
    /// The config or a child's pipes could not be handed to controld; `errno` is `None` when
    /// the config could not be encoded.
    Handover {
        what: Handover,
        errno: Option<Errno>,
    },
    /// The answer could not be encoded or was too large to send (proctord's log says which).
    Unsendable,
    /// An audit anchor for a log that is not sealed.
    NotSealing,
    /// An audit anchor below the one recorded: what was sealed stays sealed.
    AnchorBack {
        recorded: u64,
        claimed: u64,
    },
    /// The seal file could not be written (the errno).
    SealWrite(Errno),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Handover {
    Config,
    /// The new child was killed: without its pipes controld could not log it.
    Pipes,
}

/// The longest diagnostic message (and file name) passed on.
pub const MAX_DIAGNOSTIC: usize = 4096;

/// Why a service was not started.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum SpawnFailure {
    /// Root mode, and the program has no `user=`.
    NoUser,
    /// The account does not exist (any more).
    UnknownUser,
    UserLookup(Errno),
    /// The account has uid or gid 0.
    PrivilegedUser,
    /// The account is in group 0.
    RootGroup,
    /// The account is (now) one of proctor's own: controld_user or helper_user.
    OwnAccount,
    GroupsLookup(Errno),
    /// A string for the child has a NUL byte.
    Nul(Text),
    EmptyCommand,
    CommandNotFound,
    /// A call in proctord failed before the child existed.
    Call {
        call: Call,
        errno: Errno,
    },
    /// The child failed at `step` before it could exec, and has exited.
    Child {
        step: ChildStep,
        errno: Errno,
    },
    /// The child had not exec'd after `millis` (something stopped it: any process of the
    /// service's account can, once the child has its uid), and was killed.
    ExecTimeout {
        millis: u32,
    },
    /// The command names a directory, or a file without an execute bit.
    CommandNotExecutable,
}

impl SpawnFailure {
    /// Retrying cannot help (the account is gone, or is root's): FATAL at once, not BACKOFF.
    pub fn permanent(self) -> bool {
        matches!(
            self,
            SpawnFailure::UnknownUser
                | SpawnFailure::PrivilegedUser
                | SpawnFailure::RootGroup
                | SpawnFailure::OwnAccount
        )
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Text {
    UserName,
    Command,
    Environment,
    Directory,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Call {
    OpenDevNull,
    Pipe,
    Fork,
}

/// The steps of a new child, in order, as reported when one fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[repr(u8)]
pub enum ChildStep {
    Signals = 1,
    Setsid = 2,
    Fds = 3,
    Setgroups = 4,
    Setresgid = 5,
    Setresuid = 6,
    Chdir = 7,
    CloseRange = 8,
    Exec = 9,
    Capabilities = 10,
    ParentDeath = 11,
}

impl ChildStep {
    pub fn from_u8(v: u8) -> Option<ChildStep> {
        use ChildStep::*;
        [
            Signals,
            Setsid,
            Fds,
            Setgroups,
            Setresgid,
            Setresuid,
            Chdir,
            CloseRange,
            Exec,
            Capabilities,
            ParentDeath,
        ]
        .into_iter()
        .find(|s| *s as u8 == v)
    }

    pub fn name(self) -> &'static str {
        match self {
            ChildStep::Signals => "reset signals",
            ChildStep::Setsid => "setsid",
            ChildStep::Fds => "set up fds 0-2",
            ChildStep::Setgroups => "setgroups",
            ChildStep::Setresgid => "setresgid",
            ChildStep::Setresuid => "setresuid",
            ChildStep::Chdir => "chdir",
            ChildStep::CloseRange => "close fds",
            ChildStep::Exec => "execve",
            ChildStep::Capabilities => "set capabilities",
            ChildStep::ParentDeath => "tie to proctord's life",
        }
    }
}

/// The names a refusal's wording needs, from the receiver's copy of the config.
#[derive(Debug, Clone, Copy, Default)]
pub struct Names<'a> {
    /// The program's name.
    pub program: Option<&'a str>,
    /// The process's name (`name_%(process_num)s` expanded).
    pub process: Option<&'a str>,
    /// Its `user=`.
    pub user: Option<&'a str>,
    /// The first word of its command.
    pub command: Option<&'a str>,
}

impl Refusal {
    /// Retrying cannot help: a program whose spawn is refused so goes FATAL at once.
    pub fn permanent(&self) -> bool {
        matches!(self, Refusal::Spawn(f) if f.permanent())
    }

    /// The reason, for `status` and the logs, worded with `names` where it names something.
    pub fn describe(&self, names: Names<'_>) -> String {
        match (self, names.program, names.process) {
            (Refusal::AlreadyRunning { id, .. }, _, Some(process)) => {
                format!("{process} is already running (id {id})")
            }
            (
                Refusal::NoInstance {
                    instance, numprocs, ..
                },
                Some(program),
                _,
            ) => format!("program {program} has no instance {instance} (numprocs = {numprocs})"),
            (Refusal::Spawn(f), ..) => f.describe(names),
            (other, ..) => other.to_string(),
        }
    }
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Refusal::BadOrder(e) => e.fmt(f),
            Refusal::ShuttingDown => f.write_str("shutting down"),
            Refusal::StaleGeneration { ordered, current } => write!(
                f,
                "config generation {ordered} is not one proctord keeps (the current {current} \
                 and the few before it): update the group to spawn it from the file"
            ),
            Refusal::NoProgram(p) => write!(f, "no program with index {p}"),
            Refusal::NoInstance {
                program,
                instance,
                numprocs,
            } => write!(
                f,
                "program #{program} has no instance {instance} (numprocs = {numprocs})"
            ),
            Refusal::AlreadyRunning {
                program,
                instance,
                id,
            } => write!(
                f,
                "instance {instance} of program #{program} is already running (id {id})"
            ),
            Refusal::NoChild(id) => write!(f, "no live child with id {id}"),
            Refusal::NoExit(id) => write!(f, "no unacknowledged exit with id {id}"),
            Refusal::NotSealing => write!(f, "the audit log is not sealed"),
            Refusal::AnchorBack { recorded, claimed } => write!(
                f,
                "audit anchor {claimed} is below the recorded {recorded}: refused"
            ),
            Refusal::SealWrite(e) => write!(f, "cannot write the audit seal file: {e}"),
            Refusal::SignalFailed { id, signal, errno } => {
                write!(f, "signal {} to id {id}: {errno}", signal.name())
            }
            Refusal::Spawn(s) => f.write_str(&s.describe(Names::default())),
            Refusal::Config(d) => d.fmt(f),
            Refusal::Handover { what, errno } => {
                let why = errno.map_or("it cannot be encoded".to_owned(), |e| e.to_string());
                match what {
                    Handover::Config => write!(f, "cannot pass the config: {why}"),
                    Handover::Pipes => write!(
                        f,
                        "cannot pass the log pipes: {why} (the new process was killed)"
                    ),
                }
            }
            Refusal::Unsendable => f.write_str("proctord could not send its answer (see its log)"),
        }
    }
}

impl SpawnFailure {
    pub fn describe(self, names: Names<'_>) -> String {
        let user = names.user.unwrap_or("?");
        match self {
            SpawnFailure::NoUser => {
                format!("program {} has no user=", names.program.unwrap_or("?"))
            }
            SpawnFailure::UnknownUser => format!("user '{user}' does not exist"),
            SpawnFailure::UserLookup(e) => format!("cannot look up user '{user}': {}", e.named()),
            SpawnFailure::PrivilegedUser => format!("user '{user}' has uid or gid 0: refused"),
            SpawnFailure::RootGroup => format!("user '{user}' is in group 0 (root): refused"),
            SpawnFailure::OwnAccount => format!(
                "user '{user}' is one of proctor's own accounts (controld_user, helper_user): \
                 refused"
            ),
            SpawnFailure::GroupsLookup(e) => {
                format!("cannot look up the groups of '{user}': {}", e.named())
            }
            SpawnFailure::Nul(what) => {
                let what = match what {
                    Text::UserName => "user name",
                    Text::Command => "command",
                    Text::Environment => "environment",
                    Text::Directory => "directory",
                };
                format!("{what} contains a NUL byte")
            }
            SpawnFailure::EmptyCommand => "command is empty".to_owned(),
            SpawnFailure::CommandNotFound => {
                format!("can't find command '{}'", names.command.unwrap_or("?"))
            }
            SpawnFailure::CommandNotExecutable => format!(
                "command at '{}' is not executable (a directory, or no execute permission)",
                names.command.unwrap_or("?")
            ),
            // Each as it was always worded: pipe2 through nix, the others through std.
            SpawnFailure::Call {
                call: Call::Pipe,
                errno,
            } => format!("pipe: {}", errno.named()),
            SpawnFailure::Call { call, errno } => {
                let call = match call {
                    Call::OpenDevNull => "open /dev/null",
                    Call::Pipe => "pipe",
                    Call::Fork => "fork",
                };
                format!("{call}: {errno}")
            }
            SpawnFailure::Child { step, errno } => format!("{} failed: {errno}", step.name()),
            SpawnFailure::ExecTimeout { millis } => format!(
                "the new process had not started its program after {millis} ms and was killed \
                 (was it stopped? any process of the service's account can stop it)"
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn wording_with_and_without_names() {
        let r = Refusal::AlreadyRunning {
            program: ProgramIndex(0),
            instance: InstanceIndex(0),
            id: ChildId(1),
        };
        let names = Names {
            process: Some("a"),
            ..Names::default()
        };
        assert_eq!(r.describe(names), "a is already running (id 1)");
        assert_eq!(
            r.to_string(),
            "instance 0 of program #0 is already running (id 1)"
        );
        let chdir = Refusal::Spawn(SpawnFailure::Child {
            step: ChildStep::Chdir,
            errno: Errno(2),
        });
        assert_eq!(
            chdir.to_string(),
            "chdir failed: No such file or directory (os error 2)"
        );
    }

    #[test]
    fn diagnostics_are_bounded() {
        let d = Diagnostic {
            file: "f".repeat(3 * MAX_DIAGNOSTIC).into(),
            line: 3,
            message: "é".repeat(MAX_DIAGNOSTIC),
        }
        .bounded(MAX_DIAGNOSTIC);
        assert!(d.message.len() <= MAX_DIAGNOSTIC + '…'.len_utf8());
        let bytes = postcard::to_stdvec(&Refusal::Config(d)).unwrap();
        assert!(bytes.len() < crate::helper::MAX_HELPER_MSG);
    }
}
