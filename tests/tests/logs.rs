//! Capturing service output: AUTO, custom and NONE log files, redirect_stderr, size rotation,
//! lossless capture of a fast writer, and `proctorctl tail` (with -n, stderr and -f).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
#![forbid(unsafe_code)]

use proctor_tests::*;
use std::io::BufRead;
use std::path::PathBuf;
use std::process::{Child, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

const T: Duration = Duration::from_secs(15);

fn auto_log(d: &Daemon, name: &str, channel: &str) -> PathBuf {
    d.path(&format!("log/{name}-{channel}---test.log"))
}

/// Waits until `path` holds exactly `want`.
fn wait_content(path: &PathBuf, want: &str) {
    let mut last = None;
    let found = wait_until_or(T, || {
        let s = std::fs::read_to_string(path).ok();
        let ok = s.as_deref() == Some(want);
        last = s;
        ok
    });
    assert!(
        found,
        "{} never held {want:?}; last: {last:?}",
        path.display()
    );
}

/// Like `wait_until`, but returns whether the condition came true instead of panicking.
fn wait_until_or(timeout: Duration, mut f: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if f() {
            return true;
        }
        if Instant::now() > deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn stdout_and_stderr_go_to_separate_auto_files() {
    let d = Daemon::start(
        "[program:both]\ncommand = sh -c 'echo to-out; echo to-err >&2; exec sleep 1000'\nstartsecs = 0\n",
    );
    let p = d.wait_state("both", "RUNNING", T);
    let (out, err) = (
        auto_log(&d, "both", "stdout"),
        auto_log(&d, "both", "stderr"),
    );
    assert_eq!(p["stdout_logfile"], out.display().to_string());
    assert_eq!(p["stderr_logfile"], err.display().to_string());
    wait_content(&out, "to-out\n");
    wait_content(&err, "to-err\n");
}

#[test]
fn redirect_stderr_merges_into_the_stdout_log() {
    let d = Daemon::start(
        "[program:merged]\ncommand = sh -c 'echo one; echo two >&2; echo three; exec sleep 1000'\n\
         startsecs = 0\nredirect_stderr = true\n",
    );
    let p = d.wait_state("merged", "RUNNING", T);
    let out = auto_log(&d, "merged", "stdout");
    assert_eq!(p["stdout_logfile"], out.display().to_string());
    // One pipe for both: the order of writes is kept.
    wait_content(&out, "one\ntwo\nthree\n");
    assert!(!auto_log(&d, "merged", "stderr").exists());
    assert_eq!(d.ctl_ok(&["tail", "merged"]), "one\ntwo\nthree\n");
    // stderr has no log of its own: tail refuses rather than show the stdout log as stderr.
    let o = d.ctl(&["tail", "merged", "stderr"]);
    assert_eq!(
        o.status.code(),
        Some(1),
        "tail merged stderr printed {:?}",
        stdout(&o)
    );
    assert_eq!(
        stderr(&o),
        "proctorctl: merged has no stderr log file (redirect_stderr=true sends stderr to the stdout log)\n"
    );
}

#[test]
fn custom_stdout_logfile_is_honoured() {
    let d = Daemon::start(
        "[program:custom]\ncommand = sh -c 'echo custom-line; exec sleep 1000'\nstartsecs = 0\n\
         stdout_logfile = {dir}/custom.log\n",
    );
    let p = d.wait_state("custom", "RUNNING", T);
    let custom = d.path("custom.log");
    assert_eq!(p["stdout_logfile"], custom.display().to_string());
    wait_content(&custom, "custom-line\n");
    assert!(!auto_log(&d, "custom", "stdout").exists());
    assert_eq!(d.ctl_ok(&["tail", "custom"]), "custom-line\n");
}

#[test]
fn none_writes_no_file_and_tail_says_so() {
    let d = Daemon::start(
        "[program:quiet]\ncommand = sh -c 'echo dropped; echo kept >&2; exec sleep 1000'\nstartsecs = 0\n\
         stdout_logfile = NONE\n",
    );
    let p = d.wait_state("quiet", "RUNNING", T);
    assert_eq!(p["stdout_logfile"], "");
    wait_content(&auto_log(&d, "quiet", "stderr"), "kept\n");
    let files: Vec<String> = std::fs::read_dir(d.path("log"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(files, ["quiet-stderr---test.log"]);
    let o = d.ctl(&["tail", "quiet"]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(stdout(&o), "");
    assert_eq!(
        stderr(&o),
        "proctorctl: quiet has no stdout log file (NONE or redirected)\n"
    );
    assert_eq!(d.ctl_ok(&["tail", "quiet", "stderr"]), "kept\n");
}

#[test]
fn rotation_keeps_maxbytes_and_backups() {
    // Six bursts of 600 bytes ("N\n" x 300), each its own write, apart in time.
    let d = Daemon::start(
        "[program:rot]\ncommand = sh -c 'for i in 1 2 3 4 5 6; do yes $i | head -n 300; sleep 0.3; done; exec sleep 1000'\n\
         startsecs = 0\nstdout_logfile_maxbytes = 1000\nstdout_logfile_backups = 2\n",
    );
    let log = auto_log(&d, "rot", "stdout");
    let burst = |i: u32| format!("{i}\n").repeat(300);
    wait_content(&log, &burst(6));
    let numbered = |n: u32| PathBuf::from(format!("{}.{n}", log.display()));
    assert_eq!(std::fs::read_to_string(numbered(1)).unwrap(), burst(5));
    assert_eq!(std::fs::read_to_string(numbered(2)).unwrap(), burst(4));
    assert!(!numbered(3).exists(), "only 2 backups are kept");
    for f in [log.clone(), numbered(1), numbered(2)] {
        let len = std::fs::metadata(&f).unwrap().len();
        assert!(len <= 1000 + 600, "{} has {len} bytes", f.display());
    }
    // tail reads the current file only.
    assert_eq!(d.ctl_ok(&["tail", "-n", "2", "rot"]), "6\n6\n");
}

#[test]
fn a_fast_writer_loses_nothing() {
    let d = Daemon::start(
        "[program:flood]\ncommand = sh -c 'yes | head -n 2000000; exec sleep 1000'\nstartsecs = 0\n\
         stdout_logfile_maxbytes = 0\n",
    );
    let log = auto_log(&d, "flood", "stdout");
    let mut size = 0;
    let done = wait_until_or(T, || {
        size = std::fs::metadata(&log).map(|m| m.len()).unwrap_or(0);
        size >= 4_000_000
    });
    assert!(done, "the log reached only {size} of 4000000 bytes");
    // Nothing more arrives, and what arrived is intact.
    std::thread::sleep(Duration::from_millis(300));
    let text = std::fs::read(&log).unwrap();
    assert_eq!(text.len(), 4_000_000);
    assert!(
        text.chunks(2).all(|c| c == b"y\n"),
        "the captured output is corrupted"
    );
    assert_eq!(d.state("flood"), "RUNNING");
}

/// A busy pipe is drained by a thread of its own, then handed back to the reactor once quiet:
/// bursts with quiet spells between them (and lines written one by one in a quiet spell) all
/// arrive, whole and in order, through both ways of draining.
#[test]
fn bursts_and_quiet_spells_arrive_whole_and_in_order() {
    let d = Daemon::start(
        "[program:bursty]\ncommand = sh -c 'for b in 1 2 3; do yes burst$b | head -n 400000; \
         sleep 0.1; i=0; while [ $i -lt 50 ]; do echo quiet$b-$i; i=$((i+1)); done; sleep 0.1; \
         done; exec sleep 1000'\nstartsecs = 0\nstdout_logfile_maxbytes = 0\n",
    );
    let log = auto_log(&d, "bursty", "stdout");
    let mut want = String::new();
    for b in 1..=3 {
        want.push_str(&format!("burst{b}\n").repeat(400_000));
        for i in 0..50 {
            want.push_str(&format!("quiet{b}-{i}\n"));
        }
    }
    let mut size = 0;
    let done = wait_until_or(T, || {
        size = std::fs::metadata(&log).map(|m| m.len()).unwrap_or(0);
        size >= want.len() as u64
    });
    assert!(done, "the log reached only {size} of {} bytes", want.len());
    std::thread::sleep(Duration::from_millis(300));
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(
        text == want,
        "the captured output differs from what was written"
    );
}

#[test]
fn tail_prints_the_last_lines_of_either_channel() {
    let d = Daemon::start(
        "[program:lines]\ncommand = sh -c 'for i in 1 2 3 4 5 6 7 8 9 10; do echo line$i; done; \
         echo err-a >&2; echo err-b >&2; exec sleep 1000'\nstartsecs = 0\n",
    );
    let all: String = (1..=10).map(|i| format!("line{i}\n")).collect();
    wait_content(&auto_log(&d, "lines", "stdout"), &all);
    wait_content(&auto_log(&d, "lines", "stderr"), "err-a\nerr-b\n");
    assert_eq!(
        d.ctl_ok(&["tail", "-n", "3", "lines"]),
        "line8\nline9\nline10\n"
    );
    assert_eq!(d.ctl_ok(&["tail", "-n", "1", "lines"]), "line10\n");
    // The default is 20 lines: all 10 here.
    assert_eq!(d.ctl_ok(&["tail", "lines"]), all);
    assert_eq!(d.ctl_ok(&["tail", "lines", "stderr"]), "err-a\nerr-b\n");
    assert_eq!(d.ctl_ok(&["tail", "-n", "1", "lines", "stderr"]), "err-b\n");
    let o = d.ctl(&["tail", "nosuch"]);
    assert_eq!(o.status.code(), Some(4));
    assert_eq!(stderr(&o), "proctorctl: no such process: nosuch\n");
}

/// A running `proctorctl tail -f`, its stdout read line by line in a thread.
struct Follower {
    child: Child,
    lines: mpsc::Receiver<String>,
}

impl Follower {
    fn start(d: &Daemon, args: &[&str]) -> Follower {
        let mut child = d
            .ctl_command(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let out = child.stdout.take().unwrap();
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for l in std::io::BufReader::new(out).lines() {
                let Ok(l) = l else { return };
                if tx.send(l).is_err() {
                    return;
                }
            }
        });
        Follower { child, lines }
    }

    /// Lines read until `marker` (included); panics after the timeout.
    fn until(&self, marker: &str) -> Vec<String> {
        let deadline = Instant::now() + T;
        let mut seen = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(l) => {
                    let done = l == marker;
                    seen.push(l);
                    if done {
                        return seen;
                    }
                }
                Err(e) => panic!("tail -f: no {marker:?} ({e}); got {seen:?}"),
            }
        }
    }
}

impl Drop for Follower {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn tail_follow_receives_later_output() {
    let d = Daemon::start(
        "[program:later]\ncommand = sh -c 'echo before; while [ ! -e {dir}/go ]; do sleep 0.1; done; \
         echo after-1; echo after-2; exec sleep 1000'\nstartsecs = 0\n",
    );
    wait_content(&auto_log(&d, "later", "stdout"), "before\n");
    let f = Follower::start(&d, &["tail", "-f", "later"]);
    assert_eq!(f.until("before"), ["before"]);
    std::fs::write(d.path("go"), "").unwrap();
    assert_eq!(f.until("after-2"), ["after-1", "after-2"]);
    drop(f);
    // The follower's hang-up leaves the daemon serving.
    assert!(d.ctl_ok(&["status"]).contains("RUNNING"));
}

#[test]
fn a_log_truncated_from_outside_is_written_from_its_new_end() {
    // logrotate's copytruncate: the file is cut to 0 while the service writes. proctor writes
    // without O_APPEND (for splice), so it must find the new end, not leave a hole of zeros.
    let d = Daemon::start(&format!(
        "[program:talker]\ncommand = {} --count 100000 --every-ms 20\nstartsecs = 0\nstdout_logfile_maxbytes = 0\n",
        bin("proctor-probe").display()
    ));
    let log = auto_log(&d, "talker", "stdout");
    assert!(wait_until_or(T, || std::fs::metadata(&log).is_ok_and(|m| m.len() > 100)));
    std::fs::OpenOptions::new()
        .write(true)
        .open(&log)
        .unwrap()
        .set_len(0)
        .unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let text = std::fs::read(&log).unwrap();
    assert!(!text.is_empty(), "nothing written after the truncation");
    assert!(
        !text.contains(&0),
        "a hole of zeros: {:?}",
        &text[..text.len().min(64)]
    );
    assert!(
        text.starts_with(b"line "),
        "{:?}",
        String::from_utf8_lossy(&text)
    );
}

/// `n` lines `TAG-i-<pad>-end` from a shell, each in two writes (so that another writer's
/// output could fall between its halves), as fast as it can, then a long sleep.
fn chatter(tag: &str, n: u32) -> String {
    let pad = "x".repeat(300);
    format!(
        "command = sh -c 'i=0; while [ $i -lt {n} ]; do printf {tag}-$i-; echo {pad}-end; \
         i=$((i+1)); done; exec sleep 1000'\nstartsecs = 0\n"
    )
}

/// Every line is one a service wrote, whole, and each service's lines all came, in order.
fn check_whole_lines(text: &str, tags: &[&str], n: u32) {
    let pad = "x".repeat(300);
    let mut next = vec![0u32; tags.len()];
    for line in text.lines() {
        let Some(t) = tags.iter().position(|t| line.starts_with(&format!("{t}-"))) else {
            panic!("a line nobody wrote whole: {line:?}");
        };
        assert_eq!(
            line,
            format!("{}-{}-{pad}-end", tags[t], next[t]),
            "lines of {} mixed or out of order",
            tags[t]
        );
        next[t] += 1;
    }
    assert_eq!(next, vec![n; tags.len()], "lines missing");
}

#[test]
fn services_logging_to_dev_stdout_reach_proctords_stdout_in_whole_lines() {
    // The container pattern: several programs log to /dev/stdout, proctord's stdout is a pipe.
    let n = 2000;
    let tags = ["alpha", "bravo", "charlie"];
    let programs: String = tags
        .iter()
        .map(|t| {
            format!(
                "[program:{t}]\n{}stdout_logfile = /dev/stdout\n",
                chatter(t, n)
            )
        })
        .collect();
    let (d, out) = Daemon::prepare(&programs).launch_piped();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(out).lines() {
            let Ok(line) = line else { return };
            if tx.send(line).is_err() {
                return;
            }
        }
    });
    let mut text = String::new();
    let want = n as usize * tags.len();
    let mut got = 0;
    let deadline = Instant::now() + Duration::from_secs(30);
    while got < want && Instant::now() < deadline {
        if let Ok(line) = rx.recv_timeout(Duration::from_millis(200)) {
            text.push_str(&line);
            text.push('\n');
            got += 1;
        }
    }
    assert!(got > 0, "nothing arrived; proctord said:\n{}", d.stderr());
    check_whole_lines(&text, &tags, n);
    // Such a log is a stream: it cannot be read back, and tail says why.
    let o = d.ctl(&["tail", "alpha"]);
    assert!(!o.status.success());
    assert!(
        stderr(&o)
            .contains("alpha logs its stdout to /dev/stdout, a stream that cannot be read back"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn services_sharing_a_log_file_write_whole_lines() {
    // Both channels of one program and two other programs, in one file.
    let n = 1000;
    let file = "{dir}/shared.log";
    let programs = format!(
        "[program:one]\n{}stdout_logfile = {file}\nstderr_logfile = {file}\n\
         [program:two]\n{}stdout_logfile = {file}\n\
         [program:three]\n{}stdout_logfile = {file}\n",
        chatter("one", n),
        chatter("two", n),
        chatter("three", n),
    );
    let d = Daemon::start(&programs);
    let path = d.path("shared.log");
    let full = wait_until_or(Duration::from_secs(30), || {
        std::fs::read_to_string(&path).is_ok_and(|t| t.lines().count() >= 3 * n as usize)
    });
    assert!(full, "not every line arrived");
    check_whole_lines(
        &std::fs::read_to_string(&path).unwrap(),
        &["one", "two", "three"],
        n,
    );
}

#[test]
fn a_link_in_the_log_directory_truncates_and_reveals_nothing() {
    // The service can write its log directory: it swaps its log for links to other files.
    let d = Daemon::prepare(
        "[program:rot]\ncommand = sh -c 'sleep 1; yes x | head -c 600; sleep 0.5; \
         rm -f {dir}/svc/rot.log; ln -s {dir}/victim {dir}/svc/rot.log; sleep 0.5; \
         yes y | head -c 2000; exec sleep 1000'\nstartsecs = 0\n\
         stdout_logfile = {dir}/svc/rot.log\nstdout_logfile_maxbytes = 1KB\n\
         stdout_logfile_backups = 0\n\
         [program:peek]\ncommand = sh -c 'echo visible; sleep 1; rm -f {dir}/svc/peek.log; \
         ln -s {dir}/secret {dir}/svc/peek.log; exec sleep 1000'\nstartsecs = 0\n\
         stdout_logfile = {dir}/svc/peek.log\n",
    );
    let svc = d.path("svc");
    std::fs::create_dir_all(&svc).unwrap();
    std::fs::write(d.path("victim"), "precious\n").unwrap();
    std::fs::write(d.path("secret"), "SECRET\n").unwrap();
    if let Some(a) = runner() {
        for p in [svc.clone(), d.path("victim"), d.path("secret")] {
            nix::unistd::chown(&p, Some(a.uid.into()), Some(a.gid.into())).unwrap();
        }
    }
    let d = d.launch();
    // Rotation with no backups truncates the log it writes, not what the path now names.
    let linked = wait_until_or(Duration::from_secs(15), || {
        std::fs::symlink_metadata(d.path("svc/rot.log")).is_ok_and(|m| m.is_symlink())
            && std::fs::symlink_metadata(d.path("svc/peek.log")).is_ok_and(|m| m.is_symlink())
    });
    assert!(
        linked,
        "the services did not swap their logs:\n{}",
        d.stderr()
    );
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(
        std::fs::read_to_string(d.path("victim")).unwrap(),
        "precious\n"
    );
    // tail reads the log controld writes, not the file the link points to.
    let o = d.ctl(&["tail", "peek"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains("visible"), "{}", stdout(&o));
    assert!(!stdout(&o).contains("SECRET"), "{}", stdout(&o));
}

#[test]
fn a_fifo_at_a_log_path_holds_up_no_other_service() {
    // The path is no FIFO when the config is loaded (so it is taken for a file); one appears
    // before the service starts, with nobody reading it.
    let d = Daemon::start(
        "[program:trap]\ncommand = sh -c 'echo into-the-fifo; exec sleep 1000'\nstartsecs = 0\n\
         autostart = false\nstdout_logfile = {dir}/trap.log\n\
         [program:other]\ncommand = sh -c 'echo still-logged; exec sleep 1000'\nstartsecs = 0\n\
         autostart = false\n",
    );
    let fifo = d.path("trap.log");
    nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o666)).unwrap();
    if let Some(a) = runner() {
        nix::unistd::chown(&fifo, Some(a.uid.into()), Some(a.gid.into())).unwrap();
    }
    assert!(d.ctl(&["start", "trap"]).status.success());
    assert!(d.ctl(&["start", "other"]).status.success());
    wait_content(&auto_log(&d, "other", "stdout"), "still-logged\n");
}

/// SIGUSR2 to proctord, as to supervisord, reopens the log files: once logrotate has moved a
/// log away, what the service writes next goes to a new file at the log's path, and the moved
/// file keeps what was written before.
#[test]
fn sigusr2_reopens_log_files_moved_away() {
    let mut d = Daemon::start(
        "[program:ticker]\ncommand = sh -c 'i=0; while true; do i=$((i+1)); echo tick $i; sleep 0.05; done'\nstartsecs = 0\n",
    );
    d.wait_state("ticker", "RUNNING", T);
    let log = auto_log(&d, "ticker", "stdout");
    assert!(wait_until_or(T, || std::fs::read_to_string(&log)
        .is_ok_and(|s| s.contains("tick 3\n"))));
    let moved = d.path("log/ticker.1");
    std::fs::rename(&log, &moved).unwrap();
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(i32::try_from(d.pid()).unwrap()),
        nix::sys::signal::Signal::SIGUSR2,
    )
    .unwrap();
    assert!(
        wait_until_or(T, || std::fs::read_to_string(&log)
            .is_ok_and(|s| s.lines().count() >= 3)),
        "no new log at {}",
        log.display()
    );
    // Each line is in one file only, the old ones first: nothing lost, nothing twice.
    let (old, new) = (
        std::fs::read_to_string(&moved).unwrap(),
        std::fs::read_to_string(&log).unwrap(),
    );
    let numbers: Vec<u64> = old
        .lines()
        .chain(new.lines())
        .map(|l| l.strip_prefix("tick ").unwrap().parse().unwrap())
        .collect();
    let first = numbers[0];
    assert_eq!(
        numbers,
        (first..first + numbers.len() as u64).collect::<Vec<_>>(),
        "old:\n{old}\nnew:\n{new}"
    );
    assert!(d.stderr().contains("SIGUSR2"), "{}", d.stderr());
    d.stop();
}

/// `proctorctl fg`: what is typed reaches the process's stdin, what it says comes back, and the
/// end of the input ends `fg` while the process runs on.
#[test]
fn fg_talks_to_a_process_through_its_stdin() {
    use std::io::{Read, Write};
    let d = Daemon::start("[program:cat]\ncommand = cat\nstartsecs = 0\n");
    let pid = d.wait_state("cat", "RUNNING", T)["pid"].as_u64().unwrap();
    let mut child = d
        .ctl_command(&["fg", "cat"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut input = child.stdin.take().unwrap();
    let mut out = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel::<String>();
    std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        while let Ok(n) = out.read(&mut buf) {
            if n == 0
                || tx
                    .send(String::from_utf8_lossy(&buf[..n]).into_owned())
                    .is_err()
            {
                break;
            }
        }
    });
    input.write_all(b"hello through stdin\n").unwrap();
    let mut seen = String::new();
    let deadline = Instant::now() + T;
    while !seen.contains("hello through stdin") && Instant::now() < deadline {
        if let Ok(s) = rx.recv_timeout(Duration::from_millis(100)) {
            seen.push_str(&s);
        }
    }
    assert!(seen.contains("hello through stdin"), "{seen:?}");
    drop(input);
    let status = wait_until("fg to end", T, || child.try_wait().ok().flatten());
    assert!(status.success(), "{status}");
    assert_eq!(d.process("cat")["pid"].as_u64(), Some(pid), "cat runs on");
}
