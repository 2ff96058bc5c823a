//! Configs that load, and what they load into.
#![allow(clippy::unwrap_used)]
#![forbid(unsafe_code)]

mod common;

use common::{root_ctx, user_ctx, Files};
use proctor_config::*;
use std::path::{Path, PathBuf};

fn kv(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

fn strings(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| (*s).to_owned()).collect()
}

const FULL: &str = r#"; A config that sets every key proctor reads.
[unix_http_server]
file = %(here)s/run/proctor.sock   ; the socket
chmod = 0770

[supervisord]
logfile = logs/proctord.log
childlogdir = /var/log/children
identifier = prod
environment = LANG="C.UTF-8",TZ=UTC
loglevel = blather
umask = 027
directory = /srv
pidfile = run/proctord.pid
minfds = 4096
minprocs = 100
nodaemon = false
silent = false

[proctor]
policy = policy.toml
audit_log = /var/log/proctor/audit.log
audit_syslog = yes
audit_log_min_age = 7d
controld_user = ctl
helper_user = helper

[program:web]
command = /usr/bin/web --port %(ENV_PORT)s
    --name "%(program_name)s %(process_num)d of %(numprocs)d in %(group_name)s"
process_name = %(program_name)s_%(process_num)02d
numprocs = 2
numprocs_start = 1
priority = 10
autostart = false
autorestart = true
startsecs = 5
startretries = 7
exitcodes = 0,2
stopsignal = INT
stopwaitsecs = 30
stopasgroup = true
killasgroup = false
user = nobody
directory = /srv/%(program_name)s
umask = 022
environment = TZ=Europe/Paris,WORKER=%(process_num)d
redirect_stderr = false
stdout_logfile = logs/%(process_num)s.out
stdout_logfile_maxbytes = 1MB
stdout_logfile_backups = 3
stdout_syslog = true
stderr_logfile = NONE
stderr_logfile_maxbytes = 2KB
stderr_logfile_backups = 0
stderr_syslog = on
capabilities = net_bind_service

[group:front]
programs = web
priority = 5
"#;

#[test]
fn full_config_round_trip() {
    let files = Files::new(&[("etc/supervisord.conf", FULL)]);
    let loaded = files.load("etc/supervisord.conf", &user_ctx()).unwrap();
    assert_eq!(loaded.warnings, vec![]);
    let etc = files.path("etc");
    let process = |num: u32| ProcessConfig {
        name: format!("web_0{num}"),
        process_num: num,
        command: format!("/usr/bin/web --port 8080\n--name \"web {num} of 2 in front\""),
        argv: vec![
            "/usr/bin/web".into(),
            "--port".into(),
            "8080".into(),
            "--name".into(),
            format!("web {num} of 2 in front"),
        ],
        environment: kv(&[
            ("LANG", "C.UTF-8"),
            ("TZ", "Europe/Paris"),
            ("WORKER", &num.to_string()),
        ]),
        directory: Some(PathBuf::from("/srv/web")),
        stdout: LogConfig {
            target: LogTarget::File(etc.join(format!("logs/{num}.out"))),
            maxbytes: 1 << 20,
            backups: 3,
            syslog: true,
            events_enabled: false,
            capture_maxbytes: 0,
        },
        stderr: LogConfig {
            target: LogTarget::Discard,
            maxbytes: 2048,
            backups: 0,
            syslog: true,
            events_enabled: false,
            capture_maxbytes: 0,
        },
    };
    let expected = Config {
        source: etc.join("supervisord.conf"),
        inet: None,
        server: Some(ServerConfig {
            file: etc.join("run/proctor.sock"),
            chmod: 0o770,
        }),
        daemon: DaemonConfig {
            logfile: Some(etc.join("logs/proctord.log")),
            childlogdir: PathBuf::from("/var/log/children"),
            identifier: "prod".into(),
            environment: kv(&[("LANG", "C.UTF-8"), ("TZ", "UTC")]),
            loglevel: Some("trace".into()),
            umask: Some(0o027),
            directory: Some(PathBuf::from("/srv")),
            pidfile: Some(etc.join("run/proctord.pid")),
            minfds: 4096,
            minprocs: 100,
        },
        proctor: ProctorConfig {
            policy: Some(etc.join("policy.toml")),
            audit_log: Some(PathBuf::from("/var/log/proctor/audit.log")),
            audit_log_maxbytes: 50 << 20,
            audit_log_backups: 10,
            audit_log_min_age: 7 * 86400,
            audit_syslog: true,
            audit_seal: None,
            controld_user: "ctl".into(),
            helper_user: "helper".into(),
            default_user: None,
        },
        programs: vec![std::sync::Arc::new(ProgramConfig {
            name: "web".into(),
            group: "front".into(),
            origin: Origin::default(),
            numprocs: 2,
            numprocs_start: 1,
            priority: 10,
            autostart: false,
            autorestart: AutoRestart::Always,
            startsecs: 5,
            startretries: 7,
            exitcodes: vec![0, 2],
            stopsignal: SignalSpec { number: 2 },
            stopwaitsecs: 30,
            stopasgroup: true,
            killasgroup: true,
            user: Some("nobody".into()),
            umask: Some(0o22),
            redirect_stderr: false,
            serverurl: None,
            capabilities: vec![Capability::NetBindService],
            listener: None,
            sockets: Vec::new(),
            fcgi: false,
            processes: vec![process(1), process(2)],
        })],
        groups: vec![GroupConfig {
            name: "front".into(),
            priority: 5,
            programs: vec![0],
            explicit: true,
        }],
    };
    assert_eq!(loaded.config, expected);
    let origin = &loaded.config.programs[0].origin;
    assert_eq!(
        (origin.file.clone(), origin.line),
        (etc.join("supervisord.conf"), 28)
    );
}

