//! Checking one request against the authority before it runs. Requests that name processes
//! explicitly are refused whole if any of them is not allowed; requests for "everything"
//! (`all`, `group:*`, `status` with no names) are narrowed to what the caller may act on, and
//! the rest is reported as skipped.

use crate::authority::Authority;
use crate::server::ask;
use crate::supervisor::{Cmd, Event};
use proctor_api::control::{ErrorKind, Log, Request, Response};
use proctor_policy::{Action, Peer};
use tokio::sync::mpsc;

/// The request to run (possibly narrowed) and the names skipped; or the answer to send without
/// running anything (a refusal, or an empty narrowed status).
pub type Authorized = Result<(Request, Vec<String>), Response>;

/// A checked request, with what the audit log records of the decision.
pub struct Checked {
    pub action: Action,
    /// What it acts on once narrowed, or the names as given.
    pub targets: Vec<String>,
    pub allow: bool,
    pub rule: String,
    pub result: Authorized,
}

fn action_and_names(req: &Request) -> (Action, Option<Vec<String>>) {
    match req {
        Request::Status { names } => (Action::Status, Some(names.clone())),
        Request::Start { names, .. } => (Action::Start, Some(names.clone())),
        Request::Stop { names, .. } => (Action::Stop, Some(names.clone())),
        Request::Restart { names } => (Action::Restart, Some(names.clone())),
        Request::Signal { names, .. } => (Action::Signal, Some(names.clone())),
        Request::Tail { log, .. } | Request::Read { log, .. } => match log {
            Log::Process { name, .. } => (Action::Tail, Some(vec![name.clone()])),
            Log::Main => (Action::Maintail, None),
        },
        Request::Clear { names } => (Action::Clear, Some(names.clone())),
        Request::Stdin { name, .. } => (Action::Stdin, Some(vec![name.clone()])),
        Request::RemoteCommEvent { .. } => (Action::Event, None),
        // Each event is then shown only to those who may see its process (`status`).
        Request::Events { .. } => (Action::Events, None),
        Request::ClearMainLog => (Action::ClearLog, None),
        Request::Pid { name: Some(n) } => (Action::Pid, Some(vec![n.clone()])),
        Request::Pid { name: None } => (Action::Pid, None),
        Request::Reread => (Action::Reread, None),
        Request::Update { .. } | Request::Add { .. } | Request::Remove { .. } => {
            (Action::Update, None)
        }
        Request::Avail => (Action::Avail, None),
        Request::Shutdown => (Action::Shutdown, None),
        Request::Reload => (Action::Reload, None),
        Request::ReloadPolicy => (Action::ReloadPolicy, None),
        Request::Audit { .. } => (Action::Audit, None),
        Request::WebLink => (Action::Web, None),
        // The version is no secret: anyone who may connect may ask.
        Request::Version => (Action::Status, None),
    }
}

/// The policy action a request is decided as.
pub fn action_of(req: &Request) -> Action {
    action_and_names(req).0
}

/// The request narrowed to `names`; `None` for requests that name one thing (pid, tail) and so
/// cannot be narrowed.
fn with_names(req: Request, names: Vec<String>) -> Option<Request> {
    match req {
        Request::Status { .. } => Some(Request::Status { names }),
        Request::Start { wait, .. } => Some(Request::Start { names, wait }),
        Request::Stop { wait, .. } => Some(Request::Stop { names, wait }),
        Request::Restart { .. } => Some(Request::Restart { names }),
        Request::Signal { signal, .. } => Some(Request::Signal { signal, names }),
        Request::Clear { .. } => Some(Request::Clear { names }),
        _ => None,
    }
}

