//! A compromised controld gets nothing extra: proctord is driven by a stand-in controld
//! (`proctor-fake-controld`) that sends forged orders, and every one is refused with its reason
//! while proctord keeps serving.
#![allow(clippy::unwrap_used, clippy::panic)]
#![forbid(unsafe_code)]

use proctor_tests::*;
use std::os::unix::fs::PermissionsExt;
use std::process::Stdio;
use std::time::Duration;

/// Runs proctord on `d` with the stand-in controld, `env` set for it; what it wrote, and
/// proctord's log.
fn with_fake(d: &Daemon, env: &[(&str, &str)]) -> (String, String) {
    // proctord runs whatever is called proctor-controld next to it: put the fake there.
    let bin = d.path("bin");
    std::fs::create_dir(&bin).unwrap();
    std::fs::set_permissions(&bin, std::fs::Permissions::from_mode(0o755)).unwrap();
    let target = std::env::current_exe().unwrap();
    let target = target.parent().and_then(|p| p.parent()).unwrap();
    bin_dir(); // builds the binaries
    for (from, to) in [
        ("proctord", "proctord"),
        ("proctor-fake-controld", "proctor-controld"),
    ] {
        std::fs::copy(target.join(from), bin.join(to)).unwrap();
    }
    let out = d.path("fake.out");
    let mut child = command(&bin.join("proctord"));
    child.envs(env.iter().copied());
    let mut child = child
        .arg("-c")
        .arg(&d.conf)
        .env("PROCTOR_FAKE_OUT", &out)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(d.path("proctord.log")).unwrap())
        .spawn()
        .unwrap();
    let status = wait_until("proctord to finish", Duration::from_secs(20), || {
        child.try_wait().unwrap()
    });
    let log = std::fs::read_to_string(d.path("proctord.log")).unwrap();
    assert!(status.success(), "{status}\n{log}");
    (std::fs::read_to_string(&out).unwrap(), log)
}

#[test]
fn forged_orders_are_refused_and_proctord_keeps_serving() {
    let d = Daemon::prepare("[program:a]\ncommand = sleep 1000\nautostart = false\n");
    let (got, log) = with_fake(&d, &[]);
    let expected = "\
children: children end
spawn valid: spawned id 1
unknown program: refused: no program with index 99
instance beyond numprocs: refused: program a has no instance 5 (numprocs = 1)
second start: refused: a is already running (id 1)
stale generation: refused: config generation 8 is not one proctord keeps (the current 1 and the few before it): update the group to spawn it from the file
signal to an id never issued: refused: no live child with id 999999
short record: refused: order is 31 bytes, not 32
long record: refused: order is 33 bytes, not 32
non-zero reserved byte: refused: field reserved must be zero for this opcode
record with an fd: refused: order carried file descriptors (closed unread)
50 records with 8 fds each: refused: order carried file descriptors (closed unread); proctord's open fds +0
8 fds while proctord is out of fds: refused: order carried file descriptors (closed unread); proctord's open fds +0; limit restored: true
signal own child: signalled
signal to a reaped id: refused: no live child with id 1
spawn after all that: spawned id 2
done
";
    assert_eq!(got, expected, "proctord's log:\n{log}");
    // Every refusal is in proctord's own log too.
    assert_eq!(log.matches("refused").count(), 61, "{log}");
}

/// A controld that starts a program whose socket proctord holds gets the instance's pipes and
/// nothing else: no order can name an address, and no socket travels to controld.
#[test]
fn a_controld_never_obtains_a_held_socket() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let d = Daemon::prepare(&format!(
        "[fcgi-program:web]\ncommand = sleep 1000\nautostart = false\n\
         socket = tcp://127.0.0.1:{port}\n"
    ));
    let (got, log) = with_fake(&d, &[("PROCTOR_FAKE_SOCKETS", "1")]);
    assert_eq!(
        got, "spawned with 3 fds, 0 of them sockets\ninternet sockets in controld's fds: 0\ndone\n",
        "{log}"
    );
}
