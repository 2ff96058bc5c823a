//! A stand-in for proctor-controld that plays a compromised one: installed next to a proctord
//! under the name `proctor-controld`, it sends proctord forged orders and writes what came back,
//! one line per step, to the file named by $PROCTOR_FAKE_OUT. The end-to-end test
//! `forged_orders.rs` reads it.
#![forbid(unsafe_code)]

use nix::sys::socket::{sendmsg, ControlMessage, MsgFlags};
use proctor_config::Config;
use proctor_sandbox::fdpass;
use proctor_wire::helper::HelperMsg;
use proctor_wire::ids::{ChildId, Generation, InstanceIndex, ProgramIndex, Seq};
use proctor_wire::order::{Order, OrderKind};
use proctor_wire::refusal::{Names, Refusal};
use proctor_wire::signal::AllowedSignal;
use std::io::{IoSlice, Read, Seek, Write};
use std::os::fd::{AsRawFd, OwnedFd, RawFd};

const LINK: RawFd = 3;

/// The next message, and the fds that came with it.
fn recv_with_fds() -> Option<(HelperMsg, Vec<OwnedFd>)> {
    let mut buf = vec![0u8; 64 * 1024];
    let got = fdpass::recv(LINK, &mut buf, MsgFlags::empty()).ok()?;
    Some((proctor_wire::decode_exact(&buf[..got.len]).ok()?, got.fds))
}

/// The next message; its fds (pipes, config memfd) are closed.
fn recv() -> Option<HelperMsg> {
    recv_with_fds().map(|(m, _)| m)
}

/// A refusal worded as controld words it, with the names from the config proctord sent.
fn word(refusal: &Refusal, config: &Config) -> String {
    let (program, instance) = match refusal {
        Refusal::AlreadyRunning {
            program, instance, ..
        }
        | Refusal::NoInstance {
            program, instance, ..
        } => (*program, *instance),
        _ => return refusal.to_string(),
    };
    let prog = config.programs.get(program.get());
    let process = prog.and_then(|p| p.processes.get(instance.get()));
    refusal.describe(Names {
        program: prog.map(|p| p.name.as_str()),
        process: process.map(|p| p.name.as_str()),
        ..Names::default()
    })
}

/// The next answer to `seq` (skipping exit reports and the like).
fn answer(seq: Seq, config: &Config) -> String {
    loop {
        let Some(m) = recv() else {
            return "link closed".into();
        };
        let s = match &m {
            HelperMsg::Spawned { seq: s, .. }
            | HelperMsg::Refused { seq: s, .. }
            | HelperMsg::Signalled { seq: s }
            | HelperMsg::ChildrenEnd { seq: s } => *s,
            _ => continue,
        };
        if s == seq {
            return match m {
                HelperMsg::Spawned { id, .. } => format!("spawned id {id}"),
                HelperMsg::Refused { refusal, .. } => {
                    format!("refused: {}", word(&refusal, config))
                }
                HelperMsg::Signalled { .. } => "signalled".into(),
                _ => "children end".into(),
            };
        }
    }
}

fn send_raw(bytes: &[u8], fds: &[RawFd]) {
    let iov = [IoSlice::new(bytes)];
    let rights = [ControlMessage::ScmRights(fds)];
    let cmsgs: &[ControlMessage] = if fds.is_empty() { &[] } else { &rights };
    let _ = sendmsg::<()>(LINK, &iov, cmsgs, MsgFlags::empty(), None);
}

/// Runs `f` while proctord (our parent) can open only two more fds, then says what it
/// answered and by how much proctord's open fds grew.
fn out_of_fds(f: impl FnOnce() -> String) -> String {
    let parent = nix::unistd::getppid();
    let open: Vec<u32> = match std::fs::read_dir(format!("/proc/{parent}/fd")) {
        Ok(d) => d
            .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
            .collect(),
        Err(e) => return format!("cannot read /proc/PPID/fd: {e}"),
    };
    // The smallest limit below which exactly two fd numbers are free.
    let mut limit = 0;
    let mut free = 0;
    while free < 2 {
        if !open.contains(&limit) {
            free += 1;
        }
        limit += 1;
    }
    let prlimit = |soft: &str| {
        std::process::Command::new("prlimit")
            .arg(format!("--pid={parent}"))
            .arg(format!("--nofile={soft}:"))
            .status()
            .is_ok_and(|s| s.success())
    };
    let Ok(limits) = std::fs::read_to_string(format!("/proc/{parent}/limits")) else {
        return "cannot read /proc/PPID/limits".into();
    };
    let Some(soft) = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .and_then(|l| l.split_whitespace().nth(3))
        .map(str::to_owned)
    else {
        return "no open-file limit in /proc/PPID/limits".into();
    };
    let before = fd_count(parent);
    if !prlimit(&limit.to_string()) {
        return "prlimit failed".into();
    }
    let answer = f();
    let restored = prlimit(&soft);
    let after = fd_count(parent);
    let grown = match (before, after) {
        (Some(b), Some(a)) => format!("{:+}", a as i64 - b as i64),
        _ => "unknown".into(),
    };
    format!("{answer}; proctord's open fds {grown}; limit restored: {restored}")
}

