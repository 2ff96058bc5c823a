//! `proctorctl -H` over real OpenSSH, as root: three fake hosts, each an `sshd` on its own
//! loopback address (127.0.0.2-4) whose sessions reach that host's own root-mode proctord
//! (`SetEnv PROCTOR_SOCKET`), with its own policy and audit log. alice runs proctorctl with her
//! own key; each host knows her by ssh and decides by its own policy.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
#![forbid(unsafe_code)]

use proctor_tests::root::{self, RootDaemon};
use proctor_tests::*;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::Duration;

const SSHD: &str = "/usr/sbin/sshd";

/// A process killed (and reaped) when dropped.
struct Killed(Option<Child>);

impl Killed {
    fn kill(&mut self) {
        if let Some(mut c) = self.0.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for Killed {
    fn drop(&mut self) {
        self.kill();
    }
}

struct FakeHost {
    name: String,
    daemon: RootDaemon,
    audit: PathBuf,
    sshd: Killed,
    _policy: tempfile::TempDir,
}

fn run(c: &mut std::process::Command) -> String {
    let o = c.output().unwrap();
    assert!(o.status.success(), "{c:?}: {}", stderr(&o));
    stdout(&o)
}

struct Fleet {
    dir: tempfile::TempDir,
    hosts: Vec<FakeHost>,
    alice: Account,
}

const PROGRAMS: &str =
    "[program:web]\ncommand = sleep 1000\nuser = proctest-plain\nstartsecs = 0\n";

/// Three hosts; alice may restart `web` on h1 and h2, only see it on h3.
fn fleet() -> Fleet {
    let alice = ensure_account("proctest-alice");
    ensure_account("proctest-plain");
    // With UsePAM no, sshd refuses an account whose password is locked ('!'), as useradd
    // makes them: '*' is "no password" without the lock.
    // And sshd runs a remote command with the account's shell: a real one, not nologin.
    run(std::process::Command::new("usermod").args(["-p", "*", "-s", "/bin/sh", "proctest-alice"]));
    std::fs::create_dir_all("/run/sshd").unwrap();
    // sshd's StrictModes wants every directory above its key files root's and not writable by
    // others: not /tmp.
    let dir = tempfile::Builder::new()
        .prefix("proctest-ssh-")
        .tempdir_in("/run")
        .unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let d = dir.path();
    let key = d.join("alice_key");
    run(std::process::Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-f"])
        .arg(&key));
    nix::unistd::chown(&key, Some(alice.uid.into()), Some(alice.gid.into())).unwrap();
    std::fs::create_dir(d.join("keys")).unwrap();
    // Hers, for ssh's control sockets.
    std::fs::create_dir(d.join("alice")).unwrap();
    nix::unistd::chown(
        &d.join("alice"),
        Some(alice.uid.into()),
        Some(alice.gid.into()),
    )
    .unwrap();
    std::fs::copy(d.join("alice_key.pub"), d.join("keys/proctest-alice")).unwrap();
    let mut ssh_config = String::new();
    let mut known = String::new();
    let mut hosts = Vec::new();
    for i in 0..3 {
        let name = format!("h{}", i + 1);
        let may_restart = if i < 2 { ", \"restart\"" } else { "" };
        let (policy, audit, daemon) = RootDaemon::under_policy(
            PROGRAMS,
            &format!(
                "[[allow]]\nwho = [\"proctest-alice\"]\nactions = [\"status\"{may_restart}]\nprograms = [\"web\"]\n"
            ),
        );
        daemon.running_pid("web");
        daemon.open_socket_to_all();
        let hd = d.join(&name);
        std::fs::create_dir(&hd).unwrap();
        let hostkey = hd.join("hostkey");
        run(std::process::Command::new("ssh-keygen")
            .args(["-q", "-t", "ed25519", "-N", "", "-f"])
            .arg(&hostkey));
        let addr = format!("127.0.0.{}", i + 2);
        let port = free_port();
        let cfg = hd.join("sshd_config");
        std::fs::write(
            &cfg,
            format!(
                "ListenAddress {addr}:{port}\nHostKey {}\nPidFile {}/sshd.pid\n\
                 AuthorizedKeysFile {}/keys/%u\nUsePAM no\nPasswordAuthentication no\n\
                 KbdInteractiveAuthentication no\nStrictModes no\n\
                 SetEnv PROCTOR_SOCKET={}\n",
                hostkey.display(),
                hd.display(),
                d.display(),
                daemon.socket.display()
            ),
        )
        .unwrap();
        let sshd = std::process::Command::new(SSHD)
            .args(["-D", "-e", "-f"])
            .arg(&cfg)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(hd.join("sshd.log")).unwrap())
            .spawn()
            .unwrap();
        let sshd = Killed(Some(sshd));
        wait_until("sshd", Duration::from_secs(10), || {
            std::net::TcpStream::connect((addr.as_str(), port)).ok()
        });
        ssh_config.push_str(&format!("Host {name}\n  HostName {addr}\n  Port {port}\n"));
        let pubkey = std::fs::read_to_string(hd.join("hostkey.pub")).unwrap();
        known.push_str(&format!("[{addr}]:{port} {pubkey}"));
        hosts.push(FakeHost {
            name,
            daemon,
            audit,
            sshd,
            _policy: policy,
        });
    }
    ssh_config.push_str(&format!(
        "Host *\n  User proctest-alice\n  IdentityFile {}\n  IdentitiesOnly yes\n  \
         UserKnownHostsFile {}/known_hosts\n  StrictHostKeyChecking yes\n",
        key.display(),
        d.display()
    ));
    std::fs::write(d.join("ssh_config"), ssh_config).unwrap();
    std::fs::write(d.join("known_hosts"), known).unwrap();
    Fleet { dir, hosts, alice }
}

impl Fleet {
    /// proctorctl -H as alice, with the test's ssh config: (exit status, stdout, stderr).
    fn ctl(&self, args: &[&str]) -> (i32, String, String) {
        let ssh = format!("ssh -F {}/ssh_config", self.dir.path().display());
        self.ctl_with(&ssh, args)
    }

