//! Receiving one datagram and the file descriptors that came with it (SCM_RIGHTS), the one way
//! both daemons (and the test stand-in for controld) do it. Every descriptor that arrives is
//! owned at once, so none can leak whatever the caller then decides: there is room for as many
//! as the kernel passes in one message, and when the kernel could install only some (the
//! process is out of fds), those are still owned and closed.

use crate::sys::recvmsg_fds;
use nix::sys::socket::MsgFlags;
use std::os::fd::{OwnedFd, RawFd};

pub struct Received {
    /// Bytes of the datagram in the buffer.
    pub len: usize,
    /// The datagram was longer than the buffer (MSG_TRUNC).
    pub data_cut: bool,
    /// The kernel could not install every fd sent (MSG_CTRUNC: this process is out of fds).
    pub fds_cut: bool,
    /// The fds it did install. Callers check how many they expected.
    pub fds: Vec<OwnedFd>,
}

/// One `recvmsg` into `buf`, without blocking when `flags` has MSG_DONTWAIT; fds are received
/// close-on-exec.
pub fn recv(fd: RawFd, buf: &mut [u8], flags: MsgFlags) -> nix::Result<Received> {
    let got = recvmsg_fds(fd, buf, flags.bits())?;
    Ok(Received {
        len: got.len,
        data_cut: got.flags & libc::MSG_TRUNC != 0,
        fds_cut: got.flags & libc::MSG_CTRUNC != 0,
        fds: got.fds,
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use nix::sys::socket::{
        sendmsg, socketpair, AddressFamily, ControlMessage, SockFlag, SockType,
    };
    use std::io::IoSlice;
    use std::os::fd::AsRawFd;

    fn pair() -> (OwnedFd, OwnedFd) {
        socketpair(
            AddressFamily::Unix,
            SockType::SeqPacket,
            None,
            SockFlag::SOCK_CLOEXEC,
        )
        .unwrap()
    }

    #[test]
    fn every_fd_sent_is_received_and_owned() {
        let (a, b) = pair();
        let devnull = std::fs::File::open("/dev/null").unwrap();
        let fds = [devnull.as_raw_fd(); 20];
        let rights = [ControlMessage::ScmRights(&fds)];
        sendmsg::<()>(
            a.as_raw_fd(),
            &[IoSlice::new(b"hello")],
            &rights,
            MsgFlags::empty(),
            None,
        )
        .unwrap();
        let mut buf = [0u8; 3];
        let got = recv(b.as_raw_fd(), &mut buf, MsgFlags::MSG_DONTWAIT).unwrap();
        assert_eq!((got.len, got.data_cut, got.fds_cut), (3, true, false));
        assert_eq!(got.fds.len(), 20);
        assert_eq!(&buf, b"hel");
    }

    #[test]
    fn nothing_to_read_and_a_closed_peer() {
        let (a, b) = pair();
        let mut buf = [0u8; 8];
        assert_eq!(
            recv(b.as_raw_fd(), &mut buf, MsgFlags::MSG_DONTWAIT).err(),
            Some(nix::errno::Errno::EAGAIN)
        );
        drop(a);
        let got = recv(b.as_raw_fd(), &mut buf, MsgFlags::MSG_DONTWAIT).unwrap();
        assert_eq!((got.len, got.fds.len()), (0, 0));
    }
}
