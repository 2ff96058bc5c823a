//! Load on the control socket, for the benchmark and the attack tests. Each request is a new
//! connection, as proctorctl makes. Prints one JSON line.
//!
//! - `control-load SOCKET CLIENTS REQUESTS SIGNAL NAME`: C concurrent clients, each sending R
//!   `signal SIG NAME` requests (audited, mutating, all the way to proctord), every one of
//!   which must succeed: requests, errors, wall seconds, requests per second and the p50/p99/max
//!   latency in milliseconds.
//! - `control-load --status SOCKET REQUESTS`: one client asking `status` of everything, one
//!   request after the other: the same figures.
//! - `control-load --flood SOCKET CLIENTS SECS NAME...`: C clients sending `stop NAME...` as
//!   fast as they can for SECS seconds, whatever the answers: how many requests were answered,
//!   by kind of answer.
//! - `control-load --hold SOCKET N`: opens N connections and sends nothing; half a second later,
//!   prints how many are held and how many were turned away as busy (with their messages), then
//!   holds the rest until its stdin closes.
#![forbid(unsafe_code)]

use proctor_api::control::{
    read_frame, write_frame, ClientFrame, ErrorKind, Request, Response, CONTROL_PROTOCOL_VERSION,
    MAX_RESPONSE,
};
use std::collections::BTreeMap;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

fn ask(socket: &Path, request: Request) -> Result<Response, String> {
    let mut s = UnixStream::connect(socket).map_err(|e| format!("connect: {e}"))?;
    let frame = ClientFrame {
        version: CONTROL_PROTOCOL_VERSION,
        request,
    };
    write_frame(&mut s, &frame).map_err(|e| format!("send: {e}"))?;
    let body = read_frame(&mut s, MAX_RESPONSE)
        .map_err(|e| format!("recv: {e}"))?
        .ok_or("closed without a reply")?;
    proctor_wire::decode_exact::<Response>(&body).map_err(|e| format!("malformed reply: {e}"))
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)].as_secs_f64() * 1000.0
}

/// Runs `clients` threads of `work`, each returning its latencies and errors, and prints the
/// figures.
fn timed_clients(
    clients: usize,
    work: impl Fn() -> (Vec<Duration>, Vec<String>) + Send + Sync + 'static,
) {
    let start = Instant::now();
    let work = std::sync::Arc::new(work);
    let threads: Vec<_> = (0..clients)
        .map(|_| {
            let work = work.clone();
            std::thread::spawn(move || work())
        })
        .collect();
    let mut lat = Vec::new();
    let mut errors = Vec::new();
    for t in threads {
        match t.join() {
            Ok((l, e)) => {
                lat.extend(l);
                errors.extend(e);
            }
            Err(_) => errors.push("client thread panicked".into()),
        }
    }
    let secs = start.elapsed().as_secs_f64();
    lat.sort();
    if let Some(e) = errors.first() {
        eprintln!("control-load: {} errors; the first: {e}", errors.len());
    }
    println!(
        "{{\"requests\": {}, \"errors\": {}, \"secs\": {secs:.4}, \"rps\": {:.1}, \"p50_ms\": {:.3}, \"p99_ms\": {:.3}, \"max_ms\": {:.3}}}",
        lat.len(),
        errors.len(),
        lat.len() as f64 / secs,
        percentile(&lat, 0.50),
        percentile(&lat, 0.99),
        percentile(&lat, 1.0),
    );
}

fn kind_of(r: &Result<Response, String>) -> String {
    match r {
        Ok(Response::Error { kind, .. }) => match kind {
            ErrorKind::PermissionDenied => "denied",
            ErrorKind::Busy => "busy",
            ErrorKind::BadName => "bad_name",
            ErrorKind::Failed => "failed",
            _ => "other_error",
        }
        .to_owned(),
        Ok(_) => "ok".to_owned(),
        Err(_) => "io_error".to_owned(),
    }
}

