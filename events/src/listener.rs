//! One event listener's side of Supervisor's protocol, as supervisord 4.3 reads a listener's
//! stdout (`dispatchers.py`, `PEventListenerDispatcher.handle_listener_state_change`), byte for
//! byte: what it buffers, when it decides, and which state each sequence leads to. Pure: the
//! caller feeds it what the listener wrote and tells it when an event was sent, and acts on the
//! steps it returns (log lines, results, states).
//!
//! Where proctor differs on purpose, it is stricter and bounded: a result length must be a
//! non-negative integer of at most [`MAX_RESULT`] (supervisord accepts a negative one and then
//! recurses until Python gives up), and what a listener may make controld hold is capped
//! ([`MAX_LINE`]): a line or a result longer than that is a protocol violation (UNKNOWN).

/// supervisord's `EventListenerStates`, with its numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListenerState {
    Ready,
    Busy,
    Acknowledged,
    Unknown,
}

impl ListenerState {
    pub fn name(self) -> &'static str {
        match self {
            ListenerState::Ready => "READY",
            ListenerState::Busy => "BUSY",
            ListenerState::Acknowledged => "ACKNOWLEDGED",
            ListenerState::Unknown => "UNKNOWN",
        }
    }

    pub fn code(self) -> u16 {
        match self {
            ListenerState::Ready => 10,
            ListenerState::Busy => 20,
            ListenerState::Acknowledged => 30,
            ListenerState::Unknown => 40,
        }
    }
}

/// What the listener's bytes came to, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// The listener moved to this state.
    State(ListenerState),
    /// It answered the event in flight: `OK` (processed) or anything else (rejected: the
    /// event goes back to the head of its pool's queue).
    Result { ok: bool, body: Vec<u8> },
    /// Its `RESULT` line could not be read: the event in flight is rejected, and the listener
    /// is UNKNOWN. The line, as supervisord logs it (`NAME: bad result line: '...'`).
    BadResultLine(String),
}

/// `READY\n`: the listener may be sent an event.
const READY: &[u8] = b"READY\n";
/// The length of `RESULT `, which supervisord drops from the result line without looking.
const RESULT_PREFIX_LEN: usize = 7;
/// The longest result body accepted (supervisord's listeners send `OK` or `FAIL`).
pub const MAX_RESULT: usize = 64 * 1024;
/// The most a listener may leave unanswered in the buffer: a result line longer than this
/// is a violation.
pub const MAX_LINE: usize = 64 * 1024;

#[derive(Debug)]
pub struct Listener {
    state: ListenerState,
    buffer: Vec<u8>,
    result_len: Option<usize>,
    result: Vec<u8>,
}

impl Default for Listener {
    fn default() -> Listener {
        Listener::new()
    }
}

impl Listener {
    /// A freshly spawned listener: ACKNOWLEDGED, a busy state awaiting its first `READY\n`.
    pub fn new() -> Listener {
        Listener {
            state: ListenerState::Acknowledged,
            buffer: Vec::new(),
            result_len: None,
            result: Vec::new(),
        }
    }

    pub fn state(&self) -> ListenerState {
        self.state
    }

    /// The bytes it holds of what the listener wrote: never more than [`MAX_LINE`] and
    /// [`MAX_RESULT`] together.
    pub fn held(&self) -> usize {
        self.buffer.len() + self.result.len()
    }

    /// An event was written to its stdin (only ever to a READY listener): BUSY.
    pub fn sent(&mut self) -> Step {
        self.state = ListenerState::Busy;
        Step::State(self.state)
    }

    /// What the listener wrote to stdout since the last call.
    pub fn feed(&mut self, data: &[u8]) -> Vec<Step> {
        let mut steps = Vec::new();
        if data.is_empty() {
            return steps;
        }
        self.buffer.extend_from_slice(data);
        self.decide(&mut steps);
        steps
    }

    fn enter(&mut self, state: ListenerState, steps: &mut Vec<Step>) {
        self.state = state;
        steps.push(Step::State(state));
    }

    /// supervisord's `handle_listener_state_change`, its recursion as a loop: each pass either
    /// decides something and goes on with what is left, or waits for more.
    fn decide(&mut self, steps: &mut Vec<Step>) {
        while !self.buffer.is_empty() {
            match self.state {
                ListenerState::Unknown => {
                    self.buffer.clear();
                    return;
                }
                ListenerState::Acknowledged => {
                    if self.buffer.len() < READY.len() {
                        return;
                    }
                    if self.buffer.starts_with(READY) {
                        self.buffer.drain(..READY.len());
                        self.enter(ListenerState::Ready, steps);
                    } else {
                        self.buffer.clear();
                        self.enter(ListenerState::Unknown, steps);
                        return;
                    }
                }
                // Anything said while nothing is asked breaks the protocol.
                ListenerState::Ready => {
                    self.buffer.clear();
                    self.enter(ListenerState::Unknown, steps);
                    return;
                }
                ListenerState::Busy => {
                    if !self.busy(steps) {
                        return;
                    }
                }
            }
        }
    }

