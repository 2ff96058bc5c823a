//! The web UI on the control socket (`ssh -L 8080:/run/proctor/proctor.sock host`, then the
//! link `proctorctl web` prints): server-rendered pages, every action a POST that the policy
//! decides and the audit log records under the person's own account, as any request.
//!
//! What protects it: a page or an action needs a session, opened only by a one-time link that
//! the daemon's own protocol hands out and bound to the account on the connection
//! (`sessions`); an action also needs the session's CSRF token, an `Origin` of this very host
//! and, when the browser says it, `Sec-Fetch-Site: same-origin`; every request needs a `Host`
//! that is this machine's loopback (against DNS rebinding); answers forbid framing, inline
//! scripts and caching. A refused action is recorded in the audit log.

use super::sessions::Kind;
use super::{Answer, Body, Via};
use crate::server::{admit, answer as run, ask, Caller, Served};
use crate::supervisor::Cmd;
use askama::Template;
use http_body_util::{BodyExt, Either, Full, Limited};
use hyper::body::{Bytes, Incoming};
use hyper::header::{HeaderValue, CONTENT_TYPE, COOKIE, LOCATION, SET_COOKIE};
use hyper::{HeaderMap, Method, StatusCode};
use proctor_api::control::{Back, Channel, Log, ProcessInfo, Request, Response};
use proctor_policy::{Action, Target};
use std::collections::BTreeMap;

/// The paths the UI answers (each has its arm in [`answer`]).
const PATHS: &[&str] = &[
    "/",
    "/index.html",
    "/process",
    "/rights",
    "/audit",
    "/login",
    "/action",
    "/logout",
    "/ui.css",
    "/ui.js",
    "/events",
    "/follow",
];

pub fn serves(path: &str) -> bool {
    PATHS.contains(&path)
}

/// The largest form body read (an action's fields).
const MAX_FORM: usize = 16 * 1024;
const CSS: &str = include_str!("ui.css");
/// The UI's only script: live updates and the filter box (every action works without it).
const JS: &str = include_str!("ui.js");
/// The signals the process page offers (the policy's `signal` action decides).
const SIGNALS: &[&str] = &["HUP", "INT", "TERM", "USR1", "USR2", "KILL"];

/// The page for a request whose `Host` is not this server's.
pub fn unknown_host() -> Answer {
    page(
        StatusCode::FORBIDDEN,
        &Message {
            title: "Address not served",
            text: "proctor answers only on the names its admins gave it (and this machine's \
                   loopback names: localhost, 127.0.0.1, [::1]): open it through one of those.",
        },
    )
}

pub fn css() -> Answer {
    asset(CSS, "text/css")
}

fn asset(text: &'static str, kind: &'static str) -> Answer {
    let mut a = hyper::Response::new(Either::Left(Full::new(Bytes::from_static(text.as_bytes()))));
    a.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(kind));
    secured(a)
}

pub async fn answer(
    req: hyper::Request<Incoming>,
    caller: &Caller,
    served: &Served,
    via: Via<'_>,
    watch: Option<std::os::fd::OwnedFd>,
) -> Answer {
    let Some(host) = via.allowed_host(req.headers()) else {
        return unknown_host();
    };
    let path = req.uri().path().to_owned();
    match (req.method().clone(), path.as_str()) {
        (Method::GET, "/ui.css") => css(),
        (Method::GET, "/ui.js") => asset(JS, "text/javascript"),
        // The streams of a page: only for a live session.
        (Method::GET, "/events" | "/follow") if session(&req, caller, served, via).is_none() => {
            refusal_page("no session")
        }
        (Method::GET, "/events") => live(caller, served, watch).await,
        (Method::GET, "/follow") => follow(&req, caller, served, watch).await,
        (Method::GET, "/login") if via.kind() == Kind::Socket => login(&req, caller, served),
        (Method::GET, "/login") => login_form(StatusCode::OK, None),
        (Method::GET, "/" | "/index.html" | "/process" | "/rights" | "/audit") => {
            let Some(current) = session(&req, caller, served, via) else {
                return log_in_first(via);
            };
            match path.as_str() {
                "/process" => process_page(&req, caller, served, current).await,
                "/rights" => rights_page(caller, served, current).await,
                "/audit" => audit_page(&req, caller, served, current).await,
                _ => status_page(&req, caller, served, current).await,
            }
        }
        (Method::POST, "/action" | "/logout") => post(req, &host, &path, caller, served, via).await,
        _ => page(
            StatusCode::METHOD_NOT_ALLOWED,
            &Message {
                title: "Not here",
                text: "Pages are read with GET; actions are the page's buttons (POST).",
            },
        ),
    }
}

