//! `proctorctl -H HOSTS COMMAND`: the command on every host, through the system's OpenSSH, so
//! that the person's ssh config, agent, known_hosts, ProxyJump and ControlMaster all apply, and
//! each host's proctorctl talks to that host's daemon as the user ssh authenticated: that host's
//! policy and audit log decide. No daemon listens on the network for this.
//!
//! Each host runs `ssh -T -o BatchMode=yes [-p PORT] -- [USER@]HOST 'proctorctl' 'ARG'...`
//! (`$PROCTOR_SSH` replaces `ssh`, as `GIT_SSH_COMMAND` does; `$PROCTOR_REMOTE` replaces the
//! remote `proctorctl`). Every remote argument is single-quoted for the remote shell, so a name
//! with spaces or `;` arrives as one argument and is never run.

use crate::hosts::Host;
use crate::json;
use serde_json::{json, Value};
use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub struct Settings {
    pub forks: usize,
    pub connect_timeout: u64,
    /// None: no limit (a command that follows).
    pub timeout: Option<Duration>,
    /// A rolling run: this many hosts at a time, each batch succeeding before the next.
    pub batch: Option<usize>,
    pub pause: Duration,
    pub keep_going: bool,
}

/// How the hosts' output is shown.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Shown {
    /// Each line as it comes, `host: ` before it.
    Lines,
    /// `status`: one table with a host column, in the order given, once every host answered.
    Table,
    /// `--json`: the hosts' JSON lines, each object given its `host`.
    Json,
}

/// What became of one host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Ok,
    /// The command ran and failed (its exit status), e.g. a process that would not start.
    Failed(i32),
    /// The host's policy refused the request.
    Denied,
    /// ssh could not reach the host (refused, timed out, no such name).
    Unreachable(String),
    /// ssh reached it, and the host refused the key.
    KeyRefused,
    /// The host has no proctorctl (or not the one `$PROCTOR_REMOTE` names).
    NoProctor,
    /// The host's proctorctl does not know the command or an option (clap's words).
    TooOld(String),
    /// The host's proctorctl answers in a newer JSON schema than this one reads.
    TooNew(u64),
    /// The command outlived `--timeout` and was killed.
    TimedOut,
    /// Not tried: an earlier batch failed.
    NotRun,
}

impl Outcome {
    /// The exit status this host contributes; the worst wins.
    fn status(&self) -> i32 {
        match self {
            Outcome::Ok | Outcome::NotRun => 0,
            Outcome::Failed(c) => *c,
            Outcome::Denied => 1,
            Outcome::TooOld(_) | Outcome::TooNew(_) => 2,
            Outcome::NoProctor => 127,
            Outcome::TimedOut => 124,
            Outcome::Unreachable(_) | Outcome::KeyRefused => 255,
        }
    }

    /// Its name in `--json` output.
    fn name(&self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::Failed(_) => "failed",
            Outcome::Denied => "denied",
            Outcome::Unreachable(_) => "unreachable",
            Outcome::KeyRefused => "key_refused",
            Outcome::NoProctor => "no_proctorctl",
            Outcome::TooOld(_) => "too_old",
            Outcome::TooNew(_) => "too_new",
            Outcome::TimedOut => "timed_out",
            Outcome::NotRun => "not_run",
        }
    }

    fn says(&self) -> String {
        match self {
            Outcome::Ok => "ok".into(),
            Outcome::Failed(c) => format!("failed (exit status {c})"),
            Outcome::Denied => "denied by its policy".into(),
            Outcome::Unreachable(why) => format!("unreachable: {why}"),
            Outcome::KeyRefused => "refused the ssh key (Permission denied)".into(),
            Outcome::NoProctor => "has no proctorctl".into(),
            Outcome::TooOld(why) => format!(
                "has a proctorctl older than this one ({why}): upgrade it to {} or later",
                env!("CARGO_PKG_VERSION")
            ),
            Outcome::TooNew(schema) => format!(
                "answers in JSON schema {schema}, newer than this proctorctl's {}: upgrade this one",
                json::SCHEMA
            ),
            Outcome::TimedOut => "timed out".into(),
            Outcome::NotRun => "not run (an earlier batch failed)".into(),
        }
    }
}

/// One argument as the remote shell reads it: single-quoted, a `'` as `'\''`.
pub fn shell_quote(arg: &str) -> String {
    format!("'{}'", arg.replace('\'', r"'\''"))
}

/// The ssh command: `$PROCTOR_SSH` split as a shell would (no shell runs it), else `ssh`.
fn ssh_command() -> Result<Vec<String>, String> {
    match std::env::var("PROCTOR_SSH") {
        Ok(s) if !s.trim().is_empty() => shlex::split(&s)
            .filter(|v| !v.is_empty())
            .ok_or_else(|| format!("PROCTOR_SSH={s}: unbalanced quotes")),
        _ => Ok(vec!["ssh".into()]),
    }
}

