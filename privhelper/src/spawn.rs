//! Starting a configured service: everything that may allocate or look things up happens here,
//! before the child is created; the child side is `sys::spawn_child`.

use crate::sys::{self, CStringArray, ChildError, ChildPlan, Credentials};
use nix::fcntl::OFlag;
use nix::unistd::{pipe2, Pid, User};
use proctor_config::{Capability, LogTarget, ProcessConfig, ProgramConfig};
use proctor_wire::refusal::{Call, Errno, SpawnFailure, Text};
use std::collections::HashMap;
use std::ffi::CString;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

pub struct Started {
    pub pid: Pid,
    pub pidfd: OwnedFd,
    pub stdout: OwnedFd,
    pub stderr: Option<OwnedFd>,
    /// The write end of its stdin pipe.
    pub stdin: OwnedFd,
}

/// How proctord runs: as root it switches every service to its `user=`.
pub struct SpawnContext<'a> {
    pub root_mode: bool,
    /// The control socket, for SUPERVISOR_SERVER_URL.
    pub socket: &'a Path,
    /// proctord's own environment, inherited by services in user mode (as Supervisor does).
    pub inherited_env: &'a [(String, String)],
    /// Root mode: the uids of controld_user and helper_user, which no service may have.
    pub own_uids: &'a [u32],
}

fn cstring(what: Text, s: &str) -> Result<CString, SpawnFailure> {
    CString::new(s).map_err(|_| SpawnFailure::Nul(what))
}

/// The account lookups of one batch of spawn orders. Starting a thousand services as one user
/// would otherwise ask NSS a thousand times within a second, and a lookup (with the groups) is
/// a good part of what a spawn costs. A lookup is reused for at most [`ACCOUNT_REUSE`] and
/// within one batch: every batch looks its accounts up afresh, so a deleted or changed account
/// is seen at the next start. Failures are never kept.
#[derive(Default)]
pub struct Accounts {
    seen: HashMap<String, (Credentials, User)>,
    since: Option<Instant>,
}

const ACCOUNT_REUSE: Duration = Duration::from_secs(1);

impl Accounts {
    /// Ends a batch.
    pub fn forget(&mut self) {
        self.seen.clear();
        self.since = None;
    }

    fn lookup(&mut self, name: &str, ambient: u32) -> Result<(Credentials, User), SpawnFailure> {
        if self.since.is_some_and(|t| t.elapsed() > ACCOUNT_REUSE) {
            self.forget();
        }
        let (mut creds, user) = match self.seen.get(name) {
            Some(hit) => hit.clone(),
            None => {
                let found = account(name, 0)?;
                self.since.get_or_insert_with(Instant::now);
                self.seen.insert(name.to_owned(), found.clone());
                found
            }
        };
        creds.ambient = ambient;
        Ok((creds, user))
    }
}

/// Looks the service's account up again (it may have changed since the config was loaded) and
/// refuses on any failure.
fn credentials(
    accounts: &mut Accounts,
    program: &ProgramConfig,
) -> Result<(Credentials, User), SpawnFailure> {
    let name = program.user.as_deref().ok_or(SpawnFailure::NoUser)?;
    let ambient = if program.capabilities.contains(&Capability::NetBindService) {
        sys::NET_BIND_SERVICE_BIT
    } else {
        0
    };
    accounts.lookup(name, ambient)
}

/// An account's identity for a child: uid, primary gid and its groups from the account
/// database, never 0.
pub fn account(name: &str, ambient: u32) -> Result<(Credentials, User), SpawnFailure> {
    let user = match User::from_name(name) {
        Ok(Some(u)) => u,
        Ok(None) => return Err(SpawnFailure::UnknownUser),
        // NSS may be down for a moment (LDAP, sssd): worth retrying.
        Err(e) => return Err(SpawnFailure::UserLookup(e.into())),
    };
    if user.uid.is_root() || user.gid.as_raw() == 0 {
        return Err(SpawnFailure::PrivilegedUser);
    }
    let cname = cstring(Text::UserName, name)?;
    let groups = nix::unistd::getgrouplist(&cname, user.gid)
        .map_err(|e| SpawnFailure::GroupsLookup(e.into()))?;
    if groups.iter().any(|g| g.as_raw() == 0) {
        return Err(SpawnFailure::RootGroup);
    }
    Ok((
        Credentials {
            uid: user.uid.as_raw(),
            gid: user.gid.as_raw(),
            groups: groups.iter().map(|g| g.as_raw()).collect(),
            ambient,
        },
        user,
    ))
}