#[test]
fn defaults_of_every_key() {
    let files = Files::new(&[("main.conf", "[program:cat]\ncommand = /bin/cat\n")]);
    let config = files.load("main.conf", &user_ctx()).unwrap().config;
    let logdir = Path::new("/home/tester/.local/state/proctor/log");
    let expected = Config {
        source: files.path("main.conf"),
        server: None,
        inet: None,
        daemon: DaemonConfig {
            logfile: None,
            childlogdir: logdir.to_path_buf(),
            identifier: "supervisor".into(),
            environment: vec![],
            loglevel: None,
            umask: Some(0o022),
            directory: None,
            pidfile: None,
            minfds: 1024,
            minprocs: 200,
        },
        proctor: ProctorConfig {
            policy: None,
            audit_log: None,
            audit_log_maxbytes: 50 << 20,
            audit_log_backups: 10,
            audit_log_min_age: 86400,
            audit_syslog: false,
            audit_seal: None,
            controld_user: "proctor".into(),
            helper_user: "proctor-helper".into(),
            default_user: None,
        },
        programs: vec![std::sync::Arc::new(ProgramConfig {
            name: "cat".into(),
            group: "cat".into(),
            origin: Origin::default(),
            numprocs: 1,
            numprocs_start: 0,
            priority: 999,
            autostart: true,
            autorestart: AutoRestart::Unexpected,
            startsecs: 1,
            startretries: 3,
            exitcodes: vec![0],
            stopsignal: SignalSpec { number: 15 },
            stopwaitsecs: 10,
            stopasgroup: false,
            killasgroup: false,
            user: None,
            // Supervisor's: [supervisord] umask, default 022.
            umask: Some(0o022),
            redirect_stderr: false,
            serverurl: None,
            capabilities: vec![],
            listener: None,
            sockets: Vec::new(),
            fcgi: false,
            processes: vec![ProcessConfig {
                name: "cat".into(),
                process_num: 0,
                command: "/bin/cat".into(),
                argv: strings(&["/bin/cat"]),
                environment: vec![],
                directory: None,
                stdout: LogConfig {
                    target: LogTarget::File(logdir.join("cat-stdout---supervisor.log")),
                    maxbytes: 50 * 1024 * 1024,
                    backups: 10,
                    syslog: false,
                    events_enabled: false,
                    capture_maxbytes: 0,
                },
                stderr: LogConfig {
                    target: LogTarget::File(logdir.join("cat-stderr---supervisor.log")),
                    maxbytes: 50 * 1024 * 1024,
                    backups: 10,
                    syslog: false,
                    events_enabled: false,
                    capture_maxbytes: 0,
                },
            }],
        })],
        groups: vec![GroupConfig {
            name: "cat".into(),
            priority: 999,
            programs: vec![0],
            explicit: false,
        }],
    };
    assert_eq!(config, expected);
}

