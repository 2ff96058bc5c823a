//! `[inet_http_server]`: XML-RPC, the log tails and the web UI on TCP, over TLS when the admin
//! configured it. proctord bound the port and opened the TLS files; this serves them.
//!
//! Nobody is known by their connection here, so every request says who it is: XML-RPC and the
//! log tails with HTTP Basic (Supervisor's shared `username=`, acting as `identity=`, or a
//! person's own account from the accounts file), the web UI with the session cookie its login
//! form set. From there on a request is what it is on the control socket: the same policy, the
//! same audit log (with `via` saying where it came from), the same rate limits.
//!
//! Passwords: argon2id hashes, checked off the async workers, two at a time; a failed check
//! answers after [`FAILED_DELAY`], and past [`ACCOUNT_FAILURES`] failures for an account (or
//! [`ADDRESS_FAILURES`] from an address) within [`FAILURE_WINDOW`], further tries are refused
//! unchecked until the window ends. A Basic password that checked out is remembered (as a keyed
//! hash) for [`VERIFIED_TTL`], so that supervisorctl's several calls per command cost one check.

use super::sessions::{hex, same};
use super::{Answer, Via};
use crate::server::{Caller, Served, REQUEST_TIMEOUT, WRITE_TIMEOUT};
use base64::Engine;
use hyper::body::Incoming;
use hyper::header::HeaderValue;
use hyper::{Method, StatusCode};
use proctor_api::control::{Request, Response};
use proctor_config::model::InetServerConfig;
use proctor_policy::{Accounts, Peer};
use sha2::Digest;
use std::collections::HashMap;
use std::convert::Infallible;
use std::net::{IpAddr, SocketAddr};
use std::os::fd::OwnedFd;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};
use tokio::sync::Semaphore;
use tracing::{info, warn};

/// How long a failed password check takes to answer, whatever made it fail.
pub const FAILED_DELAY: Duration = Duration::from_secs(1);
pub const FAILURE_WINDOW: Duration = Duration::from_secs(60);
/// Failed checks within [`FAILURE_WINDOW`] after which an account, or an address, is refused
/// unchecked until the window ends.
pub const ACCOUNT_FAILURES: u32 = 5;
pub const ADDRESS_FAILURES: u32 = 20;
const VERIFIED_TTL: Duration = Duration::from_secs(60);
/// Password checks at once: each takes ~19 MiB and a core for tens of milliseconds.
const CHECKS_AT_ONCE: usize = 2;
/// Connections at once; past it new ones are closed at once.
const MAX_CONNECTIONS: usize = 128;
/// Entries the failure counters and the verified cache keep at most.
const MAX_TRACKED: usize = 4096;
/// The characters of a name that its failure counter is keyed by.
const MAX_NAME: usize = 64;

pub struct Front {
    config: InetServerConfig,
    /// The uid that the shared `username=` acts as.
    shared_uid: Option<u32>,
    accounts: RwLock<Accounts>,
    accounts_owner: u32,
    tls: Option<tokio_rustls::TlsAcceptor>,
    failures: Mutex<Failures>,
    checks: Semaphore,
    /// Keyed hashes of Basic credentials that checked out, and whose they are.
    verified: Mutex<HashMap<[u8; 32], (u32, Instant)>>,
    cache_key: [u8; 32],
    /// A hash to check the passwords of unknown accounts against, so that they take as long.
    decoy: proctor_policy::Account,
    connections: Arc<Semaphore>,
}

#[derive(Default)]
struct Failures {
    accounts: HashMap<String, (u32, Instant)>,
    addresses: HashMap<IpAddr, (u32, Instant)>,
}

/// Counts a failure in `map`, dropping windows that ended.
fn count<K: std::hash::Hash + Eq>(map: &mut HashMap<K, (u32, Instant)>, key: K, now: Instant) {
    if map.len() >= MAX_TRACKED {
        map.retain(|_, (_, since)| now.duration_since(*since) < FAILURE_WINDOW);
    }
    if map.len() >= MAX_TRACKED {
        return;
    }
    let e = map.entry(key).or_insert((0, now));
    if now.duration_since(e.1) >= FAILURE_WINDOW {
        *e = (0, now);
    }
    e.0 += 1;
}

