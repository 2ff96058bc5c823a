//! Supervisor's process state machine, observed through `proctorctl status --json` on the real
//! daemon.
#![allow(clippy::unwrap_used)]
#![forbid(unsafe_code)]

use proctor_tests::*;
use std::time::{Duration, Instant};

const T: Duration = Duration::from_secs(15);

#[test]
fn running_only_after_startsecs() {
    let d = Daemon::start("[program:slow]\ncommand = sleep 1000\nstartsecs = 2\n");
    // STARTING from the moment the spawn is ordered; the pid follows when proctord answers.
    let p = d.wait_state("slow", "STARTING", T);
    let pid = wait_until("a pid while STARTING", T, || {
        d.process("slow")["pid"].as_u64()
    });
    assert!(pid > 0, "{p}");
    assert_eq!(d.state("slow"), "STARTING");
    let t0 = Instant::now();
    d.wait_state("slow", "RUNNING", T);
    assert!(
        t0.elapsed() >= Duration::from_millis(1000),
        "RUNNING came too early"
    );
}

#[test]
fn quick_exits_back_off_then_go_fatal() {
    let d = Daemon::start(
        "[program:quick]\ncommand = sh -c 'echo oops >&2; exit 4'\nstartretries = 2\nstartsecs = 1\n",
    );
    d.wait_state("quick", "BACKOFF", T);
    let p = d.wait_state("quick", "FATAL", T);
    assert_eq!(
        p["description"],
        "Exited too quickly (process log may have details)"
    );
    assert_eq!(p["exitstatus"], 4);
    // 1 + startretries attempts, each logged.
    let attempts = d.stderr().matches("spawned: 'quick'").count();
    assert_eq!(attempts, 3, "{}", d.stderr());
}

#[test]
fn a_missing_command_is_fatal_and_a_start_says_no_such_file() {
    let d = Daemon::start("[program:ghost]\ncommand = /nonexistent/ghost\nstartretries = 0\n");
    let p = d.wait_state("ghost", "FATAL", T);
    assert_eq!(p["spawnerr"], "can't find command '/nonexistent/ghost'");
    let o = d.ctl(&["start", "ghost"]);
    assert!(!o.status.success());
    assert_eq!(
        stderr(&o).trim(),
        // Supervisor's NO_FILE (supervisorctl: `no such file`), with the reason.
        "ghost: ERROR (no such file: can't find command '/nonexistent/ghost')"
    );
}

#[test]
fn an_empty_command_loads_and_fails_at_each_start() {
    // As in Supervisor: accepted at load, BACKOFF then FATAL with "command is empty".
    let d = Daemon::start("[program:empty]\ncommand =\nstartretries = 1\n");
    d.wait_state("empty", "FATAL", T);
    let p = d.process("empty");
    assert_eq!(p["spawnerr"], "command is empty");
    assert!(
        d.stderr()
            .contains("[program:empty] command is empty: it will fail to start"),
        "{}",
        d.stderr()
    );
}

#[test]
fn autorestart_unexpected_honours_exitcodes() {
    let d = Daemon::start(
        "[program:bad]\ncommand = sh -c 'sleep 1.2; exit 3'\nstartsecs = 1\nexitcodes = 0\n\
         [program:good]\ncommand = sh -c 'sleep 1.2; exit 3'\nstartsecs = 1\nexitcodes = 0,3\n",
    );
    let first = d.wait_state("bad", "RUNNING", T)["pid"].as_u64().unwrap();
    // Unexpected exit code: restarted, with a new pid.
    wait_until("bad to restart", T, || {
        let p = d.process("bad");
        (p["pid"].as_u64().is_some_and(|pid| pid != first)).then_some(())
    });
    // Expected exit code: EXITED, and it stays there.
    let p = d.wait_state("good", "EXITED", T);
    assert_eq!(p["exitstatus"], 3);
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(d.state("good"), "EXITED");
}

#[test]
fn autorestart_true_and_false() {
    let d = Daemon::start(
        "[program:always]\ncommand = sh -c 'sleep 1.2; exit 0'\nstartsecs = 1\nautorestart = true\n\
         [program:never]\ncommand = sh -c 'sleep 1.2; exit 7'\nstartsecs = 1\nautorestart = false\n",
    );
    let first = d.wait_state("always", "RUNNING", T)["pid"]
        .as_u64()
        .unwrap();
    wait_until("always to restart after a clean exit", T, || {
        d.pid_of("always")
            .filter(|&p| u64::from(p) != first)
            .map(|_| ())
    });
    let p = d.wait_state("never", "EXITED", T);
    assert_eq!(p["exitstatus"], 7);
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(d.state("never"), "EXITED");
}

