//! Stock supervisorctl 4.3 and Python's XML-RPC client against proctor, side by side with
//! supervisord 4.3 running the same programs: the same output and exit codes, the same structs
//! and faults, or the test says why proctor differs on purpose.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
#![forbid(unsafe_code)]

use proctor_tests::supervisor::{self, supervisorctl, supervisorctl_as, Supervisord};
use proctor_tests::*;
use std::path::Path;
use std::time::Duration;

const T: Duration = Duration::from_secs(20);

/// Programs both daemons run: running, not started, a numbered pair, a group member.
const PROGRAMS: &str = "\
[program:sleeper]
command = sleep 1000
startsecs = 0

[program:idle]
command = sleep 1000
autostart = false

[program:pair]
command = sleep 1000
numprocs = 2
process_name = %(program_name)s_%(process_num)s
startsecs = 0

[group:grp]
programs = member

[program:member]
command = sleep 1000
startsecs = 0
";

/// What differs between two runs of the same thing: pids, uptimes, times of day.
fn normalized(s: &str) -> String {
    let mut out = String::new();
    for w in s.split_inclusive(|c: char| c.is_whitespace() || c == ',') {
        let bare = w.trim_end_matches(|c: char| c.is_whitespace() || c == ',');
        let rest = &w[bare.len()..];
        if bare.chars().all(|c| c.is_ascii_digit()) && !bare.is_empty() {
            out.push('N');
        } else if bare.split(':').count() == 3
            && bare.chars().all(|c| c.is_ascii_digit() || c == ':')
        {
            out.push_str("H:MM:SS");
        } else {
            out.push_str(bare);
        }
        out.push_str(rest);
    }
    out
}

fn all_running(python: &Path, socket: &Path) {
    wait_until("every autostarted process RUNNING", T, || {
        let o = supervisorctl(python, socket, &["status"]);
        let text = stdout(&o);
        (text.lines().filter(|l| l.contains("RUNNING")).count() == 4).then_some(())
    });
}

#[test]
fn stock_supervisorctl_reads_proctor_as_it_reads_supervisord() {
    let Some(python) =
        supervisor::python("stock_supervisorctl_reads_proctor_as_it_reads_supervisord")
    else {
        return;
    };
    let sv = Supervisord::start(&python, PROGRAMS);
    let d = Daemon::start(PROGRAMS);
    all_running(&python, &sv.socket);
    all_running(&python, &d.socket);
    let commands: &[&[&str]] = &[
        &["status"],
        &["status", "sleeper"],
        &["status", "grp:*"],
        &["status", "pair:pair_1", "idle"],
        &["status", "nosuch"],
        &["status", "grp:nosuch"],
        &["pid", "sleeper"],
        &["pid", "grp:member"],
        &["pid", "nosuch"],
        &["pid", "all"],
    ];
    let mut differences = Vec::new();
    for args in commands {
        let theirs = supervisorctl(&python, &sv.socket, args);
        let ours = supervisorctl(&python, &d.socket, args);
        let (t, o) = (
            normalized(&format!("{}{}", stdout(&theirs), stderr(&theirs))),
            normalized(&format!("{}{}", stdout(&ours), stderr(&ours))),
        );
        if t != o || theirs.status.code() != ours.status.code() {
            differences.push(format!(
                "supervisorctl {}:\n--- supervisord (exit {:?}):\n{t}--- proctor (exit {:?}):\n{o}",
                args.join(" "),
                theirs.status.code(),
                ours.status.code()
            ));
        }
    }
    assert!(differences.is_empty(), "{}", differences.join("\n"));

    // `pid` alone is the daemon's: proctord's, as supervisord's is its own.
    let o = supervisorctl(&python, &d.socket, &["pid"]);
    assert_eq!(stdout(&o).trim(), d.pid().to_string());
    let o = supervisorctl(&python, &sv.socket, &["pid"]);
    assert_eq!(stdout(&o).trim(), sv.pid().to_string());
    // Differs on purpose: `version` says what answers, proctor's own version.
    let o = supervisorctl(&python, &d.socket, &["version"]);
    assert_eq!(
        stdout(&o).trim(),
        env!("CARGO_PKG_VERSION"),
        "{}",
        stderr(&o)
    );
}

