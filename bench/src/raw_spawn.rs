//! The physical limit for "start N services": fork, setgroups/setresgid/setresuid to an
//! account, execve `sleep`, N times, waiting for each exec to happen (a close-on-exec status
//! pipe reaches EOF), then killing them all. Prints the seconds it took to have N running.
//! With DIR, each spawn first creates the two log files a supervisor makes for a service
//! (`DIR/pI-stdout.log`, `DIR/pI-stderr.log`) and gives them to it as stdout and stderr: the
//! same loop, doing the file work serially.
//!
//! Usage: raw-spawn N USER [DIR]

mod sys;

use std::ffi::CString;
use std::time::Instant;

/// A service's log file, created as a supervisor creates it.
fn log_file(dir: &std::path::Path, i: usize, channel: &str) -> std::io::Result<std::fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .mode(0o640)
        .open(dir.join(format!("p{i}-{channel}.log")))
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let (Some(n), Some(user)) = (
        args.get(1).and_then(|s| s.parse::<usize>().ok()),
        args.get(2),
    ) else {
        eprintln!("usage: raw-spawn N USER [DIR]");
        std::process::exit(2);
    };
    let Ok(Some(u)) = nix::unistd::User::from_name(user) else {
        eprintln!("raw-spawn: no user {user}");
        std::process::exit(2);
    };
    let (uid, gid) = (u.uid.as_raw(), u.gid.as_raw());
    let (Ok(path), Ok(a0), Ok(a1)) = (
        CString::new("/bin/sleep"),
        CString::new("sleep"),
        CString::new("100000"),
    ) else {
        std::process::exit(2);
    };
    let argv = [a0.as_ptr(), a1.as_ptr(), std::ptr::null()];
    let envp = [std::ptr::null()];
    let dir = args.get(3).map(std::path::PathBuf::from);
    let mut pids = Vec::with_capacity(n);
    let start = Instant::now();
    for i in 0..n {
        let files = match &dir {
            Some(d) => match (log_file(d, i, "stdout"), log_file(d, i, "stderr")) {
                (Ok(out), Ok(err)) => Some((out, err)),
                (Err(e), _) | (_, Err(e)) => {
                    eprintln!("raw-spawn: {}: {e}", d.display());
                    std::process::exit(1);
                }
            },
            None => None,
        };
        use std::os::fd::AsRawFd;
        let stdio = files.as_ref().map(|(o, e)| (o.as_raw_fd(), e.as_raw_fd()));
        match sys::spawn_as(&path, &argv, &envp, uid, gid, stdio) {
            Ok(pid) => pids.push(pid),
            Err(e) => {
                eprintln!("raw-spawn: {e}");
                std::process::exit(1);
            }
        }
    }
    let elapsed = start.elapsed().as_secs_f64();
    println!("{elapsed:.4}");
    for pid in pids {
        sys::kill_and_reap(pid);
    }
}
