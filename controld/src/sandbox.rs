//! controld's own confinement in root mode, on top of the filter it inherits from proctord: it
//! can never run a program or create a process, only threads. Applied before the runtime
//! starts, so every thread inherits it.

// Syscall numbers are `c_long`, i64 on the 64-bit targets proctor supports; the casts keep the
// code honest about seccompiler's i64 keys.
#![allow(clippy::unnecessary_cast)]

use seccompiler::{BpfProgram, SeccompCmpArgLen, SeccompCmpOp, SeccompCondition, SeccompRule};
use std::collections::BTreeMap;

fn rules() -> Result<BTreeMap<i64, Vec<SeccompRule>>, String> {
    let always = Vec::new;
    // clone without CLONE_THREAD makes a process; with it, a thread (tokio's workers).
    let not_a_thread = SeccompRule::new(vec![SeccompCondition::new(
        0,
        SeccompCmpArgLen::Qword,
        SeccompCmpOp::MaskedEq(libc::CLONE_THREAD as u64),
        0,
    )
    .map_err(|e| e.to_string())?])
    .map_err(|e| e.to_string())?;
    let mut m = BTreeMap::new();
    m.insert(libc::SYS_execve as i64, always());
    m.insert(libc::SYS_execveat as i64, always());
    #[cfg(target_arch = "x86_64")]
    {
        m.insert(libc::SYS_fork as i64, always());
        m.insert(libc::SYS_vfork as i64, always());
    }
    m.insert(libc::SYS_clone as i64, vec![not_a_thread]);
    m.insert(libc::SYS_ptrace as i64, always());
    Ok(m)
}

fn programs() -> Result<Vec<BpfProgram>, String> {
    proctor_sandbox::deny_list(rules()?, &[])
}

/// Non-dumpable, no_new_privs, and the filter. Must run while the process has one thread.
pub fn enter() -> Result<(), String> {
    proctor_sandbox::set_non_dumpable().map_err(|e| format!("PR_SET_DUMPABLE: {e}"))?;
    proctor_sandbox::install(&programs()?)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use proctor_sandbox::{run_in_child, ChildEnd};

    fn under_sandbox(call: fn() -> i64) -> ChildEnd {
        let progs = programs().unwrap();
        run_in_child(move || {
            for p in &progs {
                if seccompiler::apply_filter(p).is_err() {
                    return 100;
                }
            }
            call()
        })
    }

    #[test]
    fn exec_and_new_processes_kill_and_threads_still_work() {
        let sigsys = ChildEnd::Signaled(libc::SIGSYS);
        assert_eq!(under_sandbox(crate::sys::try_exec_true), sigsys, "execve");
        assert_eq!(
            under_sandbox(crate::sys::try_fork_process),
            sigsys,
            "clone without CLONE_THREAD"
        );
        assert_eq!(
            under_sandbox(crate::sys::try_clone3),
            ChildEnd::Exited(0),
            "clone3 gives ENOSYS"
        );
        assert_eq!(
            under_sandbox(crate::sys::try_thread),
            ChildEnd::Exited(0),
            "a thread"
        );
    }
}
