//! The daemon as a whole: one per socket, orderly shutdown, surviving the death of controld,
//! the demo, and `--check`.
#![allow(clippy::unwrap_used, clippy::panic)]
#![forbid(unsafe_code)]

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use proctor_tests::*;
use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::time::Duration;

const T: Duration = Duration::from_secs(15);

fn sigkill(pid: u32) {
    let _ = kill(Pid::from_raw(pid as i32), Signal::SIGKILL);
}

#[test]
fn a_second_daemon_on_the_same_socket_is_refused() {
    let d = Daemon::start("[program:a]\ncommand = sleep 1000\nstartsecs = 0\n");
    d.wait_state("a", "RUNNING", T);
    let out = command(&bin("proctord"))
        .arg("-c")
        .arg(&d.conf)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let sock = d.socket.display().to_string();
    assert_eq!(
        stderr(&out).trim(),
        format!("proctord: another proctord is already serving {sock}; stop it first (proctorctl -s {sock} shutdown)")
    );
    // The first one is untouched.
    assert_eq!(d.state("a"), "RUNNING");
}

#[test]
fn sigterm_stops_services_in_reverse_priority_and_exits_cleanly() {
    let svc = |name: &str, prio: u32| {
        format!(
            "[program:{name}]\ncommand = sh -c 'trap \"echo {name} >> {{dir}}/stopped; exit 0\" TERM; while true; do sleep 0.1; done'\nstartsecs = 0\npriority = {prio}\n\n"
        )
    };
    let mut d = Daemon::start(&format!(
        "{}{}{}",
        svc("db", 10),
        svc("app", 20),
        svc("web", 30)
    ));
    let pids: Vec<u32> = ["db", "app", "web"]
        .iter()
        .map(|n| d.wait_state(n, "RUNNING", T)["pid"].as_u64().unwrap() as u32)
        .collect();
    let status = d.stop();
    assert!(
        status.success(),
        "proctord exit status {status}\n{}",
        d.stderr()
    );
    let order = std::fs::read_to_string(d.path("stopped")).unwrap();
    assert_eq!(order, "web\napp\ndb\n");
    for pid in pids {
        assert!(!alive(pid), "service {pid} outlived proctord");
    }
    assert!(!d.socket.exists(), "the socket is removed at exit");
}

#[test]
fn shutdown_command_stops_everything() {
    let mut d = Daemon::start("[program:a]\ncommand = sleep 1000\nstartsecs = 0\n");
    let pid = d.wait_state("a", "RUNNING", T)["pid"].as_u64().unwrap() as u32;
    assert_eq!(d.ctl_ok(&["shutdown"]).trim(), "Shut down");
    let mut child = d.child.take().unwrap();
    let st = wait_until("proctord to exit", T, || child.try_wait().unwrap());
    assert!(st.success());
    assert!(!alive(pid));
}

