//! The control socket under misuse: garbage, oversized and truncated frames, a foreign protocol
//! version and silent clients are dropped without harm to anyone else; clients are served
//! concurrently; only the daemon's own user and root may use it.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
#![forbid(unsafe_code)]

use proctor_api::control::{
    read_frame, write_frame, ClientFrame, ErrorKind, Request, Response, CONTROL_PROTOCOL_VERSION,
    MAX_RESPONSE,
};
use proctor_tests::*;
use std::io::{BufRead, Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixStream;
use std::os::unix::process::CommandExt;
use std::process::Stdio;
use std::sync::mpsc;
use std::time::{Duration, Instant};

const T: Duration = Duration::from_secs(15);

fn daemon() -> Daemon {
    let d = Daemon::start("[program:svc]\ncommand = sleep 1000\nstartsecs = 0\n");
    d.wait_state("svc", "RUNNING", T);
    d
}

fn connect(d: &Daemon) -> UnixStream {
    let s = UnixStream::connect(&d.socket).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s
}

/// The daemon still answers, and has not panicked.
fn still_serving(d: &Daemon) {
    let out = d.ctl_ok(&["status"]);
    assert!(out.starts_with("svc ") && out.contains("RUNNING"), "{out}");
    let log = d.stderr();
    assert!(!log.contains("panicked"), "{log}");
}

/// Reads to the end: the daemon must close the connection (a reset counts, when it closed with
/// our unread bytes in its queue) without sending anything (more).
fn hung_up(s: &mut UnixStream) {
    let mut rest = Vec::new();
    match s.read_to_end(&mut rest) {
        Ok(_) => assert!(rest.is_empty(), "unexpected bytes: {rest:?}"),
        Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {}
        Err(e) => panic!("the daemon did not close the connection: {e}"),
    }
}

/// The one reply the daemon sends before closing: an error frame, then EOF.
fn error_then_eof(mut s: UnixStream) -> (ErrorKind, String) {
    let body = read_frame(&mut s, MAX_RESPONSE)
        .unwrap()
        .expect("an error reply before the daemon hangs up");
    let resp: Response = proctor_wire::decode_exact(&body).unwrap();
    hung_up(&mut s);
    match resp {
        Response::Error { kind, message } => (kind, message),
        other => panic!("expected an error, got {other:?}"),
    }
}

#[test]
fn garbage_is_refused() {
    let d = daemon();
    // A length far past the limit.
    let mut s = connect(&d);
    s.write_all(b"\x7f\xff\xff\xffjunk").unwrap();
    let (kind, msg) = error_then_eof(s);
    assert_eq!(kind, ErrorKind::BadArguments);
    assert_eq!(
        msg,
        "request of 2147483647 bytes exceeds the limit of 65536"
    );
    still_serving(&d);

    // Text starting with a capital is taken for HTTP (Supervisor's clients): bad HTTP, or a
    // body that is not XML-RPC, gets an HTTP error, then the end.
    for (request, reply) in [
        (&b"GET /nothing HTTP/1.0\r\n\r\n"[..], "HTTP/1.0 404 Not Found\r\n"),
        // The web UI answers only loopback Host names; none is none.
        (b"GET / HTTP/1.0\r\n\r\n", "HTTP/1.0 403 Forbidden\r\n"),
        (b"NOT HTTP AT ALL\r\n\r\n", "HTTP/1.1 400 Bad Request\r\n"),
        (
            b"GET /RPC2 HTTP/1.1\r\n\r\n",
            "HTTP/1.1 400 Bad Request\r\n",
        ),
        (
            b"POST /RPC2 HTTP/1.1\r\nContent-Type: text/xml\r\nContent-Length: 5\r\n\r\n<bad>",
            "HTTP/1.1 400 Bad Request\r\n",
        ),
        (
            b"POST /RPC2 HTTP/1.1\r\nContent-Type: text/xml\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
            "HTTP/1.1 400 Bad Request\r\n",
        ),
        // What a cross-site form can send: refused before the body is read.
        (
            b"POST /RPC2 HTTP/1.1\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 3\r\n\r\na=b",
            "HTTP/1.1 415 Unsupported Media Type\r\n",
        ),
        (
            b"POST /RPC2 HTTP/1.1\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\n<bad>",
            "HTTP/1.1 415 Unsupported Media Type\r\n",
        ),
        (
            b"POST /RPC2 HTTP/1.1\r\nContent-Length: 5\r\n\r\n<bad>",
            "HTTP/1.1 415 Unsupported Media Type\r\n",
        ),
    ] {
        let mut s = connect(&d);
        s.write_all(request).unwrap();
        let mut answer = Vec::new();
        s.read_to_end(&mut answer).unwrap();
        let answer = String::from_utf8_lossy(&answer);
        assert!(answer.starts_with(reply), "{answer}");
        still_serving(&d);
    }

    // A frame of the right length holding junk.
    let mut s = connect(&d);
    let junk = [0xffu8; 12];
    s.write_all(&(junk.len() as u32).to_be_bytes()).unwrap();
    s.write_all(&junk).unwrap();
    let (kind, msg) = error_then_eof(s);
    assert_eq!(kind, ErrorKind::BadArguments);
    assert!(msg.starts_with("malformed request: "), "{msg}");
    still_serving(&d);

    // Pseudo-random bytes, then a hang-up: whatever the daemon makes of them, it lets go.
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    for round in 0..20 {
        let bytes: Vec<u8> = (0..(64 + round * 37))
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                (x >> 24) as u8
            })
            .collect();
        let mut s = connect(&d);
        let _ = s.write_all(&bytes);
        s.shutdown(std::net::Shutdown::Write).unwrap();
        // Either nothing, an HTTP error (bytes starting with a capital) or one error frame,
        // then the end.
        let mut first = [0u8; 4];
        match s.read_exact(&mut first) {
            Ok(()) if bytes[0].is_ascii_uppercase() => {
                assert_eq!(&first, b"HTTP");
                let mut rest = Vec::new();
                let _ = s.read_to_end(&mut rest);
            }
            Ok(()) => {
                let len = u32::from_be_bytes(first) as usize;
                let mut body = vec![0u8; len];
                s.read_exact(&mut body).unwrap();
                let resp: Response = proctor_wire::decode_exact(&body).unwrap();
                assert!(
                    matches!(
                        resp,
                        Response::Error {
                            kind: ErrorKind::BadArguments,
                            ..
                        }
                    ),
                    "{resp:?}"
                );
                hung_up(&mut s);
            }
            Err(e) => assert!(
                matches!(
                    e.kind(),
                    std::io::ErrorKind::UnexpectedEof | std::io::ErrorKind::ConnectionReset
                ),
                "the daemon did not close the connection: {e}"
            ),
        }
    }
    still_serving(&d);
}

