//! A table of configs that must be refused, each with its exact message.
#![allow(clippy::unwrap_used)]
#![forbid(unsafe_code)]

mod common;

use common::{root_ctx, user_ctx, Files};

enum Mode {
    User,
    Root,
}

struct Case {
    name: &'static str,
    mode: Mode,
    /// (file name, text); the first one is loaded.
    files: &'static [(&'static str, &'static str)],
    error: &'static str,
}

const fn case(
    name: &'static str,
    files: &'static [(&'static str, &'static str)],
    error: &'static str,
) -> Case {
    Case {
        name,
        mode: Mode::User,
        files,
        error,
    }
}

const fn root(
    name: &'static str,
    files: &'static [(&'static str, &'static str)],
    error: &'static str,
) -> Case {
    Case {
        name,
        mode: Mode::Root,
        files,
        error,
    }
}

const CASES: &[Case] = &[
    case(
        "listener without events",
        &[("main.conf", "[eventlistener:m]\ncommand = /bin/cat\n")],
        "DIR/main.conf:1: [eventlistener:m] has no events=: a listener pool must name the events it receives (for example events=PROCESS_STATE)",
    ),
    case(
        "listener with an unknown event",
        &[(
            "main.conf",
            "[eventlistener:m]\ncommand = /bin/cat\nevents = TICK_5, PROCESS_STAT\n",
        )],
        "DIR/main.conf:3: [eventlistener:m] events= names PROCESS_STAT, which is not an event type (see `proctorctl events --help` for the list)",
    ),
    case(
        "listener with redirect_stderr",
        &[(
            "main.conf",
            "[eventlistener:m]\ncommand = /bin/cat\nevents = TICK_5\nredirect_stderr = true\n",
        )],
        "DIR/main.conf:4: [eventlistener:m] sets redirect_stderr=true, which an event listener may not: its stderr would be mixed into its replies on stdout and break the event listener protocol",
    ),
    case(
        "listener with a Python result handler",
        &[(
            "main.conf",
            "[eventlistener:m]\ncommand = /bin/cat\nevents = TICK_5\nresult_handler = mymod:handle\n",
        )],
        "DIR/main.conf:4: [eventlistener:m] result_handler = mymod:handle: proctor runs Supervisor's own handler only (supervisor.dispatchers:default_handler: a result of OK is success, anything else rejects the event); a Python handler cannot run in proctor",
    ),
    case(
        "listener with no buffer",
        &[(
            "main.conf",
            "[eventlistener:m]\ncommand = /bin/cat\nevents = TICK_5\nbuffer_size = 0\n",
        )],
        "DIR/main.conf:4: [eventlistener:m] buffer_size = 0: it must be at least 1",
    ),
    case(
        "listener named like a program",
        &[(
            "main.conf",
            "[program:m]\ncommand = /bin/true\n[eventlistener:m]\ncommand = /bin/cat\nevents = TICK_5\n",
        )],
        "DIR/main.conf:3: [eventlistener:m] has the name of [program:m]: a program and an event listener pool may not share a name (first at DIR/main.conf:1)",
    ),
    case(
        "listener named like a group",
        &[(
            "main.conf",
            "[program:a]\ncommand = /bin/true\n[group:m]\nprograms = a\n\
             [eventlistener:m]\ncommand = /bin/cat\nevents = TICK_5\n",
        )],
        "DIR/main.conf:5: [eventlistener:m] is a process group of its own, which clashes with [group:m] (DIR/main.conf:3)",
    ),
    case(
        "group naming a listener",
        &[(
            "main.conf",
            "[eventlistener:m]\ncommand = /bin/cat\nevents = TICK_5\n[group:g]\nprograms = m\n",
        )],
        "DIR/main.conf:5: [group:g] names program 'm', which is not defined",
    ),
    case(
        "unbalanced quotes",
        &[("main.conf", "[program:a]\ncommand = /bin/echo \"hello\n")],
        "DIR/main.conf:2: [program:a] command has unbalanced quotes",
    ),
    case(
        "no command",
        &[("main.conf", "[program:a]\nautostart = true\n")],
        "DIR/main.conf:1: [program:a] has no command=",
    ),
    case(
        "unknown user",
        &[(
            "main.conf",
            "[program:a]\ncommand = /bin/true\nuser = no-such-user-xyz\n",
        )],
        "DIR/main.conf:3: [program:a] user 'no-such-user-xyz' does not exist",
    ),
    root(
        "user=root",
        &[(
            "main.conf",
            "[program:a]\ncommand = /bin/true\nuser = root\n",
        )],
        "DIR/main.conf:3: [program:a] user=root is refused: services never run as root",
    ),
    root(
        "uid 0 by number",
        &[("main.conf", "[program:a]\ncommand = /bin/true\nuser = 0\n")],
        "DIR/main.conf:3: [program:a] user=0 is refused: services never run as root",
    ),
    case(
        "user naming another account in user mode",
        &[(
            "main.conf",
            "[program:a]\ncommand = /bin/true\nuser = daemon\n",
        )],
        "DIR/main.conf:3: [program:a] user=daemon: proctord runs as 'nobody' and can only \
         start services as that user (run it as root to switch users)",
    ),
    root(
        "user=name:group",
        &[(
            "main.conf",
            "[program:a]\ncommand = /bin/true\nuser = nobody:nogroup\n",
        )],
        "DIR/main.conf:3: [program:a] user=nobody:nogroup is not supported: give an account \
         name only (the program runs with that account's own groups)",
    ),
    root(
        "root mode without user=",
        &[("main.conf", "[program:a]\ncommand = /bin/true\n")],
        "DIR/main.conf:1: [program:a] has no user=: as root, proctor needs an unprivileged \
         account for every program (add user=, or set [proctor] default_user= for the programs \
         without one)",
    ),
    root(
        "root mode, [supervisord] user=root standing in for user=",
        &[(
            "main.conf",
            "[supervisord]\nuser = root\n[program:a]\ncommand = /bin/true\n",
        )],
        "DIR/main.conf:2: [program:a] user=root is refused: services never run as root \
         ([supervisord] user stands in for user= in programs without one; set [proctor] \
         default_user= to an unprivileged account)",
    ),
    root(
        "root mode, a default_user that does not exist",
        &[(
            "main.conf",
            "[proctor]\ndefault_user = no-such-user-xyz\n[program:a]\ncommand = /bin/true\n",
        )],
        "DIR/main.conf:2: [program:a] user 'no-such-user-xyz' does not exist ([proctor] \
         default_user stands in for user= in programs without one; set [proctor] default_user= \
         to an unprivileged account)",
    ),
    case(
        "a program logging to the audit log",
        &[(
            "main.conf",
            "[proctor]\naudit_log = audit.log\n[program:a]\ncommand = /bin/true\n\
             stdout_logfile = %(here)s/audit.log\n",
        )],
        "DIR/main.conf:3: [program:a] logs to DIR/audit.log, which is [proctor] audit_log: a \
         service's output must not reach proctor's own files",
    ),
    case(
        "a program logging to the daemon log",
        &[(
            "main.conf",
            "[supervisord]\nlogfile = d.log\n[program:a]\ncommand = /bin/true\n\
             stderr_logfile = d.log\n",
        )],
        "DIR/main.conf:3: [program:a] logs to DIR/d.log, which is [supervisord] logfile: a \
         service's output must not reach proctor's own files",
    ),
    case(
        "two programs sharing a log file, one copying it to syslog",
        &[(
            "main.conf",
            "[program:a]\ncommand = /bin/true\nstdout_logfile = x.log\nstdout_syslog = true\n\
             [program:b]\ncommand = /bin/true\nstdout_logfile = x.log\n",
        )],
        "DIR/main.conf:7: [program:b] stdout_logfile DIR/x.log is also the log of [program:a] \
         (DIR/main.conf:3), which differs on stdout_syslog: streams that share a file share its \
         copy to syslog too, so give them the same setting",
    ),
    case(
        "two programs sharing a log file, rotating it differently",
        &[(
            "main.conf",
            "[program:a]\ncommand = /bin/true\nstdout_logfile = logs/x.log\n\n\
             [program:b]\ncommand = /bin/true\nstdout_logfile = %(here)s/logs/./x.log\n\
             stdout_logfile_maxbytes = 1KB\n",
        )],
        "DIR/main.conf:7: [program:b] stdout_logfile DIR/logs/x.log is also the log of \
         [program:a] (DIR/main.conf:3), which rotates it differently \
         (stdout_logfile_maxbytes=1024, stdout_logfile_backups=10 here; maxbytes=52428800, \
         backups=10 there): give them the same settings or different files",
    ),
    case(
        "duplicate program names with spacing",
        &[(
            "main.conf",
            "[program:web]\ncommand = /bin/true\n[program: web ]\ncommand = /bin/true\n",
        )],
        "DIR/main.conf:3: duplicate section [program:web] (first at DIR/main.conf:1)",
    ),
    case(
        "numprocs without process_num",
        &[(
            "main.conf",
            "[program:a]\ncommand = /bin/true\nnumprocs = 3\n",
        )],
        "DIR/main.conf:3: [program:a] numprocs = 3 requires %(process_num) in process_name",
    ),
    case(
        "numprocs = 0",
        &[(
            "main.conf",
            "[program:a]\ncommand = /bin/true\nnumprocs = 0\n",
        )],
        "DIR/main.conf:3: bad value for numprocs: '0' (expected an integer >= 1)",
    ),
    case(
        "bad number",
        &[(
            "main.conf",
            "[program:a]\ncommand = /bin/true\nnumprocs = abc\n",
        )],
        "DIR/main.conf:3: bad value for numprocs: 'abc' (expected an integer >= 1)",
    ),
    case(
        "negative startsecs",
        &[(
            "main.conf",
            "[program:a]\ncommand = /bin/true\nstartsecs = -1\n",
        )],
        "DIR/main.conf:3: bad value for startsecs: '-1' (expected an integer >= 0)",
    ),
    case(
        "bad priority",
        &[(
            "main.conf",
            "[program:a]\ncommand = /bin/true\npriority = high\n",
        )],
        "DIR/main.conf:3: bad value for priority: 'high' (expected an integer)",
    ),
    case(
        "unknown stopsignal",
        &[(
            "main.conf",
            "[program:a]\ncommand = /bin/true\nstopsignal = SIGSEGV\n",
        )],
        "DIR/main.conf:3: bad value for stopsignal: 'SIGSEGV' (expected one of HUP INT QUIT \
         KILL USR1 USR2 ALRM TERM CONT STOP TSTP WINCH (the signals proctord sends))",
    ),
    case(
        "bad boolean",
        &[(
            "main.conf",
            "[program:a]\ncommand = /bin/true\nautostart = sometimes\n",
        )],
        "DIR/main.conf:3: bad value for autostart: 'sometimes' (expected true or false)",
    ),
    case(
        "bad autorestart",
        &[(
            "main.conf",
            "[program:a]\ncommand = /bin/true\nautorestart = often\n",
        )],
        "DIR/main.conf:3: bad value for autorestart: 'often' (expected true, false or unexpected)",
    ),
    case(
        "bad exitcodes",
        &[(
            "main.conf",
            "[program:a]\ncommand = /bin/true\nexitcodes = 0,2,300\n",
        )],
        "DIR/main.conf:3: bad value for exitcodes: '0,2,300' (expected a comma-separated list \
         of exit codes 0-255)",
    ),
    case(
        "bad umask",
        &[(
            "main.conf",
            "[program:a]\ncommand = /bin/true\numask = 089\n",
        )],
        "DIR/main.conf:3: bad value for umask: '089' (expected an octal number like 022)",
    ),
    case(
        "bad capability",
        &[(
            "main.conf",
            "[program:a]\ncommand = /bin/true\ncapabilities = net_admin\n",
        )],
        "DIR/main.conf:3: bad value for capabilities: 'net_admin' (expected a comma-separated \
         list of: net_bind_service)",
    ),
    case(
        "bad byte size",
        &[(
            "main.conf",
            "[program:a]\ncommand = /bin/true\nstdout_logfile_maxbytes = 1TB\n",
        )],
        "DIR/main.conf:3: bad value for stdout_logfile_maxbytes: '1TB' (expected a byte count \
         like 1024, 50KB, 50MB or 1GB)",
    ),
    case(
        "bad environment",
        &[(
            "main.conf",
            "[program:a]\ncommand = /bin/true\nenvironment = A=1,B-C=2\n",
        )],
        "DIR/main.conf:3: bad value for environment: 'A=1,B-C=2' ('B-C' is not a valid \
         variable name; expected KEY=value pairs separated by commas, like A=1,B=\"x, y\")",
    ),
    case(
        "relative directory",
        &[(
            "main.conf",
            "[program:a]\ncommand = /bin/true\ndirectory = srv/a\n",
        )],
        "DIR/main.conf:3: bad value for directory: 'srv/a' (expected an absolute path)",
    ),
    case(
        // found by fuzz/ (config), exactly as minimised: the padding (3 GB) was allocated
        "expansion width too large",
        &[("main.conf", "[program:a]\ncommand :%(ENV_PORT)3333333333s")],
        "DIR/main.conf:2: expansion %(ENV_PORT)3333333333s in command has a width larger than 1024",
    ),
    case(
        // found by hand with the config fuzz target: the loader built four billion instances
        "numprocs too large",
        &[(
            "main.conf",
            "[program:a]\ncommand = /bin/true\nprocess_name = %(process_num)d\nnumprocs = 4000000000\n",
        )],
        "DIR/main.conf:4: numprocs = 4000000000 is more than proctor's limit of 10000 processes per program",
    ),
    case(
        "unknown expansion",
        &[("main.conf", "[program:a]\ncommand = /bin/echo %(foo)s\n")],
        "DIR/main.conf:2: unknown expansion %(foo)s in command",
    ),
    case(
        "unknown environment variable",
        &[(
            "main.conf",
            "[program:a]\ncommand = /bin/echo %(ENV_NOPE)s\n",
        )],
        "DIR/main.conf:2: unknown expansion %(ENV_NOPE)s in command",
    ),
    case(
        "lone percent",
        &[("main.conf", "[program:a]\ncommand = /bin/echo 100%\n")],
        "DIR/main.conf:2: lone '%' in command (write %% for a literal %, or %(name)s)",
    ),
    case(
        "include without files=",
        &[("main.conf", "[include]\n")],
        "DIR/main.conf:1: [include] has no files=",
    ),
    case(
        "error in an included file",
        &[
            ("etc/main.conf", "[include]\nfiles = conf.d/*.ini\n"),
            (
                "etc/conf.d/x.ini",
                "[program:x]\ncommand = /bin/true\nstartretries = many\n",
            ),
        ],
        "DIR/etc/conf.d/x.ini:3: bad value for startretries: 'many' (expected an integer >= 0)",
    ),
    case(
        "group naming an undefined program",
        &[(
            "main.conf",
            "[program:a]\ncommand = /bin/true\n[group:g]\nprograms = a, b\n",
        )],
        "DIR/main.conf:4: [group:g] names program 'b', which is not defined",
    ),
    case(
        "program in two groups",
        &[(
            "main.conf",
            "[program:a]\ncommand = /bin/true\n[group:g]\nprograms = a\n[group:h]\nprograms = a\n",
        )],
        "DIR/main.conf:6: [group:h] names program 'a', which is already in [group:g] \
         (DIR/main.conf:3)",
    ),
    case(
        "group without programs=",
        &[(
            "main.conf",
            "[program:a]\ncommand = /bin/true\n[group:g]\npriority = 1\n",
        )],
        "DIR/main.conf:3: [group:g] has no programs=",
    ),
    case(
        "implicit group clashing with a [group:x]",
        &[(
            "main.conf",
            "[program:a]\ncommand = /bin/true\n[program:b]\ncommand = /bin/true\n\
             [group:a]\nprograms = b\n",
        )],
        "DIR/main.conf:1: [program:a] is in no [group:x], so it forms its own group 'a', \
         which clashes with [group:a] (DIR/main.conf:5)",
    ),
    case(
        "process names clashing in a group",
        &[(
            "main.conf",
            "[program:a]\ncommand = /bin/true\nprocess_name = worker\n\
             [program:b]\ncommand = /bin/true\nprocess_name = worker\n\
             [group:g]\nprograms = a,b\n",
        )],
        "DIR/main.conf:6: [program:b] process name 'worker' is already used in group 'g' by \
         [program:a] (DIR/main.conf:3)",
    ),
    case(
        "invalid program name",
        &[("main.conf", "[program:a/b]\ncommand = /bin/true\n")],
        "DIR/main.conf:1: invalid program name 'a/b' (names may not be empty or contain \
         spaces, ':' or '/')",
    ),
    case(
        "key outside a section",
        &[(
            "main.conf",
            "; header comment\ncommand = /bin/true\n[program:a]\n",
        )],
        "DIR/main.conf:2: key 'command' is outside any section (add a [section] header \
         before it)",
    ),
    case(
        "malformed section header",
        &[("main.conf", "[program:a\ncommand = /bin/true\n")],
        "DIR/main.conf:1: malformed section header '[program:a' (expected [name])",
    ),
    case(
        "line without = or :",
        &[("main.conf", "[program:a]\ncommand /bin/true\n")],
        "DIR/main.conf:2: expected 'key = value' or '[section]', found 'command /bin/true'",
    ),
    case(
        "unix_http_server without file",
        &[("main.conf", "[unix_http_server]\nchmod = 0770\n")],
        "DIR/main.conf:1: [unix_http_server] has no file=",
    ),
    case(
        "bad chmod",
        &[(
            "main.conf",
            "[unix_http_server]\nfile = /run/p.sock\nchmod = rwx\n",
        )],
        "DIR/main.conf:3: bad value for chmod: 'rwx' (expected an octal number like 022)",
    ),
    case(
        "bad audit_log_min_age",
        &[("main.conf", "[proctor]\naudit_log_min_age = 3 weeks\n")],
        "DIR/main.conf:2: bad value for audit_log_min_age: '3 weeks' (expected a duration like 3600, 90m, 12h or 7d)",
    ),
    case(
        "bad audit_syslog",
        &[("main.conf", "[proctor]\naudit_syslog = perhaps\n")],
        "DIR/main.conf:2: bad value for audit_syslog: 'perhaps' (expected true or false)",
    ),
    case(
        "missing main file",
        &[("other.conf", "")],
        "DIR/main.conf: cannot read: No such file or directory (os error 2)",
    ),
];

