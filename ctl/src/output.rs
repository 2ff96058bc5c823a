//! Printing replies the way supervisorctl does, and choosing exit codes.

use crate::client::{self, Connection};
use crate::json;
use crate::{EXIT_FAILURE, EXIT_NOT_RUNNING, EXIT_UNREACHABLE};
use proctor_api::control::{ErrorKind, ProcessInfo, Request, Response};
use serde_json::{json, Value};
use std::io::Write;
use std::path::Path;

/// How a command's answer is printed: as supervisorctl does, or as `--json` lines (the command's
/// name then).
#[derive(Clone, Copy)]
pub struct Out {
    pub json: Option<&'static str>,
}

impl Out {
    /// Says why on stderr (and in the last JSON line) and returns `exit`.
    pub fn fail(self, kind: &str, exit: u8, message: &str) -> u8 {
        eprintln!("proctorctl: {message}");
        if let Some(c) = self.json {
            json::failed(c, exit, kind, message);
        }
        exit
    }

    fn error(self, kind: ErrorKind, message: &str) -> u8 {
        let exit = match kind {
            ErrorKind::BadName | ErrorKind::PermissionDenied | ErrorKind::Busy => EXIT_UNREACHABLE,
            _ => EXIT_FAILURE,
        };
        self.fail(json::error_kind(kind), exit, message)
    }

    fn unreachable(self, message: String) -> u8 {
        self.fail("unreachable", EXIT_UNREACHABLE, &message)
    }

    fn unexpected(self, r: &Response) -> u8 {
        self.fail(
            "unexpected_reply",
            EXIT_UNREACHABLE,
            &format!("unexpected reply: {r:?}"),
        )
    }

    /// In JSON mode, the last line; either way, `exit`.
    fn done(self, exit: u8, result: impl FnOnce() -> Value, skipped: &[String]) -> u8 {
        if let Some(c) = self.json {
            json::done(c, exit, result(), skipped);
        }
        exit
    }
}

/// What the policy made a request skip (said on stderr), and the answer for the rest.
fn unwrap_partial(r: Response) -> (Response, Vec<String>) {
    match r {
        Response::Partial { skipped, response } => {
            eprintln!(
                "proctorctl: skipped (permission denied): {}",
                skipped.join(", ")
            );
            (*response, skipped)
        }
        other => (other, Vec::new()),
    }
}

pub fn status(socket: &Path, req: Request, out: Out) -> u8 {
    let (infos, skipped) = match client::call(socket, req).map(unwrap_partial) {
        Ok((Response::Status(infos), skipped)) => (infos, skipped),
        Ok((Response::Error { kind, message }, _)) => return out.error(kind, &message),
        Ok((other, _)) => return out.unexpected(&other),
        Err(e) => return out.unreachable(e),
    };
    let code = if infos.iter().all(|i| i.state.is_running()) {
        0
    } else {
        EXIT_NOT_RUNNING
    };
    if out.json.is_some() {
        return out.done(code, || infos.iter().map(json_of).collect(), &skipped);
    }
    let width = infos
        .iter()
        .map(|i| i.namespec.len())
        .max()
        .unwrap_or(0)
        .max(32);
    let mut stdout = std::io::stdout().lock();
    for i in &infos {
        let _ = writeln!(
            stdout,
            "{:width$} {:<10}{}",
            i.namespec,
            i.state.name(),
            i.description
        );
    }
    code
}

fn json_of(i: &ProcessInfo) -> Value {
    json!({
        "name": i.namespec,
        "process": i.name,
        "group": i.group,
        "state": i.state.name(),
        "statecode": i.state.code(),
        "pid": i.pid,
        "exitstatus": i.exitstatus,
        "start": i.start,
        "stop": i.stop,
        "now": i.now,
        "uptime": if i.state.is_running() && i.start > 0 { Some(i.now.saturating_sub(i.start)) } else { None },
        "spawnerr": i.spawnerr,
        "description": i.description,
        "stdout_logfile": i.stdout_logfile,
        "stderr_logfile": i.stderr_logfile,
        "log_bytes_lost": i.log_bytes_lost,
    })
}

/// What a stream carries: a log's bytes, or JSON lines (events, audit records).
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    Text,
    /// Events: shown to people as `EVENTNAME PROCESS PAYLOAD`.
    Events,
    /// Audit records: shown as written.
    Records,
}

/// A log, events or audit records, until the daemon ends the stream (or, following, forever).
pub fn tail(socket: &Path, req: Request, stream: Stream, out: Out) -> u8 {
    let mut c = match Connection::open(socket) {
        Ok(c) => c,
        Err(e) => return out.unreachable(e),
    };
    let mut stdout = std::io::stdout();
    let mut lines = json::Lines::default();
    let mut first = Some(req);
    loop {
        let next = match first.take() {
            Some(req) => c.send_then_recv(req),
            None => c.recv(),
        };
        match next {
            Ok(Response::TailChunk(bytes)) => {
                if let Some(command) = out.json {
                    stream_json(command, stream, &bytes, &mut lines);
                    continue;
                }
                let shown = match stream {
                    Stream::Events => event_lines(&bytes),
                    Stream::Text | Stream::Records => bytes,
                };
                if stdout
                    .write_all(&shown)
                    .and_then(|()| stdout.flush())
                    .is_err()
                {
                    return 0;
                }
            }
            Ok(Response::TailEnd) => {
                if let (Some(command), Some(rest)) = (out.json, lines.rest()) {
                    stream_json(command, stream, format!("{rest}\n").as_bytes(), &mut lines);
                }
                return out.done(0, || Value::Null, &[]);
            }
            Ok(Response::Error { kind, message }) => return out.error(kind, &message),
            Ok(other) => return out.unexpected(&other),
            Err(e) => return out.unreachable(e),
        }
    }
}

