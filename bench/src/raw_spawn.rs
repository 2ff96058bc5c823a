//! The physical limit for "start N services": fork, setgroups/setresgid/setresuid to an
//! account, execve `sleep`, N times, waiting for each exec to happen (a close-on-exec status
//! pipe reaches EOF), then killing them all. Prints the seconds it took to have N running.
//!
//! Usage: raw-spawn N USER
#![allow(unsafe_code)]

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
        let mut fds = [0i32; 2];
        // SAFETY: a valid two-int array for pipe2.
        if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
            eprintln!("raw-spawn: pipe: {}", std::io::Error::last_os_error());
            std::process::exit(1);
        }
        // SAFETY: single-threaded; the child makes raw syscalls on memory prepared above, then
        // execs or _exits.
        let pid = unsafe { libc::fork() };
        if pid == 0 {
            // SAFETY: async-signal-safe syscalls only.
            unsafe {
                let groups = [gid];
                if libc::setgroups(1, groups.as_ptr()) != 0
                    || libc::setresgid(gid, gid, gid) != 0
                    || libc::setresuid(uid, uid, uid) != 0
                {
                    libc::_exit(126);
                }
                libc::execve(path.as_ptr(), argv.as_ptr(), envp.as_ptr());
                libc::_exit(127);
            }
        }
        // SAFETY: closing our copy of the write end, then reading until EOF (exec happened).
        unsafe {
            libc::close(fds[1]);
            let mut b = [0u8; 1];
            while libc::read(fds[0], b.as_mut_ptr().cast(), 1) > 0 {}
            libc::close(fds[0]);
        }
        pids.push(pid);
    }
    let elapsed = start.elapsed().as_secs_f64();
    println!("{elapsed:.4}");
    for pid in pids {
        // SAFETY: our own children.
        unsafe {
            libc::kill(pid, libc::SIGKILL);
            libc::waitpid(pid, std::ptr::null_mut(), 0);
        }
    }
}
