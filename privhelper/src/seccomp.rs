//! proctord's seccomp filter. It is inherited by every service (filters survive fork and execve
//! and cannot be removed), so it is a deny-list with a default of allow: it kills any attempt to
//! become uid or gid 0 and any kernel-administration or escape syscall, and it stays out of the
//! way of everything else a service may legitimately do.
//!
//! Each rule is one line of data with its reason; `proctord --print-seccomp` prints them.

// Syscall numbers are `c_long`, i64 on the 64-bit targets proctor supports; the casts keep the
// code honest about seccompiler's i64 keys.
#![allow(clippy::unnecessary_cast)]

use seccompiler::{BpfProgram, SeccompCmpArgLen, SeccompCmpOp, SeccompCondition, SeccompRule};
use std::collections::BTreeMap;

/// When a rule applies.
#[derive(Clone, Copy, Debug)]
pub enum When {
    /// Every call.
    Always,
    /// One of these 32-bit arguments (by index) is 0 (an id of root). `-1`, "unchanged", is
    /// not 0 and stays allowed.
    AnyArgZero(&'static [u8]),
    /// Argument 0 has this flag set (clone's namespace flags).
    Flag(u64),
}

pub struct Rule {
    pub name: &'static str,
    pub nr: i64,
    pub when: When,
    pub why: &'static str,
}

macro_rules! rule {
    ($name:ident, $when:expr, $why:expr) => {
        Rule {
            name: stringify!($name),
            nr: libc::$name as i64,
            when: $when,
            why: $why,
        }
    };
}

const ROOT_ID: &str = "no process under proctord may become root (uid or gid 0)";

/// The calls that kill the process (SECCOMP_RET_KILL_PROCESS).
pub fn kill_rules() -> Vec<Rule> {
    use When::*;
    let mut rules = vec![
        rule!(SYS_setuid, AnyArgZero(&[0]), ROOT_ID),
        rule!(SYS_setgid, AnyArgZero(&[0]), ROOT_ID),
        rule!(SYS_setfsuid, AnyArgZero(&[0]), ROOT_ID),
        rule!(SYS_setfsgid, AnyArgZero(&[0]), ROOT_ID),
        rule!(SYS_setreuid, AnyArgZero(&[0, 1]), ROOT_ID),
        rule!(SYS_setregid, AnyArgZero(&[0, 1]), ROOT_ID),
        rule!(SYS_setresuid, AnyArgZero(&[0, 1, 2]), ROOT_ID),
        rule!(SYS_setresgid, AnyArgZero(&[0, 1, 2]), ROOT_ID),
        rule!(SYS_init_module, Always, "loading kernel code"),
        rule!(SYS_finit_module, Always, "loading kernel code"),
        rule!(SYS_delete_module, Always, "unloading kernel code"),
        rule!(SYS_kexec_load, Always, "replacing the running kernel"),
        rule!(SYS_kexec_file_load, Always, "replacing the running kernel"),
        rule!(SYS_reboot, Always, "rebooting or halting the machine"),
        rule!(SYS_swapon, Always, "system administration (swap)"),
        rule!(SYS_swapoff, Always, "system administration (swap)"),
        rule!(SYS_settimeofday, Always, "setting the system clock"),
        rule!(SYS_clock_settime, Always, "setting the system clock"),
        rule!(SYS_clock_adjtime, Always, "adjusting the system clock"),
        rule!(SYS_adjtimex, Always, "adjusting the system clock"),
        rule!(
            SYS_acct,
            Always,
            "system administration (process accounting)"
        ),
        rule!(SYS_quotactl, Always, "system administration (disk quotas)"),
        rule!(SYS_mount, Always, "changing the mount table (escape)"),
        rule!(SYS_umount2, Always, "changing the mount table (escape)"),
        rule!(
            SYS_pivot_root,
            Always,
            "changing the root filesystem (escape)"
        ),
        rule!(SYS_fsopen, Always, "new mount API (escape)"),
        rule!(SYS_fsconfig, Always, "new mount API (escape)"),
        rule!(SYS_fsmount, Always, "new mount API (escape)"),
        rule!(SYS_fspick, Always, "new mount API (escape)"),
        rule!(SYS_move_mount, Always, "new mount API (escape)"),
        rule!(SYS_open_tree, Always, "new mount API (escape)"),
        rule!(SYS_mount_setattr, Always, "new mount API (escape)"),
        rule!(SYS_unshare, Always, "creating namespaces (escape)"),
        rule!(SYS_setns, Always, "entering namespaces (escape)"),
        rule!(SYS_bpf, Always, "loading BPF programs into the kernel"),
        rule!(
            SYS_perf_event_open,
            Always,
            "kernel profiling (information leaks)"
        ),
        rule!(SYS_add_key, Always, "kernel keyrings (shared kernel state)"),
        rule!(
            SYS_request_key,
            Always,
            "kernel keyrings (shared kernel state)"
        ),
        rule!(SYS_keyctl, Always, "kernel keyrings (shared kernel state)"),
        rule!(SYS_ptrace, Always, "tracing other processes"),
        rule!(
            SYS_process_vm_writev,
            Always,
            "writing another process's memory"
        ),
        rule!(
            SYS_process_vm_readv,
            Always,
            "reading another process's memory"
        ),
        rule!(
            SYS_open_by_handle_at,
            Always,
            "opening files by handle (escape)"
        ),
    ];
    for (flag, name) in [
        (libc::CLONE_NEWNS, "mount"),
        (libc::CLONE_NEWUSER, "user"),
        (libc::CLONE_NEWPID, "pid"),
        (libc::CLONE_NEWNET, "network"),
        (libc::CLONE_NEWUTS, "uts"),
        (libc::CLONE_NEWIPC, "ipc"),
        (libc::CLONE_NEWCGROUP, "cgroup"),
    ] {
        let why: &'static str = match name {
            "mount" => "clone into a new mount namespace (escape)",
            "user" => "clone into a new user namespace (escape)",
            "pid" => "clone into a new pid namespace (escape)",
            "network" => "clone into a new network namespace (escape)",
            "uts" => "clone into a new uts namespace (escape)",
            "ipc" => "clone into a new ipc namespace (escape)",
            _ => "clone into a new cgroup namespace (escape)",
        };
        rules.push(rule!(SYS_clone, Flag(flag as u64), why));
    }
    #[cfg(target_arch = "x86_64")]
    {
        rules.push(rule!(SYS_iopl, Always, "raw I/O port access"));
        rules.push(rule!(SYS_ioperm, Always, "raw I/O port access"));
    }
    rules
}

