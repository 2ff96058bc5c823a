//! Printing replies the way supervisorctl does, and choosing exit codes.

use crate::client::{self, Connection};
use crate::{EXIT_FAILURE, EXIT_NOT_RUNNING, EXIT_UNREACHABLE};
use proctor_api::control::{ErrorKind, ProcessInfo, Request, Response};
use std::io::Write;
use std::path::Path;

fn error_exit(kind: ErrorKind, message: &str) -> u8 {
    eprintln!("proctorctl: {message}");
    match kind {
        ErrorKind::BadName | ErrorKind::PermissionDenied | ErrorKind::Busy => EXIT_UNREACHABLE,
        _ => EXIT_FAILURE,
    }
}

/// Prints what the policy made a request skip, and returns the answer for the rest.
fn unwrap_partial(r: Response) -> Response {
    match r {
        Response::Partial { skipped, response } => {
            eprintln!(
                "proctorctl: skipped (permission denied): {}",
                skipped.join(", ")
            );
            *response
        }
        other => other,
    }
}

fn unreachable(msg: String) -> u8 {
    eprintln!("proctorctl: {msg}");
    EXIT_UNREACHABLE
}

pub fn status(socket: &Path, req: Request, json: bool) -> u8 {
    let infos = match client::call(socket, req).map(unwrap_partial) {
        Ok(Response::Status(infos)) => infos,
        Ok(Response::Error { kind, message }) => return error_exit(kind, &message),
        Ok(other) => return unreachable(format!("unexpected reply: {other:?}")),
        Err(e) => return unreachable(e),
    };
    if json {
        let list: Vec<serde_json::Value> = infos.iter().map(json_of).collect();
        println!("{}", serde_json::Value::Array(list));
    } else {
        let width = infos
            .iter()
            .map(|i| i.namespec.len())
            .max()
            .unwrap_or(0)
            .max(32);
        let mut out = std::io::stdout().lock();
        for i in &infos {
            let _ = writeln!(
                out,
                "{:width$} {:<10}{}",
                i.namespec,
                i.state.name(),
                i.description
            );
        }
    }
    if infos.iter().all(|i| i.state.is_running()) {
        0
    } else {
        EXIT_NOT_RUNNING
    }
}

fn json_of(i: &ProcessInfo) -> serde_json::Value {
    serde_json::json!({
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

pub fn tail(socket: &Path, req: Request) -> u8 {
    tail_with(socket, req, |b| b.to_vec())
}

/// As [`tail`], each chunk printed as `render` makes it.
pub fn tail_with(socket: &Path, req: Request, render: impl Fn(&[u8]) -> Vec<u8>) -> u8 {
    let mut c = match Connection::open(socket) {
        Ok(c) => c,
        Err(e) => return unreachable(e),
    };
    let mut out = std::io::stdout();
    let mut first = Some(req);
    loop {
        let next = match first.take() {
            Some(req) => c.send_then_recv(req),
            None => c.recv(),
        };
        match next {
            Ok(Response::TailChunk(bytes)) => {
                if out
                    .write_all(&render(&bytes))
                    .and_then(|()| out.flush())
                    .is_err()
                {
                    return 0;
                }
            }
            Ok(Response::TailEnd) => return 0,
            Ok(Response::Error { kind, message }) => return error_exit(kind, &message),
            Ok(other) => return unreachable(format!("unexpected reply: {other:?}")),
            Err(e) => return unreachable(e),
        }
    }
}

/// Events as people read them: `EVENTNAME PROCESS PAYLOAD`, one per line.
pub fn event_lines(chunk: &[u8]) -> Vec<u8> {
    let mut out = String::new();
    for line in String::from_utf8_lossy(chunk).lines() {
        match serde_json::from_str::<serde_json::Value>(line) {
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

pub fn simple(socket: &Path, req: Request) -> u8 {
    let is_reread = matches!(req, Request::Reread);
    let is_update = matches!(req, Request::Update { .. });
    let is_reload = matches!(req, Request::ReloadPolicy);
    let resp = match client::call(socket, req) {
        Ok(r) => unwrap_partial(r),
        Err(e) => return unreachable(e),
    };
    match resp {
        Response::Actions(results) => {
            if results.is_empty() && is_update {
                println!("No config updates to processes");
            }
            let mut code = 0;
            for r in results {
                if r.ok() {
                    println!("{}: {}", r.name, r.message);
                } else {
                    eprintln!("{}: {}", r.name, r.message);
                    code = EXIT_FAILURE;
                }
            }
            code
        }
        Response::Pids(pids) => {
            for (name, pid) in pids {
                match pid {
                    Some(p) => println!("{name} {p}"),
                    None => println!("{name} -"),
                }
            }
            0
        }
        Response::Reread(diff) => {
            if is_reread
                && diff.added.is_empty()
                && diff.changed.is_empty()
                && diff.removed.is_empty()
            {
                println!("No config updates to processes");
            }
            for g in diff.added {
                println!("{g}: available");
            }
            for g in diff.changed {
                println!("{g}: changed");
            }
            for g in diff.removed {
                println!("{g}: disappeared");
            }
            0
        }
        Response::Avail(list) => {
            let width = list.iter().map(|a| a.name.len()).max().unwrap_or(0).max(20);
            for a in list {
                println!(
                    "{:width$} {:<8}{:<10}{}:{}",
                    a.name,
                    if a.in_use { "in use" } else { "avail" },
                    if a.autostart { "auto" } else { "manual" },
                    a.group_priority,
                    a.priority
                );
            }
            0
        }
        Response::Version(v) => {
            println!("{v}");
            0
        }
        Response::Done => {
            println!(
                "{}",
                if is_reload {
                    "Policy reloaded"
                } else {
                    "Shut down"
                }
            );
            0
        }
        Response::Error { kind, message } => error_exit(kind, &message),
        other => unreachable(format!("unexpected reply: {other:?}")),
    }
}

/// `proctorctl web`: the login link, and how to reach it.
pub fn web_link(socket: &Path, port: u16) -> u8 {
    match client::call(socket, Request::WebLink) {
        Ok(Response::WebLink { token, expires_in }) => {
            println!("http://localhost:{port}/login?token={token}");
            eprintln!(
                "Open it once, within {expires_in} s, in a browser whose localhost:{port} is \
                 forwarded to {} (ssh -L {port}:{} HOST).",
                socket.display(),
                socket.display()
            );
            0
        }
        Ok(Response::Error { kind, message }) => error_exit(kind, &message),
        Ok(other) => unreachable(format!("unexpected reply: {other:?}")),
        Err(e) => unreachable(e),
    }
}