/// How long until `key` may try again, if it is past `limit`; also when `key` is not counted
/// and there is no room to count it (the counters are full of live windows): a flood of names
/// or addresses must not make room for uncounted guesses.
fn blocked<K: std::hash::Hash + Eq>(
    map: &mut HashMap<K, (u32, Instant)>,
    key: &K,
    limit: u32,
    now: Instant,
) -> Option<Duration> {
    let Some((n, since)) = map.get(key) else {
        if map.len() >= MAX_TRACKED {
            map.retain(|_, (_, since)| now.duration_since(*since) < FAILURE_WINDOW);
        }
        return (map.len() >= MAX_TRACKED).then_some(FAILURE_WINDOW);
    };
    let left = FAILURE_WINDOW.checked_sub(now.duration_since(*since))?;
    (*n >= limit && !left.is_zero()).then_some(left)
}

/// Why a password was not taken.
pub enum Refusal {
    /// Too many failures: try again after this long (nothing was checked).
    Blocked(Duration),
    /// Wrong name or password (after [`FAILED_DELAY`]).
    Wrong,
    /// The shared account is right but names nobody (`identity=` is missing).
    NoIdentity,
}

impl Refusal {
    pub fn message(&self) -> String {
        match self {
            Refusal::Blocked(left) => format!(
                "too many failed logins for this account or from this address: try again in {} s",
                left.as_secs().max(1)
            ),
            Refusal::Wrong => "wrong account name or password".into(),
            Refusal::NoIdentity => "[inet_http_server] username= acts as no account (identity= \
                                    is not set): ask the admins"
                .into(),
        }
    }
}

fn random32() -> std::io::Result<[u8; 32]> {
    let mut b = [0u8; 32];
    getrandom::fill(&mut b).map_err(std::io::Error::other)?;
    Ok(b)
}

/// Reads a whole file that proctord opened for us, from its start (every controld that
/// proctord starts reads the same open file).
fn read_passed(fd: &OwnedFd) -> std::io::Result<Vec<u8>> {
    use std::os::unix::fs::FileExt;
    let file = std::fs::File::from(fd.try_clone()?);
    let mut out = Vec::new();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = file.read_at(&mut buf, out.len() as u64)?;
        if n == 0 {
            return Ok(out);
        }
        out.extend_from_slice(&buf[..n]);
        if out.len() > 1024 * 1024 {
            return Err(std::io::Error::other("larger than 1 MiB"));
        }
    }
}

fn acceptor(
    cert: &OwnedFd,
    key: &OwnedFd,
    inet: &InetServerConfig,
) -> Result<tokio_rustls::TlsAcceptor, String> {
    use rustls_pki_types::pem::PemObject;
    use rustls_pki_types::{CertificateDer, PrivateKeyDer};
    let files = inet.tls.as_ref();
    let shown = |key: &str| {
        let p = files.map(|t| if key == "tls_cert" { &t.cert } else { &t.key });
        format!(
            "[inet_http_server] {key}={}",
            p.map(|p| p.display().to_string()).unwrap_or_default()
        )
    };
    let cert_pem = read_passed(cert).map_err(|e| format!("{}: {e}", shown("tls_cert")))?;
    let key_pem = read_passed(key).map_err(|e| format!("{}: {e}", shown("tls_key")))?;
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&cert_pem)
        .collect::<Result<_, _>>()
        .map_err(|e| format!("{}: not PEM certificates: {e}", shown("tls_cert")))?;
    if chain.is_empty() {
        return Err(format!("{}: no certificate in it", shown("tls_cert")));
    }
    let key = PrivateKeyDer::from_pem_slice(&key_pem)
        .map_err(|e| format!("{}: no PEM private key: {e}", shown("tls_key")))?;
    let provider = Arc::new(tokio_rustls::rustls::crypto::aws_lc_rs::default_provider());
    let mut config = tokio_rustls::rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS: {e}"))?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .map_err(|e| format!("{}: {e}", shown("tls_cert")))?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(tokio_rustls::TlsAcceptor::from(Arc::new(config)))
}

