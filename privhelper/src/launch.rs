//! Starting proctor-controld: fd 3 is its end of the order socketpair, fd 4 the listening
//! control socket.

use crate::channel::Channel;
use crate::spawn;
use crate::sys::{CStringArray, ChildPlan};
use nix::sys::socket::{socketpair, AddressFamily, SockFlag, SockType};
use nix::unistd::Pid;
use proctor_wire::refusal::Names;
use std::ffi::CString;
use std::os::fd::{AsRawFd, OwnedFd};
use std::time::Instant;

pub struct Launcher {
    /// proctor-controld, opened O_PATH at start-up (before the demo drops root).
    pub exe_fd: OwnedFd,
    pub listener: OwnedFd,
    /// `[inet_http_server]`'s socket and TLS files.
    pub inet: Option<crate::inet_socket::Inet>,
    pub env: Vec<(String, String)>,
    /// The main log file (`[supervisord] logfile`), which controld appends to as well (fd 5).
    pub logfile: Option<OwnedFd>,
    /// In root mode: controld's account (no capabilities).
    pub credentials: Option<crate::sys::Credentials>,
}

pub struct ControldProc {
    pub pid: Pid,
    pub pidfd: OwnedFd,
    pub channel: Channel,
    pub started: Instant,
    /// Its end of the socketpair is closed: it is exiting.
    pub closed: bool,
    /// It has been given the live children: exits can be reported to it by id.
    pub adopted: bool,
}

impl Launcher {
    pub fn start(&self) -> Result<ControldProc, String> {
        let (ours, theirs) = socketpair(
            AddressFamily::Unix,
            SockType::SeqPacket,
            None,
            SockFlag::SOCK_CLOEXEC,
        )
        .map_err(|e| format!("socketpair: {e}"))?;
        let devnull = std::fs::File::open("/dev/null").map_err(|e| format!("/dev/null: {e}"))?;
        let c = |s: &str| CString::new(s).map_err(|_| format!("NUL in {s:?}"));
        let mut args = vec![
            c("proctor-controld")?,
            c("--helper-fd")?,
            c("3")?,
            c("--listen-fd")?,
            c("4")?,
        ];
        if self.logfile.is_some() {
            args.push(c("--logfile-fd")?);
            args.push(c("5")?);
        }
        if self.credentials.is_some() {
            // Root mode: controld confines itself before it starts any thread.
            args.push(c("--sandbox")?);
        }
        let envp = CStringArray::new(
            self.env
                .iter()
                .map(|(k, v)| c(&format!("{k}={v}")))
                .collect::<Result<_, _>>()?,
        );
        let mut fds = vec![
            devnull.as_raw_fd(),
            // proctord's stdout, so that a service logging to /dev/stdout reaches it (as it
            // reaches supervisord's); controld's own log goes to proctord's stderr.
            1,
            2,
            theirs.as_raw_fd(),
            self.listener.as_raw_fd(),
        ];
        if let Some(log) = &self.logfile {
            fds.push(log.as_raw_fd());
        }
        // Each at the next free number, named by its flag.
        let mut pass = |flag: &str, fd: &OwnedFd| -> Result<(), String> {
            args.push(c(flag)?);
            args.push(c(&fds.len().to_string())?);
            fds.push(fd.as_raw_fd());
            Ok(())
        };
        if let Some(inet) = &self.inet {
            pass("--http-fd", &inet.listener)?;
            if let Some((cert, key)) = &inet.tls {
                pass("--tls-cert-fd", cert)?;
                pass("--tls-key-fd", key)?;
            }
        }
        let argv = CStringArray::new(args);
        let plan = ChildPlan {
            program: crate::sys::Executable::Fd(self.exe_fd.as_raw_fd()),
            argv: &argv,
            envp: &envp,
            fds: &fds,
            credentials: self.credentials.as_ref(),
            chdir: None,
            umask: None,
            parent: Pid::this(),
            listen_pid: None,
        };
        let (pid, pidfd) = spawn::run(&plan).map_err(|f| f.describe(Names::default()))?;
        Ok(ControldProc {
            pid,
            pidfd,
            channel: Channel::new(ours),
            started: Instant::now(),
            closed: false,
            adopted: false,
        })
    }
}

/// Opens the controld binary next to ours, O_PATH, at an fd number above every one a child maps
/// (the child's dup2s onto 0-4 must not close it).
pub fn open_controld() -> Result<OwnedFd, String> {
    use nix::fcntl::{fcntl, open, FcntlArg, OFlag};
    let exe = std::env::current_exe()
        .map_err(|e| format!("cannot find my own executable: {e}"))?
        .with_file_name("proctor-controld");
    let fd = open(
        &exe,
        OFlag::O_PATH | OFlag::O_CLOEXEC,
        nix::sys::stat::Mode::empty(),
    )
    .map_err(|e| {
        format!(
            "{}: {e}: build the whole workspace (cargo build --release)",
            exe.display()
        )
    })?;
    fcntl(&fd, FcntlArg::F_DUPFD_CLOEXEC(16))
        .map(crate::sys::own_fd)
        .map_err(|e| format!("fcntl: {e}"))
}