/// How many fds `pid` has open.
fn fd_count(pid: nix::unistd::Pid) -> Option<usize> {
    Some(std::fs::read_dir(format!("/proc/{pid}/fd")).ok()?.count())
}

fn order(seq: u32, kind: OrderKind) -> [u8; 32] {
    Order {
        seq: Seq(seq),
        kind,
    }
    .encode()
}

/// The config in the memfd proctord sent (its offset is where proctord's write ended).
fn read_config(fd: OwnedFd) -> Option<Config> {
    let mut bytes = Vec::new();
    let mut file = std::fs::File::from(fd);
    file.seek(std::io::SeekFrom::Start(0)).ok()?;
    file.read_to_end(&mut bytes).ok()?;
    proctor_wire::decode_exact(&bytes).ok()
}

/// The fds that came with the answer to `seq`, a `Spawned` (none for anything else).
fn spawned_fds(seq: Seq) -> Vec<OwnedFd> {
    loop {
        match recv_with_fds() {
            Some((HelperMsg::Spawned { seq: s, .. }, fds)) if s == seq => return fds,
            Some((HelperMsg::Refused { seq: s, .. }, _)) if s == seq => return Vec::new(),
            Some(_) => continue,
            None => return Vec::new(),
        }
    }
}

/// How many of the fds in our own table are internet sockets (a held socket would be one).
fn inet_sockets_held() -> usize {
    use nix::sys::socket::{getsockname, SockaddrLike, SockaddrStorage};
    let Ok(dir) = std::fs::read_dir("/proc/self/fd") else {
        return usize::MAX;
    };
    dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse::<RawFd>().ok())
        .filter(|fd| {
            getsockname::<SockaddrStorage>(*fd).is_ok_and(|a| {
                matches!(
                    a.family(),
                    Some(
                        nix::sys::socket::AddressFamily::Inet
                            | nix::sys::socket::AddressFamily::Inet6
                    )
                )
            })
        })
        .count()
}

/// A controld that asks for the start of a program whose socket proctord holds: what it gets
/// is the instance's pipes, never the socket (an order names a program, never an address).
fn sockets_scenario(out: &mut std::fs::File, g: Generation) {
    send_raw(&order(1, OrderKind::Children), &[]);
    let spawn = OrderKind::Spawn {
        generation: g,
        program: ProgramIndex(0),
        instance: InstanceIndex(0),
    };
    send_raw(&order(2, spawn), &[]);
    let fds = spawned_fds(Seq(2));
    let sockets = fds
        .iter()
        .filter(|fd| {
            nix::sys::stat::fstat(fd).is_ok_and(|st| st.st_mode & libc::S_IFMT == libc::S_IFSOCK)
        })
        .count();
    let _ = writeln!(
        out,
        "spawned with {} fds, {sockets} of them sockets",
        fds.len()
    );
    let _ = writeln!(
        out,
        "internet sockets in controld's fds: {}",
        inet_sockets_held()
    );
    let _ = writeln!(out, "done");
    send_raw(&order(3, OrderKind::Quit), &[]);
}

