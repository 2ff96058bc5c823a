//! The policy file, through the real `proctorctl policy check|explain`: a table of users ×
//! actions × programs against a policy with groups, globs and admins. Needs root to create the
//! test accounts and groups.
#![allow(clippy::unwrap_used, clippy::panic)]

use proctor_tests::*;
use std::process::Command;

fn ensure_group(name: &str) {
    if nix::unistd::Group::from_name(name).ok().flatten().is_none() {
        let _ = Command::new("groupadd").args(["--system", name]).status();
    }
    assert!(
        nix::unistd::Group::from_name(name).ok().flatten().is_some(),
        "cannot create group {name}"
    );
}

fn in_group(user: &str, group: &str) {
    ensure_account(user);
    ensure_group(group);
    let st = Command::new("usermod")
        .args(["-a", "-G", group, user])
        .status()
        .unwrap();
    assert!(st.success());
}

const POLICY: &str = r#"# test policy
admins = ["proctest-admin", "%proctest-wheel"]

[[allow]]
who = ["%proctest-webops", "proctest-carol"]
actions = ["status", "start", "stop", "restart", "signal", "tail"]
programs = ["nginx", "web:*"]

[[allow]]
who = ["%proctest-staff"]
actions = ["status"]
programs = ["*"]
"#;

#[test]
fn users_actions_and_programs_against_a_policy() {
    if !is_root() {
        println!("SKIP: policy table: creating the test accounts needs root");
        return;
    }
    in_group("proctest-alice", "proctest-webops");
    in_group("proctest-alice", "proctest-staff");
    in_group("proctest-dave", "proctest-wheel");
    ensure_account("proctest-bob");
    ensure_account("proctest-carol");
    ensure_account("proctest-admin");
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("policy.toml");
    std::fs::write(&file, POLICY).unwrap();
    let f = file.display().to_string();
    let check = Command::new(bin("proctorctl"))
        .args(["policy", "check", &f])
        .output()
        .unwrap();
    assert_eq!(stdout(&check), format!("{f}: OK\n"), "{}", stderr(&check));

    // (user, action, program, expected verdict)
    let table: &[(&str, &str, &str, &str)] = &[
        ("proctest-alice", "restart", "nginx", "allow (F:4)"),
        ("proctest-alice", "restart", "web:web_00", "allow (F:4)"),
        ("proctest-alice", "tail", "web:web_01", "allow (F:4)"),
        ("proctest-alice", "restart", "db", "deny (default deny)"),
        ("proctest-alice", "status", "db", "allow (F:9)"),
        ("proctest-alice", "shutdown", "-", "deny (default deny)"),
        ("proctest-alice", "update", "-", "deny (default deny)"),
        ("proctest-carol", "stop", "nginx", "allow (F:4)"),
        ("proctest-carol", "status", "db", "deny (default deny)"),
        ("proctest-bob", "status", "nginx", "deny (default deny)"),
        (
            "proctest-bob",
            "restart",
            "web:web_00",
            "deny (default deny)",
        ),
        ("proctest-admin", "shutdown", "-", "allow (F:2)"),
        ("proctest-admin", "restart", "db", "allow (F:2)"),
        ("proctest-dave", "audit", "-", "allow (F:2)"),
        ("proctest-dave", "signal", "web:web_00", "allow (F:2)"),
        ("root", "shutdown", "-", "allow (root)"),
    ];
    let mut failures = Vec::new();
    for (user, action, program, want) in table {
        let o = Command::new(bin("proctorctl"))
            .args([
                "policy", "explain", "--file", &f, "--user", user, action, program,
            ])
            .output()
            .unwrap();
        let want = want.replace('F', &f);
        let code = if want.starts_with("allow") { 0 } else { 1 };
        if stdout(&o).trim() != want || o.status.code() != Some(code) {
            failures.push(format!(
                "{user} {action} {program}: got {:?} ({:?}), want {want}",
                stdout(&o).trim(),
                o.status.code()
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));

    // A refused file names the line.
    std::fs::write(&file, POLICY.replace("proctest-carol", "proctest-nosuch")).unwrap();
    let o = Command::new(bin("proctorctl"))
        .args(["policy", "check", &f])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(
        stderr(&o),
        format!("proctorctl: {f}:5: user 'proctest-nosuch' does not exist\n")
    );
}
