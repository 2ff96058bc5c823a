//! The control socket: one task per connection, speaking proctorctl's frames or, told apart by
//! the first byte, HTTP (`crate::http`). Every frame is bounded and decoded exactly; a client
//! that sends garbage, too much, nothing, or hangs up is dropped and nothing else is affected.
//! Whatever the protocol, a request is checked against the policy and recorded in the audit log
//! by [`admit`], and carried out and its outcome recorded by [`answer`] (or [`follow`] for a
//! tail or audit request of proctorctl's).

use crate::audit::Audit;
use crate::authority::Authority;
use crate::authorize::{authorize, Checked};
use crate::peers::Peers;
use crate::ratelimit::{self, Limiter};
use crate::slots::{Refused, Slots};
use crate::supervisor::{Cmd, Event, Failure};
use proctor_api::audit::Record;
use proctor_api::control::{
    ClientFrame, ErrorKind, Request, Response, CONTROL_PROTOCOL_VERSION, MAX_REQUEST,
};
use proctor_policy::Peer;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::{mpsc, oneshot};
use tracing::{debug, warn};

/// A client has this long to send its request.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// A client that does not take its reply within this long is dropped (it holds a slot).
pub const WRITE_TIMEOUT: Duration = Duration::from_secs(10);

/// Where the daemon is reached: the control socket, and `[inet_http_server]` if configured.
pub struct Listening {
    pub socket: UnixListener,
    pub tcp: Option<(std::net::TcpListener, Arc<crate::http::tcp::Front>)>,
}

