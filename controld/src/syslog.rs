//! `stdout_syslog` / `stderr_syslog` and `audit_syslog`: each line also goes to the local
//! syslog (`/dev/log`, RFC 3164 framing, facility daemon, severity info), tagged with the
//! process name.
//!
//! Syslog is a copy, never the record: the socket is non-blocking, so a syslog daemon that has
//! fallen behind costs lines (counted, and said in the daemon log), never a wait of the log
//! pump or the audit writer. A syslog daemon that restarts makes a new `/dev/log`: the socket
//! is connected again, at most once a second.

use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use tracing::{info, warn};

pub struct Syslog {
    path: PathBuf,
    socket: Option<UnixDatagram>,
    /// The last attempt to connect, and how long to wait before the next.
    tried: Option<Instant>,
    retry: Duration,
    /// Lines not sent and not yet reported in the daemon log.
    dropped: u64,
    /// The last time the daemon log was told about dropped lines: at most once per
    /// [`NOTICE_EVERY`], so a syslog near full does not flood it.
    noticed: Option<Instant>,
    tag: String,
    partial: Vec<u8>,
}

/// Longest line sent as one record; longer lines are split.
const MAX_LINE: usize = 2048;
const DEV_LOG: &str = "/dev/log";
const NOTICE_EVERY: Duration = Duration::from_secs(10);

impl Syslog {
    pub fn new(tag: &str) -> Syslog {
        Syslog::at(Path::new(DEV_LOG), tag, Duration::from_secs(1))
    }

    fn at(path: &Path, tag: &str, retry: Duration) -> Syslog {
        let mut s = Syslog {
            path: path.to_path_buf(),
            socket: None,
            tried: None,
            retry,
            dropped: 0,
            noticed: None,
            tag: tag.to_owned(),
            partial: Vec::new(),
        };
        s.reconnect();
        s
    }

    pub fn send_lines(&mut self, data: &[u8]) {
        self.partial.extend_from_slice(data);
        while let Some(pos) = self.partial.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = self.partial.drain(..=pos).collect();
            self.send(&line[..line.len() - 1]);
        }
        while self.partial.len() > MAX_LINE {
            let line: Vec<u8> = self.partial.drain(..MAX_LINE).collect();
            self.send(&line);
        }
    }

    fn reconnect(&mut self) {
        if self.tried.is_some_and(|t| t.elapsed() < self.retry) {
            return;
        }
        self.tried = Some(Instant::now());
        self.socket = UnixDatagram::unbound()
            .and_then(|s| s.set_nonblocking(true).map(|()| s))
            .and_then(|s| s.connect(&self.path).map(|()| s))
            .ok();
    }

    fn send(&mut self, line: &[u8]) {
        // <30> = facility daemon (3) * 8 + severity info (6).
        let mut rec = format!("<30>{}: ", self.tag).into_bytes();
        rec.extend_from_slice(line);
        if self.socket.is_none() {
            self.reconnect();
        }
        let mut sent = self.socket.as_ref().map(|s| s.send(&rec));
        if let Some(Err(e)) = &sent {
            if e.kind() != std::io::ErrorKind::WouldBlock {
                // The syslog daemon went away (restarted, most likely): its new socket, once.
                self.socket = None;
                self.reconnect();
                sent = self.socket.as_ref().map(|s| s.send(&rec));
            }
        }
        let due = self.noticed.is_none_or(|t| t.elapsed() >= NOTICE_EVERY);
        match sent {
            Some(Ok(_)) => {
                if self.dropped > 0 && due {
                    info!(
                        "syslog ({}): {} lines of {} were not sent",
                        self.path.display(),
                        self.dropped,
                        self.tag
                    );
                    self.dropped = 0;
                    self.noticed = Some(Instant::now());
                }
            }
            _ => {
                if self.dropped == 0 && due {
                    warn!(
                        "syslog ({}) does not take the lines of {}: they are dropped (the \
                         log files keep them) until it does",
                        self.path.display(),
                        self.tag
                    );
                    self.noticed = Some(Instant::now());
                }
                self.dropped += 1;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn recv(r: &UnixDatagram) -> String {
        r.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut buf = [0u8; 4096];
        let n = r.recv(&mut buf).unwrap();
        String::from_utf8_lossy(&buf[..n]).into_owned()
    }

    #[test]
    fn a_restarted_syslog_is_found_again_and_a_stuck_one_costs_no_wait() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log");
        let first = UnixDatagram::bind(&path).unwrap();
        let mut s = Syslog::at(&path, "web", Duration::ZERO);
        s.send_lines(b"one\n");
        assert_eq!(recv(&first), "<30>web: one");
        // The daemon restarts: a new socket at the same path.
        drop(first);
        std::fs::remove_file(&path).unwrap();
        let second = UnixDatagram::bind(&path).unwrap();
        s.send_lines(b"two\n");
        assert_eq!(recv(&second), "<30>web: two");
        assert_eq!(s.dropped, 0);
        // A daemon that reads nothing: the queue fills, and sending goes on without waiting.
        let t = Instant::now();
        for _ in 0..20_000 {
            s.send_lines(b"more\n");
        }
        assert!(s.dropped > 0);
        assert!(t.elapsed() < Duration::from_secs(10));
        // Gone altogether: dropped, counted, no error.
        drop(second);
        std::fs::remove_file(&path).unwrap();
        let before = s.dropped;
        s.send_lines(b"three\n");
        assert_eq!(s.dropped, before + 1);
    }
}
