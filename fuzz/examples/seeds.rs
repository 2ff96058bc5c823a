//! Writes the seed corpus, `fuzz/corpus/<target>/`, from real examples: the config and policy
//! files in contrib/, proctord's demo config, small configs and policies written here, and
//! frames, orders, helper messages and audit logs encoded with proctor-wire's own encoders.
//!
//!     cd fuzz && cargo run --example seeds
#![forbid(unsafe_code)]
use proctor_api::audit::{hash, Record, GENESIS};
use proctor_api::control::*;
use nix::unistd::Pid;
use proctor_wire::helper::{ExitStatus, HelperMsg, Pipes, HELPER_PROTOCOL_VERSION};
use proctor_wire::ids::{ChildId, Generation, InstanceIndex, ProgramIndex, Seq};
use proctor_wire::order::{Order, OrderError, OrderKind};
use proctor_wire::refusal::{Diagnostic, Errno, Refusal, SpawnFailure};
use proctor_wire::signal::AllowedSignal;
use std::path::{Path, PathBuf};

fn corpus(target: &str) -> PathBuf {
    let d = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("corpus")
        .join(target);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn write(target: &str, name: &str, bytes: &[u8]) {
    std::fs::write(corpus(target).join(name), bytes).unwrap();
}

fn repo_file(path: &str) -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(path)).unwrap()
}

fn config_seeds() {
    let t = "config";
    let example = repo_file("contrib/proctor.conf.example");
    write(t, "contrib-example", example.as_bytes());
    write(
        t,
        "contrib-example-root",
        format!("{example}\0\0\x01").as_bytes(),
    );
    // proctord's built-in demo config (privhelper/src/demo.rs, DEMO_CONFIG)
    let demo_rs = repo_file("privhelper/src/demo.rs");
    let start = demo_rs.find("r#\"").unwrap() + 3;
    let end = start + demo_rs[start..].find("\"#;").unwrap();
    write(t, "demo", demo_rs[start..end].as_bytes());
    let main = "[unix_http_server]\nfile = %(here)s/proctor.sock\nchmod = 0770\n\n\
        [supervisord]\nchildlogdir = %(here)s/log\nidentifier = fuzz\n\
        environment = APP_ENV=\"production\",LANG=C\n\n\
        [proctor]\npolicy = policy.toml\naudit_log = audit/audit.log\naudit_log_maxbytes = 10MB\n\
        audit_log_backups = 3\naudit_syslog = true\n\n\
        [program:web]\ncommand = /usr/local/bin/myweb --listen 0.0.0.0:%(ENV_PORT)s\n\
        user = nobody\ncapabilities = net_bind_service\ndirectory = /srv/web\n\
        autorestart = true\nstopasgroup = true\nstopwaitsecs = 30\nstopsignal = SIGINT\n\
        umask = 022\nexitcodes = 0,2\nredirect_stderr = true\n\
        stdout_logfile = %(here)s/%(program_name)s.log\nstdout_logfile_maxbytes = 1MB\n\n\
        [include]\nfiles = inc.conf\n";
    let inc = "; included\n[program:worker]\n\
        command = worker --queue \"q %(process_num)d\" '#literal' #x\n\
        user = nobody\nnumprocs = 3\nnumprocs_start = 1\n\
        process_name = %(program_name)s_%(process_num)02d\n\
        environment = QUEUE_URL=\"redis://localhost:6379/0\",HOST=%(host_node_name)s\n\
        stdout_logfile = AUTO\nstderr_logfile = NONE\nstdout_syslog = true\npriority = 200\n\
        startsecs = 0\nstartretries = 5\nautostart = false\nkillasgroup = yes\n\n\
        [group:backend]\nprograms = worker\npriority = 200\n\n\
        [eventlistener:x]\ncommand = nope\n\n[include]\nfiles = other.conf\n";
    write(t, "include-user", format!("{main}\0{inc}").as_bytes());
    write(t, "include-root", format!("{main}\0{inc}\0\x01").as_bytes());
    write(
        t,
        "include-glob-continuation",
        "[include]\nfiles = *.conf\n    inc.conf\n\0[program:a]\ncommand = a\n  b ; c\n".as_bytes(),
    );
    // from tests/tests/bad_configs.rs
    for (i, text) in [
        "[program:a]\ncommand = sh -c 'echo hi\n",
        "[program:a]\ncommand = /bin/true\nnumprocs = 2\n",
        "[program:a]\ncommand = /bin/true\nstopsignal = SIGWINCH\n",
        "[group:g]\nprograms = a,b\n\n[program:a]\ncommand = /bin/true\n",
        "[program:a]\ncommand = /bin/echo %(nosuch)s\n",
        "[program:a]\ncommand = /bin/true\nstdout_logfile = x.log\n\n[program:b]\ncommand = /bin/true\nstdout_logfile = x.log\n",
        "[program:a]\ncommand = /bin/true\nuser = root\n",
        "[supervisord]\nlogfile = syslog\nloglevel = debug\n[program:a]\ncommand = /bin/true\n",
    ]
    .iter()
    .enumerate()
    {
        write(t, &format!("bad-{i}"), text.as_bytes());
    }
}