/// The value of the cookie `name`, if the request has one.
pub fn session_id(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|c| c.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_owned())
}

/// The answer that opens session `id`: its cookie, and the way to the status page.
pub fn opened(id: &str, via: Via<'_>) -> Answer {
    let mut a = redirect("/");
    let secure = if via.scheme() == "https" {
        "; Secure"
    } else {
        ""
    };
    let cookie = format!(
        "{}={id}; HttpOnly; SameSite=Strict; Path=/; Max-Age={}{secure}",
        via.cookie(),
        super::sessions::SESSION_TTL.as_secs()
    );
    if let Ok(v) = HeaderValue::from_str(&cookie) {
        a.headers_mut().insert(SET_COOKIE, v);
    }
    a
}

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage<'a> {
    error: Option<&'a str>,
}

/// The login form of `[inet_http_server]`, with what the last try came to.
pub fn login_form(status: StatusCode, error: Option<&str>) -> Answer {
    page(status, &LoginPage { error })
}

fn login(req: &hyper::Request<Incoming>, caller: &Caller, served: &Served) -> Answer {
    let token = query(req, "token").unwrap_or_default();
    match served.web.redeem(&token, caller.uid, Kind::Socket) {
        Ok(id) => opened(&id, Via::Socket),
        Err(why) => page(
            StatusCode::FORBIDDEN,
            &Message {
                title: "Login link refused",
                text: why,
            },
        ),
    }
}

/// A process as the status page shows it.
struct Row {
    /// Its group, when that is not just the process's own name.
    group: String,
    namespec: String,
    /// `/process?name=...`.
    link: String,
    name: String,
    state: &'static str,
    /// The CSS class of its state.
    class: &'static str,
    pid: String,
    uptime: String,
    description: String,
    /// The buttons the policy allows the person: (action, label).
    actions: Vec<(&'static str, &'static str)>,
    /// Which of start, stop and restart the policy allows, whatever the state.
    allowed: Vec<&'static str>,
    /// On the first row of a group of several: the actions on the group (`group:*`, which the
    /// daemon narrows to the members the person may act on).
    group_actions: Vec<(&'static str, &'static str)>,
    /// Whether they may signal it, clear its logs (on the process page).
    may_signal: bool,
    may_clear: bool,
}

#[derive(Template)]
#[template(path = "status.html")]
struct StatusPage<'a> {
    user: &'a str,
    csrf: &'a str,
    may_audit: bool,
    flash: Option<String>,
    /// Ordered by group, as the daemon lists them; only those the filter matches.
    rows: Vec<Row>,
    skipped: usize,
    /// The filter box's text (`?q=`), and how many processes it hid.
    filter: String,
    hidden: usize,
    /// The actions on every process they may act on (the daemon narrows each to those).
    all_actions: Vec<(&'static str, &'static str)>,
}

#[derive(Template)]
#[template(path = "message.html")]
struct Message<'a> {
    title: &'a str,
    text: &'a str,
}

/// The page for a request without a live session of the connection's account (on TCP: the
/// login form).
fn log_in_first(via: Via<'_>) -> Answer {
    if via.kind() == Kind::Tcp {
        return redirect("/login");
    }
    page(
        StatusCode::OK,
        &Message {
            title: "Log in with proctorctl web",
            text: "This page needs a login link: on the host, run `proctorctl web` and open the \
                   link it prints (once, within two minutes) through this forwarded port. The \
                   link is yours alone: proctor shows you what the policy lets your account \
                   see and do.",
        },
    )
}

/// The request's session, if it is live and the caller's (on the socket: the connection's
/// account's).
fn session(
    req: &hyper::Request<Incoming>,
    caller: &Caller,
    served: &Served,
    via: Via<'_>,
) -> Option<super::sessions::Current> {
    session_id(req.headers(), via.cookie())
        .and_then(|id| served.web.current(&id, caller.uid, via.kind()))
}

/// A query parameter.
pub fn query(req: &hyper::Request<Incoming>, key: &str) -> Option<String> {
    form_urlencoded::parse(req.uri().query()?.as_bytes())
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.into_owned())
}

/// Runs `request` as the caller's own (checked, narrowed, recorded).
pub async fn as_caller(request: Request, caller: &Caller, served: &Served) -> Response {
    match admit(request, caller, served).await {
        Ok(a) => run(a, served).await,
        Err(r) => r,
    }
}

