//! The same config files through Supervisor 4.3's own loader and proctor's: each accepts or
//! refuses alike, with the same processes and the same commands (as Supervisor splits them at
//! spawn), or the case says why proctor differs on purpose.
//!
//! Supervisor runs from a virtualenv with `supervisor==4.3.0` (PyPI): `.ci/run` makes one and
//! sets `PROCTOR_SUPERVISOR_PYTHON` to its python. Without it this test prints `SKIP:`.
#![allow(clippy::unwrap_used, clippy::panic, clippy::expect_used)]
#![forbid(unsafe_code)]

use proctor_config::LoadContext;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;

/// What a loader made of a file: None when refused, else (group:name, argv, settings) per
/// process, the settings as the probe names them.
type Outcome = Option<Vec<(String, Vec<String>, Value)>>;

struct Case {
    name: &'static str,
    /// (file name, text); the first one is loaded. `[supervisord]` is added to it, as
    /// Supervisor requires that section.
    files: &'static [(&'static str, &'static str)],
    /// None: proctor must do what Supervisor does. Some(why): it differs on purpose.
    differs: Option<&'static str>,
}

const fn same(name: &'static str, files: &'static [(&'static str, &'static str)]) -> Case {
    Case {
        name,
        files,
        differs: None,
    }
}