fn policy_seeds() {
    let t = "policy";
    write(
        t,
        "contrib-example",
        repo_file("contrib/policy.toml.example").as_bytes(),
    );
    write(
        t,
        "accepted",
        b"admins = [\"root\", \"%root\"]\n\n[[allow]]\nwho = [\"nobody\", \"%nogroup\"]\n\
          actions = [\"status\", \"start\", \"stop\", \"restart\", \"signal\", \"tail\", \"pid\"]\n\
          programs = [\"web\", \"backend:*\", \"[a-z]?x\"]\n\n[[allow]]\nwho = [\"daemon\"]\n\
          actions = [\"avail\", \"reread\", \"update\", \"shutdown\", \"audit\", \"reload-policy\"]\n\
          programs = [\"*\"]\n",
    );
    write(t, "empty", b"");
    write(t, "admins-only", b"admins = [\"daemon\"]\n");
    write(
        t,
        "inline-tables",
        b"allow = [ { who = [\"%nogroup\"], actions = [\"status\"], programs = [\"*\"] } ]\n",
    );
}

fn control_seeds() {
    let t = "control";
    let names = vec!["web".to_owned(), "backend:*".into()];
    let requests = vec![
        Request::Status { names: vec![] },
        Request::Start {
            names: names.clone(),
            wait: true,
        },
        Request::Stop {
            names: names.clone(),
            wait: false,
        },
        Request::Restart {
            names: vec!["all".into()],
        },
        Request::Signal {
            signal: "HUP".into(),
            names: names.clone(),
        },
        Request::Pid { name: None },
        Request::Pid {
            name: Some("all".into()),
        },
        Request::Tail {
            log: Log::Process {
                name: "web".into(),
                channel: Channel::Stderr,
            },
            back: Back::Lines(100),
            follow: true,
        },
        Request::Tail {
            log: Log::Main,
            back: Back::Bytes(1024),
            follow: false,
        },
        Request::Read {
            log: Log::Main,
            offset: -1600,
            length: 0,
            tail: false,
        },
        Request::Clear {
            names: vec!["all".into()],
        },
        Request::ClearMainLog,
        Request::Stdin {
            name: "repl".into(),
            data: b"print(1)\n".to_vec(),
        },
        Request::Reload,
        Request::Events {
            names: vec!["web".into()],
            follow: true,
        },
        Request::RemoteCommEvent {
            kind: "deploy".into(),
            data: "web 1.2.3".into(),
        },
        Request::Add {
            groups: vec!["web".into()],
        },
        Request::Remove {
            groups: vec!["web".into(), "db".into()],
        },
        Request::Reread,
        Request::Update {
            groups: vec!["backend".into()],
        },
        Request::Avail,
        Request::Shutdown,
        Request::Version,
        Request::WebLink,
        Request::ReloadPolicy,
        Request::Audit {
            lines: 50,
            user: Some("alice".into()),
            follow: false,
        },
    ];
    for (i, request) in requests.into_iter().enumerate() {
        let frame = ClientFrame {
            version: CONTROL_PROTOCOL_VERSION,
            request,
        };
        write(
            t,
            &format!("request-{i:02}"),
            &postcard::to_stdvec(&frame).unwrap(),
        );
    }
    let info = ProcessInfo {
        namespec: "web:web_00".into(),
        name: "web_00".into(),
        group: "web".into(),
        state: ProcessState::Running,
        pid: Some(4242),
        start: 1_790_000_000,
        stop: 0,
        now: 1_790_000_062,
        exitstatus: Some(-9),
        spawnerr: String::new(),
        description: "pid 4242, uptime 0:01:02".into(),
        stdout_logfile: "/var/log/proctor/web_00-stdout---supervisor.log".into(),
        stderr_logfile: String::new(),
        log_bytes_lost: 12,
    };
    let actions = vec![
        ActionResult {
            name: "web".into(),
            code: ActionCode::Success,
            message: "started".into(),
        },
        ActionResult {
            name: "db".into(),
            code: ActionCode::AlreadyStarted,
            message: "ERROR (already started)".into(),
        },
    ];
    let responses = vec![
        Response::Status(vec![
            info.clone(),
            ProcessInfo {
                state: ProcessState::Fatal,
                pid: None,
                ..info
            },
        ]),
        Response::Actions(actions.clone()),
        Response::Pids(vec![("proctord".into(), Some(1)), ("web".into(), None)]),
        Response::TailChunk(b"hello, line 1\nhello, line 2\n".to_vec()),
        Response::TailEnd,
        Response::Reread(ConfigDiff {
            added: vec!["a".into()],
            changed: vec!["b".into()],
            removed: vec![],
        }),
        Response::Avail(vec![AvailInfo {
            name: "web".into(),
            process: "web".into(),
            group: "web".into(),
            in_use: true,
            autostart: true,
            priority: 999,
            group_priority: -5,
            command: "/usr/bin/web --port 80".into(),
            directory: Some("/srv/web".into()),
            user: Some("www".into()),
            exitcodes: vec![0, 2],
            killasgroup: false,
            redirect_stderr: false,
            startretries: 3,
            startsecs: 1,
            stopsignal: 15,
            stopwaitsecs: 10,
            stdout: LogInfo {
                logfile: Some("/var/log/web.log".into()),
                maxbytes: 50 << 20,
                backups: 10,
                syslog: false,
                events_enabled: true,
                capture_maxbytes: 0,
            },
            stderr: LogInfo {
                logfile: None,
                maxbytes: 0,
                backups: 0,
                syslog: true,
                events_enabled: false,
                capture_maxbytes: 1 << 20,
            },
            serverurl: None,
        }]),
        Response::Version("0.1.0".into()),
        Response::WebLink {
            token: "00".repeat(32),
            expires_in: 120,
        },
        Response::Done,
        Response::Error {
            kind: ErrorKind::Busy,
            message: "too many clients".into(),
        },
        Response::Partial {
            skipped: vec!["db".into()],
            response: Box::new(Response::Actions(actions)),
        },
    ];
    for (i, r) in responses.into_iter().enumerate() {
        write(
            t,
            &format!("response-{i:02}"),
            &postcard::to_stdvec(&r).unwrap(),
        );
    }
}

