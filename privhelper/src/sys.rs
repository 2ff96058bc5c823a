//! Every unsafe call of proctord, behind safe wrappers. The rest of the crate is
//! `#![forbid(unsafe_code)]`-clean; this is the one module to audit for memory safety and for
//! what the child runs before `execve`.
#![allow(unsafe_code)]

use nix::unistd::Pid;
use std::ffi::{CStr, CString};
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::raw::c_char;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// A NULL-terminated array of C strings that owns its strings, built before `fork` so the child
/// never allocates.
pub struct CStringArray {
    _strings: Vec<CString>,
    ptrs: Vec<*const c_char>,
}

impl CStringArray {
    pub fn new(strings: Vec<CString>) -> CStringArray {
        CStringArray::with(strings, None)
    }

    /// An environment whose last entry is `listen_pid`'s, which the child completes.
    pub fn with(strings: Vec<CString>, listen_pid: Option<&ListenPid>) -> CStringArray {
        let mut ptrs: Vec<*const c_char> = strings.iter().map(|s| s.as_ptr()).collect();
        if let Some(l) = listen_pid {
            ptrs.push(l.buf.get() as *const c_char);
        }
        ptrs.push(std::ptr::null());
        CStringArray {
            _strings: strings,
            ptrs,
        }
    }

    fn as_ptr(&self) -> *const *const c_char {
        self.ptrs.as_ptr()
    }
}

/// `LISTEN_PID=` and room for any pid: the environment entry of systemd's socket passing,
/// which must hold the service's own pid, known only in the child. The child writes its pid's
/// digits and a NUL after the `=` before it execs (see [`child_after_fork`]).
pub struct ListenPid {
    buf: Box<std::cell::UnsafeCell<[u8; LISTEN_PID_LEN]>>,
}

const LISTEN_PID_PREFIX: &[u8] = b"LISTEN_PID=";
/// The prefix, 20 digits (any u64), a NUL.
const LISTEN_PID_LEN: usize = 11 + 20 + 1;

impl ListenPid {
    pub fn new() -> ListenPid {
        let mut b = [0u8; LISTEN_PID_LEN];
        b[..LISTEN_PID_PREFIX.len()].copy_from_slice(LISTEN_PID_PREFIX);
        ListenPid {
            buf: Box::new(std::cell::UnsafeCell::new(b)),
        }
    }
}

/// Writes `LISTEN_PID=PID\0` into `buf`: no allocation, no lock (the child calls it).
fn write_listen_pid(buf: &mut [u8; LISTEN_PID_LEN], pid: u32) {
    let mut digits = [0u8; 10];
    let mut n = 0;
    let mut v = pid;
    loop {
        digits[n] = b'0' + (v % 10) as u8;
        n += 1;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    let start = LISTEN_PID_PREFIX.len();
    for i in 0..n {
        buf[start + i] = digits[n - 1 - i];
    }
    buf[start + n] = 0;
}

/// What the child executes.
#[derive(Clone, Copy)]
pub enum Executable<'a> {
    Path(&'a CStr),
    /// An fd opened earlier (O_PATH), executed with execveat(AT_EMPTY_PATH): it works whatever
    /// the directories above it let the new identity traverse, and it cannot be swapped.
    Fd(RawFd),
}

/// The identity a child takes before exec (root mode only).
#[derive(Clone)]
pub struct Credentials {
    pub uid: u32,
    pub gid: u32,
    pub groups: Vec<u32>,
    /// Capability bits (of the first 32) the process keeps as ambient: empty for everything
    /// but `capabilities = net_bind_service`.
    pub ambient: u32,
}

/// CAP_NET_BIND_SERVICE as a bit of the first capability word.
pub const NET_BIND_SERVICE_BIT: u32 = 1 << CAP_NET_BIND_SERVICE;
/// From linux/capability.h (libc does not export capability numbers).
const CAP_NET_BIND_SERVICE: u32 = 10;

#[repr(C)]
struct CapHeader {
    version: u32,
    pid: i32,
}

#[repr(C)]
#[derive(Clone, Copy)]
struct CapData {
    effective: u32,
    permitted: u32,
    inheritable: u32,
}

const LINUX_CAPABILITY_VERSION_3: u32 = 0x2008_0522;

/// Everything the child needs, prepared by the parent.
pub struct ChildPlan<'a> {
    pub program: Executable<'a>,
    pub argv: &'a CStringArray,
    pub envp: &'a CStringArray,
    /// `fds[i]` becomes fd `i` in the child; every other fd is closed at exec.
    pub fds: &'a [RawFd],
    pub credentials: Option<&'a Credentials>,
    pub chdir: Option<&'a CStr>,
    pub umask: Option<u32>,
    /// proctord's pid: the child dies with it (see [`ChildStep::ParentDeath`]).
    pub parent: Pid,
    /// The `LISTEN_PID=` entry of `envp`, if it has one, for the child to complete.
    pub listen_pid: Option<&'a ListenPid>,
}