fn environment(
    ctx: &SpawnContext<'_>,
    program: &ProgramConfig,
    process: &ProcessConfig,
    user: Option<&User>,
) -> Vec<(String, String)> {
    let mut env: Vec<(String, String)> = Vec::new();
    let mut set = |k: &str, v: String| {
        if let Some(e) = env.iter_mut().find(|(ek, _)| ek == k) {
            e.1 = v;
        } else {
            env.push((k.to_owned(), v));
        }
    };
    match user {
        // Root mode: nothing of root's environment leaks into a service; it gets the account's
        // own basics, which Supervisor famously did not set (its issues #307, #435, #453).
        Some(u) => {
            set("HOME", u.dir.display().to_string());
            set("USER", u.name.clone());
            set("LOGNAME", u.name.clone());
            set("SHELL", u.shell.display().to_string());
            set(
                "PATH",
                "/usr/local/bin:/usr/bin:/bin:/usr/local/sbin:/usr/sbin:/sbin".to_owned(),
            );
        }
        None => {
            // Sockets passed to proctord by whoever started it are not the service's.
            let passed = |k: &str| matches!(k, "LISTEN_PID" | "LISTEN_FDS" | "LISTEN_FDNAMES");
            for (k, v) in ctx.inherited_env.iter().filter(|(k, _)| !passed(k)) {
                set(k, v.clone());
            }
        }
    }
    set("SUPERVISOR_ENABLED", "1".to_owned());
    set("SUPERVISOR_PROCESS_NAME", process.name.clone());
    set("SUPERVISOR_GROUP_NAME", program.group.clone());
    // `serverurl=AUTO`: the daemon's own socket, as supervisord gives its own.
    let url = program
        .serverurl
        .clone()
        .unwrap_or_else(|| format!("unix://{}", ctx.socket.display()));
    set("SUPERVISOR_SERVER_URL", url);
    for (k, v) in &process.environment {
        set(k, v.clone());
    }
    env
}

/// Finds the executable as Supervisor does: a name with a slash is used as is (relative to the
/// program's directory), any other name is searched in the service's PATH.
fn resolve_command(
    argv0: &str,
    env: &[(String, String)],
    directory: Option<&Path>,
) -> Result<PathBuf, SpawnFailure> {
    let executable = |p: &Path| {
        std::fs::metadata(p)
            .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
            .unwrap_or(false)
    };
    if argv0.contains('/') {
        let p = match directory {
            Some(d) if !argv0.starts_with('/') => d.join(argv0),
            _ => PathBuf::from(argv0),
        };
        // As Supervisor tells them apart: a file that is there but cannot be run (a directory,
        // no execute bit) is not the same as none.
        return match std::fs::metadata(&p) {
            Err(_) => Err(SpawnFailure::CommandNotFound),
            Ok(_) if executable(&p) => Ok(p),
            Ok(_) => Err(SpawnFailure::CommandNotExecutable),
        };
    }
    let path = env
        .iter()
        .find(|(k, _)| k == "PATH")
        .map(|(_, v)| v.as_str())
        .unwrap_or("/usr/local/bin:/usr/bin:/bin");
    path.split(':')
        .filter(|d| !d.is_empty())
        .map(|d| Path::new(d).join(argv0))
        .find(|p| executable(p))
        .ok_or(SpawnFailure::CommandNotFound)
}