const CASES: &[Case] = &[
    same(
        "[inet_http_server] with Supervisor's keys, a {SHA} password, and a port without a host",
        &[(
            "main.conf",
            "[inet_http_server]\nport=9001\nusername=ops\n\
             password={SHA}e5e9fa1ba31ecd1ae84f75caaa474f3a663f05f4\n\
             [program:a]\ncommand=/bin/true\n",
        )],
    ),
    same(
        "an fcgi-program: its processes named as a program's, in a group",
        &[(
            "main.conf",
            "[fcgi-program:web]\ncommand=/bin/cat\nsocket=tcp://127.0.0.1:9002\nnumprocs=2\n\
             process_name=%(program_name)s_%(process_num)s\nsocket_backlog=64\n\
             [fcgi-program:app]\ncommand=/bin/cat\nsocket=unix:///tmp/proctest-app.sock\n\
             socket_mode=0770\n[group:g]\nprograms=app\n",
        )],
    ),
    same(
        "an fcgi-program without socket=",
        &[("main.conf", "[fcgi-program:web]\ncommand=/bin/cat\n")],
    ),
    same(
        "an fcgi-program with a socket that is not a URL",
        &[("main.conf", "[fcgi-program:web]\ncommand=/bin/cat\nsocket=localhost:80\n")],
    ),
    same(
        "an event listener pool: Supervisor's priority, its processes named as a program's",
        &[(
            "main.conf",
            "[program:a]\ncommand=/bin/true\n[eventlistener:mon]\ncommand=/bin/cat -u\n\
             events=process_state,TICK_60\nnumprocs=2\nprocess_name=%(program_name)s_%(process_num)s\n\
             buffer_size=3\nresult_handler=supervisor.dispatchers:default_handler\n",
        )],
    ),
    same(
        "an event listener pool needs events=",
        &[("main.conf", "[eventlistener:mon]\ncommand=/bin/cat\n")],
    ),
    same(
        "an event listener pool's events= must be event types",
        &[(
            "main.conf",
            "[eventlistener:mon]\ncommand=/bin/cat\nevents=PROCESS_STATE,NO_SUCH_EVENT\n",
        )],
    ),
    same(
        "an event listener may not redirect its stderr",
        &[(
            "main.conf",
            "[eventlistener:mon]\ncommand=/bin/cat\nevents=EVENT\nredirect_stderr=true\n",
        )],
    ),
    same(
        "an event listener pool needs a buffer",
        &[(
            "main.conf",
            "[eventlistener:mon]\ncommand=/bin/cat\nevents=EVENT\nbuffer_size=0\n",
        )],
    ),
    same(
        "a group cannot list an event listener pool",
        &[(
            "main.conf",
            "[eventlistener:mon]\ncommand=/bin/cat\nevents=EVENT\n[group:g]\nprograms=mon\n",
        )],
    ),
    same(
        "a key given twice: the last wins",
        &[("main.conf", "[program:a]\ncommand=/bin/true\ncommand=/bin/false\n")],
    ),
    same(
        "a section given twice in one file is merged",
        &[(
            "main.conf",
            "[program:a]\ncommand=/bin/true\n[program:b]\ncommand=/bin/sleep 1\n[program:a]\ncommand=/bin/false\n",
        )],
    ),
    same(
        "a section repeated in an included file is merged",
        &[
            (
                "main.conf",
                "[program:a]\ncommand=/bin/true\n[include]\nfiles=conf.d/*.conf\n",
            ),
            ("conf.d/x.conf", "[program:a]\ncommand=/bin/false\n[program:c]\ncommand=/bin/true\n"),
        ],
    ),
    same(
        "an included file's key wins, wherever [include] stands in the main file",
        &[
            (
                "main.conf",
                "[include]\nfiles=extra.conf\n[program:x]\ncommand=/bin/main-cmd\nstartsecs=7\n",
            ),
            ("extra.conf", "[program:x]\ncommand=/bin/inc-cmd\n"),
        ],
    ),
    same(
        "[DEFAULT] gives every section its keys",
        &[(
            "main.conf",
            "[DEFAULT]\nautorestart=false\nstopsignal=KILL\n[program:a]\ncommand=/bin/true\n\
             [program:b]\ncommand=/bin/true\nstopsignal=INT\n",
        )],
    ),
    same(
        "umask and directory are Supervisor's only when it daemonizes",
        &[(
            "main.conf",
            "[supervisord]\nnodaemon=true\numask=077\ndirectory=/tmp\n[program:a]\ncommand=/bin/true\n",
        )],
    ),
    same(
        "an include glob does not match a leading dot",
        &[
            ("main.conf", "[include]\nfiles=conf.d/*.conf\n"),
            ("conf.d/.#a.conf", "[program:hidden]\ncommand=/bin/true\n"),
            ("conf.d/b.conf", "[program:b]\ncommand=/bin/true\n"),
        ],
    ),
    same(
        "a lone carriage return ends a line",
        &[("main.conf", "[program:a]\rcommand=/bin/true\r")],
    ),
    same(
        "an include that matches nothing",
        &[(
            "main.conf",
            "[program:a]\ncommand=/bin/true\n[include]\nfiles=conf.d/*.conf\n",
        )],
    ),
    same(
        "inline comments after whitespace, with ; and #",
        &[(
            "main.conf",
            "[program:a]\ncommand=/bin/sleep 10\t# sleep\nnumprocs=1 ; one\n[program:b]\ncommand=/bin/echo a#b;c x ;c #d\n",
        )],
    ),
    same(
        "Python's comment search: 'a;b ;c #d' keeps 'a;b ;c'",
        &[("main.conf", "[program:a]\ncommand=/bin/echo a;b ;c #d\n")],
    ),
    same(
        "a comment mark without whitespace before it is text, and refuses a number",
        &[("main.conf", "[program:a]\ncommand=/bin/true\nnumprocs=1;x\n")],
    ),
    same(
        "continuation lines, with a blank line and a comment line inside",
        &[(
            "main.conf",
            "[program:a]\ncommand=/bin/echo one\n  two ; c\n\n  # comment\n\tthree\n",
        )],
    ),
    same(
        "keys are case-insensitive, section names are not",
        &[("main.conf", "[program:a]\nCOMMAND=/bin/true\n[Program:b]\ncommand=/bin/true\n")],
    ),
    same(
        "stopsignal by name, with SIG, and by number",
        &[(
            "main.conf",
            "[program:a]\ncommand=/bin/true\nstopsignal=WINCH\n[program:b]\ncommand=/bin/true\nstopsignal=sigusr1\n[program:c]\ncommand=/bin/true\nstopsignal=15\n",
        )],
    ),
    same(
        "booleans, byte sizes, octal modes and exit codes as Supervisor writes them",
        &[(
            "main.conf",
            "[supervisord]\numask=0o27\ndirectory=/tmp\n\
             [program:a]\ncommand=/bin/true\nautostart=No\nautorestart=TRUE\nstopasgroup=on\n\
             redirect_stderr=1\nstdout_logfile_maxbytes=1 MB\nstdout_logfile_backups=0\n\
             exitcodes=2,0\numask=002\npriority=-5\nstartsecs=0\nstopwaitsecs=3\n\
             [program:b]\ncommand=/bin/true\nautorestart=false\nkillasgroup=yes\n\
             stdout_logfile_maxbytes=2kb\ndirectory=/\n",
        )],
    ),
    same(
        "a boolean Supervisor does not know is refused",
        &[("main.conf", "[program:a]\ncommand=/bin/true\nautostart=y\n")],
    ),
    same(
        "a fractional byte size is refused",
        &[("main.conf", "[program:a]\ncommand=/bin/true\nstdout_logfile_maxbytes=1.5MB\n")],
    ),
    same(
        "numprocs with process_name",
        &[(
            "main.conf",
            "[program:w]\ncommand=/bin/sleep %(process_num)d\nnumprocs=3\nprocess_name=%(program_name)s_%(process_num)02d\n",
        )],
    ),
    same(
        "an empty command is accepted (it fails at each start)",
        &[("main.conf", "[program:a]\ncommand=\n[program:b]\ncommand = ; nothing\n")],
    ),
    same(
        "a program without command= is refused",
        &[("main.conf", "[program:a]\nautostart=true\n")],
    ),
    same(
        "a key outside any section",
        &[("main.conf", "command=/bin/true\n")],
    ),
    same(
        "a line that is not key = value",
        &[("main.conf", "[program:a]\ncommand=/bin/true\nautostart\n")],
    ),
    Case {
        name: "a malformed section header",
        files: &[("main.conf", "[program:a]\ncommand=/bin/true\n[program:b\ncommand=/bin/false\n")],
        differs: Some(
            "Supervisor reads '[program:b' as a key of [program:a] and ignores it, so program b \
             silently does not exist and a's command becomes /bin/false; proctor refuses the line",
        ),
    },
    Case {
        name: "a stop signal proctord does not send",
        files: &[("main.conf", "[program:a]\ncommand=/bin/true\nstopsignal=SEGV\n")],
        differs: Some(
            "proctord sends only allow-listed signals (no core dumps on request, no real-time \
             signals); the config is refused rather than the first stop failing",
        ),
    },
];

