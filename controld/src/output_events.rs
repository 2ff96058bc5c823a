//! A service's output channel that makes events (`*_events_enabled`, `*_capture_maxbytes`): read
//! by controld itself rather than spliced into its log, through Supervisor's capture mode
//! ([`proctor_events::capture`]); what is not captured goes to the log, and the events
//! (PROCESS_LOG_*, PROCESS_COMMUNICATION_*) to the supervisor. Channels without either keep the
//! zero-copy path.

use crate::events::Who;
use crate::logs::{read_chunk, LogSink};
use crate::supervisor::Event;
use proctor_events::capture::{Capture, Out};
use proctor_events::event::{self, Kind};
use std::os::fd::OwnedFd;
use std::sync::Arc;
use tokio::sync::mpsc;

/// An event about a process, as the supervisor publishes it.
pub struct Notice {
    pub kind: Kind,
    pub payload: String,
    pub who: Who,
}

/// What a channel's events need to say.
pub struct Tap {
    /// `stdout` or `stderr`.
    pub channel: &'static str,
    pub log_events: bool,
    pub capture_maxbytes: usize,
    pub who: Who,
    pub pid: u32,
}

impl Tap {
    fn notices(&self, outs: &[Out]) -> Vec<Notice> {
        let stdout = self.channel == "stdout";
        let mut notices = Vec::new();
        for o in outs {
            let (kind, payload) = match o {
                Out::Log(b) | Out::Captured(b) if self.log_events => {
                    let kind = if stdout {
                        Kind::ProcessLogStdout
                    } else {
                        Kind::ProcessLogStderr
                    };
                    let payload = event::process_log(
                        &self.who.name,
                        &self.who.group,
                        self.pid,
                        self.channel,
                        b,
                    );
                    (kind, payload)
                }
                Out::Communication(b) => {
                    let kind = if stdout {
                        Kind::ProcessCommunicationStdout
                    } else {
                        Kind::ProcessCommunicationStderr
                    };
                    let payload =
                        event::process_communication(&self.who.name, &self.who.group, self.pid, b);
                    (kind, payload)
                }
                _ => continue,
            };
            notices.push(Notice {
                kind,
                payload,
                who: self.who.clone(),
            });
        }
        notices
    }
}

/// Reads the channel until it closes.
pub async fn read(fd: OwnedFd, sink: Arc<LogSink>, tap: Tap, tx: mpsc::Sender<Event>) {
    let _pumping = crate::logs::Pumping::start();
    let Ok(mut pipe) = tokio::net::unix::pipe::Receiver::from_owned_fd(fd) else {
        return;
    };
    crate::logs::open_sink(sink.clone()).await;
    let mut capture = Capture::new(tap.capture_maxbytes);
    loop {
        let chunk = read_chunk(&mut pipe, "a service's output").await;
        let outs = match &chunk {
            Some(c) => capture.feed(c),
            None => capture.end(),
        };
        let logged: Vec<u8> = outs
            .iter()
            .filter_map(|o| match o {
                Out::Log(b) => Some(b.as_slice()),
                _ => None,
            })
            .flatten()
            .copied()
            .collect();
        if !logged.is_empty() {
            let log = sink.clone();
            let _ = tokio::task::spawn_blocking(move || log.write(&logged)).await;
        }
        let notices = tap.notices(&outs);
        if !notices.is_empty() && tx.send(Event::Notices(notices)).await.is_err() {
            return;
        }
        if chunk.is_none() {
            return;
        }
    }
}