#[test]
fn controld_killed_is_restarted_and_loses_no_service_and_no_line() {
    let d = Daemon::start(
        "[program:counter]\ncommand = sh -c 'i=0; while true; do i=$((i+1)); echo \"line $i\"; sleep 0.02; done'\nstartsecs = 0\n\n\
         [program:victim]\ncommand = sleep 1000\nstartsecs = 0\n",
    );
    let counter = d.wait_state("counter", "RUNNING", T)["pid"]
        .as_u64()
        .unwrap() as u32;
    let victim = d.wait_state("victim", "RUNNING", T)["pid"]
        .as_u64()
        .unwrap() as u32;
    let pids = d.ctl_ok(&["pid"]);
    let controld: u32 = pids
        .lines()
        .find_map(|l| l.strip_prefix("proctor-controld "))
        .unwrap()
        .parse()
        .unwrap();
    sigkill(controld);
    // While no controld runs: a service dies (it must be restarted by the next controld, as
    // autorestart=unexpected says), and the counter keeps writing into its pipe.
    sigkill(victim);
    let restarted = wait_until("a new controld", T, || {
        let o = d.ctl(&["pid"]);
        let new: u32 = stdout(&o)
            .lines()
            .find_map(|l| l.strip_prefix("proctor-controld "))?
            .parse()
            .ok()?;
        (new != controld).then_some(new)
    });
    assert!(alive(restarted));
    assert_eq!(
        d.pid_of("counter"),
        Some(counter),
        "the counter keeps its pid"
    );
    assert_eq!(d.state("counter"), "RUNNING");
    let v = d.wait_state("victim", "RUNNING", T);
    assert_ne!(
        v["pid"].as_u64(),
        Some(u64::from(victim)),
        "the victim was started again"
    );
    // Every line is in the log, in order, with no gap where controld was down.
    std::thread::sleep(Duration::from_millis(500));
    let log = std::fs::read_to_string(d.path("log/counter-stdout---test.log")).unwrap();
    let numbers: Vec<u64> = log
        .lines()
        .filter_map(|l| l.strip_prefix("line ")?.parse().ok())
        .collect();
    assert!(numbers.len() > 50, "only {} lines", numbers.len());
    for (i, n) in numbers.iter().enumerate() {
        assert_eq!(
            *n,
            i as u64 + 1,
            "line {} is missing or out of order",
            i + 1
        );
    }
    assert!(
        d.stderr().contains("proctor-controld died; restarting it"),
        "{}",
        d.stderr()
    );
}

#[test]
fn the_demo_runs_without_a_config() {
    let mut child = command(&bin("proctord"))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let pid = child.id();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let socket = loop {
        let line = lines
            .next()
            .unwrap_or_else(|| panic!("the demo printed no proctorctl command"))
            .unwrap();
        if let Some(rest) = line.trim().split_once(" -s ").map(|(_, r)| r.to_owned()) {
            if let Some(sock) = rest.strip_suffix(" status") {
                break sock.to_owned();
            }
        }
    };
    let status = |name: &str| {
        let o = command(&bin("proctorctl"))
            .args(["-s", &socket, "status", "--json"])
            .output()
            .unwrap();
        let v: serde_json::Value = serde_json::from_slice(&o.stdout).ok()?;
        v["result"]
            .as_array()?
            .iter()
            .find(|p| p["name"] == name)
            .map(|p| p["state"].as_str().unwrap_or("").to_owned())
    };
    wait_until("hello RUNNING in the demo", T, || {
        (status("hello")? == "RUNNING").then_some(())
    });
    for name in ["crashy", "web:web_00", "web:web_01", "broken"] {
        assert!(status(name).is_some(), "the demo has {name}");
    }
    wait_until("broken to go FATAL", Duration::from_secs(20), || {
        (status("broken")? == "FATAL").then_some(())
    });
    let tail = command(&bin("proctorctl"))
        .args(["-s", &socket, "tail", "-n", "1", "hello"])
        .output()
        .unwrap();
    assert!(
        stdout(&tail).starts_with("hello, line "),
        "{}",
        stdout(&tail)
    );
    let _ = kill(Pid::from_raw(pid as i32), Signal::SIGTERM);
    let st = wait_until("the demo to exit", T, || child.try_wait().unwrap());
    assert!(st.success());
}