async fn status_page(
    req: &hyper::Request<Incoming>,
    caller: &Caller,
    served: &Served,
    current: super::sessions::Current,
) -> Answer {
    // As `proctorctl status`: checked, narrowed and recorded.
    let resp = as_caller(Request::Status { names: Vec::new() }, caller, served).await;
    let (infos, skipped) = match resp {
        Response::Status(s) => (s, Vec::new()),
        Response::Partial { skipped, response } => match *response {
            Response::Status(s) => (s, skipped),
            _ => (Vec::new(), skipped),
        },
        _ => (Vec::new(), Vec::new()),
    };
    let programs: BTreeMap<String, String> = ask(&served.tx, |r| Cmd::Targets(Vec::new(), r))
        .await
        .unwrap_or_default()
        .into_iter()
        .map(|t| (t.namespec, t.program))
        .collect();
    let filter = query(req, "q").unwrap_or_default();
    let needle = filter.trim().to_lowercase();
    let all: Vec<Row> = infos
        .iter()
        .map(|p| row(p, programs.get(&p.namespec), caller, served))
        .collect();
    let all_actions = [
        ("start", "Start all"),
        ("stop", "Stop all"),
        ("restart", "Restart all"),
    ]
    .into_iter()
    .filter(|(action, _)| all.iter().any(|r| r.allowed.contains(action)))
    .collect();
    let mut all = all;
    group_buttons(&mut all);
    let total = all.len();
    let rows: Vec<Row> = all
        .into_iter()
        .filter(|r| {
            needle.is_empty()
                || r.namespec.to_lowercase().contains(&needle)
                || r.description.to_lowercase().contains(&needle)
        })
        .collect();
    page(
        StatusCode::OK,
        &StatusPage {
            user: &caller.peer.name,
            csrf: &current.csrf,
            may_audit: may_audit(caller, served),
            flash: current.flash,
            hidden: total - rows.len(),
            rows,
            skipped: skipped.len(),
            filter,
            all_actions,
        },
    )
}

fn row(p: &ProcessInfo, program: Option<&String>, caller: &Caller, served: &Served) -> Row {
    let target = Target {
        namespec: &p.namespec,
        group: &p.group,
        name: &p.name,
        program: program.map_or(p.group.as_str(), String::as_str),
    };
    let may = |a| served.auth.decide(&caller.peer, a, Some(&target)).allow;
    let running = p.state.is_running();
    let mut actions = Vec::new();
    if !running && may(Action::Start) {
        actions.push(("start", "Start"));
    }
    if running && may(Action::Stop) {
        actions.push(("stop", "Stop"));
    }
    if may(Action::Restart) {
        actions.push(("restart", "Restart"));
    }
    Row {
        group: if p.group == p.name {
            String::new()
        } else {
            p.group.clone()
        },
        link: process_link(&p.namespec),
        namespec: p.namespec.clone(),
        name: p.name.clone(),
        state: p.state.name(),
        class: class_of(p.state.name()),
        pid: p.pid.map(|x| x.to_string()).unwrap_or_default(),
        uptime: if running && p.start > 0 {
            crate::procs::uptime(p.now.saturating_sub(p.start))
        } else {
            String::new()
        },
        // Supervisor's description of a running process is its pid and uptime, which have
        // their own columns here.
        description: if running {
            String::new()
        } else {
            p.description.clone()
        },
        actions,
        allowed: [
            ("start", Action::Start),
            ("stop", Action::Stop),
            ("restart", Action::Restart),
        ]
        .into_iter()
        .filter(|(_, a)| may(*a))
        .map(|(n, _)| n)
        .collect(),
        group_actions: Vec::new(),
        may_signal: running && may(Action::Signal),
        may_clear: may(Action::Clear),
    }
}

/// Puts each group's actions on its first row: those that the person may take on at least one
/// member, for groups that are more than one process's name.
fn group_buttons(rows: &mut [Row]) {
    let mut start = 0;
    while start < rows.len() {
        let group = rows[start].group.clone();
        let end = start
            + rows[start..]
                .iter()
                .take_while(|r| r.group == group)
                .count();
        if !group.is_empty() {
            let members = &rows[start..end];
            let actions = [
                ("start", "Start group"),
                ("stop", "Stop group"),
                ("restart", "Restart group"),
            ]
            .into_iter()
            .filter(|(a, _)| members.iter().any(|r| r.allowed.contains(a)))
            .collect();
            rows[start].group_actions = actions;
        }
        start = end.max(start + 1);
    }
}

