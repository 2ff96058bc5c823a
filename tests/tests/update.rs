//! `reread` and `update`: what changed is reported by group, `reread` applies nothing, `update`
//! removes, restarts and adds exactly what changed, and a broken config changes nothing.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
#![forbid(unsafe_code)]

use proctor_tests::*;
use std::time::Duration;

const T: Duration = Duration::from_secs(15);

fn svc(name: &str, command: &str) -> String {
    format!("[program:{name}]\ncommand = {command}\nstartsecs = 0\n")
}

fn names(d: &Daemon) -> Vec<String> {
    d.status()
        .iter()
        .map(|p| p["name"].as_str().unwrap().to_owned())
        .collect()
}

fn cmdline(pid: u32) -> String {
    std::fs::read(format!("/proc/{pid}/cmdline"))
        .map(|b| String::from_utf8_lossy(&b).replace('\0', " "))
        .unwrap_or_default()
}

fn running_pid(d: &Daemon, name: &str) -> u32 {
    d.wait_state(name, "RUNNING", T)["pid"].as_u64().unwrap() as u32
}

#[test]
fn reread_reports_and_update_applies() {
    let d = Daemon::start(&format!(
        "{}{}{}",
        svc("a", "sleep 1000"),
        svc("b", "sleep 1001"),
        svc("d", "sleep 1003")
    ));
    let (pa, pb, pd) = (
        running_pid(&d, "a"),
        running_pid(&d, "b"),
        running_pid(&d, "d"),
    );
    assert_eq!(cmdline(pb), "sleep 1001 ");

    d.write_config(&format!(
        "{}{}{}",
        svc("b", "sleep 1011"),
        svc("c", "sleep 1002"),
        svc("d", "sleep 1003")
    ));
    assert_eq!(
        d.ctl_ok(&["reread"]),
        "c: available\nb: changed\na: disappeared\n"
    );
    // reread applies nothing.
    assert_eq!(names(&d), ["a", "b", "d"]);
    for (n, pid) in [("a", pa), ("b", pb), ("d", pd)] {
        assert_eq!(d.state(n), "RUNNING");
        assert_eq!(d.pid_of(n), Some(pid));
        assert!(alive(pid));
    }
    // Asking again gives the same answer: the daemon still runs the old config.
    assert_eq!(
        d.ctl_ok(&["reread"]),
        "c: available\nb: changed\na: disappeared\n"
    );

    let out = d.ctl_ok(&["update"]);
    let mut lines: Vec<&str> = out.lines().collect();
    lines.sort();
    assert_eq!(
        lines,
        [
            "a: removed process group",
            "a: stopped",
            "b: stopped",
            "b: updated process group",
            "c: added process group"
        ],
        "{out}"
    );
    let pc = running_pid(&d, "c");
    let pb2 = running_pid(&d, "b");
    assert_eq!(names(&d), ["b", "c", "d"]);
    assert!(!alive(pa), "a was removed: its process must be stopped");
    assert!(!alive(pb), "b changed: its old process must be stopped");
    assert_ne!(pb2, pb);
    assert_eq!(cmdline(pb2), "sleep 1011 ", "b runs its new command");
    assert_eq!(cmdline(pc), "sleep 1002 ");
    assert_eq!(
        d.pid_of("d"),
        Some(pd),
        "d did not change and keeps running"
    );
    assert!(alive(pd));
    let o = d.ctl(&["status", "a"]);
    assert_eq!(o.status.code(), Some(4));
    assert_eq!(stderr(&o), "proctorctl: no such process: a\n");

    // Nothing changed since: both say so and touch nothing.
    assert_eq!(d.ctl_ok(&["reread"]), "No config updates to processes\n");
    assert_eq!(d.ctl_ok(&["update"]), "No config updates to processes\n");
    assert_eq!(d.pid_of("b"), Some(pb2));
    assert_eq!(d.pid_of("c"), Some(pc));
    assert_eq!(d.pid_of("d"), Some(pd));
}

#[test]
fn update_of_named_groups() {
    let d = Daemon::start(&format!(
        "{}{}{}",
        svc("a", "sleep 1000"),
        svc("b", "sleep 1001"),
        svc("c", "sleep 1002")
    ));
    let (pa, pb, pc) = (
        running_pid(&d, "a"),
        running_pid(&d, "b"),
        running_pid(&d, "c"),
    );
    // Only a changed: `update a` restarts a, and nothing else.
    d.write_config(&format!(
        "{}{}{}",
        svc("a", "sleep 1010"),
        svc("b", "sleep 1001"),
        svc("c", "sleep 1002")
    ));
    assert_eq!(
        d.ctl_ok(&["update", "a"]),
        "a: stopped\na: updated process group\n"
    );
    let pa2 = running_pid(&d, "a");
    assert!(pa2 != pa && cmdline(pa2) == "sleep 1010 ");
    assert_eq!((d.pid_of("b"), d.pid_of("c")), (Some(pb), Some(pc)));
    // b and c changed, but only b is named: b is updated, and c runs on, as under Supervisor,
    // with the settings it was added with, a restart included, until it is updated itself.
    d.write_config(&format!(
        "{}{}{}",
        svc("a", "sleep 1010"),
        svc("b", "sleep 1011"),
        svc("c", "sleep 1012")
    ));
    assert_eq!(
        d.ctl_ok(&["update", "b"]),
        "b: stopped\nb: updated process group\n"
    );
    let pb2 = running_pid(&d, "b");
    assert_eq!(cmdline(pb2), "sleep 1011 ");
    assert_eq!(d.pid_of("c"), Some(pc));
    assert_eq!(d.ctl_ok(&["reread"]), "c: changed\n");
    d.ctl_ok(&["restart", "c"]);
    let pc2 = running_pid(&d, "c");
    assert!(
        pc2 != pc && cmdline(pc2) == "sleep 1002 ",
        "{}",
        cmdline(pc2)
    );
    assert_eq!(
        d.ctl_ok(&["update", "c"]),
        "c: stopped\nc: updated process group\n"
    );
    let pc3 = running_pid(&d, "c");
    assert_eq!(cmdline(pc3), "sleep 1012 ");
    assert_eq!(d.pid_of("a"), Some(pa2));
    assert_eq!(d.ctl_ok(&["reread"]), "No config updates to processes\n");
}

