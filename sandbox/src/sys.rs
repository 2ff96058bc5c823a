//! This crate's only unsafe code: prctl for dumpability, taking ownership of received fds, and
//! the test helpers (fork, raw syscalls, wait).
#![allow(unsafe_code)]

use std::io;
use std::os::fd::{FromRawFd, OwnedFd, RawFd};

/// `prctl(PR_SET_DUMPABLE, 0)`: no core dumps, and /proc/PID stays root's, so no other process
/// of the same uid can read the process's memory or ptrace it.
pub fn set_non_dumpable() -> io::Result<()> {
    // SAFETY: plain prctl with integer arguments.
    if unsafe { libc::prctl(libc::PR_SET_DUMPABLE, 0, 0, 0, 0) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// `prctl(PR_GET_DUMPABLE)`.
pub fn is_dumpable() -> bool {
    // SAFETY: plain prctl with integer arguments.
    unsafe { libc::prctl(libc::PR_GET_DUMPABLE, 0, 0, 0, 0) != 0 }
}

/// Takes ownership of an fd that recvmsg just installed (SCM_RIGHTS).
pub(crate) fn received_fd(fd: RawFd) -> OwnedFd {
    // SAFETY: called only on the numbers of a SCM_RIGHTS message just received, which the
    // kernel installed in our table for us and nothing else owns.
    unsafe { OwnedFd::from_raw_fd(fd) }
}

/// How a test child ended.
#[cfg(feature = "testing")]
#[derive(Debug, PartialEq, Eq)]
pub enum ChildEnd {
    Exited(i32),
    Signaled(i32),
}

/// Runs `f` in a forked child and waits for it. The caller (a multi-threaded test) must keep
/// `f` to raw syscalls and seccomp installation on memory prepared before the call.
#[cfg(feature = "testing")]
pub fn run_in_child(f: impl FnOnce() -> i64) -> ChildEnd {
    // SAFETY: the child runs only `f`, then _exit; it never returns into the test harness.
    let pid = unsafe { libc::fork() };
    if pid == 0 {
        let code = f();
        // SAFETY: _exit is async-signal-safe and never returns.
        unsafe { libc::_exit(code as i32) };
    }
    assert!(pid > 0, "fork failed");
    let mut status = 0;
    // SAFETY: waiting for our own child with a valid pointer.
    unsafe { libc::waitpid(pid, &mut status, 0) };
    if libc::WIFSIGNALED(status) {
        ChildEnd::Signaled(libc::WTERMSIG(status))
    } else {
        ChildEnd::Exited(libc::WEXITSTATUS(status))
    }
}

/// A raw syscall with up to six integer arguments.
#[cfg(feature = "testing")]
pub fn raw_syscall(nr: i64, a: [u64; 6]) -> i64 {
    // SAFETY: test children pass arguments chosen to be harmless; pointers among them are never
    // dereferenced by us, and the kernel checks them.
    unsafe { libc::syscall(nr as libc::c_long, a[0], a[1], a[2], a[3], a[4], a[5]) as i64 }
}
