//! Sockets held by proctord, as root: a service with no capability at all serves
//! 127.0.0.1:80 through `[fcgi-program:x]` (fd 0) and through `sockets=` (systemd's
//! `LISTEN_FDS`); restarts under a client loop refuse no connection; bad sockets are refused at
//! start with the file and line, and nothing starts.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
#![forbid(unsafe_code)]

use proctor_tests::root::{self, RootDaemon};
use proctor_tests::*;
use std::io::Read;
use std::net::TcpStream;
use std::time::Duration;

/// A server on its held socket: fd 0 (`fcgi`) or fd 3 (`LISTEN_FDS`, which it checks as
/// systemd's `sd_listen_fds` does). It answers each connection with its pid and what it was
/// told, and on SIGTERM finishes the connection in hand and exits.
const SERVER: &str = r#"
import os, signal, socket, sys
mode = sys.argv[1]
if mode == "fcgi":
    s = socket.socket(fileno=0)
    said = "fcgi"
else:
    assert os.environ["LISTEN_PID"] == str(os.getpid()), os.environ.get("LISTEN_PID")
    assert os.environ["LISTEN_FDS"] == "1"
    s = socket.socket(fileno=3)
    said = os.environ["LISTEN_FDNAMES"]
stop = []
signal.signal(signal.SIGTERM, lambda *a: stop.append(1))
s.settimeout(0.05)
while not stop:
    try:
        c, _ = s.accept()
    except (socket.timeout, InterruptedError):
        continue
    c.sendall(("%d %s\n" % (os.getpid(), said)).encode())
    c.close()
"#;

/// A directory the services may read (root's, 0755), with the server in it: the directory and
/// the script's path.
fn server_dir() -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(
        dir.path(),
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    let p = dir.path().join("server.py");
    std::fs::write(&p, SERVER).unwrap();
    std::fs::set_permissions(&p, std::os::unix::fs::PermissionsExt::from_mode(0o644)).unwrap();
    let script = p.display().to_string();
    (dir, script)
}

/// One connection to 127.0.0.1:`port`: what the service said.
fn ask(port: u16) -> std::io::Result<String> {
    let mut c = TcpStream::connect(("127.0.0.1", port))?;
    c.set_read_timeout(Some(Duration::from_secs(10)))?;
    let mut out = String::new();
    c.read_to_string(&mut out)?;
    Ok(out)
}

fn caps_are_zero(pid: u32) {
    for field in ["CapEff", "CapPrm", "CapAmb", "CapInh"] {
        assert_eq!(
            proc_status(pid, field).as_deref(),
            Some("0000000000000000"),
            "{field} of {pid}"
        );
    }
}

#[test]
fn a_service_with_no_capability_serves_port_80_from_a_held_socket() {
    if root::skip("a_service_with_no_capability_serves_port_80_from_a_held_socket") {
        return;
    }
    ensure_account("proctest-plain");
    let (_dir, script) = server_dir();
    let d = RootDaemon::start(&format!(
        "[fcgi-program:web]\ncommand = /usr/bin/python3 {script} fcgi\nsocket = tcp://127.0.0.1:80\n\
         user = proctest-plain\nstartsecs = 0\n\n\
         [program:sd]\ncommand = /usr/bin/python3 {script} listen\n\
         sockets = http=tcp://127.0.0.1:81\nuser = proctest-plain\nstartsecs = 0\n\
         environment = LISTEN_PID=1,LISTEN_FDS=9\n"
    ));
    let web = d.running_pid("web");
    let sd = d.running_pid("sd");
    assert_eq!(ask(80).unwrap(), format!("{web} fcgi\n"));
    assert_eq!(ask(81).unwrap(), format!("{sd} http\n"));
    caps_are_zero(web);
    caps_are_zero(sd);
    assert_eq!(
        proc_status(web, "Uid").unwrap().split_whitespace().next(),
        Some(ensure_account("proctest-plain").uid.to_string().as_str())
    );

    // 100 restarts of each while a client connects in a loop: not one connection refused.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let clients: Vec<_> = [80u16, 81]
        .into_iter()
        .map(|port| {
            let stop = stop.clone();
            std::thread::spawn(move || {
                let (mut answered, mut refused, mut other) = (0u32, 0u32, 0u32);
                let mut pids = std::collections::HashSet::new();
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    match ask(port) {
                        Ok(s) if !s.is_empty() => {
                            answered += 1;
                            pids.insert(s.split_whitespace().next().unwrap_or("").to_owned());
                        }
                        Ok(_) => other += 1,
                        Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => refused += 1,
                        Err(_) => other += 1,
                    }
                }
                (answered, refused, other, pids.len())
            })
        })
        .collect();
    let rounds = 100;
    let started = std::time::Instant::now();
    for _ in 0..rounds {
        for (name, port) in [("web", 80), ("sd", 81)] {
            let o = d.ctl(&["restart", name]);
            assert!(o.status.success(), "{}", stderr(&o));
            // A whole restart: the new instance serves before the next one begins.
            let pid = d.running_pid(name).to_string();
            wait_until(
                "the new instance to answer",
                Duration::from_secs(10),
                || ask(port).ok().filter(|s| s.starts_with(&format!("{pid} "))),
            );
        }
    }
    let took = started.elapsed();
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for (port, c) in [80, 81].into_iter().zip(clients) {
        let (answered, refused, other, instances) = c.join().unwrap();
        println!(
            "port {port}: {rounds} restarts in {took:?}, {answered} answered by {instances} \
             instances, {refused} refused, {other} cut"
        );
        assert_eq!(
            refused, 0,
            "port {port}: connections refused during restarts"
        );
        // The client saw the restarts: many instances answered it.
        assert!(instances > rounds as usize, "{instances} instances");
    }
    // Each new instance got the same socket, and still no capability.
    let first = web;
    let web = d.running_pid("web");
    assert_ne!(web, first);
    assert_eq!(ask(80).unwrap(), format!("{web} fcgi\n"));
    caps_are_zero(web);
}