/// The CSS class of a state, by its name.
fn class_of(state: &str) -> &'static str {
    match state {
        "RUNNING" => "ok",
        "STARTING" | "STOPPING" => "moving",
        "STOPPED" | "EXITED" => "off",
        _ => "bad",
    }
}

fn process_link(namespec: &str) -> String {
    format!(
        "/process?name={}",
        form_urlencoded::byte_serialize(namespec.as_bytes()).collect::<String>()
    )
}

/// A page saying the request was refused, and why.
fn refusal_page(why: &str) -> Answer {
    page(
        StatusCode::FORBIDDEN,
        &Message {
            title: "Refused",
            text: why,
        },
    )
}

/// The answer that streams server-sent events as the task holding `body`'s sender sends them.
fn event_stream(body: http_body_util::channel::Channel<Bytes>) -> Answer {
    let mut a = hyper::Response::new(Either::Right(body));
    let h = a.headers_mut();
    h.insert(CONTENT_TYPE, HeaderValue::from_static("text/event-stream"));
    // As for the log tails: a reverse proxy must not buffer the stream.
    h.insert("X-Accel-Buffering", HeaderValue::from_static("no"));
    secured(a)
}

/// `/events`: the status page's live updates, as server-sent events, one per state change
/// of a process the person may see: `{"name", "state", "class", "pid"}`. Recorded once, as a
/// follow; runs only while a page listens, and ends when it hangs up.
async fn live(caller: &Caller, served: &Served, watch: Option<std::os::fd::OwnedFd>) -> Answer {
    // Checked and recorded as what the page shows: the status of the processes the person may
    // see (not the daemon-wide `events` action: each event is checked against `status`).
    let follow = Request::Status { names: Vec::new() };
    let started = match admit(follow, caller, served).await {
        Ok(a) => crate::server::begin_events(a, served).await,
        Err(r) => Err(r),
    };
    let ((_, mut rx), slot) = match started {
        Ok(s) => s,
        Err(r) => return refusal_page(&said(&r)),
    };
    let caller = Caller {
        uid: caller.uid,
        pid: caller.pid,
        peer: caller.peer.clone(),
        via: caller.via.clone(),
        shutdown_after: std::sync::atomic::AtomicBool::new(false),
    };
    let served = served.clone();
    let (mut tx, body) = http_body_util::channel::Channel::new(4);
    tokio::spawn(async move {
        let _slot = slot;
        let hangup = super::logtail::hung_up(watch);
        tokio::pin!(hangup);
        loop {
            let p = tokio::select! {
                () = &mut hangup => return,
                item = rx.recv() => match item {
                    Ok(p) => p,
                    // Fell behind: the page reloads itself to catch up.
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {
                        let _ = tx.send_data(Bytes::from_static(b"event: reload\ndata: \n\n")).await;
                        return;
                    }
                    Err(_) => return,
                },
            };
            let Some(state) = p.kind.name().strip_prefix("PROCESS_STATE_") else {
                continue;
            };
            if !crate::server::may_see_event(&p, &[], &caller, &served) {
                continue;
            }
            let pid = p
                .payload
                .split_whitespace()
                .find_map(|w| w.strip_prefix("pid:"))
                .unwrap_or("");
            let data = serde_json::json!({
                "name": p.namespec,
                "state": state,
                "class": class_of(state),
                "pid": pid,
            });
            if tx
                .send_data(Bytes::from(format!("data: {data}\n\n")))
                .await
                .is_err()
            {
                return;
            }
        }
    });
    event_stream(body)
}

