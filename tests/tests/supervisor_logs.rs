//! Logs through Supervisor's clients: stock supervisorctl's `tail`, `tail -f`, `clear` and
//! `maintail`, and the XML-RPC read, tail and clear methods, side by side with supervisord 4.3
//! running the same programs.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
#![forbid(unsafe_code)]

use proctor_tests::supervisor::{self, calls, differs, same_answers, supervisorctl, Supervisord};
use proctor_tests::*;
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

const T: Duration = Duration::from_secs(20);

/// A program that says two lines and one on stderr, one without a stdout log, one whose
/// stderr goes to its stdout log.
const PROGRAMS: &str = "\
[program:talker]
command = sh -c 'echo line1; echo line2; echo err1 >&2; exec sleep 1000'
startsecs = 0

[program:quiet]
command = sleep 1000
startsecs = 0
stdout_logfile = NONE

[program:merged]
command = sh -c 'echo both; exec sleep 1000'
startsecs = 0
redirect_stderr = true
";

/// A proctor test daemon on `PROGRAMS` that also keeps `[supervisord] logfile=`, as the
/// supervisord of these tests does.
fn daemon() -> Daemon {
    daemon_with(PROGRAMS)
}

fn daemon_with(programs: &str) -> Daemon {
    let d = Daemon::prepare(programs);
    let conf = std::fs::read_to_string(&d.conf).unwrap().replacen(
        "[supervisord]\n",
        &format!(
            "[supervisord]\nlogfile = {}\n",
            d.path("proctord.log").display()
        ),
        1,
    );
    std::fs::write(&d.conf, conf).unwrap();
    d.launch()
}

fn talked(python: &Path, socket: &Path) {
    wait_until("talker's lines in its logs", T, || {
        let out = stdout(&supervisorctl(python, socket, &["tail", "talker"]));
        let err = stdout(&supervisorctl(
            python,
            socket,
            &["tail", "talker", "stderr"],
        ));
        (out.contains("line2") && err.contains("err1")).then_some(())
    });
}