/// clone3 passes its flags in memory, which a filter cannot read: it fails with ENOSYS, and
/// libc falls back to clone, whose flags the kill rules see.
pub const CLONE3_WHY: &str = "flags in memory are invisible to seccomp; libc falls back to clone";

/// Calls that fail with an error rather than kill: programs that try them can do without.
/// (syscall, name, errno, why).
pub const REFUSED: &[(i64, &str, i32, &str)] = &[
    (
        libc::SYS_io_uring_setup,
        "io_uring_setup",
        libc::ENOSYS,
        "io_uring runs operations no filter sees; programs fall back to epoll",
    ),
    (
        libc::SYS_io_uring_enter,
        "io_uring_enter",
        libc::ENOSYS,
        "io_uring runs operations no filter sees",
    ),
    (
        libc::SYS_io_uring_register,
        "io_uring_register",
        libc::ENOSYS,
        "io_uring runs operations no filter sees",
    ),
    (
        libc::SYS_userfaultfd,
        "userfaultfd",
        libc::EPERM,
        "stalls the kernel on a page fault: a tool of kernel exploits",
    ),
    (
        libc::SYS_pidfd_getfd,
        "pidfd_getfd",
        libc::EPERM,
        "copies another process's file descriptors (another service's of the same account)",
    ),
];

fn conditions(when: When) -> Result<Vec<SeccompRule>, seccompiler::BackendError> {
    match when {
        When::Always => Ok(Vec::new()),
        When::AnyArgZero(args) => args
            .iter()
            .map(|&i| {
                SeccompRule::new(vec![SeccompCondition::new(
                    i,
                    SeccompCmpArgLen::Dword,
                    SeccompCmpOp::Eq,
                    0,
                )?])
            })
            .collect(),
        When::Flag(flag) => Ok(vec![SeccompRule::new(vec![SeccompCondition::new(
            0,
            SeccompCmpArgLen::Qword,
            SeccompCmpOp::MaskedEq(flag),
            flag,
        )?])?]),
    }
}

