//! The event listeners people run under Supervisor, unchanged under proctor as root: superlance's
//! crashmail, fatalmailbatch, memmon and httpok, and supervisord-dependent-startup. Each runs as its own
//! account and calls back through SUPERVISOR_SERVER_URL, so the policy decides what it may do
//! and the audit log names it: memmon may restart `web` but not `db`, which it may only see.
//!
//! The listeners come from PyPI (`superlance==2.0.0`, `supervisord-dependent-startup==1.4.0`),
//! installed by `.ci/run` beside Supervisor in the virtualenv `PROCTOR_SUPERVISOR_PYTHON`
//! names.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
#![forbid(unsafe_code)]

use proctor_tests::root::{self, RootDaemon};
use proctor_tests::*;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

const T: Duration = Duration::from_secs(30);

/// The virtualenv's `bin`, when the listeners are installed there; `None` with a `SKIP:`.
fn listeners_bin(test: &str) -> Option<PathBuf> {
    let python = proctor_tests::supervisor::python(test)?;
    let bin = python.parent()?.to_path_buf();
    let installed = [
        "crashmail",
        "fatalmailbatch",
        "memmon",
        "httpok",
        "supervisord-dependent-startup",
    ]
    .iter()
    .all(|b| bin.join(b).exists());
    if !installed {
        println!(
            "SKIP: {test}: install superlance==2.0.0 and supervisord-dependent-startup==1.4.0 \
             beside supervisor (.ci/run does)"
        );
        return None;
    }
    Some(bin)
}

/// A directory the listeners' account may write (the stand-in sendmail's mailbox).
fn scratch(owner: &Account) -> tempfile::TempDir {
    let dir = tempfile::Builder::new()
        .prefix("proctest-listeners-")
        .tempdir()
        .unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    nix::unistd::chown(dir.path(), Some(owner.uid.into()), Some(owner.gid.into())).unwrap();
    dir
}

/// `user`'s audit records about `program`, each as `kind action decision`.
fn audited(audit: &Path, user: &str, program: &str) -> Vec<String> {
    std::fs::read_to_string(audit)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|r| r["user"] == user && r["targets"].to_string().contains(program))
        .map(|r| {
            format!(
                "{} {} {}",
                r["kind"].as_str().unwrap_or_default(),
                r["action"].as_str().unwrap_or_default(),
                r["decision"].as_str().unwrap_or_default()
            )
        })
        .collect()
}

/// A stand-in mail server on 127.0.0.1 for fatalmailbatch (which speaks SMTP): it says yes to
/// everything and keeps each message's data. Returns its port and the messages.
fn smtp_stand_in() -> (u16, std::sync::Arc<std::sync::Mutex<Vec<String>>>) {
    use std::io::{BufRead, BufReader, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let messages = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let kept = messages.clone();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(conn) = conn else { return };
            let mut out = conn.try_clone().unwrap();
            let mut lines = BufReader::new(conn);
            let _ = out.write_all(b"220 stand-in ESMTP\r\n");
            let mut line = String::new();
            while lines.read_line(&mut line).unwrap_or(0) > 0 {
                let verb = line.trim_end().to_ascii_uppercase();
                line.clear();
                let reply: &[u8] = if verb.starts_with("DATA") {
                    let _ = out.write_all(b"354 go on\r\n");
                    let mut data = String::new();
                    while lines.read_line(&mut line).unwrap_or(0) > 0 && line != ".\r\n" {
                        data.push_str(&line);
                        line.clear();
                    }
                    line.clear();
                    kept.lock().unwrap().push(data);
                    b"250 kept\r\n"
                } else if verb.starts_with("QUIT") {
                    let _ = out.write_all(b"221 bye\r\n");
                    break;
                } else {
                    b"250 ok\r\n"
                };
                let _ = out.write_all(reply);
            }
        }
    });
    (port, messages)
}

fn start_under_policy(programs: &str, policy: &str) -> (tempfile::TempDir, PathBuf, RootDaemon) {
    let started = RootDaemon::under_policy(programs, policy);
    // The watchdogs call back as their own account, which the policy then judges.
    started.2.open_socket_to_all();
    started
}