fn stream_json(command: &str, stream: Stream, bytes: &[u8], lines: &mut json::Lines) {
    let key = match stream {
        Stream::Text => {
            json::line(command, json!({ "text": String::from_utf8_lossy(bytes) }));
            return;
        }
        Stream::Events => "event",
        Stream::Records => "record",
    };
    for l in lines.push(bytes) {
        let v = serde_json::from_str::<Value>(&l).unwrap_or(Value::String(l));
        json::line(command, json!({ key: v }));
    }
}

/// Events as people read them: `EVENTNAME PROCESS PAYLOAD`, one per line.
pub fn event_lines(chunk: &[u8]) -> Vec<u8> {
    let mut out = String::new();
    for line in String::from_utf8_lossy(chunk).lines() {
        match serde_json::from_str::<Value>(line) {
            Ok(v) if v.get("eventname").is_some() => {
                let field = |k: &str| v[k].as_str().unwrap_or_default().to_owned();
                out.push_str(&format!(
                    "{} {} {}\n",
                    field("eventname"),
                    field("process"),
                    field("payload").replace('\n', " ")
                ));
            }
            _ => {
                out.push_str(line);
                out.push('\n');
            }
        }
    }
    out.into_bytes()
}

pub fn simple(socket: &Path, req: Request, out: Out) -> u8 {
    let is_reread = matches!(req, Request::Reread);
    let is_update = matches!(req, Request::Update { .. });
    let is_reload = matches!(req, Request::ReloadPolicy);
    let (resp, skipped) = match client::call(socket, req) {
        Ok(r) => unwrap_partial(r),
        Err(e) => return out.unreachable(e),
    };
    let human = out.json.is_none();
    match resp {
        Response::Actions(results) => {
            if human && results.is_empty() && is_update {
                println!("No config updates to processes");
            }
            let code = if results.iter().all(|r| r.ok()) {
                0
            } else {
                EXIT_FAILURE
            };
            if human {
                for r in &results {
                    if r.ok() {
                        println!("{}: {}", r.name, r.message);
                    } else {
                        eprintln!("{}: {}", r.name, r.message);
                    }
                }
            }
            let list = || {
                results
                    .iter()
                    .map(|r| {
                        json!({
                            "name": r.name,
                            "ok": r.ok(),
                            "code": json::action_code(r.code),
                            "message": r.message,
                        })
                    })
                    .collect()
            };
            out.done(code, list, &skipped)
        }
        Response::Pids(pids) => {
            if human {
                for (name, pid) in &pids {
                    match pid {
                        Some(p) => println!("{name} {p}"),
                        None => println!("{name} -"),
                    }
                }
            }
            let list = || {
                pids.iter()
                    .map(|(name, pid)| json!({ "name": name, "pid": pid }))
                    .collect()
            };
            out.done(0, list, &skipped)
        }
        Response::Reread(diff) => {
            if human {
                if is_reread
                    && diff.added.is_empty()
                    && diff.changed.is_empty()
                    && diff.removed.is_empty()
                {
                    println!("No config updates to processes");
                }
                for g in &diff.added {
                    println!("{g}: available");
                }
                for g in &diff.changed {
                    println!("{g}: changed");
                }
                for g in &diff.removed {
                    println!("{g}: disappeared");
                }
            }
            let result =
                || json!({ "added": diff.added, "changed": diff.changed, "removed": diff.removed });
            out.done(0, result, &skipped)
        }
        Response::Avail(list) => {
            if human {
                let width = list.iter().map(|a| a.name.len()).max().unwrap_or(0).max(20);
                for a in &list {
                    println!(
                        "{:width$} {:<8}{:<10}{}:{}",
                        a.name,
                        if a.in_use { "in use" } else { "avail" },
                        if a.autostart { "auto" } else { "manual" },
                        a.group_priority,
                        a.priority
                    );
                }
            }
            let result = || {
                list.iter()
                    .map(|a| {
                        json!({
                            "name": a.name,
                            "in_use": a.in_use,
                            "autostart": a.autostart,
                            "group_priority": a.group_priority,
                            "priority": a.priority,
                        })
                    })
                    .collect()
            };
            out.done(0, result, &skipped)
        }
        Response::Version(v) => {
            if human {
                println!("{v}");
            }
            let result = || {
                json!({
                    "daemon": v,
                    "proctorctl": env!("CARGO_PKG_VERSION"),
                    "schema": json::SCHEMA,
                })
            };
            out.done(0, result, &skipped)
        }
        Response::Done => {
            if human {
                println!(
                    "{}",
                    if is_reload {
                        "Policy reloaded"
                    } else {
                        "Shut down"
                    }
                );
            }
            out.done(0, || Value::Null, &skipped)
        }
        Response::Error { kind, message } => out.error(kind, &message),
        other => out.unexpected(&other),
    }
}

/// `proctorctl web`: the login link, and how to reach it.
pub fn web_link(socket: &Path, port: u16, out: Out) -> u8 {
    match client::call(socket, Request::WebLink) {
        Ok(Response::WebLink { token, expires_in }) => {
            let link = format!("http://localhost:{port}/login?token={token}");
            if out.json.is_none() {
                println!("{link}");
            }
            eprintln!(
                "Open it once, within {expires_in} s, in a browser whose localhost:{port} is \
                 forwarded to {} (ssh -L {port}:{} HOST).",
                socket.display(),
                socket.display()
            );
            out.done(0, || json!({ "link": link, "expires_in": expires_in }), &[])
        }
        Ok(Response::Error { kind, message }) => out.error(kind, &message),
        Ok(other) => out.unexpected(&other),
        Err(e) => out.unreachable(e),
    }
}