#[test]
fn logs_read_and_clear_through_stock_clients_as_supervisord() {
    let Some(python) =
        supervisor::python("logs_read_and_clear_through_stock_clients_as_supervisord")
    else {
        return;
    };
    let sv = Supervisord::start(&python, PROGRAMS);
    let d = daemon();
    talked(&python, &sv.socket);
    talked(&python, &d.socket);
    use serde_json::json;
    let reads: Vec<(&str, serde_json::Value)> = vec![
        ("supervisor.readProcessStdoutLog", json!(["talker", 0, 0])),
        ("supervisor.readProcessStdoutLog", json!(["talker", -6, 0])),
        ("supervisor.readProcessStdoutLog", json!(["talker", 2, 3])),
        ("supervisor.readProcessStdoutLog", json!(["talker", 100, 0])),
        ("supervisor.readProcessStdoutLog", json!(["talker", -1, 1])),
        ("supervisor.readProcessStdoutLog", json!(["talker", 0, -1])),
        ("supervisor.readProcessLog", json!(["talker", -100, 0])),
        ("supervisor.readProcessStderrLog", json!(["talker", 0, 0])),
        ("supervisor.readProcessStdoutLog", json!(["nosuch", 0, 0])),
        ("supervisor.readProcessStdoutLog", json!(["grp:*", 0, 0])),
        ("supervisor.readProcessStdoutLog", json!(["quiet", 0, 0])),
        ("supervisor.readProcessStderrLog", json!(["merged", 0, 0])),
        ("supervisor.readProcessStdoutLog", json!(["merged", 0, 0])),
        ("supervisor.readProcessStdoutLog", json!(["talker"])),
        ("supervisor.tailProcessStdoutLog", json!(["talker", 0, 5])),
        ("supervisor.tailProcessStdoutLog", json!(["talker", 12, 5])),
        ("supervisor.tailProcessStdoutLog", json!(["talker", 4, 5])),
        ("supervisor.tailProcessStdoutLog", json!(["talker", 0, 100])),
        ("supervisor.tailProcessLog", json!(["talker", -3, -3])),
        ("supervisor.tailProcessStderrLog", json!(["talker", 0, 3])),
        ("supervisor.tailProcessStdoutLog", json!(["quiet", 0, 3])),
        ("supervisor.tailProcessStdoutLog", json!(["nosuch", 0, 3])),
        ("supervisor.readLog", json!([-5, 5])),
        ("supervisor.readLog", json!([0, -5])),
    ];
    same_answers(&python, &sv.socket, &d.socket, &reads);

    // supervisorctl's commands, in this order on each daemon.
    let commands: &[&[&str]] = &[
        &["tail", "talker"],
        &["tail", "-6", "talker"],
        &["tail", "talker", "stderr"],
        &["tail", "merged"],
        &["tail", "quiet"],
        &["tail", "nosuch"],
        &["tail", "-x", "talker"],
        &["tail", "talker", "bogus"],
        &["clear", "talker"],
        &["tail", "talker"],
        &["tail", "talker", "stderr"],
        &["clear", "nosuch"],
        &["clear", "quiet", "merged"],
        &["tail", "merged"],
    ];
    let differences: Vec<String> = commands
        .iter()
        .filter_map(|args| differs(&python, &sv.socket, &d.socket, args, false))
        .collect();
    assert!(differences.is_empty(), "{}", differences.join("\n"));
    let all: &[&str] = &["clear", "all"];
    let diff = differs(&python, &sv.socket, &d.socket, all, true);
    assert!(diff.is_none(), "{}", diff.unwrap_or_default());
    let cleared = calls(
        &python,
        &d.socket,
        &[
            ("supervisor.clearAllProcessLogs", json!([])),
            ("supervisor.clearProcessLogs", json!(["nosuch"])),
        ],
    );
    assert_eq!(
        cleared[0]["ok"].as_array().map(Vec::len),
        Some(3),
        "{cleared:?}"
    );
    assert_eq!(cleared[1], json!({"fault": [10, "BAD_NAME: nosuch"]}));

    // The daemon's own log: its content is each daemon's own, so only proctor's is read.
    let o = supervisorctl(&python, &d.socket, &["maintail"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stdout(&o).contains("proctor-controld ready"),
        "{}",
        stdout(&o)
    );
    let o = supervisorctl(&python, &d.socket, &["maintail", "-40"]);
    assert!(stdout(&o).trim().len() <= 40, "{}", stdout(&o));
    let read = calls(
        &python,
        &d.socket,
        &[
            ("supervisor.clearLog", json!([])),
            ("supervisor.readLog", json!([0, 0])),
        ],
    );
    assert_eq!(read[0], json!({"ok": true}));
    assert!(
        !read[1]["ok"]
            .as_str()
            .unwrap()
            .contains("proctor-controld ready"),
        "cleared: {read:?}"
    );
}

/// `supervisorctl tail -f` (and `maintail -f`) gets what was written last and then what is
/// written, and when it is interrupted, proctor lets the stream go: a hung-up follower holds no
/// descriptor, however quiet its log.
#[test]
fn tail_f_follows_and_ends_when_supervisorctl_hangs_up() {
    let Some(python) = supervisor::python("tail_f_follows_and_ends_when_supervisorctl_hangs_up")
    else {
        return;
    };
    let d = daemon();
    talked(&python, &d.socket);
    let controld = d.controld_pid().unwrap();
    // The descriptors a quiet controld holds.
    let quiet = wait_until("controld's descriptors to settle", T, || {
        let a = fd_count(controld);
        std::thread::sleep(Duration::from_millis(200));
        (fd_count(controld) == a).then_some(a)
    });
    for round in 0..3 {
        let follower = following(&python, &d.socket, &["tail", "-f", "talker"]);
        wait_until("the last lines first", T, || {
            follower.seen().contains("line2").then_some(())
        });
        // What the restarted program says arrives through the same stream.
        let before = follower.seen().matches("line1").count();
        d.ctl_ok(&["restart", "talker"]);
        wait_until("the new lines", T, || {
            (follower.seen().matches("line1").count() > before).then_some(())
        });
        follower.interrupt();
        wait_until(
            &format!("round {round}: the hung-up follower's descriptors closed"),
            T,
            || (fd_count(controld) <= quiet).then_some(()),
        );
    }
    // maintail -f: the daemon log, then what the daemon writes next.
    let follower = following(&python, &d.socket, &["maintail", "-f"]);
    wait_until("the end of the daemon log", T, || {
        follower.seen().contains("Press Ctrl-C").then_some(())
    });
    let before = follower.seen().matches("quiet").count();
    d.ctl_ok(&["restart", "quiet"]);
    wait_until("the daemon's lines about the restart", T, || {
        (follower.seen().matches("quiet").count() > before).then_some(())
    });
    follower.interrupt();
    wait_until("the maintail follower's descriptors closed", T, || {
        (fd_count(controld) <= quiet).then_some(())
    });
}

/// A stock supervisorctl command that follows (`tail -f`, `maintail -f`), running.
fn following(python: &Path, socket: &Path, args: &[&str]) -> Running {
    Running::of(supervisor::supervisorctl_command(python, socket, args))
}

/// What a service sees of its supervisor: the SUPERVISOR_* variables supervisord gives, with
/// the daemon's own socket as SUPERVISOR_SERVER_URL, or the program's `serverurl=`.
#[test]
fn services_see_the_variables_supervisord_gives() {
    let Some(python) = supervisor::python("services_see_the_variables_supervisord_gives") else {
        return;
    };
    const ENV: &str = "\
[program:env]
command = sh -c 'env | grep ^SUPERVISOR_ | sort; exec sleep 1000'
startsecs = 0

[program:own]
command = sh -c 'echo $SUPERVISOR_SERVER_URL; exec sleep 1000'
startsecs = 0
serverurl = unix:///run/elsewhere.sock

[group:g]
programs = own
";
    let sv = Supervisord::start(&python, ENV);
    let d = Daemon::start(ENV);
    let seen = |socket: &Path| {
        let (env, own) = wait_until("the variables in the logs", T, || {
            let env = stdout(&supervisorctl(&python, socket, &["tail", "env"]));
            let own = stdout(&supervisorctl(&python, socket, &["tail", "g:own"]));
            (env.contains("SUPERVISOR_SERVER_URL") && own.contains("unix://")).then_some((env, own))
        });
        let url = format!("unix://{}", socket.display());
        (env.replace(&url, "unix://SOCKET"), own)
    };
    let (theirs, ours) = (seen(&sv.socket), seen(&d.socket));
    assert_eq!(ours, theirs);
    assert_eq!(
        ours.0,
        "SUPERVISOR_ENABLED=1\nSUPERVISOR_GROUP_NAME=env\nSUPERVISOR_PROCESS_NAME=env\n\
         SUPERVISOR_SERVER_URL=unix://SOCKET\n\n"
    );
    assert_eq!(ours.1, "unix:///run/elsewhere.sock\n\n");
}

/// What superlance's listeners do: a supervised program finds the daemon through its
/// SUPERVISOR_SERVER_URL with `supervisor.childutils.getRPCInterface` and makes several calls on
/// that one proxy (a restart is a stop and a start). Each answer closes its connection, and the
/// transport opens the next: every call works, as against supervisord.
#[test]
fn a_service_calls_back_through_childutils_as_superlance_does() {
    let Some(python) =
        supervisor::python("a_service_calls_back_through_childutils_as_superlance_does")
    else {
        return;
    };
    let script = "import os; from supervisor import childutils; \
                  r = childutils.getRPCInterface(os.environ); s = r.supervisor; \
                  before = s.getProcessInfo('sleeper')['pid']; \
                  print(s.getProcessInfo('sleeper')['statename']); \
                  print(s.stopProcess('sleeper'), s.startProcess('sleeper')); \
                  print(s.getProcessInfo('sleeper')['pid'] != before, s.getAPIVersion())";
    let programs = format!(
        "[program:sleeper]\ncommand = sleep 1000\nstartsecs = 0\npriority = 1\n\n\
         [program:watcher]\ncommand = {} -c \"{script}\"\nstartsecs = 0\nautorestart = false\n\
         priority = 2\n",
        python.display()
    );
    let sv = Supervisord::start(&python, &programs);
    let d = Daemon::start(&programs);
    let said = |socket: &Path| {
        wait_until("the watcher's answers", T, || {
            let out = stdout(&supervisorctl(&python, socket, &["tail", "watcher"]));
            (out.lines().count() >= 3).then_some(out)
        })
    };
    let (theirs, ours) = (said(&sv.socket), said(&d.socket));
    assert_eq!(ours, "RUNNING\nTrue True\nTrue 3.0\n\n");
    assert_eq!(ours, theirs);
}

/// Every service gets a stdin pipe, as under Supervisor: `sendProcessStdin` writes to it, with
/// supervisord's answers and faults, and stock `supervisorctl fg` shows what the service says
/// back to what is typed.
#[test]
fn stdin_and_fg_as_supervisord() {
    let Some(python) = supervisor::python("stdin_and_fg_as_supervisord") else {
        return;
    };
    const CAT: &str = "\
[program:cat]
command = cat
startsecs = 0

[program:idle]
command = cat
autostart = false

[program:deaf]
command = sh -c 'exec 0<&-; exec sleep 1000'
startsecs = 0
";
    let sv = Supervisord::start(&python, CAT);
    let d = daemon_with(CAT);
    use serde_json::json;
    for socket in [&sv.socket, &d.socket] {
        wait_until("cat and deaf RUNNING", T, || {
            let out = stdout(&supervisorctl(&python, socket, &["status"]));
            (out.matches("RUNNING").count() == 2).then_some(())
        });
    }
    let list: Vec<(&str, serde_json::Value)> = vec![
        ("supervisor.sendProcessStdin", json!(["cat", "one\n"])),
        (
            "supervisor.sendProcessStdin",
            json!(["cat", "two, naïve\n"]),
        ),
        ("supervisor.sendProcessStdin", json!(["nosuch", "x\n"])),
        ("supervisor.sendProcessStdin", json!(["idle", "x\n"])),
        ("supervisor.sendProcessStdin", json!(["cat"])),
    ];
    same_answers(&python, &sv.socket, &d.socket, &list);
    let echoed = |socket: &Path| {
        wait_until("cat's echo", T, || {
            let out = stdout(&supervisorctl(&python, socket, &["tail", "cat"]));
            out.contains("naïve").then_some(out)
        })
    };
    assert_eq!(echoed(&d.socket), echoed(&sv.socket));
    assert_eq!(echoed(&d.socket), "one\ntwo, naïve\n\n");
    // A service that closed its stdin: NO_FILE (supervisord takes the bytes and drops them).
    let closed = calls(
        &python,
        &d.socket,
        &[("supervisor.sendProcessStdin", json!(["deaf", "x\n"]))],
    );
    assert_eq!(closed[0], json!({"fault": [20, "NO_FILE: deaf"]}));

    // fg: what is typed goes to the service, what it says comes back; the end of the input
    // ends it.
    for socket in [&sv.socket, &d.socket] {
        use std::io::Write;
        let mut fg = supervisor::supervisorctl_command(&python, socket, &["fg", "cat"]);
        fg.stdin(Stdio::piped());
        let mut fg = Running::of(fg);
        let mut input = fg.child.stdin.take().unwrap();
        wait_until("fg's banner", T, || {
            fg.seen().contains("Press Ctrl-C").then_some(())
        });
        input.write_all(b"typed in fg\n").unwrap();
        wait_until("the echo in fg", T, || {
            fg.seen().contains("typed in fg").then_some(())
        });
        // The end of its input ends fg. Its tail thread notices when next woken (it waits up to
        // 30 s otherwise, against supervisord too): by the next thing the service says.
        drop(input);
        wait_until("fg's goodbye", T, || {
            fg.seen().contains("Exiting foreground").then_some(())
        });
        calls(
            &python,
            socket,
            &[("supervisor.sendProcessStdin", json!(["cat", "bye\n"]))],
        );
        let status = fg.ended(T);
        assert!(status.success(), "{status}: {}", fg.seen());
    }
}
