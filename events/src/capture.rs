//! One output channel of a process as supervisord's `POutputDispatcher.record_output` reads it
//! when the channel has `*_capture_maxbytes` (capture mode): what is written between
//! `<!--XSUPERVISOR:BEGIN-->` and `<!--XSUPERVISOR:END-->` is kept apart (the last
//! `capture_maxbytes` of it, as Supervisor's `BoundIO` keeps it) and becomes a
//! PROCESS_COMMUNICATION event; the rest goes to the log. Every piece, captured or not, is also
//! what a PROCESS_LOG event carries when `*_events_enabled` is set. Pure: the caller feeds what
//! it read and acts on what comes out.
//!
//! Where proctor differs on purpose: at the end of the output, bytes held back because they
//! might begin a token are logged (supervisord never logs them).

pub const BEGIN: &[u8] = b"<!--XSUPERVISOR:BEGIN-->";
pub const END: &[u8] = b"<!--XSUPERVISOR:END-->";

/// What the bytes fed came to, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Out {
    /// Output for the log (and a PROCESS_LOG event).
    Log(Vec<u8>),
    /// Output kept for the communication under way (and a PROCESS_LOG event).
    Captured(Vec<u8>),
    /// A communication ended: a PROCESS_COMMUNICATION event with these bytes.
    Communication(Vec<u8>),
}

#[derive(Debug)]
pub struct Capture {
    /// 0: no capture mode; everything is logged as it comes.
    maxbytes: usize,
    capturing: bool,
    /// Read and not yet decided on: at most a token's length.
    pending: Vec<u8>,
    /// The communication under way, as supervisord's `BoundIO` holds it.
    captured: Vec<u8>,
}

impl Capture {
    pub fn new(maxbytes: usize) -> Capture {
        Capture {
            maxbytes,
            capturing: false,
            pending: Vec::new(),
            captured: Vec::new(),
        }
    }

    /// What the process wrote since the last call.
    pub fn feed(&mut self, data: &[u8]) -> Vec<Out> {
        let mut out = Vec::new();
        self.pending.extend_from_slice(data);
        if self.maxbytes == 0 {
            let all = std::mem::take(&mut self.pending);
            self.log(all, &mut out);
            return out;
        }
        // supervisord's recursion on what follows a token, as a loop.
        loop {
            let token = if self.capturing { END } else { BEGIN };
            if self.pending.len() <= token.len() {
                return out;
            }
            let data = std::mem::take(&mut self.pending);
            match find(&data, token) {
                None => {
                    let keep = prefix_at_end(&data, token);
                    let (now, later) = data.split_at(data.len() - keep);
                    self.pending = later.to_vec();
                    self.log(now.to_vec(), &mut out);
                    return out;
                }
                Some(at) => {
                    self.log(data[..at].to_vec(), &mut out);
                    self.toggle(&mut out);
                    self.pending = data[at + token.len()..].to_vec();
                    if self.pending.is_empty() {
                        return out;
                    }
                }
            }
        }
    }

    /// The bytes held back because they might begin a token: never more than a token's length.
    pub fn held_back(&self) -> usize {
        self.pending.len()
    }

    /// The output has ended: what was held back is logged.
    pub fn end(&mut self) -> Vec<Out> {
        let mut out = Vec::new();
        let rest = std::mem::take(&mut self.pending);
        self.log(rest, &mut out);
        out
    }

    /// supervisord's `_log`: to the capture buffer while capturing, else to the log.
    fn log(&mut self, data: Vec<u8>, out: &mut Vec<Out>) {
        if data.is_empty() {
            return;
        }
        if self.capturing {
            // BoundIO.write: past its size, it drops as many bytes from the front as come in.
            if self.captured.len() + data.len() > self.maxbytes {
                let drop = data.len().min(self.captured.len());
                self.captured.drain(..drop);
            }
            self.captured.extend_from_slice(&data);
            out.push(Out::Captured(data));
        } else {
            out.push(Out::Log(data));
        }
    }

    fn toggle(&mut self, out: &mut Vec<Out>) {
        self.capturing = !self.capturing;
        if !self.capturing {
            out.push(Out::Communication(std::mem::take(&mut self.captured)));
        }
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// supervisord's `find_prefix_at_end`: the length of the longest proper prefix of `token` that
/// `data` ends with.
fn prefix_at_end(data: &[u8], token: &[u8]) -> usize {
    (1..token.len())
        .rev()
        .find(|&l| data.ends_with(&token[..l]))
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bytes(s: &str) -> Vec<u8> {
        s.as_bytes().to_vec()
    }

    #[test]
    fn a_communication_split_over_reads() {
        let mut c = Capture::new(100);
        // Up to a token's length, nothing is decided.
        assert_eq!(c.feed(b"hello <!--XSUPER"), []);
        let mut out = c.feed(b" and more <!--XSUPER");
        assert_eq!(out, [Out::Log(bytes("hello <!--XSUPER and more "))]);
        out = c.feed(b"VISOR:BEGIN-->the data<!--XSUPERVISOR:END-->after\n");
        assert_eq!(
            out,
            [
                Out::Captured(bytes("the data")),
                Out::Communication(bytes("the data")),
            ]
        );
        // What follows is shorter than a token: held, as supervisord holds it, until the end.
        assert_eq!(c.end(), [Out::Log(bytes("after\n"))]);
    }

    #[test]
    fn without_capture_everything_is_logged() {
        let mut c = Capture::new(0);
        assert_eq!(
            c.feed(b"<!--XSUPERVISOR:BEGIN-->x"),
            [Out::Log(bytes("<!--XSUPERVISOR:BEGIN-->x"))]
        );
    }

    #[test]
    fn the_held_back_prefix_is_logged_at_the_end() {
        let mut c = Capture::new(10);
        assert_eq!(
            c.feed(b"abcdefghijklmnopqrstuvwxyz<!--"),
            [Out::Log(bytes("abcdefghijklmnopqrstuvwxyz"))]
        );
        assert_eq!(c.end(), [Out::Log(bytes("<!--"))]);
    }
}