pub use proctor_wire::refusal::ChildStep;

/// The kernel's `struct sigaction` (x86-64 and arm64 share this layout), for the raw
/// rt_sigaction syscall.
#[repr(C)]
struct KernelSigaction {
    handler: libc::sighandler_t,
    flags: libc::c_ulong,
    restorer: libc::sighandler_t,
    mask: u64,
}

/// How many fds a child may be given (services get 3, controld up to 9).
const MAX_CHILD_FDS: usize = 16;
/// The child's own stack until it execs: its frames are a few hundred bytes.
const CHILD_STACK: usize = 64 * 1024;

/// Why a child did not exec.
#[derive(Debug)]
pub enum ChildError {
    /// No child was created.
    Clone(io::Error),
    /// The child failed at `step` with `errno`, and has exited (the reaper drops its pid).
    Step(ChildStep, i32),
    /// The child had not exec'd when the time ran out: something stopped it (any process of
    /// the service's account may, once the child has taken that uid). It has been SIGKILLed.
    Timeout,
}

/// What the child sees: the plan, the handoff it reports a failed step through, and the fd
/// number from which it drops its copy of proctord's fd table.
struct Shared<'p, 'a> {
    plan: &'p ChildPlan<'a>,
    handoff: &'p Handoff,
    keep_below: libc::c_uint,
}

/// Memory the child and proctord share until the child has left proctord's address space.
/// The kernel writes `left` too, after the child's last user instruction (see
/// [`spawn_child`]): it lives on the heap, and is leaked rather than freed if the child may
/// still be on its way out.
#[repr(C, align(8))]
struct Handoff {
    /// Non-zero until the child execs or exits: CLONE_CHILD_CLEARTID makes the kernel store 0
    /// here and wake a futex waiter on it at that moment.
    left: AtomicU32,
    /// 0, or the failed step and errno: `step << 32 | errno`. Written by the child before it
    /// exits, read by proctord after `left` is 0.
    report: AtomicU64,
}

/// The value `left` holds while the child may still use proctord's memory.
const IN_OUR_MEMORY: u32 = 1;

