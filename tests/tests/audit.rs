//! The audit log fails closed: when a record cannot be written (a full disk here), the request
//! is refused with the reason and nothing runs; when space returns, requests work again and the
//! chain is intact. Needs root (a small tmpfs).
#![allow(clippy::unwrap_used, clippy::panic)]

use proctor_tests::root::{accounts, RootDaemon};
use proctor_tests::*;
use std::process::Command;

#[test]
fn a_full_audit_disk_refuses_requests_and_recovers() {
    if !is_root() {
        println!("SKIP: audit fail-closed: mounting a small tmpfs needs root");
        return;
    }
    let (ctl, _) = accounts();
    ensure_account("proctest-plain");
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(
        dir.path(),
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    let mnt = dir.path().join("audit");
    std::fs::create_dir(&mnt).unwrap();
    let st = Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=256k,mode=0750"])
        .arg("tmpfs")
        .arg(&mnt)
        .status()
        .unwrap();
    assert!(st.success(), "mount tmpfs");
    struct Unmount(std::path::PathBuf);
    impl Drop for Unmount {
        fn drop(&mut self) {
            let _ = Command::new("umount").arg("-l").arg(&self.0).status();
        }
    }
    let _unmount = Unmount(mnt.clone());
    nix::unistd::chown(&mnt, Some(ctl.uid.into()), Some(ctl.gid.into())).unwrap();
    let log = mnt.join("audit.log");
    let d = RootDaemon::start_with(
        "[program:a]\ncommand = sleep 1000\nuser = proctest-plain\nstartsecs = 0\n",
        &format!("audit_log = {}\n", log.display()),
    );
    let pid = d.running_pid("a");
    // Fill the disk.
    let filler = mnt.join("filler");
    let _ = Command::new("dd")
        .args(["if=/dev/zero", "bs=4k", "count=1000"])
        .arg(format!("of={}", filler.display()))
        .stderr(std::process::Stdio::null())
        .status();
    // The log's last page may still have room for a few records: ask until it is full.
    let mut refused = false;
    for _ in 0..100 {
        if !d.ctl(&["status", "a"]).status.success() {
            refused = true;
            break;
        }
    }
    assert!(refused, "the audit log never filled up");
    let o = d.ctl(&["restart", "a"]);
    assert_eq!(o.status.code(), Some(1), "{}", stdout(&o));
    assert!(
        stderr(&o).contains("refused: the audit log cannot be written: No space left on device"),
        "{}",
        stderr(&o)
    );
    // Nothing ran (status itself is refused while nothing can be recorded).
    assert!(alive(pid), "the refused restart stopped the service");
    // Space returns: requests are recorded and run again.
    std::fs::remove_file(&filler).unwrap();
    let o = d.ctl(&["restart", "a"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_ne!(d.running_pid("a"), pid);
    let o = Command::new(bin("proctorctl"))
        .arg("audit")
        .arg("--verify")
        .arg(&log)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}{}", stdout(&o), stderr(&o));
}