pub async fn authorize(
    req: Request,
    peer: &Peer,
    auth: &Authority,
    tx: &mpsc::Sender<Event>,
) -> Checked {
    let (action, names) = action_and_names(&req);
    let given = names.clone().unwrap_or_default();
    let mut rule = String::new();
    let result = decide(req, peer, auth, tx, &mut rule).await;
    let (allow, targets) = match &result {
        Ok((Request::Status { names }, _))
        | Ok((Request::Start { names, .. }, _))
        | Ok((Request::Stop { names, .. }, _))
        | Ok((Request::Restart { names }, _))
        | Ok((Request::Signal { names, .. }, _))
        | Ok((Request::Clear { names }, _)) => (true, names.clone()),
        Ok(_) => (true, given),
        Err(Response::Partial { .. }) => (true, Vec::new()),
        Err(_) => (false, given),
    };
    Checked {
        action,
        targets,
        allow,
        rule,
        result,
    }
}

/// The names of a refused request, for its message: at most a few of them.
fn listed(names: &[String]) -> String {
    const SHOWN: usize = 8;
    match names.len() {
        0 => "any process".to_owned(),
        n if n <= SHOWN => names.join(" "),
        n => format!("{} and {} more", names[..SHOWN].join(" "), n - SHOWN),
    }
}

async fn decide(
    req: Request,
    peer: &Peer,
    auth: &Authority,
    tx: &mpsc::Sender<Event>,
    rule: &mut String,
) -> Authorized {
    if matches!(req, Request::Version) {
        *rule = "anyone who may connect".into();
        return Ok((req, Vec::new()));
    }
    let (action, names) = action_and_names(&req);
    let deny = |what: &str| Response::Error {
        kind: ErrorKind::PermissionDenied,
        message: auth.denial(peer, action, what),
    };
    let Some(names) = names else {
        let v = auth.decide(peer, action, None);
        *rule = v.rule;
        return if v.allow {
            Ok((req, Vec::new()))
        } else {
            Err(deny("the daemon"))
        };
    };
    // A peer whom no rule grants this action on any program is refused before its names are
    // resolved: resolving takes the supervisor's time, which a flood of such requests would
    // otherwise take from everyone.
    let any = auth.decide(peer, action, None);
    if !any.allow {
        *rule = any.rule;
        return Err(deny(&listed(&names)));
    }
    let found = match ask(tx, |r| Cmd::Targets(names.clone(), r)).await {
        Ok(t) => t,
        // Unknown names are reported by the request itself, as without a policy.
        Err((kind, message)) => {
            *rule = "no such process".into();
            return Err(Response::Error { kind, message });
        }
    };
    let wildcard = names.is_empty()
        || names.iter().any(|n| n == "all" || n.ends_with(":*"))
        || found.len() > names.len();
    let (mut allowed, mut skipped) = (Vec::new(), Vec::new());
    let mut hidden = 0usize;
    for t in &found {
        let target = t.target();
        let v = auth.decide(peer, action, Some(&target));
        if v.allow {
            // `group:name` resolves to exactly this process when the request runs; a bare name
            // could match processes of other groups too.
            allowed.push(format!("{}:{}", t.group, t.name));
            if rule.is_empty() {
                *rule = v.rule;
            }
        } else if wildcard {
            // Only names the caller may see are told; the rest are counted.
            if auth.decide(peer, Action::Status, Some(&target)).allow {
                skipped.push(t.namespec.clone());
            } else {
                hidden += 1;
            }
        } else {
            *rule = v.rule;
            return Err(deny(&t.namespec));
        }
    }
    if hidden > 0 {
        skipped.push(format!("{hidden} other process(es)"));
    }
    if skipped.is_empty() {
        return Ok((req, Vec::new()));
    }
    if rule.is_empty() {
        *rule = "default deny".into();
    }
    if allowed.is_empty() {
        // Nothing left to run. (An empty status request would mean "everything".)
        return Err(match req {
            Request::Status { .. } => Response::Partial {
                skipped,
                response: Box::new(Response::Status(Vec::new())),
            },
            _ => deny(&listed(&names)),
        });
    }
    match with_names(req, allowed) {
        Some(narrowed) => Ok((narrowed, skipped)),
        None => Err(deny(&skipped.join(" "))),
    }
}