fn supervisor_python() -> Option<PathBuf> {
    std::env::var_os("PROCTOR_SUPERVISOR_PYTHON").map(PathBuf::from)
}

fn supervisor(python: &Path, main: &Path) -> (Outcome, Value) {
    let probe = Path::new(env!("CARGO_MANIFEST_DIR")).join("compat/supervisor_probe.py");
    let out = Command::new(python).arg(probe).arg(main).output().unwrap();
    assert!(
        out.status.success(),
        "the probe failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    if v["accepted"] != Value::Bool(true) {
        return (None, v);
    }
    let mut processes: Vec<(String, Vec<String>, Value)> = v["processes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            let argv = p[1]
                .as_array()
                .map(|a| a.iter().map(|s| s.as_str().unwrap().to_owned()).collect())
                .unwrap_or_default();
            (p[0].as_str().unwrap().to_owned(), argv, p[2].clone())
        })
        .collect();
    processes.sort_by(|a, b| a.0.cmp(&b.0));
    (Some(processes), v)
}

/// A proctor process's settings, named as the probe names Supervisor's.
fn settings(p: &proctor_config::ProgramConfig, pr: &proctor_config::ProcessConfig) -> Value {
    use proctor_config::AutoRestart;
    let mut exitcodes = p.exitcodes.clone();
    exitcodes.sort_unstable();
    serde_json::json!({
        "autostart": p.autostart,
        "autorestart": match p.autorestart {
            AutoRestart::Always => "RestartUnconditionally",
            AutoRestart::Unexpected => "RestartWhenExitUnexpected",
            AutoRestart::Never => "false",
        },
        "startsecs": p.startsecs,
        "startretries": p.startretries,
        "exitcodes": exitcodes,
        "stopsignal": p.stopsignal.number,
        "stopwaitsecs": p.stopwaitsecs,
        "stopasgroup": p.stopasgroup,
        "killasgroup": p.killasgroup,
        "priority": p.priority,
        "umask": p.umask,
        "directory": pr.directory.as_ref().map(|d| d.display().to_string()),
        "stdout_maxbytes": pr.stdout.maxbytes,
        "stdout_backups": pr.stdout.backups,
        "redirect_stderr": p.redirect_stderr,
    })
}

fn proctor(main: &Path) -> (Outcome, String) {
    // User mode: these inputs have no user=, which root mode would require (a proctor rule with
    // its own test).
    let ctx = LoadContext {
        uid: nix::unistd::User::from_name("nobody")
            .unwrap()
            .unwrap()
            .uid
            .as_raw(),
        trusted_owner: None,
        ..LoadContext::current()
    };
    match proctor_config::load(main, &ctx) {
        Err(e) => (None, e.to_string()),
        Ok(loaded) => {
            let mut processes: Vec<(String, Vec<String>, Value)> = loaded
                .config
                .programs
                .iter()
                .flat_map(|p| {
                    p.processes.iter().map(move |pr| {
                        let name = format!("{}:{}", p.group, pr.name);
                        (name, pr.argv.clone(), settings(p, pr))
                    })
                })
                .collect();
            processes.sort_by(|a, b| a.0.cmp(&b.0));
            let warnings: Vec<String> = loaded.warnings.iter().map(|w| w.to_string()).collect();
            (Some(processes), warnings.join("\n"))
        }
    }
}

#[test]
fn supervisor_and_proctor_read_the_same_files_alike() {
    let Some(python) = supervisor_python() else {
        println!(
            "SKIP: supervisor_compat: set PROCTOR_SUPERVISOR_PYTHON to a python with \
             supervisor==4.3.0 (.ci/run does)"
        );
        return;
    };
    let mut failures = Vec::new();
    for case in CASES {
        let dir = tempfile::tempdir().unwrap();
        for (i, (name, text)) in case.files.iter().enumerate() {
            let path = dir.path().join(name);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            let text = if i == 0 {
                format!("[supervisord]\n{text}")
            } else {
                text.to_string()
            };
            std::fs::write(path, text).unwrap();
        }
        let main = dir.path().join(case.files[0].0);
        let (theirs, raw) = supervisor(&python, &main);
        let (ours, said) = proctor(&main);
        match case.differs {
            None if theirs != ours => failures.push(format!(
                "{}:\n  Supervisor: {theirs:?} ({})\n  proctor:    {ours:?} ({said})",
                case.name, raw["error"]
            )),
            // A deliberate difference must still be one: if both agree, the case is stale.
            Some(why) if theirs == ours => failures.push(format!(
                "{}: documented as different ({why}), but both give {ours:?}",
                case.name
            )),
            _ => {}
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