#[test]
fn bad_configs_are_refused_with_exact_messages() {
    assert!(CASES.len() >= 20);
    let mut failures = Vec::new();
    for c in CASES {
        let files = Files::new(c.files);
        let ctx = match c.mode {
            Mode::User => user_ctx(),
            Mode::Root => root_ctx(),
        };
        let main = if c.name == "missing main file" {
            "main.conf"
        } else {
            c.files[0].0
        };
        match files.load(main, &ctx) {
            Ok(_) => failures.push(format!("{}: loaded, expected: {}", c.name, c.error)),
            Err(e) if e != c.error => {
                failures.push(format!("{}:\n   got: {e}\n  want: {}", c.name, c.error))
            }
            Err(_) => {}
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// Account other than the daemon's, with the daemon as root: both are fine.
#[test]
fn root_mode_accepts_any_unprivileged_account() {
    let files = Files::new(&[(
        "main.conf",
        "[program:a]\ncommand = /bin/true\nuser = daemon\n[program:b]\ncommand = /bin/true\nuser = nobody\n",
    )]);
    let loaded = files.load("main.conf", &root_ctx()).unwrap();
    assert_eq!(loaded.config.programs[0].user.as_deref(), Some("daemon"));
    assert_eq!(loaded.config.programs[1].user.as_deref(), Some("nobody"));
}
