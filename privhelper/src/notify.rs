//! systemd's readiness protocol (`Type=notify`): `READY=1` once proctor-controld serves the
//! control socket, `STOPPING=1` when the shutdown begins. The datagram socket is connected
//! while proctord is still root and before its seccomp filter, so nothing later needs to open
//! or reach one; `NOTIFY_SOCKET` is kept from proctor-controld and every service (see
//! `main.rs`), so that none of them can speak for proctord.

use std::os::linux::net::SocketAddrExt;
use std::os::unix::net::{SocketAddr, UnixDatagram};
use tracing::warn;

#[derive(Default)]
pub struct Notifier {
    socket: Option<UnixDatagram>,
}

impl Notifier {
    /// The socket `$NOTIFY_SOCKET` names (a path, or `@name` for an abstract one); none when it
    /// is unset, as when proctord is not started by systemd.
    pub fn connect(env: &[(String, String)]) -> Result<Notifier, String> {
        let Some((_, name)) = env.iter().find(|(k, _)| k == "NOTIFY_SOCKET") else {
            return Ok(Notifier::default());
        };
        let failed = |e: std::io::Error| format!("NOTIFY_SOCKET={name}: {e}");
        let socket = UnixDatagram::unbound().map_err(failed)?;
        match name.strip_prefix('@') {
            Some(abstract_name) => {
                let addr =
                    SocketAddr::from_abstract_name(abstract_name.as_bytes()).map_err(failed)?;
                socket.connect_addr(&addr).map_err(failed)?;
            }
            None => socket.connect(name).map_err(failed)?,
        }
        Ok(Notifier {
            socket: Some(socket),
        })
    }

    /// Tells systemd `state` (`READY=1`, `STOPPING=1`). A failure is logged, never fatal: the
    /// services matter more than the notification.
    pub fn say(&self, state: &str) {
        if let Some(s) = &self.socket {
            if let Err(e) = s.send(format!("{state}\n").as_bytes()) {
                warn!("telling systemd {state}: {e}");
            }
        }
    }
}
