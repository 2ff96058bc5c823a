//! systemd's `Type=notify`: proctord says `READY=1` once its control socket answers and
//! `STOPPING=1` when it shuts down, from its own pid (systemd's default `NotifyAccess=main`
//! checks the sender), through a socket it reached before it dropped root; no service sees
//! `NOTIFY_SOCKET`. A stand-in for systemd's socket here: a datagram socket with SO_PASSCRED,
//! as systemd's own.
#![allow(clippy::unwrap_used, clippy::panic)]
#![forbid(unsafe_code)]

use nix::sys::socket::{
    recvmsg, setsockopt, sockopt, ControlMessageOwned, MsgFlags, UnixCredentials,
};
use proctor_tests::root::{self, RootDaemon};
use proctor_tests::*;
use std::io::IoSliceMut;
use std::os::fd::AsRawFd;
use std::os::linux::net::SocketAddrExt;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::{SocketAddr, UnixDatagram};
use std::time::Duration;

fn listening(socket: UnixDatagram) -> UnixDatagram {
    setsockopt(&socket, sockopt::PassCred, &true).unwrap();
    socket
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    socket
}

/// The next notification, and the pid the kernel says sent it.
fn next(socket: &UnixDatagram) -> (String, i32) {
    let mut buf = [0u8; 4096];
    let mut space = nix::cmsg_space!(UnixCredentials);
    let mut iov = [IoSliceMut::new(&mut buf)];
    let got = recvmsg::<()>(
        socket.as_raw_fd(),
        &mut iov,
        Some(&mut space),
        MsgFlags::empty(),
    )
    .unwrap_or_else(|e| panic!("no notification within 30 s: {e}"));
    let pid = got
        .cmsgs()
        .unwrap()
        .find_map(|c| match c {
            ControlMessageOwned::ScmCredentials(c) => Some(c.pid()),
            _ => None,
        })
        .unwrap();
    let n = got.bytes;
    (String::from_utf8_lossy(&buf[..n]).into_owned(), pid)
}

/// The next notification must be `state`, from `pid`.
fn expect(socket: &UnixDatagram, state: &str, pid: u32, log: &str) {
    let (said, from) = next(socket);
    assert_eq!(
        (said.as_str(), from),
        (format!("{state}\n").as_str(), pid as i32),
        "{log}"
    );
}

fn environ(pid: u32) -> String {
    String::from_utf8_lossy(&std::fs::read(format!("/proc/{pid}/environ")).unwrap())
        .replace('\0', "\n")
}

/// User mode, an abstract socket (`@name`, as systemd's own is in some set-ups).
#[test]
fn ready_and_stopping_from_proctord_itself() {
    let name = format!("proctest-notify-{}", std::process::id());
    let socket = listening(
        UnixDatagram::bind_addr(&SocketAddr::from_abstract_name(name.as_bytes()).unwrap()).unwrap(),
    );
    let d = Daemon::prepare("[program:web]\ncommand = sleep 1000\nstartsecs = 0\n")
        .launch_env(&[("NOTIFY_SOCKET", &format!("@{name}"))]);
    expect(&socket, "READY=1", d.pid(), &d.stderr());
    // Ready means serving.
    assert!(d.ctl(&["status"]).status.success());
    let web = d.wait_state("web", "RUNNING", Duration::from_secs(10))["pid"]
        .as_u64()
        .unwrap();
    let env = environ(u32::try_from(web).unwrap());
    assert!(
        !env.contains("NOTIFY_SOCKET"),
        "a service inherited it:\n{env}"
    );
    let controld = d.controld_pid().unwrap();
    assert!(
        !environ(controld).contains("NOTIFY_SOCKET"),
        "controld inherited it"
    );
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(d.pid() as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    expect(&socket, "STOPPING=1", d.pid(), "");
}

/// Root mode: the socket sits in a directory only root may enter, which proctord could not
/// reach once it is its helper account under its filter; it reached it before.
#[test]
fn root_mode_notifies_through_the_socket_it_reached_as_root() {
    if root::skip("root_mode_notifies_through_the_socket_it_reached_as_root") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o700)).unwrap();
    let path = dir.path().join("notify");
    let socket = listening(UnixDatagram::bind(&path).unwrap());
    ensure_account("proctest-plain");
    let d = RootDaemon::start_env(
        "[program:web]\ncommand = sleep 1000\nuser = proctest-plain\nstartsecs = 0\n",
        "",
        &[("NOTIFY_SOCKET", path.to_str().unwrap())],
    );
    expect(&socket, "READY=1", d.pid(), &d.stderr());
    let web = d.running_pid("web");
    assert!(!environ(web).contains("NOTIFY_SOCKET"));
    // proctord, sending it, holds no capability to reach the directory, and its filter is on.
    let status = |f: &str| proc_status(d.pid(), f).unwrap();
    assert_eq!(status("Seccomp"), "2");
    let caps = u64::from_str_radix(&status("CapEff"), 16).unwrap();
    assert_eq!(
        caps & 0b110,
        0,
        "CAP_DAC_OVERRIDE or CAP_DAC_READ_SEARCH kept"
    );
    assert_ne!(status("Uid").split_whitespace().next(), Some("0"));
    let o = d.ctl(&["shutdown"]);
    assert!(o.status.success(), "{}", stderr(&o));
    expect(&socket, "STOPPING=1", d.pid(), "");
}

/// A `NOTIFY_SOCKET` that leads nowhere (left over in a shell) is said, and proctord serves.
#[test]
fn an_unreachable_notify_socket_is_said_and_proctord_runs_on() {
    let d = Daemon::prepare("[program:web]\ncommand = sleep 1000\nstartsecs = 0\n")
        .launch_env(&[("NOTIFY_SOCKET", "/nonexistent/notify")]);
    d.wait_state("web", "RUNNING", Duration::from_secs(10));
    assert!(
        d.stderr()
            .contains("NOTIFY_SOCKET=/nonexistent/notify: No such file or directory"),
        "{}",
        d.stderr()
    );
}