/// proctord keeps the config generations a pending group may still be spawned from, four
/// back: a group left pending through more updates of others than that is told, when it next
/// starts, to be updated, and the update brings it back.
#[test]
fn a_group_pending_past_the_kept_generations_is_told_to_update() {
    let d = Daemon::start(&format!(
        "{}{}",
        svc("a", "sleep 1000"),
        svc("c", "sleep 1002")
    ));
    running_pid(&d, "c");
    for n in 1..=5 {
        d.write_config(&format!(
            "{}{}",
            svc("a", &format!("sleep {}", 1000 + n)),
            svc("c", "sleep 1012")
        ));
        d.ctl_ok(&["update", "a"]);
    }
    d.ctl_ok(&["stop", "c"]);
    let o = d.ctl(&["start", "c"]);
    assert_ne!(o.status.code(), Some(0));
    let shown = format!("{}{}", stdout(&o), stderr(&o));
    assert!(
        shown.contains("is not one proctord keeps") && shown.contains("update the group"),
        "{shown}"
    );
    d.ctl_ok(&["update", "c"]);
    assert_eq!(cmdline(running_pid(&d, "c")), "sleep 1012 ");
}

#[test]
fn an_update_of_an_unknown_group_changes_nothing() {
    let d = Daemon::start(&format!(
        "{}{}",
        svc("a", "sleep 1000"),
        svc("b", "sleep 1001")
    ));
    let (pa, pb) = (running_pid(&d, "a"), running_pid(&d, "b"));
    d.write_config(&format!(
        "{}{}",
        svc("a", "sleep 1000"),
        svc("b", "sleep 1011")
    ));
    let o = d.ctl(&["update", "nosuch"]);
    assert_eq!(o.status.code(), Some(4));
    assert_eq!(stderr(&o), "proctorctl: no such group: nosuch\n");
    assert_eq!(d.pid_of("a"), Some(pa));
    assert_eq!(d.pid_of("b"), Some(pb));
    assert_eq!(d.ctl_ok(&["reread"]), "b: changed\n");
    // The refused update leaves the daemon able to (re)start its services.
    let o = d.ctl(&["restart", "a"]);
    assert_eq!(
        (o.status.code(), stdout(&o).as_str(), stderr(&o).as_str()),
        (Some(0), "a: stopped\na: started\n", ""),
        "restart after a refused update\ndaemon:\n{}",
        d.stderr()
    );
    let pa2 = running_pid(&d, "a");
    assert_eq!(cmdline(pa2), "sleep 1000 ");
    assert_eq!(
        d.ctl_ok(&["update"]),
        "b: stopped\nb: updated process group\n"
    );
    assert_eq!(cmdline(running_pid(&d, "b")), "sleep 1011 ");
}

#[test]
fn an_invalid_config_is_refused_and_the_old_one_kept() {
    let good = format!("{}{}", svc("a", "sleep 1000"), svc("b", "sleep 1001"));
    let d = Daemon::start(&good);
    let (pa, pb) = (running_pid(&d, "a"), running_pid(&d, "b"));
    // The header takes 7 lines: `startsecs = soon` is on line 10.
    d.write_config(&format!(
        "[program:a]\ncommand = sleep 1000\nstartsecs = soon\n{}{}",
        svc("b", "sleep 2001"),
        svc("c", "sleep 1002")
    ));
    let prefix = format!("proctorctl: {}:10: ", d.conf.display());
    for cmd in ["reread", "update"] {
        let o = d.ctl(&[cmd]);
        assert_eq!(o.status.code(), Some(1), "{cmd}: {o:?}");
        assert_eq!(stdout(&o), "", "{cmd}");
        let err = stderr(&o);
        assert!(
            err.starts_with(&prefix) && err.contains("startsecs") && err.ends_with('\n'),
            "{cmd}: {err}"
        );
        assert_eq!(err.lines().count(), 1, "{cmd}: {err}");
    }
    // The daemon runs on, with the old config and the same processes.
    assert_eq!(names(&d), ["a", "b"]);
    assert_eq!(d.pid_of("a"), Some(pa));
    assert_eq!(d.pid_of("b"), Some(pb));
    assert_eq!(d.ctl_ok(&["restart", "b"]), "b: stopped\nb: started\n");
    let pb2 = d.pid_of("b").unwrap();
    assert_eq!(
        cmdline(pb2),
        "sleep 1001 ",
        "restart uses the config in force"
    );
    assert!(!d.stderr().contains("panicked"), "{}", d.stderr());

    // Once fixed, the config applies.
    d.write_config(&format!("{good}{}", svc("c", "sleep 1002")));
    assert_eq!(d.ctl_ok(&["update"]), "c: added process group\n");
    running_pid(&d, "c");
    assert_eq!(d.pid_of("a"), Some(pa));
}
