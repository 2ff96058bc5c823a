//! Load on the control socket: C concurrent clients, each sending R requests the way proctorctl
//! does (a new connection per request), all of them `signal SIG NAME`, an audited mutating
//! request that goes all the way to proctord. Prints one JSON line: requests, errors, wall
//! seconds, requests per second and the p50/p99/max latency in milliseconds.
//!
//! Usage: control-load SOCKET CLIENTS REQUESTS SIGNAL NAME
#![forbid(unsafe_code)]

use proctor_api::control::{
    read_frame, write_frame, ClientFrame, Request, Response, CONTROL_PROTOCOL_VERSION, MAX_RESPONSE,
};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::time::{Duration, Instant};

fn one(socket: &PathBuf, signal: &str, name: &str) -> Result<(), String> {
    let mut s = UnixStream::connect(socket).map_err(|e| format!("connect: {e}"))?;
    let frame = ClientFrame {
        version: CONTROL_PROTOCOL_VERSION,
        request: Request::Signal {
            signal: signal.to_owned(),
            names: vec![name.to_owned()],
        },
    };
    write_frame(&mut s, &frame).map_err(|e| format!("send: {e}"))?;
    let body = read_frame(&mut s, MAX_RESPONSE)
        .map_err(|e| format!("recv: {e}"))?
        .ok_or("closed without a reply")?;
    match proctor_wire::decode_exact::<Response>(&body) {
        Ok(Response::Actions(a)) if a.iter().all(|r| r.ok) => Ok(()),
        Ok(other) => Err(format!("{other:?}")),
        Err(e) => Err(format!("malformed reply: {e}")),
    }
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)].as_secs_f64() * 1000.0
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let parsed = (
        args.get(1).map(PathBuf::from),
        args.get(2).and_then(|s| s.parse::<usize>().ok()),
        args.get(3).and_then(|s| s.parse::<usize>().ok()),
        args.get(4),
        args.get(5),
    );
    let (Some(socket), Some(clients), Some(requests), Some(signal), Some(name)) = parsed else {
        eprintln!("usage: control-load SOCKET CLIENTS REQUESTS SIGNAL NAME");
        std::process::exit(2);
    };
    let start = Instant::now();
    let threads: Vec<_> = (0..clients)
        .map(|_| {
            let (socket, signal, name) = (socket.clone(), signal.clone(), name.clone());
            std::thread::spawn(move || {
                let mut lat = Vec::with_capacity(requests);
                let mut errors = Vec::new();
                for _ in 0..requests {
                    let t = Instant::now();
                    match one(&socket, &signal, &name) {
                        Ok(()) => lat.push(t.elapsed()),
                        Err(e) => errors.push(e),
                    }
                }
                (lat, errors)
            })
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