#[test]
fn an_oversized_length_is_refused_without_reading_on() {
    let d = daemon();
    let mut s = connect(&d);
    s.write_all(&[0xff, 0xff, 0xff, 0xff]).unwrap();
    let (kind, msg) = error_then_eof(s);
    assert_eq!(kind, ErrorKind::BadArguments);
    assert_eq!(
        msg,
        "request of 4294967295 bytes exceeds the limit of 65536"
    );
    // Just past the limit too.
    let mut s = connect(&d);
    s.write_all(&(64 * 1024 + 1u32).to_be_bytes()).unwrap();
    let (_, msg) = error_then_eof(s);
    assert_eq!(msg, "request of 65537 bytes exceeds the limit of 65536");
    still_serving(&d);
}

#[test]
fn a_truncated_frame_then_hang_up_is_dropped() {
    let d = daemon();
    for sent in [0usize, 1, 3, 50] {
        let mut s = connect(&d);
        if sent < 4 {
            s.write_all(&100u32.to_be_bytes()[..sent]).unwrap();
        } else {
            s.write_all(&100u32.to_be_bytes()).unwrap();
            s.write_all(&vec![0u8; sent]).unwrap();
        }
        drop(s);
        still_serving(&d);
    }
    // Half of a real request.
    let mut buf = Vec::new();
    write_frame(
        &mut buf,
        &ClientFrame {
            version: CONTROL_PROTOCOL_VERSION,
            request: Request::Stop {
                names: vec!["svc".into()],
                wait: true,
            },
        },
    )
    .unwrap();
    let mut s = connect(&d);
    s.write_all(&buf[..buf.len() - 2]).unwrap();
    drop(s);
    still_serving(&d);
    assert_eq!(
        d.state("svc"),
        "RUNNING",
        "a truncated stop must do nothing"
    );
}