/// `/follow?name=&channel=`: the process page's live log, as server-sent events (one per
/// chunk written, as text), checked and recorded as a `tail -f`.
async fn follow(
    req: &hyper::Request<Incoming>,
    caller: &Caller,
    served: &Served,
    watch: Option<std::os::fd::OwnedFd>,
) -> Answer {
    let channel = match query(req, "channel").as_deref() {
        Some("stderr") => Channel::Stderr,
        _ => Channel::Stdout,
    };
    let tail = Request::Tail {
        log: Log::Process {
            name: query(req, "name").unwrap_or_default(),
            channel,
        },
        back: Back::Bytes(0),
        follow: true,
    };
    let tailing = match admit(tail, caller, served).await {
        Ok(a) => crate::server::begin_tail(a, served).await,
        Err(r) => Err(r),
    };
    let crate::server::Tailing { rx, slot, .. } = match tailing {
        Ok(t) => t,
        Err(r) => return refusal_page(&said(&r)),
    };
    let (mut tx, body) = http_body_util::channel::Channel::new(4);
    tokio::spawn(async move {
        let _slot = slot;
        let Some(mut rx) = rx else {
            return;
        };
        let hangup = super::logtail::hung_up(watch);
        tokio::pin!(hangup);
        loop {
            let chunk = tokio::select! {
                () = &mut hangup => return,
                item = rx.recv() => match item {
                    Ok(b) => String::from_utf8_lossy(&b).into_owned(),
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(n)) => {
                        format!("\n[proctor: {n} chunks skipped]\n")
                    }
                    Err(_) => return,
                },
            };
            // An event's data is lines; the page joins them back with newlines.
            let mut event = String::with_capacity(chunk.len() + 16);
            for line in chunk.split('\n') {
                event.push_str("data: ");
                event.push_str(line.trim_end_matches('\r'));
                event.push('\n');
            }
            event.push('\n');
            if tx.send_data(Bytes::from(event)).await.is_err() {
                return;
            }
        }
    });
    event_stream(body)
}

#[derive(Template)]
#[template(path = "process.html")]
struct ProcessPage<'a> {
    user: &'a str,
    csrf: &'a str,
    may_audit: bool,
    row: Row,
    signals: &'static [&'static str],
    /// Its configuration as `getAllConfigInfo` gives it, or why it is not shown.
    config: Result<Vec<(String, String)>, String>,
    changes: Vec<String>,
    /// (channel, what the log's end says or why it cannot be read, where it is followed).
    logs: Vec<(&'static str, String, String)>,
}

/// One process: its state and buttons, its recent state changes, the end of its logs.
async fn process_page(
    req: &hyper::Request<Incoming>,
    caller: &Caller,
    served: &Served,
    current: super::sessions::Current,
) -> Answer {
    let name = query(req, "name").unwrap_or_default();
    let info = match as_caller(
        Request::Status {
            names: vec![name.clone()],
        },
        caller,
        served,
    )
    .await
    {
        Response::Status(mut s) if s.len() == 1 => s.remove(0),
        Response::Error { message, .. } => return refusal_page(&message),
        _ => {
            return page(
                StatusCode::NOT_FOUND,
                &Message {
                    title: "No such process",
                    text: "Pick one on the status page.",
                },
            )
        }
    };
    let program = ask(&served.tx, |r| Cmd::Targets(vec![info.namespec.clone()], r))
        .await
        .ok()
        .and_then(|t| t.into_iter().next())
        .map(|t| t.program);
    let row = row(&info, program.as_ref(), caller, served);
    let changes = match ask(&served.tx, Cmd::Events).await {
        Ok((recent, _)) => recent
            .iter()
            .filter(|e| e.namespec == info.namespec && e.kind.subscribed("PROCESS_STATE"))
            .rev()
            .take(20)
            .map(|e| {
                format!(
                    "{}  {}  {}",
                    crate::procs::local_time(e.when),
                    e.kind.name(),
                    e.payload
                )
            })
            .collect(),
        Err(_) => Vec::new(),
    };
    // As `getAllConfigInfo` (and `proctorctl avail`): checked and recorded; the command and
    // directory only for admins.
    let config = match as_caller(Request::Avail, caller, served).await {
        Response::Avail(list) => match list.into_iter().find(|a| a.name == info.namespec) {
            Some(a) => Ok(super::rpc::config_pairs(a).await),
            None => Err("not in the configuration".to_owned()),
        },
        Response::Error { message, .. } => Err(message),
        _ => Err("not available".to_owned()),
    };
    let mut logs = Vec::new();
    for (label, channel) in [("stdout", Channel::Stdout), ("stderr", Channel::Stderr)] {
        let tail = Request::Tail {
            log: Log::Process {
                name: info.namespec.clone(),
                channel,
            },
            back: Back::Lines(40),
            follow: false,
        };
        let text = match admit(tail, caller, served).await {
            Ok(a) => match crate::server::begin_tail(a, served).await {
                Ok(t) => String::from_utf8_lossy(&t.text).into_owned(),
                Err(Response::Error { message, .. }) => message,
                Err(_) => String::new(),
            },
            Err(Response::Error { message, .. }) => message,
            Err(_) => String::new(),
        };
        let follow = format!(
            "/follow?name={}&channel={label}",
            form_urlencoded::byte_serialize(info.namespec.as_bytes()).collect::<String>()
        );
        logs.push((label, text, follow));
    }
    page(
        StatusCode::OK,
        &ProcessPage {
            user: &caller.peer.name,
            csrf: &current.csrf,
            may_audit: may_audit(caller, served),
            row,
            signals: SIGNALS,
            config,
            changes,
            logs,
        },
    )
}