fn main() {
    let Some(path) = std::env::var_os("PROCTOR_FAKE_OUT") else {
        return;
    };
    let Ok(mut out) = std::fs::File::create(path) else {
        return;
    };
    let Some((HelperMsg::Hello { generation: g, .. }, mut fds)) = recv_with_fds() else {
        let _ = writeln!(out, "no hello");
        return;
    };
    let Some(config) = fds.pop().and_then(read_config) else {
        let _ = writeln!(out, "no config with the hello");
        return;
    };
    if std::env::var_os("PROCTOR_FAKE_SOCKETS").is_some() {
        return sockets_scenario(&mut out, g);
    }
    let mut log = |step: &str, got: String| {
        let _ = writeln!(out, "{step}: {got}");
    };
    let spawn = |generation, program, instance| OrderKind::Spawn {
        generation,
        program: ProgramIndex(program),
        instance: InstanceIndex(instance),
    };
    // Each order's sequence number is the first 4 bytes after the header; the answer to it is
    // awaited by that number.
    let step = |name: &str, bytes: &[u8], fds: &[RawFd], seq: u32| {
        send_raw(bytes, fds);
        (name.to_owned(), answer(Seq(seq), &config))
    };
    let mut results = Vec::new();
    results.push(step("children", &order(1, OrderKind::Children), &[], 1));
    results.push(step("spawn valid", &order(2, spawn(g, 0, 0)), &[], 2));
    let first_id = ChildId(
        results[1]
            .1
            .strip_prefix("spawned id ")
            .and_then(|s| s.parse().ok())
            .unwrap_or(0),
    );
    results.push(step("unknown program", &order(3, spawn(g, 99, 0)), &[], 3));
    results.push(step(
        "instance beyond numprocs",
        &order(4, spawn(g, 0, 5)),
        &[],
        4,
    ));
    results.push(step("second start", &order(5, spawn(g, 0, 0)), &[], 5));
    results.push(step(
        "stale generation",
        &order(6, spawn(Generation(g.0 + 7), 0, 0)),
        &[],
        6,
    ));
    let never = OrderKind::Signal {
        id: ChildId(999_999),
        signal: AllowedSignal::Kill,
        group: false,
    };
    results.push(step(
        "signal to an id never issued",
        &order(7, never),
        &[],
        7,
    ));
    let short = order(8, OrderKind::Children);
    results.push(step("short record", &short[..31], &[], 8));
    let mut long = order(9, OrderKind::Children).to_vec();
    long.push(0);
    results.push(step("long record", &long, &[], 9));
    let mut reserved = order(10, OrderKind::Children);
    reserved[31] = 1;
    results.push(step("non-zero reserved byte", &reserved, &[], 10));
    let devnull = std::fs::File::open("/dev/null").ok();
    let fd = devnull.as_ref().map_or(-1, |f| f.as_raw_fd());
    let with_fd = order(11, OrderKind::Children);
    results.push(step("record with an fd", &with_fd, &[fd], 11));
    // More fds than an order could ever carry, many times: each is closed, none leaks, and the
    // link stays up (the answers keep coming).
    let before = fd_count(nix::unistd::getppid());
    let mut answers = Vec::new();
    for i in 0..50 {
        let seq = 1000 + i;
        let with_fds = order(seq, OrderKind::Children);
        answers.push(step("", &with_fds, &[fd; 8], seq).1);
    }
    answers.dedup();
    let after = fd_count(nix::unistd::getppid());
    let grown = match (before, after) {
        (Some(b), Some(a)) => format!("{:+}", a as i64 - b as i64),
        _ => "unknown (cannot read /proc/PPID/fd)".into(),
    };
    results.push((
        "50 records with 8 fds each".into(),
        format!("{}; proctord's open fds {grown}", answers.join(" / ")),
    ));
    // The same while proctord can open only two more fds: the kernel installs two of the eight
    // and cuts the rest (MSG_CTRUNC); those two must be closed too.
    results.push((
        "8 fds while proctord is out of fds".into(),
        out_of_fds(|| step("", &order(1100, OrderKind::Children), &[fd; 8], 1100).1),
    ));
    let kill = OrderKind::Signal {
        id: first_id,
        signal: AllowedSignal::Kill,
        group: false,
    };
    results.push(step("signal own child", &order(12, kill), &[], 12));
    // Wait for its exit, then acknowledge it.
    loop {
        match recv() {
            Some(HelperMsg::Exited { id, .. }) if id == first_id => break,
            Some(_) => continue,
            None => break,
        }
    }
    send_raw(&order(13, OrderKind::AckExit { id: first_id }), &[]);
    results.push(step("signal to a reaped id", &order(14, kill), &[], 14));
    results.push(step(
        "spawn after all that",
        &order(15, spawn(g, 0, 0)),
        &[],
        15,
    ));
    for (name, got) in results {
        log(&name, got);
    }
    let _ = writeln!(out, "done");
    drop(out);
    // Let proctord finish: it exits after us, stopping what still runs.
    send_raw(&order(16, OrderKind::Quit), &[]);
}