impl Front {
    /// Everything the TCP server needs, read and checked once at start: the accounts file
    /// (owned by `accounts_owner`, as the policy is), the shared account's identity, TLS.
    pub fn new(
        config: InetServerConfig,
        tls: Option<(OwnedFd, OwnedFd)>,
        accounts_owner: u32,
    ) -> Result<Front, String> {
        let accounts = match &config.accounts {
            Some(p) => proctor_policy::read_accounts(p, accounts_owner)?,
            None => Accounts::default(),
        };
        let shared_uid = match &config.identity {
            Some(name) => match nix::unistd::User::from_name(name) {
                Ok(Some(u)) => Some(u.uid.as_raw()),
                Ok(None) => {
                    return Err(format!(
                        "[inet_http_server] identity: user '{name}' does not exist"
                    ))
                }
                Err(e) => {
                    return Err(format!(
                        "[inet_http_server] identity: cannot look up user '{name}': {e}"
                    ))
                }
            },
            None => None,
        };
        let tls = match &tls {
            Some((cert, key)) => Some(acceptor(cert, key, &config)?),
            None if config.tls.is_some() => {
                return Err(
                    "[inet_http_server] TLS is configured but proctord passed no files".into(),
                )
            }
            None => None,
        };
        let cache_key = random32().map_err(|e| format!("random key: {e}"))?;
        let decoy_password = super::sessions::token().map_err(|e| format!("random key: {e}"))?;
        let decoy_hash = proctor_policy::hash_password(decoy_password.as_bytes())?;
        let decoy = Accounts::decoy(decoy_hash);
        info!(
            port = %format!("{}:{}", config.host, config.port),
            tls = tls.is_some(),
            accounts = accounts.len(),
            "serving [inet_http_server]"
        );
        Ok(Front {
            config,
            shared_uid,
            accounts: RwLock::new(accounts),
            accounts_owner,
            tls,
            failures: Mutex::default(),
            checks: Semaphore::new(CHECKS_AT_ONCE),
            verified: Mutex::default(),
            cache_key,
            decoy,
            connections: Arc::new(Semaphore::new(MAX_CONNECTIONS)),
        })
    }

    pub fn tls(&self) -> bool {
        self.tls.is_some()
    }

    /// Re-reads the accounts file (with the policy); on a problem the last good one stays.
    pub fn reload_accounts(&self) -> Result<(), String> {
        let Some(p) = &self.config.accounts else {
            return Ok(());
        };
        let fresh = proctor_policy::read_accounts(p, self.accounts_owner)?;
        if let Ok(mut a) = self.accounts.write() {
            *a = fresh;
        }
        if let Ok(mut v) = self.verified.lock() {
            v.clear();
        }
        Ok(())
    }

    /// Whether `name` (lower case) is one this server answers to besides the loopback's.
    pub fn serves_name(&self, name: &str) -> bool {
        let own = self.config.host.to_ascii_lowercase();
        (own != "0.0.0.0" && own != "[::]" && own == name)
            || self.config.server_names.iter().any(|n| n == name)
    }

    /// Who `user` with `password` is, asked from `from`.
    pub async fn check(&self, user: &str, password: &str, from: IpAddr) -> Result<u32, Refusal> {
        let now = Instant::now();
        // The counter's key, bounded: a name comes from the client, up to the size of a request
        // head, and thousands of them are kept (an account name is far shorter).
        let counted: String = user.chars().take(MAX_NAME).collect();
        if let Ok(mut f) = self.failures.lock() {
            let f = &mut *f;
            let wait = blocked(&mut f.accounts, &counted, ACCOUNT_FAILURES, now)
                .or_else(|| blocked(&mut f.addresses, &from, ADDRESS_FAILURES, now));
            if let Some(left) = wait {
                return Err(Refusal::Blocked(left));
            }
        }
        let checked = self.password_is(user, password).await;
        match checked {
            Some(Some(uid)) => Ok(uid),
            Some(None) => Err(Refusal::NoIdentity),
            None => {
                if let Ok(mut f) = self.failures.lock() {
                    count(&mut f.accounts, counted, now);
                    count(&mut f.addresses, from, now);
                }
                tokio::time::sleep(FAILED_DELAY).await;
                Err(Refusal::Wrong)
            }
        }
    }

    /// `Some(uid)` for a right password (`Some(None)`: the shared account without identity),
    /// `None` for a wrong one.
    async fn password_is(&self, user: &str, password: &str) -> Option<Option<u32>> {
        if let (Some(u), Some(p)) = (&self.config.username, &self.config.password) {
            if user == u {
                return shared_password_is(p, password).then_some(self.shared_uid);
            }
        }
        let key = self.cache_key(user, password);
        if let Ok(v) = self.verified.lock() {
            if let Some((uid, at)) = v.get(&key) {
                if at.elapsed() < VERIFIED_TTL {
                    return Some(Some(*uid));
                }
            }
        }
        let account = self.accounts.read().ok().and_then(|a| a.get(user).cloned());
        let known = account.is_some();
        let account = account.unwrap_or_else(|| self.decoy.clone());
        let password = password.as_bytes().to_vec();
        let _turn = self.checks.acquire().await.ok()?;
        let right =
            tokio::task::spawn_blocking(move || account.verify(&password).then_some(account.uid))
                .await
                .ok()
                .flatten()
                .filter(|_| known)?;
        if let Ok(mut v) = self.verified.lock() {
            if v.len() >= MAX_TRACKED {
                v.retain(|_, (_, at)| at.elapsed() < VERIFIED_TTL);
            }
            if v.len() < MAX_TRACKED {
                v.insert(key, (right, Instant::now()));
            }
        }
        Some(Some(right))
    }