/// Starts a child that runs `plan` and execs. Returns its pid and a pidfd once it has exec'd,
/// and never waits longer than `limit` for that.
///
/// The child is a `clone(CLONE_VM | CLONE_FILES | CLONE_PIDFD | CLONE_CHILD_CLEARTID)`: it
/// shares proctord's memory and fd table, on a stack of its own. With thousands of services
/// proctord's page tables and fd table are large (a pidfd and the pipes' read ends per
/// service); sharing them instead of copying, and then dropping all but the few fds below
/// the highest one the child maps (`close_range(..., CLOSE_RANGE_UNSHARE)`, its first
/// syscall), is what makes a spawn cost the same at the thousandth service as at the first:
/// copying the table at the clone and closing it again at the exec took a third of a spawn at
/// a thousand services (measured). proctord keeps its per-service fds high
/// ([`keep_high`]) so that they are never among the few copied. Unlike posix_spawn's
/// `CLONE_VFORK`, which would suspend proctord until the child execs, proctord waits with a
/// deadline: once the child has taken the service's uid, any process of that account can
/// SIGSTOP it before its exec, and a vfork parent would then sleep forever.
///
/// The kernel tells proctord when the child no longer uses its memory: with
/// CLONE_CHILD_CLEARTID it zeroes `Handoff::left` and wakes a futex waiter there when the
/// child's exec replaces its address space, or when it exits, and neither the child nor the
/// kernel touches our memory after that. A child that fails a step writes it into
/// `Handoff::report` first, then exits.
///
/// The caller must be single-threaded: proctord checks that at start-up and never creates a
/// thread, so the child may rely on no lock being held by a vanished thread. And until the
/// child has unshared the fd table (its first syscall, microseconds), proctord closes and
/// opens nothing: it goes straight from the clone to the wait.
pub fn spawn_child(plan: &ChildPlan<'_>, limit: Duration) -> Result<(Pid, OwnedFd), ChildError> {
    if plan.fds.len() > MAX_CHILD_FDS {
        return Err(ChildError::Clone(io::Error::from_raw_os_error(
            libc::EINVAL,
        )));
    }
    let exec_fd = match plan.program {
        Executable::Fd(fd) => Some(fd),
        Executable::Path(_) => None,
    };
    let highest = plan.fds.iter().copied().chain(exec_fd).max().unwrap_or(2);
    let keep_below = libc::c_uint::try_from(highest.max(2))
        .map(|h| h + 1)
        .map_err(|_| ChildError::Clone(io::Error::from_raw_os_error(libc::EBADF)))?;
    let handoff = Box::new(Handoff {
        left: AtomicU32::new(IN_OUR_MEMORY),
        report: AtomicU64::new(0),
    });
    let shared = Shared {
        plan,
        handoff: &handoff,
        keep_below,
    };
    let mut stack = vec![0u8; CHILD_STACK];
    let top = (stack.as_mut_ptr() as usize + CHILD_STACK) & !15;
    let mut pidfd: libc::c_int = -1;
    // SAFETY: proctord is single-threaded. The child runs `child_entry` on its own stack (`top`,
    // 16-byte aligned, inside `stack`) and reads `shared`, the plan and the handoff, which stay
    // alive until `handoff.left` is 0 (the kernel's word that the child has left our address
    // space), or until it is known dead; if it cannot be confirmed dead, the stack and the
    // handoff are leaked rather than freed, since the kernel writes `left` when it finally
    // exits. The child makes only raw syscalls on memory prepared before the clone, and writes
    // nothing of ours but its own stack, `handoff.report` and errno, which proctord writes only
    // if a futex wait fails while it waits (at worst a wrong number in the child's report); no
    // syscall it makes writes to user memory. The fd table is shared until the child's first
    // syscall unshares it; proctord touches no fd meanwhile. Signal handlers are not shared
    // (no CLONE_SIGHAND), and proctord has none: its signals are blocked and read from a
    // signalfd. With CLONE_PIDFD the kernel stores the new pidfd at the `parent_tid` argument;
    // with CLONE_CHILD_CLEARTID it remembers the `child_tid` argument, `handoff.left`.
    let pid = unsafe {
        libc::clone(
            child_entry,
            top as *mut libc::c_void,
            libc::CLONE_VM
                | libc::CLONE_FILES
                | libc::CLONE_PIDFD
                | libc::CLONE_CHILD_CLEARTID
                | libc::SIGCHLD,
            (&shared as *const Shared<'_, '_>).cast_mut().cast(),
            &mut pidfd as *mut libc::c_int,
            std::ptr::null_mut::<libc::c_void>(),
            handoff.left.as_ptr(),
        )
    };
    if pid == -1 {
        return Err(ChildError::Clone(io::Error::last_os_error()));
    }
    // SAFETY: with CLONE_PIDFD a successful clone returned a new fd that nothing else owns.
    let pidfd = unsafe { OwnedFd::from_raw_fd(pidfd) };
    let pid = Pid::from_raw(pid);
    let deadline = Instant::now() + limit;
    match await_exec(&handoff, deadline) {
        Ok(()) => match handoff.report.load(Ordering::Acquire) {
            0 => Ok((pid, pidfd)),
            code => {
                let step = ChildStep::from_u8((code >> 32) as u8).unwrap_or(ChildStep::Exec);
                Err(ChildError::Step(step, code as u32 as i32))
            }
        },
        Err(Late) => {
            // SIGKILL ends a stopped process too; it leaves our memory when it dies. Once it
            // is pending the child runs no more user code, so the plan and `shared` may be
            // freed even if it lingers in the kernel; only its stack and the handoff, which
            // the kernel writes at its exit, are given up then. The kill cannot fail on our
            // own unreaped child but with ESRCH (already gone).
            let _ = pidfd_send_signal(&pidfd, libc::SIGKILL);
            if await_exec(&handoff, Instant::now() + KILL_GRACE).is_err() {
                std::mem::forget(stack);
                std::mem::forget(handoff);
            }
            Err(ChildError::Timeout)
        }
    }
}