fn classify(code: Option<i32>, stderr: &str) -> Outcome {
    let lower = stderr.to_ascii_lowercase();
    let last_line = || {
        stderr
            .lines()
            .rev()
            .find(|l| !l.trim().is_empty())
            .unwrap_or("ssh failed")
            .trim()
            .to_owned()
    };
    match code {
        Some(0) => Outcome::Ok,
        Some(255) if lower.contains("permission denied (") => Outcome::KeyRefused,
        Some(255) => Outcome::Unreachable(last_line()),
        Some(126 | 127) => Outcome::NoProctor,
        // clap's words for an option or command it does not know.
        Some(2)
            if lower.contains("unexpected argument")
                || lower.contains("unrecognized subcommand") =>
        {
            Outcome::TooOld(
                stderr
                    .lines()
                    .find(|l| l.starts_with("error:"))
                    .unwrap_or("error")
                    .trim()
                    .to_owned(),
            )
        }
        Some(_) if lower.contains("permission denied:") => Outcome::Denied,
        Some(c) => Outcome::Failed(c),
        None => Outcome::TimedOut,
    }
}

/// What one host said.
struct Done {
    host: Host,
    outcome: Outcome,
    stdout: String,
    /// With --json: the host's last line (its `exit`, and `result` or `error`).
    reply: Option<Value>,
}