    /// One pass in BUSY; false to wait for more bytes.
    fn busy(&mut self, steps: &mut Vec<Step>) -> bool {
        let Some(len) = self.result_len else {
            let Some(pos) = self.buffer.iter().position(|b| *b == b'\n') else {
                if self.buffer.len() > MAX_LINE {
                    let shown = shown(&self.buffer[..MAX_LINE.min(80)]);
                    self.bad_line(shown, steps);
                }
                return false;
            };
            let line: Vec<u8> = self.buffer.drain(..=pos).take(pos).collect();
            match line.get(RESULT_PREFIX_LEN..).and_then(python_int) {
                Some(n) if n <= MAX_RESULT => self.result_len = Some(n),
                _ => self.bad_line(shown(&line), steps),
            }
            // supervisord reads the body on its next pass, and makes one only while bytes
            // are left: a `RESULT 0\n` alone is answered when the next byte arrives.
            return true;
        };
        let needed = len - self.result.len();
        let take = needed.min(self.buffer.len());
        self.result.extend(self.buffer.drain(..take));
        if self.result.len() == len {
            let body = std::mem::take(&mut self.result);
            self.result_len = None;
            steps.push(Step::Result {
                ok: body == b"OK",
                body,
            });
            // Processed or rejected, the default result handler leaves it ACKNOWLEDGED.
            self.enter(ListenerState::Acknowledged, steps);
        }
        true
    }

    fn bad_line(&mut self, shown: String, steps: &mut Vec<Step>) {
        steps.push(Step::BadResultLine(shown));
        self.buffer.clear();
        self.result.clear();
        self.result_len = None;
        self.enter(ListenerState::Unknown, steps);
    }
}

/// A result line as supervisord logs it: as text, or `Undecodable: b'...'`.
fn shown(line: &[u8]) -> String {
    match std::str::from_utf8(line) {
        Ok(s) => s.to_owned(),
        Err(_) => format!("Undecodable: {}", python_bytes_repr(line)),
    }
}

/// Python's `repr()` of a bytes value, for what is not UTF-8: in single quotes, or in double
/// quotes when it holds a single quote and no double one, as Python chooses.
pub(crate) fn python_bytes_repr(b: &[u8]) -> String {
    let quote = if b.contains(&b'\'') && !b.contains(&b'"') {
        '"'
    } else {
        '\''
    };
    let mut out = format!("b{quote}");
    for &c in b {
        match c {
            b'\\' => out.push_str("\\\\"),
            b'\t' => out.push_str("\\t"),
            b'\n' => out.push_str("\\n"),
            b'\r' => out.push_str("\\r"),
            _ if char::from(c) == quote => {
                out.push('\\');
                out.push(quote);
            }
            0x20..=0x7e => out.push(char::from(c)),
            _ => out.push_str(&format!("\\x{c:02x}")),
        }
    }
    out.push(quote);
    out
}

/// Python's `int()` of bytes, for the non-negative values proctor accepts: surrounding ASCII
/// whitespace, an optional `+`, decimal digits with single underscores between them.
fn python_int(b: &[u8]) -> Option<usize> {
    let s = std::str::from_utf8(b).ok()?;
    let s = s.trim_matches(|c: char| c.is_ascii_whitespace() || c == '\x0b' || c == '\x0c');
    let s = s.strip_prefix('+').unwrap_or(s);
    if s.is_empty() || s.starts_with('_') || s.ends_with('_') || s.contains("__") {
        return None;
    }
    let mut n: usize = 0;
    for c in s.chars() {
        match c {
            '_' => {}
            '0'..='9' => {
                n = n.checked_mul(10)?.checked_add(c as usize - '0' as usize)?;
            }
            _ => return None,
        }
    }
    Some(n)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn python_int_as_python() {
        assert_eq!(python_int(b"2"), Some(2));
        assert_eq!(python_int(b" 2 "), Some(2));
        assert_eq!(python_int(b"+2"), Some(2));
        assert_eq!(python_int(b"1_0"), Some(10));
        assert_eq!(python_int(b"\t7\n"), Some(7));
        for bad in [
            &b""[..],
            b"x",
            b"1__0",
            b"_1",
            b"1_",
            b"0x10",
            b"-1",
            b"1.0",
            b"\xff",
        ] {
            assert_eq!(python_int(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn stricter_than_supervisord_on_purpose() {
        // A negative length: supervisord recurses until Python gives up; proctor refuses it.
        let mut l = Listener::new();
        l.feed(b"READY\n");
        l.sent();
        let steps = l.feed(b"RESULT -1\nOK");
        assert_eq!(
            steps,
            [
                Step::BadResultLine("RESULT -1".into()),
                Step::State(ListenerState::Unknown)
            ]
        );
        // A length past the cap, and a line that never ends.
        let mut l = Listener::new();
        l.feed(b"READY\n");
        l.sent();
        assert!(matches!(
            l.feed(b"RESULT 99999999\n")[0],
            Step::BadResultLine(_)
        ));
        let mut l = Listener::new();
        l.feed(b"READY\n");
        l.sent();
        assert!(l.feed(&vec![b'x'; MAX_LINE]).is_empty());
        assert!(matches!(l.feed(b"x")[0], Step::BadResultLine(_)));
        assert_eq!(l.state(), ListenerState::Unknown);
        assert!(l.buffer.capacity() > 0 && l.buffer.is_empty());
    }

    #[test]
    fn undecodable_lines_as_python_shows_them() {
        assert_eq!(shown(b"RESULT \xff"), "Undecodable: b'RESULT \\xff'");
    }
}
