//! Root mode, as root, against the real processes: users, capabilities, seccomp and the
//! accounts of proctord and controld, read from /proc. These tests need root; elsewhere they
//! say so with a `SKIP:` line (and `.ci/run`, which runs as root, fails if any is printed).
#![allow(clippy::unwrap_used, clippy::panic)]
#![forbid(unsafe_code)]

use proctor_tests::root::*;
use proctor_tests::*;
use std::io::{BufRead, BufReader};
use std::os::unix::fs::{MetadataExt, PermissionsExt};

use std::path::Path;
use std::process::Command;
use std::time::Duration;

const T: Duration = Duration::from_secs(15);

fn status_of(pid: u32) -> std::collections::BTreeMap<String, String> {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap()
        .lines()
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| {
            (
                k.to_owned(),
                v.split_whitespace().collect::<Vec<_>>().join(" "),
            )
        })
        .collect()
}

fn ids(a: &Account) -> (String, String) {
    (
        format!("{0} {0} {0} {0}", a.uid),
        format!("{0} {0} {0} {0}", a.gid),
    )
}

const NO_CAPS: &str = "0000000000000000";
const KEPT: &str = "00000000000004e0"; // KILL, SETGID, SETUID, NET_BIND_SERVICE
const NBS: &str = "0000000000000400";

#[test]
fn a_service_binds_port_80_as_its_user_with_only_net_bind_service() {
    if skip("port 80") {
        return;
    }
    let www = ensure_account("proctest-www");
    let plain = ensure_account("proctest-plain");
    // Thirty services started first: proctord then holds a pidfd and pipes for each, more fds
    // than the few a new child copies from it before its exec (privhelper's sys::spawn_child).
    let d = RootDaemon::start(
        "[program:busy]\ncommand = sleep 1000\nuser = proctest-plain\nnumprocs = 30\n\
         process_name = busy%(process_num)s\npriority = 1\nstartsecs = 0\n\n\
         [program:www]\ncommand = {probe} --listen 127.0.0.1:80\nuser = proctest-www\ncapabilities = net_bind_service\nstartsecs = 0\n\n\
         [program:plain]\ncommand = {probe}\nuser = proctest-plain\nstartsecs = 0\n",
    );
    let pw = d.running_pid("www");
    let pp = d.running_pid("plain");
    // It answers on port 80, and it is the process proctor started.
    let line = wait_until("an answer on 127.0.0.1:80", T, || {
        let s = std::net::TcpStream::connect("127.0.0.1:80").ok()?;
        let mut l = String::new();
        BufReader::new(s).read_line(&mut l).ok()?;
        Some(l)
    });
    assert_eq!(line.trim(), format!("hello from proctor-probe {pw}"));
    let s = status_of(pw);
    let (uid, gid) = ids(&www);
    assert_eq!(
        (s["Uid"].as_str(), s["Gid"].as_str()),
        (uid.as_str(), gid.as_str())
    );
    let groups: Vec<String> = nix::unistd::getgrouplist(
        &std::ffi::CString::new(www.name.clone()).unwrap(),
        nix::unistd::Gid::from_raw(www.gid),
    )
    .unwrap()
    .iter()
    .map(|g| g.to_string())
    .collect();
    assert_eq!(s["Groups"], groups.join(" "));
    for k in ["CapAmb", "CapPrm", "CapEff", "CapInh"] {
        assert_eq!(s[k], NBS, "{k} of the port-80 service");
    }
    assert_eq!(
        (s["NoNewPrivs"].as_str(), s["Seccomp"].as_str()),
        ("1", "2")
    );
    let s = status_of(pp);
    let (uid, _) = ids(&plain);
    assert_eq!(s["Uid"], uid);
    for k in ["CapAmb", "CapPrm", "CapEff", "CapInh"] {
        assert_eq!(s[k], NO_CAPS, "{k} of a service without capabilities=");
    }
    assert_eq!(
        (s["NoNewPrivs"].as_str(), s["Seccomp"].as_str()),
        ("1", "2")
    );
    // The log directory was created for controld's account.
    let ctl = ensure_account("proctest-ctl");
    let m = std::fs::metadata(d.dir.path().join("log")).unwrap();
    assert_eq!((m.uid(), m.mode() & 0o7777), (ctl.uid, 0o750));
    // The probe saw only fds 0-2, its own session, and its account's environment (nothing of
    // root's).
    let out =
        std::fs::read_to_string(d.dir.path().join("log/www-stdout---supervisor.log")).unwrap();
    let user = nix::unistd::User::from_name("proctest-www")
        .unwrap()
        .unwrap();
    for line in [
        "fds=0,1,2".to_owned(),
        format!("session={pw}"),
        format!("env.HOME={}", user.dir.display()),
        "env.USER=proctest-www".to_owned(),
        "env.LOGNAME=proctest-www".to_owned(),
        format!("env.SHELL={}", user.shell.display()),
        "env.PATH=/usr/local/bin:/usr/bin:/bin:/usr/local/sbin:/usr/sbin:/sbin".to_owned(),
        "cwd=/".to_owned(),
    ] {
        assert!(out.lines().any(|l| l == line), "{line} not in:\n{out}");
    }
    let log = d.dir.path().join("log/plain-stdout---supervisor.log");
    let out = wait_until("plain's report", T, || {
        let t = std::fs::read_to_string(&log).ok()?;
        t.lines().any(|l| l.starts_with("fds=")).then_some(t)
    });
    assert!(out.lines().any(|l| l == "fds=0,1,2"), "{out}");
}

