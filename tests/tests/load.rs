//! Load: many services under one daemon (start, stop, restart all, status) and many concurrent
//! clients issuing audited requests: no errors, and every request audited exactly once. The
//! latencies are printed, never asserted. Quick sizes by default (100 services, 20 clients x
//! 20 requests); `PROCTOR_SLOW_TESTS=1` runs the full ones (1,000 services, 100 clients x 100).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
#![forbid(unsafe_code)]

use proctor_tests::*;
use std::time::{Duration, Instant};

const T: Duration = Duration::from_secs(120);

fn all_in(d: &Daemon, n: usize, state: &str) {
    wait_until(&format!("all {n} {state}"), T, || {
        let s = d.status();
        (s.len() == n && s.iter().all(|p| p["state"] == state)).then_some(())
    });
}

/// Runs `proctorctl ARGS` and checks every line of its answer says the action worked.
fn every_line(d: &Daemon, args: &[&str], n: usize, word: &str) -> Duration {
    let t = Instant::now();
    let out = d.ctl_ok(args);
    let took = t.elapsed();
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), n, "{out}");
    for l in lines {
        assert!(l.ends_with(&format!(": {word}")), "{l}");
    }
    took
}

#[test]
fn many_services_and_many_audited_clients() {
    let n = size(100, 1000);
    let (clients, requests) = (size(20, 100), size(20, 100));
    let programs: String = (0..n)
        .map(|i| format!("[program:s{i}]\ncommand = sleep 100000\nstartsecs = 0\n\n"))
        .collect();
    let d = Daemon::start(&format!(
        "[proctor]\naudit_log = {{dir}}/audit/audit.log\n\n{programs}"
    ));
    let t = Instant::now();
    all_in(&d, n, "RUNNING");
    let started = t.elapsed();
    let stopped = every_line(&d, &["stop", "all"], n, "stopped");
    all_in(&d, n, "STOPPED");
    let restarted_from_stop = every_line(&d, &["start", "all"], n, "started");
    all_in(&d, n, "RUNNING");
    let t = Instant::now();
    let out = d.ctl_ok(&["restart", "all"]);
    let restarted = t.elapsed();
    assert_eq!(
        out.lines().filter(|l| l.ends_with(": started")).count(),
        n,
        "{out}"
    );
    all_in(&d, n, "RUNNING");
    let t = Instant::now();
    assert_eq!(d.ctl_ok(&["status"]).lines().count(), n);
    let status = t.elapsed();

    let audit = d.path("audit/audit.log");
    let count = |kind: &str| {
        std::fs::read_to_string(&audit)
            .unwrap()
            .lines()
            .filter(|l| {
                let v: serde_json::Value = serde_json::from_str(l).unwrap();
                v["kind"] == kind && v["action"] == "signal"
            })
            .count()
    };
    let (req0, out0) = (count("request"), count("outcome"));
    let o = std::process::Command::new(bin("control-load"))
        .arg(&d.socket)
        .args([clients.to_string(), requests.to_string()])
        .args(["CONT", "s0"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let result: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let total = (clients * requests) as u64;
    assert_eq!(result["errors"], 0, "{result}");
    assert_eq!(result["requests"].as_u64(), Some(total), "{result}");
    // Each request audited exactly once before it ran, and its outcome once after.
    assert_eq!((count("request") - req0) as u64, total);
    assert_eq!((count("outcome") - out0) as u64, total);
    let verify = d.ctl_ok(&["audit", "--verify", audit.to_str().unwrap()]);
    println!(
        "{n} services: all RUNNING in {started:?}, stop all {stopped:?}, start all {restarted_from_stop:?}, restart all {restarted:?}, status {status:?}; \
         {clients} clients x {requests} audited requests: {result}; {}",
        verify.trim()
    );
}
