//! Stock supervisorctl 4.3 and Python's XML-RPC client against proctor, side by side with
//! supervisord 4.3 running the same programs: the same output and exit codes, the same structs
//! and faults, or the test says why proctor differs on purpose.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
#![forbid(unsafe_code)]

use proctor_tests::supervisor::{
    self, calls, calls_as, differs, normalized, same_answers, supervisorctl, supervisorctl_as,
    Supervisord,
};
use proctor_tests::*;
use std::path::Path;
use std::time::Duration;

const T: Duration = Duration::from_secs(20);

/// Programs both daemons run: running, not started, a numbered pair, a group member.
const PROGRAMS: &str = "\
[program:sleeper]
command = sleep 1000
startsecs = 0

[program:idle]
command = sleep 1000
autostart = false

[program:pair]
command = sleep 1000
numprocs = 2
process_name = %(program_name)s_%(process_num)s
startsecs = 0

[group:grp]
programs = member

[program:member]
command = sleep 1000
startsecs = 0
";

fn all_running(python: &Path, socket: &Path) {
    wait_until("every autostarted process RUNNING", T, || {
        let o = supervisorctl(python, socket, &["status"]);
        let text = stdout(&o);
        (text.lines().filter(|l| l.contains("RUNNING")).count() == 4).then_some(())
    });
}