/// Calls through Supervisor's own transport; prints one JSON object per call: `{"ok": value}`
/// or `{"fault": [code, string]}`.
const CALLS: &str = r#"
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

fn calls(
    python: &Path,
    socket: &Path,
    calls: &[(&str, serde_json::Value)],
) -> Vec<serde_json::Value> {
    use std::io::Write;
    let mut child = command(python)
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
fn blanked(v: &serde_json::Value) -> serde_json::Value {
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
        Value::Array(a) => Value::Array(a.iter().map(blanked).collect()),
        other => other.clone(),
    }
}

#[test]
fn xml_rpc_answers_and_faults_are_supervisords() {
    let Some(python) = supervisor::python("xml_rpc_answers_and_faults_are_supervisords") else {
        return;
    };
    let sv = Supervisord::start(&python, PROGRAMS);
    let d = Daemon::start(PROGRAMS);
    all_running(&python, &sv.socket);
    all_running(&python, &d.socket);
    use serde_json::json;
    let same: Vec<(&str, serde_json::Value)> = vec![
        ("supervisor.getAPIVersion", json!([])),
        ("supervisor.getVersion", json!([])),
        ("supervisor.getIdentification", json!([])),
        ("supervisor.getState", json!([])),
        ("supervisor.getProcessInfo", json!(["sleeper"])),
        ("supervisor.getProcessInfo", json!(["idle"])),
        ("supervisor.getProcessInfo", json!(["pair:pair_0"])),
        ("supervisor.getProcessInfo", json!(["grp:member"])),
        // As supervisord: a bare name is the process of that name in the group of that name.
        ("supervisor.getProcessInfo", json!(["member"])),
        ("supervisor.getProcessInfo", json!(["pair_0"])),
        ("supervisor.getProcessInfo", json!(["grp:*"])),
        ("supervisor.getProcessInfo", json!(["nosuch"])),
        ("supervisor.getAllProcessInfo", json!([])),
        ("supervisor.getProcessInfo", json!([])),
        ("supervisor.getAllProcessInfo", json!([1])),
        ("supervisor.noSuchMethod", json!([])),
        ("nosuch.getPID", json!([])),
        ("supervisor._getAllProcesses", json!([])),
        (
            "system.methodSignature",
            json!(["supervisor.getProcessInfo"]),
        ),
        ("system.methodSignature", json!(["supervisor.nosuch"])),
        ("system.methodHelp", json!(["supervisor.nosuch"])),
        (
            "system.multicall",
            json!([[
                {"methodName": "supervisor.getProcessInfo", "params": ["sleeper"]},
                {"methodName": "supervisor.getProcessInfo", "params": ["nosuch"]},
                {"methodName": "system.multicall", "params": [[]]},
                {"params": []},
                {"methodName": "supervisor.getAPIVersion"}
            ]]),
        ),
    ];
    let theirs = calls(&python, &sv.socket, &same);
    let ours = calls(&python, &d.socket, &same);
    for ((call, t), o) in same.iter().zip(&theirs).zip(&ours) {
        assert_eq!(
            blanked(o),
            blanked(t),
            "{call:?}: proctor (left) differs from supervisord (right)"
        );
    }
    // The daemon's pid: proctord's.
    let pid = calls(&python, &d.socket, &[("supervisor.getPID", json!([]))]);
    assert_eq!(pid[0]["ok"], json!(d.pid()));
    // Every method proctor lists is one supervisord has, with the same signature.
    let listed = calls(&python, &d.socket, &[("system.listMethods", json!([]))]);
    let theirs = calls(&python, &sv.socket, &[("system.listMethods", json!([]))]);
    let names: Vec<&str> = listed[0]["ok"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    let known: Vec<&str> = theirs[0]["ok"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    let mut sorted = names.clone();
    sorted.sort();
    assert_eq!(names, sorted, "listMethods is sorted, as supervisord's");
    let sigs: Vec<(&str, serde_json::Value)> = names
        .iter()
        .map(|n| ("system.methodSignature", json!([n])))
        .collect();
    let (ours, theirs) = (
        calls(&python, &d.socket, &sigs),
        calls(&python, &sv.socket, &sigs),
    );
    for ((n, o), t) in names.iter().zip(ours).zip(theirs) {
        assert!(known.contains(n), "{n} is not one of supervisord's methods");
        assert_eq!(o, t, "the signature of {n}");
    }
}

/// As root with a policy: stock supervisorctl, run by a staff member, sees what the policy lets
/// her see, is refused the rest, and every call is in the audit log under her name.
#[test]
fn stock_supervisorctl_is_decided_by_the_policy_and_audited() {
    use proctor_tests::root::{self, RootDaemon};
    if root::skip("stock_supervisorctl_is_decided_by_the_policy_and_audited") {
        return;
    }
    let Some(python) =
        supervisor::python("stock_supervisorctl_is_decided_by_the_policy_and_audited")
    else {
        return;
    };
    let alice = ensure_account("proctest-alice");
    ensure_account("proctest-plain");
    let text = "admins = []\n\n[[allow]]\nwho = [\"proctest-alice\"]\nactions = [\"status\"]\nprograms = [\"web\"]\n";
    let (pdir, policy) = RootDaemon::policy_file(text);
    let audit = pdir.path().join("audit/audit.log");
    let d = RootDaemon::start_with(
        "[program:web]\ncommand = sleep 1000\nuser = proctest-plain\nstartsecs = 0\n\n\
         [program:other]\ncommand = sleep 1000\nuser = proctest-plain\nstartsecs = 0\n",
        &format!(
            "policy = {}\naudit_log = {}\n",
            policy.display(),
            audit.display()
        ),
    );
    let web = d.running_pid("web");
    d.running_pid("other");
    d.open_socket_to_all();

    let o = supervisorctl_as(&python, &d.socket, &alice, &["status"]);
    let lines: Vec<String> = stdout(&o).lines().map(normalized).collect();
    assert_eq!(
        lines,
        // supervisorctl's columns: the name padded to 33, the state to 10.
        vec![normalized(&format!(
            "{:<33}{:<10}pid {web}, uptime 0:00:01",
            "web", "RUNNING"
        ))],
        "{}",
        stderr(&o)
    );
    assert_eq!(o.status.code(), Some(0));
    // `pid other` asks for a process she may not see: refused, with the policy's reason.
    let o = supervisorctl_as(&python, &d.socket, &alice, &["pid", "other"]);
    let shown = format!("{}{}", stdout(&o), stderr(&o));
    assert!(
        shown.contains("permission denied: proctest-alice may not status other"),
        "{shown}"
    );
    assert_ne!(o.status.code(), Some(0));

    // Her calls are recorded under her name: each allowed one with its outcome, the refused
    // one as a denial. (getVersion, supervisorctl's check before each command, is not.)
    let records: Vec<serde_json::Value> = std::fs::read_to_string(&audit)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .filter(|r: &serde_json::Value| r["user"] == "proctest-alice")
        .collect();
    let summary: Vec<String> = records
        .iter()
        .map(|r| {
            format!(
                "{} {} {} {}",
                r["kind"].as_str().unwrap_or_default(),
                r["action"].as_str().unwrap_or_default(),
                r["decision"].as_str().unwrap_or_default(),
                r["targets"]
            )
        })
        .collect();
    assert_eq!(
        summary,
        vec![
            "request status allow [\"web:web\"]",
            "outcome status allow [\"web:web\"]",
            "request status deny [\"other:other\"]",
        ],
        "{records:#?}"
    );
}