#[test]
fn proctord_and_controld_hold_exactly_what_they_should() {
    if skip("daemon identities") {
        return;
    }
    let (ctl, helper) = accounts();
    ensure_account("proctest-plain");
    let d = RootDaemon::start(
        "[program:a]\ncommand = sleep 1000\nuser = proctest-plain\nstartsecs = 0\n",
    );
    d.running_pid("a");
    let check_helper = |pid: u32| {
        let s = status_of(pid);
        let (uid, gid) = ids(&helper);
        assert_eq!(
            (s["Uid"].as_str(), s["Gid"].as_str(), s["Groups"].as_str()),
            (uid.as_str(), gid.as_str(), "")
        );
        for (k, v) in [
            ("CapEff", KEPT),
            ("CapPrm", KEPT),
            ("CapBnd", KEPT),
            ("CapInh", NO_CAPS),
            ("CapAmb", NO_CAPS),
            ("NoNewPrivs", "1"),
            ("Seccomp", "2"),
        ] {
            assert_eq!(s[k], v, "proctord {k}");
        }
    };
    let check_controld = |pid: u32| {
        let s = status_of(pid);
        let (uid, _) = ids(&ctl);
        assert_eq!(s["Uid"], uid);
        for (k, v) in [
            ("CapEff", NO_CAPS),
            ("CapPrm", NO_CAPS),
            ("CapInh", NO_CAPS),
            ("CapAmb", NO_CAPS),
            ("NoNewPrivs", "1"),
            ("Seccomp", "2"),
        ] {
            assert_eq!(s[k], v, "controld {k}");
        }
    };
    // Non-dumpable: its /proc files belong to root although it runs as another account.
    let root_owned = |pid: u32| {
        std::fs::metadata(format!("/proc/{pid}/status"))
            .unwrap()
            .uid()
            == 0
    };
    check_helper(d.pid());
    assert!(root_owned(d.pid()), "proctord is not dumpable");
    let c = d.controld_pid();
    check_controld(c);
    assert!(root_owned(c), "controld is not dumpable");
    // A controld restarted after a crash is confined just the same.
    let _ = nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(c as i32),
        nix::sys::signal::Signal::SIGKILL,
    );
    let c2 = wait_until("a new controld", T, || {
        let o = d.ctl(&["pid"]);
        let p: u32 = stdout(&o)
            .lines()
            .find_map(|l| l.strip_prefix("proctor-controld "))?
            .parse()
            .ok()?;
        (p != c).then_some(p)
    });
    check_controld(c2);
    assert!(
        d.stderr()
            .contains("dropped root: four capabilities kept, seccomp filter installed"),
        "{}",
        d.stderr()
    );
}