fn run_one(host: &Host, remote: &str, ssh: &[String], s: &Settings, shown: Shown) -> Done {
    let name = host.to_string();
    let mut c = Command::new(&ssh[0]);
    c.args(&ssh[1..])
        .args(["-T", "-o", "BatchMode=yes", "-o"])
        .arg(format!("ConnectTimeout={}", s.connect_timeout));
    if let Some(p) = host.port {
        c.arg("-p").arg(p.to_string());
    }
    let destination = match &host.user {
        Some(u) => format!("{u}@{}", host.name),
        None => host.name.clone(),
    };
    c.arg("--").arg(destination).arg(remote);
    c.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = match c.spawn() {
        Ok(c) => c,
        Err(e) => {
            let outcome = Outcome::Unreachable(format!("cannot run {}: {e}", ssh[0]));
            return Done {
                host: host.clone(),
                outcome,
                stdout: String::new(),
                reply: None,
            };
        }
    };
    let stdout = {
        let name = name.clone();
        let keep = if shown == Shown::Lines {
            0
        } else {
            KEPT_STDOUT
        };
        read_lines(child.stdout.take(), keep, move |line| match shown {
            Shown::Lines => say(&mut std::io::stdout().lock(), &name, line),
            Shown::Table => {}
            Shown::Json => {
                let v = serde_json::from_str::<Value>(line).ok();
                // The last line, `exit`'s, is given in the host's own object at the end.
                if v.as_ref().is_none_or(|v| v.get("exit").is_none()) {
                    let item = match v {
                        Some(v) => json!({ "item": v }),
                        None => json!({ "text": line }),
                    };
                    host_line(&name, item);
                }
            }
        })
    };
    let stderr = {
        let name = name.clone();
        read_lines(child.stderr.take(), KEPT_STDERR, move |line| {
            say(&mut std::io::stderr().lock(), &name, line)
        })
    };
    let started = Instant::now();
    // Polled, not waited for in a thread: only the owner of the Child may kill it without
    // racing its reaping. 1 ms doubling to 10 ms: a few ms of delay per host at most.
    let mut nap = Duration::from_millis(1);
    let code = loop {
        match child.try_wait() {
            Ok(Some(st)) => break st.code(),
            Ok(None) => {}
            Err(_) => break Some(255),
        }
        if s.timeout.is_some_and(|t| started.elapsed() > t) {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(nap);
        nap = (nap * 2).min(Duration::from_millis(10));
    };
    let stdout = take(stdout);
    let stderr = take(stderr);
    let mut outcome = classify(code, &stderr);
    let reply = (shown == Shown::Json)
        .then(|| {
            stdout
                .lines()
                .rev()
                .filter_map(|l| serde_json::from_str::<Value>(l).ok())
                .find(|v| v.get("exit").is_some())
        })
        .flatten();
    if let Some(schema) = reply
        .as_ref()
        .and_then(|r| r["schema"].as_u64())
        .filter(|&s| s > json::SCHEMA)
    {
        outcome = Outcome::TooNew(schema);
    }
    Done {
        host: host.clone(),
        outcome,
        stdout,
        reply,
    }
}

fn say(out: &mut impl Write, host: &str, line: &str) {
    let _ = writeln!(out, "{host}: {line}");
    let _ = out.flush();
}

/// One `--json` line about a host.
fn host_line(host: &str, fields: Value) {
    let mut o = json!({ "schema": json::SCHEMA, "host": host });
    if let (Some(o), Value::Object(f)) = (o.as_object_mut(), fields) {
        o.extend(f);
    }
    json::print(&o);
}

/// A pipe read line by line on a thread of its own, each line given to `each` as it comes:
/// what came so far, and word of the end.
struct Reading {
    got: Arc<Mutex<String>>,
    ended: std::sync::mpsc::Receiver<()>,
}

/// A host's output is another machine's: a line longer than this is taken in pieces.
const MAX_LINE: u64 = 1 << 20;
/// What is kept of a host's stdout for the status table and the JSON reply (the end, if more
/// came), and of its stderr for telling failures apart.
const KEPT_STDOUT: usize = 16 << 20;
const KEPT_STDERR: usize = 64 << 10;

/// A pipe read line by line: each line to `each` as it comes, and at most `keep` bytes of them,
/// the last, kept.
fn read_lines(
    pipe: Option<impl Read + Send + 'static>,
    keep: usize,
    each: impl Fn(&str) + Send + 'static,
) -> Reading {
    let got: Arc<Mutex<String>> = Arc::default();
    let (tx, ended) = std::sync::mpsc::channel();
    let into = got.clone();
    std::thread::spawn(move || {
        if let Some(p) = pipe {
            let mut p = BufReader::new(p);
            let mut buf = Vec::new();
            while let Ok(n) = (&mut p).take(MAX_LINE).read_until(b'\n', &mut buf) {
                if n == 0 {
                    break;
                }
                let line = String::from_utf8_lossy(&buf).into_owned();
                each(line.trim_end_matches('\n'));
                if keep > 0 {
                    if let Ok(mut g) = into.lock() {
                        g.push_str(&line);
                        if g.len() > keep {
                            let from = g.len() - keep;
                            let from = (from..g.len())
                                .find(|&i| g.is_char_boundary(i))
                                .unwrap_or(g.len());
                            g.drain(..from);
                        }
                    }
                }
                buf.clear();
            }
        }
        let _ = tx.send(());
    });
    Reading { got, ended }
}

/// What a pipe's reader read, once ssh has exited. A process that ssh, or the command
/// `$PROCTOR_SSH` names, leaves in the background may hold the pipe open for as long as it
/// lives: what came within half a second of the exit is all.
fn take(r: Reading) -> String {
    let _ = r.ended.recv_timeout(Duration::from_millis(500));
    r.got
        .lock()
        .map(|mut g| std::mem::take(&mut *g))
        .unwrap_or_default()
}

/// Runs `args` (proctorctl's own arguments, fan-out options removed) on every host, `forks` at
/// a time, in batches when asked; shows the output as `shown` says, then a summary; the worst
/// host's exit status.
pub fn run(hosts: Vec<Host>, args: &[String], shown: Shown, s: &Settings) -> u8 {
    let ssh = match ssh_command() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("proctorctl: {e}");
            return 2;
        }
    };
    let program = std::env::var("PROCTOR_REMOTE").unwrap_or_else(|_| "proctorctl".into());
    let remote = std::iter::once(program.as_str())
        .chain(args.iter().map(String::as_str))
        .map(shell_quote)
        .collect::<Vec<_>>()
        .join(" ");
    let size = s.batch.unwrap_or(hosts.len()).max(1);
    let mut done: Vec<Done> = Vec::new();
    let mut batches = hosts.chunks(size).peekable();
    while let Some(batch) = batches.next() {
        let results = run_batch(batch, &remote, &ssh, s, shown);
        let failed = results.iter().any(|d| d.outcome != Outcome::Ok);
        done.extend(results);
        if batches.peek().is_none() {
            break;
        }
        if failed && s.batch.is_some() && !s.keep_going {
            for h in batches.flatten() {
                let d = Done {
                    host: h.clone(),
                    outcome: Outcome::NotRun,
                    stdout: String::new(),
                    reply: None,
                };
                finish_host(&d, shown);
                done.push(d);
            }
            break;
        }
        std::thread::sleep(s.pause);
    }
    if shown == Shown::Table {
        let width = hosts.iter().map(|h| h.to_string().len()).max().unwrap_or(0);
        let mut out = std::io::stdout().lock();
        for d in &done {
            for line in d.stdout.lines() {
                let _ = writeln!(out, "{:<width$}  {line}", d.host.to_string());
            }
        }
    }
    summary(&done)
}