#[derive(Template)]
#[template(path = "rights.html")]
struct RightsPage<'a> {
    user: &'a str,
    csrf: &'a str,
    may_audit: bool,
    /// The actions on processes, as the columns.
    actions: Vec<&'static str>,
    /// Each process the person may do anything to, and for each column whether they may.
    processes: Vec<(String, Vec<bool>)>,
    /// The daemon-wide actions they may take.
    daemon: Vec<&'static str>,
    policy: String,
}

/// "What may I do?": the person's rights, as the policy decides them now.
async fn rights_page(
    caller: &Caller,
    served: &Served,
    current: super::sessions::Current,
) -> Answer {
    let all: Vec<Action> = Action::all_names().filter_map(Action::parse).collect();
    let on_processes: Vec<Action> = all.iter().copied().filter(|a| a.on_processes()).collect();
    let targets = ask(&served.tx, |r| Cmd::Targets(Vec::new(), r))
        .await
        .unwrap_or_default();
    let mut processes = Vec::new();
    for t in &targets {
        let row: Vec<bool> = on_processes
            .iter()
            .map(|a| {
                served
                    .auth
                    .decide(&caller.peer, *a, Some(&t.target()))
                    .allow
            })
            .collect();
        if row.iter().any(|x| *x) {
            processes.push((t.namespec.clone(), row));
        }
    }
    let daemon = all
        .iter()
        .filter(|a| !a.on_processes() && served.auth.decide(&caller.peer, **a, None).allow)
        .map(|a| a.name())
        .collect();
    page(
        StatusCode::OK,
        &RightsPage {
            user: &caller.peer.name,
            csrf: &current.csrf,
            may_audit: may_audit(caller, served),
            actions: on_processes.iter().map(|a| a.name()).collect(),
            processes,
            daemon,
            policy: served.auth.source(),
        },
    )
}

/// Whether the person may read the audit log (the nav shows the page to those who may).
fn may_audit(caller: &Caller, served: &Served) -> bool {
    served.audit.is_some() && served.auth.decide(&caller.peer, Action::Audit, None).allow
}

/// How many records the audit page reads back, and shows at most.
const AUDIT_READ: u32 = 2000;
const AUDIT_SHOWN: usize = 200;

/// A record as the audit page shows it.
struct AuditRow {
    time: String,
    user: String,
    kind: String,
    action: String,
    targets: String,
    decision: String,
    /// The rule that decided, or what the request came to.
    said: String,
}

#[derive(Template)]
#[template(path = "audit.html")]
struct AuditPage<'a> {
    user: &'a str,
    csrf: &'a str,
    may_audit: bool,
    filter_user: String,
    filter_action: String,
    filter_program: String,
    rows: Vec<AuditRow>,
}

/// The audit log, newest first, filtered by user, action and program: for those who may
/// read it (the request is checked and recorded as `proctorctl audit`).
async fn audit_page(
    req: &hyper::Request<Incoming>,
    caller: &Caller,
    served: &Served,
    current: super::sessions::Current,
) -> Answer {
    let filter_user = query(req, "user").unwrap_or_default();
    let filter_action = query(req, "action").unwrap_or_default();
    let filter_program = query(req, "program").unwrap_or_default();
    let request = Request::Audit {
        lines: AUDIT_READ,
        user: (!filter_user.is_empty()).then(|| filter_user.clone()),
        follow: false,
    };
    let text = match admit(request, caller, served).await {
        Ok(a) => crate::server::audit_text(a, served).await,
        Err(r) => Err(r),
    };
    let text = match text {
        Ok(t) => t,
        Err(Response::Error { message, .. }) => return refusal_page(&message),
        Err(_) => Vec::new(),
    };
    let names_program = |targets: &[String]| {
        filter_program.is_empty()
            || targets.iter().any(|t| {
                t == &filter_program
                    || t.split_once(':')
                        .is_some_and(|(g, p)| g == filter_program || p == filter_program)
            })
    };
    let rows: Vec<AuditRow> = String::from_utf8_lossy(&text)
        .lines()
        .rev()
        .filter_map(|l| serde_json::from_str::<proctor_api::audit::Record>(l).ok())
        .filter(|r| filter_action.is_empty() || r.action == filter_action)
        .filter(|r| names_program(&r.targets))
        .take(AUDIT_SHOWN)
        .map(|r| AuditRow {
            said: r.outcome.clone().unwrap_or_else(|| r.rule.clone()),
            time: r.time,
            user: r.user,
            kind: r.kind,
            action: r.action,
            targets: r.targets.join(" "),
            decision: r.decision,
        })
        .collect();
    page(
        StatusCode::OK,
        &AuditPage {
            user: &caller.peer.name,
            csrf: &current.csrf,
            may_audit: true,
            filter_user,
            filter_action,
            filter_program,
            rows,
        },
    )
}