#[test]
fn bad_accounts_are_refused_as_root() {
    if skip("bad accounts") {
        return;
    }
    accounts();
    // An account whose primary group is root's.
    ensure_account_with("proctest-gid0", &["--gid", "0"]);
    let cases = [
        (
            "[program:a]\ncommand = /bin/true\nuser = proctest-gid0\n",
            "[program:a] user=proctest-gid0 is refused: its primary group is root's (gid 0)",
        ),
        ("[program:a]\ncommand = /bin/true\nuser = no-such-user-xyz\n", "[program:a] user 'no-such-user-xyz' does not exist"),
        ("[program:a]\ncommand = /bin/true\nuser = root\n", "[program:a] user=root is refused: services never run as root"),
        ("[program:a]\ncommand = /bin/true\n", "[program:a] has no user=: as root, proctor needs an unprivileged account for every program (add user=, or set [proctor] default_user= for the programs without one)"),
    ];
    for (programs, msg) in cases {
        let dir = tempfile::tempdir().unwrap();
        let conf = dir.path().join("c.conf");
        std::fs::write(&conf, root_config(dir.path(), programs)).unwrap();
        let out = refused_at_start(&conf);
        assert!(out.trim_end().ends_with(msg), "{}", out);
        assert!(!dir.path().join("run/proctor.sock").exists());
    }
    // A service under one of proctor's own accounts.
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("c.conf");
    std::fs::write(
        &conf,
        root_config(
            dir.path(),
            "[program:a]\ncommand = /bin/true\nuser = proctest-ctl\n",
        ),
    )
    .unwrap();
    let out = refused_at_start(&conf);
    assert!(
        out.contains("[program:a] user=proctest-ctl is one of proctor's own accounts"),
        "{}",
        out
    );
    // A logfile that is a symlink (say, planted by a compromised controld) is not followed.
    let dir = tempfile::tempdir().unwrap();
    let victim = dir.path().join("victim");
    std::fs::write(&victim, "untouched\n").unwrap();
    std::os::unix::fs::symlink(&victim, dir.path().join("proctord.log")).unwrap();
    let conf = dir.path().join("c.conf");
    let text = root_config(dir.path(), "").replace(
        "[supervisord]\n",
        &format!(
            "[supervisord]\nlogfile = {}/proctord.log\n",
            dir.path().display()
        ),
    );
    std::fs::write(&conf, text).unwrap();
    let out = refused_at_start(&conf);
    assert!(out.contains("cannot open logfile"), "{}", out);
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "untouched\n");
    // A missing controld account.
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("c.conf");
    let text = root_config(dir.path(), "").replace(
        "controld_user = proctest-ctl",
        "controld_user = no-such-ctl-xyz",
    );
    std::fs::write(&conf, text).unwrap();
    let out = refused_at_start(&conf);
    assert!(
        out.contains("[proctor] controld_user=no-such-ctl-xyz: no such account"),
        "{}",
        out
    );
}

#[test]
fn programs_without_user_run_as_the_default_user() {
    if skip("default user") {
        return;
    }
    let plain = ensure_account("proctest-plain");
    // A container's config: programs without user=, one line added for proctor.
    let d = RootDaemon::start_with(
        "[program:a]\ncommand = sleep 1000\nstartsecs = 0\n",
        "default_user = proctest-plain\n",
    );
    let pid = d.running_pid("a");
    let st = status_of(pid);
    assert_eq!((st["Uid"].clone(), st["Gid"].clone()), ids(&plain));
}