    fn cache_key(&self, user: &str, password: &str) -> [u8; 32] {
        let mut h = sha2::Sha256::new();
        h.update(self.cache_key);
        h.update(user.as_bytes());
        h.update([0]);
        h.update(password.as_bytes());
        h.finalize().into()
    }
}

/// Supervisor's `password=`: plain, or `{SHA}` and the hex SHA-1 of the password.
fn shared_password_is(configured: &str, given: &str) -> bool {
    match configured.strip_prefix("{SHA}") {
        Some(hex_sha) => {
            let digest = sha1::Sha1::digest(given.as_bytes());
            same(&hex(&digest), &hex_sha.to_ascii_lowercase())
        }
        None => same(configured, given),
    }
}

/// `Authorization: Basic`'s name and password: `None` without one, `Err` when it is not
/// readable.
fn basic(headers: &hyper::HeaderMap) -> Option<Result<(String, String), ()>> {
    let v = headers.get(hyper::header::AUTHORIZATION)?;
    let parsed = (|| {
        let v = v.to_str().ok()?;
        let (scheme, b64) = v.split_once(' ')?;
        if !scheme.eq_ignore_ascii_case("basic") {
            return None;
        }
        let raw = base64::engine::general_purpose::STANDARD
            .decode(b64.trim())
            .ok()?;
        let text = String::from_utf8(raw).ok()?;
        let (u, p) = text.split_once(':')?;
        Some((u.to_owned(), p.to_owned()))
    })();
    Some(parsed.ok_or(()))
}

