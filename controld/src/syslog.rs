//! `stdout_syslog` / `stderr_syslog`: each line of output also goes to the local syslog
//! (`/dev/log`, RFC 3164 framing, facility daemon, severity info), tagged with the process name.

use std::os::unix::net::UnixDatagram;

pub struct Syslog {
    socket: Option<UnixDatagram>,
    tag: String,
    partial: Vec<u8>,
}

/// Longest line sent as one record; longer lines are split.
const MAX_LINE: usize = 2048;

impl Syslog {
    pub fn new(tag: &str) -> Syslog {
        let socket = UnixDatagram::unbound()
            .and_then(|s| s.connect("/dev/log").map(|()| s))
            .ok();
        Syslog {
            socket,
            tag: tag.to_owned(),
            partial: Vec::new(),
        }
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

    fn send(&self, line: &[u8]) {
        let Some(s) = &self.socket else {
            return;
        };
        // <30> = facility daemon (3) * 8 + severity info (6).
        let mut rec = format!("<30>{}: ", self.tag).into_bytes();
        rec.extend_from_slice(line);
        let _ = s.send(&rec);
    }
}
