//! Starting a configured service: everything that may allocate or look things up happens here,
//! before `fork`; the child side is `sys::fork_exec`.

use crate::sys::{self, CStringArray, ChildPlan, ChildStep, Credentials};
use nix::fcntl::{fcntl, FcntlArg, OFlag};
use nix::unistd::{pipe2, User};
use proctor_config::{Capability, LogTarget, ProcessConfig, ProgramConfig};
use std::ffi::CString;
use std::fs::File;
use std::io::Read;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

pub struct Started {
    pub pid: i32,
    pub pidfd: OwnedFd,
    pub stdout: OwnedFd,
    pub stderr: Option<OwnedFd>,
}

/// How proctord runs: as root it switches every service to its `user=`.
pub struct SpawnContext<'a> {
    pub root_mode: bool,
    /// The control socket, for SUPERVISOR_SERVER_URL.
    pub socket: &'a Path,
    /// proctord's own environment, inherited by services in user mode (as Supervisor does).
    pub inherited_env: &'a [(String, String)],
}

fn cstring(what: &str, s: &str) -> Result<CString, String> {
    CString::new(s).map_err(|_| format!("{what} contains a NUL byte"))
}

/// Looks the service's account up again (it may have changed since the config was loaded) and
/// refuses on any failure.
/// Why a spawn did not happen.
pub struct Refusal {
    pub reason: String,
    /// Retrying cannot help.
    pub permanent: bool,
}

impl From<String> for Refusal {
    fn from(reason: String) -> Refusal {
        Refusal {
            reason,
            permanent: false,
        }
    }
}

fn permanent(reason: String) -> Refusal {
    Refusal {
        reason,
        permanent: true,
    }
}

fn credentials(program: &ProgramConfig) -> Result<(Credentials, User), Refusal> {
    let name = program
        .user
        .as_deref()
        .ok_or_else(|| format!("program {} has no user=", program.name))?;
    let ambient = if program.capabilities.contains(&Capability::NetBindService) {
        sys::NET_BIND_SERVICE_BIT
    } else {
        0
    };
    account(name, ambient)
}

/// An account's identity for a child: uid, primary gid and its groups from the account
/// database, never 0.
pub fn account(name: &str, ambient: u32) -> Result<(Credentials, User), Refusal> {
    let user = match User::from_name(name) {
        Ok(Some(u)) => u,
        Ok(None) => return Err(permanent(format!("user '{name}' does not exist"))),
        // NSS may be down for a moment (LDAP, sssd): worth retrying.
        Err(e) => return Err(format!("cannot look up user '{name}': {e}").into()),
    };
    if user.uid.is_root() || user.gid.as_raw() == 0 {
        return Err(permanent(format!(
            "user '{name}' has uid or gid 0: refused"
        )));
    }
    let cname = cstring("user name", name)?;
    let groups = nix::unistd::getgrouplist(&cname, user.gid)
        .map_err(|e| format!("cannot look up the groups of '{name}': {e}"))?;
    if groups.iter().any(|g| g.as_raw() == 0) {
        return Err(permanent(format!(
            "user '{name}' is in group 0 (root): refused"
        )));
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
            for (k, v) in ctx.inherited_env {
                set(k, v.clone());
            }
        }
    }
    set("SUPERVISOR_ENABLED", "1".to_owned());
    set("SUPERVISOR_PROCESS_NAME", process.name.clone());
    set("SUPERVISOR_GROUP_NAME", program.group.clone());
    set(
        "SUPERVISOR_SERVER_URL",
        format!("unix://{}", ctx.socket.display()),
    );
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
) -> Result<PathBuf, String> {
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
        return if executable(&p) {
            Ok(p)
        } else {
            Err(format!("can't find command '{argv0}'"))
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
        .ok_or_else(|| format!("can't find command '{argv0}'"))
}

/// Starts one instance. Errors are the reason shown in `status` (the program goes to BACKOFF).
pub fn spawn(
    ctx: &SpawnContext<'_>,
    program: &ProgramConfig,
    process: &ProcessConfig,
) -> Result<Started, Refusal> {
    let (creds, user) = if ctx.root_mode {
        let (c, u) = credentials(program)?;
        (Some(c), Some(u))
    } else {
        (None, None)
    };
    let env = environment(ctx, program, process, user.as_ref());
    let argv0 = process
        .argv
        .first()
        .ok_or_else(|| "command is empty".to_owned())?;
    let path = resolve_command(argv0, &env, process.directory.as_deref())?;
    let path = cstring("command", &path.to_string_lossy())?;
    let argv = CStringArray::new(
        process
            .argv
            .iter()
            .map(|a| cstring("command", a))
            .collect::<Result<_, _>>()?,
    );
    let envp = CStringArray::new(
        env.iter()
            .map(|(k, v)| cstring("environment", &format!("{k}={v}")))
            .collect::<Result<_, _>>()?,
    );
    let chdir = process
        .directory
        .as_ref()
        .map(|d| cstring("directory", &d.to_string_lossy()))
        .transpose()?;

    let os = |what: &str, e: nix::Error| format!("{what}: {e}");
    let devnull = File::open("/dev/null").map_err(|e| format!("open /dev/null: {e}"))?;
    let (out_r, out_w) = pipe2(OFlag::O_CLOEXEC).map_err(|e| os("pipe", e))?;
    let err_pipe = match process.stderr.target {
        LogTarget::Merged => None,
        _ => Some(pipe2(OFlag::O_CLOEXEC).map_err(|e| os("pipe", e))?),
    };
    let fds = [
        devnull.as_raw_fd(),
        out_w.as_raw_fd(),
        err_pipe
            .as_ref()
            .map_or(out_w.as_raw_fd(), |(_, w)| w.as_raw_fd()),
    ];
    let exec = Exec {
        program: sys::Executable::Path(&path),
        argv: &argv,
        envp: &envp,
        fds: &fds,
        credentials: creds.as_ref(),
        chdir: chdir.as_deref(),
        umask: program.umask,
    };
    let (pid, pidfd) = run(&exec)?;
    // The write ends now live only in the child: EOF on the read ends means it closed them.
    drop(out_w);
    let (err_r, err_w) = match err_pipe {
        Some((r, w)) => (Some(r), Some(w)),
        None => (None, None),
    };
    drop(err_w);
    Ok(Started {
        pid,
        pidfd,
        stdout: out_r,
        stderr: err_r,
    })
}

/// What to execute, fully prepared.
pub struct Exec<'a> {
    pub program: sys::Executable<'a>,
    pub argv: &'a CStringArray,
    pub envp: &'a CStringArray,
    /// `fds[i]` becomes fd `i` in the child.
    pub fds: &'a [i32],
    pub credentials: Option<&'a Credentials>,
    pub chdir: Option<&'a std::ffi::CStr>,
    pub umask: Option<u32>,
}