fn order_seeds() {
    let kinds = [
        OrderKind::Spawn {
            generation: Generation(3),
            program: ProgramIndex(1),
            instance: InstanceIndex(0),
        },
        OrderKind::Signal {
            id: ChildId(77),
            signal: AllowedSignal::Term,
            group: true,
        },
        OrderKind::Signal {
            id: ChildId(u64::MAX),
            signal: AllowedSignal::Winch,
            group: false,
        },
        OrderKind::Reload,
        OrderKind::ReadConfig,
        OrderKind::Children,
        OrderKind::Quit,
        OrderKind::AckExit { id: ChildId(5) },
    ];
    for (i, kind) in kinds.into_iter().enumerate() {
        write(
            "order",
            &format!("order-{i}"),
            &Order {
                seq: Seq(1000 + i as u32),
                kind,
            }
            .encode(),
        );
    }
}

fn helper_seeds() {
    let msgs = vec![
        HelperMsg::Hello {
            version: HELPER_PROTOCOL_VERSION,
            generation: Generation(1),
            helper_pid: Pid::from_raw(321),
            root_mode: true,
            first_start: true,
            seal: proctor_wire::seal::AuditSeal::Key {
                epoch: 3,
                key: [7; 32],
            },
        },
        HelperMsg::Config {
            seq: Seq(2),
            generation: Generation(2),
            current: false,
        },
        HelperMsg::Spawned {
            seq: Seq(3),
            id: ChildId(9),
            pid: Pid::from_raw(4242),
            pipes: Pipes {
                stderr: true,
                stdin: true,
            },
        },
        HelperMsg::Signalled { seq: Seq(4) },
        HelperMsg::Refused {
            seq: Seq(5),
            refusal: Refusal::Spawn(SpawnFailure::UnknownUser),
        },
        HelperMsg::Refused {
            seq: Seq(5),
            refusal: Refusal::Spawn(SpawnFailure::CommandNotExecutable),
        },
        HelperMsg::Refused {
            seq: Seq(5),
            refusal: Refusal::Spawn(SpawnFailure::Child {
                step: proctor_wire::refusal::ChildStep::Chdir,
                errno: Errno(13),
            }),
        },
        HelperMsg::Refused {
            seq: Seq(5),
            refusal: Refusal::Config(Diagnostic {
                file: "/etc/proctor/proctor.conf".into(),
                line: 12,
                message: "[program:a] user 'x' does not exist".into(),
            }),
        },
        HelperMsg::Refused {
            seq: Seq(5),
            refusal: Refusal::BadOrder(OrderError::Opcode(99)),
        },
        HelperMsg::Exited {
            id: ChildId(9),
            pid: Pid::from_raw(4242),
            status: ExitStatus::Signal(9),
        },
        HelperMsg::Child {
            seq: Seq(6),
            id: ChildId(10),
            pid: Pid::from_raw(4243),
            program: "web".into(),
            process_num: 1,
            started: 1_790_000_000,
            pipes: Pipes {
                stderr: false,
                stdin: false,
            },
        },
        HelperMsg::ExitedAway {
            seq: Seq(6),
            program: "worker".into(),
            process_num: 0,
            status: ExitStatus::Code(3),
            pipes: Pipes {
                stderr: true,
                stdin: false,
            },
        },
        HelperMsg::ChildrenEnd { seq: Seq(6) },
        HelperMsg::ReloadPolicy,
        HelperMsg::ReopenLogs,
        HelperMsg::ShutdownRequested,
    ];
    for (i, m) in msgs.into_iter().enumerate() {
        write(
            "helper_msg",
            &format!("msg-{i:02}"),
            &postcard::to_stdvec(&m).unwrap(),
        );
    }
}

