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
use std::io::Read;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub struct Settings {
    pub forks: usize,
    pub connect_timeout: u64,
    /// None: no limit (a command that follows).
    pub timeout: Option<Duration>,
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
    /// The command outlived `--timeout` and was killed.
    TimedOut,
}

impl Outcome {
    /// The exit status this host contributes; the worst wins.
    fn status(&self) -> i32 {
        match self {
            Outcome::Ok => 0,
            Outcome::Failed(c) => *c,
            Outcome::Denied => 1,
            Outcome::NoProctor => 127,
            Outcome::TimedOut => 124,
            Outcome::Unreachable(_) | Outcome::KeyRefused => 255,
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
            Outcome::TimedOut => "timed out".into(),
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
    match code {
        Some(0) => Outcome::Ok,
        Some(255) if lower.contains("permission denied (") => Outcome::KeyRefused,
        Some(255) => Outcome::Unreachable(
            stderr
                .lines()
                .rev()
                .find(|l| !l.trim().is_empty())
                .unwrap_or("ssh failed")
                .trim()
                .to_owned(),
        ),
        Some(126 | 127) => Outcome::NoProctor,
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
    stderr: String,
}

fn run_one(host: &Host, remote: &str, ssh: &[String], s: &Settings) -> Done {
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
    let failed = |why: String| Done {
        host: host.clone(),
        outcome: Outcome::Unreachable(why),
        stdout: String::new(),
        stderr: String::new(),
    };
    let mut child = match c.spawn() {
        Ok(c) => c,
        Err(e) => return failed(format!("cannot run {}: {e}", ssh[0])),
    };
    let stdout = read_all(child.stdout.take());
    let stderr = read_all(child.stderr.take());
    let started = Instant::now();
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
        std::thread::sleep(Duration::from_millis(20));
    };
    let stdout = String::from_utf8_lossy(&take(stdout)).into_owned();
    let stderr = String::from_utf8_lossy(&take(stderr)).into_owned();
    Done {
        host: host.clone(),
        outcome: classify(code, &stderr),
        stdout,
        stderr,
    }
}

/// A pipe read to its end on a thread of its own: what came so far, and word of the end.
struct Reading {
    got: Arc<Mutex<Vec<u8>>>,
    ended: std::sync::mpsc::Receiver<()>,
}

fn read_all(pipe: Option<impl Read + Send + 'static>) -> Reading {
    let got: Arc<Mutex<Vec<u8>>> = Arc::default();
    let (tx, ended) = std::sync::mpsc::channel();
    let into = got.clone();
    std::thread::spawn(move || {
        if let Some(mut p) = pipe {
            let mut buf = [0u8; 16 * 1024];
            while let Ok(n) = p.read(&mut buf) {
                if n == 0 {
                    break;
                }
                if let Ok(mut g) = into.lock() {
                    g.extend_from_slice(&buf[..n]);
                }
            }
        }
        let _ = tx.send(());
    });
    Reading { got, ended }
}

/// What a pipe's reader read, once ssh has exited. A process that ssh, or the command
/// `$PROCTOR_SSH` names, leaves in the background may hold the pipe open for as long as it
/// lives: what came within half a second of the exit is all.
fn take(r: Reading) -> Vec<u8> {
    let _ = r.ended.recv_timeout(Duration::from_millis(500));
    r.got.lock().map(|g| g.clone()).unwrap_or_default()
}

/// Runs `args` (proctorctl's own arguments, fan-out options removed) on every host, `forks` at
/// a time; prints each host's output with a `host: ` prefix (status: one table with a host
/// column, in the order given) and a summary; the worst host's exit status.
pub fn run(hosts: Vec<Host>, args: &[String], table: bool, s: &Settings) -> u8 {
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
    let width = hosts.iter().map(|h| h.to_string().len()).max().unwrap_or(0);
    // Taken from the end: reversed, so that hosts start in the order given.
    let queue = Arc::new(Mutex::new(
        hosts.iter().cloned().enumerate().rev().collect::<Vec<_>>(),
    ));
    let results: Arc<Mutex<Vec<(usize, Done)>>> = Arc::default();
    let workers: Vec<_> = (0..s.forks.clamp(1, hosts.len().max(1)))
        .map(|_| {
            let (queue, results, ssh, remote) =
                (queue.clone(), results.clone(), ssh.clone(), remote.clone());
            let settings = Settings {
                forks: 1,
                connect_timeout: s.connect_timeout,
                timeout: s.timeout,
            };
            std::thread::spawn(move || loop {
                let next = queue.lock().ok().and_then(|mut q| q.pop());
                let Some((i, host)) = next else {
                    return;
                };
                let done = run_one(&host, &remote, &ssh, &settings);
                if !table {
                    print_host(&done, width, false);
                }
                if let Ok(mut r) = results.lock() {
                    r.push((i, done));
                }
            })
        })
        .collect();
    for w in workers {
        let _ = w.join();
    }
    let mut done = std::mem::take(&mut *results.lock().unwrap_or_else(|e| e.into_inner()));
    done.sort_by_key(|(i, _)| *i);
    if table {
        for (_, d) in &done {
            print_host(d, width, true);
        }
    }
    summary(&done)
}

fn print_host(d: &Done, width: usize, table: bool) {
    use std::io::Write;
    let name = d.host.to_string();
    let prefix = if table {
        format!("{name:<width$}  ")
    } else {
        format!("{name}: ")
    };
    let mut out = std::io::stdout().lock();
    for line in d.stdout.lines() {
        let _ = writeln!(out, "{prefix}{line}");
    }
    drop(out);
    let mut err = std::io::stderr().lock();
    for line in d.stderr.lines() {
        let _ = writeln!(err, "{name}: {line}");
    }
    if !matches!(
        d.outcome,
        Outcome::Ok | Outcome::Failed(_) | Outcome::Denied
    ) {
        let _ = writeln!(err, "{name}: {}", d.outcome.says());
    }
}

/// One line on stderr: how many hosts succeeded, failed, were unreachable; the worst status.
fn summary(done: &[(usize, Done)]) -> u8 {
    let count = |f: &dyn Fn(&Outcome) -> bool| done.iter().filter(|(_, d)| f(&d.outcome)).count();
    let ok = count(&|o| *o == Outcome::Ok);
    let unreachable = count(&|o| matches!(o, Outcome::Unreachable(_) | Outcome::KeyRefused));
    let failed = done.len() - ok - unreachable;
    let bad: Vec<String> = done
        .iter()
        .filter(|(_, d)| d.outcome != Outcome::Ok)
        .map(|(_, d)| format!("{} {}", d.host, d.outcome.says()))
        .collect();
    let detail = if bad.is_empty() {
        String::new()
    } else {
        format!(" ({})", bad.join("; "))
    };
    eprintln!(
        "proctorctl: {} hosts: {ok} succeeded, {failed} failed, {unreachable} unreachable{detail}",
        done.len()
    );
    let worst = done
        .iter()
        .map(|(_, d)| d.outcome.status())
        .max()
        .unwrap_or(0);
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
        assert_eq!(classify(None, ""), Outcome::TimedOut);
    }
}