    /// As [`Fleet::ctl`], with `ssh` as `$PROCTOR_SSH`.
    fn ctl_with(&self, ssh: &str, args: &[&str]) -> (i32, String, String) {
        let d = self.dir.path();
        let o = std::process::Command::new(bin("proctorctl"))
            .args(args)
            .env_clear()
            .env("PATH", "/usr/bin:/bin")
            .env("HOME", d)
            .env("PROCTOR_SSH", ssh)
            .env("PROCTOR_REMOTE", bin("proctorctl"))
            .uid(self.alice.uid)
            .gid(self.alice.gid)
            .output()
            .unwrap();
        (o.status.code().unwrap_or(-1), stdout(&o), stderr(&o))
    }

    fn decisions(&self, host: usize, action: &str) -> Vec<String> {
        std::fs::read_to_string(&self.hosts[host].audit)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
            .filter(|r| r["kind"] == "request" && r["action"] == action)
            .map(|r| {
                format!(
                    "{} {}",
                    r["user"].as_str().unwrap(),
                    r["decision"].as_str().unwrap()
                )
            })
            .collect()
    }
}

#[test]
fn one_command_across_hosts_each_deciding_for_itself() {
    if root::skip("one_command_across_hosts_each_deciding_for_itself") {
        return;
    }
    if !Path::new(SSHD).exists() {
        println!("SKIP: one_command_across_hosts_each_deciding_for_itself: install openssh-server (.ci/run does)");
        return;
    }
    let mut f = fleet();
    // Status across three hosts: one table with a host column.
    let (code, out, err) = f.ctl(&["-H", "h1,h2,h3", "status"]);
    assert_eq!(code, 0, "{out}{err}");
    for (i, h) in f.hosts.iter().enumerate() {
        let pid = h.daemon.running_pid("web");
        let line = out
            .lines()
            .find(|l| l.starts_with(&format!("h{} ", i + 1)))
            .unwrap_or_else(|| panic!("no line of {} in {out}", h.name));
        assert!(
            line.contains("web") && line.contains("RUNNING") && line.contains(&pid.to_string()),
            "{line}"
        );
    }
    assert!(
        err.contains("3 hosts: 3 succeeded, 0 failed, 0 unreachable"),
        "{err}"
    );

    // alice restarts web everywhere: h1 and h2 do it, h3's policy refuses; each host's audit
    // log has her name and its own decision.
    let before: Vec<u32> = f
        .hosts
        .iter()
        .map(|h| h.daemon.running_pid("web"))
        .collect();
    let (code, out, err) = f.ctl(&["-H", "h[1-3]", "restart", "web"]);
    assert_ne!(code, 0, "{out}{err}");
    assert!(err.contains("h3 denied by its policy"), "{err}");
    assert!(
        err.contains("3 hosts: 2 succeeded, 1 failed, 0 unreachable"),
        "{err}"
    );
    for (i, h) in f.hosts.iter().enumerate() {
        let now = h.daemon.running_pid("web");
        assert_eq!(now != before[i], i < 2, "{}: {out}{err}", h.name);
        let want = if i < 2 {
            "proctest-alice allow"
        } else {
            "proctest-alice deny"
        };
        assert!(
            f.decisions(i, "restart").contains(&want.to_owned()),
            "{}",
            h.name
        );
    }

    // A hostile name is one argument on the remote side, never shell.
    let marker = f.dir.path().join("injected");
    let hostile = format!("web;touch {}", marker.display());
    let (code, _, err) = f.ctl(&["-H", "h1", "status", &hostile]);
    assert_ne!(code, 0);
    assert!(
        !marker.exists(),
        "the remote shell ran part of a name: {err}"
    );

    // With a persistent ssh master (the README's ControlMaster recipe): it works, and
    // proctorctl does not wait for the master that stays in the background.
    let started = std::time::Instant::now();
    let cm = format!(
        "ssh -F {0}/ssh_config -o ControlMaster=auto -o ControlPath={0}/alice/cm-%C -o ControlPersist=60",
        f.dir.path().display()
    );
    let (code, out, err) = f.ctl_with(&cm, &["-H", "h1,h3", "status"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "waited for the ssh master"
    );
    let _ = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!(
            "for s in {}/alice/cm-*; do ssh -o ControlPath=$s -O exit x 2>/dev/null; done",
            f.dir.path().display()
        ))
        .status();

    // One sshd down: that host is unreachable, the others still run, the status says so.
    f.hosts[1].sshd.kill();
    let (code, out, err) = f.ctl(&["-H", "h1,h2,h3", "status"]);
    assert_eq!(code, 255, "{out}{err}");
    assert!(
        out.lines().any(|l| l.starts_with("h1 ")) && out.lines().any(|l| l.starts_with("h3 ")),
        "{out}"
    );
    assert!(err.contains("h2: unreachable"), "{err}");
    assert!(
        err.contains("3 hosts: 2 succeeded, 0 failed, 1 unreachable"),
        "{err}"
    );
}
