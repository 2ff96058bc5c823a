//! `slow-link HOST PORT MS`: a TCP connection on stdin/stdout, each byte delivered MS ms after it
//! came, both ways: a network of round trip 2 x MS for bench.py's many-hosts scenario, as ssh's
//! `ProxyCommand slow-link %h %p MS`. (The kernel here has no netem.) Order is kept; bandwidth is
//! not limited.
#![forbid(unsafe_code)]

use std::io::{Read, Write};
use std::net::{Shutdown, TcpStream};
use std::process::ExitCode;
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// Copies `from` to `to`, each chunk `delay` after it was read; `done` when `from` ends.
fn delayed(
    mut from: impl Read + Send + 'static,
    mut to: impl Write + Send + 'static,
    delay: Duration,
    done: impl FnOnce() + Send + 'static,
) -> std::thread::JoinHandle<()> {
    let (tx, rx) = mpsc::channel::<(Instant, Vec<u8>)>();
    std::thread::spawn(move || {
        let mut buf = vec![0u8; 64 * 1024];
        while let Ok(n) = from.read(&mut buf) {
            if n == 0 || tx.send((Instant::now(), buf[..n].to_vec())).is_err() {
                break;
            }
        }
    });
    std::thread::spawn(move || {
        for (at, chunk) in rx {
            std::thread::sleep((at + delay).saturating_duration_since(Instant::now()));
            if to.write_all(&chunk).and_then(|()| to.flush()).is_err() {
                break;
            }
        }
        done();
    })
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (Some(host), Some(port), Some(ms)) = (
        args.first(),
        args.get(1).and_then(|p| p.parse::<u16>().ok()),
        args.get(2).and_then(|m| m.parse::<u64>().ok()),
    ) else {
        eprintln!("usage: slow-link HOST PORT MILLISECONDS");
        return ExitCode::from(2);
    };
    let stream = match TcpStream::connect((host.as_str(), port)) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("slow-link: {host}:{port}: {e}");
            return ExitCode::from(1);
        }
    };
    let _ = stream.set_nodelay(true);
    let delay = Duration::from_millis(ms);
    let (Ok(to_net), Ok(from_net), Ok(closer)) =
        (stream.try_clone(), stream.try_clone(), stream.try_clone())
    else {
        return ExitCode::from(1);
    };
    let up = delayed(std::io::stdin(), to_net, delay, move || {
        let _ = closer.shutdown(Shutdown::Write);
    });
    let down = delayed(from_net, std::io::stdout(), delay, || {});
    // ssh is done with the link when the server's side ends.
    let _ = down.join();
    drop(up);
    ExitCode::SUCCESS
}
