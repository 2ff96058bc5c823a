//! proctord's one-way trip from root to its own account, keeping only what spawning and
//! signalling need: CAP_SETUID and CAP_SETGID (to become a service's user), CAP_KILL (to signal
//! services of other users) and CAP_NET_BIND_SERVICE (to hand it to a service as ambient).
//! Each step's order matters; the reason is next to it. The result is read back from
//! /proc/self/status and any difference stops proctord.

use crate::sys;
use caps::{CapSet, Capability, CapsHashSet};
use nix::unistd::{setgroups, setresgid, setresuid, User};

pub const KEPT: [Capability; 4] = [
    Capability::CAP_KILL,
    Capability::CAP_SETGID,
    Capability::CAP_SETUID,
    Capability::CAP_NET_BIND_SERVICE,
];

/// The kept capabilities as the hex mask /proc/PID/status shows.
pub fn kept_mask() -> u64 {
    KEPT.iter().map(|c| 1u64 << c.index()).sum()
}

// Securebits (linux/securebits.h).
const SECBIT_NOROOT: u32 = 1 << 0;
const SECBIT_NOROOT_LOCKED: u32 = 1 << 1;
const SECBIT_NO_SETUID_FIXUP_LOCKED: u32 = 1 << 3;
const SECBIT_KEEP_CAPS: u32 = 1 << 4;
const SECBIT_KEEP_CAPS_LOCKED: u32 = 1 << 5;

/// What proctord must look like afterwards.
pub const FINAL_SECUREBITS: u32 =
    SECBIT_NOROOT | SECBIT_NOROOT_LOCKED | SECBIT_NO_SETUID_FIXUP_LOCKED | SECBIT_KEEP_CAPS_LOCKED;

fn set(which: CapSet, caps: &[Capability]) -> Result<(), String> {
    let set: CapsHashSet = caps.iter().copied().collect();
    caps::set(None, which, &set).map_err(|e| format!("setting {which:?} capabilities: {e}"))
}

/// Drops from root to `account` for good. Call once, single-threaded, after everything that
/// needs root (binding the socket, creating directories, opening files) is done.
pub fn drop_root(account: &User) -> Result<(), String> {
    let (uid, gid) = (account.uid, account.gid);
    if uid.is_root() || gid.as_raw() == 0 {
        return Err(format!("helper account {} has uid or gid 0", account.name));
    }
    // 1. The bounding set first, while CAP_SETPCAP is still held: no exec can ever grant more.
    for cap in caps::runtime::thread_all_supported() {
        if !KEPT.contains(&cap) {
            caps::drop(None, CapSet::Bounding, cap)
                .map_err(|e| format!("dropping {cap} from the bounding set: {e}"))?;
        }
    }
    // 2. Keep the permitted set across the uid change; root at exec grants nothing.
    sys::set_securebits(SECBIT_KEEP_CAPS | SECBIT_NOROOT | SECBIT_NOROOT_LOCKED)
        .map_err(|e| format!("securebits: {e}"))?;
    // 3. Groups, then gid, then uid: after the uid change the groups could not be changed.
    setgroups(&[]).map_err(|e| format!("setgroups: {e}"))?;
    setresgid(gid, gid, gid).map_err(|e| format!("setresgid: {e}"))?;
    setresuid(uid, uid, uid).map_err(|e| format!("setresuid: {e}"))?;
    // 4. The uid change emptied the effective set; the four, plus SETPCAP for one more step.
    let mut with_setpcap = KEPT.to_vec();
    with_setpcap.push(Capability::CAP_SETPCAP);
    set(CapSet::Inheritable, &[])?;
    set(CapSet::Permitted, &with_setpcap)?;
    set(CapSet::Effective, &with_setpcap)?;
    // 5. Lock it all: no keep-caps any more, no root semantics, no fixup games, ever.
    sys::set_securebits(FINAL_SECUREBITS).map_err(|e| format!("locking securebits: {e}"))?;
    // 6. SETPCAP was only needed for step 5.
    set(CapSet::Effective, &KEPT)?;
    set(CapSet::Permitted, &KEPT)?;
    // 7. No core dumps, /proc/PID/mem closed to the helper's own uid.
    proctor_sandbox::set_non_dumpable().map_err(|e| format!("PR_SET_DUMPABLE: {e}"))?;
    // CAP_SETUID alone would still allow setresuid(0): what forbids it is the seccomp filter
    // installed next (a call to become uid or gid 0 kills the process; seccomp.rs tests it).
    // Securebits already make such a uid 0 worthless at exec.
    Ok(())
}

/// Reads /proc/self/status and checks every field against what `drop_root` and the seccomp
/// filter must have left. Returns the first difference.
pub fn verify(account: &User) -> Result<(), String> {
    let status = std::fs::read_to_string("/proc/self/status")
        .map_err(|e| format!("reading /proc/self/status: {e}"))?;
    let field = |k: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{k}:")))
            .map(|v| v.split_whitespace().collect::<Vec<_>>().join(" "))
            .unwrap_or_default()
    };
    let (u, g) = (account.uid.as_raw(), account.gid.as_raw());
    let mask = format!("{:016x}", kept_mask());
    let expected = [
        ("Uid", format!("{u} {u} {u} {u}")),
        ("Gid", format!("{g} {g} {g} {g}")),
        ("Groups", String::new()),
        ("CapInh", "0000000000000000".to_owned()),
        ("CapPrm", mask.clone()),
        ("CapEff", mask.clone()),
        ("CapBnd", mask),
        ("CapAmb", "0000000000000000".to_owned()),
        ("NoNewPrivs", "1".to_owned()),
        ("Seccomp", "2".to_owned()),
    ];
    for (k, want) in expected {
        let got = field(k);
        if got != want {
            return Err(format!(
                "after dropping privileges /proc/self/status says {k}: {got:?}, expected {want:?}"
            ));
        }
    }
    if proctor_sandbox::is_dumpable() {
        return Err("proctord is still dumpable".into());
    }
    match sys::securebits() {
        Ok(b) if b == FINAL_SECUREBITS => Ok(()),
        Ok(b) => Err(format!(
            "securebits are {b:#x}, expected {FINAL_SECUREBITS:#x}"
        )),
        Err(e) => Err(format!("reading securebits: {e}")),
    }
}
