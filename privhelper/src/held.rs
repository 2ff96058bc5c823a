//! Listening sockets that proctord holds for services (`[fcgi-program:x] socket=`, `sockets=`):
//! bound from proctord's own copy of the config (never from an order of controld), kept for as
//! long as the config names them, handed to each new instance, and never sent to controld. A
//! restart of the service leaves the socket open, so connections wait in its backlog.

use proctor_config::model::{HeldSocket, SocketAddress};
use proctor_config::{Config, Diagnostic, ProgramConfig};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};

/// The sockets held now, by address.
#[derive(Default)]
pub struct Held {
    by_address: HashMap<SocketAddress, (HeldSocket, OwnedFd)>,
}

fn refused(s: &HeldSocket, section: &str, message: String) -> Diagnostic {
    Diagnostic {
        file: s.origin.file.clone(),
        line: s.origin.line,
        message: format!("[{section}] cannot hold {}: {message}", s.address),
    }
}

fn tcp(host: &str, port: u16, backlog: u32) -> Result<OwnedFd, String> {
    use nix::sys::socket::{
        bind, listen, setsockopt, socket, sockopt, AddressFamily, Backlog, SockFlag, SockType,
        SockaddrIn, SockaddrIn6,
    };
    // The config holds addresses only (and `localhost`): nothing here waits on DNS.
    let host = match host.trim_start_matches('[').trim_end_matches(']') {
        "localhost" => "127.0.0.1",
        h => h,
    };
    let ip: std::net::IpAddr = host
        .parse()
        .map_err(|_| format!("{host} is not an address"))?;
    let addr = SocketAddr::new(ip, port);
    let family = if addr.is_ipv4() {
        AddressFamily::Inet
    } else {
        AddressFamily::Inet6
    };
    let fd = socket(family, SockType::Stream, SockFlag::SOCK_CLOEXEC, None)
        .map_err(|e| format!("socket: {e}"))?;
    setsockopt(&fd, sockopt::ReuseAddr, &true).map_err(|e| format!("SO_REUSEADDR: {e}"))?;
    let bound = match addr {
        SocketAddr::V4(a) => bind(fd.as_raw_fd(), &SockaddrIn::from(a)),
        SocketAddr::V6(a) => bind(fd.as_raw_fd(), &SockaddrIn6::from(a)),
    };
    bound.map_err(|e| match e {
        nix::errno::Errno::EADDRINUSE => format!("{addr} is in use by another program"),
        nix::errno::Errno::EADDRNOTAVAIL => format!("{addr} is not an address of this host"),
        nix::errno::Errno::EACCES => {
            format!("binding {addr} needs CAP_NET_BIND_SERVICE, which proctord does not have")
        }
        e => format!("bind {addr}: {e}"),
    })?;
    let backlog = Backlog::new(i32::try_from(backlog).unwrap_or(i32::MAX))
        .map_err(|e| format!("backlog {backlog}: {e}"))?;
    listen(&fd, backlog).map_err(|e| format!("listen: {e}"))?;
    Ok(fd)
}

/// A unix socket at `path`, checked as the control socket is (a safe directory as root, no
/// other daemon answering), owned by `owner` (as root) with `mode`.
fn unix(
    s: &HeldSocket,
    path: &std::path::Path,
    owner: Option<(u32, u32)>,
    root: bool,
) -> Result<OwnedFd, String> {
    let fd = crate::control_socket::bind_socket(path, s.mode, root, |shown| {
        format!("another program already answers at {shown}")
    })?;
    if let Some((uid, gid)) = owner {
        // The directory was checked: nobody but root can swap the path under us.
        std::os::unix::fs::lchown(path, Some(uid), Some(gid))
            .map_err(|e| format!("chown {}: {e}", path.display()))?;
    }
    let backlog = nix::sys::socket::Backlog::new(i32::try_from(s.backlog).unwrap_or(i32::MAX))
        .map_err(|e| format!("backlog {}: {e}", s.backlog))?;
    // listen(2) again sets the backlog of a listening socket.
    nix::sys::socket::listen(&fd, backlog).map_err(|e| format!("listen: {e}"))?;
    Ok(fd)
}

