//! The unsafe part of the test helpers: fork, raw syscalls, wait.
#![allow(unsafe_code)]

/// How a test child ended.
#[derive(Debug, PartialEq, Eq)]
pub enum ChildEnd {
    Exited(i32),
    Signaled(i32),
}

/// Runs `f` in a forked child and waits for it. The caller (a multi-threaded test) must keep
/// `f` to raw syscalls and seccomp installation on memory prepared before the call.
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
pub fn raw_syscall(nr: i64, a: [u64; 6]) -> i64 {
    // SAFETY: test children pass arguments chosen to be harmless; pointers among them are never
    // dereferenced by us, and the kernel checks them.
    unsafe { libc::syscall(nr as libc::c_long, a[0], a[1], a[2], a[3], a[4], a[5]) as i64 }
}
