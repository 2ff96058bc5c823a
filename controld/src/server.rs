//! The control socket: one task per connection. Every frame is bounded and decoded exactly; a
//! client that sends garbage, too much, nothing, or hangs up is dropped and nothing else is
//! affected.

use crate::audit::Audit;
use crate::authority::Authority;
use crate::authorize::authorize;
use crate::peers::Peers;
use crate::ratelimit::{self, Limiter};
use crate::slots::{Refused, Slots};
use crate::supervisor::{Cmd, Event, Failure};
use proctor_api::audit::Record;
use proctor_api::control::{
    ClientFrame, ErrorKind, Request, Response, CONTROL_PROTOCOL_VERSION, MAX_REQUEST,
};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::{mpsc, oneshot};
use tracing::{debug, warn};

/// Serialises `update`s.
static UPDATES: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// A client has this long to send its request.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// A client that does not take its reply within this long is dropped (it holds a slot).
const WRITE_TIMEOUT: Duration = Duration::from_secs(10);

pub async fn serve(
    listener: UnixListener,
    tx: mpsc::Sender<Event>,
    auth: Arc<Authority>,
    audit: Option<Audit>,
    audit_path: Option<std::path::PathBuf>,
) {
    let slots = Arc::new(Slots::new(nix::unistd::getuid().as_raw()));
    let limiter = Arc::new(Limiter::default());
    let peers = Arc::new(Peers::default());
    if let Some(a) = audit.clone() {
        tokio::spawn(summarize_refusals(limiter.clone(), a));
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
        let taken = slots.take(uid);
        let tx = tx.clone();
        let auth = auth.clone();
        let audit = audit.clone();
        let audit_path = audit_path.clone();
        let limiter = limiter.clone();
        let slots = slots.clone();
        let peers = peers.clone();
        // Each in a task of its own, so that a client that does not read, or an account
        // lookup, cannot hold up the accept loop.
        tokio::spawn(async move {
            let slot = match taken {
                Ok(slot) => slot,
                // The shared slots are taken: an admin may have a reserved one.
                Err(Refused::Full) => {
                    let Some(looking) = slots.admin_lookup(uid) else {
                        return turn_away(&mut stream, Refused::Full.message()).await;
                    };
                    let peer = peers.lookup(uid).await;
                    drop(looking);
                    let reserved = if auth.is_admin(&peer) {
                        slots.reserved(uid)
                    } else {
                        slots.not_admin(uid);
                        Err(Refused::Full)
                    };
                    match reserved {
                        Ok(slot) => slot,
                        Err(why) => return turn_away(&mut stream, why.message()).await,
                    }
                }
                Err(why) => return turn_away(&mut stream, why.message()).await,
            };
            let served = Served {
                tx,
                auth: &auth,
                audit: audit.as_ref(),
                audit_path: audit_path.as_deref(),
                limiter: &limiter,
                slots: &slots,
                peers: &peers,
            };
            if let Err(e) = connection(stream, cred, served).await {
                debug!("client dropped: {e}");
            }
            drop(slot);
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
struct Served<'a> {
    tx: mpsc::Sender<Event>,
    auth: &'a Arc<Authority>,
    audit: Option<&'a Audit>,
    audit_path: Option<&'a std::path::Path>,
    limiter: &'a Limiter,
    slots: &'a Slots,
    peers: &'a Peers,
}

/// Serves one connection, from the peer `cred`.
async fn connection(
    mut stream: UnixStream,
    cred: tokio::net::unix::UCred,
    served: Served<'_>,
) -> std::io::Result<()> {
    let Served {
        tx,
        auth,
        audit,
        audit_path,
        limiter,
        slots,
        peers,
    } = served;
    let uid = cred.uid();
    let pid = cred.pid();
    // The uid from the kernel, the name and groups from the account database.
    let peer = peers.lookup(uid).await;
    // Before reading anything: a peer who may not use the daemon gets no more of it.
    if let Err(message) = auth.may_connect(&peer) {
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
        let privileged = auth.is_admin(&peer);
        let admitted = if privileged {
            Ok(())
        } else {
            limiter.take(uid, &peer.name)
        };
        if let Err(wait) = admitted {
            tokio::time::sleep(wait).await;
            let message = format!(
                "too many requests from {}: at most {} a second ({} at once); try again",
                peer.name,
                ratelimit::RATE,
                ratelimit::BURST
            );
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
        let checked = authorize(req, &peer, auth, &tx).await;
        // Written and synced before anything runs; if it cannot be, nothing runs.
        let entry = |kind: &str, outcome: Option<String>, request: Option<u64>| Record {
            kind: kind.to_owned(),
            uid,
            user: peer.name.clone(),
            pid,
            action: checked.action.name().to_owned(),
            targets: checked.targets.clone(),
            decision: if checked.allow { "allow" } else { "deny" }.to_owned(),
            rule: checked.rule.clone(),
            outcome,
            request,
            ..Record::default()
        };
        let seq = match audit {
            Some(a) => match a.log(entry("request", None, None), privileged).await {
                Ok(seq) => Some(seq),
                Err(e) => {
                    let r = Response::Error {
                        kind: ErrorKind::Failed,
                        message: format!("refused: {e}"),
                    };
                    write(&mut stream, &r).await?;
                    continue;
                }
            },
            None => None,
        };
        let (req, skipped) = match checked.result {
            Ok(r) => r,
            Err(ref refusal) => {
                if let Response::Error { message, .. } = refusal {
                    warn!(uid, user = %peer.name, "{message}");
                }
                write(&mut stream, refusal).await?;
                continue;
            }
        };
        // What the request came to, recorded after its request record (for a follower: once
        // what it asked for is sent, before it follows).
        // `acted`: what a request that acts on processes acted on, as it resolved its names
        // when it ran (a set may have changed since it was checked).
        let report = async |outcome: String, acted: Option<Vec<String>>| {
            if let (Some(a), Some(seq)) = (audit, seq) {
                let mut record = entry("outcome", Some(outcome), Some(seq));
                if let Some(acted) = acted {
                    record.targets = acted;
                }
                if let Err(e) = a.log(record, privileged).await {
                    warn!("{e}");
                }
            }
        };
        // A follower holds its connection for as long as it likes: a few per account.
        let following = match &req {
            Request::Audit { follow: true, .. } | Request::Tail { follow: true, .. } => {
                match slots.follower(uid, privileged) {
                    Ok(held) => held,
                    Err(message) => {
                        report(format!("error: {message}"), None).await;
                        write(&mut stream, &busy(message)).await?;
                        continue;
                    }
                }
            }
            _ => None,
        };
        if let Request::Audit {
            lines,
            user,
            follow,
        } = req
        {
            let _following = following;
            let first = audit_first(audit, audit_path, lines, user.clone(), follow).await;
            report(outcome_of(&first, follow), None).await;
            return match first {
                Ok((text, rx)) => audit_follow(&mut stream, text, rx, user).await,
                Err(r) => write(&mut stream, &r).await,
            };
        }
        if let Request::Tail {
            name,
            channel,
            lines,
            follow,
        } = req
        {
            let _following = following;
            let first = tail_first(&tx, name, channel, lines, follow).await;
            report(outcome_of(&first, follow), None).await;
            return match first {
                Ok((text, rx)) => tail_follow(&mut stream, text, rx).await,
                Err(r) => write(&mut stream, &r).await,
            };
        }
        if let Request::ReloadPolicy = req {
            // Reading the file and looking its accounts up blocks: off the async workers.
            let auth = auth.clone();
            let reloaded = match tokio::task::spawn_blocking(move || auth.reload()).await {
                Ok(r) => {
                    r.map_err(|m| format!("policy refused, the previous one stays in force: {m}"))
                }
                Err(e) => Err(format!("policy reload failed: {e}")),
            };
            let r = match reloaded {
                Ok(what) => {
                    report(format!("ok: {what}"), None).await;
                    Response::Done
                }
                Err(message) => {
                    report(format!("error: {message}"), None).await;
                    failed(message)
                }
            };
            write(&mut stream, &r).await?;
            continue;
        }
        let shutdown = matches!(req, Request::Shutdown);
        let mut resp = handle(req, &tx).await;
        if audit.is_some() {
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
                        .filter(|r| !r.ok)
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
            report(outcome, acted).await;
        }
        if !skipped.is_empty() {
            resp = Response::Partial {
                skipped,
                response: Box::new(resp),
            };
        }
        write(&mut stream, &resp).await?;
        if shutdown {
            let _ = tx.send(Event::Cmd(Box::new(Cmd::Shutdown))).await;
        }
    }
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

fn respond<T>(r: Result<T, Failure>, ok: impl FnOnce(T) -> Response) -> Response {
    match r {
        Ok(v) => ok(v),
        Err((kind, message)) => Response::Error { kind, message },
    }
}

async fn handle(req: Request, tx: &mpsc::Sender<Event>) -> Response {
    match req {
        Request::Status { names } => {
            respond(ask(tx, |r| Cmd::Status(names, r)).await, Response::Status)
        }
        Request::Start { names } => {
            respond(ask(tx, |r| Cmd::Start(names, r)).await, Response::Actions)
        }
        Request::Stop { names } => {
            respond(ask(tx, |r| Cmd::Stop(names, r)).await, Response::Actions)
        }
        Request::Restart { names } => {
            // As supervisorctl does: stop, then start, and report both.
            let stopped = match ask(tx, |r| Cmd::Stop(names.clone(), r)).await {
                Ok(v) => v,
                Err((kind, message)) => return Response::Error { kind, message },
            };
            let started = match ask(tx, |r| Cmd::Start(names, r)).await {
                Ok(v) => v,
                Err((kind, message)) => return Response::Error { kind, message },
            };
            // A process that was not running is not a failure of restart.
            let mut out: Vec<_> = stopped.into_iter().filter(|r| r.ok).collect();
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
        Request::Update { groups } => {
            // One update at a time: each reads, checks and applies one generation.
            let _one = UPDATES.lock().await;
            let checked = match ask(tx, |r| Cmd::ReadConfig(false, r)).await {
                Ok((preview, _)) => ask(tx, |r| Cmd::CheckUpdate(preview, groups, r)).await,
                Err(e) => Err(e),
            };
            if let Err((kind, message)) = checked {
                return Response::Error { kind, message };
            }
            if let Err((kind, message)) = ask(tx, |r| Cmd::ReadConfig(true, r)).await {
                return Response::Error { kind, message };
            }
            let (diff, to_stop) = match ask(tx, Cmd::PlanUpdate).await {
                Ok(v) => v,
                Err((kind, message)) => return Response::Error { kind, message },
            };
            let (rtx, rrx) = oneshot::channel();
            if tx
                .send(Event::Cmd(Box::new(Cmd::StopKeys(to_stop, rtx))))
                .await
                .is_err()
            {
                return Response::Error {
                    kind: ErrorKind::ShuttingDown,
                    message: "the daemon is shutting down".into(),
                };
            }
            let mut out: Vec<_> = rrx
                .await
                .unwrap_or_default()
                .into_iter()
                .filter(|r| r.ok)
                .collect();
            match ask(tx, |r| Cmd::FinishUpdate(diff, r)).await {
                Ok(v) => {
                    out.extend(v);
                    Response::Actions(out)
                }
                Err((kind, message)) => Response::Error { kind, message },
            }
        }
        Request::Avail => respond(ask(tx, Cmd::Avail).await, Response::Avail),
        Request::Shutdown => Response::Done,
        Request::Version => Response::Version(env!("CARGO_PKG_VERSION").to_owned()),
        Request::Tail { .. } | Request::ReloadPolicy | Request::Audit { .. } => Response::Error {
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

/// `proctorctl tail [-n N] [-f] NAME`: the last lines, read off the async workers.
async fn tail_first(
    tx: &mpsc::Sender<Event>,
    name: String,
    channel: proctor_api::control::Channel,
    lines: u32,
    follow: bool,
) -> First<Arc<[u8]>> {
    let sink = ask(tx, |r| Cmd::Tail(name, channel, r))
        .await
        .map_err(|(kind, message)| Response::Error { kind, message })?;
    tokio::task::spawn_blocking(move || sink.tail(lines, follow))
        .await
        .map_err(|e| failed(format!("tail failed: {e}")))
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