/// One batch, `forks` hosts at a time; the results in the order given.
fn run_batch(
    hosts: &[Host],
    remote: &str,
    ssh: &[String],
    s: &Settings,
    shown: Shown,
) -> Vec<Done> {
    // Taken from the end: reversed, so that hosts start in the order given.
    let queue = Mutex::new(hosts.iter().enumerate().rev().collect::<Vec<_>>());
    let results: Mutex<Vec<(usize, Done)>> = Mutex::default();
    std::thread::scope(|scope| {
        for _ in 0..s.forks.clamp(1, hosts.len().max(1)) {
            scope.spawn(|| loop {
                let next = queue.lock().ok().and_then(|mut q| q.pop());
                let Some((i, host)) = next else {
                    return;
                };
                let d = run_one(host, remote, ssh, s, shown);
                finish_host(&d, shown);
                if let Ok(mut r) = results.lock() {
                    r.push((i, d));
                }
            });
        }
    });
    let mut results = results.into_inner().unwrap_or_else(|e| e.into_inner());
    results.sort_by_key(|(i, _)| *i);
    results.into_iter().map(|(_, d)| d).collect()
}

/// What is said of a host when it is done: why it did not succeed, when its own output does
/// not say; with --json, its object.
fn finish_host(d: &Done, shown: Shown) {
    let name = d.host.to_string();
    if shown == Shown::Json {
        let why = (d.outcome != Outcome::Ok).then(|| d.outcome.says());
        host_line(
            &name,
            json!({
                "outcome": d.outcome.name(),
                "exit": d.outcome.status(),
                "why": why,
                "reply": d.reply,
            }),
        );
    }
    if !matches!(
        d.outcome,
        Outcome::Ok | Outcome::Failed(_) | Outcome::Denied
    ) {
        say(&mut std::io::stderr().lock(), &name, &d.outcome.says());
    }
}

/// One line on stderr: how many hosts succeeded, failed, were unreachable; the worst status.
fn summary(done: &[Done]) -> u8 {
    let count = |f: &dyn Fn(&Outcome) -> bool| done.iter().filter(|d| f(&d.outcome)).count();
    let ok = count(&|o| *o == Outcome::Ok);
    let unreachable = count(&|o| matches!(o, Outcome::Unreachable(_) | Outcome::KeyRefused));
    let not_run = count(&|o| *o == Outcome::NotRun);
    let failed = done.len() - ok - unreachable - not_run;
    let bad: Vec<String> = done
        .iter()
        .filter(|d| !matches!(d.outcome, Outcome::Ok | Outcome::NotRun))
        .map(|d| format!("{} {}", d.host, d.outcome.says()))
        .collect();
    let detail = if bad.is_empty() {
        String::new()
    } else {
        format!(" ({})", bad.join("; "))
    };
    let not_run = if not_run > 0 {
        format!(", {not_run} not run (stopped at the first failed batch; --keep-going goes on)")
    } else {
        String::new()
    };
    eprintln!(
        "proctorctl: {} hosts: {ok} succeeded, {failed} failed, {unreachable} unreachable{not_run}{detail}",
        done.len()
    );
    let worst = done.iter().map(|d| d.outcome.status()).max().unwrap_or(0);
    u8::try_from(worst.clamp(0, 255)).unwrap_or(255)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remote_arguments_stay_one_word_each() {
        assert_eq!(shell_quote("web"), "'web'");
        assert_eq!(shell_quote("a b;rm -rf /"), "'a b;rm -rf /'");
        assert_eq!(shell_quote("it's"), r"'it'\''s'");
        assert_eq!(shell_quote("$(id)`id`"), "'$(id)`id`'");
    }

    #[test]
    fn ssh_failures_are_told_apart() {
        assert_eq!(classify(Some(0), ""), Outcome::Ok);
        assert_eq!(
            classify(Some(255), "alice@h: Permission denied (publickey)."),
            Outcome::KeyRefused
        );
        assert_eq!(
            classify(
                Some(255),
                "ssh: connect to host 127.0.0.9 port 22: Connection refused\n"
            ),
            Outcome::Unreachable(
                "ssh: connect to host 127.0.0.9 port 22: Connection refused".into()
            )
        );
        assert_eq!(
            classify(Some(127), "bash: proctorctl: command not found"),
            Outcome::NoProctor
        );
        assert_eq!(
            classify(
                Some(1),
                "proctorctl: permission denied: alice may not restart db"
            ),
            Outcome::Denied
        );
        assert_eq!(classify(Some(7), ""), Outcome::Failed(7));
        assert_eq!(
            classify(
                Some(2),
                "error: unexpected argument '--json' found\n\n  tip: 'status --json' exists\n"
            ),
            Outcome::TooOld("error: unexpected argument '--json' found".into())
        );
        assert_eq!(
            classify(Some(2), "error: unrecognized subcommand 'hosts'\n"),
            Outcome::TooOld("error: unrecognized subcommand 'hosts'".into())
        );
        assert_eq!(classify(None, ""), Outcome::TimedOut);
    }
}