/// Forks, runs `exec` in the child and waits for the exec to succeed or fail. Returns the pid
/// and a pidfd of the running child, or which step failed and why.
pub fn run(exec: &Exec<'_>) -> Result<(i32, OwnedFd), String> {
    let (status_r, low_w) = pipe2(OFlag::O_CLOEXEC).map_err(|e| format!("pipe: {e}"))?;
    // Above every fd the child maps (0-4), so that no dup2 in the child can overwrite it. The
    // low copy must go now: any write end left open in proctord would keep the read below from
    // ever seeing EOF.
    let status_w = fcntl(&low_w, FcntlArg::F_DUPFD_CLOEXEC(16))
        .map(sys::own_fd)
        .map_err(|e| format!("fcntl: {e}"))?;
    drop(low_w);
    let plan = ChildPlan {
        program: exec.program,
        argv: exec.argv,
        envp: exec.envp,
        fds: exec.fds,
        credentials: exec.credentials,
        chdir: exec.chdir,
        umask: exec.umask,
        status_fd: status_w.as_raw_fd(),
    };
    let pid = sys::fork_exec(&plan).map_err(|e| format!("fork: {e}"))?;
    // Before anything can reap it: an unreaped child's pid cannot be reused, so this pidfd is
    // the child's for sure.
    let pidfd = sys::pidfd_open(pid);
    drop(status_w);
    let mut report = Vec::new();
    let _ = File::from(status_r).read_to_end(&mut report);
    if report.len() == 5 {
        let step = ChildStep::from_u8(report[0]).map_or("unknown step", ChildStep::name);
        let errno = i32::from_le_bytes([report[1], report[2], report[3], report[4]]);
        // The child has _exited; the reaper sees a pid it does not know and drops it.
        return Err(format!(
            "{step} failed: {}",
            std::io::Error::from_raw_os_error(errno)
        ));
    }
    match pidfd {
        Ok(fd) => Ok((pid, fd)),
        Err(e) => {
            // Untracked, it could never be signalled or stopped: it must not run at all.
            sys::kill_untracked_child(pid);
            Err(format!("pidfd_open: {e} (the new process was killed)"))
        }
    }
}