pub async fn serve(
    Listening {
        socket: listener,
        tcp,
    }: Listening,
    tx: mpsc::Sender<Event>,
    auth: Arc<Authority>,
    audit: Option<Audit>,
    audit_path: Option<std::path::PathBuf>,
    identifier: String,
    mainlog: Option<Arc<crate::logserve::MainLog>>,
) {
    let served = Served {
        mainlog,
        tx,
        auth,
        audit,
        audit_path,
        identifier: identifier.into(),
        halves: Arc::default(),
        web: Arc::default(),
        limiter: Arc::new(Limiter::default()),
        slots: Arc::new(Slots::new(nix::unistd::getuid().as_raw())),
        peers: Arc::new(Peers::default()),
    };
    if let Some(a) = served.audit.clone() {
        tokio::spawn(summarize_refusals(served.limiter.clone(), a));
    }
    if let Some((l, front)) = tcp {
        tokio::spawn(crate::http::tcp::serve(l, front, served.clone()));
    }
    loop {
        let mut stream = match listener.accept().await {
            Ok((s, _)) => s,
            Err(e) => {
                warn!("accept: {e}");
                // EMFILE and friends: give the system a moment rather than spin.
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        // The uid from the kernel: what the slot is counted against.
        let Ok(cred) = stream.peer_cred() else {
            continue;
        };
        let uid = cred.uid();
        let taken = served.slots.take(uid);
        let served = served.clone();
        // Each in a task of its own, so that a client that does not read, or an account
        // lookup, cannot hold up the accept loop.
        tokio::spawn(async move {
            let slot = match taken {
                Ok(slot) => slot,
                // The shared slots are taken: an admin may have a reserved one.
                Err(Refused::Full) => {
                    let Some(looking) = served.slots.admin_lookup(uid) else {
                        return turn_away(&mut stream, Refused::Full.message()).await;
                    };
                    let peer = served.peers.lookup(uid).await;
                    drop(looking);
                    let reserved = if served.auth.is_admin(&peer) {
                        served.slots.reserved(uid)
                    } else {
                        served.slots.not_admin(uid);
                        Err(Refused::Full)
                    };
                    match reserved {
                        Ok(slot) => slot,
                        Err(why) => return turn_away(&mut stream, why.message()).await,
                    }
                }
                Err(why) => return turn_away(&mut stream, why.message()).await,
            };
            if let Err(e) = connection(stream, cred, &served).await {
                debug!("client dropped: {e}");
            }
            drop(slot);
            crate::heap::busy();
        });
    }
}

/// Tells a client the daemon is busy, and no more.
async fn turn_away(stream: &mut UnixStream, message: String) {
    let _ = write(stream, &busy(message)).await;
}

async fn write<W: tokio::io::AsyncWrite + Unpin>(
    stream: &mut W,
    r: &Response,
) -> std::io::Result<()> {
    let body = postcard::to_stdvec(r).map_err(std::io::Error::other)?;
    let len = u32::try_from(body.len()).map_err(|_| std::io::Error::other("response too large"))?;
    let mut buf = Vec::with_capacity(body.len() + 4);
    buf.extend_from_slice(&len.to_be_bytes());
    buf.extend_from_slice(&body);
    match tokio::time::timeout(WRITE_TIMEOUT, stream.write_all(&buf)).await {
        Ok(r) => r,
        Err(_) => Err(std::io::Error::new(
            std::io::ErrorKind::TimedOut,
            "the client did not read its reply",
        )),
    }
}

/// The length prefix of the next request; `None` when the client hung up instead.
async fn read_len(stream: &mut UnixStream) -> std::io::Result<Option<usize>> {
    let mut len = [0u8; 4];
    match stream.read_exact(&mut len).await {
        Ok(_) => Ok(Some(u32::from_be_bytes(len) as usize)),
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => Ok(None),
        Err(e) => Err(e),
    }
}

/// The request of `len` bytes that follows its length prefix.
async fn read_request(
    stream: &mut UnixStream,
    len: usize,
) -> std::io::Result<Result<Request, String>> {
    if len > MAX_REQUEST {
        return Ok(Err(format!(
            "request of {len} bytes exceeds the limit of {MAX_REQUEST}"
        )));
    }
    let mut body = vec![0u8; len];
    stream.read_exact(&mut body).await?;
    Ok(match proctor_wire::decode_exact::<ClientFrame>(&body) {
        Ok(mut f) if f.version == CONTROL_PROTOCOL_VERSION => f.request.tidy().map(|()| f.request),
        Ok(f) => Err(format!(
            "protocol version {} is not supported (this daemon speaks {CONTROL_PROTOCOL_VERSION}); use the proctorctl of the same release",
            f.version
        )),
        Err(e) => Err(format!("malformed request: {e}")),
    })
}

/// One record per account and interval for the requests the rate limit refused.
async fn summarize_refusals(limiter: Arc<Limiter>, audit: Audit) {
    loop {
        // Nothing refused, nothing to write: no timer runs while the daemon is idle.
        limiter.refused().await;
        tokio::time::sleep(ratelimit::SUMMARY_EVERY).await;
        for r in limiter.take_refused() {
            let record = Record {
                kind: "refused".into(),
                uid: r.uid,
                user: r.name,
                pid: None,
                action: "any".into(),
                targets: Vec::new(),
                decision: "deny".into(),
                rule: format!(
                    "rate limit: {} requests a second per account, {} at once",
                    ratelimit::RATE,
                    ratelimit::BURST
                ),
                outcome: Some(format!(
                    "{} requests refused in the last {} s, not recorded one by one",
                    r.count,
                    ratelimit::SUMMARY_EVERY.as_secs()
                )),
                ..Record::default()
            };
            if let Err(e) = audit.log(record, true).await {
                warn!("{e}");
            }
        }
    }
}

/// What every connection is served with.
#[derive(Clone)]
pub struct Served {
    pub tx: mpsc::Sender<Event>,
    /// The web UI's login links and sessions.
    pub web: Arc<crate::http::Sessions>,
    pub auth: Arc<Authority>,
    pub audit: Option<Audit>,
    pub audit_path: Option<std::path::PathBuf>,
    pub limiter: Arc<Limiter>,
    pub slots: Arc<Slots>,
    pub peers: Arc<Peers>,
    /// `[supervisord] identifier`, as the daemon started with it (as Supervisor's).
    pub identifier: Arc<str>,
    /// Stops let through as the first half of a restart (Supervisor's clients restart so).
    pub halves: Arc<crate::http::halves::Halves>,
    /// `[supervisord] logfile`, if there is one.
    pub mainlog: Option<Arc<crate::logserve::MainLog>>,
}

/// Who is on the other end of a connection: the uid and pid from the kernel (SO_PEERCRED), the
/// name and groups from the account database.
pub struct Caller {
    pub uid: u32,
    pub pid: Option<i32>,
    pub peer: Arc<Peer>,
    /// For the audit log: how a caller not on the control socket reached the daemon.
    pub via: Option<String>,
    /// An admitted shutdown, to begin once its answer has been sent.
    pub shutdown_after: std::sync::atomic::AtomicBool,
}

/// Serves one connection, from the peer `cred`: proctorctl's frames, or HTTP (stock
/// supervisorctl and the tools built on Supervisor's API), told apart by the first byte.
async fn connection(
    mut stream: UnixStream,
    cred: tokio::net::unix::UCred,
    served: &Served,
) -> std::io::Result<()> {
    let uid = cred.uid();
    let caller = Caller {
        uid,
        pid: cred.pid(),
        // The uid from the kernel, the name and groups from the account database.
        peer: served.peers.lookup(uid).await,
        via: None,
        shutdown_after: std::sync::atomic::AtomicBool::new(false),
    };
    let first = match tokio::time::timeout(REQUEST_TIMEOUT, first_byte(&stream)).await {
        Ok(Ok(Some(b))) => b,
        Ok(Ok(None)) | Err(_) => return Ok(()),
        Ok(Err(e)) => return Err(e),
    };
    // A frame starts with its length, under 64 KiB: a zero byte. A request line starts with
    // its method, in capitals.
    if first.is_ascii_uppercase() {
        return crate::http::serve(stream, caller, served).await;
    }
    // Before anything is read: a peer who may not use the daemon gets no more of it.
    if let Err(message) = served.auth.may_connect(&caller.peer) {
        let r = Response::Error {
            kind: ErrorKind::PermissionDenied,
            message,
        };
        write(&mut stream, &r).await?;
        return Ok(());
    }
    loop {
        let len = match tokio::time::timeout(REQUEST_TIMEOUT, read_len(&mut stream)).await {
            Ok(Ok(Some(len))) => len,
            Ok(Ok(None)) => return Ok(()),
            Ok(Err(e)) => return Err(e),
            Err(_) => return Ok(()),
        };
        // Before the request is read, decoded, decided or recorded: an account past its rate
        // costs no more than this answer. Its request is left unread, so the connection ends.
        if let Err(message) = over_rate(&caller, served).await {
            turn_away(&mut stream, message).await;
            return Ok(());
        }
        let req = match tokio::time::timeout(REQUEST_TIMEOUT, read_request(&mut stream, len)).await
        {
            Ok(Ok(r)) => r,
            Ok(Err(e)) => return Err(e),
            Err(_) => return Ok(()),
        };
        let req = match req {
            Ok(r) => r,
            Err(msg) => {
                warn!(uid, "dropping client: {msg}");
                let _ = write(
                    &mut stream,
                    &Response::Error {
                        kind: ErrorKind::BadArguments,
                        message: msg,
                    },
                )
                .await;
                return Ok(());
            }
        };
        // No secret and no effect: answered, not recorded.
        if let Request::Version = req {
            let v = Response::Version(env!("CARGO_PKG_VERSION").to_owned());
            write(&mut stream, &v).await?;
            continue;
        }
        let admitted = match admit(req, &caller, served).await {
            Ok(a) => a,
            Err(answer) => {
                write(&mut stream, &answer).await?;
                continue;
            }
        };
        match admitted.req {
            Request::WebLink => {
                let resp = web_link(admitted, caller.uid, served).await;
                write(&mut stream, &resp).await?;
            }
            Request::Audit { .. } | Request::Tail { .. } => {
                return follow(&mut stream, admitted, served).await;
            }
            Request::Events { .. } => {
                return events_follow(&mut stream, admitted, served, &caller).await;
            }
            _ => {
                let shutdown = matches!(admitted.req, Request::Shutdown);
                let resp = answer(admitted, served).await;
                write(&mut stream, &resp).await?;
                if shutdown {
                    let _ = served.tx.send(Event::Cmd(Box::new(Cmd::Shutdown))).await;
                }
            }
        }
    }
}

/// The first byte a client sent, left unread; `None` if it hung up first.
async fn first_byte(stream: &UnixStream) -> std::io::Result<Option<u8>> {
    use std::os::fd::AsRawFd;
    loop {
        stream.readable().await?;
        let mut b = [0u8; 1];
        match stream.try_io(tokio::io::Interest::READABLE, || {
            nix::sys::socket::recv(
                stream.as_raw_fd(),
                &mut b,
                nix::sys::socket::MsgFlags::MSG_PEEK,
            )
            .map_err(std::io::Error::from)
        }) {
            Ok(0) => return Ok(None),
            Ok(_) => return Ok(Some(b[0])),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => continue,
            Err(e) => return Err(e),
        }
    }
}

/// `Err(message)` if the caller is past its account's rate, after the tarpit's wait. Admins
/// are not limited.
pub async fn over_rate(caller: &Caller, served: &Served) -> Result<(), String> {
    if served.auth.is_admin(&caller.peer) {
        return Ok(());
    }
    if let Err(wait) = served.limiter.take(caller.uid, &caller.peer.name) {
        tokio::time::sleep(wait).await;
        return Err(format!(
            "too many requests from {}: at most {} a second ({} at once); try again",
            caller.peer.name,
            ratelimit::RATE,
            ratelimit::BURST
        ));
    }
    Ok(())
}

/// A request the policy let through and the audit log recorded, narrowed to what the caller
/// may act on (`skipped` is the rest).
pub struct Admitted {
    pub req: Request,
    pub skipped: Vec<String>,
    record: Recorder,
}

/// Writes the outcome record of an admitted request, after its request record.
struct Recorder {
    audit: Option<Audit>,
    /// The request record's sequence number.
    seq: Option<u64>,
    base: Record,
    privileged: bool,
}

impl Recorder {
    /// A follower slot for a request that follows (a few per account), or `None` for one that
    /// does not; a refusal is recorded as the outcome and is the answer to send.
    async fn follower_slot(
        &self,
        served: &Served,
        follow: bool,
    ) -> Result<Option<crate::slots::Counted>, Response> {
        if !follow {
            return Ok(None);
        }
        match served.slots.follower(self.base.uid, self.privileged) {
            Ok(held) => Ok(held),
            Err(message) => {
                self.outcome(format!("error: {message}"), None).await;
                Err(busy(message))
            }
        }
    }

    /// What the request came to; `acted`, for a request that acts on processes, is what it acted
    /// on as it resolved its names when it ran (a set may have changed since it was checked).
    async fn outcome(&self, outcome: String, acted: Option<Vec<String>>) {
        let (Some(audit), Some(seq)) = (&self.audit, self.seq) else {
            return;
        };
        let mut record = Record {
            kind: "outcome".into(),
            outcome: Some(outcome),
            request: Some(seq),
            ..self.base.clone()
        };
        if let Some(acted) = acted {
            record.targets = acted;
        }
        if let Err(e) = audit.log(record, self.privileged).await {
            warn!("{e}");
        }
    }
}

/// Checks `req` against the policy and writes its request record (synced) before anything
/// runs. `Err` is the answer to send instead of running it: a refusal, or a failure to record
/// (if the record cannot be written, nothing runs).
pub async fn admit(req: Request, caller: &Caller, served: &Served) -> Result<Admitted, Response> {
    admit_as(req, caller, served, |r| r).await
}

/// As [`admit`], but what runs is `run` of the request as checked (and narrowed): a stop that
/// the policy allows as the first half of a restart is checked, and recorded, as the restart.
pub async fn admit_as(
    check: Request,
    caller: &Caller,
    served: &Served,
    run: impl FnOnce(Request) -> Request,
) -> Result<Admitted, Response> {
    let checked = authorize(check, &caller.peer, &served.auth, &served.tx).await;
    admit_checked(checked, caller, served, run).await
}

/// As [`admit_as`], for a request already checked against the policy.
pub async fn admit_checked(
    checked: Checked,
    caller: &Caller,
    served: &Served,
    run: impl FnOnce(Request) -> Request,
) -> Result<Admitted, Response> {
    let privileged = served.auth.is_admin(&caller.peer);
    let base = Record {
        kind: "request".into(),
        uid: caller.uid,
        user: caller.peer.name.clone(),
        pid: caller.pid,
        via: caller.via.clone(),
        action: checked.action.name().to_owned(),
        targets: checked.targets.clone(),
        decision: if checked.allow { "allow" } else { "deny" }.to_owned(),
        rule: checked.rule.clone(),
        ..Record::default()
    };
    let (req, skipped) = match checked.result {
        Ok((req, skipped)) => (run(req), skipped),
        Err(refusal) => {
            record(served, &base, privileged).await?;
            if let Response::Error { message, .. } = &refusal {
                warn!(uid = caller.uid, user = %caller.peer.name, "{message}");
            }
            return Err(refusal);
        }
    };
    let seq = record(served, &base, privileged).await?;
    Ok(Admitted {
        req,
        skipped,
        record: Recorder {
            audit: served.audit.clone(),
            seq,
            base,
            privileged,
        },
    })
}

/// A request controld makes itself, on no one's connection (the second half of a restart that
/// its caller did not send): recorded under controld's own account, with `rule` saying why.
pub async fn admit_own(req: Request, rule: String, served: &Served) -> Result<Admitted, Response> {
    let uid = nix::unistd::getuid().as_raw();
    let base = Record {
        kind: "request".into(),
        uid,
        user: served.peers.lookup(uid).await.name.clone(),
        pid: i32::try_from(std::process::id()).ok(),
        action: crate::authorize::action_of(&req).name().to_owned(),
        targets: match &req {
            Request::Start { names, .. } | Request::Stop { names, .. } => names.clone(),
            _ => Vec::new(),
        },
        decision: "allow".into(),
        rule,
        ..Record::default()
    };
    let seq = record(served, &base, true).await?;
    Ok(Admitted {
        req,
        skipped: Vec::new(),
        record: Recorder {
            audit: served.audit.clone(),
            seq,
            base,
            privileged: true,
        },
    })
}

/// A request refused before it could be read as one (an XML-RPC call that is not text/xml, as
/// a cross-site form would send): recorded as a denial of `action`, with `why` as the rule, so
/// that the admins see it.
pub async fn record_refusal(caller: &Caller, served: &Served, action: &str, why: &str) {
    let base = Record {
        kind: "request".into(),
        uid: caller.uid,
        user: caller.peer.name.clone(),
        pid: caller.pid,
        via: caller.via.clone(),
        action: action.to_owned(),
        decision: "deny".into(),
        rule: why.to_owned(),
        ..Record::default()
    };
    if let Err(Response::Error { message, .. }) =
        record(served, &base, served.auth.is_admin(&caller.peer)).await
    {
        warn!("{message}");
    }
}

/// Writes a request record (synced); its sequence number, or the refusal to answer with if it
/// cannot be written.
async fn record(served: &Served, base: &Record, privileged: bool) -> Result<Option<u64>, Response> {
    match &served.audit {
        Some(a) => match a.log(base.clone(), privileged).await {
            Ok(seq) => Ok(Some(seq)),
            Err(e) => Err(failed(format!("refused: {e}"))),
        },
        None => Ok(None),
    }
}

/// A login link of the web UI for `uid`, the caller of an admitted `WebLink` (`proctorctl web`
/// on the socket; a password that checked out on TCP).
pub async fn web_link(admitted: Admitted, uid: u32, served: &Served) -> Response {
    let resp = match served.web.link(uid) {
        Ok(token) => Response::WebLink {
            token,
            expires_in: crate::http::LINK_TTL.as_secs(),
        },
        Err(e) => failed(format!("cannot make a login link: {e}")),
    };
    let outcome = match &resp {
        Response::Error { message, .. } => format!("error: {message}"),
        _ => "ok".to_owned(),
    };
    admitted.record.outcome(outcome, None).await;
    resp
}

/// Runs an admitted request that is answered at once, and records what it came to.
pub async fn answer(admitted: Admitted, served: &Served) -> Response {
    let Admitted {
        req,
        skipped,
        record,
    } = admitted;
    if let Request::ReloadPolicy = req {
        // Reading the file and looking its accounts up blocks: off the async workers.
        let auth = served.auth.clone();
        let reloaded = match tokio::task::spawn_blocking(move || auth.reload()).await {
            Ok(r) => r.map_err(|m| format!("policy refused, the previous one stays in force: {m}")),
            Err(e) => Err(format!("policy reload failed: {e}")),
        };
        return match reloaded {
            Ok(what) => {
                record.outcome(format!("ok: {what}"), None).await;
                Response::Done
            }
            Err(message) => {
                record.outcome(format!("error: {message}"), None).await;
                failed(message)
            }
        };
    }
    let mut resp = handle(req, served).await;
    if let (Response::Avail(list), false) = (&mut resp, record.privileged) {
        // A config kept from other accounts may hold secrets in a command line.
        for a in list {
            a.command.clear();
            a.directory = None;
        }
    }
    if served.audit.is_some() {
        let acted = match &resp {
            // Once each (a restart reports a stop and a start).
            Response::Actions(results) => {
                let mut seen = std::collections::HashSet::new();
                Some(
                    results
                        .iter()
                        .filter(|r| seen.insert(r.name.as_str()))
                        .map(|r| r.name.clone())
                        .collect(),
                )
            }
            _ => None,
        };
        let outcome = match &resp {
            Response::Error { message, .. } => format!("error: {message}"),
            Response::Actions(results) => {
                let failed: Vec<String> = results
                    .iter()
                    .filter(|r| !r.ok())
                    .map(|r| format!("{}: {}", r.name, r.message))
                    .collect();
                if failed.is_empty() {
                    "ok".to_owned()
                } else {
                    format!("error: {}", failed.join("; "))
                }
            }
            _ => "ok".to_owned(),
        };
        record.outcome(outcome, acted).await;
    }
    if skipped.is_empty() {
        resp
    } else {
        Response::Partial {
            skipped,
            response: Box::new(resp),
        }
    }
}

/// An admitted `tail` or `audit`: what it asks for, then, if it follows, everything new until
/// the client hangs up. A follower holds its connection for as long as it likes: a few per
/// account.
async fn follow(
    stream: &mut UnixStream,
    admitted: Admitted,
    served: &Served,
) -> std::io::Result<()> {
    if let Request::Tail { .. } = admitted.req {
        return match begin_tail(admitted, served).await {
            Ok(Tailing { text, rx, slot }) => {
                let done = tail_follow(stream, text, rx).await;
                drop(slot);
                done
            }
            Err(r) => write(stream, &r).await,
        };
    }
    let Admitted { req, record, .. } = admitted;
    let wants = matches!(req, Request::Audit { follow: true, .. });
    let _following = match record.follower_slot(served, wants).await {
        Ok(slot) => slot,
        Err(r) => return write(stream, &r).await,
    };
    match req {
        Request::Audit {
            lines,
            user,
            follow,
        } => {
            let first = audit_first(
                served.audit.as_ref(),
                served.audit_path.as_deref(),
                lines,
                user.clone(),
                follow,
            )
            .await;
            record.outcome(outcome_of(&first, follow), None).await;
            match first {
                Ok((text, rx)) => audit_follow(stream, text, rx, user).await,
                Err(r) => write(stream, &r).await,
            }
        }
        _ => write(stream, &failed("not a tail or audit request".into())).await,
    }
}

/// `proctorctl events`: the recent events, then with `follow` each new one, of the processes
/// named (all when none) that the caller may see.
async fn events_follow(
    stream: &mut UnixStream,
    admitted: Admitted,
    served: &Served,
    caller: &Caller,
) -> std::io::Result<()> {
    let Admitted { req, record, .. } = admitted;
    let Request::Events { names, follow } = req else {
        return write(stream, &failed("not an events request".into())).await;
    };
    let _following = match record.follower_slot(served, follow).await {
        Ok(slot) => slot,
        Err(r) => return write(stream, &r).await,
    };
    let (recent, rx) = match ask(&served.tx, Cmd::Events).await {
        Ok(s) => s,
        Err((kind, message)) => {
            record.outcome(format!("error: {message}"), None).await;
            return write(stream, &Response::Error { kind, message }).await;
        }
    };
    let visible = |p: &crate::events::Published| may_see_event(p, &names, caller, served);
    let text: Vec<u8> = recent
        .iter()
        .filter(|p| visible(p))
        .flat_map(|p| p.line())
        .collect();
    let first: First<_> = Ok((text, follow.then_some(rx)));
    record.outcome(outcome_of(&first, follow), None).await;
    let Ok((text, rx)) = first else {
        return Ok(());
    };
    let skipped = |n| format!("{{\"skipped\": {n}}}\n");
    follow_up(stream, text, rx, skipped, |p| visible(p).then(|| p.line())).await
}

/// Whether `caller` is shown event `p` when following `names` (all if empty): a state change
/// to those who may see the process's status, what it wrote to those who may read its log.
pub fn may_see_event(
    p: &crate::events::Published,
    names: &[String],
    caller: &Caller,
    served: &Served,
) -> bool {
    let named = names.is_empty()
        || names.iter().any(|n| {
            n == "all"
                || *n == p.namespec
                || *n == p.group
                || *n == format!("{}:*", p.group)
                || *n == format!("{}:{}", p.group, p.name)
        });
    let target = proctor_policy::Target {
        namespec: &p.namespec,
        group: &p.group,
        name: &p.name,
        program: &p.program,
    };
    let action = if p.kind.subscribed("PROCESS_LOG") || p.kind.subscribed("PROCESS_COMMUNICATION") {
        proctor_policy::Action::Tail
    } else {
        proctor_policy::Action::Status
    };
    named
        && served
            .auth
            .decide(&caller.peer, action, Some(&target))
            .allow
}

/// Starts an admitted event follow for the web UI: a follower slot, the subscription, the
/// outcome recorded. `Err` is the answer instead.
pub async fn begin_events(
    admitted: Admitted,
    served: &Served,
) -> Result<(crate::events::Subscription, Option<crate::slots::Counted>), Response> {
    let Admitted { record, .. } = admitted;
    let slot = record.follower_slot(served, true).await?;
    match ask(&served.tx, Cmd::Events).await {
        Ok(sub) => {
            record.outcome("ok: following".into(), None).await;
            Ok((sub, slot))
        }
        Err((kind, message)) => {
            record.outcome(format!("error: {message}"), None).await;
            Err(Response::Error { kind, message })
        }
    }
}

/// A tail under way: what it shows first, what follows, and the follower slot it holds.
pub struct Tailing {
    pub text: Vec<u8>,
    pub rx: Option<crate::logs::Follower>,
    pub slot: Option<crate::slots::Counted>,
}

/// Starts an admitted tail: a follower slot if it follows (a few per account), the end of the
/// log, the outcome recorded. `Err` is the answer instead.
pub async fn begin_tail(admitted: Admitted, served: &Served) -> Result<Tailing, Response> {
    let Admitted { req, record, .. } = admitted;
    let Request::Tail { log, back, follow } = req else {
        return Err(failed("not a tail request".into()));
    };
    let slot = record.follower_slot(served, follow).await?;
    let first = crate::logserve::tail(served, log, back, follow).await;
    record.outcome(outcome_of(&first, follow), None).await;
    let (text, rx) = first?;
    Ok(Tailing { text, rx, slot })
}

pub async fn ask<T>(
    tx: &mpsc::Sender<Event>,
    make: impl FnOnce(oneshot::Sender<Result<T, Failure>>) -> Cmd,
) -> Result<T, Failure> {
    let (rtx, rrx) = oneshot::channel();
    tx.send(Event::Cmd(Box::new(make(rtx))))
        .await
        .map_err(|_| {
            (
                ErrorKind::ShuttingDown,
                "the daemon is shutting down".to_owned(),
            )
        })?;
    rrx.await.unwrap_or_else(|_| {
        Err((
            ErrorKind::ShuttingDown,
            "the daemon is shutting down".to_owned(),
        ))
    })
}

pub fn respond<T>(r: Result<T, Failure>, ok: impl FnOnce(T) -> Response) -> Response {
    match r {
        Ok(v) => ok(v),
        Err((kind, message)) => Response::Error { kind, message },
    }
}

async fn handle(req: Request, served: &Served) -> Response {
    let tx = &served.tx;
    match req {
        Request::Status { names } => {
            respond(ask(tx, |r| Cmd::Status(names, r)).await, Response::Status)
        }
        Request::Start { names, wait } => respond(
            ask(tx, |r| Cmd::Start(names, wait, r)).await,
            Response::Actions,
        ),
        Request::Stop { names, wait } => respond(
            ask(tx, |r| Cmd::Stop(names, wait, r)).await,
            Response::Actions,
        ),
        Request::Restart { names } => {
            // As supervisorctl does: stop, then start, and report both.
            let stopped = match ask(tx, |r| Cmd::Stop(names.clone(), true, r)).await {
                Ok(v) => v,
                Err((kind, message)) => return Response::Error { kind, message },
            };
            let started = match ask(tx, |r| Cmd::Start(names, true, r)).await {
                Ok(v) => v,
                Err((kind, message)) => return Response::Error { kind, message },
            };
            // A process that was not running is not a failure of restart.
            let mut out: Vec<_> = stopped.into_iter().filter(|r| r.ok()).collect();
            out.extend(started);
            Response::Actions(out)
        }
        Request::Signal { signal, names } => respond(
            ask(tx, |r| Cmd::Signal(signal, names, r)).await,
            Response::Actions,
        ),
        Request::Pid { name } => respond(ask(tx, |r| Cmd::Pids(name, r)).await, Response::Pids),
        Request::Reread => {
            let r = match ask(tx, |r| Cmd::ReadConfig(false, r)).await {
                Ok((config, _)) => ask(tx, |r| Cmd::Diff(config, r)).await,
                Err(e) => Err(e),
            };
            respond(r, Response::Reread)
        }
        Request::Update { groups } => crate::applying::update(tx, groups).await,
        Request::Reload => crate::applying::reload(tx).await,
        Request::Add { groups } => crate::applying::add(tx, groups).await,
        Request::Remove { groups } => crate::applying::remove(tx, groups).await,
        Request::Avail => respond(ask(tx, Cmd::Avail).await, Response::Avail),
        Request::Read {
            log,
            offset,
            length,
            tail,
        } => crate::logserve::read(served, log, offset, length, tail).await,
        Request::Clear { names } => crate::logserve::clear(served, names).await,
        Request::Stdin { name, data } => crate::stdin::send(tx, name, data).await,
        Request::RemoteCommEvent { kind, data } => {
            respond(ask(tx, |r| Cmd::RemoteComm(kind, data, r)).await, |()| {
                Response::Done
            })
        }
        Request::ClearMainLog => crate::logserve::clear_main(served).await,
        Request::Shutdown => Response::Done,
        Request::Version => Response::Version(env!("CARGO_PKG_VERSION").to_owned()),
        Request::WebLink => failed("a login link is made for a connection's own account".into()),
        Request::Tail { .. }
        | Request::ReloadPolicy
        | Request::Audit { .. }
        | Request::Events { .. } => Response::Error {
            kind: ErrorKind::Failed,
            message: "tail is served elsewhere".into(),
        },
    }
}

/// What a `tail` or `audit` request gets first: the text, and what follows it, if asked for;
/// or the error to answer with.
type First<T> = Result<(Vec<u8>, Option<tokio::sync::broadcast::Receiver<T>>), Response>;

/// The outcome record of a `tail` or `audit` request.
fn outcome_of<T>(first: &First<T>, follow: bool) -> String {
    match first {
        Ok((text, _)) if follow => format!("ok: {} bytes, then following", text.len()),
        Ok((text, _)) => format!("ok: {} bytes", text.len()),
        Err(Response::Error { message, .. }) => format!("error: {message}"),
        Err(_) => "error".to_owned(),
    }
}

fn failed(message: String) -> Response {
    Response::Error {
        kind: ErrorKind::Failed,
        message,
    }
}

fn busy(message: String) -> Response {
    Response::Error {
        kind: ErrorKind::Busy,
        message,
    }
}

async fn tail_follow(
    stream: &mut UnixStream,
    text: Vec<u8>,
    rx: Option<crate::logs::Follower>,
) -> std::io::Result<()> {
    // A chunk may end mid-line: the note starts on a line of its own.
    let skipped = |n| format!("\n[proctor: {n} chunks skipped: the follower fell behind]\n");
    follow_up(stream, text, rx, skipped, |c| Some(c.to_vec())).await
}

/// Sends `text`, then, with `rx`, streams what it carries (as `bytes` renders it; `None` skips
/// an item) until it ends or the client hangs up; `skipped(n)` is the note for n items a slow
/// follower missed. Without `rx`, the answer ends after `text`.
async fn follow_up<T: Clone>(
    stream: &mut UnixStream,
    text: Vec<u8>,
    rx: Option<tokio::sync::broadcast::Receiver<T>>,
    skipped: impl Fn(u64) -> String,
    bytes: impl Fn(&T) -> Option<Vec<u8>>,
) -> std::io::Result<()> {
    write(stream, &Response::TailChunk(text)).await?;
    let Some(mut rx) = rx else {
        return write(stream, &Response::TailEnd).await;
    };
    let (mut rd, mut wr) = stream.split();
    let mut probe = [0u8; 1];
    loop {
        tokio::select! {
            item = rx.recv() => match item {
                Ok(item) => {
                    if let Some(b) = bytes(&item) {
                        write(&mut wr, &Response::TailChunk(b)).await?;
                    }
                }
                Err(tokio::sync::broadcast::error::RecvError::Lagged(n)) => {
                    write(&mut wr, &Response::TailChunk(skipped(n).into_bytes())).await?;
                }
                Err(_) => return write(&mut wr, &Response::TailEnd).await,
            },
            // The client sends nothing more; EOF means it hung up.
            r = rd.read(&mut probe) => {
                if matches!(r, Ok(0) | Err(_)) {
                    return Ok(());
                }
            }
        }
    }
}

/// `proctorctl audit [-n N] [--user U] [--follow]`: the last records, read off the async
/// workers.
/// An admitted `audit` that does not follow (the web UI's audit page): the log's last `lines`
/// records (of `user`'s, if given), the outcome recorded.
pub async fn audit_text(admitted: Admitted, served: &Served) -> Result<Vec<u8>, Response> {
    let Admitted { req, record, .. } = admitted;
    let Request::Audit { lines, user, .. } = req else {
        return Err(failed("not an audit request".into()));
    };
    let first = audit_first(
        served.audit.as_ref(),
        served.audit_path.as_deref(),
        lines,
        user,
        false,
    )
    .await;
    record.outcome(outcome_of(&first, false), None).await;
    first.map(|(text, _)| text)
}

async fn audit_first(
    audit: Option<&Audit>,
    path: Option<&std::path::Path>,
    lines: u32,
    user: Option<String>,
    follow: bool,
) -> First<Arc<str>> {
    let (Some(audit), Some(path)) = (audit, path) else {
        return Err(failed("no [proctor] audit_log= is configured".into()));
    };
    // Subscribed before reading, so that nothing falls between the two.
    let rx = follow.then(|| audit.subscribe()).flatten();
    let path = path.to_path_buf();
    let text = tokio::task::spawn_blocking(move || {
        crate::audit::read_tail(&path, lines as usize, user.as_deref())
    })
    .await
    .map_err(|e| failed(format!("audit failed: {e}")))?
    .map_err(failed)?;
    Ok((text.into_bytes(), rx))
}

async fn audit_follow(
    stream: &mut UnixStream,
    text: Vec<u8>,
    rx: Option<tokio::sync::broadcast::Receiver<Arc<str>>>,
    user: Option<String>,
) -> std::io::Result<()> {
    let wanted = |line: &str| match &user {
        None => true,
        Some(u) => {
            serde_json::from_str::<proctor_api::audit::Record>(line).is_ok_and(|r| &r.user == u)
        }
    };
    let skipped = |n| format!("[proctor: {n} records skipped: the follower fell behind]\n");
    follow_up(stream, text, rx, skipped, |l| {
        wanted(l).then(|| l.as_bytes().to_vec())
    })
    .await
}
