//! The attacks of the security review, each run against the real processes as root: what an
//! account that runs a service, or any user who can connect, could do to proctord and
//! controld. Each test fails on the code before its fix.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use proctor_tests::root::*;
use proctor_tests::*;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// One attack at a time: each loads both cores, and the flood tests measure root's latency.
static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn exclusive() -> std::sync::MutexGuard<'static, ()> {
    ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner())
}

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
    let _one = exclusive();
    ensure_account("proctest-frozen");
    ensure_account("proctest-bystander");
    let d = RootDaemon::start(
        "[program:freezer]\ncommand = {probe} --freeze-spawns --every 8\nuser = proctest-frozen\n\
         startsecs = 0\n\n\
         [program:victim]\ncommand = {probe}\nuser = proctest-frozen\nstartsecs = 0\n\
         autorestart = false\n\n\
         [program:other]\ncommand = {probe}\nuser = proctest-bystander\nstartsecs = 0\n",
    );
    let freezer = d.running_pid("freezer");
    d.running_pid("other");

    // The attack races a window of microseconds, so it does not land on every spawn: after the
    // 100 restarts, up to 400 more run until it has landed at least once.
    let landed = |log: &str| log.matches(FROZEN).count();
    let done = Arc::new(AtomicBool::new(false));
    let restarts = {
        let (socket, log, done) = (d.socket.clone(), d.log.clone(), done.clone());
        std::thread::spawn(move || {
            let mut n = 0;
            while n < 100
                || (n < 500 && landed(&std::fs::read_to_string(&log).unwrap_or_default()) == 0)
            {
                let _ = std::process::Command::new(bin("proctorctl"))
                    .arg("-s")
                    .arg(&socket)
                    .args(["restart", "victim"])
                    .output();
                n += 1;
            }
            done.store(true, Ordering::SeqCst);
            n
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
    let restarted = restarts.join().unwrap();

    // The attack really ran: children were stopped before their exec, and proctord reported
    // each such spawn as failed.
    let frozen = landed(&d.stderr());
    assert!(
        frozen > 0,
        "the attack never stopped a child before its exec in {restarted} restarts \
         (freezer pid {freezer})"
    );
    println!(
        "{frozen} of {restarted} spawns stopped before their exec; {stops} stops of another \
         service, the slowest {slowest:?}"
    );
    // And nothing is left stuck: proctord still spawns.
    assert!(d.ctl(&["stop", "freezer"]).status.success());
    let o = d.ctl(&["restart", "victim"]);
    assert!(o.status.success(), "{}", stderr(&o));
}

/// What controld logs, once per spawn, for a child that was stopped before its exec.
const FROZEN: &str = "spawnerr: victim: the new process had not started its program after 500 ms";

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

/// control-load run as `who`, for the flood tests (`--hold` holds until its stdin closes).
fn load_as(who: &Account, args: &[String]) -> std::process::Child {
    use std::os::unix::process::CommandExt;
    std::process::Command::new(bin("control-load"))
        .uid(who.uid)
        .gid(who.gid)
        .args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap()
}

fn json_of(child: std::process::Child) -> serde_json::Value {
    let o = child.wait_with_output().unwrap();
    assert!(o.status.success(), "control-load: {}", stderr(&o));
    serde_json::from_slice(&o.stdout).unwrap()
}

/// Eight clients without any right send the largest requests they can (1,000 names each) in
/// a loop for 10 s against 1,000 processes. They are refused before their names are resolved
/// (or turned away by the rate limit), and root's `status` of everything keeps answering
/// throughout. The benchmark prints root's latency, idle and under this load.
#[test]
fn clients_without_rights_cannot_stall_supervision() {
    if skip("no-rights flood") {
        return;
    }
    let _one = exclusive();
    ensure_account("proctest-bystander");
    let mallory = ensure_account("proctest-mallory");
    let n = 1000;
    let programs: String = (0..n)
        .map(|i| {
            format!(
                "[program:p{i}]\ncommand = sleep 100000\nuser = proctest-bystander\nstartsecs = 0\n\n"
            )
        })
        .collect();
    let (pdir, policy) = RootDaemon::policy_file("admins = []\n");
    let d = RootDaemon::start_with(
        &programs,
        &format!(
            "policy = {}\naudit_log = {}/audit/audit.log\n",
            policy.display(),
            pdir.path().display()
        ),
    );
    d.open_socket_to_all();
    wait_until("1000 RUNNING", Duration::from_secs(60), || {
        let o = d.ctl(&["status", "--json"]);
        let v: serde_json::Value = serde_json::from_slice(&o.stdout).ok()?;
        let all = v["result"].as_array()?;
        (all.len() == n && all.iter().all(|p| p["state"] == "RUNNING")).then_some(())
    });
    let socket = d.socket.display().to_string();
    let root_status = || {
        let o = std::process::Command::new(bin("control-load"))
            .args(["--status", &socket, "20"])
            .output()
            .unwrap();
        let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        assert_eq!(v["errors"], 0, "root's status failed: {v}");
        v
    };
    let idle = root_status()["p50_ms"].as_f64().unwrap();
    let mut args = vec![
        "--flood".to_owned(),
        socket.clone(),
        "8".into(),
        "10".into(),
    ];
    args.extend((0..n).map(|i| format!("p{i}")));
    let flood = load_as(&mallory, &args);
    let started = Instant::now();
    let (mut root_answers, mut worst, mut worst_p99) = (0, 0.0f64, 0.0f64);
    while started.elapsed() < Duration::from_secs(9) {
        let v = root_status();
        root_answers += v["requests"].as_u64().unwrap();
        worst = worst.max(v["p50_ms"].as_f64().unwrap());
        worst_p99 = worst_p99.max(v["p99_ms"].as_f64().unwrap());
    }
    let flood = json_of(flood);
    println!(
        "flood: {flood}; root's status answered {root_answers} times meanwhile, median \
         {worst:.1} ms at worst, p99 {worst_p99:.1} ms (idle median {idle:.1} ms)"
    );
    // Nothing but refusals: permission denied, or the rate limit.
    let total = flood["requests"].as_u64().unwrap();
    let refused = flood["denied"].as_u64().unwrap_or(0) + flood["busy"].as_u64().unwrap_or(0);
    assert!(flood["denied"].as_u64().unwrap_or(0) > 0, "{flood}");
    assert_eq!(refused, total, "{flood}");
    // Before the fix each of these requests was resolved against every process first: root
    // waited 20 times its idle figure. The benchmark holds the real target (2x idle); this
    // bound only has to tell "slowed by the load on two cores" from "stalled".
    assert!(
        worst < (10.0 * idle).max(idle + 100.0),
        "root's status took {worst:.1} ms (median) under the flood, {idle:.1} ms idle"
    );
}

/// A client without rights floods the socket for 20 s with the audit log kept small. Every
/// request of it was once recorded, and rotation deleted the oldest file, so the flood pushed
/// everyone's history out while `audit --verify` still passed. Now it is held to a rate, its
/// refusals are counted in one record per interval, and a rotation that would delete a recent
/// file refuses its requests instead: root's first record is still there afterwards.
#[test]
fn a_flood_cannot_push_records_out_of_the_audit_log() {
    if skip("audit flood") {
        return;
    }
    let _one = exclusive();
    ensure_account("proctest-bystander");
    let mallory = ensure_account("proctest-mallory");
    let (pdir, policy) = RootDaemon::policy_file("admins = []\n");
    let log = pdir.path().join("audit/audit.log");
    let d = RootDaemon::start_with(
        "[program:p]\ncommand = sleep 100000\nuser = proctest-bystander\nstartsecs = 0\n",
        &format!(
            "policy = {}\naudit_log = {}\naudit_log_maxbytes = 32KB\naudit_log_backups = 2\n",
            policy.display(),
            log.display()
        ),
    );
    d.open_socket_to_all();
    d.running_pid("p");
    assert!(d.ctl(&["signal", "CONT", "p"]).status.success());
    let first = std::fs::read_to_string(&log).unwrap();
    let root_record = first
        .lines()
        .find(|l| l.contains("\"action\":\"signal\"") && l.contains("\"uid\":0,"))
        .expect("root's request is recorded")
        .to_owned();

    let socket = d.socket.display().to_string();
    let flood = json_of(load_as(
        &mallory,
        &[
            "--flood".into(),
            socket,
            "8".into(),
            "20".into(),
            "p".into(),
        ],
    ));
    println!("flood: {flood}");
    let files = || -> String {
        [".2", ".1", ""]
            .iter()
            .map(|s| std::fs::read_to_string(format!("{}{s}", log.display())).unwrap_or_default())
            .collect()
    };
    assert!(
        files().contains(&root_record),
        "root's record was pushed out of the audit log by the flood"
    );
    // The refusals are in the log, counted: the last interval's within SUMMARY_EVERY.
    wait_until(
        "a summary of refused requests",
        Duration::from_secs(15),
        || {
            files()
                .contains("\"kind\":\"refused\",\"uid\":")
                .then_some(())
        },
    );
    let all = files();
    // Each file verifies on its own; the whole history verifies as one chain.
    let paths: Vec<String> = [".2", ".1", ""]
        .iter()
        .map(|s| format!("{}{s}", log.display()))
        .filter(|p| std::path::Path::new(p).exists())
        .collect();
    let mut args = vec!["audit", "--verify"];
    args.extend(paths.iter().map(String::as_str));
    let o = d.ctl(&args);
    assert!(o.status.success(), "{}{}", stdout(&o), stderr(&o));
    // Most of the flood was turned away without a record each.
    let total = flood["requests"].as_u64().unwrap();
    let recorded = all.matches("\"user\":\"proctest-mallory\"").count() as u64;
    assert!(
        recorded * 10 < total,
        "{recorded} records for {total} requests"
    );
    // And root is still served.
    assert!(d.ctl(&["signal", "CONT", "p"]).status.success());
}

/// The plain hash chain recomputed over `lines` from `from` on, as the account that writes
/// the audit log can do: each record's `prev` set to the hash of the line before it.
fn rechain(lines: &mut [String], from: usize) {
    use proctor_api::audit::{hash, Record};
    for i in from.max(1)..lines.len() {
        let mut r: Record = serde_json::from_str(&lines[i]).unwrap();
        r.prev = hash(&lines[i - 1]);
        lines[i] = serde_json::to_string(&r).unwrap();
    }
}

/// Writes `lines` back over the files they came from (`counts[i]` lines each).
fn write_back(files: &[std::path::PathBuf], counts: &[usize], lines: &[String]) {
    let mut at = 0;
    for (f, n) in files.iter().zip(counts) {
        let text: String = lines[at..at + n].iter().map(|l| format!("{l}\n")).collect();
        std::fs::write(f, text).unwrap();
        at += n;
    }
}

/// What controld's account can do to the audit log once it is taken over: it owns the files.
/// It edits an old record and recomputes the plain hash chain after it, cuts the last
/// records, and replaces a rotated file with one that starts with a `rotated` record. The
/// plain chain is fooled every time; root's verify, with the seal keys that account cannot
/// read, names the first bad record each time.
#[test]
fn controlds_account_cannot_rewrite_sealed_history() {
    if skip("audit sealing") {
        return;
    }
    let _one = exclusive();
    ensure_account("proctest-bystander");
    let (pdir, policy) = RootDaemon::policy_file("admins = []\n");
    let log = pdir.path().join("audit/audit.log");
    let d = RootDaemon::start_with(
        "[program:p]\ncommand = sleep 100000\nuser = proctest-bystander\nstartsecs = 0\n",
        &format!(
            "policy = {}\naudit_log = {}\naudit_log_maxbytes = 4KB\naudit_log_backups = 5\n",
            policy.display(),
            log.display()
        ),
    );
    d.running_pid("p");
    for _ in 0..12 {
        assert!(d.ctl(&["signal", "CONT", "p"]).status.success());
    }
    let seal = d.dir.path().join("seal/audit.seal");
    let files: Vec<std::path::PathBuf> = [".3", ".2", ".1", ""]
        .iter()
        .map(|s| std::path::PathBuf::from(format!("{}{s}", log.display())))
        .filter(|p| p.exists())
        .collect();
    assert!(files.len() >= 3, "rotated files: {files:?}");
    let verify = |chain_only: bool| {
        let mut c = std::process::Command::new(bin("proctorctl"));
        c.args(["-c", "/nonexistent", "audit", "--verify"]);
        if !chain_only {
            c.arg("--seal").arg(&seal);
        }
        c.args(&files).output().unwrap()
    };
    let o = verify(false);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stdout(&o).contains("sealed records verified"),
        "{}",
        stdout(&o)
    );
    println!("{}", stdout(&o).trim());

    // The account that writes the log can write these files, and cannot read the seal keys.
    let ctl = ensure_account("proctest-ctl");
    let as_ctl = |args: &[&str]| {
        use std::os::unix::process::CommandExt;
        std::process::Command::new(args[0])
            .args(&args[1..])
            .uid(ctl.uid)
            .gid(ctl.gid)
            .output()
            .unwrap()
    };
    let last = files.last().unwrap().display().to_string();
    assert!(as_ctl(&["test", "-w", &last]).status.success());
    let o = as_ctl(&["cat", &seal.display().to_string()]);
    assert!(!o.status.success(), "controld's account read the seal keys");

    let original: Vec<String> = files
        .iter()
        .map(|f| std::fs::read_to_string(f).unwrap())
        .collect();
    let counts: Vec<usize> = original.iter().map(|t| t.lines().count()).collect();
    let all: Vec<String> = original
        .iter()
        .flat_map(|t| t.lines().map(str::to_owned))
        .collect();
    let restore = || {
        for (f, t) in files.iter().zip(&original) {
            std::fs::write(f, t).unwrap();
        }
    };
    let expect_named = |what: &str, wanted: &str| {
        let chain = verify(true);
        assert!(
            chain.status.success(),
            "{what}: the plain chain saw it: {}",
            stderr(&chain)
        );
        let o = verify(false);
        assert_eq!(o.status.code(), Some(1), "{what}: {}", stdout(&o));
        assert!(stderr(&o).contains(wanted), "{what}: {}", stderr(&o));
        println!("{what}: {}", stderr(&o).trim());
        restore();
    };

    // 1. An old record edited, the plain chain recomputed after it.
    // (How many `status` records come first depends on how soon `p` was seen RUNNING.)
    let mut lines = all.clone();
    let victim = all
        .iter()
        .position(|l| l.contains("\"action\":\"signal\""))
        .unwrap();
    let seq = serde_json::from_str::<serde_json::Value>(&lines[victim]).unwrap()["seq"].clone();
    lines[victim] = lines[victim].replace("\"action\":\"signal\"", "\"action\":\"status\"");
    assert_ne!(lines[victim], all[victim], "the edit applies");
    rechain(&mut lines, victim + 1);
    write_back(&files, &counts, &lines);
    // Which file, and which line of it, the victim is.
    let (mut file, mut line) = (0, victim);
    while line >= counts[file] {
        line -= counts[file];
        file += 1;
    }
    expect_named(
        "an edited record",
        &format!(
            "{}:{}: record {seq} does not match its seal",
            files[file].display(),
            line + 1
        ),
    );

    // 2. The last three records cut off.
    let mut lines = all.clone();
    let cut_to = lines.len() - 3;
    let last_kept =
        serde_json::from_str::<serde_json::Value>(&lines[cut_to - 1]).unwrap()["seq"].clone();
    lines.truncate(cut_to);
    let mut short = counts.clone();
    *short.last_mut().unwrap() -= 3;
    write_back(&files, &short, &lines);
    expect_named(
        "records cut off the end",
        &format!("the records after record {last_kept} are missing"),
    );

    // 3. A rotated file replaced by one of the account's making: a `rotated` record first,
    // continuing the chain from the file before, and the same records after it.
    let mut lines = all.clone();
    let start: usize = counts[0];
    let mut first: proctor_api::audit::Record = serde_json::from_str(&lines[start]).unwrap();
    assert_eq!(first.kind, "rotated");
    first.targets = vec!["/somewhere/else".into()];
    lines[start] = serde_json::to_string(&first).unwrap();
    rechain(&mut lines, start);
    write_back(&files, &counts, &lines);
    expect_named(
        "a replaced file",
        &format!(
            "{}:1: record {} does not match its seal",
            files[1].display(),
            first.seq
        ),
    );
    // Untouched, it verifies again; and across a controld restart, which starts a new epoch
    // with a new key.
    assert!(verify(false).status.success());
    let _ = nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(d.controld_pid() as i32),
        nix::sys::signal::Signal::SIGKILL,
    );
    wait_until("a new controld", Duration::from_secs(15), || {
        d.ctl(&["signal", "CONT", "p"])
            .status
            .success()
            .then_some(())
    });
    assert!(d.ctl(&["signal", "CONT", "p"]).status.success());
    let files: Vec<std::path::PathBuf> = [".5", ".4", ".3", ".2", ".1", ""]
        .iter()
        .map(|s| std::path::PathBuf::from(format!("{}{s}", log.display())))
        .filter(|p| p.exists())
        .collect();
    let o = std::process::Command::new(bin("proctorctl"))
        .args(["-c", "/nonexistent", "audit", "--verify", "--seal"])
        .arg(&seal)
        .args(&files)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains("(epochs 1 to 2)"), "{}", stdout(&o));
}

