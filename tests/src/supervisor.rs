//! Stock Supervisor 4.3 from PyPI, for the tests that compare proctor with it: `.ci/run` makes
//! a virtualenv with `supervisor==4.3.0` and sets `PROCTOR_SUPERVISOR_PYTHON` to its python.

use crate::{command, wait_until, workdir, Account};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Output, Stdio};
use std::time::Duration;

/// The python with `supervisor==4.3.0`; `None` (and a `SKIP:` line naming `test`) without one.
pub fn python(test: &str) -> Option<PathBuf> {
    let p = std::env::var_os("PROCTOR_SUPERVISOR_PYTHON").map(PathBuf::from);
    if p.is_none() {
        println!(
            "SKIP: {test}: set PROCTOR_SUPERVISOR_PYTHON to a python with supervisor==4.3.0 \
             (.ci/run does)"
        );
    }
    p
}

/// Stock supervisorctl against the unix socket `socket` (as the runner account).
pub fn supervisorctl(python: &Path, socket: &Path, args: &[&str]) -> Output {
    run_supervisorctl(command(python), socket, args)
}

/// Stock supervisorctl against `socket` as the account `who`.
pub fn supervisorctl_as(python: &Path, socket: &Path, who: &Account, args: &[&str]) -> Output {
    let mut c = std::process::Command::new(python);
    c.uid(who.uid)
        .gid(who.gid)
        .env("HOME", "/nonexistent")
        .env("USER", &who.name);
    run_supervisorctl(c, socket, args)
}

fn run_supervisorctl(mut c: std::process::Command, socket: &Path, args: &[&str]) -> Output {
    c.args(["-m", "supervisor.supervisorctl", "-s"])
        .arg(format!("unix://{}", socket.display()))
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

/// A supervisord 4.3 running `programs` (the same sections a proctor test daemon gets), in a
/// directory of its own, as the runner account; stopped with its processes when dropped.
pub struct Supervisord {
    pub dir: tempfile::TempDir,
    pub socket: PathBuf,
    child: Child,
}

impl Supervisord {
    pub fn start(python: &Path, programs: &str) -> Supervisord {
        let dir = workdir();
        let d = dir.path().display().to_string();
        let socket = dir.path().join("supervisor.sock");
        let conf = dir.path().join("supervisord.conf");
        std::fs::create_dir_all(dir.path().join("log")).unwrap();
        if let Some(a) = crate::runner() {
            nix::unistd::chown(
                &dir.path().join("log"),
                Some(a.uid.into()),
                Some(a.gid.into()),
            )
            .unwrap();
        }
        std::fs::write(
            &conf,
            format!(
                "[unix_http_server]\nfile = {0}\n\n[supervisord]\nlogfile = {d}/supervisord.log\n\
                 pidfile = {d}/supervisord.pid\nchildlogdir = {d}/log\nidentifier = test\n\n\
                 [rpcinterface:supervisor]\n\
                 supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface\n\n\
                 [supervisorctl]\nserverurl = unix://{0}\n\n{1}",
                socket.display(),
                programs.replace("{dir}", &d)
            ),
        )
        .unwrap();
        let child = command(python)
            .args(["-m", "supervisor.supervisord", "-n", "-c"])
            .arg(&conf)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn()
            .unwrap();
        let s = Supervisord { dir, socket, child };
        wait_until("supervisord's socket", Duration::from_secs(20), || {
            std::os::unix::net::UnixStream::connect(&s.socket)
                .ok()
                .map(|_| ())
        });
        s
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for Supervisord {
    fn drop(&mut self) {
        // SIGTERM stops its processes; any left are SIGKILLed by the pids they had.
        let services = crate::children_of(self.child.id());
        let pid = nix::unistd::Pid::from_raw(self.child.id() as i32);
        let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
        let deadline = std::time::Instant::now() + Duration::from_secs(15);
        while std::time::Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        for s in services {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(s as i32),
                nix::sys::signal::Signal::SIGKILL,
            );
        }
    }
}
