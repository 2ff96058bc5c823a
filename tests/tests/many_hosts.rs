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

struct Fleet {
    dir: tempfile::TempDir,
    hosts: Vec<FakeHost>,
    alice: Account,
}

const PROGRAMS: &str =
    "[program:web]\ncommand = sleep 1000\nuser = proctest-plain\nstartsecs = 0\n";

/// Three hosts; alice may restart `web` and follow its events on h1 and h2, only see it on h3.
fn fleet() -> Fleet {
    let alice = ensure_account("proctest-alice");
    ensure_account("proctest-plain");
    // With UsePAM no, sshd refuses an account whose password is locked ('!'), as useradd
    // makes them: '*' is "no password" without the lock.
    // And sshd runs a remote command with the account's shell: a real one, not nologin.
    succeeded(std::process::Command::new("usermod").args([
        "-p",
        "*",
        "-s",
        "/bin/sh",
        "proctest-alice",
    ]));
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
    succeeded(
        std::process::Command::new("ssh-keygen")
            .args(["-q", "-t", "ed25519", "-N", "", "-f"])
            .arg(&key),
    );
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
        let may_restart = if i < 2 {
            ", \"restart\", \"events\""
        } else {
            ""
        };
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
        succeeded(
            std::process::Command::new("ssh-keygen")
                .args(["-q", "-t", "ed25519", "-N", "", "-f"])
                .arg(&hostkey),
        );
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
        let mut c = self.command(args);
        c.env("PROCTOR_SSH", ssh);
        let o = c.output().unwrap();
        (o.status.code().unwrap_or(-1), stdout(&o), stderr(&o))
    }

    /// As [`Fleet::ctl`], with `remote` as the hosts' proctorctl.
    fn ctl_remote(&self, remote: &Path, args: &[&str]) -> (i32, String, String) {
        let mut c = self.command(args);
        c.env("PROCTOR_REMOTE", remote);
        let o = c.output().unwrap();
        (o.status.code().unwrap_or(-1), stdout(&o), stderr(&o))
    }

    /// proctorctl -H as alice, with the test's ssh config, not yet run.
    fn command(&self, args: &[&str]) -> std::process::Command {
        let d = self.dir.path();
        let mut c = std::process::Command::new(bin("proctorctl"));
        c.args(args)
            .env_clear()
            .env("PATH", "/usr/bin:/bin")
            .env("HOME", d)
            .env("PROCTOR_SSH", format!("ssh -F {}/ssh_config", d.display()))
            .env("PROCTOR_REMOTE", bin("proctorctl"))
            .uid(self.alice.uid)
            .gid(self.alice.gid);
        c
    }

    /// A script in the test's directory, as a stand-in for another proctorctl.
    fn script(&self, name: &str, body: &str) -> PathBuf {
        let p = self.dir.path().join(name);
        std::fs::write(&p, format!("#!/bin/sh\n{body}")).unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
        p
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

    // With a persistent ssh master (docs/proctorctl.md's ControlMaster recipe): it works, and
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

    rolling_restarts(&f);
    json_per_host(&f);
    every_command_reaches_the_host(&f);
    following_streams_each_line_as_it_comes(&f);
    failures_are_told_apart(&f);

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

/// `--sequential` restarts one host at a time and stops at the first that fails (h3 refuses
/// alice); `--keep-going` goes on.
fn rolling_restarts(f: &Fleet) {
    let pids = || -> Vec<u32> {
        f.hosts
            .iter()
            .map(|h| h.daemon.running_pid("web"))
            .collect()
    };
    let restarts = |i: usize| f.decisions(i, "restart").len();
    let before = pids();
    let h2_records = restarts(1);
    let (code, out, err) = f.ctl(&["-H", "h1,h3,h2", "--sequential", "restart", "web"]);
    assert_eq!(code, 1, "{out}{err}");
    let after = pids();
    assert_ne!(after[0], before[0], "h1 restarted first");
    assert_eq!(after[1], before[1], "h2 comes after the failed h3: not run");
    assert_eq!(restarts(1), h2_records, "h2 was never asked");
    assert!(
        err.contains("h2: not run (an earlier batch failed)"),
        "{err}"
    );
    assert!(
        err.contains("3 hosts: 1 succeeded, 1 failed, 0 unreachable, 1 not run"),
        "{err}"
    );

    let (code, out, err) = f.ctl(&[
        "-H",
        "h3,h2",
        "--batch",
        "1",
        "--pause",
        "1",
        "--keep-going",
        "restart",
        "web",
    ]);
    assert_eq!(code, 1, "{out}{err}");
    assert_ne!(pids()[1], before[1], "h2 restarted after h3 failed: {err}");
    assert!(
        err.contains("2 hosts: 1 succeeded, 1 failed, 0 unreachable ("),
        "{err}"
    );
}

/// `--json`: each host's object, with its outcome and the host's own answer, schema 1.
fn json_per_host(f: &Fleet) {
    let (code, out, err) = f.ctl(&["-H", "h1,h3", "--json", "restart", "web"]);
    assert_eq!(code, 1, "{out}{err}");
    let objects: Vec<serde_json::Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    assert_eq!(objects.len(), 2, "{out}");
    let of = |host: &str| {
        objects
            .iter()
            .find(|o| o["host"] == host)
            .unwrap_or_else(|| panic!("no {host} in {out}"))
    };
    let h1 = of("h1");
    assert_eq!(
        (&h1["schema"], &h1["outcome"], &h1["exit"]),
        (&1.into(), &"ok".into(), &0.into()),
        "{h1}"
    );
    assert_eq!(h1["reply"]["command"], "restart");
    assert_eq!(h1["reply"]["result"][1]["message"], "started", "{h1}");
    let h3 = of("h3");
    assert_eq!(
        (&h3["outcome"], &h3["exit"]),
        (&"denied".into(), &1.into()),
        "{h3}"
    );
    assert_eq!(h3["reply"]["error"]["kind"], "permission_denied", "{h3}");

    let (code, out, err) = f.ctl(&["-H", "h2", "--json", "status"]);
    assert_eq!(code, 0, "{out}{err}");
    let v: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(v["reply"]["result"][0]["state"], "RUNNING", "{v}");
    assert_eq!(
        v["reply"]["result"][0]["pid"],
        f.hosts[1].daemon.running_pid("web"),
        "{v}"
    );
}

/// Every command is carried to the host and decided there: on h3 alice may only `status`, and
/// h3's audit log has each request with its decision.
fn every_command_reaches_the_host(f: &Fleet) {
    for (args, action, allowed) in [
        (&["status", "web"][..], "status", true),
        (&["pid", "web"], "pid", false),
        (&["start", "web"], "start", false),
        (&["stop", "web"], "stop", false),
        (&["signal", "HUP", "web"], "signal", false),
        (&["tail", "web"], "tail", false),
        (&["avail"], "avail", false),
        (&["reread"], "reread", false),
        (&["update"], "update", false),
        (&["events"], "events", false),
        (&["audit", "-n", "1"], "audit", false),
    ] {
        let before = f.decisions(2, action).len();
        let mut all = vec!["-H", "h3"];
        all.extend(args);
        let (code, out, err) = f.ctl(&all);
        let decided = f.decisions(2, action);
        assert_eq!(
            decided.len(),
            before + 1,
            "{args:?} was not asked of h3: {out}{err}"
        );
        let want = if allowed { "allow" } else { "deny" };
        assert_eq!(
            decided.last().map(String::as_str),
            Some(format!("proctest-alice {want}").as_str()),
            "{args:?}"
        );
        assert_eq!(code == 0, allowed, "{args:?}: {out}{err}");
        if !allowed {
            assert!(err.contains("h3 denied by its policy"), "{args:?}: {err}");
        }
    }
    // Asked of no policy: the daemon's version is everyone's to read.
    let (code, out, err) = f.ctl(&["-H", "h3", "version"]);
    assert_eq!(
        (code, out.trim()),
        (0, concat!("h3: ", env!("CARGO_PKG_VERSION"))),
        "{err}"
    );
}

/// `events -f` on two hosts: each host's events as they happen, prefixed by the host; Ctrl-C
/// ends it all.
fn following_streams_each_line_as_it_comes(f: &Fleet) {
    let mut c = f.command(&["-H", "h1,h2", "events", "-f", "web"]);
    c.process_group(0);
    let mut follower = Running::of(c);
    wait_until("both hosts' recent events", Duration::from_secs(30), || {
        let seen = follower.seen();
        (seen.contains("h1: PROCESS_STATE_RUNNING web")
            && seen.contains("h2: PROCESS_STATE_RUNNING web"))
        .then_some(())
    });
    let h1_lines = || {
        follower
            .seen()
            .lines()
            .filter(|l| l.starts_with("h1: "))
            .count()
    };
    let h1_before = h1_lines();
    let pid = f.hosts[1].daemon.running_pid("web");
    let o = f.hosts[1].daemon.ctl(&["stop", "web"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let want = format!(
        "h2: PROCESS_STATE_STOPPED web processname:web groupname:web from_state:STOPPING pid:{pid}"
    );
    wait_until("h2's stop, as it happens", Duration::from_secs(30), || {
        follower.seen().contains(&want).then_some(())
    });
    assert_eq!(
        h1_lines(),
        h1_before,
        "h2's events only: {}",
        follower.seen()
    );
    let group = nix::unistd::Pid::from_raw(i32::try_from(follower.child.id()).unwrap());
    nix::sys::signal::killpg(group, nix::sys::signal::Signal::SIGINT).unwrap();
    follower.ended(Duration::from_secs(30));
    let o = f.hosts[1].daemon.ctl(&["start", "web"]);
    assert!(o.status.success(), "{}", stderr(&o));
}

/// A refused key, a host without proctorctl, and one whose proctorctl is older or newer than
/// this one: each said of its host, apart from the others, which still run.
fn failures_are_told_apart(f: &Fleet) {
    let (code, out, err) = f.ctl(&["-H", "proctest-nokey@h1,h2", "status"]);
    assert_eq!(code, 255, "{out}{err}");
    assert!(
        err.contains("proctest-nokey@h1: refused the ssh key (Permission denied)"),
        "{err}"
    );
    assert!(out.lines().any(|l| l.starts_with("h2 ")), "{out}");
    assert!(
        err.contains("2 hosts: 1 succeeded, 0 failed, 1 unreachable"),
        "{err}"
    );

    let (code, out, err) = f.ctl_remote(
        Path::new("/nonexistent/proctorctl"),
        &["-H", "h1", "status"],
    );
    assert_eq!(code, 127, "{out}{err}");
    assert!(err.contains("h1: has no proctorctl"), "{err}");

    // What proctorctl said of --json before it had one (captured from that build): a stand-in,
    // as the test has no older build to run.
    let old = f.script(
        "old-proctorctl",
        "printf \"error: unexpected argument '--json' found\\n\\n  tip: 'status --json' exists\\n\\nUsage: proctorctl [OPTIONS] [COMMAND]\\n\\nFor more information, try '--help'.\\n\" >&2\nexit 2\n",
    );
    let (code, out, err) = f.ctl_remote(&old, &["-H", "h1", "--json", "status"]);
    assert_eq!(code, 2, "{out}{err}");
    assert!(
        err.contains("h1: has a proctorctl older than this one (error: unexpected argument '--json' found): upgrade it to"),
        "{err}"
    );
    let v: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(v["outcome"], "too_old", "{v}");

    let newer = f.script(
        "new-proctorctl",
        "echo '{\"schema\":2,\"command\":\"status\",\"exit\":0,\"result\":[]}'\n",
    );
    let (code, out, err) = f.ctl_remote(&newer, &["-H", "h1", "--json", "status"]);
    assert_eq!(code, 2, "{out}{err}");
    assert!(
        err.contains("h1: answers in JSON schema 2, newer than this proctorctl's 1"),
        "{err}"
    );
}