#[test]
fn a_foreign_protocol_version_is_refused() {
    let d = daemon();
    let mut s = connect(&d);
    write_frame(
        &mut s,
        &ClientFrame {
            version: 999,
            request: Request::Stop {
                names: vec!["svc".into()],
                wait: true,
            },
        },
    )
    .unwrap();
    let (kind, msg) = error_then_eof(s);
    assert_eq!(kind, ErrorKind::BadArguments);
    assert_eq!(
        msg,
        format!(
            "protocol version 999 is not supported (this daemon speaks {CONTROL_PROTOCOL_VERSION}); \
             use the proctorctl of the same release"
        )
    );
    still_serving(&d);
    assert_eq!(d.state("svc"), "RUNNING", "the refused stop did nothing");

    // The same frame with the right version works, on a raw connection too.
    let mut s = connect(&d);
    write_frame(
        &mut s,
        &ClientFrame {
            version: CONTROL_PROTOCOL_VERSION,
            request: Request::Version,
        },
    )
    .unwrap();
    let body = read_frame(&mut s, MAX_RESPONSE).unwrap().unwrap();
    let resp: Response = proctor_wire::decode_exact(&body).unwrap();
    assert!(matches!(resp, Response::Version(_)), "{resp:?}");
}

#[test]
fn silent_clients_do_not_block_others() {
    let d = daemon();
    let silent: Vec<UnixStream> = (0..20).map(|_| connect(&d)).collect();
    let t0 = Instant::now();
    for _ in 0..5 {
        still_serving(&d);
    }
    assert_eq!(d.ctl_ok(&["stop", "svc"]), "svc: stopped\n");
    assert_eq!(d.ctl_ok(&["start", "svc"]), "svc: started\n");
    // Well within the daemon's 10 s request timeout: the silent clients are still connected
    // (nothing to read yet, no EOF), and were no obstacle.
    if t0.elapsed() < Duration::from_secs(8) {
        for s in &silent {
            s.set_nonblocking(true).unwrap();
            let mut b = [0u8; 1];
            let r = (&*s).read(&mut b);
            assert!(
                matches!(&r, Err(e) if e.kind() == std::io::ErrorKind::WouldBlock),
                "a silent client was answered or dropped early: {r:?}"
            );
        }
    }
    drop(silent);
    still_serving(&d);
}