#[test]
fn a_deleted_account_makes_its_program_fatal() {
    if skip("deleted account") {
        return;
    }
    let gone = ensure_account("proctest-gone");
    let d = RootDaemon::start(
        // Default startretries: a vanished account is FATAL at once, not retried.
        "[program:gone]\ncommand = sleep 1000\nuser = proctest-gone\nstartsecs = 0\n",
    );
    let pid = d.running_pid("gone");
    assert_eq!(status_of(pid)["Uid"], ids(&gone).0);
    assert!(d.ctl(&["stop", "gone"]).status.success());
    let del = Command::new("userdel")
        .arg("proctest-gone")
        .status()
        .unwrap();
    assert!(del.success());
    let o = d.ctl(&["start", "gone"]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(
        stderr(&o).trim(),
        "gone: ERROR (spawn error: user 'proctest-gone' does not exist)"
    );
    let o = d.ctl(&["status", "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let p = &v["result"][0];
    assert_eq!(
        (p["state"].as_str(), p["spawnerr"].as_str()),
        (Some("FATAL"), Some("user 'proctest-gone' does not exist"))
    );
    assert!(p["pid"].is_null());
    ensure_account("proctest-gone");
}

#[test]
fn a_failed_step_names_itself_and_the_service_does_not_run() {
    if skip("failed steps") {
        return;
    }
    ensure_account("proctest-plain");
    // A directory only root may enter: chdir happens after the uid change, so it fails.
    let private = tempfile::tempdir().unwrap();
    std::fs::set_permissions(private.path(), std::fs::Permissions::from_mode(0o700)).unwrap();
    let d = RootDaemon::start(&format!(
        "[program:nodir]\ncommand = sleep 1000\nuser = proctest-plain\ndirectory = /nonexistent-proctor\nstartretries = 0\n\n\
         [program:private]\ncommand = sleep 1000\nuser = proctest-plain\ndirectory = {}\nstartretries = 0\n",
        private.path().display()
    ));
    for (name, why) in [
        (
            "nodir",
            "chdir failed: No such file or directory (os error 2)",
        ),
        ("private", "chdir failed: Permission denied (os error 13)"),
    ] {
        let p = wait_until(&format!("{name} FATAL"), T, || {
            let o = d.ctl(&["status", "--json"]);
            let v: serde_json::Value = serde_json::from_slice(&o.stdout).ok()?;
            let p = v["result"]
                .as_array()?
                .iter()
                .find(|p| p["name"] == name)?
                .clone();
            (p["state"] == "FATAL").then_some(p)
        });
        assert_eq!(p["spawnerr"], why, "{p}");
        assert!(p["pid"].is_null());
    }
}

#[test]
fn services_are_refused_io_uring_userfaultfd_and_pidfd_getfd() {
    if skip("refused calls") {
        return;
    }
    ensure_account("proctest-plain");
    // A real service under root-mode proctord tries each call (harmless arguments: unfiltered
    // they fail with EFAULT or EBADF, or succeed) and prints what it got.
    let calls = [
        ("io_uring_setup", libc::SYS_io_uring_setup, libc::ENOSYS),
        ("userfaultfd", libc::SYS_userfaultfd, libc::EPERM),
        ("pidfd_getfd", libc::SYS_pidfd_getfd, libc::EPERM),
    ];
    let list: Vec<String> = calls
        .iter()
        .map(|(name, nr, _)| format!("('{name}',{nr})"))
        .collect();
    let d = RootDaemon::start(&format!(
        "[program:calls]\ncommand = /usr/bin/python3 -c \"import ctypes,time;\
         l=ctypes.CDLL(None,use_errno=True);\
         [print(n,l.syscall(nr,0,0,0),ctypes.get_errno(),flush=True) for n,nr in ({},)];\
         time.sleep(1000)\"\nuser = proctest-plain\nstartsecs = 0\n",
        list.join(",")
    ));
    d.running_pid("calls");
    let log = d.dir.path().join("log/calls-stdout---supervisor.log");
    let text = wait_until("the service's report", Duration::from_secs(15), || {
        std::fs::read_to_string(&log)
            .ok()
            .filter(|t| t.lines().count() >= calls.len())
    });
    for ((name, _, errno), line) in calls.iter().zip(text.lines()) {
        assert_eq!(line, format!("{name} -1 {errno}"), "{text}");
    }
}

#[test]
fn no_service_runs_as_proctors_own_accounts_after_a_reload_or_an_account_change() {
    if skip("own accounts") {
        return;
    }
    let (_, helper) = accounts();
    // An account of its own at start-up, which later takes helper_user's uid.
    let _ = Command::new("userdel")
        .args(["-f", "proctest-alias"])
        .status();
    ensure_account("proctest-alias");
    let d = RootDaemon::start(
        "[program:a]\ncommand = sleep 1000\nuser = proctest-alias\nstartsecs = 0\nautostart = false\n",
    );
    // A reload that names controld's account is refused, as at start-up.
    let conf = d.dir.path().join("proctor.conf");
    let mut text = std::fs::read_to_string(&conf).unwrap();
    text.push_str("\n[program:bad]\ncommand = sleep 1000\nuser = proctest-ctl\n");
    std::fs::write(&conf, text).unwrap();
    let o = d.ctl(&["reread"]);
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("[program:bad] user=proctest-ctl is one of proctor's own accounts"),
        "{}",
        stderr(&o)
    );
    // The account database changes under a loaded config: the spawn is refused for good.
    let moved = Command::new("usermod")
        .args(["-o", "-u", &helper.uid.to_string(), "proctest-alias"])
        .status()
        .unwrap();
    assert!(moved.success());
    let o = d.ctl(&["start", "a"]);
    // -f: its uid is now helper_user's, which other tests' proctord may be running as.
    let _ = Command::new("userdel")
        .args(["-f", "proctest-alias"])
        .status();
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert_eq!(
        stderr(&o).trim(),
        "a: ERROR (spawn error: user 'proctest-alias' is one of proctor's own accounts \
         (controld_user, helper_user): refused)"
    );
}

#[test]
fn the_socket_needs_a_root_only_directory_and_gets_its_mode_at_bind() {
    if skip("socket directory") {
        return;
    }
    accounts();
    // A socket directory others can write: someone could swap the path under proctord.
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let run = dir.path().join("run");
    std::fs::create_dir(&run).unwrap();
    std::fs::set_permissions(&run, std::fs::Permissions::from_mode(0o777)).unwrap();
    let conf = dir.path().join("c.conf");
    std::fs::write(
        &conf,
        root_config(
            dir.path(),
            "[program:a]\ncommand = /bin/true\nuser = proctest-plain\n",
        ),
    )
    .unwrap();
    ensure_account("proctest-plain");
    let out = refused_at_start(&conf);
    assert!(
        out.contains("must belong to root and be writable by root only, or sticky"),
        "{}",
        out
    );
    assert!(!run.join("proctor.sock").exists());
    // A proper directory: the socket has chmod= from the moment it exists.
    let d = RootDaemon::start(
        "[program:b]\ncommand = sleep 1000\nuser = proctest-plain\nautostart = false\n",
    );
    let mode = std::fs::symlink_metadata(&d.socket).unwrap().mode() & 0o7777;
    assert_eq!(mode, 0o770);
}

/// Runs proctord on `conf` and expects it to refuse to start: its stderr. One that starts
/// after all is stopped (by pid) and fails the test.
fn refused_at_start(conf: &Path) -> String {
    let mut child = Command::new(bin("proctord"))
        .arg("-c")
        .arg(conf)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + T;
    let mut exited = false;
    while !exited && std::time::Instant::now() < deadline {
        exited = matches!(child.try_wait(), Ok(Some(_)));
        std::thread::sleep(Duration::from_millis(20));
    }
    if !exited {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(child.id() as i32),
            nix::sys::signal::Signal::SIGTERM,
        );
    }
    let out = child.wait_with_output().unwrap();
    assert!(exited, "proctord started: {}", stderr(&out));
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    stderr(&out)
}

fn chown_to(p: &Path, a: &Account) {
    nix::unistd::chown(p, Some(a.uid.into()), Some(a.gid.into())).unwrap();
}

fn set_mode(p: &Path, m: u32) {
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(m)).unwrap();
}

