//! A probe run as a service by the end-to-end tests: it writes what it sees of itself (open fds,
//! identity, signal state, session, environment) to stdout, one `key=value` per line, then
//! sleeps until stopped.
#![forbid(unsafe_code)]

/// `proctor-probe --count N [--every-ms M] [--delay-ms D]`: after D ms, writes `line 1` ..
/// `line N` to stdout (blocking when the pipe is full, as any service does), M ms apart, then
/// sleeps until stopped. The
/// fault tests check that every numbered line reaches the log, in order.
fn count_mode(args: &[String]) -> Option<()> {
    use std::io::Write;
    let value = |flag: &str| {
        args.iter()
            .position(|a| a == flag)
            .and_then(|i| args.get(i + 1))
            .and_then(|v| v.parse::<u64>().ok())
    };
    let n = value("--count")?;
    let every = std::time::Duration::from_millis(value("--every-ms").unwrap_or(0));
    std::thread::sleep(std::time::Duration::from_millis(
        value("--delay-ms").unwrap_or(0),
    ));
    let mut out = std::io::stdout().lock();
    for i in 1..=n {
        if writeln!(out, "line {i}").is_err() {
            std::process::exit(1);
        }
        if !every.is_zero() {
            let _ = out.flush();
            std::thread::sleep(every);
        }
    }
    let _ = out.flush();
    loop {
        std::thread::sleep(std::time::Duration::from_secs(3600));
    }
}

/// `proctor-probe --freeze-spawns`: the attack of a service's account on proctord's spawns.
/// A new child of proctord takes the service's uid some microseconds before its exec; from then
/// on any process of that account may signal it. This predicts the next pids the kernel hands
/// out and spins on `kill(pid, SIGSTOP)` until each one can be signalled (until then it does not
/// exist, or is still root's): if it is still proctord's copy it stays stopped, and `stopped PID`
/// is printed; anything else (an exec'd service) is continued. Spinning on the syscall rather
/// than polling `/proc` is what makes the attack land within the window of a few microseconds,
/// even on a busy machine. With `--every N`, only every Nth child caught is left stopped (each
/// one costs proctord its time limit, and a test needs some hits, not all). Runs until stopped.
fn freeze_mode(args: &[String]) -> ! {
    use nix::sys::signal::{kill, Signal};
    use nix::unistd::Pid;
    use std::io::Write;
    let every = args
        .iter()
        .position(|a| a == "--every")
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse::<u64>().ok())
        .unwrap_or(1)
        .max(1);
    let mut caught = 0u64;
    let mut out = std::io::stdout();
    loop {
        let Some(last) = std::fs::read_to_string("/proc/sys/kernel/ns_last_pid")
            .ok()
            .and_then(|s| s.trim().parse::<i32>().ok())
        else {
            continue;
        };
        let mut settled = [false; 2];
        // About a millisecond of spinning, then the pids are predicted again.
        for _ in 0..5_000 {
            for (i, pid) in (last + 1..=last + 2).map(Pid::from_raw).enumerate() {
                if settled[i] || kill(pid, Signal::SIGSTOP).is_err() {
                    continue;
                }
                settled[i] = true;
                let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
                let ours = comm.trim() == "proctord";
                caught += u64::from(ours);
                if ours && caught.is_multiple_of(every) {
                    let _ = writeln!(out, "stopped {pid}");
                    let _ = out.flush();
                } else {
                    let _ = kill(pid, Signal::SIGCONT);
                }
            }
            if settled.iter().all(|s| *s) {
                break;
            }
        }
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.iter().any(|a| a == "--count") {
        count_mode(&args);
    }
    if args.iter().any(|a| a == "--freeze-spawns") {
        freeze_mode(&args);
    }
    let mut out = String::new();
    let mut fds: Vec<u32> = std::fs::read_dir("/proc/self/fd")
        .map(|d| {
            d.flatten()
                .filter_map(|e| e.file_name().to_str()?.parse().ok())
                .collect()
        })
        .unwrap_or_default();
    fds.sort_unstable();
    // The directory handle used to list /proc/self/fd is itself an fd; drop the highest
    // number, which is that handle.
    fds.pop();
    let fds: Vec<String> = fds.iter().map(u32::to_string).collect();
    out.push_str(&format!("fds={}\n", fds.join(",")));
    if let Ok(status) = std::fs::read_to_string("/proc/self/status") {
        for l in status.lines() {
            for k in [
                "Uid",
                "Gid",
                "Groups",
                "SigBlk",
                "SigIgn",
                "CapEff",
                "CapPrm",
                "CapAmb",
                "NoNewPrivs",
                "Seccomp",
            ] {
                if let Some(v) = l.strip_prefix(&format!("{k}:")) {
                    out.push_str(&format!(
                        "{k}={}\n",
                        v.split_whitespace().collect::<Vec<_>>().join(" ")
                    ));
                }
            }
        }
    }
    if let Ok(stat) = std::fs::read_to_string("/proc/self/stat") {
        // Fields after the command: state ppid pgrp session.
        if let Some(rest) = stat.rsplit(')').next() {
            let f: Vec<&str> = rest.split_whitespace().collect();
            if f.len() > 3 {
                out.push_str(&format!(
                    "pid={}\npgrp={}\nsession={}\n",
                    std::process::id(),
                    f[2],
                    f[3]
                ));
            }
        }
    }
    for (k, v) in std::env::vars() {
        if k.starts_with("SUPERVISOR_")
            || ["PROBE_VAR", "HOME", "USER", "LOGNAME", "SHELL", "PATH"].contains(&k.as_str())
        {
            out.push_str(&format!("env.{k}={v}\n"));
        }
    }
    if let Ok(cwd) = std::env::current_dir() {
        out.push_str(&format!("cwd={}\n", cwd.display()));
    }
    // `proctor-probe --listen ADDR`: also serve a line to every TCP client (for port 80 tests).
    let listener = match args
        .iter()
        .position(|a| a == "--listen")
        .and_then(|i| args.get(i + 1))
    {
        Some(addr) => match std::net::TcpListener::bind(addr) {
            Ok(l) => {
                out.push_str(&format!("listen={addr}\n"));
                Some(l)
            }
            Err(e) => {
                out.push_str(&format!("listen_error={e}\n"));
                None
            }
        },
        None => None,
    };
    out.push_str("probe=done\n");
    print!("{out}");
    use std::io::Write;
    let _ = std::io::stdout().flush();
    if let Some(l) = listener {
        for mut conn in l.incoming().flatten() {
            let _ = writeln!(conn, "hello from proctor-probe {}", std::process::id());
        }
    }
    loop {
        std::thread::sleep(std::time::Duration::from_secs(3600));
    }
}