#[test]
fn default_childlogdir() {
    let files = Files::new(&[(
        "main.conf",
        "[program:cat]\ncommand = /bin/cat\nuser = nobody\n",
    )]);
    let dir = |ctx: &LoadContext| {
        files
            .load("main.conf", ctx)
            .unwrap()
            .config
            .daemon
            .childlogdir
    };
    assert_eq!(dir(&root_ctx()), PathBuf::from("/var/log/proctor"));
    let mut ctx = user_ctx();
    ctx.env.push(("XDG_STATE_HOME".into(), "/state".into()));
    assert_eq!(dir(&ctx), PathBuf::from("/state/proctor/log"));
    ctx.env.clear();
    assert_eq!(
        dir(&ctx),
        PathBuf::from(format!("/tmp/proctor-{}/log", ctx.uid))
    );
}

#[test]
fn numprocs_expansions_and_auto_logs() {
    let files = Files::new(&[(
        "main.conf",
        "[supervisord]\nchildlogdir = %(here)s/log\n\
         [program:w]\ncommand = /bin/worker --id %(process_num)d/%(numprocs)d\n\
         process_name = %(program_name)s_%(process_num)02d\nnumprocs = 3\n",
    )]);
    let config = files.load("main.conf", &user_ctx()).unwrap().config;
    let p = &config.programs[0];
    let names: Vec<_> = p.processes.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["w_00", "w_01", "w_02"]);
    assert_eq!(
        p.processes[2].argv,
        strings(&["/bin/worker", "--id", "2/3"])
    );
    assert_eq!(
        p.processes[1].stdout.target,
        LogTarget::File(files.path("log/w_01-stdout---supervisor.log"))
    );
    assert_eq!(
        p.processes[1].stderr.target,
        LogTarget::File(files.path("log/w_01-stderr---supervisor.log"))
    );
}

#[test]
fn includes_are_relative_to_the_including_file() {
    let files = Files::new(&[
        (
            "etc/main.conf",
            "[program:first]\ncommand = /bin/true\n\
             [include]\nfiles = conf.d/*.conf %(here)s/extra/one.ini\n\
             [program:last]\ncommand = /bin/true\n",
        ),
        (
            "etc/conf.d/b.conf",
            "[program:b]\ncommand = %(here)s/run-b\n",
        ),
        (
            "etc/conf.d/a.conf",
            "[program:a]\ncommand = /bin/a\n[include]\nfiles = *.x\n",
        ),
        (
            "etc/conf.d/ignored.ini",
            "[program:ignored]\ncommand = /bin/true\n",
        ),
        (
            "etc/extra/one.ini",
            "[group:g]\nprograms = b, a\npriority = 1\n",
        ),
    ]);
    let loaded = files.load("etc/main.conf", &user_ctx()).unwrap();
    let names: Vec<_> = loaded
        .config
        .programs
        .iter()
        .map(|p| p.name.as_str())
        .collect();
    assert_eq!(names, ["first", "a", "b", "last"]);
    let b = loaded.config.program("b").unwrap().1;
    assert_eq!(
        b.processes[0].argv[0],
        format!("{}/etc/conf.d/run-b", files.dir())
    );
    assert_eq!(b.group, "g");
    assert_eq!(b.origin.file, files.path("etc/conf.d/b.conf"));
    assert_eq!(b.origin.line, 1);
    let g = loaded.config.group("g").unwrap();
    assert_eq!(g.programs, vec![2, 1]);
    let warnings: Vec<_> = loaded
        .warnings
        .iter()
        .map(|w| files.hide(&w.to_string()))
        .collect();
    assert_eq!(
        warnings,
        ["DIR/etc/conf.d/a.conf:3: [include] in an included file is ignored (includes do not nest)"]
    );
}