#[test]
fn tail_follow_does_not_block_other_clients() {
    let d = Daemon::start(
        "[program:talker]\ncommand = sh -c 'echo hello-$$; exec sleep 1000'\nstartsecs = 0\n",
    );
    let pid = d.wait_state("talker", "RUNNING", T)["pid"]
        .as_u64()
        .unwrap();
    let mut child = d
        .ctl_command(&["tail", "-f", "talker"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let out = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel::<String>();
    std::thread::spawn(move || {
        for l in std::io::BufReader::new(out).lines() {
            let Ok(l) = l else { return };
            if tx.send(l).is_err() {
                return;
            }
        }
    });
    let next = |want: &str| {
        let deadline = Instant::now() + T;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match rx.recv_timeout(left) {
                Ok(l) if l == want => return,
                Ok(_) => {}
                Err(e) => panic!("tail -f never printed {want}: {e}"),
            }
        }
    };
    // Seen through the log file read back, whether or not it was written yet when tail began.
    next(&format!("hello-{pid}"));
    // Meanwhile another client controls the daemon.
    assert!(d.ctl_ok(&["status"]).contains("RUNNING"));
    assert_eq!(d.ctl_ok(&["stop", "talker"]), "talker: stopped\n");
    assert_eq!(d.ctl_ok(&["start", "talker"]), "talker: started\n");
    let pid2 = d.pid_of("talker").unwrap();
    // The follower goes on, and sees the new process's output.
    next(&format!("hello-{pid2}"));
    assert!(child.try_wait().unwrap().is_none(), "tail -f ended");
    let _ = child.kill();
    let _ = child.wait();
    still_serving_named(&d, "talker");
}

fn still_serving_named(d: &Daemon, name: &str) {
    assert_eq!(d.state(name), "RUNNING");
    assert!(!d.stderr().contains("panicked"), "{}", d.stderr());
}

#[test]
fn parallel_clients_are_all_served() {
    let d = daemon();
    let outs: Vec<std::process::Output> = std::thread::scope(|sc| {
        let handles: Vec<_> = (0..20).map(|_| sc.spawn(|| d.ctl(&["status"]))).collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    for o in outs {
        assert!(o.status.success(), "{o:?}");
        let out = stdout(&o);
        assert!(out.starts_with("svc ") && out.contains("RUNNING"), "{out}");
    }
    still_serving(&d);
}

#[test]
fn only_the_daemons_user_and_root_may_use_it() {
    let d = daemon();
    // The daemon's own user: every other test does that.
    still_serving(&d);
    let Some(owner) = runner() else {
        // Not root: there is no other account to try.
        return;
    };
    // Let everyone reach the socket, so that only the daemon's own check stands in the way.
    std::fs::set_permissions(d.dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::set_permissions(&d.socket, std::fs::Permissions::from_mode(0o777)).unwrap();
    let nobody = nix::unistd::User::from_name("nobody")
        .unwrap()
        .expect("an account named nobody");
    let o = std::process::Command::new(bin("proctorctl"))
        .arg("-s")
        .arg(&d.socket)
        .arg("stop")
        .arg("svc")
        .uid(nobody.uid.as_raw())
        .gid(nobody.gid.as_raw())
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(4), "{o:?}");
    assert_eq!(stdout(&o), "");
    assert_eq!(
        stderr(&o),
        format!(
            "proctorctl: permission denied: uid {} may not use this daemon (only uid {} and root may)\n",
            nobody.uid.as_raw(),
            owner.uid
        )
    );
    assert_eq!(d.state("svc"), "RUNNING", "the refused stop did nothing");
    // Root may.
    let o = std::process::Command::new(bin("proctorctl"))
        .arg("-s")
        .arg(&d.socket)
        .args(["status", "svc"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(o.status.success(), "{o:?}");
    assert!(stdout(&o).starts_with("svc "), "{o:?}");
    let o = std::process::Command::new(bin("proctorctl"))
        .arg("-s")
        .arg(&d.socket)
        .args(["restart", "svc"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(stdout(&o), "svc: stopped\nsvc: started\n", "{o:?}");
    still_serving(&d);
}

/// controld's fd count once it has settled (connections of earlier commands closed).
fn settled_fds(pid: u32) -> usize {
    let mut last = fd_count(pid);
    wait_until("controld's fd count to settle", T, || {
        std::thread::sleep(Duration::from_millis(200));
        let now = fd_count(pid);
        let same = now == last;
        last = now;
        same.then_some(now)
    })
}

#[test]
fn two_thousand_connections_are_refused_past_the_limit_without_leaking_fds() {
    use nix::sys::resource::{getrlimit, setrlimit, Resource};
    let (_, hard) = getrlimit(Resource::RLIMIT_NOFILE).unwrap();
    setrlimit(Resource::RLIMIT_NOFILE, hard, hard).unwrap();
    let d = daemon();
    let controld = d.controld_pid().unwrap();
    let baseline = settled_fds(controld);
    const N: usize = 2000;
    const SERVED: usize = 512;
    let conns: Vec<UnixStream> = (0..N).map(|_| connect(&d)).collect();
    for c in &conns {
        c.set_nonblocking(true).unwrap();
    }
    // Past the limit, each connection gets one Busy error and is closed at once.
    let mut busy = vec![false; N];
    wait_until("the connections past the limit to be refused", T, || {
        for (i, c) in conns.iter().enumerate() {
            if busy[i] {
                continue;
            }
            let mut buf = [0u8; 4096];
            if let Ok(n) = (&*c).read(&mut buf) {
                if n > 4 {
                    let resp: Response = proctor_wire::decode_exact(&buf[4..n]).unwrap();
                    match resp {
                        Response::Error {
                            kind: ErrorKind::Busy,
                            message,
                        } => assert!(message.contains("512 clients"), "{message}"),
                        other => panic!("expected Busy, got {other:?}"),
                    }
                    busy[i] = true;
                }
            }
        }
        (busy.iter().filter(|b| **b).count() == N - SERVED).then_some(())
    });
    // A real client meanwhile is told the same, in words, with the "unreachable" exit code.
    let o = d.ctl(&["status"]);
    assert_eq!(o.status.code(), Some(4), "{o:?}");
    assert!(stderr(&o).contains("try again"), "{}", stderr(&o));
    assert!(fd_count(controld) <= baseline + SERVED + 8);
    drop(conns);
    // Every connection's fd is given back.
    wait_until("controld's fds back to where they were", T, || {
        (fd_count(controld) == baseline).then_some(())
    });
    still_serving(&d);
}

#[test]
fn a_client_that_never_reads_its_replies_does_not_hold_up_others() {
    let d = daemon();
    let controld = d.controld_pid().unwrap();
    let baseline = settled_fds(controld);
    // Thousands of requests sent without reading a reply: controld's writes to it block once
    // the socket buffer is full.
    let mut greedy = connect(&d);
    greedy
        .set_write_timeout(Some(Duration::from_secs(2)))
        .unwrap();
    let frame = ClientFrame {
        version: CONTROL_PROTOCOL_VERSION,
        request: Request::Status { names: Vec::new() },
    };
    for _ in 0..20_000 {
        if write_frame(&mut greedy, &frame).is_err() {
            break;
        }
    }
    for _ in 0..5 {
        still_serving(&d);
    }
    if slow() {
        // After the 10 s write timeout, controld drops it and its fd.
        wait_until(
            "the greedy client to be dropped",
            Duration::from_secs(30),
            || (fd_count(controld) == baseline).then_some(()),
        );
    }
    drop(greedy);
    still_serving(&d);
}

#[test]
fn an_http_client_that_never_reads_its_answer_is_dropped() {
    let d = daemon();
    let controld = d.controld_pid().unwrap();
    let baseline = settled_fds(controld);
    // One call whose answer (400 status structs, about 400 KB) is larger than the socket
    // holds, and a client that never reads it: controld's write blocks.
    let one = "<value><struct><member><name>methodName</name><value>supervisor.getAllProcessInfo</value></member></struct></value>";
    let body = format!(
        "<methodCall><methodName>system.multicall</methodName><params><param><value><array><data>{}</data></array></value></param></params></methodCall>",
        one.repeat(400)
    );
    let mut greedy = connect(&d);
    write!(
        greedy,
        "POST /RPC2 HTTP/1.1\r\nContent-Type: text/xml\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    for _ in 0..5 {
        still_serving(&d);
    }
    // After the 10 s write timeout, controld drops it and its fd.
    wait_until(
        "the HTTP client that does not read to be dropped",
        Duration::from_secs(30),
        || (fd_count(controld) == baseline).then_some(()),
    );
    drop(greedy);
    still_serving(&d);
}

#[test]
fn control_characters_in_names_are_refused_and_forge_no_log_line() {
    let d = Daemon::start("[program:a]\ncommand = sleep 1000\nstartsecs = 0\n");
    d.wait_state("a", "RUNNING", std::time::Duration::from_secs(15));
    let forged = "INFO forged: a line the daemon never wrote";
    let o = d.ctl(&["status", &format!("a\n{forged}")]);
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("contains a control character (U+000A): refused"),
        "{}",
        stderr(&o)
    );
    let err = d.stderr();
    assert!(
        !err.lines().any(|l| l.starts_with(forged)),
        "a forged line reached the daemon's log:\n{err}"
    );
}

#[test]
fn repeated_names_cost_one_and_too_many_are_refused() {
    let d = Daemon::start("[program:a]\ncommand = sleep 1000\nstartsecs = 0\n");
    d.wait_state("a", "RUNNING", std::time::Duration::from_secs(15));
    let mut args = vec!["status"];
    args.extend(std::iter::repeat_n("all", 10_000));
    let o = d.ctl(&args);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(stdout(&o).lines().count(), 1, "{}", stdout(&o));
    let names: Vec<String> = (0..2000).map(|i| format!("n{i}")).collect();
    let mut args = vec!["status"];
    args.extend(names.iter().map(String::as_str));
    let o = d.ctl(&args);
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("2000 names in one request: at most 1024"),
        "{}",
        stderr(&o)
    );
}