/// Runs proctord as root on `programs` and expects it to refuse to start: its stderr.
fn refused_at_start(programs: &str) -> String {
    root::accounts();
    let dir = tempfile::Builder::new()
        .prefix("proctest-root-")
        .tempdir()
        .unwrap();
    std::fs::set_permissions(
        dir.path(),
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    let conf = dir.path().join("proctor.conf");
    std::fs::write(&conf, root::root_config(dir.path(), programs)).unwrap();
    let mut child = std::process::Command::new(bin("proctord"))
        .arg("-c")
        .arg(&conf)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let status = wait_until("proctord to refuse", Duration::from_secs(15), || {
        child.try_wait().unwrap()
    });
    let mut err = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    assert!(!status.success(), "proctord started:\n{err}");
    assert!(
        !dir.path().join("run/proctor.sock").exists() || !err.contains("proctor-controld ready"),
        "{err}"
    );
    err.replace(&dir.path().display().to_string(), "DIR")
}

#[test]
fn bad_sockets_are_refused_at_start_and_nothing_starts() {
    if root::skip("bad_sockets_are_refused_at_start_and_nothing_starts") {
        return;
    }
    ensure_account("proctest-plain");
    let busy = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = busy.local_addr().unwrap().port();
    let unsafe_dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(
        unsafe_dir.path(),
        std::os::unix::fs::PermissionsExt::from_mode(0o777),
    )
    .unwrap();
    let marker = unsafe_dir.path().join("first-ran");
    let cases = [
        (
            format!("tcp://127.0.0.1:{port}"),
            format!(
                "cannot hold tcp://127.0.0.1:{port}: 127.0.0.1:{port} is in use by another program"
            ),
        ),
        (
            "tcp://192.0.2.1:8080".to_owned(),
            "cannot hold tcp://192.0.2.1:8080: 192.0.2.1:8080 is not an address of this host"
                .to_owned(),
        ),
        (
            format!("unix://{}/app.sock", unsafe_dir.path().display()),
            "must belong to root and be writable by root only".to_owned(),
        ),
    ];
    for (socket, want) in cases {
        // A program before the bad one: it must not have started.
        let err = refused_at_start(&format!(
            "[program:first]\ncommand = /usr/bin/touch {}\nuser = proctest-plain\nstartsecs = 0\n\n\
             [fcgi-program:web]\ncommand = /bin/sleep 1000\nsocket = {socket}\nuser = proctest-plain\n",
            marker.display()
        ));
        assert!(err.contains("DIR/proctor.conf:"), "{err}");
        assert!(
            err.contains(&format!("[fcgi-program:web] {want}")) || err.contains(&want),
            "{socket}: {err}"
        );
        assert!(!marker.exists(), "a program started before the refusal");
    }
    // Two programs, one socket: refused as the config loads.
    let err = refused_at_start(
        "[fcgi-program:a]\ncommand = /bin/sleep 1000\nsocket = tcp://127.0.0.1:8181\nuser = proctest-plain\n\n\
         [program:b]\ncommand = /bin/sleep 1000\nsockets = tcp://127.0.0.1:8181\nuser = proctest-plain\n",
    );
    assert!(
        err.contains(
            "[program:b] sockets: tcp://127.0.0.1:8181 is already held for [fcgi-program:a]"
        ),
        "{err}"
    );
}

/// An update binds the sockets it adds before anything changes: one it cannot bind refuses the
/// update with the file and line, and the daemon keeps what it had.
#[test]
fn an_update_holds_its_sockets_first_or_changes_nothing() {
    if root::skip("an_update_holds_its_sockets_first_or_changes_nothing") {
        return;
    }
    ensure_account("proctest-plain");
    let (_dir, script) = server_dir();
    let d = RootDaemon::start("[program:idle]\ncommand = sleep 1000\nuser = proctest-plain\n");
    let live = d.dir.path().join("proctor.conf");
    let text = std::fs::read_to_string(&live).unwrap();
    let busy = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let taken = busy.local_addr().unwrap().port();
    let add = |port: u16| {
        std::fs::write(
            &live,
            format!(
                "{text}\n[fcgi-program:web]\ncommand = /usr/bin/python3 {script} fcgi\n\
                 socket = tcp://127.0.0.1:{port}\nuser = proctest-plain\nstartsecs = 0\n"
            ),
        )
        .unwrap();
        d.ctl(&["update"])
    };
    let o = add(taken);
    assert!(!o.status.success(), "{}", stdout(&o));
    assert!(
        stderr(&o).contains(&format!(
            "proctor.conf:{}: [fcgi-program:web] cannot hold tcp://127.0.0.1:{taken}: \
             127.0.0.1:{taken} is in use by another program",
            text.lines().count() + 4
        )),
        "{}",
        stderr(&o)
    );
    assert!(!stdout(&d.ctl(&["status"])).contains("web"));
    drop(busy);
    let free = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let o = add(free);
    assert!(o.status.success(), "{}", stderr(&o));
    let pid = d.running_pid("web");
    assert_eq!(ask(free).unwrap(), format!("{pid} fcgi\n"));
}

/// A unix socket held for a service: created as root in a safe directory, owned by the
/// program's user (or `socket_owner`) with `socket_mode`, passed as fd 3 with `LISTEN_FDS`.
#[test]
fn a_unix_socket_is_held_with_its_owner_and_mode() {
    use std::os::unix::fs::MetadataExt;
    if root::skip("a_unix_socket_is_held_with_its_owner_and_mode") {
        return;
    }
    let plain = ensure_account("proctest-plain");
    let (dir, script) = server_dir();
    let a = dir.path().join("a.sock");
    let b = dir.path().join("b.sock");
    let d = RootDaemon::start(&format!(
        "[program:sd]\ncommand = /usr/bin/python3 {script} listen\n\
         sockets = app=unix://{}\nuser = proctest-plain\nstartsecs = 0\n\n\
         [fcgi-program:web]\ncommand = /usr/bin/python3 {script} fcgi\n\
         socket = unix://{}\nsocket_owner = proctest-plain:root\nsocket_mode = 0660\n\
         user = proctest-plain\nstartsecs = 0\n",
        a.display(),
        b.display()
    ));
    let sd = d.running_pid("sd");
    let web = d.running_pid("web");
    let over = |p: &std::path::Path| {
        let mut c = std::os::unix::net::UnixStream::connect(p).unwrap();
        let mut out = String::new();
        c.read_to_string(&mut out).unwrap();
        out
    };
    assert_eq!(over(&a), format!("{sd} app\n"));
    assert_eq!(over(&b), format!("{web} fcgi\n"));
    let (ma, mb) = (
        std::fs::metadata(&a).unwrap(),
        std::fs::metadata(&b).unwrap(),
    );
    assert_eq!(
        (ma.uid(), ma.gid(), ma.mode() & 0o777),
        (plain.uid, plain.gid, 0o700)
    );
    assert_eq!(
        (mb.uid(), mb.gid(), mb.mode() & 0o777),
        (plain.uid, 0, 0o660)
    );
    caps_are_zero(sd);
    caps_are_zero(web);
}
