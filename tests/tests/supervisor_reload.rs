//! Stock supervisorctl's `reload` and `shutdown` against proctor, side by side with
//! supervisord 4.3 on the same config files.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
#![forbid(unsafe_code)]

use proctor_tests::supervisor::{self, differs, supervisorctl, Supervisord};
use proctor_tests::*;
use std::path::Path;
use std::time::Duration;

const T: Duration = Duration::from_secs(20);

const BEFORE: &str = "\
[program:kept]
command = sleep 1000
startsecs = 0

[program:changed]
command = sleep 1000
startsecs = 0

[program:manual]
command = sleep 1000
autostart = false

[program:gone]
command = sleep 1000
startsecs = 0
";

const AFTER: &str = "\
[program:kept]
command = sleep 1000
startsecs = 0

[program:changed]
command = sleep 1001
startsecs = 0

[program:manual]
command = sleep 1000
autostart = false

[program:new]
command = sleep 1000
startsecs = 0
";

/// The pid of each RUNNING process, by name, as supervisorctl's `status` shows them.
fn running(python: &Path, socket: &Path, n: usize) -> Vec<(String, String)> {
    wait_until(&format!("{n} processes RUNNING"), T, || {
        let text = stdout(&supervisorctl(python, socket, &["status"]));
        let pids: Vec<(String, String)> = text
            .lines()
            .filter(|l| l.contains("RUNNING"))
            .filter_map(|l| {
                let name = l.split_whitespace().next()?.to_owned();
                let pid = l.split("pid ").nth(1)?.split(',').next()?.to_owned();
                Some((name, pid))
            })
            .collect();
        (pids.len() == n).then_some(pids)
    })
}

/// `reload` restarts every autostart service from the file as it is now, the ones that did not
/// change too, as supervisord's does; the file's changes are applied.
#[test]
fn reload_restarts_everything_from_the_file_as_supervisord_does() {
    let Some(python) =
        supervisor::python("reload_restarts_everything_from_the_file_as_supervisord_does")
    else {
        return;
    };
    let sv = Supervisord::start(&python, BEFORE);
    let d = Daemon::start(BEFORE);
    let before = (
        running(&python, &sv.socket, 3),
        running(&python, &d.socket, 3),
    );
    let diff = differs(&python, &sv.socket, &d.socket, &["reread"], false);
    assert!(diff.is_none(), "{}", diff.unwrap_or_default());
    sv.rewrite(AFTER);
    d.write_config(AFTER);
    // `reread` tells what the file changes, and applies nothing.
    let diff = differs(&python, &sv.socket, &d.socket, &["reread"], false);
    assert!(diff.is_none(), "{}", diff.unwrap_or_default());
    assert_eq!(running(&python, &d.socket, 3), before.1);
    let diff = differs(&python, &sv.socket, &d.socket, &["reload"], false);
    assert!(diff.is_none(), "{}", diff.unwrap_or_default());
    let after = (
        running(&python, &sv.socket, 3),
        running(&python, &d.socket, 3),
    );
    for (old, new) in [(&before.0, &after.0), (&before.1, &after.1)] {
        let names: Vec<&str> = new.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["changed", "kept", "new"]);
        // Every service is a new process, `kept` too.
        for (name, pid) in old {
            assert!(
                !new.iter().any(|(n, p)| n == name && p == pid),
                "{name} kept pid {pid}"
            );
        }
    }
    for args in [&["status"][..], &["avail"]] {
        let diff = differs(&python, &sv.socket, &d.socket, args, true);
        assert!(diff.is_none(), "{}", diff.unwrap_or_default());
    }
    // A file that does not load: refused, nothing stopped.
    d.write_config("[program:broken]\ncommand = sleep 1000\nstartsecs = soon\n");
    let o = supervisorctl(&python, &d.socket, &["reread"]);
    assert_eq!(o.status.code(), Some(1), "{o:?}");
    assert!(
        stdout(&o).starts_with("ERROR: CANT_REREAD: ") && stdout(&o).contains("startsecs"),
        "{}",
        stdout(&o)
    );
    let o = d.ctl(&["reload"]);
    assert_eq!(o.status.code(), Some(1), "{o:?}");
    assert!(stderr(&o).contains("startsecs"), "{}", stderr(&o));
    assert_eq!(running(&python, &d.socket, 3), after.1);
}