#[test]
fn check_validates_without_running_anything() {
    let d = Daemon::prepare(
        "[program:web]\ncommand = sleep 1000\nprocess_name = %(program_name)s_%(process_num)d\nnumprocs = 2\n\n\
         [program:db]\ncommand = sleep 1000\nredirect_stderr = true\nstdout_logfile = NONE\n\n\
         [group:site]\nprograms = web,db\n",
    );
    let check = |json: bool| {
        let mut c = command(&bin("proctord"));
        c.arg("-c").arg(&d.conf).arg("--check");
        if json {
            c.arg("--json");
        }
        let out = c.output().unwrap();
        assert!(out.status.success(), "{}", stderr(&out));
        stdout(&out)
    };
    // Who runs the test's daemons (programs without user= run as that account).
    let me = runner_name();
    let dir = d.path("");
    let log =
        |name: &str, channel: &str| format!("{}log/{name}-{channel}---test.log", dir.display());
    let expected = format!(
        "{conf}: OK: 2 programs, 3 processes, 1 groups\n\
         site:db     user={me}  stdout=NONE  stderr=stdout\n\
         site:web_0  user={me}  stdout={}  stderr={}\n\
         site:web_1  user={me}  stdout={}  stderr={}",
        log("web_0", "stdout"),
        log("web_0", "stderr"),
        log("web_1", "stdout"),
        log("web_1", "stderr"),
        conf = d.conf.display(),
    );
    assert_eq!(check(false).trim(), expected);
    let v: serde_json::Value = serde_json::from_str(&check(true)).unwrap();
    assert_eq!(v["ok"], true);
    assert_eq!(v["file"], d.conf.display().to_string());
    assert_eq!(v["programs"], 2);
    assert_eq!(v["groups"], serde_json::json!(["site"]));
    assert_eq!(v["warnings"], serde_json::json!([]));
    let web0 = &v["processes"][1];
    assert_eq!(web0["name"], "site:web_0");
    assert_eq!(web0["program"], "web");
    assert_eq!(web0["user"], me.as_str());
    assert_eq!(web0["stdout"], log("web_0", "stdout"));
    assert_eq!(web0["command"], serde_json::json!(["sleep", "1000"]));
    assert_eq!(web0["autostart"], true);
    assert!(!d.socket.exists());
}

#[test]
fn supervisord_keys_do_what_supervisor_does() {
    // A second [supervisord] section merges into the harness's own.
    let mut d = Daemon::start(
        "[supervisord]\nloglevel = error\numask = 027\ndirectory = /tmp\n\
         pidfile = {dir}/proctord.pid\nsilent = true\n\
         [program:a]\ncommand = sleep 1000\nstartsecs = 0\n\
         [program:b]\ncommand = sleep 1000\nstartsecs = 0\numask = 002\ndirectory = /\n",
    );
    let a = d.wait_state("a", "RUNNING", T)["pid"].as_u64().unwrap() as u32;
    let b = d.wait_state("b", "RUNNING", T)["pid"].as_u64().unwrap() as u32;
    // umask and directory: the programs' own, else [supervisord]'s.
    assert_eq!(proc_status(a, "Umask").as_deref(), Some("0027"));
    assert_eq!(proc_status(b, "Umask").as_deref(), Some("0002"));
    let cwd = |pid: u32| std::fs::read_link(format!("/proc/{pid}/cwd")).unwrap();
    assert_eq!(cwd(a), std::path::Path::new("/tmp"));
    assert_eq!(cwd(b), std::path::Path::new("/"));
    // pidfile: proctord's pid, gone after it stops.
    let pidfile = d.path("proctord.pid");
    assert_eq!(
        std::fs::read_to_string(&pidfile).unwrap().trim(),
        d.pid().to_string()
    );
    // loglevel=error: no info lines, from proctord or controld.
    let err = d.stderr();
    assert!(!err.contains(" INFO "), "{err}");
    assert!(!err.contains("warning: [supervisord]"), "{err}");
    assert!(d.stop().success());
    assert!(!pidfile.exists());
}