/// A posted form's fields.
pub struct Form(Vec<(String, String)>);

impl Form {
    /// The first value of `key`, or empty.
    pub fn field(&self, key: &str) -> &str {
        self.0
            .iter()
            .find(|(n, _)| n == key)
            .map(|(_, v)| v.as_str())
            .unwrap_or_default()
    }
}

/// The request's form body, at most [`MAX_FORM`] bytes within the request timeout; `None` if
/// it did not arrive so.
pub async fn read_form(req: hyper::Request<Incoming>) -> Option<Form> {
    let body = Limited::new(req.into_body(), MAX_FORM);
    match tokio::time::timeout(crate::server::REQUEST_TIMEOUT, body.collect()).await {
        Ok(Ok(b)) => Some(Form(
            form_urlencoded::parse(&b.to_bytes())
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect(),
        )),
        _ => None,
    }
}

/// An action or a logout: same-origin, a live session of this account, its CSRF token.
async fn post(
    req: hyper::Request<Incoming>,
    host: &str,
    path: &str,
    caller: &Caller,
    served: &Served,
    via: Via<'_>,
) -> Answer {
    let headers = req.headers().clone();
    let Some(form) = read_form(req).await else {
        return refused(caller, served, "web", "the form did not arrive whole").await;
    };
    let field = |k: &str| form.field(k);
    // A button's value: the action, a space, the process.
    let (action, name) = if path == "/logout" {
        ("logout", "")
    } else {
        field("act").split_once(' ').unwrap_or(("", ""))
    };
    if let Some(why) = cross_site(&headers, host, via.scheme()) {
        return refused(caller, served, action, why).await;
    }
    let Some(id) = session_id(&headers, via.cookie()) else {
        return refused(
            caller,
            served,
            action,
            "no session: log in with `proctorctl web`",
        )
        .await;
    };
    if !served.web.check_csrf(&id, caller.uid, field("csrf")) {
        return refused(
            caller,
            served,
            action,
            "the form's token is not this session's (expired session, or a form from elsewhere)",
        )
        .await;
    }
    if path == "/logout" {
        served.web.end(&id);
        let mut a = redirect("/");
        let gone = format!(
            "{}=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0",
            via.cookie()
        );
        if let Ok(v) = HeaderValue::from_str(&gone) {
            a.headers_mut().insert(SET_COOKIE, v);
        }
        return a;
    }
    let name = name.to_owned();
    let back: &'static str = if field("back") == "process" {
        "/process"
    } else {
        "/"
    };
    let request = match action {
        "signal" => {
            let signal = field("signal");
            if !SIGNALS.contains(&signal) {
                return refused(caller, served, "signal", "no such signal on this page").await;
            }
            Request::Signal {
                signal: signal.to_owned(),
                names: vec![name.clone()],
            }
        }
        "clear" => Request::Clear {
            names: vec![name.clone()],
        },
        "start" => Request::Start {
            names: vec![name.clone()],
            wait: true,
        },
        "stop" => Request::Stop {
            names: vec![name.clone()],
            wait: true,
        },
        "restart" => Request::Restart {
            names: vec![name.clone()],
        },
        _ => return refused(caller, served, "web", "no such action").await,
    };
    let resp = as_caller(request, caller, served).await;
    served.web.flash(&id, said(&resp));
    if back == "/process" {
        let to = process_link(&name);
        let mut a = redirect("/");
        if let Ok(v) = HeaderValue::from_str(&to) {
            a.headers_mut().insert(LOCATION, v);
        }
        return a;
    }
    redirect("/")
}