/// `shutdown` prints what it prints against supervisord, and the daemon stops its services and
/// exits.
#[test]
fn shutdown_stops_the_daemon_as_supervisord() {
    let Some(python) = supervisor::python("shutdown_stops_the_daemon_as_supervisord") else {
        return;
    };
    let mut sv = Supervisord::start(&python, BEFORE);
    let mut d = Daemon::start(BEFORE);
    running(&python, &sv.socket, 3);
    let pids: Vec<u32> = running(&python, &d.socket, 3)
        .iter()
        .map(|(_, p)| p.parse().unwrap())
        .collect();
    let diff = differs(&python, &sv.socket, &d.socket, &["shutdown"], false);
    assert!(diff.is_none(), "{}", diff.unwrap_or_default());
    wait_until("supervisord gone", T, || sv.exited().then_some(()));
    let proctord = d.pid();
    wait_until("proctord gone", T, || {
        let mut child = d.child.take()?;
        match child.try_wait() {
            Ok(Some(status)) => Some(status),
            _ => {
                d.child = Some(child);
                None
            }
        }
    });
    assert!(!alive(proctord));
    for pid in pids {
        assert!(!alive(pid), "service {pid} outlived the shutdown");
    }
}

/// `reread`, `update` (two groups changed, one added, one removed), `remove` and `add`, in this
/// order on each daemon: the same output and exit codes as supervisord's.
#[test]
fn update_add_and_remove_as_supervisord() {
    let Some(python) = supervisor::python("update_add_and_remove_as_supervisord") else {
        return;
    };
    const ONE: &str = "\
[program:kept]
command = sleep 1000
startsecs = 0

[program:first]
command = sleep 1000
startsecs = 0

[program:second]
command = sleep 1000
startsecs = 0

[program:gone]
command = sleep 1000
startsecs = 0
";
    const TWO: &str = "\
[program:kept]
command = sleep 1000
startsecs = 0

[program:first]
command = sleep 1001
startsecs = 0

[program:second]
command = sleep 1002
startsecs = 0

[program:new]
command = sleep 1000
startsecs = 0
";
    let sv = Supervisord::start(&python, ONE);
    let d = Daemon::start(ONE);
    running(&python, &sv.socket, 4);
    running(&python, &d.socket, 4);
    sv.rewrite(TWO);
    d.write_config(TWO);
    let steps: &[(&[&str], bool)] = &[
        (&["reread"], false),
        (&["update"], false),
        (&["reread"], false),
        (&["status"], true),
        (&["avail"], false),
        (&["remove", "kept"], false),
        (&["stop", "kept"], false),
        (&["remove", "kept"], false),
        (&["avail"], false),
        (&["reread"], false),
        (&["status"], true),
        (&["add", "kept"], false),
        (&["add", "kept"], false),
        (&["add", "nosuch"], false),
        (&["remove", "nosuch"], false),
        (&["update", "nosuch"], false),
        (&["status"], true),
    ];
    for (args, sorted) in steps {
        let diff = differs(&python, &sv.socket, &d.socket, args, *sorted);
        assert!(diff.is_none(), "{}", diff.unwrap_or_default());
    }
    // The updated groups run the file's new commands.
    let pids = running(&python, &d.socket, 4);
    let cmd = |name: &str| {
        let pid = &pids.iter().find(|(n, _)| n == name).unwrap().1;
        std::fs::read_to_string(format!("/proc/{pid}/cmdline"))
            .unwrap()
            .replace('\0', " ")
    };
    assert_eq!(cmd("first"), "sleep 1001 ");
    assert_eq!(cmd("second"), "sleep 1002 ");
}

/// A start whose command cannot run: supervisorctl prints what it prints against supervisord
/// (`no such file`, `file is not executable`). supervisord looks for the command before it
/// forks and leaves the process STOPPED; proctor's proctord finds out at the spawn, and the
/// process goes on to BACKOFF and FATAL with the reason, as supervisord's own autostart does.
#[test]
fn starts_that_cannot_run_say_why_as_supervisord() {
    let Some(python) = supervisor::python("starts_that_cannot_run_say_why_as_supervisord") else {
        return;
    };
    const BAD: &str = "\
[program:missing]
command = /nonexistent/program
autostart = false

[program:notexec]
command = {dir}/notexec
autostart = false
";
    let sv = Supervisord::start(&python, BAD);
    let d = Daemon::start(BAD);
    // A file that exists but may not be run, in each daemon's directory.
    for dir in [sv.dir.path(), d.dir.path()] {
        use std::os::unix::fs::PermissionsExt;
        let f = dir.join("notexec");
        std::fs::write(&f, "#!/bin/sh\n").unwrap();
        std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o644)).unwrap();
    }
    for args in [&["start", "missing"][..], &["start", "notexec"]] {
        let diff = differs(&python, &sv.socket, &d.socket, args, false);
        assert!(diff.is_none(), "{}", diff.unwrap_or_default());
    }
    // proctorctl says why too. (The first start left it retrying in BACKOFF: stopped first.)
    d.ctl(&["stop", "missing"]);
    let o = d.ctl(&["start", "missing"]);
    assert!(
        stderr(&o).contains("ERROR (no such file: can't find command '/nonexistent/program')"),
        "{}",
        stderr(&o)
    );
}
