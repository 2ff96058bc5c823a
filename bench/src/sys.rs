//! raw-spawn's only unsafe code: the bare fork, setresuid and execve that it measures.
#![allow(unsafe_code)]

use std::ffi::{c_char, CStr};
use std::io;

/// Forks a child that takes `uid`/`gid` (no other groups) and execs `path` with `argv` and
/// `envp` (both null-terminated), with `stdio` (fds of ours) as its stdout and stderr if
/// given; returns its pid once the exec has happened (a close-on-exec pipe reached EOF).
pub fn spawn_as(
    path: &CStr,
    argv: &[*const c_char],
    envp: &[*const c_char],
    uid: u32,
    gid: u32,
    stdio: Option<(i32, i32)>,
) -> io::Result<i32> {
    let mut fds = [0i32; 2];
    // SAFETY: a valid two-int array for pipe2.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: raw-spawn is single-threaded; the child makes raw syscalls on memory prepared
    // before the fork, then execs or _exits.
    let pid = unsafe { libc::fork() };
    if pid == 0 {
        // SAFETY: async-signal-safe syscalls only, on memory prepared before the fork.
        unsafe {
            if let Some((out, err)) = stdio {
                if libc::dup2(out, 1) < 0 || libc::dup2(err, 2) < 0 {
                    libc::_exit(125);
                }
            }
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
    // SAFETY: closing our copy of the write end, then reading until EOF (exec happened), then
    // closing the read end: both are ours, from pipe2 above.
    unsafe {
        libc::close(fds[1]);
        let mut b = [0u8; 1];
        while libc::read(fds[0], b.as_mut_ptr().cast(), 1) > 0 {}
        libc::close(fds[0]);
    }
    if pid < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(pid)
}

/// SIGKILLs and reaps a child of ours.
pub fn kill_and_reap(pid: i32) {
    // SAFETY: plain syscalls on our own unreaped child.
    unsafe {
        libc::kill(pid, libc::SIGKILL);
        libc::waitpid(pid, std::ptr::null_mut(), 0);
    }
}
