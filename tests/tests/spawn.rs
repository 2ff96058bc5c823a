//! What a service gets at spawn, seen from inside by the probe: only fds 0-2, a clean signal
//! state, its own session, Supervisor's environment variables, its directory and umask; and
//! who its parent is.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
#![forbid(unsafe_code)]

use proctor_tests::*;
use std::collections::HashMap;
use std::os::unix::fs::PermissionsExt;
use std::time::Duration;

const T: Duration = Duration::from_secs(15);

fn probe_path() -> String {
    bin("proctor-probe").display().to_string()
}

/// The probe's `key=value` report, read from its stdout log once complete.
fn report(d: &Daemon, process: &str) -> HashMap<String, String> {
    let log = d.path(&format!("log/{process}-stdout---test.log"));
    let text = wait_until(&format!("{process}'s report"), T, || {
        let t = std::fs::read_to_string(&log).ok()?;
        t.contains("probe=done\n").then_some(t)
    });
    text.lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}

/// The parent pid of `pid`, from /proc.
fn ppid(pid: u32) -> u32 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let rest = stat.rsplit(')').next().unwrap();
    rest.split_whitespace().nth(1).unwrap().parse().unwrap()
}

#[test]
fn a_service_starts_clean() {
    // Forty services started first: proctord then holds a pidfd and pipes for each, more fds
    // than the few that a new child copies from it before its exec (sys::spawn_child).
    let d = Daemon::start(&format!(
        "[program:busy]\ncommand = sleep 1000\nnumprocs = 40\n\
         process_name = busy%(process_num)s\npriority = 1\nstartsecs = 0\n\
         [group:grp]\nprograms = probe\n\
         [program:probe]\ncommand = {}\nstartsecs = 0\n\
         environment = PROBE_VAR=\"a b,c\"\ndirectory = {{dir}}\n",
        probe_path()
    ));
    let pid = d.wait_state("grp:probe", "RUNNING", T)["pid"]
        .as_u64()
        .unwrap()
        .to_string();
    let r = report(&d, "probe");
    let get = |k: &str| {
        r.get(k)
            .map(String::as_str)
            .unwrap_or_else(|| panic!("no {k} in the report: {r:?}"))
    };
    assert_eq!(
        get("fds"),
        "0,1,2",
        "no fd of proctord leaks into a service"
    );
    assert_eq!(get("SigBlk"), "0000000000000000", "no signal blocked");
    // The probe's SigIgn cannot be used: Rust's runtime sets SIGPIPE to SIG_IGN before main.
    // `no_signal_is_ignored_or_blocked` checks dispositions on a C program instead.
    assert_eq!(get("pid"), pid);
    assert_eq!(get("pgrp"), pid, "its own process group");
    assert_eq!(get("session"), pid, "its own session (setsid)");
    assert_eq!(get("env.SUPERVISOR_ENABLED"), "1");
    assert_eq!(get("env.SUPERVISOR_PROCESS_NAME"), "probe");
    assert_eq!(get("env.SUPERVISOR_GROUP_NAME"), "grp");
    assert_eq!(
        get("env.SUPERVISOR_SERVER_URL"),
        format!("unix://{}", d.socket.display())
    );
    assert_eq!(get("env.PROBE_VAR"), "a b,c");
    assert_eq!(
        std::fs::canonicalize(get("cwd")).unwrap(),
        std::fs::canonicalize(d.dir.path()).unwrap()
    );
    if let Some(a) = runner() {
        assert_eq!(
            get("Uid").split(' ').next(),
            Some(a.uid.to_string().as_str())
        );
    }
    // The report matches what the kernel says from outside.
    let pid: u32 = pid.parse().unwrap();
    assert_eq!(
        proc_status(pid, "SigBlk").as_deref(),
        Some("0000000000000000")
    );
}

#[test]
fn no_signal_is_ignored_or_blocked() {
    let d = Daemon::start("[program:plain]\ncommand = sleep 1000\nstartsecs = 0\n");
    let pid = d.wait_state("plain", "RUNNING", T)["pid"].as_u64().unwrap() as u32;
    // proctord itself ignores SIGPIPE (Rust's runtime does that) and blocks the signals of its
    // signalfd: none of that may reach a service.
    let own = proc_status(d.pid(), "SigIgn").unwrap();
    assert_ne!(own, "0000000000000000", "proctord ignores SIGPIPE");
    assert_eq!(
        proc_status(pid, "SigBlk").as_deref(),
        Some("0000000000000000"),
        "signals blocked in the service"
    );
    assert_eq!(
        proc_status(pid, "SigIgn").as_deref(),
        Some("0000000000000000"),
        "signals ignored in the service (proctord's SigIgn: {own})"
    );
}

#[test]
fn each_process_of_a_group_gets_its_own_names() {
    let d = Daemon::start(&format!(
        "[program:p]\ncommand = {}\nstartsecs = 0\nnumprocs = 2\n\
         process_name = %(program_name)s_%(process_num)d\n",
        probe_path()
    ));
    for n in ["p_0", "p_1"] {
        let pid = d.wait_state(&format!("p:{n}"), "RUNNING", T)["pid"]
            .as_u64()
            .unwrap();
        let r = report(&d, n);
        assert_eq!(r["env.SUPERVISOR_PROCESS_NAME"], n);
        assert_eq!(r["env.SUPERVISOR_GROUP_NAME"], "p");
        assert_eq!(r["pid"], pid.to_string());
        assert_eq!(r["fds"], "0,1,2");
        assert!(!r.contains_key("env.PROBE_VAR"));
    }
}

#[test]
fn umask_applies_to_the_files_a_service_creates() {
    let d = Daemon::start(
        "[program:strict]\ncommand = sh -c 'touch {dir}/u; exec sleep 1000'\nstartsecs = 0\numask = 077\n\
         [program:loose]\ncommand = sh -c 'touch {dir}/v; exec sleep 1000'\nstartsecs = 0\numask = 002\n",
    );
    let mode = |f: &str| {
        wait_until(&format!("{f} to be created"), T, || {
            std::fs::metadata(d.path(f))
                .ok()
                .map(|m| m.permissions().mode() & 0o7777)
        })
    };
    assert_eq!(mode("u"), 0o600, "umask 077");
    assert_eq!(mode("v"), 0o664, "umask 002");
}

#[test]
fn services_and_controld_are_children_of_proctord() {
    let d = Daemon::start(
        "[program:one]\ncommand = sleep 1000\nstartsecs = 0\n\
         [program:two]\ncommand = sh -c 'sleep 1000 & wait'\nstartsecs = 0\n",
    );
    let proctord = d.pid();
    for n in ["one", "two"] {
        let pid = d.wait_state(n, "RUNNING", T)["pid"].as_u64().unwrap() as u32;
        assert_eq!(ppid(pid), proctord, "{n}'s parent");
    }
    let out = d.ctl_ok(&["pid"]);
    let pids: HashMap<&str, u32> = out
        .lines()
        .filter_map(|l| l.split_once(' '))
        .map(|(k, v)| (k, v.parse().unwrap()))
        .collect();
    assert_eq!(pids.get("proctord"), Some(&proctord), "{out}");
    let controld = pids["proctor-controld"];
    assert_ne!(controld, proctord);
    assert_eq!(ppid(controld), proctord, "controld's parent");
    let exe = std::fs::read_link(format!("/proc/{controld}/exe")).unwrap();
    assert_eq!(
        exe.file_name().unwrap(),
        "proctor-controld",
        "{}",
        exe.display()
    );
}
