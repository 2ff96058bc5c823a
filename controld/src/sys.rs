//! controld's only unsafe code: taking ownership of fds it was handed.
#![allow(unsafe_code)]

use std::os::fd::{FromRawFd, OwnedFd, RawFd};

/// Takes the fds proctord placed at fixed numbers (3 and 4) at exec.
pub fn inherited_fd(fd: RawFd) -> std::io::Result<OwnedFd> {
    // F_GETFD proves the number is open before anything claims it.
    // SAFETY: plain fcntl on an integer.
    if unsafe { libc::fcntl(fd, libc::F_GETFD) } < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: proctord put this fd here for us at exec and nothing else in this process owns
    // it; it is claimed exactly once, at start-up.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// An fd that is open, under the same number, for as long as its holder lives.
pub trait HeldFd: std::os::fd::AsRawFd {}
impl HeldFd for OwnedFd {}
impl HeldFd for std::sync::Arc<OwnedFd> {}

/// Registers an owned fd with tokio's reactor.
pub fn async_fd<F: HeldFd>(
    fd: F,
    interest: tokio::io::Interest,
) -> std::io::Result<tokio::io::unix::AsyncFd<F>> {
    // SAFETY: an OwnedFd (directly or behind an Arc) is open for as long as it lives and always
    // reports the same number, which is exactly what `register_with_interest` requires; the
    // AsyncFd holds it from here on.
    unsafe { tokio::io::unix::AsyncFd::register_with_interest(fd, interest) }
        .map_err(|e| e.into_parts().1)
}

#[cfg(test)]
pub fn try_exec_true() -> i64 {
    let argv = [c"/bin/true".as_ptr(), std::ptr::null()];
    let envp = [std::ptr::null()];
    // SAFETY: valid NUL-terminated arrays of C strings that outlive the call.
    unsafe { libc::execve(c"/bin/true".as_ptr(), argv.as_ptr(), envp.as_ptr()) as i64 }
}

#[cfg(test)]
pub fn try_fork_process() -> i64 {
    // SAFETY: a raw clone like fork(); the child (if any) exits at once.
    let pid = unsafe { libc::syscall(libc::SYS_clone, libc::SIGCHLD as libc::c_ulong, 0, 0, 0, 0) };
    if pid == 0 {
        // SAFETY: _exit never returns.
        unsafe { libc::_exit(0) };
    }
    0
}

#[cfg(test)]
pub fn try_clone3() -> i64 {
    // SAFETY: clone3 with a null argument; it would fail with EFAULT if it ran.
    let rc = unsafe { libc::syscall(libc::SYS_clone3, 0usize, 0usize) };
    let errno = std::io::Error::last_os_error().raw_os_error();
    if rc == -1 && errno == Some(libc::ENOSYS) {
        0
    } else {
        1
    }
}

#[cfg(test)]
pub fn try_thread() -> i64 {
    // std's thread spawn goes through pthread_create: clone3 (refused with ENOSYS), then clone
    // with CLONE_THREAD (allowed).
    match std::thread::spawn(|| 7).join() {
        Ok(7) => 0,
        _ => 1,
    }
}

/// How many bytes a pipe holds now (`FIONREAD`).
pub fn pipe_available(fd: std::os::fd::BorrowedFd<'_>) -> std::io::Result<usize> {
    use std::os::fd::AsRawFd;
    let mut n: libc::c_int = 0;
    // SAFETY: FIONREAD writes one int through the pointer, which points at `n`.
    if unsafe { libc::ioctl(fd.as_raw_fd(), libc::FIONREAD, &mut n as *mut libc::c_int) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(usize::try_from(n).unwrap_or(0))
}
