//! HTTP on the control socket: what stock supervisorctl and the tools built on Supervisor's API
//! (superlance, the Ansible module, exporters) speak. The connection has been told apart from
//! proctorctl's frames by its first byte; the caller is who SO_PEERCRED said, and every call is
//! decided by the policy and recorded in the audit log as a proctorctl request is
//! ([`crate::server::admit`]).
//!
//! hyper serves the HTTP/1.x; every answer says `Connection: close`, as Supervisor's clients
//! reconnect for the next call then (superlance keeps a connection between calls and never
//! retries one that the server closed without saying so). Limits: the head must arrive within
//! the request timeout and fit 64 KiB, the body 1 MiB within the same time; an answer the
//! client does not take within the write timeout ends the connection.

mod acting;
mod fault;
pub mod halves;
mod logtail;
mod rpc;
mod sessions;
pub mod tcp;
mod web;

pub use sessions::{Sessions, LINK_TTL};

use crate::server::{Caller, Served, REQUEST_TIMEOUT, WRITE_TIMEOUT};
use http_body_util::{BodyExt, Either, Full, Limited};
use hyper::body::{Bytes, Incoming};
use hyper::header::{HeaderValue, CONTENT_TYPE};
use hyper::{Method, StatusCode};
use std::convert::Infallible;
use tokio::net::UnixStream;

/// The largest request body read: far above any call a stock client makes (the largest is
/// `sendProcessStdin`).
const MAX_BODY: usize = 1024 * 1024;
/// The largest request head.
const MAX_HEAD: usize = 64 * 1024;

/// An answer's body: whole, or streamed (a log tail).
type Body = Either<Full<Bytes>, http_body_util::channel::Channel<Bytes>>;
type Answer = hyper::Response<Body>;

/// Serves HTTP requests on `stream` until the answer to the first is sent.
pub async fn serve(stream: UnixStream, caller: Caller, served: &Served) -> std::io::Result<()> {
    let caller = &caller;
    // For a log tail, to see the client hang up (see `logtail`); taken by the one request.
    let watch = std::sync::Mutex::new(std::os::fd::AsFd::as_fd(&stream).try_clone_to_owned().ok());
    let watch = &watch;
    let service =
        hyper::service::service_fn(move |req| route(req, caller, served, watch, Via::Socket));
    // A client that does not take its answer is dropped, as proctorctl's is: it holds a slot.
    let mut io = tokio_io_timeout::TimeoutStream::new(stream);
    io.set_write_timeout(Some(WRITE_TIMEOUT));
    let served_http = hyper::server::conn::http1::Builder::new()
        .keep_alive(false)
        .max_buf_size(MAX_HEAD)
        .timer(hyper_util::rt::TokioTimer::new())
        .header_read_timeout(REQUEST_TIMEOUT)
        .serve_connection(hyper_util::rt::TokioIo::new(Box::pin(io)), service)
        .await
        .map_err(std::io::Error::other);
    // After the answer: with no service to stop, the daemon is gone at once.
    if caller
        .shutdown_after
        .load(std::sync::atomic::Ordering::Relaxed)
    {
        let cmd = crate::supervisor::Event::Cmd(Box::new(crate::supervisor::Cmd::Shutdown));
        let _ = served.tx.send(cmd).await;
    }
    served_http
}

/// How a request reached the daemon.
#[derive(Clone, Copy)]
pub enum Via<'a> {
    /// The control socket: the caller is who SO_PEERCRED says.
    Socket,
    /// `[inet_http_server]`: the caller is who a password or a session says.
    Tcp(&'a tcp::Front),
}

impl Via<'_> {
    fn kind(self) -> sessions::Kind {
        match self {
            Via::Socket => sessions::Kind::Socket,
            Via::Tcp(_) => sessions::Kind::Tcp,
        }
    }

    /// The session cookie's name: distinct, since a browser sends a `localhost` cookie to
    /// every port of localhost.
    fn cookie(self) -> &'static str {
        match self {
            Via::Socket => "proctor_session",
            Via::Tcp(_) => "proctor_tcp_session",
        }
    }

    fn scheme(self) -> &'static str {
        match self {
            Via::Tcp(f) if f.tls() => "https",
            _ => "http",
        }
    }

    /// The `Host` header, if it names this server (with any port).
    fn allowed_host(self, headers: &hyper::HeaderMap) -> Option<String> {
        let host = headers.get(hyper::header::HOST)?.to_str().ok()?;
        let name = match host.strip_prefix('[') {
            Some(rest) => rest.split(']').next().map(|h| format!("[{h}]"))?,
            None => host.split(':').next()?.to_owned(),
        };
        let port = host.rsplit_once(':').map(|(_, p)| p);
        let port_ok =
            port.is_none_or(|p| p.bytes().all(|b| b.is_ascii_digit()) || p.ends_with(']'));
        let name = name.to_ascii_lowercase();
        // Against DNS rebinding: the loopback's names, and on TCP the ones the admin gave.
        let known = ["localhost", "127.0.0.1", "[::1]"].contains(&name.as_str())
            || matches!(self, Via::Tcp(f) if f.serves_name(&name));
        (known && port_ok).then(|| host.to_owned())
    }
}