/// Why a POST is not from this UI's own page, if it is not.
pub fn cross_site(headers: &HeaderMap, host: &str, scheme: &str) -> Option<&'static str> {
    let header = |n: &str| headers.get(n).and_then(|v| v.to_str().ok());
    if header("sec-fetch-site").is_some_and(|s| s != "same-origin") {
        return Some("a request from another site (Sec-Fetch-Site)");
    }
    match header("origin") {
        Some(o) if o == format!("{scheme}://{host}") => None,
        Some(_) => Some("a request from another site (Origin)"),
        None => Some("a request without an Origin"),
    }
}

/// What an action came to, in a line for the page.
fn said(resp: &Response) -> String {
    match resp {
        Response::Actions(results) => results
            .iter()
            .map(|r| format!("{}: {}", r.name, r.message))
            .collect::<Vec<_>>()
            .join("; "),
        Response::Error { message, .. } => message.clone(),
        Response::Partial { response, .. } => said(response),
        _ => "done".to_owned(),
    }
}

/// A refused POST: recorded as a denial, answered with why.
pub async fn refused(caller: &Caller, served: &Served, action: &str, why: &str) -> Answer {
    // The action as the form named it, if it is one of the UI's; else the UI itself.
    let action = match action {
        "start" | "stop" | "restart" | "signal" | "clear" | "logout" | "login" => action,
        _ => "web",
    };
    crate::server::record_refusal(caller, served, action, &format!("web: {why}")).await;
    refusal_page(why)
}

pub fn redirect(to: &'static str) -> Answer {
    let mut a = hyper::Response::new(Either::Left(Full::new(Bytes::new())));
    *a.status_mut() = StatusCode::SEE_OTHER;
    a.headers_mut()
        .insert(LOCATION, HeaderValue::from_static(to));
    secured(a)
}

fn page(status: StatusCode, t: &impl Template) -> Answer {
    let html = t.render().unwrap_or_else(|_| {
        "<!doctype html><title>proctor</title><p>The page could not be made.".into()
    });
    let mut a: hyper::Response<Body> =
        hyper::Response::new(Either::Left(Full::new(Bytes::from(html))));
    *a.status_mut() = status;
    a.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    secured(a)
}

/// What every answer of the UI carries: no script but the UI's own file (none inline), no
/// framing, no caching, no referrer, no guessing of types.
fn secured(mut a: Answer) -> Answer {
    let h = a.headers_mut();
    h.insert(
        "content-security-policy",
        HeaderValue::from_static(
            "default-src 'none'; style-src 'self'; script-src 'self'; connect-src 'self'; \
             img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        ),
    );
    h.insert("x-frame-options", HeaderValue::from_static("DENY"));
    h.insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
    // Not `no-referrer`: with it, Chromium sends `Origin: null` on the UI's own form posts.
    h.insert("referrer-policy", HeaderValue::from_static("same-origin"));
    h.insert("cache-control", HeaderValue::from_static("no-store"));
    a
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_loopback_hosts_are_served() {
        let ok = |h: &str| {
            let mut m = HeaderMap::new();
            m.insert(
                hyper::header::HOST,
                HeaderValue::from_str(h).unwrap_or(HeaderValue::from_static("x")),
            );
            Via::Socket.allowed_host(&m).is_some()
        };
        for h in [
            "localhost",
            "localhost:8080",
            "127.0.0.1:9",
            "[::1]",
            "[::1]:8080",
        ] {
            assert!(ok(h), "{h}");
        }
        for h in [
            "evil.example",
            "localhost.evil.example",
            "127.0.0.1.nip.io:80",
            "10.0.0.1",
            "localhost:80x",
        ] {
            assert!(!ok(h), "{h}");
        }
    }

    #[test]
    fn a_post_must_come_from_this_page() {
        let h = |pairs: &[(&'static str, &'static str)]| {
            let mut m = HeaderMap::new();
            for (k, v) in pairs {
                m.insert(*k, HeaderValue::from_static(v));
            }
            cross_site(&m, "localhost:8080", "http")
        };
        assert_eq!(h(&[("origin", "http://localhost:8080")]), None);
        assert_eq!(
            h(&[
                ("origin", "http://localhost:8080"),
                ("sec-fetch-site", "same-origin")
            ]),
            None
        );
        assert!(h(&[("origin", "http://evil.example")]).is_some());
        assert!(h(&[]).is_some());
        assert!(h(&[
            ("origin", "http://localhost:8080"),
            ("sec-fetch-site", "cross-site")
        ])
        .is_some());
    }
}