#[test]
fn stock_supervisorctl_reads_proctor_as_it_reads_supervisord() {
    let Some(python) =
        supervisor::python("stock_supervisorctl_reads_proctor_as_it_reads_supervisord")
    else {
        return;
    };
    let sv = Supervisord::start(&python, PROGRAMS);
    let d = Daemon::start(PROGRAMS);
    all_running(&python, &sv.socket);
    all_running(&python, &d.socket);
    let commands: &[&[&str]] = &[
        &["status"],
        &["status", "sleeper"],
        &["status", "grp:*"],
        &["status", "pair:pair_1", "idle"],
        &["status", "nosuch"],
        &["status", "grp:nosuch"],
        &["pid", "sleeper"],
        &["pid", "grp:member"],
        &["pid", "nosuch"],
        &["pid", "all"],
        &["avail"],
    ];
    let differences: Vec<String> = commands
        .iter()
        .filter_map(|args| differs(&python, &sv.socket, &d.socket, args, false))
        .collect();
    assert!(differences.is_empty(), "{}", differences.join("\n"));

    // Starting, stopping and signalling, in this order on each daemon. Lines are compared
    // sorted: for a group or `all`, supervisord prints its results as its deferred calls end.
    let acting: &[&[&str]] = &[
        &["stop", "sleeper"],
        &["stop", "sleeper"],
        &["start", "sleeper"],
        &["start", "sleeper"],
        &["start", "nosuch"],
        &["stop", "nosuch:*"],
        &["restart", "sleeper"],
        &["restart", "pair:*"],
        &["stop", "grp:*"],
        &["start", "grp:*", "idle"],
        &["signal", "CONT", "sleeper"],
        &["signal", "BOGUS", "sleeper"],
        &["signal", "CONT", "pair:*"],
        &["stop", "idle"],
        &["signal", "CONT", "idle"],
        &["stop", "all"],
        &["start", "all"],
        &["restart", "all"],
        &["status"],
    ];
    let differences: Vec<String> = acting
        .iter()
        .filter_map(|args| differs(&python, &sv.socket, &d.socket, args, true))
        .collect();
    assert!(differences.is_empty(), "{}", differences.join("\n"));

    // `pid` alone is the daemon's: proctord's, as supervisord's is its own.
    let o = supervisorctl(&python, &d.socket, &["pid"]);
    assert_eq!(stdout(&o).trim(), d.pid().to_string());
    let o = supervisorctl(&python, &sv.socket, &["pid"]);
    assert_eq!(stdout(&o).trim(), sv.pid().to_string());
    // Differs on purpose: `version` says what answers, proctor's own version.
    let o = supervisorctl(&python, &d.socket, &["version"]);
    assert_eq!(
        stdout(&o).trim(),
        env!("CARGO_PKG_VERSION"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn xml_rpc_answers_and_faults_are_supervisords() {
    let Some(python) = supervisor::python("xml_rpc_answers_and_faults_are_supervisords") else {
        return;
    };
    let sv = Supervisord::start(&python, PROGRAMS);
    let d = Daemon::start(PROGRAMS);
    all_running(&python, &sv.socket);
    all_running(&python, &d.socket);
    use serde_json::json;
    let same: Vec<(&str, serde_json::Value)> = vec![
        ("supervisor.getAPIVersion", json!([])),
        ("supervisor.getVersion", json!([])),
        ("supervisor.getIdentification", json!([])),
        ("supervisor.getState", json!([])),
        ("supervisor.getProcessInfo", json!(["sleeper"])),
        ("supervisor.getProcessInfo", json!(["idle"])),
        ("supervisor.getProcessInfo", json!(["pair:pair_0"])),
        ("supervisor.getProcessInfo", json!(["grp:member"])),
        // As supervisord: a bare name is the process of that name in the group of that name.
        ("supervisor.getProcessInfo", json!(["member"])),
        ("supervisor.getProcessInfo", json!(["pair_0"])),
        ("supervisor.getProcessInfo", json!(["grp:*"])),
        ("supervisor.getProcessInfo", json!(["nosuch"])),
        ("supervisor.getAllProcessInfo", json!([])),
        ("supervisor.getAllConfigInfo", json!([])),
        ("supervisor.getProcessInfo", json!([])),
        ("supervisor.getAllProcessInfo", json!([1])),
        ("supervisor.noSuchMethod", json!([])),
        ("nosuch.getPID", json!([])),
        ("supervisor._getAllProcesses", json!([])),
        (
            "system.methodSignature",
            json!(["supervisor.getProcessInfo"]),
        ),
        ("system.methodSignature", json!(["supervisor.nosuch"])),
        ("system.methodHelp", json!(["supervisor.nosuch"])),
        (
            "system.multicall",
            json!([[
                {"methodName": "supervisor.getProcessInfo", "params": ["sleeper"]},
                {"methodName": "supervisor.getProcessInfo", "params": ["nosuch"]},
                {"methodName": "system.multicall", "params": [[]]},
                {"params": []},
                {"methodName": "supervisor.getAPIVersion"}
            ]]),
        ),
    ];
    same_answers(&python, &sv.socket, &d.socket, &same);
    // Starts, stops and signals, in this order on each daemon: the same answers and faults.
    let acting: Vec<(&str, serde_json::Value)> = vec![
        ("supervisor.stopProcess", json!(["sleeper"])),
        ("supervisor.stopProcess", json!(["sleeper"])),
        ("supervisor.startProcess", json!(["sleeper"])),
        ("supervisor.startProcess", json!(["sleeper", true])),
        ("supervisor.startProcess", json!(["nosuch"])),
        ("supervisor.stopProcess", json!(["grp:nosuch"])),
        ("supervisor.startProcess", json!([])),
        ("supervisor.stopProcessGroup", json!(["pair"])),
        ("supervisor.stopProcessGroup", json!(["nosuch"])),
        ("supervisor.startProcessGroup", json!(["pair", true])),
        ("supervisor.stopProcess", json!(["pair:*"])),
        ("supervisor.startProcess", json!(["pair:*"])),
        ("supervisor.signalProcess", json!(["sleeper", "CONT"])),
        ("supervisor.signalProcess", json!(["sleeper", "BOGUS"])),
        ("supervisor.signalProcess", json!(["idle", "CONT"])),
        ("supervisor.signalProcessGroup", json!(["pair", "CONT"])),
        ("supervisor.signalAllProcesses", json!(["CONT"])),
        ("supervisor.stopProcess", json!(["idle"])),
        ("supervisor.startProcess", json!(["idle", false])),
        ("supervisor.stopAllProcesses", json!([])),
        // Stopped by SIGTERM: exit status -1, as Supervisor reports any death by a signal.
        ("supervisor.getProcessInfo", json!(["sleeper"])),
        ("supervisor.stopAllProcesses", json!([])),
        ("supervisor.startAllProcesses", json!([true])),
        ("supervisor.getAllProcessInfo", json!([])),
    ];
    same_answers(&python, &sv.socket, &d.socket, &acting);
    // The daemon's pid: proctord's.
    let pid = calls(&python, &d.socket, &[("supervisor.getPID", json!([]))]);
    assert_eq!(pid[0]["ok"], json!(d.pid()));
    // Every method proctor lists is one supervisord has, with the same signature.
    let listed = calls(&python, &d.socket, &[("system.listMethods", json!([]))]);
    let theirs = calls(&python, &sv.socket, &[("system.listMethods", json!([]))]);
    let names: Vec<&str> = listed[0]["ok"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    let known: Vec<&str> = theirs[0]["ok"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    // Every method of supervisord's, no more and no fewer, sorted as supervisord sorts them.
    assert_eq!(
        names, known,
        "proctor's listMethods (left) and supervisord's (right)"
    );
    let sigs: Vec<(&str, serde_json::Value)> = names
        .iter()
        .map(|n| ("system.methodSignature", json!([n])))
        .collect();
    let (ours, theirs) = (
        calls(&python, &d.socket, &sigs),
        calls(&python, &sv.socket, &sigs),
    );
    for ((n, o), t) in names.iter().zip(ours).zip(theirs) {
        assert!(known.contains(n), "{n} is not one of supervisord's methods");
        assert_eq!(o, t, "the signature of {n}");
    }
}

/// `user`'s audit records that `keep` keeps, each as `kind action decision targets`.
fn audit_summary(
    audit: &Path,
    user: &str,
    keep: impl Fn(&serde_json::Value) -> bool,
) -> Vec<String> {
    std::fs::read_to_string(audit)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|r| r["user"] == user && keep(r))
        .map(|r| {
            format!(
                "{} {} {} {}",
                r["kind"].as_str().unwrap_or_default(),
                r["action"].as_str().unwrap_or_default(),
                r["decision"].as_str().unwrap_or_default(),
                r["targets"]
            )
        })
        .collect()
}

/// As root with a policy: stock supervisorctl, run by a staff member, sees what the policy lets
/// her see, is refused the rest, and every call is in the audit log under her name.
#[test]
fn stock_supervisorctl_is_decided_by_the_policy_and_audited() {
    use proctor_tests::root;
    if root::skip("stock_supervisorctl_is_decided_by_the_policy_and_audited") {
        return;
    }
    let Some(python) =
        supervisor::python("stock_supervisorctl_is_decided_by_the_policy_and_audited")
    else {
        return;
    };
    let alice = ensure_account("proctest-alice");
    ensure_account("proctest-plain");
    let text = "admins = []\n\n[[allow]]\nwho = [\"proctest-alice\"]\nactions = [\"status\"]\nprograms = [\"web\"]\n\n\
                [[allow]]\nwho = [\"proctest-alice\"]\nactions = [\"avail\", \"events\"]\nprograms = [\"*\"]\n";
    let (_pdir, audit, d) = proctor_tests::root::RootDaemon::under_policy(
        "[program:web]\ncommand = sleep 1000\nuser = proctest-plain\nstartsecs = 0\n\n\
         [program:other]\ncommand = sleep 1000\nuser = proctest-plain\nstartsecs = 0\n",
        text,
    );
    let web = d.running_pid("web");
    d.running_pid("other");
    d.open_socket_to_all();

    let o = supervisorctl_as(&python, &d.socket, &alice, &["status"]);
    let lines: Vec<String> = stdout(&o).lines().map(normalized).collect();
    assert_eq!(
        lines,
        // supervisorctl's columns: the name padded to 33, the state to 10.
        vec![normalized(&format!(
            "{:<33}{:<10}pid {web}, uptime 0:00:01",
            "web", "RUNNING"
        ))],
        "{}",
        stderr(&o)
    );
    assert_eq!(o.status.code(), Some(0));
    // `pid other` asks for a process she may not see: refused, with the policy's reason.
    let o = supervisorctl_as(&python, &d.socket, &alice, &["pid", "other"]);
    let shown = format!("{}{}", stdout(&o), stderr(&o));
    assert!(
        shown.contains("permission denied: proctest-alice may not status other"),
        "{shown}"
    );
    assert_ne!(o.status.code(), Some(0));

    // A multicall is as many requests as it holds calls, for the rate of her account too: past
    // the burst the rest are refused unrun, and unrecorded.
    let many: Vec<serde_json::Value> = (0..300)
        .map(|_| serde_json::json!({"methodName": "supervisor.getPID", "params": []}))
        .collect();
    let mut as_bob = std::process::Command::new(&python);
    let bob = ensure_account("proctest-bob");
    {
        use std::os::unix::process::CommandExt;
        as_bob.uid(bob.uid).gid(bob.gid).env("HOME", "/nonexistent");
    }
    let answers = calls_as(
        as_bob,
        &d.socket,
        &[("system.multicall", serde_json::json!([many]))],
    );
    let results = answers[0]["ok"].as_array().unwrap();
    assert_eq!(results.len(), 300);
    let refused = results
        .iter()
        .filter(|r| {
            r["faultString"]
                .as_str()
                .is_some_and(|s| s.starts_with("FAILED: too many requests from proctest-bob"))
        })
        .count();
    assert!(
        (150..300).contains(&refused),
        "{refused} refused: {results:?}"
    );
    let recorded = audit_summary(&audit, "proctest-bob", |r| r["kind"] == "request").len();
    assert_eq!(
        recorded + refused,
        300,
        "each call ran and was recorded, or was refused"
    );

    // Her calls are recorded under her name: each allowed one with its outcome, the refused
    // one as a denial. (getVersion, supervisorctl's check before each command, is not.)
    let summary = audit_summary(&audit, "proctest-alice", |_| true);
    assert_eq!(
        summary,
        vec![
            "request status allow [\"web:web\"]",
            "outcome status allow [\"web:web\"]",
            "request status deny [\"other:other\"]",
        ],
        "{summary:#?}"
    );

    // What is configured, but not the command lines: a config kept from other accounts may
    // hold secrets in them. Root sees them.
    let info = |who: Option<&Account>| {
        let q = [("supervisor.getAllConfigInfo", serde_json::json!([]))];
        // As `who`, or as root.
        let mut c = std::process::Command::new(&python);
        if let Some(a) = who {
            use std::os::unix::process::CommandExt;
            c.uid(a.uid).gid(a.gid).env("HOME", "/nonexistent");
        }
        let answers = calls_as(c, &d.socket, &q);
        answers[0]["ok"]
            .as_array()
            .unwrap_or_else(|| panic!("{answers:?}"))
            .iter()
            .map(|p| format!("{} {} {}", p["name"], p["command"], p["directory"]))
            .collect::<Vec<_>>()
    };
    assert_eq!(
        info(Some(&alice)),
        ["\"other\" \"\" \"none\"", "\"web\" \"\" \"none\""]
    );
    assert_eq!(
        info(None),
        [
            "\"other\" \"sleep 1000\" \"none\"",
            "\"web\" \"sleep 1000\" \"none\""
        ]
    );

    // Events: only those of the processes she may see.
    let o = d.ctl_as(&alice, &["events", "--json"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let processes: std::collections::BTreeSet<String> = stdout(&o)
        .lines()
        .filter_map(|l| {
            let v = serde_json::from_str::<serde_json::Value>(l).unwrap();
            Some(v.get("event")?["process"].as_str().unwrap().to_owned())
        })
        .collect();
    assert_eq!(
        processes.into_iter().collect::<Vec<_>>(),
        ["web"],
        "{}",
        stdout(&o)
    );
    let o = d.ctl(&["events", "--json"]);
    assert!(stdout(&o).contains("\"other\""), "root sees every process");

    // Her stdin is not hers to write to: refused, saying why.
    let sent = calls_as(
        {
            let mut c = std::process::Command::new(&python);
            use std::os::unix::process::CommandExt;
            c.uid(alice.uid).gid(alice.gid).env("HOME", "/nonexistent");
            c
        },
        &d.socket,
        &[(
            "supervisor.sendProcessStdin",
            serde_json::json!(["web", "x\n"]),
        )],
    );
    assert_eq!(sent[0]["fault"][0], 30, "{sent:?}");
    assert!(
        sent[0]["fault"][1]
            .as_str()
            .unwrap()
            .starts_with("FAILED: permission denied: proctest-alice may not stdin web:web"),
        "{sent:?}"
    );

    // Logs she may not read or clear: one line with the policy's reason (HTTP 403, which these
    // commands print as it is), a non-zero exit, and a denial in the audit log each.
    for (args, action) in [
        (&["tail", "web"][..], "tail web"),
        (&["tail", "web", "stderr"], "tail web"),
        (&["clear", "web"], "clear web"),
        (&["maintail"], "maintail the daemon"),
    ] {
        let o = supervisorctl_as(&python, &d.socket, &alice, args);
        let shown = format!("{}{}", stdout(&o), stderr(&o));
        assert!(
            shown.contains(&format!(
                "403 permission denied: proctest-alice may not {action}"
            )),
            "{args:?}: {shown}"
        );
        assert_ne!(o.status.code(), Some(0), "{args:?}: {shown}");
    }
    for args in [&["tail", "-f", "web"][..], &["maintail", "-f"]] {
        let o = supervisorctl_as(&python, &d.socket, &alice, args);
        let shown = format!("{}{}", stdout(&o), stderr(&o));
        assert!(
            shown.contains("Cannot read, status code 403"),
            "{args:?}: {shown}"
        );
    }
    let denied = audit_summary(&audit, "proctest-alice", |r| r["decision"] == "deny");
    assert_eq!(
        denied,
        vec![
            "request status deny [\"other:other\"]",
            "request stdin deny [\"web:web\"]",
            "request tail deny [\"web:web\"]",
            "request tail deny [\"web:web\"]",
            "request clear deny [\"web:web\"]",
            "request maintail deny []",
            "request tail deny [\"web:web\"]",
            "request maintail deny []",
        ],
        "{denied:#?}"
    );
}

/// A staff member allowed to restart `web`, but not to stop or start it, restarts it with stock
/// supervisorctl (a stop, then a start): both halves are let through and recorded as the
/// restart. A stop alone is the first half of a restart that proctor completes itself. Someone
/// without the right is told why, in one line per call, and nothing happens.
#[test]
fn a_restart_right_restarts_with_stock_supervisorctl_and_never_leaves_the_service_stopped() {
    use proctor_tests::root;
    const TEST: &str =
        "a_restart_right_restarts_with_stock_supervisorctl_and_never_leaves_the_service_stopped";
    if root::skip(TEST) {
        return;
    }
    let Some(python) = supervisor::python(TEST) else {
        return;
    };
    let alice = ensure_account("proctest-alice");
    let bob = ensure_account("proctest-bob");
    ensure_account("proctest-plain");
    let text = "admins = []\n\n\
                [[allow]]\nwho = [\"proctest-alice\"]\nactions = [\"status\", \"restart\"]\nprograms = [\"web\"]\n\n\
                [[allow]]\nwho = [\"proctest-bob\"]\nactions = [\"status\"]\nprograms = [\"web\"]\n";
    let (_pdir, audit, d) = proctor_tests::root::RootDaemon::under_policy(
        "[program:web]\ncommand = sleep 1000\nuser = proctest-plain\nstartsecs = 0\n",
        text,
    );
    let first = d.running_pid("web");
    d.open_socket_to_all();
    let records = |user: &str| audit_summary(&audit, user, |r| r["action"] != "status");

    // alice restarts: both halves through, both recorded as the restart.
    let o = supervisorctl_as(&python, &d.socket, &alice, &["restart", "web"]);
    assert_eq!(
        (stdout(&o).as_str(), o.status.code()),
        ("web: stopped\nweb: started\n", Some(0)),
        "{}",
        stderr(&o)
    );
    let second = d.running_pid("web");
    assert_ne!(second, first);
    assert_eq!(
        records("proctest-alice"),
        [
            "request restart allow [\"web:web\"]",
            "outcome restart allow [\"web\"]",
            "request restart allow [\"web:web\"]",
            "outcome restart allow [\"web\"]",
        ]
    );

    // A stop alone is a first half: proctor completes the restart itself, on its own record.
    let o = supervisorctl_as(&python, &d.socket, &alice, &["stop", "web"]);
    assert_eq!(stdout(&o), "web: stopped\n", "{}", stderr(&o));
    let third = wait_until(
        "web started again by proctor",
        Duration::from_secs(15),
        || {
            let pid = d.running_pid("web");
            (pid != second).then_some(pid)
        },
    );
    assert_ne!(third, second);
    let own: Vec<serde_json::Value> = std::fs::read_to_string(&audit)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|r| r["user"] == "proctest-ctl")
        .collect();
    assert_eq!(own.len(), 2, "{own:#?}");
    assert_eq!(own[0]["action"], "start");
    assert!(
        own[0]["rule"]
            .as_str()
            .unwrap_or_default()
            .starts_with("completes the restart of web:web that proctest-alice began"),
        "{own:#?}"
    );
    // A start without a stop before it is no half of anything: refused, with the reason in
    // the one line supervisorctl prints (HTTP 403's reason phrase).
    let o = supervisorctl_as(&python, &d.socket, &alice, &["start", "web"]);
    let shown = format!("{}{}", stdout(&o), stderr(&o));
    assert!(
        shown.contains("403 permission denied: proctest-alice may not start web"),
        "{shown}"
    );
    assert_eq!(o.status.code(), Some(1));

    // bob may only look: each half refused with its reason, and web keeps running.
    let o = supervisorctl_as(&python, &d.socket, &bob, &["restart", "web"]);
    let shown = format!("{}{}", stdout(&o), stderr(&o));
    let lines: Vec<&str> = shown.lines().collect();
    assert_eq!(lines.len(), 2, "{shown}");
    assert!(
        lines[0].starts_with("FAILED: permission denied: proctest-bob may not stop web:web"),
        "{shown}"
    );
    assert!(
        lines[1].contains("403 permission denied: proctest-bob may not start web:web"),
        "{shown}"
    );
    assert_eq!(o.status.code(), Some(1));
    let o = supervisorctl_as(&python, &d.socket, &bob, &["signal", "HUP", "web"]);
    assert!(
        stdout(&o).starts_with("FAILED: permission denied: proctest-bob may not signal web:web"),
        "{}",
        stdout(&o)
    );
    assert_eq!(d.running_pid("web"), third);
    assert_eq!(
        records("proctest-bob"),
        [
            "request stop deny [\"web:web\"]",
            "request start deny [\"web:web\"]",
            "request signal deny [\"web:web\"]",
        ]
    );
}

/// Ansible's `community.general.supervisorctl` module (which drives stock supervisorctl: an
/// `update`, a `status`, then `restart NAME`) restarts `web` for a staff member the policy
/// allows, and fails cleanly, saying why, for one it does not; both are in the audit log.
#[test]
fn the_ansible_module_restarts_for_an_allowed_user_and_fails_cleanly_for_a_denied_one() {
    use proctor_tests::root;
    const TEST: &str =
        "the_ansible_module_restarts_for_an_allowed_user_and_fails_cleanly_for_a_denied_one";
    if root::skip(TEST) {
        return;
    }
    let Some(python) = supervisor::python(TEST) else {
        return;
    };
    let bin = python.parent().unwrap().to_path_buf();
    if !bin.join("ansible").exists() {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI installs ansible==12.3.0 next to supervisor (.ci/run)"
        );
        println!(
            "SKIP: {TEST}: no ansible next to {} (.ci/run installs ansible==12.3.0)",
            python.display()
        );
        return;
    }
    let alice = ensure_account("proctest-alice");
    let bob = ensure_account("proctest-bob");
    ensure_account("proctest-plain");
    // `state=restarted` runs `supervisorctl update` first: a reread, with nothing to apply.
    let text = "admins = []\n\n\
                [[allow]]\nwho = [\"proctest-alice\"]\nactions = [\"status\", \"restart\"]\nprograms = [\"web\"]\n\n\
                [[allow]]\nwho = [\"proctest-bob\"]\nactions = [\"status\"]\nprograms = [\"web\"]\n\n\
                [[allow]]\nwho = [\"proctest-alice\", \"proctest-bob\"]\nactions = [\"reread\"]\nprograms = [\"*\"]\n";
    let (_pdir, audit, d) = proctor_tests::root::RootDaemon::under_policy(
        "[program:web]\ncommand = sleep 1000\nuser = proctest-plain\nstartsecs = 0\n",
        text,
    );
    let first = d.running_pid("web");
    d.open_socket_to_all();
    let ansible = |who: &Account| {
        use std::os::unix::process::CommandExt;
        // Ansible's own files, where the account may write them.
        let home = tempfile::tempdir().unwrap();
        nix::unistd::chown(home.path(), Some(who.uid.into()), Some(who.gid.into())).unwrap();
        let o = std::process::Command::new(bin.join("ansible"))
            .uid(who.uid)
            .gid(who.gid)
            .env_clear()
            .env("PATH", format!("{}:/usr/bin:/bin", bin.display()))
            .env("HOME", home.path())
            .env("ANSIBLE_HOME", home.path())
            .env("ANSIBLE_LOCAL_TEMP", home.path().join("tmp"))
            .env("ANSIBLE_REMOTE_TMP", home.path().join("tmp"))
            .env("ANSIBLE_STDOUT_CALLBACK", "json")
            .env("ANSIBLE_LOAD_CALLBACK_PLUGINS", "1")
            .args(["localhost", "-i", "localhost,", "-c", "local", "-m"])
            .arg("community.general.supervisorctl")
            .arg("-e")
            .arg(format!("ansible_python_interpreter={}", python.display()))
            .arg("-a")
            .arg(format!(
                "name=web state=restarted server_url=unix://{}",
                d.socket.display()
            ))
            .stdin(std::process::Stdio::null())
            .output()
            .unwrap();
        let text = stdout(&o);
        let json: serde_json::Value =
            serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}\n{}", stderr(&o)));
        let result = json["plays"][0]["tasks"][0]["hosts"]["localhost"].clone();
        (o.status.code(), result)
    };

    let (code, result) = ansible(&alice);
    assert_eq!(code, Some(0), "{result:#}");
    assert_eq!(result["changed"], true, "{result:#}");
    assert_eq!(result["affected"], serde_json::json!(["web"]), "{result:#}");
    let second = d.running_pid("web");
    assert_ne!(second, first);

    let (code, result) = ansible(&bob);
    assert_eq!(code, Some(2), "{result:#}");
    assert_eq!(result["failed"], true, "{result:#}");
    // supervisorctl's restart is a stop and a start: each refused, each saying why.
    let msg = format!("{}{}", result["msg"], result["stdout"]);
    assert!(
        msg.contains("FAILED: permission denied: proctest-bob may not stop web:web")
            && msg.contains("403 permission denied: proctest-bob may not start web:web"),
        "{result:#}"
    );
    // Nothing happened to web.
    assert_eq!(d.running_pid("web"), second);
    let records = |user: &str| audit_summary(&audit, user, |r| r["kind"] == "request");
    assert!(
        records("proctest-alice").contains(&"request restart allow [\"web:web\"]".to_owned()),
        "{:#?}",
        records("proctest-alice")
    );
    assert_eq!(
        records("proctest-bob")
            .iter()
            .filter(|r| r.contains(" deny "))
            .collect::<Vec<_>>(),
        [
            "request stop deny [\"web:web\"]",
            "request start deny [\"web:web\"]"
        ],
        "{:#?}",
        records("proctest-bob")
    );
}
