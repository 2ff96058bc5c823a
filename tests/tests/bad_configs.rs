//! The real proctord refuses bad configs: exit status 2, one `file:line: problem` message, and
//! nothing started.
#![allow(clippy::unwrap_used, clippy::panic)]
#![forbid(unsafe_code)]

use proctor_tests::*;
use std::process::Stdio;

/// (what, config text, the exact message after `proctord: DIR/bad.conf:`).
const CASES: &[(&str, &str, &str)] = &[
    (
        "unbalanced quotes",
        "[program:a]\ncommand = sh -c 'echo hi\n",
        "2: [program:a] command has unbalanced quotes",
    ),
    (
        "unknown user",
        "[program:a]\ncommand = /bin/true\nuser = no-such-user-xyz\n",
        "3: [program:a] user 'no-such-user-xyz' does not exist",
    ),
    (
        "user=root",
        "[program:a]\ncommand = /bin/true\nuser = root\n",
        "3: [program:a] user=root is refused: services never run as root",
    ),
    (
        "numprocs without process_num",
        "[program:a]\ncommand = /bin/true\nnumprocs = 2\n",
        "3: [program:a] numprocs = 2 requires %(process_num) in process_name",
    ),
    (
        "unknown stopsignal",
        "[program:a]\ncommand = /bin/true\nstopsignal = SIGSEGV\n",
        "3: bad value for stopsignal: 'SIGSEGV' (expected one of HUP INT QUIT KILL USR1 USR2 ALRM TERM CONT STOP TSTP WINCH (the signals proctord sends))",
    ),
    (
        "bad number",
        "[program:a]\ncommand = /bin/true\nstartsecs = soon\n",
        "3: bad value for startsecs: 'soon' (expected an integer >= 0)",
    ),
    (
        "two programs, one log file, rotated differently",
        "[program:a]\ncommand = /bin/true\nstdout_logfile = {dir}/x.log\n\n[program:b]\ncommand = /bin/true\nstdout_logfile = {dir}/x.log\nstdout_logfile_backups = 2\n",
        "7: [program:b] stdout_logfile DIR/x.log is also the log of [program:a] (DIR/bad.conf:3), which rotates it differently (stdout_logfile_maxbytes=52428800, stdout_logfile_backups=2 here; maxbytes=52428800, backups=10 there): give them the same settings or different files",
    ),
    (
        "group naming an undefined program",
        "[group:g]\nprograms = a,b\n\n[program:a]\ncommand = /bin/true\n",
        "2: [group:g] names program 'b', which is not defined",
    ),
    (
        "a line that is not key = value",
        "[program:a]\ncommand /bin/true\n",
        "2: expected 'key = value' or '[section]', found 'command /bin/true'",
    ),
    (
        "malformed section header",
        "[program:a\ncommand = /bin/true\n",
        "1: malformed section header '[program:a' (expected [name])",
    ),
    (
        "bad boolean",
        "[program:a]\ncommand = /bin/true\nautostart = sometimes\n",
        "3: bad value for autostart: 'sometimes' (expected true or false)",
    ),
    (
        "unknown expansion",
        "[program:a]\ncommand = /bin/echo %(nosuch)s\n",
        "2: unknown expansion %(nosuch)s in command",
    ),
    (
        "inet_http_server on every interface without TLS",
        "[inet_http_server]\nport = *:9001\n",
        "2: [inet_http_server] port=*:9001 would listen beyond the loopback without TLS: \
         passwords and session cookies would cross the network in clear. Add tls_cert= and \
         tls_key=, or bind 127.0.0.1 and reach it through `ssh -L`",
    ),
    (
        "inet_http_server on another address without TLS",
        "[inet_http_server]\nusername = u\npassword = p\nport = 192.0.2.1:9001\n",
        "4: [inet_http_server] port=192.0.2.1:9001 would listen beyond the loopback without \
         TLS: passwords and session cookies would cross the network in clear. Add tls_cert= \
         and tls_key=, or bind 127.0.0.1 and reach it through `ssh -L`",
    ),
    (
        "inet_http_server port out of range",
        "[inet_http_server]\nport = 127.0.0.1:70000\n",
        "2: bad value for port: '127.0.0.1:70000' (expected [HOST:]PORT with a port from 1 to 65535)",
    ),
    (
        "inet_http_server without a port",
        "[inet_http_server]\nusername = u\n",
        "1: [inet_http_server] has no port= (write port=127.0.0.1:9001)",
    ),
    (
        "inet_http_server username without password",
        "[inet_http_server]\nport = 9001\nusername = u\n",
        "1: [inet_http_server] username= and password= go together: give both or neither",
    ),
    (
        "inet_http_server identity of nobody",
        "[inet_http_server]\nport = 9001\nidentity = proctest-no-such-user\n",
        "3: [inet_http_server] identity: user 'proctest-no-such-user' does not exist",
    ),
    (
        "inet_http_server half of TLS",
        "[inet_http_server]\nport = 9001\ntls_cert = /etc/ssl/x.pem\n",
        "1: [inet_http_server] tls_cert= and tls_key= go together: give both or neither",
    ),
];

