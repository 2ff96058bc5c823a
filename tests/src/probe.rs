//! A probe run as a service by the end-to-end tests: it writes what it sees of itself (open fds,
//! identity, signal state, session, environment) to stdout, one `key=value` per line, then
//! sleeps until stopped.
#![deny(unsafe_code)]

fn main() {
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
    let args: Vec<String> = std::env::args().collect();
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