#[test]
fn stop_start_and_restart() {
    let d = Daemon::start("[program:svc]\ncommand = sleep 1000\nstartsecs = 0\n");
    let pid = d.wait_state("svc", "RUNNING", T)["pid"].as_u64().unwrap() as u32;
    assert_eq!(d.ctl_ok(&["stop", "svc"]).trim(), "svc: stopped");
    assert_eq!(d.state("svc"), "STOPPED");
    assert!(!alive(pid));
    let o = d.ctl(&["stop", "svc"]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(stderr(&o).trim(), "svc: ERROR (not running)");
    assert_eq!(d.ctl_ok(&["start", "svc"]).trim(), "svc: started");
    let pid2 = d.pid_of("svc").unwrap();
    let out = d.ctl_ok(&["restart", "svc"]);
    assert_eq!(out, "svc: stopped\nsvc: started\n");
    let pid3 = d.pid_of("svc").unwrap();
    assert!(pid2 != pid3 && !alive(pid2) && alive(pid3));
    let o = d.ctl(&["start", "svc"]);
    assert_eq!(stderr(&o).trim(), "svc: ERROR (already started)");
    let o = d.ctl(&["start", "nosuch"]);
    assert_eq!(o.status.code(), Some(4));
    assert_eq!(stderr(&o).trim(), "proctorctl: no such process: nosuch");
}

#[test]
fn stopwaitsecs_escalates_to_sigkill() {
    // The shell ignores TERM and so does the sleep it runs (ignored dispositions survive exec).
    let d = Daemon::start(
        "[program:stubborn]\ncommand = sh -c 'trap \"\" TERM; sleep 1000'\nstartsecs = 0\nstopwaitsecs = 1\n",
    );
    d.wait_state("stubborn", "RUNNING", T);
    let t0 = Instant::now();
    assert_eq!(d.ctl_ok(&["stop", "stubborn"]).trim(), "stubborn: stopped");
    assert!(
        t0.elapsed() >= Duration::from_millis(900),
        "stopped before stopwaitsecs"
    );
    let p = d.process("stubborn");
    assert_eq!(p["exitstatus"], -9, "{p}");
    assert!(d.stderr().contains("killing stubborn"), "{}", d.stderr());
}

#[test]
fn stopasgroup_reaches_grandchildren_and_plain_stop_does_not() {
    let d = Daemon::start(
        "[program:grouped]\ncommand = sh -c 'sleep 1000 & echo $! > {dir}/grouped.pid; wait'\nstartsecs = 0\nstopasgroup = true\n\
         [program:plain]\ncommand = sh -c 'sleep 1000 & echo $! > {dir}/plain.pid; wait'\nstartsecs = 0\n",
    );
    let read_pid = |f: &str| {
        wait_until(f, T, || {
            std::fs::read_to_string(d.path(f))
                .ok()?
                .trim()
                .parse::<u32>()
                .ok()
        })
    };
    let (g, p) = (read_pid("grouped.pid"), read_pid("plain.pid"));
    assert!(alive(g) && alive(p));
    d.ctl_ok(&["stop", "grouped", "plain"]);
    wait_until("the grouped grandchild to die", T, || {
        (!alive(g)).then_some(())
    });
    assert!(
        alive(p),
        "without stopasgroup the grandchild survives (as in Supervisor)"
    );
    let _ = nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(p as i32),
        nix::sys::signal::Signal::SIGKILL,
    );
}

#[test]
fn stopping_state_is_visible() {
    let d = Daemon::start(
        "[program:slowstop]\ncommand = sh -c 'trap \"sleep 1; exit 0\" TERM; while true; do sleep 0.1; done'\nstartsecs = 0\n",
    );
    d.wait_state("slowstop", "RUNNING", T);
    let sock = d.socket.clone();
    let stopper = std::thread::spawn(move || {
        command(&bin("proctorctl"))
            .arg("-s")
            .arg(&sock)
            .args(["stop", "slowstop"])
            .output()
            .unwrap()
    });
    d.wait_state("slowstop", "STOPPING", T);
    assert!(stopper.join().unwrap().status.success());
    assert_eq!(d.state("slowstop"), "STOPPED");
}
