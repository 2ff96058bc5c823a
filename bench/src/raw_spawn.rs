//! The physical limit for "start N services": fork, setgroups/setresgid/setresuid to an
//! account, execve `sleep`, N times, waiting for each exec to happen (a close-on-exec status
//! pipe reaches EOF), then killing them all. Prints the seconds it took to have N running.
//!
//! Usage: raw-spawn N USER

mod sys;

use std::ffi::CString;
use std::time::Instant;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let (Some(n), Some(user)) = (
        args.get(1).and_then(|s| s.parse::<usize>().ok()),
        args.get(2),
    ) else {
        eprintln!("usage: raw-spawn N USER");
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
    let mut pids = Vec::with_capacity(n);
    let start = Instant::now();
    for _ in 0..n {
        match sys::spawn_as(&path, &argv, &envp, uid, gid) {
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