/// Accounts without any right open every connection they may and send nothing. Each account
/// holds at most 64; once the shared slots are taken (eight such accounts take them all), root
/// and an admin are still served from the slots kept for them, and anyone else is told the
/// daemon is busy. An account that may tail a log follows at most 8 at once.
#[test]
fn accounts_without_rights_cannot_take_every_connection() {
    if skip("connection slots") {
        return;
    }
    let _one = exclusive();
    ensure_account("proctest-bystander");
    ensure_account("proctest-admin");
    let follower = ensure_account("proctest-follower");
    let flooders: Vec<Account> = (1..=8)
        .map(|i| ensure_account(&format!("proctest-flood{i}")))
        .collect();
    let (pdir, policy) = RootDaemon::policy_file(
        "admins = [\"proctest-admin\"]\n\n[[allow]]\nwho = [\"proctest-follower\"]\n\
         actions = [\"status\", \"tail\"]\nprograms = [\"p\"]\n",
    );
    let d = RootDaemon::start_with(
        "[program:p]\ncommand = sleep 100000\nuser = proctest-bystander\nstartsecs = 0\n",
        &format!(
            "policy = {}\naudit_log = {}/audit/audit.log\n",
            policy.display(),
            pdir.path().display()
        ),
    );
    d.open_socket_to_all();
    d.running_pid("p");
    let socket = d.socket.display().to_string();

    // Each account asks for 100 connections, all at once (a silent connection is dropped after
    // 10 s): 64 each are held until the shared slots (480) are taken, the rest refused.
    let mut holders: Vec<std::process::Child> = flooders
        .iter()
        .map(|who| load_as(who, &["--hold".into(), socket.clone(), "100".into()]))
        .collect();
    let (mut held, mut busy) = (0, 0);
    let mut messages = String::new();
    for child in &mut holders {
        let mut line = String::new();
        std::io::BufRead::read_line(
            &mut std::io::BufReader::new(child.stdout.as_mut().unwrap()),
            &mut line,
        )
        .unwrap();
        let v: serde_json::Value = serde_json::from_str(&line).unwrap();
        held += v["held"].as_u64().unwrap();
        busy += v["busy"].as_u64().unwrap();
        messages.push_str(&line);
    }
    println!("8 accounts asked for 800 connections: {held} held, {busy} refused; {messages}");
    assert_eq!(held, 480, "{messages}");
    assert_eq!(busy, 320, "{messages}");
    assert!(
        messages.contains("your account has 64 connections"),
        "{messages}"
    );
    assert!(
        messages.contains("serving 512 clients already"),
        "{messages}"
    );

    // Meanwhile: root and the admin are served, an account with no connection is turned away.
    let as_user = |who: &str, args: &[&str]| d.ctl_as(&ensure_account(who), args);
    let o = d.ctl(&["status", "p"]);
    assert!(o.status.success(), "root: {}", stderr(&o));
    let o = as_user("proctest-admin", &["status", "p"]);
    assert!(o.status.success(), "the admin: {}", stderr(&o));
    let o = as_user("proctest-bystander", &["status", "p"]);
    assert_eq!(o.status.code(), Some(4), "{}", stderr(&o));
    assert!(stderr(&o).contains("try again"), "{}", stderr(&o));
    for mut h in holders {
        drop(h.stdin.take());
        let _ = h.wait();
    }

    // Followers: 8 at once per account.
    let tails: Vec<std::process::Child> = (0..10)
        .map(|_| {
            use std::os::unix::process::CommandExt;
            std::process::Command::new(bin("proctorctl"))
                .uid(follower.uid)
                .gid(follower.gid)
                .arg("-s")
                .arg(&d.socket)
                .args(["tail", "-f", "p"])
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    std::thread::sleep(Duration::from_secs(2));
    let mut following = 0;
    let mut refused = Vec::new();
    for mut t in tails {
        match t.try_wait().unwrap() {
            None => {
                following += 1;
                let _ = t.kill();
                let _ = t.wait();
            }
            Some(_) => refused.push(stderr(&t.wait_with_output().unwrap())),
        }
    }
    assert_eq!(following, 8, "{refused:?}");
    assert_eq!(refused.len(), 2, "{refused:?}");
    assert!(
        refused.iter().all(|e| e.contains("follows 8 logs already")),
        "{refused:?}"
    );
}