/// Starts one instance. controld words a failure for `status` (the program goes to BACKOFF,
/// or FATAL when the failure is permanent).
/// `sockets` are the program's held sockets (see `held`), in the order of its config: fd 0 of
/// an `[fcgi-program:x]`, fds 3 and up with `LISTEN_FDS` for `sockets=`.
pub fn spawn(
    ctx: &SpawnContext<'_>,
    accounts: &mut Accounts,
    program: &ProgramConfig,
    process: &ProcessConfig,
    sockets: &[std::os::fd::RawFd],
) -> Result<Started, SpawnFailure> {
    let (creds, user) = if ctx.root_mode {
        let (c, u) = credentials(accounts, program)?;
        // Checked at load by name and uid; the account database may have changed since.
        if ctx.own_uids.contains(&c.uid) {
            return Err(SpawnFailure::OwnAccount);
        }
        (Some(c), Some(u))
    } else {
        (None, None)
    };
    let env = environment(ctx, program, process, user.as_ref());
    let argv0 = process.argv.first().ok_or(SpawnFailure::EmptyCommand)?;
    let path = resolve_command(argv0, &env, process.directory.as_deref())?;
    let path = cstring(Text::Command, &path.to_string_lossy())?;
    let argv = CStringArray::new(
        process
            .argv
            .iter()
            .map(|a| cstring(Text::Command, a))
            .collect::<Result<_, _>>()?,
    );
    // systemd's socket passing: the count and names here, the pid written by the child.
    let listen_pid = (!program.fcgi && !sockets.is_empty()).then(sys::ListenPid::new);
    let mut env = env;
    if listen_pid.is_some() {
        // Ours alone: an `environment=` naming these would shadow them (getenv takes the first).
        env.retain(|(k, _)| !matches!(k.as_str(), "LISTEN_PID" | "LISTEN_FDS" | "LISTEN_FDNAMES"));
        env.push(("LISTEN_FDS".to_owned(), sockets.len().to_string()));
        let names: Vec<&str> = program.sockets.iter().map(|s| s.name.as_str()).collect();
        env.push(("LISTEN_FDNAMES".to_owned(), names.join(":")));
    }
    let envp = CStringArray::with(
        env.iter()
            .map(|(k, v)| cstring(Text::Environment, &format!("{k}={v}")))
            .collect::<Result<_, _>>()?,
        listen_pid.as_ref(),
    );
    let chdir = process
        .directory
        .as_ref()
        .map(|d| cstring(Text::Directory, &d.to_string_lossy()))
        .transpose()?;

    let pipe = || {
        pipe2(OFlag::O_CLOEXEC).map_err(|e| SpawnFailure::Call {
            call: Call::Pipe,
            errno: e.into(),
        })
    };
    // stdin is a pipe, as under Supervisor: `sendProcessStdin` and `supervisorctl fg` write to
    // it, and a service that reads its stdin waits rather than sees an end of file.
    let (in_r, in_w) = pipe()?;
    let (out_r, out_w) = pipe()?;
    let err_pipe = match process.stderr.target {
        LogTarget::Merged => None,
        _ => Some(pipe()?),
    };
    let err_w = err_pipe
        .as_ref()
        .map_or(out_w.as_raw_fd(), |(_, w)| w.as_raw_fd());
    let mut fds = vec![in_r.as_raw_fd(), out_w.as_raw_fd(), err_w];
    match sockets.first() {
        // As supervisord: the socket is the instance's stdin (its stdin pipe stays unread).
        Some(socket) if program.fcgi => fds[0] = *socket,
        _ => fds.extend_from_slice(sockets),
    }
    let plan = ChildPlan {
        program: sys::Executable::Path(&path),
        argv: &argv,
        envp: &envp,
        fds: &fds,
        credentials: creds.as_ref(),
        chdir: chdir.as_deref(),
        umask: program.umask,
        parent: Pid::this(),
        listen_pid: listen_pid.as_ref(),
    };
    let (pid, pidfd) = run(&plan)?;
    // The write ends now live only in the child: EOF on the read ends means it closed them.
    drop(out_w);
    drop(in_r);
    let (err_r, err_w) = match err_pipe {
        Some((r, w)) => (Some(r), Some(w)),
        None => (None, None),
    };
    drop(err_w);
    // Kept while the service lives: out of the range that later children copy.
    Ok(Started {
        pid,
        pidfd: sys::keep_high(pidfd),
        stdout: sys::keep_high(out_r),
        stderr: err_r.map(sys::keep_high),
        stdin: sys::keep_high(in_w),
    })
}

/// How long a new child may take to reach its exec. Its work before the exec is a few dozen
/// syscalls, well under a millisecond; what can hold it longer is a process of the service's
/// account stopping it on purpose (or a hung network filesystem under its directory). proctord
/// serves nothing else meanwhile, so this bounds how long a service's account can hold it up
/// per spawn of its own service.
pub const EXEC_LIMIT: Duration = Duration::from_millis(500);

/// Starts a child that runs `plan`, once it has exec'd. Returns the pid and a pidfd of the
/// running child, or which step failed and why.
pub fn run(plan: &ChildPlan<'_>) -> Result<(Pid, OwnedFd), SpawnFailure> {
    sys::spawn_child(plan, EXEC_LIMIT).map_err(|e| match e {
        ChildError::Clone(e) => SpawnFailure::Call {
            call: Call::Fork,
            errno: Errno::from(&e),
        },
        // The child has _exited; the reaper sees a pid it does not know and drops it.
        ChildError::Step(step, errno) => SpawnFailure::Child {
            step,
            errno: Errno(errno),
        },
        ChildError::Timeout => SpawnFailure::ExecTimeout {
            millis: EXEC_LIMIT.as_millis() as u32,
        },
    })
}