#[test]
fn here_env_and_host_expansions() {
    let files = Files::new(&[(
        "main.conf",
        "[program:a]\ncommand = %(here)s/bin/a --level=%(ENV_LEVEL)s --host %(host_node_name)s\n\
         directory = %(ENV_HOME)s/app\nstdout_logfile = /var/log/%(host_node_name)s-%(program_name)s.log\n\
         environment = HOME_DIR=\"%(ENV_HOME)s\",PCT=100%%\n",
    )]);
    let config = files.load("main.conf", &user_ctx()).unwrap().config;
    let p = &config.programs[0].processes[0];
    assert_eq!(
        p.argv,
        vec![
            format!("{}/bin/a", files.dir()),
            "--level=debug".into(),
            "--host".into(),
            "testhost".into()
        ]
    );
    assert_eq!(p.directory, Some(PathBuf::from("/home/tester/app")));
    assert_eq!(
        p.stdout.target,
        LogTarget::File("/var/log/testhost-a.log".into())
    );
    assert_eq!(
        p.environment,
        kv(&[("HOME_DIR", "/home/tester"), ("PCT", "100%")])
    );
}

#[test]
fn inline_comments_and_continuation_lines() {
    let files = Files::new(&[(
        "main.conf",
        "# full-line comment\n   ; indented comment\n[program:c]\n\
         command = /bin/echo a;b #not-a-comment ; a comment\n\
         \t--flag   ; another comment\n\
         \n\
         ; a comment inside the value\n\
         \x20 \"x y\"\n\
         environment = A=\"x;y\",\n   B=2\n\
         autostart: false ; colon works too\n",
    )]);
    let config = files.load("main.conf", &user_ctx()).unwrap().config;
    let p = &config.programs[0];
    // ` #` starts a comment too, as in Supervisor 4.3 on Python 3 (inline_comment_prefixes).
    assert_eq!(
        p.processes[0].argv,
        strings(&["/bin/echo", "a;b", "--flag", "x y"])
    );
    assert_eq!(p.processes[0].environment, kv(&[("A", "x;y"), ("B", "2")]));
    assert!(!p.autostart);
}

#[test]
fn inline_comment_truncates_inside_quotes() {
    // Supervisor's documented behaviour: " ;" starts a comment even inside quotes.
    let files = Files::new(&[(
        "main.conf",
        "[program:c]\ncommand = /bin/sh -c \"echo a ; echo b\"\n",
    )]);
    assert_eq!(
        files.load("main.conf", &user_ctx()).unwrap_err(),
        "DIR/main.conf:2: [program:c] command has unbalanced quotes"
    );
}

#[test]
fn groups_and_priorities() {
    let files = Files::new(&[(
        "main.conf",
        "[program:a]\ncommand = /bin/true\npriority = 50\n\
         [program:b]\ncommand = /bin/true\npriority = 1\n\
         [program:c]\ncommand = /bin/true\n\
         [program:d]\ncommand = /bin/true\n\
         [program:z]\ncommand = /bin/true\n\
         [program:y]\ncommand = /bin/true\npriority = -3\n\
         [group:g]\nprograms = c,a\npriority = 20\n\
         [group:h]\nprograms = d,\n",
    )]);
    let config = files.load("main.conf", &user_ctx()).unwrap().config;
    let groups: Vec<_> = config
        .groups
        .iter()
        .map(|g| (g.name.as_str(), g.priority, g.programs.clone(), g.explicit))
        .collect();
    assert_eq!(
        groups,
        vec![
            ("y", -3, vec![5], false),
            ("b", 1, vec![1], false),
            ("g", 20, vec![2, 0], true),
            ("h", 999, vec![3], true),
            ("z", 999, vec![4], false),
        ]
    );
    let membership: Vec<_> = config.programs.iter().map(|p| p.group.as_str()).collect();
    assert_eq!(membership, ["g", "b", "g", "h", "z", "y"]);
    assert_eq!(Config::namespec("g", "a"), "g:a");
}

