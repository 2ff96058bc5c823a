//! What proctord and proctor-controld share at the OS boundary:
//!
//! - seccomp: a deny-list filter (kill the listed calls, allow the rest) paired with a second
//!   filter that refuses clone3 with ENOSYS, since clone3 keeps its flags in memory where no
//!   filter can read them and libc then falls back to clone, whose flags the kill rules see;
//! - dumpability ([`set_non_dumpable`]);
//! - receiving file descriptors over a unix socket ([`fdpass`]);
//! - for tests, running code in a forked child (the `testing` feature).

use seccompiler::{BpfProgram, SeccompAction, SeccompFilter, SeccompRule};
use std::collections::BTreeMap;

pub mod fdpass;
mod sys;

pub use sys::{is_dumpable, set_non_dumpable};
#[cfg(feature = "testing")]
pub use sys::{raw_syscall, run_in_child, ChildEnd};

/// Compiles `kill` (syscall → rules; an empty rule list matches every call) into the programs
/// to install, in order: the kill rules, then one program per errno for the calls that are
/// refused rather than fatal: clone3 → ENOSYS, and each `(syscall, errno)` of `refused`. A
/// refused call lets a program that tries it fall back (io_uring to epoll, say); the kernel
/// applies the strictest answer of all the programs.
pub fn deny_list(
    kill: BTreeMap<i64, Vec<SeccompRule>>,
    refused: &[(i64, i32)],
) -> Result<Vec<BpfProgram>, String> {
    let arch = std::env::consts::ARCH
        .try_into()
        .map_err(|e| format!("seccomp: unsupported architecture: {e:?}"))?;
    let mut filters =
        vec![
            SeccompFilter::new(kill, SeccompAction::Allow, SeccompAction::KillProcess, arch)
                .map_err(|e| format!("seccomp: {e}"))?,
        ];
    let mut by_errno: BTreeMap<i32, BTreeMap<i64, Vec<SeccompRule>>> = BTreeMap::new();
    by_errno
        .entry(libc::ENOSYS)
        .or_default()
        .insert(libc::SYS_clone3, Vec::new());
    for &(nr, errno) in refused {
        by_errno.entry(errno).or_default().insert(nr, Vec::new());
    }
    for (errno, calls) in by_errno {
        let errno = u32::try_from(errno).map_err(|_| format!("seccomp: bad errno {errno}"))?;
        filters.push(
            SeccompFilter::new(
                calls,
                SeccompAction::Allow,
                SeccompAction::Errno(errno),
                arch,
            )
            .map_err(|e| format!("seccomp: {e}"))?,
        );
    }
    filters
        .into_iter()
        .map(|f| BpfProgram::try_from(f).map_err(|e| format!("seccomp: {e}")))
        .collect()
}

/// Installs the programs on the calling thread (and sets no_new_privs, which unprivileged
/// filters require). Call while single-threaded so every later thread and child inherits them.
pub fn install(programs: &[BpfProgram]) -> Result<(), String> {
    for p in programs {
        seccompiler::apply_filter(p).map_err(|e| format!("seccomp: {e}"))?;
    }
    Ok(())
}
