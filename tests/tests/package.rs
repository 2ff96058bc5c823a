//! The Debian package, on this machine, as root: `dpkg -i` of what `bash packaging/build-deb`
//! built (target/debian/, which `.ci/run` makes first), the installed config checked and run
//! from the installed paths with a status as an allowed user, then `dpkg --purge`, after which
//! nothing is left but what Debian keeps: the system accounts, and a file the admin added.
#![allow(clippy::unwrap_used, clippy::panic, clippy::expect_used)]
#![forbid(unsafe_code)]

use proctor_tests::root;
use proctor_tests::*;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

const T: Duration = Duration::from_secs(30);

/// What the package puts on the machine, and what its scripts and proctord make there.
const INSTALLED: &[&str] = &[
    "/usr/sbin/proctord",
    "/usr/sbin/proctor-controld",
    "/usr/bin/proctorctl",
    "/etc/proctor/proctor.conf",
    "/etc/proctor/policy.toml",
    "/etc/proctor/conf.d/README",
    "/usr/lib/systemd/system/proctor.service",
    "/usr/lib/sysusers.d/proctor.conf",
    "/usr/lib/tmpfiles.d/proctor.conf",
    "/usr/share/man/man1/proctorctl.1.gz",
    "/usr/share/man/man1/proctorctl-restart.1.gz",
    "/usr/share/man/man5/proctor.conf.5.gz",
    "/usr/share/man/man5/proctor-policy.5.gz",
    "/usr/share/man/man5/proctor-audit.5.gz",
    "/usr/share/man/man8/proctord.8.gz",
    "/usr/share/bash-completion/completions/proctorctl",
    "/usr/share/doc/proctor/copyright",
];
const MADE_AT_RUN_TIME: &[&str] = &[
    "/var/log/proctor",
    "/var/log/proctor-audit/audit.log",
    "/var/lib/proctor/audit.seal",
];
const ENABLED: &str = "/etc/systemd/system/multi-user.target.wants/proctor.service";

fn the_deb() -> Option<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/debian");
    let mut debs: Vec<PathBuf> = std::fs::read_dir(dir)
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("proctor_"))
                && p.extension().is_some_and(|x| x == "deb")
        })
        .collect();
    debs.sort_by_key(|p| std::fs::metadata(p).and_then(|m| m.modified()).ok());
    debs.pop()
}

fn run(args: &[&str]) -> std::process::Output {
    succeeded(Command::new(args[0]).args(&args[1..]))
}

fn installed() -> bool {
    Command::new("dpkg-query")
        .args(["-W", "-f", "${Status}", "proctor"])
        .output()
        .is_ok_and(|o| stdout(&o).contains("install ok installed"))
}

