//! Receiving one datagram and the file descriptors that came with it (SCM_RIGHTS), the one way
//! both daemons (and the test stand-in for controld) do it. Every received fd is owned at once,
//! so none can leak whatever the caller then decides.

use crate::sys::received_fd;
use nix::sys::socket::{recvmsg, ControlMessageOwned, MsgFlags};
use std::io::IoSliceMut;
use std::os::fd::{OwnedFd, RawFd};

/// Room for as many fds as the kernel passes in one message (SCM_MAX_FD): control data is
/// never cut for want of room, so a peer cannot make fds arrive that nobody owns. Callers check
/// how many they expected.
const MAX_FDS: usize = 253;

pub struct Received {
    /// Bytes of the datagram in the buffer.
    pub len: usize,
    /// The datagram was longer than the buffer (MSG_TRUNC).
    pub data_cut: bool,
    /// The kernel dropped fds it could not install (MSG_CTRUNC: this process is out of fds).
    pub fds_cut: bool,
    pub fds: Vec<OwnedFd>,
}

/// One `recvmsg` into `buf`, without blocking when `flags` has MSG_DONTWAIT; fds are received
/// close-on-exec.
pub fn recv(fd: RawFd, buf: &mut [u8], flags: MsgFlags) -> nix::Result<Received> {
    let mut cmsg = nix::cmsg_space!([RawFd; MAX_FDS]);
    let mut iov = [IoSliceMut::new(buf)];
    let msg = recvmsg::<()>(
        fd,
        &mut iov,
        Some(&mut cmsg),
        flags | MsgFlags::MSG_CMSG_CLOEXEC,
    )?;
    let mut fds = Vec::new();
    // `cmsgs` refuses to parse cut control data; with room for SCM_MAX_FD that happens only
    // when the kernel could not install an fd (EMFILE), and then `fds_cut` says so.
    if let Ok(cmsgs) = msg.cmsgs() {
        for c in cmsgs {
            if let ControlMessageOwned::ScmRights(rights) = c {
                fds.extend(rights.into_iter().map(received_fd));
            }
        }
    }
    Ok(Received {
        len: msg.bytes,
        data_cut: msg.flags.contains(MsgFlags::MSG_TRUNC),
        fds_cut: msg.flags.contains(MsgFlags::MSG_CTRUNC),
        fds,
    })
}
