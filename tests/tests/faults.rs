//! Faults against the real daemons: controld killed or frozen while services log and clients
//! ask, proctord killed uncleanly, a full log disk, exhausted fd and process limits, and
//! daemonised grandchildren. Quick sizes by default; `PROCTOR_SLOW_TESTS=1` runs the full ones
//! (200 services, a 10 s freeze).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
#![forbid(unsafe_code)]

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use proctor_tests::root::RootDaemon;
use proctor_tests::*;
use std::collections::BTreeSet;
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

const T: Duration = Duration::from_secs(30);

fn signal(pid: u32, s: Signal) {
    let _ = kill(Pid::from_raw(pid as i32), s);
}

fn probe() -> String {
    bin("proctor-probe").display().to_string()
}

/// `n` services `s0`..: each writes `count` numbered lines, `every_ms` apart, after `delay_ms`.
fn counters(n: usize, count: u64, every_ms: u64, delay_ms: u64) -> String {
    (0..n)
        .map(|i| {
            format!(
                "[program:s{i}]\ncommand = {} --count {count} --every-ms {every_ms} --delay-ms {delay_ms}\nstartsecs = 0\n\n",
                probe()
            )
        })
        .collect()
}

/// Waits until all `n` services are RUNNING; their pids by name.
fn all_running(d: &Daemon, n: usize) -> Vec<(String, u32)> {
    wait_until("every service RUNNING", T, || {
        let s = d.status();
        (s.len() == n && s.iter().all(|p| p["state"] == "RUNNING")).then(|| {
            s.iter()
                .map(|p| {
                    (
                        p["name"].as_str().unwrap().to_owned(),
                        p["pid"].as_u64().unwrap() as u32,
                    )
                })
                .collect()
        })
    })
}

/// Waits until every service's log holds all its numbered lines, in order.
fn logs_complete(d: &Daemon, n: usize, count: u64) {
    for i in 0..n {
        let path = d.path(&format!("log/s{i}-stdout---test.log"));
        let deadline = Instant::now() + T;
        loop {
            match numbered_lines(&path, count) {
                Ok(()) => break,
                Err(e) if e.contains("so far") && Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(50));
                }
                Err(e) => panic!("{e}\ndaemon:\n{}", d.stderr()),
            }
        }
    }
}

