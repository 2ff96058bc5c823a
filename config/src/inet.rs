//! `[inet_http_server]`: Supervisor's keys (`port`, `username`, `password`) and proctor's
//! (`identity`, `accounts`, `tls_cert`, `tls_key`, `server_names`), which Supervisor ignores.
//!
//! Deliberate differences: a `port=` without a host binds the loopback, where Supervisor binds
//! every interface; and a bind beyond the loopback is refused without TLS, since passwords and
//! session cookies would cross the network in clear.

use crate::build::Sec;
use crate::ini::Section;
use crate::model::{host_is_loopback, InetServerConfig, TlsFiles};
use crate::values;
use crate::{Diagnostic, LoadContext};

pub(crate) const KEYS: &[&str] = &[
    "port",
    "username",
    "password",
    "identity",
    "accounts",
    "tls_cert",
    "tls_key",
    "server_names",
];

/// `port=` as Supervisor's `inet_address` reads it: `HOST:PORT` or `PORT`; the host `*` is
/// every interface. An IPv6 host is written in brackets.
fn address(key: &str, value: &str) -> Result<(String, u16), String> {
    let value = value.trim();
    let (host, port) = match value.rsplit_once(':') {
        Some((h, p)) => (h.to_ascii_lowercase(), p),
        None => (String::new(), value),
    };
    let port = port
        .parse::<u16>()
        .ok()
        .filter(|p| *p > 0)
        .ok_or_else(|| values::bad(key, value, "[HOST:]PORT with a port from 1 to 65535"))?;
    let host = match host.as_str() {
        "" => "127.0.0.1".to_owned(),
        "*" => "0.0.0.0".to_owned(),
        h if h.starts_with('[') && !h.ends_with(']') => {
            return Err(values::bad(
                key,
                value,
                "an IPv6 host in brackets, [::1]:PORT",
            ))
        }
        _ => host,
    };
    Ok((host, port))
}

/// `{SHA}` and 40 hex digits, or a plain password.
fn password(key: &str, value: &str) -> Result<String, String> {
    if let Some(hex) = value.strip_prefix("{SHA}") {
        if hex.len() != 40 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(values::bad(
                key,
                value,
                "{SHA} and the 40 hex digits of a SHA-1",
            ));
        }
    }
    if value.is_empty() {
        return Err(values::bad(key, value, "a password"));
    }
    Ok(value.to_owned())
}

pub(crate) fn inet(
    s: &Section,
    ctx: &LoadContext,
    warnings: &mut Vec<Diagnostic>,
) -> Result<InetServerConfig, Diagnostic> {
    let sec = Sec::new(s, ctx);
    for e in &s.entries {
        if !KEYS.contains(&e.key.as_str()) {
            sec.warn_unknown(e.place(), &e.key, warnings);
        }
    }
    let Some((port_value, place)) = sec.expanded("port")? else {
        return Err(sec.at(
            sec.header(),
            "[inet_http_server] has no port= (write port=127.0.0.1:9001)",
        ));
    };
    let (host, port) = address("port", &port_value).map_err(|m| sec.at(place, m))?;
    let text = |key: &str| -> Result<Option<String>, Diagnostic> {
        Ok(sec
            .expanded(key)?
            .map(|(v, _)| v.trim().to_owned())
            .filter(|v| !v.is_empty()))
    };
    let username = text("username")?;
    let password = match sec.expanded("password")? {
        Some((v, p)) => Some(password("password", v.trim()).map_err(|m| sec.at(p, m))?),
        None => None,
    };
    if username.is_some() != password.is_some() {
        return Err(sec.at(
            sec.header(),
            "[inet_http_server] username= and password= go together: give both or neither",
        ));
    }
    let identity = match sec.expanded("identity")? {
        Some((v, p)) => Some(identity(v.trim()).map_err(|m| sec.at(p, m))?),
        None => None,
    };
    if let (Some(u), None) = (&username, &identity) {
        let place = sec.get("username").map_or(sec.header(), |e| e.place());
        warnings.push(sec.at(
            place,
            format!(
                "[inet_http_server] username={u} acts as no account until identity= names one \
                 (a user the policy knows): until then proctor refuses its clients' calls, \
                 where Supervisor would let them do everything"
            ),
        ));
    }
    let tls = match (sec.path("tls_cert")?, sec.path("tls_key")?) {
        (Some(cert), Some(key)) => Some(TlsFiles { cert, key }),
        (None, None) => None,
        _ => {
            return Err(sec.at(
                sec.header(),
                "[inet_http_server] tls_cert= and tls_key= go together: give both or neither",
            ))
        }
    };
    if tls.is_none() && !host_is_loopback(&host) {
        return Err(sec.at(
            place,
            format!(
                "[inet_http_server] port={} would listen beyond the loopback without TLS: \
                 passwords and session cookies would cross the network in clear. Add \
                 tls_cert= and tls_key=, or bind 127.0.0.1 and reach it through `ssh -L`",
                port_value.trim()
            ),
        ));
    }
    let server_names = text("server_names")?
        .map(|v| {
            v.split([',', ' ', '\n'])
                .map(|n| n.trim().to_ascii_lowercase())
                .filter(|n| !n.is_empty())
                .collect()
        })
        .unwrap_or_default();
    Ok(InetServerConfig {
        host,
        port,
        place: format!("{}:{}", place.file.display(), place.line),
        username,
        password,
        identity,
        accounts: sec.path("accounts")?,
        tls,
        server_names,
    })
}

/// `identity=`: an account that exists (the policy decides what it may do).
fn identity(value: &str) -> Result<String, String> {
    match nix::unistd::User::from_name(value) {
        Ok(Some(u)) => Ok(u.name),
        Ok(None) => Err(format!(
            "[inet_http_server] identity: user '{value}' does not exist"
        )),
        Err(e) => Err(format!(
            "[inet_http_server] identity: cannot look up user '{value}': {e}"
        )),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn ports_read_as_supervisor_reads_them_but_default_to_the_loopback() {
        assert_eq!(address("port", "9001").unwrap(), ("127.0.0.1".into(), 9001));
        assert_eq!(
            address("port", ":9001").unwrap(),
            ("127.0.0.1".into(), 9001)
        );
        assert_eq!(address("port", "*:9001").unwrap(), ("0.0.0.0".into(), 9001));
        assert_eq!(
            address("port", "LocalHost:80").unwrap(),
            ("localhost".into(), 80)
        );
        assert_eq!(
            address("port", "[::1]:9001").unwrap(),
            ("[::1]".into(), 9001)
        );
        for bad in ["", "x", "9001:", "0", "65536", "[::1:9001"] {
            assert!(address("port", bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn passwords_are_plain_or_sha1_hex() {
        assert!(password("password", "secret").is_ok());
        assert!(password("password", "{SHA}e5e9fa1ba31ecd1ae84f75caaa474f3a663f05f4").is_ok());
        assert!(password("password", "{SHA}e5e9").is_err());
        assert!(password("password", "").is_err());
    }
}
