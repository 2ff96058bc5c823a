//! A proctord started as root, for the root-mode tests.
#![allow(clippy::unwrap_used, clippy::panic)]

use crate::*;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

const T: Duration = Duration::from_secs(15);

pub fn skip(test: &str) -> bool {
    if is_root() {
        return false;
    }
    println!("SKIP: {test}: root mode needs root");
    true
}

/// A proctord started as root, with the test accounts for controld and itself.
pub struct RootDaemon {
    pub dir: tempfile::TempDir,
    pub socket: PathBuf,
    pub child: Option<Child>,
    pub log: PathBuf,
}

pub fn accounts() -> (Account, Account) {
    (
        ensure_account("proctest-ctl"),
        ensure_account("proctest-helper"),
    )
}

pub fn root_config(dir: &Path, programs: &str) -> String {
    let d = dir.display();
    format!(
        "[unix_http_server]\nfile = {d}/run/proctor.sock\nchmod = 0770\n\n\
         [supervisord]\nchildlogdir = {d}/log\n\n\
         [proctor]\ncontrold_user = proctest-ctl\nhelper_user = proctest-helper\n\
         audit_seal = {d}/seal/audit.seal\n\n{}",
        programs
            .replace("{probe}", &bin("proctor-probe").display().to_string())
            .replace("{conf}", &dir.join("proctor.conf").display().to_string())
    )
}

impl RootDaemon {
    pub fn start(programs: &str) -> RootDaemon {
        RootDaemon::start_with(programs, "")
    }

    /// With extra `[proctor]` lines (e.g. `policy = ...`).
    pub fn start_with(programs: &str, proctor: &str) -> RootDaemon {
        RootDaemon::start_env(programs, proctor, &[])
    }

    /// As [`RootDaemon::start_with`], with these variables added to proctord's environment.
    pub fn start_env(programs: &str, proctor: &str, env: &[(&str, &str)]) -> RootDaemon {
        accounts();
        let dir = tempfile::Builder::new()
            .prefix("proctest-root-")
            .tempdir()
            .unwrap();
        // Reachable by the helper (it re-reads the config) and controld (its log directory).
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        let conf = dir.path().join("proctor.conf");
        let text = root_config(dir.path(), programs).replacen(
            "[proctor]\n",
            &format!("[proctor]\n{proctor}"),
            1,
        );
        std::fs::write(&conf, text).unwrap();
        let log = dir.path().join("proctord.stderr");
        let child = Command::new(bin("proctord"))
            .arg("-c")
            .arg(&conf)
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        let mut d = RootDaemon {
            socket: dir.path().join("run/proctor.sock"),
            dir,
            child: Some(child),
            log,
        };
        let sock = d.socket.clone();
        wait_until("the root daemon's socket", T, || {
            if let Ok(Some(st)) = d.child.as_mut().unwrap().try_wait() {
                panic!("proctord exited ({st}):\n{}", d.stderr());
            }
            std::os::unix::net::UnixStream::connect(&sock)
                .ok()
                .map(|_| ())
        });
        d
    }

    pub fn stderr(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub fn ctl(&self, args: &[&str]) -> std::process::Output {
        Command::new(bin("proctorctl"))
            .arg("-s")
            .arg(&self.socket)
            .args(args)
            .output()
            .unwrap()
    }

    /// `proctorctl` on this daemon's socket, run as `who` (the socket must be open to them).
    pub fn ctl_as(&self, who: &Account, args: &[&str]) -> std::process::Output {
        use std::os::unix::process::CommandExt;
        Command::new(bin("proctorctl"))
            .uid(who.uid)
            .gid(who.gid)
            .arg("-s")
            .arg(&self.socket)
            .args(args)
            .output()
            .unwrap()
    }

    pub fn running_pid(&self, name: &str) -> u32 {
        wait_until(&format!("{name} RUNNING"), T, || {
            let o = self.ctl(&["status", "--json"]);
            let v: serde_json::Value = serde_json::from_slice(&o.stdout).ok()?;
            let p = v["result"]
                .as_array()?
                .iter()
                .find(|p| p["name"] == name)?
                .clone();
            (p["state"] == "RUNNING")
                .then(|| p["pid"].as_u64().map(|x| x as u32))
                .flatten()
        })
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().unwrap().id()
    }

    /// Lets every account connect (the test config makes the socket 0770): for tests of what
    /// other users may do, which the policy then decides.
    pub fn open_socket_to_all(&self) {
        let mode = |p: &Path, m| std::fs::set_permissions(p, std::fs::Permissions::from_mode(m));
        mode(&self.socket, 0o777).unwrap();
        mode(self.socket.parent().unwrap(), 0o755).unwrap();
        mode(self.dir.path(), 0o755).unwrap();
    }

    /// Started with the policy `text` and an audit log: the policy's directory (kept alive by
    /// the caller), the audit log's path, and the daemon.
    pub fn under_policy(programs: &str, text: &str) -> (tempfile::TempDir, PathBuf, RootDaemon) {
        let (pdir, policy) = RootDaemon::policy_file(text);
        let audit = pdir.path().join("audit/audit.log");
        let d = RootDaemon::start_with(
            programs,
            &format!(
                "policy = {}\naudit_log = {}\n",
                policy.display(),
                audit.display()
            ),
        );
        (pdir, audit, d)
    }

    /// A policy file as the trust check wants it: root's, in a directory only root can write.
    /// Returns the directory (kept alive by the caller) and the file.
    pub fn policy_file(text: &str) -> (tempfile::TempDir, PathBuf) {
        let pdir = tempfile::tempdir().unwrap();
        std::fs::set_permissions(pdir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        let policy = pdir.path().join("policy.toml");
        std::fs::write(&policy, text).unwrap();
        (pdir, policy)
    }

    pub fn controld_pid(&self) -> u32 {
        let o = self.ctl(&["pid"]);
        stdout(&o)
            .lines()
            .find_map(|l| l.strip_prefix("proctor-controld "))
            .unwrap()
            .parse()
            .unwrap()
    }
}

impl Drop for RootDaemon {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(c.id() as i32),
                nix::sys::signal::Signal::SIGTERM,
            );
            let _ = wait_until("proctord to exit", T, || c.try_wait().ok().flatten());
        }
    }
}
