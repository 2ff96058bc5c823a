//! `[inet_http_server]`: proctord binds the TCP port (as root, so that 443 needs no capability
//! in controld) and opens the TLS certificate and key (as root, so that the key may be
//! root's alone), then hands the three to controld, which serves HTTP(S) on them. Bound once,
//! at start: a change to the section takes effect when proctord restarts.

use proctor_config::model::{host_is_loopback, InetServerConfig};
use std::net::{SocketAddr, TcpListener, ToSocketAddrs};
use std::os::fd::OwnedFd;

/// What controld is handed.
pub struct Inet {
    pub listener: OwnedFd,
    /// The certificate chain and the key, both PEM, when TLS is configured.
    pub tls: Option<(OwnedFd, OwnedFd)>,
}

/// The addresses `port=` names, refusing a name that resolves beyond the loopback without TLS.
fn addresses(inet: &InetServerConfig) -> Result<Vec<SocketAddr>, String> {
    let host = inet.host.trim_start_matches('[').trim_end_matches(']');
    let shown = format!(
        "{}: [inet_http_server] port={}:{}",
        inet.place, inet.host, inet.port
    );
    let all: Vec<SocketAddr> = (host, inet.port)
        .to_socket_addrs()
        .map_err(|e| format!("{shown}: cannot resolve {host}: {e}"))?
        .collect();
    if all.is_empty() {
        return Err(format!("{shown}: {host} has no address"));
    }
    if inet.tls.is_none() && !host_is_loopback(&inet.host) {
        if let Some(beyond) = all.iter().find(|a| !a.ip().is_loopback()) {
            return Err(format!(
                "{shown}: {host} is {}, beyond the loopback, and there is no TLS: passwords and \
                 session cookies would cross the network in clear. Add tls_cert= and tls_key=, \
                 or bind 127.0.0.1",
                beyond.ip()
            ));
        }
    }
    Ok(all)
}

pub fn bind(inet: &InetServerConfig) -> Result<Inet, String> {
    let addrs = addresses(inet)?;
    // As Supervisor, the first address that binds.
    let mut last = None;
    let mut bound = None;
    for a in &addrs {
        match TcpListener::bind(a) {
            Ok(l) => {
                bound = Some(l);
                break;
            }
            Err(e) => last = Some(format!("{a}: {e}")),
        }
    }
    let listener = bound.ok_or_else(|| {
        format!(
            "{}: [inet_http_server] cannot listen on port={}:{}: {}",
            inet.place,
            inet.host,
            inet.port,
            last.unwrap_or_default()
        )
    })?;
    let tls = match &inet.tls {
        Some(t) => {
            let open = |p: &std::path::Path, key: &str| {
                std::fs::File::open(p)
                    .map(OwnedFd::from)
                    .map_err(|e| format!("[inet_http_server] {key}={}: {e}", p.display()))
            };
            Some((open(&t.cert, "tls_cert")?, open(&t.key, "tls_key")?))
        }
        None => None,
    };
    Ok(Inet {
        listener: OwnedFd::from(listener),
        tls,
    })
}