#[test]
fn group_named_like_a_grouped_program() {
    let files = Files::new(&[(
        "main.conf",
        "[program:web]\ncommand = /bin/true\n[program:api]\ncommand = /bin/true\n\
         [group:api]\nprograms = web\n[group:all]\nprograms = api\n",
    )]);
    let config = files.load("main.conf", &user_ctx()).unwrap().config;
    assert_eq!(config.programs[0].group, "api");
    assert_eq!(config.programs[1].group, "all");
    assert_eq!(config.groups.len(), 2);
}

#[test]
fn redirect_stderr_merges() {
    let files = Files::new(&[(
        "main.conf",
        "[program:a]\ncommand = /bin/true\nredirect_stderr = true\nstderr_logfile = /x.log\n\
         stdout_logfile = /x.log\n",
    )]);
    let loaded = files.load("main.conf", &user_ctx()).unwrap();
    let p = &loaded.config.programs[0];
    assert!(p.redirect_stderr);
    assert_eq!(p.processes[0].stderr.target, LogTarget::Merged);
    assert_eq!(
        p.processes[0].stdout.target,
        LogTarget::File("/x.log".into())
    );
    let warnings: Vec<_> = loaded
        .warnings
        .iter()
        .map(|w| files.hide(&w.to_string()))
        .collect();
    assert_eq!(
        warnings,
        ["DIR/main.conf:4: [program:a] stderr_logfile is ignored because redirect_stderr=true"]
    );
}

#[test]
fn signals_and_stopasgroup() {
    let files = Files::new(&[(
        "main.conf",
        "[program:a]\ncommand = /bin/true\nstopsignal = sigusr2\nkillasgroup = true\n\
         [program:b]\ncommand = /bin/true\nstopsignal = 9\nautorestart = false\n",
    )]);
    let config = files.load("main.conf", &user_ctx()).unwrap().config;
    assert_eq!(config.programs[0].stopsignal.number, 12);
    assert!(!config.programs[0].stopasgroup);
    assert!(config.programs[0].killasgroup);
    assert_eq!(config.programs[1].stopsignal.number, 9);
    assert_eq!(config.programs[1].autorestart, AutoRestart::Never);
}

/// proctorctl finds the socket as supervisorctl does: `[supervisorctl] serverurl=unix://`
/// first (relative to the file, `%(here)s` expanded), else `[unix_http_server] file=`.
#[test]
fn a_client_finds_the_socket_from_serverurl_then_the_server_section() {
    let files = Files::new(&[
        (
            "both.conf",
            "[unix_http_server]\nfile = /run/p.sock\n[supervisorctl]\nserverurl = unix://%(here)s/c.sock\n",
        ),
        ("server.conf", "[unix_http_server]\nfile = s.sock\n"),
        ("http.conf", "[supervisorctl]\nserverurl = http://127.0.0.1:9001\n"),
        ("none.conf", "[supervisord]\n"),
    ]);
    let socket = |name: &str| {
        proctor_config::load_client_socket(&files.path(name), &user_ctx())
            .map(|p| p.map(|p| files.hide(&p.display().to_string())))
            .map_err(|d| files.hide(&d.to_string()))
    };
    assert_eq!(socket("both.conf"), Ok(Some("DIR/c.sock".into())));
    assert_eq!(socket("server.conf"), Ok(Some("DIR/s.sock".into())));
    assert_eq!(
        socket("http.conf"),
        Err("DIR/http.conf:2: serverurl http://127.0.0.1:9001 is not a unix socket: proctorctl reaches the daemon through its socket (unix:///PATH), or use -s".into())
    );
    assert_eq!(socket("none.conf"), Ok(None));
}