/// proctorctl with a deadline: a client must get an answer or an error, never hang.
fn ctl_within(d: &Daemon, args: &[&str], limit: Duration) -> (bool, String) {
    let mut child = d
        .ctl_command(args)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + limit;
    loop {
        if let Some(st) = child.try_wait().unwrap() {
            let mut err = String::new();
            use std::io::Read;
            let _ = child.stderr.take().unwrap().read_to_string(&mut err);
            return (st.success(), err);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("proctorctl {args:?} hung for {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn controld_killed_under_load_loses_no_service_and_no_line() {
    let n = size(20, 200);
    let count = 300;
    let d = Daemon::start(&counters(n, count, 10, 0));
    let before = all_running(&d, n);
    let controld = d.controld_pid().unwrap();
    let stop = AtomicBool::new(false);
    let (failures, successes) = std::thread::scope(|s| {
        let clients: Vec<_> = (0..4)
            .map(|k| {
                let (d, stop) = (&d, &stop);
                s.spawn(move || {
                    let args: &[&str] = if k % 2 == 0 {
                        &["status"]
                    } else {
                        &["signal", "CONT", "s0"]
                    };
                    let (mut fails, mut oks) = (Vec::new(), 0);
                    while !stop.load(Ordering::Relaxed) {
                        match ctl_within(d, args, Duration::from_secs(20)) {
                            (true, _) => oks += 1,
                            (false, err) => fails.push(err),
                        }
                    }
                    (fails, oks)
                })
            })
            .collect();
        std::thread::sleep(Duration::from_millis(300));
        signal(controld, Signal::SIGKILL);
        wait_until("a new controld", T, || {
            d.controld_pid().filter(|p| *p != controld)
        });
        std::thread::sleep(Duration::from_millis(500));
        stop.store(true, Ordering::Relaxed);
        let mut all = (Vec::new(), 0);
        for c in clients {
            let (f, o) = c.join().unwrap();
            all.0.extend(f);
            all.1 += o;
        }
        all
    });
    // Clients that were cut off were told so, in words.
    for f in &failures {
        assert!(
            f.starts_with("proctorctl: ") && f.len() > "proctorctl: ".len() + 10,
            "unclear client error: {f:?}"
        );
    }
    assert!(successes > 0, "no client command worked");
    d.ctl_ok(&["status"]);
    // No service lost, none duplicated: the same pids, and proctord's children are exactly
    // controld and them.
    let after = all_running(&d, n);
    assert_eq!(before, after, "a service changed pid");
    let kids: BTreeSet<u32> = children_of(d.pid()).into_iter().collect();
    let mut want: BTreeSet<u32> = after.iter().map(|(_, p)| *p).collect();
    want.insert(d.controld_pid().unwrap());
    assert_eq!(kids, want, "proctord's children");
    logs_complete(&d, n, count);
    println!(
        "controld SIGKILLed under load: {n} services kept, {} client errors (all explained), {successes} commands served",
        failures.len()
    );
}

#[test]
fn controld_frozen_while_services_log_loses_nothing() {
    let n = 5;
    // 300 KB each: far more than a pipe holds, so the services block while controld is frozen.
    let count = 30_000;
    let freeze = Duration::from_secs(size(2, 10) as u64);
    let d = Daemon::start(&counters(n, count, 0, 1000));
    let before = all_running(&d, n);
    let controld = d.controld_pid().unwrap();
    signal(controld, Signal::SIGSTOP);
    std::thread::sleep(freeze);
    // Blocked on their pipes, not dead.
    for (name, pid) in &before {
        assert!(alive(*pid), "{name} died while controld was frozen");
    }
    signal(controld, Signal::SIGCONT);
    logs_complete(&d, n, count);
    assert_eq!(all_running(&d, n), before);
    assert_eq!(
        d.controld_pid(),
        Some(controld),
        "controld was not replaced"
    );
}

#[test]
fn proctord_killed_takes_its_services_with_it() {
    if root::skip("proctord_killed_takes_its_services_with_it") {
        return;
    }
    ensure_account("proctest-www");
    let programs = "[program:www]\ncommand = {probe} --listen 127.0.0.1:80\nuser = proctest-www\ncapabilities = net_bind_service\nstartsecs = 0\n\n\
         [program:other]\ncommand = sleep 1000\nuser = proctest-www\nstartsecs = 0\n";
    let mut d = RootDaemon::start(programs);
    let www = d.running_pid("www");
    let other = d.running_pid("other");
    let controld = d.controld_pid();
    let mut proctord = d.child.take().unwrap();
    proctord.kill().unwrap();
    proctord.wait().unwrap();
    // The parent-death signal, set after the uid change, reaches the services and controld.
    wait_until("the services and controld to die with proctord", T, || {
        (!alive(www) && !alive(other) && !alive(controld)).then_some(())
    });
    // A new proctord starts a single new copy, which gets the port.
    let d2 = RootDaemon::start(programs);
    let www2 = d2.running_pid("www");
    assert_ne!(www2, www);
    let log = d2.dir.path().join("log");
    wait_until("the new www to listen on port 80", T, || {
        let text: String = std::fs::read_dir(&log)
            .ok()?
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().starts_with("www-stdout"))
            .map(|e| std::fs::read_to_string(e.path()).unwrap_or_default())
            .collect();
        assert!(
            !text.contains("listen_error"),
            "port 80 still taken: {text}"
        );
        text.contains("listen=127.0.0.1:80").then_some(())
    });
}

#[test]
fn a_full_log_disk_is_counted_and_logging_resumes() {
    if root::skip("a_full_log_disk_is_counted_and_logging_resumes") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let disk = Tmpfs::mount(&dir.path().join("logs"), "128k", "0777");
    let log = disk.0.join("talker.log");
    let d = Daemon::start(&format!(
        "[program:talker]\ncommand = {} --count 10000000 --every-ms 2\nstartsecs = 0\nstdout_logfile = {}\nstdout_logfile_maxbytes = 0\n",
        probe(),
        log.display()
    ));
    let pid = d.wait_state("talker", "RUNNING", T)["pid"]
        .as_u64()
        .unwrap();
    wait_until("the first lines", T, || {
        (std::fs::metadata(&log).ok()?.len() > 0).then_some(())
    });
    let filler = disk.fill("filler");
    let lost = wait_until("lost output in status", T, || {
        let p = d.process("talker");
        let lost = p["log_bytes_lost"].as_u64()?;
        (lost > 0).then_some(p)
    });
    assert!(
        lost["description"]
            .as_str()
            .unwrap()
            .contains("log bytes lost"),
        "{lost}"
    );
    assert_eq!(lost["state"], "RUNNING");
    assert_eq!(lost["pid"].as_u64(), Some(pid), "the service kept running");
    assert!(d.stderr().contains("cannot write log"), "{}", d.stderr());
    // Space returns: logging resumes, and the daemon log says how much was lost.
    let size = std::fs::metadata(&log).unwrap().len();
    std::fs::remove_file(filler).unwrap();
    wait_until("logging to resume", T, || {
        (std::fs::metadata(&log).ok()?.len() > size).then_some(())
    });
    wait_until("the loss in the daemon log", T, || {
        d.stderr()
            .contains("bytes were lost before this write succeeded")
            .then_some(())
    });
    assert_eq!(d.pid_of("talker"), Some(pid as u32));
}

/// `prlimit` on a running daemon (util-linux), run as the daemon's own user: without
/// CAP_SYS_RESOURCE, only the owner may change a process's limits, and only up to the hard one.
fn prlimit(pid: u32, resource: &str, value: &str) -> bool {
    command(std::path::Path::new("prlimit"))
        .arg(format!("--pid={pid}"))
        .arg(format!("--{resource}={value}"))
        .status()
        .unwrap()
        .success()
}

#[test]
fn out_of_fds_or_processes_gives_clear_errors_and_recovers() {
    let d = Daemon::start(&format!(
        "[program:a]\ncommand = sleep 1000\nautostart = false\nstartsecs = 0\nstartretries = 0\n\n\
         [program:b]\ncommand = sleep 1000\nautostart = false\nstartsecs = 0\nstartretries = 0\n\n\
         [program:c]\ncommand = {} --count 1\nautostart = false\nstartsecs = 0\n",
        probe()
    ));
    let proctord = d.pid();
    let controld = d.controld_pid().unwrap();
    let limits = |pid: u32| {
        let text = std::fs::read_to_string(format!("/proc/{pid}/limits")).unwrap();
        let line = |k: &str| {
            let l = text.lines().find(|l| l.starts_with(k)).unwrap();
            let f: Vec<&str> = l[k.len()..].split_whitespace().collect();
            format!("{}:{}", f[0], f[1])
        };
        (line("Max open files"), line("Max processes"))
    };
    let (files, procs) = limits(proctord);

    // proctord out of fds: the pipes for a new service cannot be made.
    prlimit(
        proctord,
        "nofile",
        &format!(
            "{}:{}",
            fd_count(proctord),
            files.split(':').nth(1).unwrap()
        ),
    );
    let o = d.ctl(&["start", "a"]);
    assert!(!o.status.success());
    let out = stdout(&o) + &stderr(&o);
    assert!(out.contains("Too many open files"), "{out}");
    assert_eq!(d.state("a"), "FATAL");
    assert!(prlimit(proctord, "nofile", &files));
    d.ctl_ok(&["start", "a"]);

    // proctord out of processes (its own uid's count, which includes every service when the
    // daemon and services share a uid).
    prlimit(
        proctord,
        "nproc",
        &format!("1:{}", procs.split(':').nth(1).unwrap()),
    );
    let o = d.ctl(&["start", "b"]);
    assert!(!o.status.success());
    let out = stdout(&o) + &stderr(&o);
    assert!(out.contains("Resource temporarily unavailable"), "{out}");
    assert!(prlimit(proctord, "nproc", &procs));
    d.ctl_ok(&["start", "b"]);

    // controld out of fds (below what it holds). A client waits in the backlog until fds are
    // back; or, if its connection got in and the new service's pipes then could not be
    // received, controld says so and exits, and the next controld takes every pipe over from
    // proctord. Either way the client is answered or told, and the service runs with its log.
    let (cfiles, _) = limits(controld);
    let hard = cfiles.split(':').nth(1).unwrap().to_owned();
    assert!(prlimit(
        controld,
        "nofile",
        &format!("{}:{hard}", fd_count(controld) - 2)
    ));
    let restore = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(700));
        prlimit(controld, "nofile", &cfiles)
    });
    let (ok, err) = ctl_within(&d, &["start", "c"], Duration::from_secs(20));
    let restored = restore.join().unwrap();
    let log = d.stderr();
    if ok {
        assert!(restored);
        assert_eq!(d.controld_pid(), Some(controld), "controld kept running");
    } else {
        assert!(
            err.contains("closed the connection without replying"),
            "{err}"
        );
        assert!(
            log.contains(
                "out of file descriptors (RLIMIT_NOFILE): the pipes proctord passed were dropped"
            ),
            "{log}"
        );
    }
    d.wait_state("c", "RUNNING", T);
    wait_until("c's output in its log", T, || {
        std::fs::read_to_string(d.path("log/c-stdout---test.log"))
            .ok()?
            .contains("line 1")
            .then_some(())
    });
    assert_eq!(d.pid(), proctord);
}