#[test]
fn the_package_installs_runs_and_purges_cleanly() {
    if root::skip("the_package_installs_runs_and_purges_cleanly") {
        return;
    }
    let Some(deb) = the_deb() else {
        println!(
            "SKIP: the_package_installs_runs_and_purges_cleanly: no target/debian/proctor_*.deb \
             (bash packaging/build-deb makes it; .ci/run does)"
        );
        return;
    };
    if installed() || Path::new("/etc/proctor").exists() {
        println!(
            "SKIP: the_package_installs_runs_and_purges_cleanly: proctor is installed here \
             (or /etc/proctor exists), and the test ends with a purge"
        );
        return;
    }
    let alice = ensure_account("proctest-alice");
    ensure_account("proctest-plain");

    run(&["dpkg", "-i", deb.to_str().unwrap()]);
    for p in INSTALLED {
        assert!(Path::new(p).exists(), "{p} was not installed");
    }
    assert!(
        std::fs::symlink_metadata(ENABLED).is_ok(),
        "the unit is not enabled"
    );
    // The accounts, made by systemd-sysusers from the package's sysusers file.
    for account in ["proctor", "proctor-helper"] {
        let o = run(&["getent", "passwd", account]);
        assert!(
            stdout(&o).trim_end().ends_with(":/usr/sbin/nologin"),
            "{}",
            stdout(&o)
        );
    }
    // The unit as systemd reads it: every directive known, every command and man page there.
    let o = run(&[
        "systemd-analyze",
        "verify",
        "/usr/lib/systemd/system/proctor.service",
    ]);
    assert_eq!(stderr(&o), "", "systemd-analyze verify complained");
    // The man pages are where man looks.
    let o = run(&["man", "-w", "proctor.conf"]);
    assert_eq!(stdout(&o).trim(), "/usr/share/man/man5/proctor.conf.5.gz");
    let check = || {
        stdout(&run(&[
            "/usr/sbin/proctord",
            "-c",
            "/etc/proctor/proctor.conf",
            "--check",
        ]))
    };
    let checked = check();
    assert!(
        checked.starts_with("/etc/proctor/proctor.conf: OK: 0 programs"),
        "{checked}"
    );

    // An admin adds a service in conf.d and lets alice see it.
    std::fs::write(
        "/etc/proctor/conf.d/hello.conf",
        "[program:hello]\ncommand = sleep 1000\nuser = proctest-plain\nstartsecs = 0\n",
    )
    .unwrap();
    let mut policy = std::fs::read_to_string("/etc/proctor/policy.toml").unwrap();
    policy.push_str(
        "\n[[allow]]\nwho = [\"proctest-alice\"]\nactions = [\"status\"]\nprograms = [\"*\"]\n",
    );
    std::fs::write("/etc/proctor/policy.toml", policy).unwrap();
    let checked = check();
    assert!(checked.contains("hello  user=proctest-plain"), "{checked}");

    // Started as systemd would (no systemd runs here), from the installed paths.
    let log = tempfile::NamedTempFile::new().unwrap();
    let mut proctord = Command::new("/usr/sbin/proctord")
        .args(["-c", "/etc/proctor/proctor.conf"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log.reopen().unwrap())
        .spawn()
        .unwrap();
    let ctl_as_alice = |args: &[&str]| {
        Command::new("/usr/bin/proctorctl")
            .args(args)
            .uid(alice.uid)
            .gid(alice.gid)
            .env_remove("PROCTOR_SOCKET")
            .output()
            .unwrap()
    };
    let status = wait_until("hello RUNNING, as alice sees it", T, || {
        if let Ok(Some(st)) = proctord.try_wait() {
            panic!(
                "proctord exited ({st}): {}",
                std::fs::read_to_string(log.path()).unwrap_or_default()
            );
        }
        let o = ctl_as_alice(&["status"]);
        (o.status.success() && stdout(&o).contains("RUNNING")).then_some(o)
    });
    assert!(stdout(&status).starts_with("hello "), "{}", stdout(&status));
    let o = ctl_as_alice(&["stop", "hello"]);
    assert!(
        !o.status.success() && stderr(&o).contains("may not stop hello"),
        "{}",
        stderr(&o)
    );
    let audit = std::fs::read_to_string("/var/log/proctor-audit/audit.log").unwrap();
    assert!(
        audit.contains(r#""user":"proctest-alice""#) && audit.contains(r#""decision":"deny""#),
        "{audit}"
    );
    for p in MADE_AT_RUN_TIME {
        assert!(Path::new(p).exists(), "{p} was not made");
    }
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(proctord.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    let st = proctord.wait().unwrap();
    assert!(st.success(), "proctord stopped with {st}");

    run(&["dpkg", "--purge", "proctor"]);
    assert!(!installed());
    for p in INSTALLED.iter().chain(MADE_AT_RUN_TIME) {
        assert!(!Path::new(p).exists(), "{p} is left after the purge");
    }
    for p in ["/var/log/proctor-audit", "/var/lib/proctor", "/run/proctor"] {
        assert!(!Path::new(p).exists(), "{p} is left after the purge");
    }
    assert!(
        std::fs::symlink_metadata(ENABLED).is_err(),
        "the unit's enable link is left"
    );
    // What dpkg never removes: a file it did not install (and so its directories), and the
    // accounts (Debian keeps system users: files elsewhere may still be theirs).
    let left: Vec<String> = walk(Path::new("/etc/proctor"));
    assert_eq!(left, ["/etc/proctor/conf.d/hello.conf"]);
    std::fs::remove_dir_all("/etc/proctor").unwrap();
    run(&["getent", "passwd", "proctor"]);
    run(&["getent", "passwd", "proctor-helper"]);
}

fn walk(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p.display().to_string());
        }
    }
    out.sort();
    out
}