#[test]
fn warnings_carry_file_and_line() {
    let files = Files::new(&[
        (
            "main.conf",
            "[supervisord]\nloglevel = debug\nnodaemon = true\nbogus = 1\nlogfile = syslog\n\
             [unix_http_server]\nfile = /run/p.sock\nusername = u\npassword = p\n\
             [inet_http_server]\nport = 9001\n\
             [rpcinterface:supervisor]\n\
             supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface\n\
             [supervisorctl]\n\
             [mystery]\n\
             [proctor]\npolicyy = x\n\
             [include]\nfiles = more.conf\n",
        ),
        (
            "more.conf",
            "[program:a]\ncommand = /bin/true\nstdout_events_enabled = true\nfrobnicate = 1\n\
             stdout_logfile = syslog\n[eventlistener:x]\ncommand = y\nevents = tick_5\n\
             [rpcinterface:cache]\nsupervisor.rpcinterface_factory = cache:make\n\
             [ctlplugin:serialrestart]\nsupervisor.ctl_factory = x:make\n",
        ),
    ]);
    let loaded = files.load("main.conf", &user_ctx()).unwrap();
    let mut warnings: Vec<_> = loaded
        .warnings
        .iter()
        .map(|w| files.hide(&w.to_string()))
        .collect();
    warnings.sort();
    let mut want = vec![
        "DIR/main.conf:4: unknown key 'bogus' in [supervisord] (ignored)",
        "DIR/main.conf:5: [supervisord] logfile=syslog is not supported by proctor; it logs to stderr only",
        "DIR/main.conf:8: username is not supported by proctor (access is decided by SO_PEERCRED and the policy) and is ignored",
        "DIR/main.conf:9: password is not supported by proctor (access is decided by SO_PEERCRED and the policy) and is ignored",
        "DIR/main.conf:15: unknown section [mystery] (ignored)",
        "DIR/main.conf:17: unknown key 'policyy' in [proctor] (ignored)",
        "DIR/more.conf:4: unknown key 'frobnicate' in [program:a] (ignored)",
        "DIR/more.conf:5: stdout_logfile=syslog is deprecated in Supervisor; proctor reads it as stdout_logfile=NONE with stdout_syslog=true",
        "DIR/more.conf:9: [rpcinterface:cache] is ignored: proctor serves Supervisor's own XML-RPC interface only (its factory supervisor.rpcinterface:make_main_rpcinterface); Python RPC interfaces cannot run in proctor",
        "DIR/more.conf:11: [ctlplugin:serialrestart] is ignored: supervisorctl plugins are Python, which proctorctl cannot run",
    ];
    want.sort();
    assert_eq!(warnings, want);
    assert_eq!(loaded.config.daemon.logfile, None);
    let out = &loaded.config.programs[0].processes[0].stdout;
    assert_eq!((out.target.clone(), out.syslog), (LogTarget::Discard, true));
}

#[test]
fn event_listener_pools_take_supervisors_defaults() {
    let files = Files::new(&[(
        "main.conf",
        "[program:web]\ncommand = /bin/true\n\
         [eventlistener:mon]\ncommand = /bin/cat\nevents = process_state, TICK_60,PROCESS_STATE\n\
         [eventlistener:big]\ncommand = /bin/cat\nevents = EVENT\nbuffer_size = 3\npriority = 5\n\
         result_handler = supervisor.dispatchers:default_handler\nnumprocs = 2\n\
         process_name = %(program_name)s_%(process_num)s\n",
    )]);
    let loaded = files.load("main.conf", &user_ctx()).unwrap();
    assert_eq!(loaded.warnings, vec![]);
    let c = &loaded.config;
    let (_, web) = c.program("web").unwrap();
    assert_eq!((web.priority, web.listener.clone()), (999, None));
    let (_, mon) = c.program("mon").unwrap();
    assert_eq!(
        mon.priority, 999,
        "a listener process's own priority, as Supervisor's"
    );
    assert_eq!(
        mon.listener,
        Some(ListenerConfig {
            events: strings(&["PROCESS_STATE", "TICK_60"]),
            buffer_size: 10,
            priority: -1,
        })
    );
    assert_eq!(
        c.group("mon").unwrap().priority,
        -1,
        "Supervisor starts pools first"
    );
    assert_eq!(mon.group, "mon");
    assert_eq!(mon.section(), "eventlistener:mon");
    let (_, big) = c.program("big").unwrap();
    assert_eq!(big.priority, 5);
    assert_eq!(big.listener.as_ref().map(|l| l.buffer_size), Some(3));
    assert_eq!(big.processes.len(), 2);
    let order: Vec<&str> = c.groups.iter().map(|g| g.name.as_str()).collect();
    assert_eq!(order, ["mon", "big", "web"]);
}
