//! Stock Supervisor 4.3 from PyPI, for the tests that compare proctor with it: `.ci/run` makes
//! a virtualenv with `supervisor==4.3.0` and sets `PROCTOR_SUPERVISOR_PYTHON` to its python.

use crate::{command, stderr, stdout, wait_until, workdir, Account};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Output, Stdio};
use std::time::Duration;

/// The python with `supervisor==4.3.0`; `None` (and a `SKIP:` line naming `test`) without one.
pub fn python(test: &str) -> Option<PathBuf> {
    let p = std::env::var_os("PROCTOR_SUPERVISOR_PYTHON").map(PathBuf::from);
    if p.is_none() {
        println!(
            "SKIP: {test}: set PROCTOR_SUPERVISOR_PYTHON to a python with supervisor==4.3.0 \
             (.ci/run does)"
        );
    }
    p
}

/// Stock supervisorctl against the unix socket `socket` (as the runner account).
pub fn supervisorctl(python: &Path, socket: &Path, args: &[&str]) -> Output {
    run_supervisorctl(command(python), socket, args)
}

/// Stock supervisorctl against `socket` as the account `who`.
pub fn supervisorctl_as(python: &Path, socket: &Path, who: &Account, args: &[&str]) -> Output {
    let mut c = std::process::Command::new(python);
    c.uid(who.uid)
        .gid(who.gid)
        .env("HOME", "/nonexistent")
        .env("USER", &who.name);
    run_supervisorctl(c, socket, args)
}

/// Stock supervisorctl against `socket`, to spawn (a `tail -f` that runs until interrupted).
pub fn supervisorctl_command(python: &Path, socket: &Path, args: &[&str]) -> std::process::Command {
    let mut c = command(python);
    c.args(["-m", "supervisor.supervisorctl", "-s"])
        .arg(format!("unix://{}", socket.display()))
        .args(args)
        .stdin(Stdio::null());
    c
}

fn run_supervisorctl(mut c: std::process::Command, socket: &Path, args: &[&str]) -> Output {
    c.args(["-m", "supervisor.supervisorctl", "-s"])
        .arg(format!("unix://{}", socket.display()))
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

/// A supervisord 4.3 running `programs` (the same sections a proctor test daemon gets), in a
/// directory of its own, as the runner account; stopped with its processes when dropped.
pub struct Supervisord {
    pub dir: tempfile::TempDir,
    pub socket: PathBuf,
    child: Child,
}

impl Supervisord {
    pub fn start(python: &Path, programs: &str) -> Supervisord {
        let dir = workdir();
        let socket = dir.path().join("supervisor.sock");
        let conf = dir.path().join("supervisord.conf");
        std::fs::create_dir_all(dir.path().join("log")).unwrap();
        if let Some(a) = crate::runner() {
            nix::unistd::chown(
                &dir.path().join("log"),
                Some(a.uid.into()),
                Some(a.gid.into()),
            )
            .unwrap();
        }
        std::fs::write(&conf, Supervisord::config(dir.path(), &socket, programs)).unwrap();
        let child = command(python)
            .args(["-m", "supervisor.supervisord", "-n", "-c"])
            .arg(&conf)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn()
            .unwrap();
        let s = Supervisord { dir, socket, child };
        wait_until("supervisord's socket", Duration::from_secs(20), || {
            std::os::unix::net::UnixStream::connect(&s.socket)
                .ok()
                .map(|_| ())
        });
        s
    }

    fn config(dir: &Path, socket: &Path, programs: &str) -> String {
        let d = dir.display().to_string();
        format!(
            "[unix_http_server]\nfile = {0}\n\n[supervisord]\nlogfile = {d}/supervisord.log\n\
             pidfile = {d}/supervisord.pid\nchildlogdir = {d}/log\nidentifier = test\n\n\
             [rpcinterface:supervisor]\n\
             supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface\n\n\
             [supervisorctl]\nserverurl = unix://{0}\n\n{1}",
            socket.display(),
            programs.replace("{dir}", &d)
        )
    }

    /// Replaces the programs of its config file (for a reread, update or reload).
    pub fn rewrite(&self, programs: &str) {
        let conf = self.dir.path().join("supervisord.conf");
        std::fs::write(
            conf,
            Supervisord::config(self.dir.path(), &self.socket, programs),
        )
        .unwrap();
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Whether it has exited (after a shutdown).
    pub fn exited(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(Some(_)))
    }
}

impl Drop for Supervisord {
    fn drop(&mut self) {
        // SIGTERM stops its processes; any left are SIGKILLed by the pids they had.
        let services = crate::children_of(self.child.id());
        let pid = nix::unistd::Pid::from_raw(self.child.id() as i32);
        let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
        let deadline = std::time::Instant::now() + Duration::from_secs(15);
        while std::time::Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        for s in services {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(s as i32),
                nix::sys::signal::Signal::SIGKILL,
            );
        }
    }
}