/// The process group of `pid`.
fn pgid(pid: u32) -> u32 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let rest = stat.rsplit(')').next().unwrap();
    rest.split_whitespace().nth(2).unwrap().parse().unwrap()
}

#[test]
fn stopasgroup_reaches_grandchildren_but_not_a_new_session() {
    // `sleep 1001` stays in the service's process group; `setsid sleep 1002` leaves it.
    let d = Daemon::start(
        "[program:forker]\ncommand = sh -c 'sleep 1001 & setsid sleep 1002 & exec sleep 1000'\nstartsecs = 0\nstopasgroup = true\nstopwaitsecs = 5\n",
    );
    let leader = d.wait_state("forker", "RUNNING", T)["pid"]
        .as_u64()
        .unwrap() as u32;
    let find = |arg: &str| {
        wait_until(&format!("sleep {arg}"), T, || {
            std::fs::read_dir("/proc")
                .ok()?
                .flatten()
                .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
                .find(|p| {
                    std::fs::read(format!("/proc/{p}/cmdline"))
                        .is_ok_and(|c| c == format!("sleep\0{arg}\0").as_bytes())
                })
        })
    };
    let in_group = find("1001");
    assert_eq!(pgid(in_group), leader);
    // The setsid child: its parent is the shell, now replaced by `sleep 1000` (the leader).
    let escaped = wait_until("the setsid grandchild", T, || {
        children_of(leader).into_iter().find(|p| {
            std::fs::read(format!("/proc/{p}/cmdline"))
                .is_ok_and(|c| c.starts_with(b"sleep\x001002"))
        })
    });
    assert_ne!(pgid(escaped), leader);
    d.ctl_ok(&["stop", "forker"]);
    wait_until("the grandchild in the group to be stopped", T, || {
        (!alive(in_group)).then_some(())
    });
    assert!(alive(escaped), "a new session is out of the group's reach");
    signal(escaped, Signal::SIGKILL);
}
