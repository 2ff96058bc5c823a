//! The audit log fails closed: when a record cannot be written (a full disk here), the request
//! is refused with the reason and nothing runs; when space returns, requests work again and the
//! chain is intact. Needs root (a small tmpfs).
#![allow(clippy::unwrap_used, clippy::panic)]
#![forbid(unsafe_code)]

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
    let disk = Tmpfs::mount(&mnt, "256k", "0750");
    nix::unistd::chown(&mnt, Some(ctl.uid.into()), Some(ctl.gid.into())).unwrap();
    let log = mnt.join("audit.log");
    let d = RootDaemon::start_with(
        "[program:a]\ncommand = sleep 1000\nuser = proctest-plain\nstartsecs = 0\n",
        &format!("audit_log = {}\n", log.display()),
    );
    let pid = d.running_pid("a");
    // Fill the disk.
    let filler = disk.fill("filler");
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

#[test]
fn rotation_carries_the_chain_and_followers_see_new_records() {
    let d = Daemon::start(
        "[proctor]\naudit_log = {dir}/audit/audit.log\naudit_log_maxbytes = 2KB\naudit_log_backups = 3\n\n\
         [program:a]\ncommand = sleep 1000\nstartsecs = 0\n",
    );
    d.wait_state("a", "RUNNING", std::time::Duration::from_secs(15));
    // A follower started now sees what comes next.
    let mut follower = command(&bin("proctorctl"))
        .arg("-s")
        .arg(&d.socket)
        .args(["audit", "-f", "-n", "0", "--user"])
        .arg(runner_name())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let out = follower.stdout.take().unwrap();
    std::thread::sleep(std::time::Duration::from_millis(300));
    for _ in 0..30 {
        d.ctl_ok(&["status", "a"]);
    }
    let mut lines = std::io::BufRead::lines(std::io::BufReader::new(out));
    let mut next =
        || -> serde_json::Value { serde_json::from_str(&lines.next().unwrap().unwrap()).unwrap() };
    // Its own request's outcome is written once it has what it asked for, so it follows it.
    let own = next();
    assert_eq!(
        (own["action"].as_str(), own["outcome"].as_str()),
        (Some("audit"), Some("ok: 0 bytes, then following"))
    );
    let first = next();
    assert_eq!(
        (first["action"].as_str(), first["kind"].as_str()),
        (Some("status"), Some("request"))
    );
    let _ = follower.kill();
    let _ = follower.wait();
    // Rotated at 2 KB, three backups kept, and the chain runs across the files.
    let log = d.path("audit/audit.log");
    let one = d.path("audit/audit.log.1");
    assert!(
        one.exists()
            && d.path("audit/audit.log.3").exists()
            && !d.path("audit/audit.log.4").exists()
    );
    let verify = |files: &[&std::path::Path]| {
        Command::new(bin("proctorctl"))
            .args(["audit", "--verify"])
            .args(files)
            .output()
            .unwrap()
    };
    let o = verify(&[&one, &log]);
    assert!(o.status.success(), "{}", stderr(&o));
    let current = std::fs::read_to_string(&log).unwrap();
    let head: serde_json::Value = serde_json::from_str(current.lines().next().unwrap()).unwrap();
    assert_eq!(head["kind"], "rotated");
    assert!(
        verify(&[&log]).status.success(),
        "a rotated file verifies on its own"
    );
    // A file whose beginning was cut is found out.
    let older = std::fs::read_to_string(&one).unwrap();
    let headless = d.path("headless.log");
    std::fs::write(
        &headless,
        older
            .lines()
            .skip(2)
            .map(|l| format!("{l}\n"))
            .collect::<String>(),
    )
    .unwrap();
    let o = verify(&[&headless]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("headless.log:1: record"),
        "{}",
        stderr(&o)
    );
}

/// A POST to /RPC2 that is not text/xml (what a cross-site form sends) is refused before its
/// body is read, and the refusal is in the audit log under the caller.
#[test]
fn a_form_post_to_rpc2_is_refused_and_audited() {
    use std::io::{Read, Write};
    let d = Daemon::start(
        "[proctor]\naudit_log = {dir}/audit/audit.log\n\n\
         [program:a]\ncommand = sleep 1000\nstartsecs = 0\n",
    );
    d.wait_state("a", "RUNNING", std::time::Duration::from_secs(15));
    let mut s = std::os::unix::net::UnixStream::connect(&d.socket).unwrap();
    let body = "<?xml version='1.0'?><methodCall><methodName>supervisor.stopProcess</methodName>\
                <params><param><value><string>a</string></value></param></params></methodCall>";
    s.write_all(
        format!(
            "POST /RPC2 HTTP/1.1\r\nHost: localhost\r\nOrigin: http://evil.example\r\n\
             Content-Type: text/plain\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        )
        .as_bytes(),
    )
    .unwrap();
    let mut answer = String::new();
    s.read_to_string(&mut answer).unwrap();
    assert!(
        answer.starts_with("HTTP/1.1 415 Unsupported Media Type\r\n"),
        "{answer}"
    );
    assert_eq!(d.state("a"), "RUNNING", "nothing ran");
    let records: Vec<serde_json::Value> = std::fs::read_to_string(d.path("audit/audit.log"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let refused = records
        .iter()
        .find(|r| r["action"] == "xmlrpc")
        .unwrap_or_else(|| panic!("no record of the refusal: {records:?}"));
    assert_eq!(refused["decision"], "deny");
    let me = nix::unistd::User::from_uid(nix::unistd::getuid())
        .unwrap()
        .unwrap()
        .name;
    assert_eq!(refused["user"], me.as_str());
    assert!(
        refused["rule"].as_str().unwrap().contains("text/xml"),
        "{refused}"
    );
}