#[test]
fn superlance_watchdogs_act_under_the_policy_as_their_own_account() {
    const TEST: &str = "superlance_watchdogs_act_under_the_policy_as_their_own_account";
    if root::skip(TEST) {
        return;
    }
    let Some(bin) = listeners_bin(TEST) else {
        return;
    };
    ensure_account("proctest-www");
    let watchdog = ensure_account("proctest-plain");
    let mail = scratch(&watchdog);
    let sendmail = mail.path().join("sendmail");
    std::fs::write(
        &sendmail,
        format!("#!/bin/sh\ncat >> {}/mail.txt\n", mail.path().display()),
    )
    .unwrap();
    std::fs::set_permissions(&sendmail, std::fs::Permissions::from_mode(0o755)).unwrap();
    let site_root = mail.path().join("site");
    std::fs::create_dir(&site_root).unwrap();
    let port = free_port();
    let (smtp, smtp_messages) = smtp_stand_in();
    // 64 MiB each, touched, so that memmon's `ps` sees them over its 20 MB limit.
    let hog = "/usr/bin/python3 -c 'import time; x = bytearray(64 << 20); x[:] = b\"x\" * len(x); time.sleep(1000)'";
    let programs = format!(
        "[program:web]\ncommand = {hog}\nuser = proctest-www\nstartsecs = 0\n\n\
         [program:db]\ncommand = {hog}\nuser = proctest-www\nstartsecs = 0\n\n\
         [program:site]\ncommand = /usr/bin/python3 -m http.server {port} --bind 127.0.0.1 --directory {site}\n\
         user = proctest-www\nstartsecs = 0\n\n\
         [program:flaky]\ncommand = /bin/sh -c 'sleep 1; exit 3'\nuser = proctest-www\nstartsecs = 0\n\
         autorestart = false\n\n\
         [program:calm]\ncommand = sleep 1000\nuser = proctest-www\nstartsecs = 0\n\n\
         [program:doomed]\ncommand = /bin/false\nuser = proctest-www\nstartretries = 0\n\n\
         [eventlistener:fatalmailbatch]\ncommand = {bin}/fatalmailbatch -t ops@example.com -f proctor@example.com \
         -H 127.0.0.1:{smtp} -e TICK_5 -i 0.05\n\
         events = PROCESS_STATE, TICK_5\nuser = proctest-plain\n\n\
         [eventlistener:crashmail]\ncommand = {bin}/crashmail -a -m ops@example.com -s {sendmail}\n\
         events = PROCESS_STATE_EXITED\nuser = proctest-plain\n\n\
         [eventlistener:memmon]\ncommand = {bin}/memmon -p web=20MB\n\
         events = TICK_5\nuser = proctest-plain\n\n\
         [eventlistener:memmondb]\ncommand = {bin}/memmon -p db=20MB\n\
         events = TICK_5\nuser = proctest-plain\n\n\
         [eventlistener:httpok]\ncommand = {bin}/httpok -p site -t 2 -c 200 http://127.0.0.1:{port}/health\n\
         events = TICK_5\nuser = proctest-plain\n",
        bin = bin.display(),
        sendmail = sendmail.display(),
        site = site_root.display(),
    );
    let policy = "admins = []\n\n\
                  [[allow]]\nwho = [\"proctest-plain\"]\nactions = [\"status\", \"restart\"]\nprograms = [\"web\", \"site\"]\n\n\
                  [[allow]]\nwho = [\"proctest-plain\"]\nactions = [\"status\"]\nprograms = [\"db\"]\n";
    let (_pdir, audit, d) = start_under_policy(&programs, policy);
    let web = d.running_pid("web");
    let db = d.running_pid("db");
    let site = d.running_pid("site");

    // Each listener runs as the account its section names.
    let memmon = d.running_pid("memmon");
    let uid = proc_status(memmon, "Uid").unwrap();
    assert_eq!(
        uid.split_whitespace().next().unwrap(),
        watchdog.uid.to_string(),
        "{uid}"
    );

    // crashmail: flaky's unexpected exit, mailed through the stand-in sendmail.
    let mailbox = mail.path().join("mail.txt");
    let text = wait_until("crashmail's mail", T, || {
        let t = std::fs::read_to_string(&mailbox).ok()?;
        t.contains("Process flaky in group flaky exited unexpectedly")
            .then_some(t)
    });
    assert!(text.contains("To: ops@example.com"), "{text}");
    assert!(text.contains("from state RUNNING"), "{text}");
    // A program stopped on purpose is no crash: calm is stopped, then flaky crashes again, and
    // only flaky's two crashes are mailed (crashmail sees the events in order).
    d.running_pid("calm");
    let o = d.ctl(&["stop", "calm"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let o = d.ctl(&["start", "flaky"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let text = wait_until("crashmail's second mail", T, || {
        let t = std::fs::read_to_string(&mailbox).ok()?;
        (t.matches("Process flaky in group flaky exited unexpectedly")
            .count()
            == 2)
            .then_some(t)
    });
    assert!(!text.contains("calm"), "{text}");

    // fatalmailbatch: doomed goes FATAL, and the next TICK_5's batch mails it.
    let mail = wait_until("fatalmailbatch's mail", T, || {
        smtp_messages
            .lock()
            .unwrap()
            .iter()
            .find(|m| m.contains("doomed"))
            .cloned()
    });
    assert!(
        mail.contains("Process doomed:doomed failed to start too many times"),
        "{mail}"
    );
    assert!(mail.contains("To: ops@example.com"), "{mail}");

    // memmon restarts web (allowed); another memmon is refused db (it then exits, as memmon
    // does on a fault, and is restarted). Both audited under their account.
    wait_until("memmon restarting web", T, || {
        (d.running_pid("web") != web).then_some(())
    });
    let web_records = audited(&audit, "proctest-plain", "web");
    assert!(
        web_records.contains(&"request restart allow".to_owned()),
        "{web_records:?}"
    );
    let db_records = wait_until("memmon refused db", T, || {
        let r = audited(&audit, "proctest-plain", "db");
        r.iter().any(|l| l.ends_with(" deny")).then_some(r)
    });
    assert!(
        !db_records
            .iter()
            .any(|l| l.ends_with(" allow") && !l.contains("status")),
        "{db_records:?}"
    );
    assert_eq!(d.running_pid("db"), db, "db was not restarted");

    // httpok: /health is a 404, so it restarts site, as allowed.
    wait_until("httpok restarting site", T, || {
        (d.running_pid("site") != site).then_some(())
    });
    let site_records = audited(&audit, "proctest-plain", "site");
    assert!(
        site_records.contains(&"request restart allow".to_owned()),
        "{site_records:?}"
    );
}

#[test]
fn dependent_startup_starts_what_waits_once_its_dependency_runs() {
    const TEST: &str = "dependent_startup_starts_what_waits_once_its_dependency_runs";
    if root::skip(TEST) {
        return;
    }
    let Some(bin) = listeners_bin(TEST) else {
        return;
    };
    ensure_account("proctest-www");
    ensure_account("proctest-plain");
    // Its own keys in the program sections, which proctor warns about and ignores; the
    // listener reads them from the config file itself (root's, readable by all). It needs to
    // see every program and their config (getAllConfigInfo: `avail`), and to start `db`, then
    // `app` once `db` is RUNNING.
    let programs = format!(
        "[program:db]\ncommand = sleep 1000\nuser = proctest-www\nstartsecs = 2\nautostart = false\n\
         dependent_startup = true\n\n\
         [program:app]\ncommand = sleep 1000\nuser = proctest-www\nstartsecs = 0\nautostart = false\n\
         dependent_startup = true\ndependent_startup_wait_for = db:running\n\n\
         [eventlistener:dependentstartup]\ncommand = {}/supervisord-dependent-startup -c {{conf}}\n\
         events = PROCESS_STATE\nuser = proctest-plain\nautostart = true\n",
        bin.display()
    );
    let policy = "admins = []\n\n\
                  [[allow]]\nwho = [\"proctest-plain\"]\nactions = [\"status\", \"avail\"]\nprograms = [\"*\"]\n\n\
                  [[allow]]\nwho = [\"proctest-plain\"]\nactions = [\"start\"]\nprograms = [\"db\", \"app\"]\n";
    let (_pdir, audit, d) = start_under_policy(&programs, policy);
    let db = d.running_pid("db");
    let app = d.running_pid("app");
    let started = |name: &str| {
        let o = d.ctl(&["status", "--json", name]);
        let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        v["result"][0]["start"].as_u64().unwrap()
    };
    assert!(
        started("app") >= started("db") + 2,
        "app started once db was RUNNING (startsecs = 2 later)"
    );
    assert!(proctor_tests::alive(db) && proctor_tests::alive(app));
    for program in ["db", "app"] {
        let records = audited(&audit, "proctest-plain", program);
        assert!(
            records.contains(&"request start allow".to_owned()),
            "{program}: {records:?}"
        );
    }
}
