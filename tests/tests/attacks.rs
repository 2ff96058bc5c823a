//! The attacks of the security review, each run against the real processes as root: what an
//! account that runs a service, or any user who can connect, could do to proctord and
//! controld. Each test fails on the code before its fix.
#![allow(clippy::unwrap_used, clippy::panic)]

use proctor_tests::root::*;
use proctor_tests::*;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A service's account SIGSTOPs proctord's new children between their uid change and their
/// exec. A proctord that waited for its child without a bound (vfork) froze at the first hit:
/// no spawn, no stop, no reaping. Now the spawn fails after a bounded wait and everything else
/// goes on: another service's `stop` completes within a second each time, all through 100
/// restarts of the attacked service.
#[test]
fn a_services_account_stopping_new_children_cannot_freeze_proctord() {
    if skip("spawn freeze") {
        return;
    }
    ensure_account("proctest-frozen");
    ensure_account("proctest-bystander");
    let d = RootDaemon::start(
        "[program:freezer]\ncommand = {probe} --freeze-spawns\nuser = proctest-frozen\n\
         startsecs = 0\n\n\
         [program:victim]\ncommand = {probe}\nuser = proctest-frozen\nstartsecs = 0\n\
         autorestart = false\n\n\
         [program:other]\ncommand = {probe}\nuser = proctest-bystander\nstartsecs = 0\n",
    );
    let freezer = d.running_pid("freezer");
    d.running_pid("other");

    let done = Arc::new(AtomicBool::new(false));
    let restarts = {
        let (socket, done) = (d.socket.clone(), done.clone());
        std::thread::spawn(move || {
            for _ in 0..100 {
                let _ = std::process::Command::new(bin("proctorctl"))
                    .arg("-s")
                    .arg(&socket)
                    .args(["restart", "victim"])
                    .output();
            }
            done.store(true, Ordering::SeqCst);
        })
    };
    let mut slowest = Duration::ZERO;
    let mut stops = 0;
    while !done.load(Ordering::SeqCst) {
        let (ok, took) = bounded(&d, &["stop", "other"], Duration::from_secs(10));
        assert!(
            ok && took < Duration::from_secs(1),
            "stopping another service took {took:?} (success: {ok}) while the victim restarted"
        );
        slowest = slowest.max(took);
        stops += 1;
        let o = d.ctl(&["start", "other"]);
        assert!(o.status.success(), "start other: {}", stderr(&o));
    }
    restarts.join().unwrap();

    // The attack really ran: children were stopped before their exec, and proctord reported
    // each such spawn as failed.
    let log = d.stderr();
    let frozen = log
        .matches("had not started its program after 500 ms")
        .count();
    assert!(
        frozen > 0,
        "the attack never stopped a child before its exec (freezer pid {freezer})"
    );
    println!(
        "{frozen} spawns stopped before their exec; {stops} stops of another service, \
         the slowest {slowest:?}"
    );
    // And nothing is left stuck: proctord still spawns.
    assert!(d.ctl(&["stop", "freezer"]).status.success());
    let o = d.ctl(&["restart", "victim"]);
    assert!(o.status.success(), "{}", stderr(&o));
}

/// Runs proctorctl, killing it after `limit` (a frozen daemon would hold it forever): whether
/// it succeeded, and how long it took.
fn bounded(d: &RootDaemon, args: &[&str], limit: Duration) -> (bool, Duration) {
    let t = Instant::now();
    let mut child = std::process::Command::new(bin("proctorctl"))
        .arg("-s")
        .arg(&d.socket)
        .args(args)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    loop {
        if let Some(st) = child.try_wait().unwrap() {
            return (st.success(), t.elapsed());
        }
        if t.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            return (false, t.elapsed());
        }
        std::thread::sleep(Duration::from_millis(2));
    }
}