/// A log as controld writes it: a request record before each action, an outcome after.
fn audit_log(first_seq: u64, rotated_from: Option<&str>, n: u64) -> String {
    let mut out = String::new();
    let mut prev = rotated_from.unwrap_or(GENESIS).to_owned();
    for k in 0..n {
        let seq = first_seq + k;
        let outcome = k % 2 == 1;
        let r = Record {
            time: format!(
                "2026-11-24T10:{:02}:{:02}.{:06}Z",
                k / 60,
                k % 60,
                123_456 + k
            ),
            seq,
            kind: if k == 0 && rotated_from.is_some() {
                "rotated".into()
            } else if outcome {
                "outcome".into()
            } else {
                "request".into()
            },
            uid: 1000,
            user: "alice".into(),
            pid: Some(4242),
            action: "restart".into(),
            targets: vec!["backend:worker_0".into(), "backend:worker_1".into()],
            decision: if k % 4 == 2 {
                "deny".into()
            } else {
                "allow".into()
            },
            rule: if k % 4 == 2 {
                "default deny".into()
            } else {
                "/etc/proctor/policy.toml:22".into()
            },
            outcome: outcome.then(|| "ok".into()),
            request: outcome.then_some(seq - 1),
            ..Record::default()
        };
        let line = r.chained(&mut prev).unwrap();
        out.push_str(&line);
        out.push('\n');
    }
    out
}

fn audit_seeds() {
    let t = "audit_verify";
    write(t, "log-6", audit_log(1, None, 6).as_bytes());
    let first = audit_log(1, None, 4);
    let last = hash(first.lines().last().unwrap());
    write(t, "rotated-4", audit_log(5, Some(&last), 4).as_bytes());
    write(t, "log-1", audit_log(1, None, 1).as_bytes());
    let good = audit_log(1, None, 3);
    write(t, "edited", good.replacen("alice", "mallory", 1).as_bytes());
    write(t, "truncated", &good.as_bytes()[..good.len() - 7]);
}

