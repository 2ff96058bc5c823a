//! The policy file, through the real `proctorctl policy check|explain`: a table of users ×
//! actions × programs against a policy with groups, globs and admins. Needs root to create the
//! test accounts and groups.
#![allow(clippy::unwrap_used, clippy::panic)]
#![forbid(unsafe_code)]

use proctor_tests::*;
use std::process::Command;
use std::time::Duration;

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

/// The port-80 story: web staff restart the service on port 80 without root; others are told
/// no; the admins change their minds with a reload.
#[test]
fn staff_restart_the_port_80_service_and_others_are_refused() {
    use proctor_tests::root::{accounts, RootDaemon};
    use std::io::{BufRead, BufReader};
    if !is_root() {
        println!("SKIP: port-80 story: root mode needs root");
        return;
    }
    accounts();
    in_group("proctest-alice", "proctest-webops");
    let bob = ensure_account("proctest-bob");
    let alice = ensure_account("proctest-alice");
    ensure_account("proctest-www");
    ensure_account("proctest-plain");
    // The policy must be root's and in a directory only root can write.
    let text = "admins = []\n\n[[allow]]\nwho = [\"%proctest-webops\"]\nactions = [\"status\", \"restart\"]\nprograms = [\"www\"]\n";
    let (pdir, policy) = RootDaemon::policy_file(text);
    let d = RootDaemon::start_with(
        "[program:www]\ncommand = {probe} --listen 127.0.0.1:80\nuser = proctest-www\ncapabilities = net_bind_service\nstartsecs = 0\n\n\
         [program:other]\ncommand = sleep 1000\nuser = proctest-plain\nstartsecs = 0\n",
        &format!(
            "policy = {}\naudit_log = {}/audit/audit.log\n",
            policy.display(),
            pdir.path().display()
        ),
    );
    let answer = || {
        let s = std::net::TcpStream::connect("127.0.0.1:80").ok()?;
        let mut l = String::new();
        BufReader::new(s).read_line(&mut l).ok()?;
        Some(l)
    };
    let first = d.running_pid("www");
    wait_until("port 80", Duration::from_secs(15), answer);
    // Staff may connect: the socket is 0770 in the test config, so open it for them.
    d.open_socket_to_all();
    let as_user = |a: &Account, args: &[&str]| d.ctl_as(a, args);
    // alice, in proctest-webops, restarts it: a new pid, answering again.
    let o = as_user(&alice, &["restart", "www"]);
    assert_eq!(
        (stdout(&o).as_str(), o.status.code()),
        ("www: stopped\nwww: started\n", Some(0)),
        "{}",
        stderr(&o)
    );
    let second = d.running_pid("www");
    assert_ne!(first, second);
    let line = wait_until("port 80 again", Duration::from_secs(15), answer);
    assert_eq!(line.trim(), format!("hello from proctor-probe {second}"));
    // What she may not touch is skipped, not failed, when she asks for everything.
    let o = as_user(&alice, &["status"]);
    assert!(stdout(&o).starts_with("www "), "{}", stdout(&o));
    assert!(!stdout(&o).contains("other"), "{}", stdout(&o));
    // Processes she may not even see are counted, not named.
    assert_eq!(
        stderr(&o),
        "proctorctl: skipped (permission denied): 1 other process(es)\n"
    );
    // ...and refused when she names it.
    let o = as_user(&alice, &["restart", "other"]);
    assert_eq!(o.status.code(), Some(4));
    assert_eq!(
        stderr(&o),
        format!("proctorctl: permission denied: proctest-alice may not restart other (the admins decide this in {})\n", policy.display())
    );
    // bob, in no group of the policy, is refused, and nothing happens.
    let o = as_user(&bob, &["restart", "www"]);
    assert_eq!(o.status.code(), Some(4));
    assert_eq!(
        stderr(&o),
        format!("proctorctl: permission denied: proctest-bob may not restart www (the admins decide this in {})\n", policy.display())
    );
    assert_eq!(d.running_pid("www"), second);
    // The admins let bob in; a broken edit is refused and the last good policy stays.
    std::fs::write(
        &policy,
        text.replace(
            "who = [\"%proctest-webops\"]",
            "who = [\"%proctest-webops\", \"proctest-nosuch\"]",
        ),
    )
    .unwrap();
    let o = d.ctl(&["reload-policy"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains(":4: user 'proctest-nosuch' does not exist"),
        "{}",
        stderr(&o)
    );
    assert_eq!(as_user(&bob, &["status", "www"]).status.code(), Some(4));
    std::fs::write(
        &policy,
        text.replace(
            "who = [\"%proctest-webops\"]",
            "who = [\"%proctest-webops\", \"proctest-bob\"]",
        ),
    )
    .unwrap();
    // This time by SIGHUP to proctord, as an init system would.
    let _ = nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(d.pid() as i32),
        nix::sys::signal::Signal::SIGHUP,
    );
    wait_until(
        "the policy reloaded by SIGHUP",
        Duration::from_secs(15),
        || {
            as_user(&bob, &["status", "www"])
                .status
                .success()
                .then_some(())
        },
    );
    let o = as_user(&bob, &["restart", "www"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(stdout(&d.ctl(&["reload-policy"])), "Policy reloaded\n");

    // A set that changes state is audited as the processes it acts on, and runs on exactly
    // those.
    let o = as_user(&alice, &["restart", "www:*"]);
    assert!(o.status.success(), "{}", stderr(&o));
    // Reading a log or the audit log is recorded with what it came to.
    assert!(d.ctl(&["tail", "www"]).status.success());
    assert!(d.ctl(&["audit", "-n", "3"]).status.success());

    // Everything asked is in the audit log, allowed or denied, with who, what and why.
    let log_path = pdir.path().join("audit/audit.log");
    let log = std::fs::read_to_string(&log_path).unwrap();
    let records: Vec<serde_json::Value> = log
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let find = |user: &str, decision: &str| {
        records
            .iter()
            .find(|r| {
                r["user"] == user
                    && r["action"] == "restart"
                    && r["decision"] == decision
                    && r["kind"] == "request"
            })
            .unwrap_or_else(|| panic!("no {decision} restart by {user} in:\n{log}"))
            .clone()
    };
    let a = find("proctest-alice", "allow");
    assert_eq!(a["rule"], format!("{}:3", policy.display()));
    assert_eq!(a["targets"], serde_json::json!(["www"]));
    assert_eq!(a["uid"], alice.uid);
    assert!(a["time"].as_str().unwrap().ends_with('Z'), "{a}");
    let outcome = records
        .iter()
        .find(|r| r["kind"] == "outcome" && r["request"] == a["seq"])
        .unwrap();
    assert_eq!(outcome["outcome"], "ok");
    // A set is recorded as given, and its outcome names what it acted on when it ran.
    let set = records
        .iter()
        .find(|r| r["kind"] == "request" && r["targets"] == serde_json::json!(["www:*"]))
        .unwrap_or_else(|| panic!("no restart of www:* in:\n{log}"));
    let acted = records
        .iter()
        .find(|r| r["kind"] == "outcome" && r["request"] == set["seq"])
        .unwrap();
    assert_eq!(acted["targets"], serde_json::json!(["www"]), "{acted}");
    let outcomes = |action: &str| -> Vec<String> {
        records
            .iter()
            .filter(|r| r["kind"] == "outcome" && r["action"] == action)
            .map(|r| r["outcome"].as_str().unwrap().to_owned())
            .collect()
    };
    let tails = outcomes("tail");
    assert!(
        tails.len() == 1 && tails[0].starts_with("ok: ") && tails[0].ends_with(" bytes"),
        "{tails:?}"
    );
    let audits = outcomes("audit");
    assert!(
        audits.len() == 1 && audits[0].starts_with("ok: "),
        "{audits:?}"
    );
    // reload-policy has its outcome too: refused, then done.
    let reloads: Vec<&str> = records
        .iter()
        .filter(|r| r["kind"] == "outcome" && r["action"] == "reload-policy")
        .map(|r| r["outcome"].as_str().unwrap())
        .collect();
    assert!(
        reloads.len() == 2
            && reloads[0].starts_with("error: policy refused")
            && reloads[1].starts_with("ok: "),
        "{reloads:?}"
    );
    let b = find("proctest-bob", "deny");
    assert_eq!(b["rule"], "default deny");
    // The chain and the seals verify; an edited line is found at the record after it.
    let seal = d.dir.path().join("seal/audit.seal");
    let verify = |file: &std::path::Path| {
        Command::new(bin("proctorctl"))
            .args(["audit", "--verify", "--seal"])
            .arg(&seal)
            .arg(file)
            .output()
            .unwrap()
    };
    let o = verify(&log_path);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(
        stdout(&o),
        format!(
            "{}: {n} records, hash chain intact, {n} sealed records verified (epoch 1)\n",
            log_path.display(),
            n = records.len()
        )
    );
    let copy = pdir.path().join("edited.log");
    let mut lines: Vec<String> = log.lines().map(str::to_owned).collect();
    let k = lines
        .iter()
        .position(|l| l.contains("\"user\":\"proctest-bob\""))
        .unwrap();
    lines[k] = lines[k].replace("\"decision\":\"deny\"", "\"decision\":\"allow\"");
    std::fs::write(&copy, lines.join("\n") + "\n").unwrap();
    let o = verify(&copy);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).starts_with(&format!(
            "proctorctl: {}:{}: record {} does not follow",
            copy.display(),
            k + 2,
            k + 2
        )),
        "{}",
        stderr(&o)
    );
    // The admins (root here) read it through the daemon.
    let o = d.ctl(&["audit", "-n", "2", "--user", "proctest-bob"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let shown: Vec<serde_json::Value> = stdout(&o)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(shown.len(), 2);
    assert!(shown.iter().all(|r| r["user"] == "proctest-bob"));
}

/// `proctorctl policy check` also checks the accounts file of `[inet_http_server]`, which is
/// read with the policy: the same refusals as the daemon's, with the line.
#[test]
fn policy_check_also_checks_the_accounts_file() {
    use std::io::Write;
    use std::os::unix::fs::PermissionsExt;
    let me = nix::unistd::User::from_uid(nix::unistd::geteuid())
        .unwrap()
        .unwrap()
        .name;
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().display().to_string();
    std::fs::write(dir.path().join("policy.toml"), "admins = [\"root\"]\n").unwrap();
    let accounts = dir.path().join("accounts");
    let conf = dir.path().join("proctor.conf");
    std::fs::write(
        &conf,
        format!(
            "[unix_http_server]\nfile = {d}/s.sock\n[proctor]\npolicy = {d}/policy.toml\n\
             [inet_http_server]\nport = 127.0.0.1:9\naccounts = {d}/accounts\n"
        ),
    )
    .unwrap();
    let mut hash = Command::new(bin("proctorctl"))
        .args(["policy", "hash-password", "--user", &me])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    writeln!(hash.stdin.take().unwrap(), "s3cret").unwrap();
    let line = stdout(&hash.wait_with_output().unwrap());
    let check = |text: &str, mode: u32| {
        std::fs::write(&accounts, text).unwrap();
        std::fs::set_permissions(&accounts, std::fs::Permissions::from_mode(mode)).unwrap();
        Command::new(bin("proctorctl"))
            .arg("-c")
            .arg(&conf)
            .args(["policy", "check"])
            .output()
            .unwrap()
    };
    let o = check(&line, 0o600);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(
        stdout(&o).contains(&format!("{d}/accounts: OK (1 accounts)")),
        "{}",
        stdout(&o)
    );
    let o = check(&line, 0o644);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("every account may read it"),
        "{}",
        stderr(&o)
    );
    let o = check(&line.replacen(&me, "proctest-nosuch", 1), 0o600);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains(&format!(
            "{d}/accounts:1: user 'proctest-nosuch' does not exist"
        )),
        "{}",
        stderr(&o)
    );
}
