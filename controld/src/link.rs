//! controld's end of the socketpair to proctord: orders out, messages and pipe fds in.

use crate::sys;
use nix::sys::socket::{send, MsgFlags};
use proctor_sandbox::fdpass;
use proctor_wire::helper::{HelperMsg, MAX_HELPER_MSG};
use proctor_wire::order::Order;
use std::io;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use tokio::io::unix::AsyncFd;
use tokio::io::Interest;

pub struct Link {
    fd: AsyncFd<OwnedFd>,
}

impl Link {
    pub fn new(fd: OwnedFd) -> io::Result<Link> {
        nix::fcntl::fcntl(
            &fd,
            nix::fcntl::FcntlArg::F_SETFL(nix::fcntl::OFlag::O_NONBLOCK),
        )?;
        Ok(Link {
            fd: sys::async_fd(fd, Interest::READABLE | Interest::WRITABLE)?,
        })
    }

    pub async fn send(&self, order: &Order) -> io::Result<()> {
        let bytes = order.encode();
        loop {
            let mut guard = self.fd.writable().await?;
            match guard.try_io(|fd| {
                send(fd.as_raw_fd(), &bytes, MsgFlags::MSG_NOSIGNAL).map_err(io::Error::from)
            }) {
                Ok(r) => return r.map(|_| ()),
                Err(_would_block) => continue,
            }
        }
    }

    /// The next message with its fds; `Ok(None)` when proctord closed its end.
    pub async fn recv(&self) -> io::Result<Option<(HelperMsg, Vec<OwnedFd>)>> {
        loop {
            let mut guard = self.fd.readable().await?;
            match guard.try_io(|fd| recv_one(fd.as_raw_fd())) {
                Ok(r) => return r,
                Err(_would_block) => continue,
            }
        }
    }
}

fn recv_one(fd: RawFd) -> io::Result<Option<(HelperMsg, Vec<OwnedFd>)>> {
    let mut buf = vec![0u8; MAX_HELPER_MSG + 1];
    let got = fdpass::recv(fd, &mut buf, MsgFlags::MSG_DONTWAIT)?;
    // The kernel drops the fds of a message it cannot install (EMFILE) and says so with
    // MSG_CTRUNC. proctord keeps its own copies of every pipe, so a new controld gets them all:
    // exiting is how this one recovers them.
    if got.fds_cut {
        return Err(io::Error::other(
            "out of file descriptors (RLIMIT_NOFILE): the pipes proctord passed were dropped; \
             exiting so that a new proctor-controld takes every pipe over again",
        ));
    }
    let (len, fds) = (got.len, got.fds);
    if len == 0 && fds.is_empty() {
        return Ok(None);
    }
    if got.data_cut || len > MAX_HELPER_MSG {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "truncated message from proctord",
        ));
    }
    let msg: HelperMsg = proctor_wire::decode_exact(&buf[..len])
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, format!("bad message: {e}")))?;
    let expected = match &msg {
        HelperMsg::Hello { .. } | HelperMsg::Config { .. } => 1,
        HelperMsg::Spawned { pipes, .. }
        | HelperMsg::Child { pipes, .. }
        | HelperMsg::ExitedAway { pipes, .. } => pipes.count(),
        _ => 0,
    };
    if fds.len() != expected {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("message carried {} fds, expected {expected}", fds.len()),
        ));
    }
    Ok(Some((msg, fds)))
}

/// Reads the config proctord put in a sealed memfd.
pub fn read_config(fd: OwnedFd) -> io::Result<proctor_config::Config> {
    use std::io::{Read, Seek};
    const MAX_CONFIG: u64 = 256 * 1024 * 1024;
    let mut file = std::fs::File::from(fd);
    file.seek(io::SeekFrom::Start(0))?;
    let mut bytes = Vec::new();
    file.take(MAX_CONFIG).read_to_end(&mut bytes)?;
    proctor_wire::decode_exact(&bytes)
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, format!("bad config: {e}")))
}