/// `socket_owner` (`user[:group]`), else the program's user: uid and gid.
fn owner_of(s: &HeldSocket, program: &ProgramConfig) -> Result<Option<(u32, u32)>, String> {
    let spec = match (&s.owner, &program.user) {
        (Some(o), _) => o.clone(),
        (None, Some(u)) => u.clone(),
        (None, None) => return Ok(None),
    };
    let (user, group) = match spec.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (spec.as_str(), None),
    };
    let u = nix::unistd::User::from_name(user)
        .map_err(|e| format!("cannot look up socket_owner {user}: {e}"))?
        .ok_or_else(|| format!("socket_owner: user '{user}' does not exist"))?;
    let gid = match group {
        Some(g) => {
            nix::unistd::Group::from_name(g)
                .map_err(|e| format!("cannot look up socket_owner group {g}: {e}"))?
                .ok_or_else(|| format!("socket_owner: group '{g}' does not exist"))?
                .gid
        }
        None => u.gid,
    };
    Ok(Some((u.uid.as_raw(), gid.as_raw())))
}

impl Held {
    /// Holds what `config` names: keeps the sockets it still names (same address, backlog,
    /// owner and mode), binds the new ones, closes the rest. All or nothing: if one cannot be
    /// bound, what was held stays as it was (but for a unix socket whose owner or mode changed:
    /// the old one is closed first, its path being the new one's) and the error names the file
    /// and line. `as_root`:
    /// proctord has not dropped root yet (only then can it give a unix socket to another
    /// account).
    pub fn reconcile(&mut self, config: &Config, as_root: bool) -> Result<(), Diagnostic> {
        let mut fresh: HashMap<SocketAddress, (HeldSocket, OwnedFd)> = HashMap::new();
        for p in &config.programs {
            for s in &p.sockets {
                if let Some((held, _)) = self.by_address.get(&s.address) {
                    if held_same(held, s) {
                        continue;
                    }
                }
                let section = p.section();
                let fd = match &s.address {
                    SocketAddress::Tcp { host, port } => tcp(host, *port, s.backlog),
                    SocketAddress::Unix { path } => {
                        let owner = owner_of(s, p).map_err(|m| refused(s, &section, m))?;
                        let me = nix::unistd::geteuid().as_raw();
                        if !as_root && owner.is_some_and(|(uid, _)| uid != me) {
                            return Err(refused(
                                s,
                                &section,
                                "a unix socket for another account is created only as root, \
                                 when proctord starts: restart proctord to add it"
                                    .into(),
                            ));
                        }
                        // A socket being replaced (new owner or mode) goes first: its path is
                        // the new one's.
                        self.by_address.remove(&s.address);
                        unix(s, path, owner, as_root || me == 0)
                    }
                }
                .map_err(|m| refused(s, &section, m))?;
                fresh.insert(s.address.clone(), (s.clone(), crate::sys::keep_high(fd)));
            }
        }
        let wanted: std::collections::HashSet<&SocketAddress> = config
            .programs
            .iter()
            .flat_map(|p| p.sockets.iter().map(|s| &s.address))
            .collect();
        self.by_address.retain(|a, _| wanted.contains(a));
        self.by_address.extend(fresh);
        Ok(())
    }

    /// The fds of `program`'s sockets, in its order; `None` if one is not held (the program is
    /// of a config that is no longer current and names a socket that was closed since).
    pub fn fds_of(&self, program: &ProgramConfig) -> Option<Vec<RawFd>> {
        program
            .sockets
            .iter()
            .map(|s| {
                self.by_address
                    .get(&s.address)
                    .filter(|(h, _)| held_same(h, s))
                    .map(|(_, fd)| fd.as_raw_fd())
            })
            .collect()
    }
}

/// The same socket, whatever names it and wherever it is written.
fn held_same(a: &HeldSocket, b: &HeldSocket) -> bool {
    a.address == b.address && a.backlog == b.backlog && a.owner == b.owner && a.mode == b.mode
}