fn check(what: &str, text: &str, expected_tail: &str) -> Option<String> {
    let dir = workdir();
    let d = dir.path().display().to_string();
    let conf = dir.path().join("bad.conf");
    // Sockets and logs inside the temp dir, so that nothing but the error can differ.
    let body = format!(
        "[unix_http_server]\nfile = {d}/s.sock\n[supervisord]\nchildlogdir = {d}/log\n{}",
        text.replace("{dir}", &d)
    );
    let header_lines = 4;
    std::fs::write(&conf, body).unwrap();
    // The expected line numbers count from the program text; shift them past the header.
    let (line, rest) = expected_tail.split_once(':').unwrap();
    let line: usize = line.parse::<usize>().unwrap() + header_lines;
    let rest = rest.replace(
        "DIR/bad.conf:1)",
        &format!("DIR/bad.conf:{})", 1 + header_lines),
    );
    let rest = rest.replace(
        "DIR/bad.conf:3)",
        &format!("DIR/bad.conf:{})", 3 + header_lines),
    );
    let expected = format!("proctord: {d}/bad.conf:{line}:{}", rest.replace("DIR", &d));
    let mut child = command(&bin("proctord"))
        .arg("-c")
        .arg(&conf)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let started = std::time::Instant::now();
    while child.try_wait().unwrap().is_none() {
        if started.elapsed() > std::time::Duration::from_secs(10) {
            let _ = child.kill();
            let _ = child.wait();
            return Some(format!(
                "{what}: proctord accepted the config and kept running"
            ));
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let out = child.wait_with_output().unwrap();
    let err = stderr(&out);
    let last = err.lines().last().unwrap_or_default();
    if out.status.code() != Some(2) || last != expected {
        return Some(format!(
            "{what}: exit {:?}\n  expected: {expected}\n  got:      {err}",
            out.status.code()
        ));
    }
    if dir.path().join("s.sock").exists() {
        return Some(format!(
            "{what}: a socket was created although the config is bad"
        ));
    }
    None
}

#[test]
fn bad_configs_are_refused_with_file_line_and_reason() {
    let failures: Vec<String> = CASES
        .iter()
        .filter_map(|(what, text, tail)| check(what, text, tail))
        .collect();
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn user_naming_another_account_is_refused_in_user_mode() {
    // Any account other than the one running the daemon; `daemon` exists on every Debian.
    let me = runner().map(|a| a.name).unwrap_or_else(|| {
        nix::unistd::User::from_uid(nix::unistd::getuid())
            .ok()
            .flatten()
            .map(|u| u.name)
            .unwrap_or_default()
    });
    let other = if me == "daemon" { "nobody" } else { "daemon" };
    let msg = format!(
        "3: [program:a] user={other}: proctord runs as '{me}' and can only start services as that user (run it as root to switch users)"
    );
    let text = format!("[program:a]\ncommand = /bin/true\nuser = {other}\n");
    if let Some(f) = check("user= another account", &text, &msg) {
        panic!("{f}");
    }
}

#[test]
fn unknown_keys_only_warn_and_the_daemon_runs() {
    let d = Daemon::start("[program:a]\ncommand = sleep 1000\nstartsecs = 0\nfrobnicate = yes\n");
    d.wait_state("a", "RUNNING", std::time::Duration::from_secs(15));
    let err = d.stderr();
    assert!(
        err.contains(&format!(
            "proctord: warning: {}:11: unknown key 'frobnicate' in [program:a] (ignored)",
            d.conf.display()
        )),
        "{err}"
    );
}

#[test]
fn what_supervisor_accepts_only_warns_and_the_daemon_runs() {
    // A key given twice (the last wins), a section given again, an include that matches
    // nothing: Supervisor 4.3 accepts all three, and so does proctord, saying so.
    let d = Daemon::start(
        "[program:a]\ncommand = sleep 1000\ncommand = sleep 2000\nstartsecs = 0\n\
         [include]\nfiles = conf.d/*.conf\n[program:a]\nautostart = true\n",
    );
    let p = d.wait_state("a", "RUNNING", std::time::Duration::from_secs(15));
    let cmdline = std::fs::read_to_string(format!("/proc/{}/cmdline", p["pid"])).unwrap();
    assert_eq!(cmdline, "sleep\u{0}2000\u{0}");
    let err = d.stderr();
    let conf = d.conf.display();
    let text = std::fs::read_to_string(&d.conf).unwrap();
    let line_of = |s: &str| text.lines().position(|l| l == s).unwrap() + 1;
    let (first, again, files) = (
        line_of("command = sleep 1000"),
        line_of("command = sleep 2000"),
        line_of("files = conf.d/*.conf"),
    );
    for warning in [
        format!(
            "proctord: warning: {conf}:{again}: command is given again in [program:a]: this \
             value replaces the one at {conf}:{first} (the last one wins, as in Supervisor)"
        ),
        format!(
            "proctord: warning: {conf}:{files}: include pattern 'conf.d/*.conf' matches no file"
        ),
    ] {
        assert!(err.contains(&warning), "missing: {warning}\n{err}");
    }
}