/// How long a SIGKILLed child may take to die before its stack is given up for lost.
const KILL_GRACE: Duration = Duration::from_secs(1);

/// The deadline passed before the child left our memory.
struct Late;

/// Waits until the kernel has cleared `handoff.left`: the child has exec'd or exited.
fn await_exec(handoff: &Handoff, deadline: Instant) -> Result<(), Late> {
    loop {
        if handoff.left.load(Ordering::Acquire) == 0 {
            return Ok(());
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(Late);
        }
        // Woken, timed out, EAGAIN (already cleared) or EINTR (proctord's signals are
        // blocked: only a stop and continue): the loop looks at the word again either way.
        futex_wait(&handoff.left, IN_OUR_MEMORY, left);
    }
}

/// FUTEX_WAIT on `word` while it holds `expected`, for at most `timeout`. Not the private
/// variant: the kernel's CLONE_CHILD_CLEARTID wake-up is a shared-futex wake.
fn futex_wait(word: &AtomicU32, expected: u32, timeout: Duration) {
    let ts = libc::timespec {
        tv_sec: libc::time_t::try_from(timeout.as_secs()).unwrap_or(libc::time_t::MAX),
        tv_nsec: timeout.subsec_nanos() as libc::c_long,
    };
    // SAFETY: FUTEX_WAIT reads the aligned u32 `word`, which outlives the call, and the
    // timespec on our stack; it writes no user memory.
    unsafe {
        libc::syscall(
            libc::SYS_futex,
            word.as_ptr(),
            libc::FUTEX_WAIT,
            expected,
            &ts as *const libc::timespec,
        );
    }
}

/// The lowest fd number proctord gives the fds it keeps for a service's whole life (its pidfd,
/// proctord's copies of its pipes): above the handful of fds proctord opens for itself and
/// for the spawn under way, which the child copies, so that it never copies these.
const KEEP_FLOOR: RawFd = 64;

/// `fd` renumbered to [`KEEP_FLOOR`] or above (close-on-exec), for an fd proctord keeps while
/// a service lives; `fd` itself if proctord is out of fds (later spawns then copy it, which
/// costs time, not correctness).
pub fn keep_high(fd: OwnedFd) -> OwnedFd {
    if fd.as_raw_fd() >= KEEP_FLOOR {
        return fd;
    }
    match nix::fcntl::fcntl(&fd, nix::fcntl::FcntlArg::F_DUPFD_CLOEXEC(KEEP_FLOOR)) {
        // SAFETY: F_DUPFD_CLOEXEC returned a new fd that nothing else owns.
        Ok(high) => unsafe { OwnedFd::from_raw_fd(high) },
        Err(_) => fd,
    }
}