/// The two programs to install, in this order: the kill rules, then clone3 → ENOSYS.
pub fn programs() -> Result<Vec<BpfProgram>, String> {
    let mut kill: BTreeMap<i64, Vec<SeccompRule>> = BTreeMap::new();
    for r in kill_rules() {
        let mut c = conditions(r.when).map_err(|e| format!("seccomp rule {}: {e}", r.name))?;
        let entry = kill.entry(r.nr).or_default();
        // An unconditional rule for a syscall must stay unconditional.
        if !(entry.is_empty() && matches!(r.when, When::Always)) {
            entry.append(&mut c);
        }
    }
    let refused: Vec<(i64, i32)> = REFUSED.iter().map(|r| (r.0, r.2)).collect();
    proctor_sandbox::deny_list(kill, &refused)
}

/// Installs the filter on proctord (and so on everything it starts from now on). Sets
/// no_new_privs, as any unprivileged seccomp filter requires.
pub fn install() -> Result<(), String> {
    crate::sys::refuse_x32()?;
    proctor_sandbox::install(&programs()?)
}

/// `proctord --print-seccomp`: the rules as a table (write errors, e.g. a closed pipe, end it).
pub fn print() {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    let mut lines = vec![
        "proctord's seccomp filter (inherited by every service); default: allow".to_owned(),
        format!("{:<14} {:<18} {:<28} reason", "action", "syscall", "when"),
    ];
    for r in kill_rules() {
        let when = match r.when {
            When::Always => "always".to_owned(),
            When::AnyArgZero(args) => {
                let a: Vec<String> = args.iter().map(|i| format!("arg{i}")).collect();
                format!("{} == 0", a.join(" or "))
            }
            When::Flag(f) => format!("arg0 & {f:#x}"),
        };
        let name = r.name.trim_start_matches("SYS_");
        lines.push(format!(
            "{:<14} {name:<18} {when:<28} {}",
            "kill-process", r.why
        ));
    }
    lines.push(format!(
        "{:<14} {:<18} {:<28} {CLONE3_WHY}",
        "errno ENOSYS", "clone3", "always"
    ));
    for (_, name, errno, why) in REFUSED {
        let action = if *errno == libc::ENOSYS {
            "errno ENOSYS"
        } else {
            "errno EPERM"
        };
        lines.push(format!("{action:<14} {name:<18} {:<28} {why}", "always"));
    }
    if cfg!(target_arch = "x86_64") {
        lines.push("proctord refuses to start where the x32 ABI is reachable: a filter keyed on x86-64 numbers would not see x32 calls".to_owned());
    }
    for l in lines {
        if writeln!(out, "{l}").is_err() {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::panic)]
    use super::*;
    use proctor_sandbox::{raw_syscall as raw, run_in_child, ChildEnd};

    /// Runs `call` in a forked child under the filter and says how the child ended.
    fn under_filter(call: impl FnOnce() -> i64) -> ChildEnd {
        let progs = programs().unwrap();
        run_in_child(move || {
            for p in &progs {
                if seccompiler::apply_filter(p).is_err() {
                    return 100;
                }
            }
            let _ = call();
            0
        })
    }

    const NEG1: u64 = 0xFFFF_FFFF;

    #[test]
    fn becoming_root_is_killed_and_other_id_changes_are_not() {
        if !nix::unistd::geteuid().is_root() {
            // The kill rules act before permission checks, so they are proven even here;
            // the "still works" half needs CAP_SETUID. CI runs as root.
            eprintln!("note: not root; checking only the kill half");
        }
        let sigsys = ChildEnd::Signaled(libc::SIGSYS);
        for (nr, args) in [
            (libc::SYS_setuid, [0, 0, 0]),
            (libc::SYS_setgid, [0, 0, 0]),
            (libc::SYS_setfsuid, [0, 0, 0]),
            (libc::SYS_setfsgid, [0, 0, 0]),
            (libc::SYS_setreuid, [NEG1, 0, 0]),
            (libc::SYS_setregid, [0, NEG1, 0]),
            (libc::SYS_setresuid, [0, 0, 0]),
            (libc::SYS_setresuid, [NEG1, NEG1, 0]),
            (libc::SYS_setresgid, [NEG1, 0, NEG1]),
        ] {
            let end = under_filter(move || raw(nr as i64, [args[0], args[1], args[2], 0, 0, 0]));
            assert_eq!(end, sigsys, "syscall {nr} {args:?}");
        }
        if nix::unistd::geteuid().is_root() {
            // Holding CAP_SETUID, a change to a non-root id still works.
            let end = under_filter(|| {
                let rc = raw(libc::SYS_setresuid as i64, [NEG1, 1000, NEG1, 0, 0, 0]);
                if rc == 0 {
                    0
                } else {
                    // Exit with a distinct status via a second, allowed call.
                    raw(libc::SYS_exit_group as i64, [42, 0, 0, 0, 0, 0])
                }
            });
            assert_eq!(end, ChildEnd::Exited(0));
        }
    }

    #[test]
    fn every_unconditional_rule_kills() {
        for r in kill_rules()
            .into_iter()
            .filter(|r| matches!(r.when, When::Always))
        {
            // Arguments that would be harmless (invalid) even if the filter let them through.
            let args = match r.name {
                "SYS_reboot" => [0, 0, 0, 0, 0, 0],
                "SYS_ptrace" => [u64::MAX, 0, 0, 0, 0, 0],
                "SYS_unshare" => [0, 0, 0, 0, 0, 0],
                _ => [u64::MAX, 0, 0, 0, 0, 0],
            };
            let nr = r.nr;
            let end = under_filter(move || raw(nr, args));
            assert_eq!(end, ChildEnd::Signaled(libc::SIGSYS), "{}", r.name);
        }
    }

    #[test]
    fn namespace_clones_are_killed_and_clone3_falls_back() {
        for r in kill_rules()
            .into_iter()
            .filter(|r| matches!(r.when, When::Flag(_)))
        {
            let When::Flag(flag) = r.when else { continue };
            // With a namespace flag and a bogus stack, the call would fail anyway.
            let end = under_filter(move || {
                raw(
                    libc::SYS_clone as i64,
                    [flag | libc::SIGCHLD as u64, u64::MAX, 0, 0, 0, 0],
                )
            });
            assert_eq!(end, ChildEnd::Signaled(libc::SIGSYS), "{}", r.why);
        }
        let end = under_filter(|| {
            let rc = raw(libc::SYS_clone3 as i64, [0, 0, 0, 0, 0, 0]);
            let errno = std::io::Error::last_os_error().raw_os_error();
            if rc == -1 && errno == Some(libc::ENOSYS) {
                0
            } else {
                raw(libc::SYS_exit_group as i64, [43, 0, 0, 0, 0, 0])
            }
        });
        assert_eq!(end, ChildEnd::Exited(0));
        // An ordinary fork (clone without namespace flags) still works under the filter.
        let end = under_filter(|| {
            let pid = raw(
                libc::SYS_clone as i64,
                [libc::SIGCHLD as u64, 0, 0, 0, 0, 0],
            );
            if pid == 0 {
                raw(libc::SYS_exit_group as i64, [0, 0, 0, 0, 0, 0]);
            }
            if pid > 0 {
                0
            } else {
                raw(libc::SYS_exit_group as i64, [44, 0, 0, 0, 0, 0])
            }
        });
        assert_eq!(end, ChildEnd::Exited(0));
    }

    #[test]
    fn refused_calls_fail_with_their_errno_and_do_not_kill() {
        let progs = programs().unwrap();
        for &(nr, name, errno, _) in REFUSED {
            let progs = progs.clone();
            // Harmless arguments (as root, unfiltered, these calls fail with EINVAL or EBADF, or
            // succeed): the child exits 0 only on the filter's errno.
            let end = run_in_child(move || {
                for p in &progs {
                    if seccompiler::apply_filter(p).is_err() {
                        return 100;
                    }
                }
                let rc = raw(nr, [0, 0, 0, 0, 0, 0]);
                let got = std::io::Error::last_os_error().raw_os_error().unwrap_or(0);
                i64::from(!(rc == -1 && got == errno))
            });
            assert_eq!(end, ChildEnd::Exited(0), "{name} did not fail with {errno}");
        }
    }

    #[test]
    fn the_filter_builds_and_prints() {
        // The kill rules, then ENOSYS (clone3, io_uring) and EPERM (userfaultfd, pidfd_getfd).
        assert_eq!(programs().unwrap().len(), 3);
        print();
    }
}
