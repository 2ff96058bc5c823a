//! An event listener's two pipes: what it writes to stdout is logged and read as Supervisor's
//! listener protocol ([`proctor_events::Listener`]), and events reach it through its stdin.
//! The supervisor decides what goes where (`supervisor::pools`); this module only moves bytes.
//!
//! What a listener can make controld hold is bounded: one read of 64 KiB at a time,
//! the protocol's own caps (`MAX_LINE`, `MAX_RESULT`), and one message in flight to the
//! supervisor (the reader waits until the supervisor has taken it). A listener that writes a
//! gigabyte of garbage is UNKNOWN after its first line, and the rest only reaches its log.

use crate::logs::LogSink;
use crate::supervisor::{Event, Key};
use nix::errno::Errno;
use proctor_events::pool::Queued;
use proctor_events::{Listener, Step};
use proctor_wire::ids::ChildId;
use std::os::fd::OwnedFd;
use std::sync::{Arc, Mutex};
use tokio::sync::mpsc;
use tracing::warn;

/// A running listener's side of the protocol, as the supervisor keeps it.
pub struct ListenerLink {
    /// Fed by the task that reads the listener's stdout; told by the supervisor when an event
    /// was sent. Locked briefly by one or the other, never across an await.
    pub protocol: Arc<Mutex<Listener>>,
    /// The event sent and not answered yet (BUSY): sent again if the listener rejects it or
    /// dies first.
    pub in_flight: Option<Queued>,
    /// READY, as the supervisor has read the steps: only then may it be sent an event. The
    /// protocol's own state runs ahead (the reader feeds it as bytes come), so an event sent
    /// on that alone could go out before the answer to the last one is taken, and take its
    /// place in `in_flight`.
    pub ready: bool,
}

impl ListenerLink {
    /// A freshly spawned listener: ACKNOWLEDGED, waiting for its `READY`.
    pub fn new() -> ListenerLink {
        ListenerLink {
            protocol: Arc::new(Mutex::new(Listener::new())),
            in_flight: None,
            ready: false,
        }
    }
}

/// What a listener's stdout came to, for the supervisor: the steps of child `id` of `key`.
pub struct Said {
    pub key: Key,
    pub id: ChildId,
    pub steps: Vec<Step>,
}

/// Reads a listener's stdout until it closes: each chunk to its log, then through the
/// protocol; the steps go to the supervisor.
pub async fn read_stdout(
    fd: OwnedFd,
    sink: Arc<LogSink>,
    protocol: Arc<Mutex<Listener>>,
    tx: mpsc::Sender<Event>,
    key: Key,
    id: ChildId,
) {
    let _pumping = crate::logs::Pumping::start();
    let Ok(mut pipe) = tokio::net::unix::pipe::Receiver::from_owned_fd(fd) else {
        return;
    };
    crate::logs::open_sink(sink.clone()).await;
    loop {
        let Some(chunk) = crate::logs::read_chunk(&mut pipe, "an event listener's stdout").await
        else {
            return;
        };
        let steps = match protocol.lock() {
            Ok(mut l) => l.feed(&chunk),
            Err(_) => return,
        };
        let log = sink.clone();
        let _ = tokio::task::spawn_blocking(move || log.write(&chunk)).await;
        if !steps.is_empty() {
            let said = Said {
                key: key.clone(),
                id,
                steps,
            };
            if tx.send(Event::Listener(said)).await.is_err() {
                return;
            }
        }
    }
}

/// Writes an envelope to a listener's stdin without waiting: what the pipe takes now goes at
/// once, the rest (an envelope larger than the pipe) by a task of its own. `Err` only when the
/// listener has closed its stdin (EPIPE), which Supervisor takes as "try the next listener".
pub fn send(stdin: &Arc<OwnedFd>, envelope: Vec<u8>) -> Result<(), Errno> {
    use nix::fcntl::{fcntl, FcntlArg, OFlag};
    let flags = OFlag::from_bits_truncate(fcntl(stdin, FcntlArg::F_GETFL)?);
    if !flags.contains(OFlag::O_NONBLOCK) {
        fcntl(stdin, FcntlArg::F_SETFL(flags | OFlag::O_NONBLOCK))?;
    }
    let mut written = 0;
    while written < envelope.len() {
        match nix::unistd::write(stdin, &envelope[written..]) {
            Ok(n) => written += n,
            Err(Errno::EINTR) => continue,
            Err(Errno::EAGAIN) => break,
            Err(e) => return Err(e),
        }
    }
    if written < envelope.len() {
        let rest = envelope[written..].to_vec();
        let fd = stdin.clone();
        tokio::spawn(async move {
            if let Err(e) = crate::stdin::write(&fd, &rest).await {
                warn!("sending an event to a listener: {e}");
            }
        });
    }
    Ok(())
}