extern "C" fn child_entry(arg: *mut libc::c_void) -> libc::c_int {
    // SAFETY: `arg` is the `Shared` that `spawn_child` passed, alive until the child has exec'd
    // or exited.
    let shared = unsafe { &*(arg as *const Shared<'_, '_>) };
    child_after_fork(shared)
}

fn child_fail(shared: &Shared<'_, '_>, step: ChildStep) -> ! {
    // SAFETY: reading errno (the parent's thread area, which the waiting parent does not write)
    // and _exit(2), which is async-signal-safe. The report is an atomic store into the
    // handoff, which proctord reads once the kernel has cleared `left` at our exit.
    unsafe {
        let errno = *libc::__errno_location();
        let code = ((step as u64) << 32) | u64::from(errno as u32);
        shared.handoff.report.store(code, Ordering::Release);
        libc::_exit(127)
    }
}

fn child_after_fork(st: &Shared<'_, '_>) -> ! {
    let plan = st.plan;
    // SAFETY: (the whole block) only raw syscalls listed in signal-safety(7) or plain
    // syscalls, on pointers into `plan`, whose memory was allocated before the clone and stays
    // valid until the kernel has told the parent that we left its memory. Nothing allocates,
    // locks or unwinds.
    unsafe {
        // A table of our own, holding only proctord's fds below `keep_below` (the mapped fds
        // and the program among them), before anything else: until then every fd operation
        // would be proctord's too. Nothing to undo if this fails.
        if libc::syscall(
            libc::SYS_close_range,
            st.keep_below,
            libc::c_uint::MAX,
            libc::CLOSE_RANGE_UNSHARE,
        ) != 0
        {
            child_fail(st, ChildStep::Fds);
        }

        // Signals: dispositions that proctord ignores would survive execve, and the mask
        // proctord blocks for its signalfd would be inherited. The raw syscall, not libc's
        // sigaction(), because glibc refuses its internal signals (32, 33), and an inherited
        // "ignore" on those must not reach services either.
        let dfl = KernelSigaction {
            handler: libc::SIG_DFL,
            flags: 0,
            restorer: 0,
            mask: 0,
        };
        for sig in 1..=64 {
            if sig != libc::SIGKILL && sig != libc::SIGSTOP {
                libc::syscall(
                    libc::SYS_rt_sigaction,
                    sig,
                    &dfl as *const KernelSigaction,
                    std::ptr::null_mut::<KernelSigaction>(),
                    8usize,
                );
            }
        }
        let mut empty: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut empty);
        if libc::sigprocmask(libc::SIG_SETMASK, &empty, std::ptr::null_mut()) != 0 {
            child_fail(st, ChildStep::Signals);
        }

        // A new session: the service leads its own process group (for stopasgroup) and has no
        // controlling terminal.
        if libc::setsid() < 0 {
            child_fail(st, ChildStep::Setsid);
        }

        // Move every source above the targets first, so that a source that happens to be one
        // of the target numbers is not overwritten before it is used.
        let n = plan.fds.len();
        let mut moved = [-1 as RawFd; MAX_CHILD_FDS];
        let floor = (n as RawFd).max(3) + 16;
        for (i, &src) in plan.fds.iter().enumerate() {
            let fd = libc::fcntl(src, libc::F_DUPFD_CLOEXEC, floor);
            if fd < 0 {
                child_fail(st, ChildStep::Fds);
            }
            moved[i] = fd;
        }
        for (target, &src) in moved[..n].iter().enumerate() {
            // dup2 clears FD_CLOEXEC on the new descriptor.
            if libc::dup2(src, target as RawFd) < 0 {
                child_fail(st, ChildStep::Fds);
            }
        }

        // Groups, then gid, then uid: once the uid changes the process can no longer change
        // its groups.
        if let Some(c) = plan.credentials {
            if libc::setgroups(c.groups.len(), c.groups.as_ptr()) != 0 {
                child_fail(st, ChildStep::Setgroups);
            }
            if libc::setresgid(c.gid, c.gid, c.gid) != 0 {
                child_fail(st, ChildStep::Setresgid);
            }
            if libc::setresuid(c.uid, c.uid, c.uid) != 0 {
                child_fail(st, ChildStep::Setresuid);
            }
            // proctord is not root, so the uid change kept its capabilities: reduce them to
            // what the service may hold. Permitted and inheritable must contain an ambient
            // capability for it to be raised; effective stays empty (exec recomputes it).
            let header = CapHeader {
                version: LINUX_CAPABILITY_VERSION_3,
                pid: 0,
            };
            let data = [
                CapData {
                    effective: 0,
                    permitted: c.ambient,
                    inheritable: c.ambient,
                },
                CapData {
                    effective: 0,
                    permitted: 0,
                    inheritable: 0,
                },
            ];
            if libc::syscall(libc::SYS_capset, &header as *const CapHeader, data.as_ptr()) != 0 {
                child_fail(st, ChildStep::Capabilities);
            }
            if c.ambient & NET_BIND_SERVICE_BIT != 0
                && libc::prctl(
                    libc::PR_CAP_AMBIENT,
                    libc::PR_CAP_AMBIENT_RAISE as libc::c_ulong,
                    CAP_NET_BIND_SERVICE as libc::c_ulong,
                    0 as libc::c_ulong,
                    0 as libc::c_ulong,
                ) != 0
            {
                child_fail(st, ChildStep::Capabilities);
            }
        }

        // Services die with proctord: a new proctord must never find an unmanaged copy still
        // holding the port. After the identity change, which clears the parent-death signal.
        // If proctord died before this point, the child has already been reparented.
        if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as libc::c_ulong) != 0 {
            child_fail(st, ChildStep::ParentDeath);
        }
        if libc::getppid() != plan.parent.as_raw() {
            libc::_exit(127);
        }

        // After the identity change, so the directory is checked with the service's rights.
        if let Some(dir) = plan.chdir {
            if libc::chdir(dir.as_ptr()) != 0 {
                child_fail(st, ChildStep::Chdir);
            }
        }
        if let Some(mask) = plan.umask {
            libc::umask(mask as libc::mode_t);
        }

        // systemd's socket passing names the process the fds are for: this one.
        if let Some(l) = plan.listen_pid {
            // SAFETY: the buffer was allocated before the clone and is part of `envp`, which
            // nothing else reads or writes until the child has exec'd (proctord waits).
            write_listen_pid(&mut *l.buf.get(), libc::getpid() as u32);
        }

        // Everything above the mapped fds closes at exec.
        if libc::syscall(
            libc::SYS_close_range,
            n as libc::c_uint,
            libc::c_uint::MAX,
            libc::CLOSE_RANGE_CLOEXEC,
        ) != 0
        {
            child_fail(st, ChildStep::CloseRange);
        }

        match plan.program {
            Executable::Path(path) => {
                libc::execve(path.as_ptr(), plan.argv.as_ptr(), plan.envp.as_ptr());
            }
            Executable::Fd(fd) => {
                libc::syscall(
                    libc::SYS_execveat,
                    fd,
                    c"".as_ptr(),
                    plan.argv.as_ptr(),
                    plan.envp.as_ptr(),
                    libc::AT_EMPTY_PATH,
                );
            }
        }
        child_fail(st, ChildStep::Exec)
    }
}