/// `proctorctl -c FILE` finds the socket as supervisorctl does: `[supervisorctl] serverurl=`
/// first, so a client config written for supervisorctl works unchanged.
#[test]
fn proctorctl_finds_the_socket_from_the_supervisorctl_section() {
    let d = Daemon::start("[program:a]\ncommand = sleep 1000\nstartsecs = 0\n");
    d.wait_state("a", "RUNNING", T);
    let client = d.path("client.conf");
    std::fs::write(
        &client,
        format!(
            "[unix_http_server]\nfile = /nonexistent/other.sock\n\n[supervisorctl]\nserverurl = unix://{}\n",
            d.socket.display()
        ),
    )
    .unwrap();
    let out = command(&bin("proctorctl"))
        .env_remove("PROCTOR_SOCKET")
        .arg("-c")
        .arg(&client)
        .args(["status", "a"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("RUNNING"), "{}", stdout(&out));
}

/// `proctorctl` with no command is a shell, as supervisorctl's: fed by a pipe it runs one
/// command per line (quoted names stay whole), `help` teaches, a mistake is said and the next
/// line still runs, and `quit` ends it.
#[test]
fn proctorctl_without_a_command_is_a_shell() {
    use std::io::Write;
    let d = Daemon::start(
        "[program:a]\ncommand = sleep 1000\nstartsecs = 0\n\n[program:b]\ncommand = sleep 1000\nautostart = false\n",
    );
    d.wait_state("a", "RUNNING", T);
    let mut child = command(&bin("proctorctl"))
        .arg("-s")
        .arg(&d.socket)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"status a\nhelp\n\nbogus\nstart 'b'\nstatus b\nquit\nstop a\n")
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let (o, e) = (stdout(&out), stderr(&out));
    assert!(o.contains("a ") && o.contains("RUNNING"), "{o}");
    assert!(o.contains("Commands:") && o.contains("status"), "{o}");
    assert!(e.contains("unrecognized subcommand 'bogus'"), "{e}");
    assert!(o.contains("b: started"), "{o}");
    assert_eq!(d.state("b"), "RUNNING");
    // Nothing after `quit` ran.
    assert_eq!(d.state("a"), "RUNNING");
    assert_eq!(
        out.status.code(),
        Some(0),
        "the last command's status: {o}{e}"
    );
}

/// At a terminal, the shell completes commands and the names the daemon shows with Tab, and
/// keeps a history in ~/.proctorctl_history. Driven through a pseudo-terminal by Python's `pty`.
#[test]
fn the_shell_completes_names_at_a_terminal_and_keeps_a_history() {
    let d = Daemon::start(
        "[program:alpha]\ncommand = sleep 1000\nstartsecs = 0\n\n[program:beta]\ncommand = sleep 1000\nstartsecs = 0\n",
    );
    d.wait_state("alpha", "RUNNING", T);
    let home = tempfile::tempdir().unwrap();
    const DRIVE: &str = r#"
import os, pty, sys, time
ctl, sock = sys.argv[1], sys.argv[2]
pid, fd = pty.fork()
if pid == 0:
    os.execv(ctl, [ctl, "-s", sock])
seen = b""
def until(text, limit=10):
    global seen
    end = time.time() + limit
    while text.encode() not in seen:
        if time.time() > end:
            sys.exit("timed out waiting for %r in %r" % (text, seen))
        try:
            seen += os.read(fd, 4096)
        except OSError:
            break
until("proctor> ")
os.write(fd, b"statu\t alp\t\r")
until("pid ")
os.write(fd, b"quit\r")
os.waitpid(pid, 0)
sys.stdout.write(seen.decode(errors="replace"))
"#;
    let out = std::process::Command::new("python3")
        .args(["-c", DRIVE])
        .arg(bin("proctorctl"))
        .arg(&d.socket)
        .env("HOME", home.path())
        .output()
        .unwrap();
    let shown = stdout(&out);
    assert!(out.status.success(), "{shown}{}", stderr(&out));
    // What Tab made of `statu alp`, and what it ran.
    assert!(shown.contains("status alpha"), "{shown}");
    assert!(shown.contains("RUNNING"), "{shown}");
    let history = std::fs::read_to_string(home.path().join(".proctorctl_history")).unwrap();
    assert!(history.contains("status alpha"), "{history}");
}
