//! Supervisor 4.3's reading rules that proctor follows: what its ConfigParser
//! (`inline_comment_prefixes=(';', '#')`, `strict=False`) and its `[include]` handling accept,
//! proctor accepts the same way, with a warning where something is easy to get wrong.
//! `tests/tests/supervisor_compat.rs` checks the same inputs against Supervisor itself.
#![allow(clippy::unwrap_used)]
#![forbid(unsafe_code)]

mod common;

use common::{user_ctx, Files};

/// Loads the first file; returns the config's programs as (name, command) and the warnings.
fn load(files: &[(&str, &str)]) -> (Vec<(String, String)>, Vec<String>) {
    let f = Files::new(files);
    let loaded = f.load(files[0].0, &user_ctx()).unwrap();
    let programs = loaded
        .config
        .programs
        .iter()
        .map(|p| (p.name.clone(), p.processes[0].argv.join(" ")))
        .collect();
    let warnings = loaded
        .warnings
        .iter()
        .map(|w| f.hide(&w.to_string()))
        .collect();
    (programs, warnings)
}

fn pairs(v: &[(&str, &str)]) -> Vec<(String, String)> {
    v.iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect()
}

#[test]
fn a_key_given_twice_keeps_the_last_value_with_a_warning() {
    let (programs, warnings) = load(&[(
        "main.conf",
        "[program:a]\ncommand = /bin/true\nCommand = /bin/false\n",
    )]);
    assert_eq!(programs, pairs(&[("a", "/bin/false")]));
    assert_eq!(
        warnings,
        ["DIR/main.conf:3: command is given again in [program:a]: this value replaces the one at \
          DIR/main.conf:2 (the last one wins, as in Supervisor)"]
    );
}

#[test]
fn a_section_given_again_is_merged_into_the_first() {
    // In one file, and across an include: the Docker pattern of a base file and a conf.d/.
    let (programs, warnings) = load(&[
        (
            "main.conf",
            "[program:web]\ncommand = /bin/true\n[supervisord]\n[include]\nfiles = conf.d/*.conf\n\
             [supervisord]\nidentifier = x\n",
        ),
        (
            "conf.d/a.conf",
            "\n[program:web]\nautostart = false\ncommand = /bin/false\n[program:b]\ncommand = /bin/sleep 1\n",
        ),
    ]);
    assert_eq!(
        programs,
        pairs(&[("web", "/bin/false"), ("b", "/bin/sleep 1")])
    );
    assert_eq!(
        warnings,
        ["DIR/conf.d/a.conf:4: command is given again in [program:web]: this value replaces the \
          one at DIR/main.conf:2 (the last one wins, as in Supervisor)"]
    );
}

#[test]
fn a_key_from_an_included_file_is_relative_to_that_file() {
    let f = Files::new(&[
        (
            "main.conf",
            "[program:a]\ncommand = /bin/true\n[include]\nfiles = conf.d/*.conf\n",
        ),
        (
            "conf.d/a.conf",
            "[program:a]\ndirectory = %(here)s\nstdout_logfile = a.log\n",
        ),
    ]);
    let loaded = f.load("main.conf", &user_ctx()).unwrap();
    let a = &loaded.config.programs[0];
    assert_eq!(
        a.processes[0].directory.as_deref(),
        Some(f.path("conf.d").as_path())
    );
    assert_eq!(
        format!("{:?}", a.processes[0].stdout.target),
        format!("File({:?})", f.path("conf.d/a.log"))
    );
}

#[test]
fn an_include_that_matches_nothing_is_a_warning() {
    let (programs, warnings) = load(&[(
        "main.conf",
        "[program:a]\ncommand = /bin/true\n[include]\nfiles = conf.d/*.conf other.conf\n",
    )]);
    assert_eq!(programs, pairs(&[("a", "/bin/true")]));
    assert_eq!(
        warnings,
        [
            "DIR/main.conf:4: include pattern 'conf.d/*.conf' matches no file",
            "DIR/main.conf:4: include pattern 'other.conf' matches no file",
        ]
    );
}