/// Calls as stock clients send them (Python's xmlrpc.client layout), and every value type.
fn xmlrpc_seeds() {
    let call = |method: &str, params: &str| {
        format!(
            "<?xml version='1.0'?>\n<methodCall>\n<methodName>{method}</methodName>\n<params>\n{params}</params>\n</methodCall>\n"
        )
    };
    let param = |v: &str| format!("<param>\n<value>{v}</value>\n</param>\n");
    write(
        "xmlrpc",
        "get_all_process_info.xml",
        call("supervisor.getAllProcessInfo", "").as_bytes(),
    );
    write(
        "xmlrpc",
        "multicall.xml",
        call(
            "system.multicall",
            &param(
                "<array><data>\n<value><struct>\n<member>\n<name>methodName</name>\n\
                 <value><string>supervisor.startProcess</string></value>\n</member>\n\
                 <member>\n<name>params</name>\n<value><array><data>\n\
                 <value><string>web &amp; co</string></value>\n\
                 <value><boolean>1</boolean></value>\n</data></array></value>\n\
                 </member>\n</struct></value>\n</data></array>",
            ),
        )
        .as_bytes(),
    );
    let types: String = [
        "<i4>-5</i4>",
        "<int>7</int>",
        "<i8>4294967296</i8>",
        "<double>1.5</double>",
        "<base64>AAE=</base64>",
        "<dateTime.iso8601>20261205T10:00:00</dateTime.iso8601>",
        "untyped &#x41;<![CDATA[<x>]]>",
        "<string>line\n</string>",
        "<nil/>",
        "<struct></struct>",
    ]
    .iter()
    .map(|v| param(v))
    .collect();
    write("xmlrpc", "types.xml", call("t.types", &types).as_bytes());
}

/// What listeners write, as the `listener` target reads it: writes separated by 0xFF, an empty
/// one for "an event was sent".
fn listener_seeds() {
    let seeds: [(&str, &[&[u8]]); 5] = [
        ("ok-loop", &[b"READY\n", b"", b"RESULT 2\nOKREADY\n", b"", b"RESULT 2\nOK"]),
        ("fail-loop", &[b"READY\n", b"", b"RESULT 4\nFAIL", b"READY\n", b"", b"RESULT 4\nFAIL"]),
        ("split", &[b"REA", b"DY\n", b"", b"RES", b"ULT 2", b"\nO", b"K"]),
        ("bad-line", &[b"READY\n", b"", b"RESULT x\n"]),
        ("underscores", &[b"READY\n", b"", b"XXXXXXX1_0 \n0123456789READY\n"]),
    ];
    for (name, writes) in seeds {
        write("listener", name, &writes.join(&0xff));
    }
}

/// Output read in capture mode, as the `capture` target reads it: capture_maxbytes, then
/// writes separated by 0xFF.
fn capture_seeds() {
    let seeds: [(&str, u8, &[&[u8]]); 3] = [
        (
            "one",
            100,
            &[b"before <!--XSUPERVISOR:BEGIN-->hello<!--XSUPERVISOR:END--> after\n"],
        ),
        (
            "split",
            100,
            &[b"a <!--XSUPER", b"VISOR:BEGIN-->in", b"side<!--XSUPERVISOR:E", b"ND-->out\n"],
        ),
        (
            "bounded",
            8,
            &[b"<!--XSUPERVISOR:BEGIN-->", b"abcdefghijklmnopqrstuvwxyz0123", b"<!--XSUPERVISOR:END-->"],
        ),
    ];
    for (name, maxbytes, writes) in seeds {
        let mut input = vec![maxbytes];
        input.extend(writes.join(&0xff));
        write("capture", name, &input);
    }
}

fn main() {
    listener_seeds();
    capture_seeds();
    xmlrpc_seeds();
    config_seeds();
    policy_seeds();
    control_seeds();
    order_seeds();
    helper_seeds();
    audit_seeds();
    for t in [
        "config",
        "policy",
        "control",
        "order",
        "helper_msg",
        "audit_verify",
        "xmlrpc",
        "listener",
        "capture",
    ] {
        println!(
            "{t}: {} seeds",
            std::fs::read_dir(corpus(t)).unwrap().count()
        );
    }
}