/// Serves `[inet_http_server]` until the daemon ends.
pub async fn serve(listener: std::net::TcpListener, front: Arc<Front>, served: Served) {
    let listener = match listener
        .set_nonblocking(true)
        .and_then(|()| tokio::net::TcpListener::from_std(listener))
    {
        Ok(l) => l,
        Err(e) => {
            warn!("[inet_http_server]: {e}");
            return;
        }
    };
    loop {
        let (stream, from) = match listener.accept().await {
            Ok(a) => a,
            Err(e) => {
                warn!("[inet_http_server] accept: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let Ok(permit) = front.connections.clone().try_acquire_owned() else {
            continue;
        };
        let (front, served) = (front.clone(), served.clone());
        tokio::spawn(async move {
            let _permit = permit;
            let _ = stream.set_nodelay(true);
            let watch = std::os::fd::AsFd::as_fd(&stream).try_clone_to_owned().ok();
            match &front.tls {
                Some(tls) => {
                    match tokio::time::timeout(REQUEST_TIMEOUT, tls.accept(stream)).await {
                        Ok(Ok(s)) => connection(s, from, watch, &front, &served).await,
                        Ok(Err(e)) => tracing::debug!("TLS from {from}: {e}"),
                        Err(_) => tracing::debug!("TLS from {from}: no handshake in time"),
                    }
                }
                None => connection(stream, from, watch, &front, &served).await,
            }
            crate::heap::busy();
        });
    }
}

async fn connection<S>(
    stream: S,
    from: SocketAddr,
    watch: Option<OwnedFd>,
    front: &Front,
    served: &Served,
) where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + Unpin + 'static,
{
    let watch = std::sync::Mutex::new(watch);
    let watch = &watch;
    let service = hyper::service::service_fn(move |req| route(req, from, front, served, watch));
    let mut io = tokio_io_timeout::TimeoutStream::new(stream);
    io.set_write_timeout(Some(WRITE_TIMEOUT));
    let done = hyper::server::conn::http1::Builder::new()
        .keep_alive(false)
        .max_buf_size(super::MAX_HEAD)
        .timer(hyper_util::rt::TokioTimer::new())
        .header_read_timeout(REQUEST_TIMEOUT)
        .serve_connection(hyper_util::rt::TokioIo::new(Box::pin(io)), service)
        .await;
    if let Err(e) = done {
        tracing::debug!("client {from} dropped: {e}");
    }
}

/// Someone not (yet) known: for the audit record of a refusal before anyone logged in.
fn stranger(from: SocketAddr, name: &str) -> Caller {
    claimed(from, name, u32::MAX)
}

/// Someone who gave `name` and a password that did not check out: recorded under the account's
/// uid when the name is one of the accounts file.
fn failed_as(front: &Front, from: SocketAddr, name: &str) -> Caller {
    let uid = front
        .accounts
        .read()
        .ok()
        .and_then(|a| a.get(name).map(|a| a.uid))
        .unwrap_or(u32::MAX);
    claimed(from, name, uid)
}

fn claimed(from: SocketAddr, name: &str, uid: u32) -> Caller {
    Caller {
        uid,
        pid: None,
        peer: Arc::new(Peer {
            uid,
            name: if name.is_empty() {
                "-".into()
            } else {
                name.to_owned()
            },
            gids: Vec::new(),
        }),
        via: Some(format!("tcp {from}")),
        shutdown_after: std::sync::atomic::AtomicBool::new(false),
    }
}

async fn known(uid: u32, from: SocketAddr, how: &str, served: &Served) -> Caller {
    Caller {
        uid,
        pid: None,
        peer: served.peers.lookup(uid).await,
        via: Some(format!("tcp {from} {how}")),
        shutdown_after: std::sync::atomic::AtomicBool::new(false),
    }
}

/// 401 with Supervisor's challenge (supervisorctl then says "Server requires authentication").
fn challenge(message: String) -> Answer {
    let mut a = super::text(StatusCode::UNAUTHORIZED, message);
    a.headers_mut().insert(
        hyper::header::WWW_AUTHENTICATE,
        HeaderValue::from_static("Basic realm=\"default\""),
    );
    a
}

async fn route(
    req: hyper::Request<Incoming>,
    from: SocketAddr,
    front: &Front,
    served: &Served,
    watch: &std::sync::Mutex<Option<OwnedFd>>,
) -> Result<Answer, Infallible> {
    let via = Via::Tcp(front);
    let path = req.uri().path().to_owned();
    let Some(host) = via.allowed_host(req.headers()) else {
        return Ok(super::web::unknown_host());
    };
    let caller = if super::web::serves(&path) {
        match (req.method().clone(), path.as_str()) {
            (Method::GET, "/ui.css") => return Ok(super::web::css()),
            (Method::GET, "/login") => return Ok(super::web::login_form(StatusCode::OK, None)),
            (Method::POST, "/login") => return Ok(login(req, &host, from, front, served).await),
            _ => {}
        }
        let session = super::web::session_id(req.headers(), via.cookie())
            .and_then(|id| served.web.owner(&id, via.kind()));
        match session {
            Some(uid) => known(uid, from, "session", served).await,
            None if req.method() == Method::GET => return Ok(super::web::redirect("/login")),
            None => {
                let why = "no session: log in first (or a form from another site)";
                let who = stranger(from, "");
                return Ok(super::web::refused(&who, served, "web", why).await);
            }
        }
    } else {
        match basic(req.headers()) {
            None => {
                return Ok(challenge(
                    "this server requires authentication (HTTP Basic)".into(),
                ))
            }
            Some(Err(())) => {
                return Ok(super::text(
                    StatusCode::BAD_REQUEST,
                    "the Authorization header is not readable Basic credentials".into(),
                ))
            }
            Some(Ok((user, password))) => match front.check(&user, &password, from.ip()).await {
                Ok(uid) => known(uid, from, "password", served).await,
                Err(r) => {
                    if !matches!(r, Refusal::Blocked(_)) {
                        let who = failed_as(front, from, &user);
                        crate::server::record_refusal(&who, served, "login", &r.message()).await;
                    }
                    return Ok(challenge(r.message()));
                }
            },
        }
    };
    super::route(req, &caller, served, watch, via).await
}

/// The login form's POST: the password checked, then a session opened as `proctorctl web`
/// opens one (the policy's `web` action decides, the audit log records it).
async fn login(
    req: hyper::Request<Incoming>,
    host: &str,
    from: SocketAddr,
    front: &Front,
    served: &Served,
) -> Answer {
    let via = Via::Tcp(front);
    if let Some(why) = super::web::cross_site(req.headers(), host, via.scheme()) {
        return super::web::refused(&stranger(from, ""), served, "login", why).await;
    }
    let Some(form) = super::web::read_form(req).await else {
        return super::web::login_form(
            StatusCode::BAD_REQUEST,
            Some("The form did not arrive whole."),
        );
    };
    let user = form.field("user").trim();
    let uid = match front.check(user, form.field("password"), from.ip()).await {
        Ok(uid) => uid,
        Err(r) => {
            if !matches!(r, Refusal::Blocked(_)) {
                crate::server::record_refusal(
                    &failed_as(front, from, user),
                    served,
                    "login",
                    &r.message(),
                )
                .await;
            }
            let status = match r {
                Refusal::Blocked(_) => StatusCode::TOO_MANY_REQUESTS,
                _ => StatusCode::FORBIDDEN,
            };
            let message = r.message();
            return super::web::login_form(status, Some(&message));
        }
    };
    let caller = known(uid, from, "password", served).await;
    let linked = match crate::server::admit(Request::WebLink, &caller, served).await {
        Ok(a) => crate::server::web_link(a, uid, served).await,
        Err(r) => r,
    };
    let token = match linked {
        Response::WebLink { token, .. } => token,
        Response::Error { message, .. } => {
            return super::web::login_form(StatusCode::FORBIDDEN, Some(&message))
        }
        _ => {
            return super::web::login_form(
                StatusCode::INTERNAL_SERVER_ERROR,
                Some("The daemon could not open a session."),
            )
        }
    };
    match served.web.redeem(&token, uid, via.kind()) {
        Ok(id) => super::web::opened(&id, via),
        Err(why) => super::web::login_form(StatusCode::INTERNAL_SERVER_ERROR, Some(why)),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn supervisors_shared_passwords_match_plain_or_sha() {
        assert!(shared_password_is("secret", "secret"));
        assert!(!shared_password_is("secret", "secreT"));
        // printf secret | sha1sum
        let sha = "{SHA}e5e9fa1ba31ecd1ae84f75caaa474f3a663f05f4";
        assert!(shared_password_is(sha, "secret"));
        assert!(shared_password_is(
            &sha.to_ascii_uppercase().replace("{sha}", "{SHA}"),
            "secret"
        ));
        assert!(!shared_password_is(
            sha,
            "{SHA}e5e9fa1ba31ecd1ae84f75caaa474f3a663f05f4"
        ));
    }

    #[test]
    fn basic_credentials_are_read_or_refused() {
        let mut h = hyper::HeaderMap::new();
        assert!(basic(&h).is_none());
        h.insert(
            hyper::header::AUTHORIZATION,
            HeaderValue::from_static("Basic Ym9iOnNlYzpyZXQ="),
        );
        assert_eq!(
            basic(&h).unwrap().unwrap(),
            ("bob".into(), "sec:ret".into())
        );
        h.insert(
            hyper::header::AUTHORIZATION,
            HeaderValue::from_static("Basic !!"),
        );
        assert!(basic(&h).unwrap().is_err());
        h.insert(
            hyper::header::AUTHORIZATION,
            HeaderValue::from_static("Bearer x"),
        );
        assert!(basic(&h).unwrap().is_err());
    }

    #[test]
    fn failures_block_for_the_rest_of_their_window() {
        let mut m = HashMap::new();
        let t = Instant::now();
        for _ in 0..ACCOUNT_FAILURES - 1 {
            count(&mut m, "a", t);
        }
        assert!(blocked(&mut m, &"a", ACCOUNT_FAILURES, t).is_none());
        count(&mut m, "a", t);
        assert!(blocked(&mut m, &"a", ACCOUNT_FAILURES, t).is_some());
        assert!(blocked(&mut m, &"a", ACCOUNT_FAILURES, t + FAILURE_WINDOW).is_none());
        count(&mut m, "a", t + FAILURE_WINDOW);
        assert!(blocked(&mut m, &"a", ACCOUNT_FAILURES, t + FAILURE_WINDOW).is_none());
    }

    #[test]
    fn full_counters_refuse_names_they_cannot_count() {
        let mut m = HashMap::new();
        let t = Instant::now();
        for i in 0..MAX_TRACKED {
            count(&mut m, i.to_string(), t);
        }
        // A name not counted yet cannot be, so it is refused unchecked until windows end.
        assert!(blocked(&mut m, &"victim".to_owned(), ACCOUNT_FAILURES, t).is_some());
        assert!(blocked(&mut m, &"0".to_owned(), ACCOUNT_FAILURES, t).is_none());
        let later = t + FAILURE_WINDOW;
        assert!(blocked(&mut m, &"victim".to_owned(), ACCOUNT_FAILURES, later).is_none());
    }
}