fn flood(socket: PathBuf, clients: usize, secs: u64, names: Vec<String>) {
    let until = Instant::now() + Duration::from_secs(secs);
    let threads: Vec<_> = (0..clients)
        .map(|_| {
            let (socket, names) = (socket.clone(), names.clone());
            std::thread::spawn(move || {
                let mut kinds: BTreeMap<String, u64> = BTreeMap::new();
                while Instant::now() < until {
                    let r = ask(
                        &socket,
                        Request::Stop {
                            names: names.clone(),
                            wait: true,
                        },
                    );
                    *kinds.entry(kind_of(&r)).or_default() += 1;
                }
                kinds
            })
        })
        .collect();
    let mut kinds: BTreeMap<String, u64> = BTreeMap::new();
    for t in threads {
        for (k, n) in t.join().unwrap_or_default() {
            *kinds.entry(k).or_default() += n;
        }
    }
    let fields: Vec<String> = kinds.iter().map(|(k, n)| format!("\"{k}\": {n}")).collect();
    println!(
        "{{\"requests\": {}, {}}}",
        kinds.values().sum::<u64>(),
        fields.join(", ")
    );
}

fn hold(socket: &Path, n: usize) {
    let conns: Vec<UnixStream> = (0..n)
        .filter_map(|_| UnixStream::connect(socket).ok())
        .collect();
    std::thread::sleep(Duration::from_millis(500));
    let (mut held, mut busy) = (0, 0);
    let mut messages = std::collections::BTreeSet::new();
    for c in &conns {
        let _ = c.set_read_timeout(Some(Duration::from_millis(1)));
        match read_frame(&mut &*c, MAX_RESPONSE) {
            Ok(Some(body)) => match proctor_wire::decode_exact::<Response>(&body) {
                Ok(Response::Error {
                    kind: ErrorKind::Busy,
                    message,
                }) => {
                    busy += 1;
                    messages.insert(message);
                }
                other => {
                    messages.insert(format!("unexpected: {other:?}"));
                }
            },
            // Nothing to read: held, and waiting for a request.
            _ => held += 1,
        }
    }
    let quoted: Vec<String> = messages.iter().map(|m| format!("{m:?}")).collect();
    println!(
        "{{\"held\": {held}, \"busy\": {busy}, \"messages\": [{}]}}",
        quoted.join(", ")
    );
    use std::io::{Read, Write};
    let _ = std::io::stdout().flush();
    let _ = std::io::stdin().read_to_end(&mut Vec::new());
    drop(conns);
}

fn usage() -> ! {
    eprintln!(
        "usage: control-load SOCKET CLIENTS REQUESTS SIGNAL NAME\n       \
         control-load --status SOCKET REQUESTS\n       \
         control-load --flood SOCKET CLIENTS SECS NAME...\n       \
         control-load --hold SOCKET N"
    );
    std::process::exit(2);
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let num = |i: usize| -> usize {
        args.get(i)
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| usage())
    };
    let socket = |i: usize| PathBuf::from(args.get(i).unwrap_or_else(|| usage()));
    match args.first().map(String::as_str) {
        Some("--status") => {
            let (socket, requests) = (socket(1), num(2));
            timed_clients(1, move || {
                let (mut lat, mut errors) = (Vec::new(), Vec::new());
                for _ in 0..requests {
                    let t = Instant::now();
                    match ask(&socket, Request::Status { names: Vec::new() }) {
                        Ok(Response::Status(_)) => lat.push(t.elapsed()),
                        other => errors.push(format!("{other:?}")),
                    }
                }
                (lat, errors)
            });
        }
        Some("--hold") => hold(&socket(1), num(2)),
        Some("--flood") => {
            let names: Vec<String> = args.iter().skip(4).cloned().collect();
            if names.is_empty() {
                usage();
            }
            flood(socket(1), num(2), num(3) as u64, names);
        }
        Some(_) => {
            let (socket, clients, requests) = (socket(0), num(1), num(2));
            let (Some(signal), Some(name)) = (args.get(3).cloned(), args.get(4).cloned()) else {
                usage()
            };
            timed_clients(clients, move || {
                let (mut lat, mut errors) = (Vec::with_capacity(requests), Vec::new());
                for _ in 0..requests {
                    let t = Instant::now();
                    let r = ask(
                        &socket,
                        Request::Signal {
                            signal: signal.clone(),
                            names: vec![name.clone()],
                        },
                    );
                    match r {
                        Ok(Response::Actions(a)) if a.iter().all(|r| r.ok()) => {
                            lat.push(t.elapsed())
                        }
                        other => errors.push(format!("{other:?}")),
                    }
                }
                (lat, errors)
            });
        }
        None => usage(),
    }
}