#[test]
fn inline_comments_start_at_a_semicolon_or_hash_after_whitespace() {
    let (programs, warnings) = load(&[(
        "main.conf",
        "[program:a]\ncommand = /bin/sleep 10\t# a comment\nnumprocs = 1 ; another\n\
         [program:b]\ncommand = /bin/echo a#b;c\n",
    )]);
    assert_eq!(
        programs,
        pairs(&[("a", "/bin/sleep 10"), ("b", "/bin/echo a#b;c")])
    );
    assert!(warnings.is_empty(), "{warnings:?}");
}

/// The user each program runs as, as root.
fn users_as_root(main: &str) -> Result<Vec<(String, Option<String>)>, String> {
    let f = Files::new(&[("main.conf", main)]);
    let loaded = f.load("main.conf", &common::root_ctx())?;
    Ok(loaded
        .config
        .programs
        .iter()
        .map(|p| (p.name.clone(), p.user.clone()))
        .collect())
}

#[test]
fn as_root_programs_without_user_take_the_default_user() {
    let got = users_as_root(
        "[proctor]\ndefault_user = daemon\n[program:a]\ncommand = /bin/true\n\
         [program:b]\ncommand = /bin/true\nuser = nobody\n",
    )
    .unwrap();
    assert_eq!(
        got,
        [
            ("a".to_owned(), Some("daemon".to_owned())),
            ("b".to_owned(), Some("nobody".to_owned()))
        ]
    );
    // Supervisor's own account stands in when [proctor] says nothing; [proctor] wins over it.
    let got = users_as_root("[supervisord]\nuser = nobody\n[program:a]\ncommand = /bin/true\n");
    assert_eq!(got.unwrap()[0].1.as_deref(), Some("nobody"));
    let got = users_as_root(
        "[supervisord]\nuser = root\n[proctor]\ndefault_user = daemon\n[program:a]\ncommand = /bin/true\n",
    );
    assert_eq!(got.unwrap()[0].1.as_deref(), Some("daemon"));
}

#[test]
fn in_user_mode_the_default_user_is_ignored_with_a_warning() {
    let (programs, warnings) = load(&[(
        "main.conf",
        "[supervisord]\nuser = root\n[program:a]\ncommand = /bin/true\n",
    )]);
    assert_eq!(programs, pairs(&[("a", "/bin/true")]));
    assert_eq!(
        warnings,
        ["DIR/main.conf:2: [supervisord] user is used only when proctord runs as root; as another \
          user every program runs as that user"]
    );
}

#[test]
fn streams_may_share_a_log_file_when_they_rotate_it_alike() {
    use proctor_config::LogTarget;
    let f = Files::new(&[(
        "main.conf",
        "[program:a]\ncommand = /bin/true\nstdout_logfile = x.log\nstderr_logfile = x.log\n\
         [program:pool]\ncommand = /bin/true\nnumprocs = 2\nprocess_name = p%(process_num)d\n\
         stdout_logfile = %(here)s/x.log\n\
         [program:docker]\ncommand = /bin/true\nstdout_logfile = /dev/stdout\n\
         stdout_logfile_maxbytes = 0\nstderr_logfile = /dev/fd/2\nstderr_logfile_maxbytes = 5MB\n\
         [program:docker2]\ncommand = /bin/true\nstdout_logfile = /dev/stdout\n",
    )]);
    let loaded = f.load("main.conf", &user_ctx()).unwrap();
    let x = LogTarget::File(f.path("x.log"));
    let p = &loaded.config.programs;
    assert_eq!(
        (
            &p[0].processes[0].stdout.target,
            &p[0].processes[0].stderr.target
        ),
        (&x, &x)
    );
    assert_eq!(p[1].processes[0].stdout.target, x);
    assert_eq!(p[1].processes[1].stdout.target, x);
    // Not files: streams, whatever their rotation settings say.
    let stdout = LogTarget::Stream("/dev/stdout".into());
    assert_eq!(p[2].processes[0].stdout.target, stdout);
    assert_eq!(
        p[2].processes[0].stderr.target,
        LogTarget::Stream("/dev/fd/2".into())
    );
    assert_eq!(p[3].processes[0].stdout.target, stdout);
    assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);
}
