//! `[eventlistener:x]` pools: a listener written for Supervisor receives, under proctor, the
//! same envelopes and payloads, with the same serials, as under supervisord 4.3; a rejected
//! event comes back with its serials; an event whose listener died BUSY goes to another; a
//! listener that breaks the protocol is UNKNOWN for good and costs controld a bounded amount.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
#![forbid(unsafe_code)]

use proctor_tests::supervisor::{self, Supervisord};
use proctor_tests::*;
use serde_json::{json, Value};
use std::path::Path;
use std::time::Duration;

const T: Duration = Duration::from_secs(20);

fn listener() -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("compat/recording_listener.py")
        .display()
        .to_string()
}

/// What the recording listener wrote: one record per event it answered.
fn records(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

/// Waits until a record's payload contains `text`, and returns all of them.
fn records_until(path: &Path, text: &str) -> Vec<Value> {
    wait_until(&format!("an event with {text:?}"), T, || {
        let r = records(path);
        r.iter()
            .any(|e| e["payload"].as_str().unwrap_or("").contains(text))
            .then_some(r)
    })
}

/// A record as both daemons must agree on it: pids blanked (the listener's own and those in
/// payloads).
fn comparable(r: &Value) -> Value {
    let payload = r["payload"].as_str().unwrap_or("");
    let payload: Vec<String> = payload
        .split(' ')
        .map(|w| match w.strip_prefix("pid:") {
            Some(_) => "pid:N".to_owned(),
            None => w.to_owned(),
        })
        .collect();
    json!({
        "headers": r["headers"],
        "payload": payload.join(" "),
        "result": r["result"],
    })
}

/// The programs both daemons run: `a`, and a pool that records what it gets (through
/// Supervisor's own `childutils`, run by `python`) and rejects a's first STOPPING event once.
fn programs(python: &Path, record: &Path) -> String {
    format!(
        "[program:a]\ncommand = sleep 1000\nstartsecs = 0\n\n\
         [eventlistener:rec]\ncommand = {} {} {} --childutils --reject 'groupname:a from_state:RUNNING'\n\
         events = PROCESS_STATE, process_group, SUPERVISOR_STATE_CHANGE, REMOTE_COMMUNICATION\n\
         startsecs = 0\n",
        python.display(),
        listener(),
        record.display()
    )
}

/// Starts, stops and starts `a`, and sends a remote communication event with characters that
/// take more than a byte each; returns every event the listener answered.
fn scenario(python: &Path, socket: &Path, record: &Path) -> Vec<Value> {
    records_until(record, "processname:a groupname:a from_state:STARTING");
    let o = supervisor::supervisorctl(python, socket, &["stop", "a"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let o = supervisor::supervisorctl(python, socket, &["start", "a"]);
    assert!(o.status.success(), "{}", stderr(&o));
    records_until(record, "processname:a groupname:a from_state:STARTING pid");
    let sent = supervisor::calls(
        python,
        socket,
        &[(
            "supervisor.sendRemoteCommEvent",
            json!(["greeting", "héllo wörld ✓\nsecond line"]),
        )],
    );
    assert_eq!(sent, [json!({"ok": true})]);
    records_until(record, "type:greeting")
}

#[test]
fn a_listener_receives_what_supervisord_sends_it() {
    let Some(python) = supervisor::python("a_listener_receives_what_supervisord_sends_it") else {
        return;
    };
    let theirs = {
        let dir = workdir();
        let record = dir.path().join("rec.jsonl");
        let s = Supervisord::start(&python, &programs(&python, &record));
        let r = scenario(&python, &s.socket, &record);
        drop(s);
        r
    };
    let d = Daemon::start(&programs(&python, &Path::new("{dir}").join("rec.jsonl")));
    let ours = scenario(&python, &d.socket, &d.path("rec.jsonl"));

    let t: Vec<Value> = theirs.iter().map(comparable).collect();
    let o: Vec<Value> = ours.iter().map(comparable).collect();
    assert_eq!(
        o, t,
        "proctor's events (left) differ from supervisord's (right)"
    );
    // What the test stands on, said outright: the rejected event came back with its serials,
    // and the remote event's len counts characters (childutils read it whole).
    let stopping: Vec<&Value> = ours
        .iter()
        .filter(|r| r["headers"]["eventname"] == "PROCESS_STATE_STOPPING")
        .collect();
    assert_eq!(stopping.len(), 2, "{stopping:?}");
    assert_eq!(
        (&stopping[0]["result"], &stopping[1]["result"]),
        (&json!("FAIL"), &json!("OK"))
    );
    assert_eq!(stopping[0]["headers"], stopping[1]["headers"]);
    let remote = ours.last().unwrap();
    assert_eq!(remote["headers"]["eventname"], "REMOTE_COMMUNICATION");
    let payload = "type:greeting\nhéllo wörld ✓\nsecond line";
    assert_eq!(remote["payload"], payload);
    assert_eq!(
        remote["headers"]["len"],
        payload.chars().count().to_string()
    );
}

/// A program whose output makes events: log events on both channels, and a communication in
/// capture mode; pauses between writes so that each is read alone by either daemon.
fn talker(record: &Path) -> String {
    format!(
        "[program:talker]\ncommand = /bin/sh -c 'printf \"hello world, a first line\\n\"; sleep 0.3; \
         printf \"<!--XSUPERVISOR:BEGIN-->the message, with d\\303\\251j\\303\\240 vu<!--XSUPERVISOR:END-->\"; sleep 0.3; \
         printf \"and a line on stderr after it\\n\" >&2; exec sleep 1000'\n\
         startsecs = 0\nautostart = false\nstdout_events_enabled = true\nstderr_events_enabled = true\n\
         stdout_capture_maxbytes = 1KB\n\n\
         [eventlistener:rec]\ncommand = /usr/bin/python3 {} {}\n\
         events = PROCESS_LOG, PROCESS_COMMUNICATION\nstartsecs = 0\n",
        listener(),
        record.display()
    )
}

#[test]
fn output_events_are_supervisords() {
    let Some(python) = supervisor::python("output_events_are_supervisords") else {
        return;
    };
    let run = |socket: &Path, record: &Path| {
        let o = supervisor::supervisorctl(&python, socket, &["start", "talker"]);
        assert!(o.status.success(), "{}", stderr(&o));
        records_until(record, "and a line on stderr")
    };
    let theirs = {
        let dir = workdir();
        let record = dir.path().join("rec.jsonl");
        let s = Supervisord::start(&python, &talker(&record));
        wait_until("the listener", T, || {
            let o = supervisor::supervisorctl(&python, &s.socket, &["status", "rec"]);
            stdout(&o).contains("RUNNING").then_some(())
        });
        run(&s.socket, &record)
    };
    let d = Daemon::start(&talker(&Path::new("{dir}").join("rec.jsonl")));
    d.wait_state("rec", "RUNNING", T);
    let ours = run(&d.socket, &d.path("rec.jsonl"));
    let t: Vec<Value> = theirs.iter().map(comparable).collect();
    let o: Vec<Value> = ours.iter().map(comparable).collect();
    assert_eq!(
        o, t,
        "proctor's events (left) differ from supervisord's (right)"
    );
    let names: Vec<&str> = ours
        .iter()
        .map(|r| r["headers"]["eventname"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "PROCESS_LOG_STDOUT",
            "PROCESS_LOG_STDOUT",
            "PROCESS_COMMUNICATION_STDOUT",
            "PROCESS_LOG_STDERR"
        ]
    );
    assert!(ours[2]["payload"]
        .as_str()
        .unwrap()
        .ends_with("\nthe message, with déjà vu"));
    // What was captured is not in the log.
    let log = d.ctl_ok(&["tail", "talker"]);
    assert!(!log.contains("the message"), "{log}");
}

#[test]
fn a_tick_listener_gets_each_wall_clock_slice_as_it_begins() {
    let d = Daemon::start(&format!(
        "[eventlistener:ticks]\ncommand = /usr/bin/python3 {} {{dir}}/ticks.jsonl\n\
         events = TICK_5\nstartsecs = 0\n",
        listener()
    ));
    let got = wait_until("two ticks", T, || {
        let r = records(&d.path("ticks.jsonl"));
        (r.len() >= 2).then_some(r)
    });
    let when = |r: &Value| -> u64 {
        r["payload"]
            .as_str()
            .unwrap()
            .strip_prefix("when:")
            .unwrap()
            .parse()
            .unwrap()
    };
    for r in &got {
        assert_eq!(r["headers"]["eventname"], "TICK_5");
        assert_eq!(when(r) % 5, 0, "a slice's start: {r}");
        let late = r["received"].as_f64().unwrap() - when(r) as f64;
        // Never before its slice begins, and within it (a tick is not held back a slice).
        assert!(
            (0.0..5.0).contains(&late),
            "received {late} s after its slice began: {r}"
        );
    }
    assert_eq!(when(&got[1]), when(&got[0]) + 5, "one per slice: {got:?}");
}

/// A burst of events to a listener that rejects each once: every event comes back, with its
/// serials, right after its rejection, and none is lost or sent for another. (The listener's
/// answer and its next READY can reach the reader before the supervisor has taken the answer;
/// an event sent on that READY once took the place of the rejected one.)
#[test]
fn rejected_events_come_back_under_a_burst() {
    const N: usize = 30;
    let programs: String = (0..N)
        .map(|i| {
            format!("[program:p{i}]\ncommand = sleep 1000\nstartsecs = 0\nautostart = false\n\n")
        })
        .collect();
    let d = Daemon::start(&format!(
        "{programs}[eventlistener:rec]\ncommand = /usr/bin/python3 {} {{dir}}/rec.jsonl --reject-each-once\n\
         events = PROCESS_STATE_RUNNING\nbuffer_size = 1000\nstartsecs = 0\n",
        listener()
    ));
    d.wait_state("rec", "RUNNING", T);
    d.ctl_ok(&["start", "all"]);
    let got = wait_until("every RUNNING event answered OK", T, || {
        let r = records(&d.path("rec.jsonl"));
        // The programs' RUNNING, and the listener's own first.
        (r.iter().filter(|e| e["result"] == "OK").count() > N).then_some(r)
    });
    // Each event: FAIL, then at once the same event (serials and all) OK.
    for pair in got.chunks(2) {
        assert_eq!(pair.len(), 2, "{got:?}");
        assert_eq!(
            (&pair[0]["result"], &pair[1]["result"]),
            (&json!("FAIL"), &json!("OK")),
            "{got:?}"
        );
        assert_eq!(pair[0]["headers"], pair[1]["headers"], "{got:?}");
        assert_eq!(pair[0]["payload"], pair[1]["payload"], "{got:?}");
    }
    let mut names: Vec<&str> = got
        .iter()
        .filter(|e| e["result"] == "OK")
        .map(|e| e["payload"].as_str().unwrap().split(' ').next().unwrap())
        .collect();
    names.sort_unstable();
    names.dedup();
    assert_eq!(
        names.len(),
        N + 1,
        "one event per program and rec: {names:?}"
    );
}

#[test]
fn an_event_whose_listener_died_busy_goes_to_another() {
    let d = Daemon::start(&format!(
        "[program:a]\ncommand = sleep 1000\nstartsecs = 0\nautostart = false\n\n\
         [eventlistener:rec]\ncommand = /usr/bin/python3 {} {{dir}}/rec.jsonl --die 'processname:a groupname:a from_state:STOPPED'\n\
         events = PROCESS_STATE_STARTING\nnumprocs = 2\nprocess_name = rec_%(process_num)s\n\
         startsecs = 0\n",
        listener()
    ));
    let record = d.path("rec.jsonl");
    d.wait_state("rec:rec_0", "RUNNING", T);
    d.wait_state("rec:rec_1", "RUNNING", T);
    d.ctl_ok(&["start", "a"]);
    let got = records_until(&record, "processname:a groupname:a from_state:STOPPED");
    let died: u64 = std::fs::read_to_string(d.path("rec.jsonl.died"))
        .unwrap()
        .parse()
        .unwrap();
    let resent: Vec<&Value> = got
        .iter()
        .filter(|r| r["payload"].as_str().unwrap().starts_with("processname:a "))
        .collect();
    assert_eq!(resent.len(), 1, "{got:?}");
    assert_eq!(
        resent[0]["headers"]["serial"],
        died.to_string(),
        "the same event, with its serial"
    );
    assert_eq!(resent[0]["result"], "OK");
    // The one that died is restarted (autorestart), and the pool goes on.
    wait_until("both listeners running again", T, || {
        (d.state("rec:rec_0") == "RUNNING" && d.state("rec:rec_1") == "RUNNING").then_some(())
    });
}

fn vm_rss_kib(pid: u32) -> u64 {
    proc_status(pid, "VmRSS")
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap()
}

#[test]
fn a_listener_that_breaks_the_protocol_is_unknown_and_costs_a_bounded_amount() {
    let d = Daemon::start(&format!(
        "[program:a]\ncommand = sleep 1000\nstartsecs = 0\nautostart = false\n\n\
         [eventlistener:junk]\ncommand = /usr/bin/python3 {0} {{dir}}/junk.jsonl --garbage 256\n\
         events = PROCESS_STATE\nstartsecs = 0\nstdout_logfile = NONE\n\n\
         [eventlistener:rec]\ncommand = /usr/bin/python3 {0} {{dir}}/rec.jsonl\n\
         events = PROCESS_STATE_RUNNING\nstartsecs = 0\n",
        listener()
    ));
    d.wait_state("rec", "RUNNING", T);
    let controld = d.controld_pid().unwrap();
    let before = vm_rss_kib(controld);
    wait_until("the junk written", Duration::from_secs(60), || {
        d.path("junk.jsonl.garbage-done").exists().then_some(())
    });
    let after = vm_rss_kib(controld);
    assert!(
        after < before + 16 * 1024,
        "controld grew from {before} KiB to {after} KiB reading 256 MiB of junk"
    );
    let log = d.stderr();
    assert!(
        log.contains(
            "junk: has entered the UNKNOWN state and will no longer receive events, this \
             usually indicates the process violated the eventlistener protocol"
        ),
        "{log}"
    );
    // The daemon and the other pool go on: a's start reaches `rec`.
    d.ctl_ok(&["start", "a"]);
    records_until(&d.path("rec.jsonl"), "processname:a groupname:a");
    assert!(records(&d.path("junk.jsonl")).is_empty());
    assert_eq!(d.state("junk"), "RUNNING");
}