/// Root acts on its config: a config, an included file or a directory above either that
/// another account could write would let that account decide what root runs, as whom. Each is
/// refused with the file and the reason, at start and at a reload (which leaves the daemon
/// running on what it had).
#[test]
fn root_reads_only_config_files_that_root_alone_can_write() {
    if skip("config trust") {
        return;
    }
    accounts();
    let plain = ensure_account("proctest-plain");
    let dir = tempfile::tempdir().unwrap();
    set_mode(dir.path(), 0o755);
    let conf = dir.path().join("c.conf");
    let program = "[program:a]\ncommand = sleep 1000\nuser = proctest-plain\nautostart = false\n";
    std::fs::write(&conf, root_config(dir.path(), program)).unwrap();

    set_mode(&conf, 0o666);
    let e = refused_at_start(&conf);
    assert!(
        e.contains(&format!(
            "{}: writable by group or others (mode 666) (as root, proctor reads only files \
             that root alone can write)",
            conf.display()
        )),
        "{e}"
    );
    set_mode(&conf, 0o644);
    chown_to(&conf, &plain);
    let e = refused_at_start(&conf);
    assert!(
        e.contains(&format!(
            "owned by uid {}, must be owned by uid 0",
            plain.uid
        )),
        "{e}"
    );
    nix::unistd::chown(&conf, Some(0.into()), Some(0.into())).unwrap();

    // An included file in a directory of another account.
    let confd = dir.path().join("conf.d");
    std::fs::create_dir(&confd).unwrap();
    std::fs::write(
        confd.join("b.conf"),
        "[program:b]\ncommand = sleep 1000\nuser = proctest-plain\nautostart = false\n",
    )
    .unwrap();
    chown_to(&confd, &plain);
    let mut text = std::fs::read_to_string(&conf).unwrap();
    text.push_str(&format!(
        "\n[include]\nfiles = {}/*.conf\n",
        confd.display()
    ));
    std::fs::write(&conf, &text).unwrap();
    let e = refused_at_start(&conf);
    assert!(
        e.contains(&format!(
            "{}: a directory above {} is owned by uid {}",
            confd.display(),
            confd.join("b.conf").display(),
            plain.uid
        )),
        "{e}"
    );

    // At a reload: refused, and the daemon keeps what it had.
    nix::unistd::chown(&confd, Some(0.into()), Some(0.into())).unwrap();
    let d = RootDaemon::start(program);
    let live = d.dir.path().join("proctor.conf");
    let mut text = std::fs::read_to_string(&live).unwrap();
    text.push_str(&format!(
        "\n[include]\nfiles = {}/*.conf\n",
        confd.display()
    ));
    std::fs::write(&live, &text).unwrap();
    let o = d.ctl(&["update"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stdout(&o).contains("b: added process group"),
        "{}",
        stdout(&o)
    );
    set_mode(&confd.join("b.conf"), 0o664);
    std::fs::write(
        &live,
        format!(
            "{text}\n[program:c]\ncommand = sleep 1000\nuser = proctest-plain\nautostart = false\n"
        ),
    )
    .unwrap();
    let o = d.ctl(&["update"]);
    assert!(!o.status.success(), "{}", stdout(&o));
    assert!(
        stderr(&o).contains("b.conf: writable by group or others (mode 664)"),
        "{}",
        stderr(&o)
    );
    let o = d.ctl(&["status"]);
    assert!(
        stdout(&o).contains("b ") && !stdout(&o).contains("c "),
        "{}",
        stdout(&o)
    );
}

/// controld creates service logs by name. As root, a log directory that another account (the
/// service's own, or everyone's, like /tmp) could write is refused at start and at a reload:
/// that account could create the log's name first and read what controld writes into it.
#[test]
fn log_directories_must_be_writable_by_root_and_controld_alone() {
    if skip("log directory trust") {
        return;
    }
    let (ctl, _) = accounts();
    let plain = ensure_account("proctest-plain");
    let dir = tempfile::tempdir().unwrap();
    set_mode(dir.path(), 0o755);
    let logs = dir.path().join("svc-logs");
    std::fs::create_dir(&logs).unwrap();
    chown_to(&logs, &plain);
    let conf = dir.path().join("c.conf");
    let program = format!(
        "[program:a]\ncommand = sleep 1000\nuser = proctest-plain\nautostart = false\n\
         stdout_logfile = {}/a.log\n",
        logs.display()
    );
    std::fs::write(&conf, root_config(dir.path(), &program)).unwrap();
    let e = refused_at_start(&conf);
    assert!(
        e.contains(&format!(
            "[program:a] logs to {}/a.log: {}: owned by uid {}",
            logs.display(),
            logs.display(),
            plain.uid
        )),
        "{e}"
    );
    // Root's, but writable by everyone (sticky or not).
    nix::unistd::chown(&logs, Some(0.into()), Some(0.into())).unwrap();
    set_mode(&logs, 0o1777);
    let e = refused_at_start(&conf);
    assert!(e.contains("writable by group or others (mode 1777)"), "{e}");
    // controld's, writable by it alone: accepted.
    set_mode(&logs, 0o750);
    chown_to(&logs, &ctl);
    let d = RootDaemon::start(&program);
    assert!(d.ctl(&["start", "a"]).status.success());
    // A reload that moves a log into /tmp is refused; the daemon goes on.
    let live = d.dir.path().join("proctor.conf");
    let text = std::fs::read_to_string(&live).unwrap();
    std::fs::write(
        &live,
        format!("{text}\n[program:b]\ncommand = sleep 1000\nuser = proctest-plain\nstdout_logfile = /tmp/proctest-b.log\n"),
    )
    .unwrap();
    let o = d.ctl(&["update"]);
    assert!(!o.status.success(), "{}", stdout(&o));
    assert!(
        stderr(&o).contains("[program:b] logs to /tmp/proctest-b.log: /tmp: writable by group or others (mode 1777)"),
        "{}",
        stderr(&o)
    );
    assert!(d.ctl(&["status", "a"]).status.success());
}

/// The socket's directory must be root's alone, and so must every directory above it: one
/// another account could rename would let it swap the socket's path.
#[test]
fn the_directories_above_the_socket_are_root_only() {
    if skip("socket ancestors") {
        return;
    }
    accounts();
    let dir = tempfile::tempdir().unwrap();
    set_mode(dir.path(), 0o777);
    let run = dir.path().join("run");
    std::fs::create_dir(&run).unwrap();
    set_mode(&run, 0o755);
    let conf_dir = tempfile::tempdir().unwrap();
    set_mode(conf_dir.path(), 0o755);
    let conf = conf_dir.path().join("c.conf");
    let text = root_config(conf_dir.path(), "").replace(
        &format!("file = {}/run/proctor.sock", conf_dir.path().display()),
        &format!("file = {}/proctor.sock", run.display()),
    );
    std::fs::write(&conf, text).unwrap();
    let e = refused_at_start(&conf);
    assert!(
        e.contains(&format!(
            "the socket's directory: {}: a directory above {} is writable by others (mode 777)",
            dir.path().display(),
            run.display()
        )),
        "{e}"
    );
    assert!(!run.join("proctor.sock").exists());
}
