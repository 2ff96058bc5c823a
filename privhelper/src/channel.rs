//! proctord's end of the SOCK_SEQPACKET socketpair to controld: fixed-size orders in, postcard
//! messages (with pipe fds) out.

use nix::sys::socket::{recvmsg, sendmsg, ControlMessage, ControlMessageOwned, MsgFlags};
use proctor_wire::helper::MAX_HELPER_MSG;
use proctor_wire::ids::Seq;
use proctor_wire::order::{Order, OrderError, ORDER_LEN};
use std::io::{self, IoSlice, IoSliceMut};
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
        let mut cmsg = nix::cmsg_space!([RawFd; 4]);
        let (len, truncated, fds) = {
            let mut iov = [IoSliceMut::new(&mut buf)];
            let msg = match recvmsg::<()>(
                self.fd.as_raw_fd(),
                &mut iov,
                Some(&mut cmsg),
                MsgFlags::MSG_DONTWAIT | MsgFlags::MSG_CMSG_CLOEXEC,
            ) {
                Ok(m) => m,
                Err(nix::errno::Errno::EAGAIN) => return Ok(Incoming::WouldBlock),
                Err(nix::errno::Errno::EINTR) => return Ok(Incoming::WouldBlock),
                Err(e) => return Err(e.into()),
            };
            let mut fds = Vec::new();
            for c in msg.cmsgs().map_err(io::Error::from)? {
                if let ControlMessageOwned::ScmRights(rights) = c {
                    fds.extend(rights);
                }
            }
            let truncated = msg
                .flags
                .intersects(MsgFlags::MSG_TRUNC | MsgFlags::MSG_CTRUNC);
            (msg.bytes, truncated, fds)
        };
        let had_fds = !fds.is_empty();
        for fd in fds {
            // SAFETY-free ownership: the kernel gave us these fds; wrap and drop closes them.
            drop(own(fd));
        }
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

fn own(fd: RawFd) -> OwnedFd {
    crate::sys::own_fd(fd)
}