/// What differs between two runs of the same thing: pids, uptimes, times of day.
pub fn normalized(s: &str) -> String {
    let mut out = String::new();
    for w in s.split_inclusive(|c: char| c.is_whitespace() || c == ',') {
        let bare = w.trim_end_matches(|c: char| c.is_whitespace() || c == ',');
        let rest = &w[bare.len()..];
        if bare.chars().all(|c| c.is_ascii_digit()) && !bare.is_empty() {
            out.push('N');
        } else if bare.contains(':') && bare.chars().all(|c| c.is_ascii_digit() || c == ':') {
            // An uptime (H:MM:SS) or a clock time (HH:MM, in a stopped process's description):
            // the two daemons may straddle a minute.
            out.push_str(if bare.split(':').count() == 3 {
                "H:MM:SS"
            } else {
                "HH:MM"
            });
        } else {
            out.push_str(bare);
        }
        out.push_str(rest);
    }
    out
}

/// Runs `supervisorctl ARGS` against supervisord and against proctor: `None` if both print the
/// same (after [`normalized`]; with `sorted`, the same lines in any order) and exit alike.
pub fn differs(
    python: &Path,
    theirs: &Path,
    ours: &Path,
    args: &[&str],
    sorted: bool,
) -> Option<String> {
    let shown = |socket: &Path| {
        let o = supervisorctl(python, socket, args);
        let text = normalized(&format!("{}{}", stdout(&o), stderr(&o)));
        let mut lines: Vec<&str> = text.lines().collect();
        if sorted {
            lines.sort_unstable();
        }
        (lines.join("\n"), o.status.code())
    };
    let ((t, tcode), (o, ocode)) = (shown(theirs), shown(ours));
    (t != o || tcode != ocode).then(|| {
        format!(
            "supervisorctl {}:\n--- supervisord (exit {tcode:?}):\n{t}\n--- proctor (exit {ocode:?}):\n{o}",
            args.join(" ")
        )
    })
}

/// Calls through Supervisor's own transport; prints one JSON object per call: `{"ok": value}`
/// or `{"fault": [code, string]}`.
pub const CALLS: &str = r#"
import json, sys
import xmlrpc.client as x
from supervisor.xmlrpc import SupervisorTransport
proxy = x.ServerProxy("http://127.0.0.1", transport=SupervisorTransport(None, None, sys.argv[1]))
def call(method, *args):
    target = proxy
    for part in method.split("."):
        target = getattr(target, part)
    try:
        return {"ok": target(*args)}
    except x.Fault as f:
        return {"fault": [f.faultCode, f.faultString]}
for line in sys.stdin:
    method, args = json.loads(line)
    print(json.dumps(call(method, *args), sort_keys=False))
"#;

pub fn calls(
    python: &Path,
    socket: &Path,
    calls: &[(&str, serde_json::Value)],
) -> Vec<serde_json::Value> {
    calls_as(command(python), socket, calls)
}

/// As [`calls`], through `python` as a command of the caller's choosing (another account).
pub fn calls_as(
    mut python: std::process::Command,
    socket: &Path,
    calls: &[(&str, serde_json::Value)],
) -> Vec<serde_json::Value> {
    use std::io::Write;
    let mut child = python
        .args(["-c", CALLS])
        .arg(format!("unix://{}", socket.display()))
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut input = String::new();
    for (m, args) in calls {
        input.push_str(&serde_json::json!([m, args]).to_string());
        input.push('\n');
    }
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "the XML-RPC client failed");
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// Pids and times blanked, in every struct at any depth.
pub fn blanked(v: &serde_json::Value) -> serde_json::Value {
    use serde_json::Value;
    match v {
        Value::Object(m) => Value::Object(
            m.iter()
                .map(|(k, v)| {
                    let v = match k.as_str() {
                        "pid" | "start" | "now" | "stop" => Value::from("N"),
                        "description" | "faultString" => {
                            Value::from(normalized(v.as_str().unwrap_or_default()))
                        }
                        "stdout_logfile" | "stderr_logfile" | "logfile" => {
                            // Both AUTO: a name in each daemon's own directory.
                            Value::from(
                                v.as_str()
                                    .unwrap_or_default()
                                    .rsplit('/')
                                    .next()
                                    .unwrap_or("")
                                    .split("---")
                                    .next()
                                    .unwrap_or("")
                                    .to_owned(),
                            )
                        }
                        _ => blanked(v),
                    };
                    (k.clone(), v)
                })
                .collect(),
        ),
        Value::Array(a) => {
            let mut items: Vec<Value> = a.iter().map(blanked).collect();
            // The result structs of the group and all variants: supervisord lists them in the
            // order its deferred calls end.
            if items.iter().all(|i| i.get("status").is_some()) {
                items.sort_by_key(|i| format!("{}:{}", i["group"], i["name"]));
            }
            Value::Array(items)
        }
        other => other.clone(),
    }
}

/// The calls, in order, on supervisord and on proctor: the same answers, once pids, times and
/// log file names are blanked.
pub fn same_answers(python: &Path, theirs: &Path, ours: &Path, list: &[(&str, serde_json::Value)]) {
    let (t, o) = (calls(python, theirs, list), calls(python, ours, list));
    for ((call, t), o) in list.iter().zip(&t).zip(&o) {
        assert_eq!(
            blanked(o),
            blanked(t),
            "{call:?}: proctor (left) differs from supervisord (right)"
        );
    }
}
