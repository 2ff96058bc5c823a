//! Held sockets: `[fcgi-program:x] socket=` (Supervisor's) and `sockets=` (proctor's, for
//! services written for systemd's socket activation), with `socket_backlog`, `socket_owner`
//! and `socket_mode`. proctord binds them; this only reads and checks what the config says.

use crate::build::Sec;
use crate::model::{HeldSocket, Origin, SocketAddress};
use crate::values;
use crate::Diagnostic;
use std::collections::HashMap;

/// What `[fcgi-program:x]` accepts besides the program keys; `[program:x]` takes `sockets`
/// and these but `socket`.
pub(crate) const SOCKET_KEYS: &[&str] = &["socket_backlog", "socket_owner", "socket_mode"];

/// Supervisor's default backlog: Python's `socket.SOMAXCONN` (the kernel's, 4096 on Linux 5.4
/// and later).
const DEFAULT_BACKLOG: u32 = 4096;

/// `tcp://HOST:PORT` or `unix:///PATH`, as Supervisor's `get_socket_config` reads them.
fn address(key: &str, value: &str) -> Result<SocketAddress, String> {
    let value = value.trim();
    if let Some(rest) = value.strip_prefix("tcp://") {
        let (host, port) = rest
            .rsplit_once(':')
            .ok_or_else(|| values::bad(key, value, "tcp://HOST:PORT"))?;
        let port = port.parse::<u16>().ok().filter(|p| *p > 0).ok_or_else(|| {
            values::bad(key, value, "tcp://HOST:PORT with a port from 1 to 65535")
        })?;
        let host = match host.to_ascii_lowercase().as_str() {
            "" => return Err(values::bad(key, value, "tcp://HOST:PORT (a host, or *)")),
            "*" => "0.0.0.0".to_owned(),
            h => h.to_owned(),
        };
        return Ok(SocketAddress::Tcp { host, port });
    }
    if let Some(path) = value.strip_prefix("unix://") {
        if !path.starts_with('/') {
            return Err(values::bad(key, value, "unix:///ABSOLUTE/PATH"));
        }
        return Ok(SocketAddress::Unix {
            path: crate::build::normalize(std::path::Path::new(path)),
        });
    }
    Err(values::bad(key, value, "tcp://HOST:PORT or unix:///PATH"))
}

/// Sockets that earlier programs took: address → (program, where).
#[derive(Default)]
pub(crate) struct Taken(HashMap<SocketAddress, (String, Origin)>);

/// The sockets of a program: `socket=` for `[fcgi-program:x]`, `sockets=` for `[program:x]`.
pub(crate) fn sockets(
    sec: &Sec<'_>,
    section: &str,
    program: &str,
    fcgi: bool,
    taken: &mut Taken,
) -> Result<Vec<HeldSocket>, Diagnostic> {
    let key = if fcgi { "socket" } else { "sockets" };
    let Some((value, place)) = sec.expanded(key)? else {
        if fcgi {
            return Err(sec.at(
                sec.header(),
                format!("[{section}] has no socket= (tcp://HOST:PORT or unix:///PATH)"),
            ));
        }
        for k in SOCKET_KEYS {
            if let Some(e) = sec.get(k) {
                return Err(sec.at(
                    e.place(),
                    format!("[{section}] {k} without sockets=: it applies to held sockets"),
                ));
            }
        }
        return Ok(Vec::new());
    };
    let backlog = sec.parse("socket_backlog", DEFAULT_BACKLOG, |k, v| {
        values::unsigned(k, v, 1)
    })?;
    let mode = sec.parse("socket_mode", 0o700, values::octal)?;
    let owner = sec
        .expanded("socket_owner")?
        .map(|(v, _)| v.trim().to_owned())
        .filter(|v| !v.is_empty());
    let at = Origin {
        file: place.file.to_path_buf(),
        line: place.line,
    };
    let mut list = Vec::new();
    let entries: Vec<&str> = if fcgi {
        vec![value.trim()]
    } else {
        value
            .split([',', '\n'])
            .map(str::trim)
            .filter(|e| !e.is_empty())
            .collect()
    };
    if entries.is_empty() {
        return Err(sec.at(place, values::bad(key, &value, "one or more socket URLs")));
    }
    for entry in entries {
        // `NAME=URL` names it in LISTEN_FDNAMES; systemd's default is the unit's name.
        let (name, url) = match entry.split_once('=') {
            Some((n, u)) if !fcgi && !n.contains(':') => (n.trim().to_owned(), u.trim()),
            _ => (program.to_owned(), entry),
        };
        if name.is_empty() || !name.bytes().all(|b| b.is_ascii_graphic() && b != b':') {
            return Err(sec.at(
                place,
                format!(
                    "[{section}] {key}: '{name}' cannot be a socket's name (printable, no ':')"
                ),
            ));
        }
        let address = address(key, url).map_err(|m| sec.at(place, format!("[{section}] {m}")))?;
        if let Some((other, o)) = taken.0.get(&address) {
            return Err(sec.at(
                place,
                format!(
                    "[{section}] {key}: {address} is already held for [{other}] ({}:{}): a \
                     socket is one program's",
                    o.file.display(),
                    o.line
                ),
            ));
        }
        if matches!(address, SocketAddress::Tcp { .. }) {
            if let Some(k) = ["socket_owner", "socket_mode"]
                .iter()
                .find(|k| sec.get(k).is_some())
            {
                let p = sec.get(k).map_or(place, |e| e.place());
                return Err(sec.at(
                    p,
                    format!("[{section}] {k} is for unix sockets; {address} is TCP"),
                ));
            }
        }
        taken
            .0
            .insert(address.clone(), (section.to_owned(), at.clone()));
        list.push(HeldSocket {
            address,
            name,
            backlog,
            owner: owner.clone(),
            mode,
            origin: at.clone(),
        });
    }
    Ok(list)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn addresses_read_as_supervisor_writes_them() {
        assert_eq!(
            address("socket", "tcp://localhost:9002").unwrap(),
            SocketAddress::Tcp {
                host: "localhost".into(),
                port: 9002
            }
        );
        assert_eq!(
            address("socket", "tcp://*:80").unwrap(),
            SocketAddress::Tcp {
                host: "0.0.0.0".into(),
                port: 80
            }
        );
        assert_eq!(
            address("socket", "unix:///run/app//x.sock").unwrap(),
            SocketAddress::Unix {
                path: "/run/app/x.sock".into()
            }
        );
        for bad in [
            "tcp://:80",
            "tcp://h:0",
            "tcp://h",
            "unix://rel",
            "http://x:1",
            "",
        ] {
            assert!(address("socket", bad).is_err(), "{bad}");
        }
    }
}
