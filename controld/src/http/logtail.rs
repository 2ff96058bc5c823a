//! `GET /logtail/NAME[/CHANNEL]` and `GET /mainlogtail`: what `supervisorctl tail -f`,
//! `maintail -f` and `fg` read. As supervisord answers: the last 1,024 bytes, then whatever is
//! written, as a chunked body that ends only when the client hangs up; 404 for a process that
//! does not exist, 410 for a log that does not. The tail is decided by the policy and recorded
//! as `proctorctl tail -f` is, and holds one of the account's follower slots.
//!
//! supervisorctl sends a blank line after its request and never anything more, and hyper, which
//! writes the body, would notice the client gone only at the next write: a quiet log would keep
//! the follower forever. So a second descriptor of the connection is watched for the peer's
//! hang-up (EPOLLRDHUP), which ends the stream.

use super::{forbidden, text, Answer, Body};
use crate::server::{admit, begin_tail, Caller, Served, Tailing};
use http_body_util::channel::{Channel, Sender};
use hyper::body::Bytes;
use hyper::header::{HeaderValue, CONTENT_TYPE};
use hyper::StatusCode;
use proctor_api::control::{Back, Channel as Stream, ErrorKind, Log, Request, Response};
use std::os::fd::OwnedFd;
use tokio::sync::broadcast::error::RecvError;

/// What supervisord's `tail_f_producer` sends first.
const FIRST_BYTES: u32 = 1024;

/// The log a path names, as supervisord's handlers read it; `None` for a path they answer 404.
fn log_of(path: &str) -> Option<Result<Log, StatusCode>> {
    if path.starts_with("/mainlogtail") {
        return Some(Ok(Log::Main));
    }
    let rest = path.strip_prefix("/logtail")?;
    let rest = rest.trim_start_matches('/');
    if rest.is_empty() {
        return None;
    }
    let (name, channel) = rest.split_once('/').unwrap_or((rest, "stdout"));
    let channel = match channel {
        "stdout" => Stream::Stdout,
        "stderr" => Stream::Stderr,
        // supervisord: a channel it has no log file for.
        _ => return Some(Err(StatusCode::GONE)),
    };
    Some(
        super::acting::exact(name)
            .map(|name| Log::Process { name, channel })
            .ok_or(StatusCode::NOT_FOUND),
    )
}

/// Whether this is a log tail's path.
pub fn is_tail(path: &str) -> bool {
    path.starts_with("/logtail") || path.starts_with("/mainlogtail")
}

/// The answer to a GET of a tail's `path`; `watch` is a second descriptor of the connection.
pub async fn answer(
    path: &str,
    caller: &Caller,
    served: &Served,
    watch: Option<OwnedFd>,
) -> Answer {
    // supervisord unquotes a path with a `%` in it.
    let path = percent_encoding::percent_decode_str(path).decode_utf8_lossy();
    let log = match log_of(&path) {
        None => return text(StatusCode::NOT_FOUND, "not found".into()),
        Some(Err(status)) => return text(status, "no such log".into()),
        Some(Ok(log)) => log,
    };
    let mut req = Request::Tail {
        log,
        back: Back::Bytes(FIRST_BYTES),
        follow: true,
    };
    if let Err(message) = req.tidy() {
        return text(StatusCode::BAD_REQUEST, message);
    }
    let tailing = match admit(req, caller, served).await {
        Ok(admitted) => begin_tail(admitted, served).await,
        Err(refusal) => Err(refusal),
    };
    let tailing = match tailing {
        Ok(t) => t,
        Err(Response::Error { kind, message }) => return refused(kind, message),
        Err(_) => {
            return text(
                StatusCode::INTERNAL_SERVER_ERROR,
                "unexpected answer".into(),
            )
        }
    };
    let (tx, body) = Channel::new(4);
    tokio::spawn(stream(tx, tailing, watch));
    let mut a = hyper::Response::new(Body::Right(body));
    let h = a.headers_mut();
    h.insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain;charset=utf-8"),
    );
    // As supervisord: tells a reverse proxy not to buffer the stream.
    h.insert("X-Accel-Buffering", HeaderValue::from_static("no"));
    a
}

/// A tail refused or failed, as supervisord's statuses say it.
fn refused(kind: ErrorKind, message: String) -> Answer {
    match kind {
        ErrorKind::PermissionDenied => forbidden(message),
        ErrorKind::BadName => text(StatusCode::NOT_FOUND, message),
        ErrorKind::NoFile | ErrorKind::BadArguments => text(StatusCode::GONE, message),
        ErrorKind::Busy => text(StatusCode::SERVICE_UNAVAILABLE, message),
        ErrorKind::ShuttingDown | ErrorKind::CantReread | ErrorKind::Failed => {
            text(StatusCode::INTERNAL_SERVER_ERROR, message)
        }
    }
}

/// Sends the tail's first text, then each new chunk, until the client hangs up or the log's
/// sink goes (its program removed).
async fn stream(mut tx: Sender<Bytes>, tailing: Tailing, watch: Option<OwnedFd>) {
    let Tailing { text, rx, slot } = tailing;
    let _slot = slot;
    let hangup = hung_up(watch);
    tokio::pin!(hangup);
    if !text.is_empty() && tx.send_data(Bytes::from(text)).await.is_err() {
        return;
    }
    let Some(mut rx) = rx else {
        return;
    };
    loop {
        let chunk = tokio::select! {
            () = &mut hangup => return,
            item = rx.recv() => match item {
                Ok(b) => Bytes::copy_from_slice(&b),
                Err(RecvError::Lagged(n)) => Bytes::from(format!(
                    "\n[proctor: {n} chunks skipped: the follower fell behind]\n"
                )),
                Err(RecvError::Closed) => return,
            },
        };
        // A client that does not read is dropped by the connection's write timeout, which
        // drops the body and ends this.
        if tx.send_data(chunk).await.is_err() {
            return;
        }
    }
}

/// Resolves once the peer has hung up (or the watch cannot be set up: never).
pub async fn hung_up(watch: Option<OwnedFd>) {
    use tokio::io::Interest;
    let watched = watch.and_then(|fd| {
        tokio::net::UnixStream::from_std(std::os::unix::net::UnixStream::from(fd)).ok()
    });
    let Some(s) = watched else {
        return std::future::pending().await;
    };
    loop {
        match s.ready(Interest::READABLE).await {
            Ok(r) if r.is_read_closed() => return,
            // Bytes the client sent and hyper left unread (supervisorctl's blank line): not a
            // hang-up. Cleared, so that only a new event wakes this again.
            Ok(_) => {
                let _ = s.try_io(Interest::READABLE, || {
                    Err::<(), _>(std::io::ErrorKind::WouldBlock.into())
                });
            }
            Err(_) => return,
        }
    }
}