/// `pidfd_send_signal(2)`: signals exactly the process the pidfd refers to, or fails with ESRCH.
pub fn pidfd_send_signal(pidfd: &OwnedFd, signal: i32) -> io::Result<()> {
    // SAFETY: plain syscall; a null siginfo means "as kill(2) would".
    let rc = unsafe {
        libc::syscall(
            libc::SYS_pidfd_send_signal,
            pidfd.as_raw_fd(),
            signal,
            std::ptr::null::<libc::siginfo_t>(),
            0,
        )
    };
    if rc < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

/// `kill(-pgid, signal)`. Callers only pass the pgid of an unreaped child that leads its own
/// group, so the group id cannot have been recycled.
pub fn kill_process_group(pgid: Pid, signal: i32) -> io::Result<()> {
    if pgid.as_raw() <= 1 {
        return Err(io::Error::from_raw_os_error(libc::EINVAL));
    }
    // SAFETY: plain syscall with integer arguments.
    if unsafe { libc::kill(-pgid.as_raw(), signal) } != 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

/// Closes every fd from 3 up: whatever proctord's parent leaked must not reach services.
pub fn close_inherited_fds() -> io::Result<()> {
    // SAFETY: plain syscall; no Rust object owns fds >= 3 this early in main.
    if unsafe { libc::syscall(libc::SYS_close_range, 3u32, libc::c_uint::MAX, 0u32) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Takes ownership of an fd the kernel just handed us (SCM_RIGHTS).
pub fn own_fd(fd: RawFd) -> OwnedFd {
    // SAFETY: called only on fds freshly received from recvmsg, which nothing else owns.
    unsafe { OwnedFd::from_raw_fd(fd) }
}

/// Borrows one of the standard fds (0-2) to probe whether it is open.
pub fn borrow_std_fd(fd: RawFd) -> std::os::fd::BorrowedFd<'static> {
    // SAFETY: the BorrowedFd is only passed to fcntl(F_GETFD), which fails harmlessly with
    // EBADF on a closed number; it is never closed through this handle.
    unsafe { std::os::fd::BorrowedFd::borrow_raw(fd) }
}

/// Refuses to run where the x32 ABI is reachable: a filter keyed on x86-64 syscall numbers does
/// not see x32 calls (same audit arch, numbers with bit 30 set).
#[cfg(target_arch = "x86_64")]
pub fn refuse_x32() -> Result<(), String> {
    const X32_SYSCALL_BIT: libc::c_long = 0x4000_0000;
    // SAFETY: getpid takes no arguments and has no effect; through x32 it either works or
    // fails with ENOSYS.
    let rc = unsafe { libc::syscall(X32_SYSCALL_BIT | libc::SYS_getpid) };
    if rc >= 0 {
        return Err("the x32 syscall ABI is enabled on this kernel; proctord's seccomp filter cannot cover it (boot with syscall.x32=n)".into());
    }
    Ok(())
}

#[cfg(not(target_arch = "x86_64"))]
pub fn refuse_x32() -> Result<(), String> {
    Ok(())
}

/// `prctl(PR_SET_SECUREBITS, bits)`.
pub fn set_securebits(bits: u32) -> io::Result<()> {
    // SAFETY: plain prctl with integer arguments.
    if unsafe { libc::prctl(libc::PR_SET_SECUREBITS, bits as libc::c_ulong, 0, 0, 0) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// `prctl(PR_GET_SECUREBITS)`.
pub fn securebits() -> io::Result<u32> {
    // SAFETY: plain prctl with integer arguments.
    let rc = unsafe { libc::prctl(libc::PR_GET_SECUREBITS, 0, 0, 0, 0) };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(rc as u32)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    #[test]
    fn listen_pid_is_written_in_place() {
        let l = super::ListenPid::new();
        // SAFETY: nothing else holds the buffer.
        let buf = unsafe { &mut *l.buf.get() };
        for (pid, want) in [
            (1234, "LISTEN_PID=1234"),
            (u32::MAX, "LISTEN_PID=4294967295"),
            (7, "LISTEN_PID=7"),
        ] {
            super::write_listen_pid(buf, pid);
            let s = std::ffi::CStr::from_bytes_until_nul(&buf[..]).unwrap();
            assert_eq!(s.to_str().unwrap(), want);
        }
    }
}
