//! Messages for controld that its socket has not accepted yet (it may be busy or stopped).
//! proctord never blocks on controld: what does not fit now waits for POLLOUT.

use crate::channel::Channel;
use proctor_wire::helper::{HelperMsg, MAX_HELPER_MSG};
use proctor_wire::refusal::Refusal;
use std::collections::VecDeque;
use std::os::fd::{AsRawFd, OwnedFd};
use tracing::{debug, error};

struct Outgoing {
    bytes: Vec<u8>,
    fds: Vec<OwnedFd>,
}

#[derive(Default)]
pub struct Outbox {
    queue: VecDeque<Outgoing>,
}

impl Outbox {
    /// Encodes `msg` with the fds it declares, to be sent in order.
    pub fn push(&mut self, msg: &HelperMsg, fds: Vec<OwnedFd>) {
        match postcard::to_stdvec(msg) {
            Ok(bytes) if bytes.len() <= MAX_HELPER_MSG => {
                self.queue.push_back(Outgoing { bytes, fds });
                return;
            }
            Ok(bytes) => error!("dropping a message for controld of {} bytes", bytes.len()),
            Err(e) => error!("cannot encode a message for controld: {e}"),
        }
        // controld waits for an answer to every order: it gets one it can decode.
        if let Some(seq) = msg.answers() {
            let refusal = Refusal::Unsendable;
            if let Ok(bytes) = postcard::to_stdvec(&HelperMsg::Refused { seq, refusal }) {
                self.queue.push_back(Outgoing {
                    bytes,
                    fds: Vec::new(),
                });
            }
        }
    }

    pub fn is_empty(&self) -> bool {
        self.queue.is_empty()
    }

    /// Forgets every message: they were for a controld that has died.
    pub fn clear(&mut self) {
        self.queue.clear();
    }

    /// Sends what the socket accepts now.
    pub fn flush(&mut self, channel: &Channel) {
        while let Some(out) = self.queue.front() {
            let raw: Vec<i32> = out.fds.iter().map(|f| f.as_raw_fd()).collect();
            match channel.send_bytes(&out.bytes, &raw) {
                Ok(true) => {
                    self.queue.pop_front();
                }
                Ok(false) => return,
                Err(e) => {
                    // controld is gone; the reaper notices and restarts it.
                    debug!("send to controld: {e}");
                    return;
                }
            }
        }
    }
}
