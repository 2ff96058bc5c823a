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

/// What one `recvmsg` returned.
pub(crate) struct RawReceived {
    pub len: usize,
    pub flags: libc::c_int,
    pub fds: Vec<OwnedFd>,
}

/// The most fds the kernel passes in one message (SCM_MAX_FD).
const SCM_MAX_FD: usize = 253;

/// `recvmsg(2)` with room for SCM_MAX_FD descriptors, received close-on-exec. Every SCM_RIGHTS
/// descriptor the kernel installed is owned, even when it set MSG_CTRUNC because it could not
/// install the rest (out of fds): it then shortens the header to what it did install, and the
/// headers are walked by hand because nix refuses to parse cut control data.
pub(crate) fn recvmsg_fds(
    fd: RawFd,
    buf: &mut [u8],
    flags: libc::c_int,
) -> Result<RawReceived, nix::errno::Errno> {
    let int = std::mem::size_of::<libc::c_int>();
    // SAFETY: CMSG_SPACE is arithmetic on its argument.
    let space = unsafe { libc::CMSG_SPACE((SCM_MAX_FD * int) as libc::c_uint) } as usize;
    // u64 words: the control buffer must be aligned for cmsghdr.
    let mut control = vec![0u64; space.div_ceil(8)];
    let mut iov = libc::iovec {
        iov_base: buf.as_mut_ptr().cast(),
        iov_len: buf.len(),
    };
    // SAFETY: msghdr is plain data; all-zero is a valid empty value.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.as_mut_ptr().cast();
    msg.msg_controllen = space as _;
    // SAFETY: `msg` points at `iov` (over `buf`) and `control`, both alive and at least as
    // large as the lengths given, for the duration of the call.
    let n = unsafe { libc::recvmsg(fd, &mut msg, flags | libc::MSG_CMSG_CLOEXEC) };
    if n < 0 {
        return Err(nix::errno::Errno::last());
    }
    let mut fds = Vec::new();
    // SAFETY: `msg` is the header the kernel just filled in; msg_controllen says how much of
    // `control` is valid, and CMSG_FIRSTHDR/CMSG_NXTHDR stay within it.
    let mut c = unsafe { libc::CMSG_FIRSTHDR(&msg) };
    while !c.is_null() {
        // SAFETY: non-null headers from CMSG_FIRSTHDR/CMSG_NXTHDR lie within `control`.
        let h = unsafe { &*c };
        if h.cmsg_level == libc::SOL_SOCKET && h.cmsg_type == libc::SCM_RIGHTS {
            // SAFETY: CMSG_LEN is arithmetic; CMSG_DATA points just past this header.
            let (head, data) = unsafe { (libc::CMSG_LEN(0) as usize, libc::CMSG_DATA(c)) };
            let count = (h.cmsg_len as usize).saturating_sub(head) / int;
            for i in 0..count {
                // SAFETY: the kernel wrote `count` ints after the header (cmsg_len says so),
                // each a descriptor it installed for us that nothing else owns; read unaligned
                // because CMSG_DATA promises no alignment for c_int.
                fds.push(unsafe {
                    OwnedFd::from_raw_fd(std::ptr::read_unaligned(
                        data.cast::<libc::c_int>().add(i),
                    ))
                });
            }
        }
        // SAFETY: as for CMSG_FIRSTHDR; returns null past the last header.
        c = unsafe { libc::CMSG_NXTHDR(&msg, c) };
    }
    Ok(RawReceived {
        len: n as usize,
        flags: msg.msg_flags,
        fds,
    })
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