pub(crate) async fn route(
    req: hyper::Request<Incoming>,
    caller: &Caller,
    served: &Served,
    watch: &std::sync::Mutex<Option<std::os::fd::OwnedFd>>,
    via: Via<'_>,
) -> Result<Answer, Infallible> {
    // A peer who may not use the daemon gets no more of it.
    if let Err(message) = served.auth.may_connect(&caller.peer) {
        return Ok(text(StatusCode::FORBIDDEN, message));
    }
    if req.method() == Method::GET && logtail::is_tail(req.uri().path()) {
        if let Err(message) = crate::server::over_rate(caller, served).await {
            return Ok(text(StatusCode::TOO_MANY_REQUESTS, message));
        }
        let watch = watch.lock().ok().and_then(|mut w| w.take());
        return Ok(logtail::answer(req.uri().path(), caller, served, watch).await);
    }
    if web::serves(req.uri().path()) {
        if let Err(message) = crate::server::over_rate(caller, served).await {
            return Ok(text(StatusCode::TOO_MANY_REQUESTS, message));
        }
        let watch = watch.lock().ok().and_then(|mut w| w.take());
        return Ok(web::answer(req, caller, served, via, watch).await);
    }
    // As supervisord: a prefix match, and only POST.
    if !req.uri().path().starts_with("/RPC2") {
        return Ok(text(StatusCode::NOT_FOUND, "not found".into()));
    }
    if req.method() != Method::POST {
        return Ok(text(StatusCode::BAD_REQUEST, "XML-RPC takes POST".into()));
    }
    // Every XML-RPC client says text/xml; a web page can send another site a form (or a
    // text/plain body) without asking first, but not this: a browser asks the server before a
    // cross-site text/xml POST, and proctor never agrees.
    if !is_xml(req.headers().get(CONTENT_TYPE)) {
        let why = "XML-RPC takes Content-Type: text/xml (a cross-site form cannot send it)";
        crate::server::record_refusal(caller, served, "xmlrpc", why).await;
        return Ok(text(StatusCode::UNSUPPORTED_MEDIA_TYPE, why.into()));
    }
    // Before the body is read: an account past its rate costs no more than this.
    if let Err(message) = crate::server::over_rate(caller, served).await {
        return Ok(xml(rpc::refusal(message)));
    }
    let body = Limited::new(req.into_body(), MAX_BODY);
    let body = match tokio::time::timeout(REQUEST_TIMEOUT, body.collect()).await {
        Ok(Ok(b)) => b.to_bytes(),
        Ok(Err(e)) => return Ok(text(StatusCode::BAD_REQUEST, format!("request body: {e}"))),
        Err(_) => {
            return Ok(text(
                StatusCode::REQUEST_TIMEOUT,
                "the request body did not arrive in time".into(),
            ))
        }
    };
    // supervisord answers 400 to a body it cannot read as a call.
    let call = match proctor_xmlrpc::parse_call(&body) {
        Ok(c) => c,
        Err(e) => return Ok(text(StatusCode::BAD_REQUEST, format!("XML-RPC: {e}"))),
    };
    Ok(match rpc::call(call, caller, served).await {
        rpc::Answered::Xml(body) => xml(body),
        rpc::Answered::Forbidden(why) => forbidden(why),
    })
}

/// `text/xml`, with or without parameters, in any case.
fn is_xml(content_type: Option<&HeaderValue>) -> bool {
    content_type
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|t| t.trim().eq_ignore_ascii_case("text/xml"))
}

/// HTTP 403 whose reason phrase is `why` (when it can be one: visible ASCII), for a client
/// that shows only the status line.
fn forbidden(why: String) -> Answer {
    let mut a = text(StatusCode::FORBIDDEN, why.clone());
    let phrase: String = why
        .chars()
        .map(|c| {
            if c.is_ascii_graphic() || c == ' ' {
                c
            } else {
                '?'
            }
        })
        .collect();
    if let Ok(p) = hyper::ext::ReasonPhrase::try_from(phrase) {
        a.extensions_mut().insert(p);
    }
    a
}

fn xml(body: Vec<u8>) -> Answer {
    let mut a = hyper::Response::new(Either::Left(Full::new(Bytes::from(body))));
    a.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("text/xml"));
    a
}

fn text(status: StatusCode, message: String) -> Answer {
    let mut a = hyper::Response::new(Either::Left(Full::new(Bytes::from(message + "\n"))));
    *a.status_mut() = status;
    a.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    a
}
