//! `proctorctl events`: every process state change, named and worded as Supervisor's
//! PROCESS_STATE_* events, the recent ones first, then as they happen; narrowed to the
//! processes named and to those the caller may see.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
#![forbid(unsafe_code)]

use proctor_tests::*;
use std::time::Duration;

const T: Duration = Duration::from_secs(15);

/// The events of `proctorctl --json events`: a line each, then the last line, its exit status.
fn json_lines(text: &str) -> Vec<serde_json::Value> {
    let mut lines: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let last = lines.pop().unwrap();
    assert_eq!(
        (&last["schema"], &last["exit"]),
        (&1.into(), &0.into()),
        "{text}"
    );
    lines
        .into_iter()
        .map(|l| {
            assert_eq!((&l["schema"], &l["command"]), (&1.into(), &"events".into()));
            l["event"].clone()
        })
        .collect()
}

#[test]
fn state_changes_are_supervisors_events_recent_then_followed() {
    let d = Daemon::start(
        "[program:a]\ncommand = sleep 1000\nstartsecs = 0\n\n\
         [program:b]\ncommand = sleep 1000\nstartsecs = 0\nautostart = false\n",
    );
    let pid = d.wait_state("a", "RUNNING", T)["pid"].as_u64().unwrap();
    // The recent events: a's start, as Supervisor words them.
    let recent = json_lines(&d.ctl_ok(&["events", "--json"]));
    let said: Vec<(String, String)> = recent
        .iter()
        .map(|e| {
            (
                e["eventname"].as_str().unwrap().to_owned(),
                e["payload"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        said,
        [
            (
                "PROCESS_STATE_STARTING".to_owned(),
                "processname:a groupname:a from_state:STOPPED tries:0".to_owned()
            ),
            (
                "PROCESS_STATE_RUNNING".to_owned(),
                format!("processname:a groupname:a from_state:STARTING pid:{pid}")
            ),
        ]
    );
    assert!(recent[1]["serial"].as_u64() > recent[0]["serial"].as_u64());

    // b's start and stop, then a follower of b alone: those first (which also shows it has
    // subscribed), then b's next start as it happens, and none of a's.
    d.ctl_ok(&["start", "b"]);
    let bpid = d.pid_of("b").unwrap();
    d.ctl_ok(&["stop", "b"]);
    let follower = Running::of(d.ctl_command(&["events", "-f", "b"]));
    let first = format!(
        "PROCESS_STATE_STARTING b processname:b groupname:b from_state:STOPPED tries:0\n\
         PROCESS_STATE_RUNNING b processname:b groupname:b from_state:STARTING pid:{bpid}\n\
         PROCESS_STATE_STOPPING b processname:b groupname:b from_state:RUNNING pid:{bpid}\n\
         PROCESS_STATE_STOPPED b processname:b groupname:b from_state:STOPPING pid:{bpid}\n"
    );
    wait_until("b's recent events", T, || {
        (follower.seen() == first).then_some(())
    });
    d.ctl_ok(&["restart", "a"]);
    d.ctl_ok(&["start", "b"]);
    let bpid = d.pid_of("b").unwrap();
    let want = format!(
        "{first}PROCESS_STATE_STARTING b processname:b groupname:b from_state:STOPPED tries:0\n\
         PROCESS_STATE_RUNNING b processname:b groupname:b from_state:STARTING pid:{bpid}\n"
    );
    wait_until("b's next start, and nothing of a", T, || {
        (follower.seen() == want).then_some(())
    });
}

/// What a process wrote (PROCESS_LOG_*) is shown only to those who may read its log: alice may
/// see `web` and follow its events, bob may also `tail` it.
#[test]
fn output_events_need_the_right_to_read_the_log() {
    use proctor_tests::root::{self, RootDaemon};
    if root::skip("output_events_need_the_right_to_read_the_log") {
        return;
    }
    let alice = ensure_account("proctest-alice");
    let bob = ensure_account("proctest-bob");
    ensure_account("proctest-plain");
    let (_pdir, policy) = RootDaemon::policy_file(
        "admins = []\n\n\
         [[allow]]\nwho = [\"proctest-alice\", \"proctest-bob\"]\nactions = [\"status\", \"events\"]\nprograms = [\"web\"]\n\n\
         [[allow]]\nwho = [\"proctest-bob\"]\nactions = [\"tail\"]\nprograms = [\"web\"]\n",
    );
    let d = RootDaemon::start_with(
        "[program:web]\ncommand = /bin/sh -c 'echo hello from web; exec sleep 1000'\n\
         user = proctest-plain\nstartsecs = 0\nstdout_events_enabled = true\n",
        &format!("policy = {}\n", policy.display()),
    );
    d.running_pid("web");
    d.open_socket_to_all();
    let names = |who: &Account| {
        let o = d.ctl_as(who, &["events", "--json"]);
        assert!(o.status.success(), "{}", stderr(&o));
        json_lines(&stdout(&o))
            .iter()
            .map(|e| {
                format!(
                    "{} {}",
                    e["eventname"].as_str().unwrap(),
                    e["payload"].as_str().unwrap().lines().nth(1).unwrap_or("")
                )
            })
            .collect::<Vec<_>>()
    };
    let log = "PROCESS_LOG_STDOUT hello from web".to_owned();
    wait_until("web's output read", T, || {
        names(&bob).contains(&log).then_some(())
    });
    let seen = names(&alice);
    assert!(
        seen.iter().any(|e| e.starts_with("PROCESS_STATE_RUNNING")),
        "{seen:?}"
    );
    assert!(!seen.contains(&log), "{seen:?}");
}
