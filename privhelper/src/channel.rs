//! proctord's end of the SOCK_SEQPACKET socketpair to controld: fixed-size orders in, postcard
//! messages (with pipe fds) out.

use nix::sys::socket::{sendmsg, ControlMessage, MsgFlags};
use proctor_sandbox::fdpass;
use proctor_wire::helper::MAX_HELPER_MSG;
use proctor_wire::ids::Seq;
use proctor_wire::order::{Order, OrderError, ORDER_LEN};
use std::io::{self, IoSlice};
use std::os::fd::{AsRawFd, OwnedFd, RawFd};

pub struct Channel {
    fd: OwnedFd,
}

/// What one datagram from controld turned out to be.
pub enum Incoming {
    Order(Order),
    /// Not an order: refused, logged, and the connection kept (a stray record is no reason to
    /// lose every service).
    Invalid {
        seq: Seq,
        error: OrderError,
    },
    /// controld closed its end.
    Closed,
    /// Nothing to read right now.
    WouldBlock,
}

impl Channel {
    pub fn new(fd: OwnedFd) -> Channel {
        Channel { fd }
    }

    pub fn as_fd(&self) -> std::os::fd::BorrowedFd<'_> {
        use std::os::fd::AsFd;
        self.fd.as_fd()
    }

    pub fn recv(&self) -> io::Result<Incoming> {
        // One byte more than an order, so an oversized datagram shows as too long rather than
        // silently cut to size.
        let mut buf = [0u8; ORDER_LEN + 1];
        let got = match fdpass::recv(self.fd.as_raw_fd(), &mut buf, MsgFlags::MSG_DONTWAIT) {
            Ok(got) => got,
            Err(nix::errno::Errno::EAGAIN | nix::errno::Errno::EINTR) => {
                return Ok(Incoming::WouldBlock)
            }
            Err(e) => return Err(e.into()),
        };
        let (len, truncated) = (got.len, got.data_cut);
        // Orders never carry fds: whatever came is closed here, unread.
        let had_fds = !got.fds.is_empty() || got.fds_cut;
        drop(got.fds);
        if len == 0 && !truncated && !had_fds {
            return Ok(Incoming::Closed);
        }
        let seq = Seq(if len >= 8 {
            u32::from_le_bytes([buf[4], buf[5], buf[6], buf[7]])
        } else {
            0
        });
        let invalid = |error| Ok(Incoming::Invalid { seq, error });
        if had_fds {
            return invalid(OrderError::Fds);
        }
        if truncated {
            return invalid(OrderError::Length(ORDER_LEN as u32 + 1));
        }
        match Order::decode(&buf[..len]) {
            Ok(order) => Ok(Incoming::Order(order)),
            Err(e) => invalid(e),
        }
    }

    /// Sends one encoded message without blocking: `Ok(false)` when the socket is full.
    pub fn send_bytes(&self, body: &[u8], fds: &[RawFd]) -> io::Result<bool> {
        if body.len() > MAX_HELPER_MSG {
            return Err(io::Error::other("helper message too large"));
        }
        let iov = [IoSlice::new(body)];
        let rights = [ControlMessage::ScmRights(fds)];
        let cmsgs: &[ControlMessage] = if fds.is_empty() { &[] } else { &rights };
        loop {
            match sendmsg::<()>(
                self.fd.as_raw_fd(),
                &iov,
                cmsgs,
                MsgFlags::MSG_NOSIGNAL | MsgFlags::MSG_DONTWAIT,
                None,
            ) {
                Ok(_) => return Ok(true),
                Err(nix::errno::Errno::EINTR) => continue,
                Err(nix::errno::Errno::EAGAIN) => return Ok(false),
                Err(e) => return Err(e.into()),
            }
        }
    }
}
