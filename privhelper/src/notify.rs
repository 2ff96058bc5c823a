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
    /// is unset, as when proctord is not started by systemd, or unreachable (a variable left
    /// over in a shell): that is said, and proctord runs on, as sd_notify's callers do.
    pub fn connect(env: &[(String, String)]) -> Notifier {
        let Some((_, name)) = env.iter().find(|(k, _)| k == "NOTIFY_SOCKET") else {
            return Notifier::default();
        };
        let connected = UnixDatagram::unbound().and_then(|socket| {
            match name.strip_prefix('@') {
                Some(abstract_name) => socket
                    .connect_addr(&SocketAddr::from_abstract_name(abstract_name.as_bytes())?)?,
                None => socket.connect(name)?,
            }
            Ok(socket)
        });
        match connected {
            Ok(socket) => Notifier {
                socket: Some(socket),
            },
            Err(e) => {
                warn!("NOTIFY_SOCKET={name}: {e}: systemd will not hear that proctor is ready");
                Notifier::default()
            }
        }
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
