//! The methods that act on processes: start, stop and signal, of one process, a group or all,
//! with Supervisor's `wait`, its faults and its result structs. A stop or start that the policy
//! allows only as part of a restart runs as a half of one ([`super::halves`]).

use super::fault::{code, code_of, Fault};
use super::halves::GRACE;
use super::rpc::{string, tidied, unwrapped};
use crate::authorize::authorize;
use crate::server::{admit_as, admit_checked, admit_own, answer, Caller, Served};
use proctor_api::control::{ActionCode, ActionResult, Request, Response};
use proctor_xmlrpc::Value;
use tracing::warn;

/// Supervisor's `split_namespec`: `name` is the process `name` of group `name`; `group:*` and
/// `group:` name the group, no one process.
pub fn split(name: &str) -> (&str, Option<&str>) {
    match name.split_once(':') {
        Some((g, "" | "*")) => (g, None),
        Some((g, p)) => (g, Some(p)),
        None => (name, Some(name)),
    }
}

/// `group:name` for a name that names one process.
pub fn exact(name: &str) -> Option<String> {
    match split(name) {
        (g, Some(p)) => Some(format!("{g}:{p}")),
        (_, None) => None,
    }
}

/// A start, stop or signal, as the methods that act on processes ask for it.
#[derive(Clone)]
pub enum Act {
    Start { wait: bool },
    Stop { wait: bool },
    Signal(String),
}

impl Act {
    fn request(&self, names: Vec<String>) -> Request {
        match self {
            Act::Start { wait } => Request::Start { names, wait: *wait },
            Act::Stop { wait } => Request::Stop { names, wait: *wait },
            Act::Signal(signal) => Request::Signal {
                signal: signal.clone(),
                names,
            },
        }
    }

    /// What the group and all variants leave out of their answer, as Supervisor's predicates
    /// do: processes already running (start), not running (stop, signal).
    fn passes_over(&self, code: ActionCode) -> bool {
        match self {
            Act::Start { .. } => code == ActionCode::AlreadyStarted,
            Act::Stop { .. } | Act::Signal(_) => code == ActionCode::NotRunning,
        }
    }
}

/// `(name, wait)`: a name, and `wait` (true if left out), as startProcess and friends take.
pub fn name_and_wait(params: &[Value]) -> Result<(&str, bool), Fault> {
    match params {
        [name] => Ok((string(name)?, true)),
        [name, wait] => Ok((string(name)?, boolean(wait)?)),
        _ => Err(Fault::bare(code::INCORRECT_PARAMETERS)),
    }
}

/// `wait` alone (true if left out), as startAllProcesses and stopAllProcesses take.
pub fn wait_only(params: &[Value]) -> Result<bool, Fault> {
    match params {
        [] => Ok(true),
        [wait] => boolean(wait),
        _ => Err(Fault::bare(code::INCORRECT_PARAMETERS)),
    }
}

fn boolean(v: &Value) -> Result<bool, Fault> {
    v.as_bool()
        .ok_or_else(|| Fault::bare(code::INCORRECT_PARAMETERS))
}

/// A signal as a name or a number.
pub fn signal_arg(v: &Value) -> Result<String, Fault> {
    match v {
        Value::Str(s) => Ok(s.clone()),
        Value::Int(i) => Ok(i.to_string()),
        _ => Err(Fault::bare(code::INCORRECT_PARAMETERS)),
    }
}

/// startProcess, stopProcess, signalProcess: `true`, or the fault Supervisor raises. A group
/// (`group:*`) is the group variant's array, as in Supervisor.
pub async fn on_one(
    act: Act,
    name: &str,
    caller: &Caller,
    served: &Served,
) -> Result<Value, Fault> {
    let (group, process) = split(name);
    let Some(process) = process else {
        return on_group(act, group, caller, served).await;
    };
    let results = carry_out(
        &act,
        vec![format!("{group}:{process}")],
        name,
        caller,
        served,
    )
    .await?;
    match results.first() {
        Some(r) if r.ok() => Ok(Value::Bool(true)),
        Some(r) => Err(Fault::new(code_of(r.code), name)),
        None => Err(Fault::new(code::BAD_NAME, name)),
    }
}

/// The group variants: an array of result structs, one per process acted on.
pub async fn on_group(
    act: Act,
    group: &str,
    caller: &Caller,
    served: &Served,
) -> Result<Value, Fault> {
    let results = carry_out(&act, vec![format!("{group}:*")], group, caller, served).await?;
    Ok(result_structs(&act, &results))
}

/// The all variants.
pub async fn on_all(act: Act, caller: &Caller, served: &Served) -> Result<Value, Fault> {
    let results = carry_out(&act, vec!["all".to_owned()], "all", caller, served).await?;
    Ok(result_structs(&act, &results))
}

/// Runs `act` on `names` as the policy allows: outright, or as a half of a restart. `name` is
/// what the caller named, for the faults.
async fn carry_out(
    act: &Act,
    names: Vec<String>,
    name: &str,
    caller: &Caller,
    served: &Served,
) -> Result<Vec<ActionResult>, Fault> {
    let req = tidied(act.request(names))?;
    // Checked once: a refusal may still be allowed as a half of a restart, and is recorded as
    // a refusal only if it is not.
    let checked = authorize(req.clone(), &caller.peer, &served.auth, &served.tx).await;
    let half = if checked.allow {
        None
    } else {
        half_of_restart(act, &req, caller, served).await
    };
    let resp = match half {
        Some(resp) => resp,
        None => match admit_checked(checked, caller, served, |r| r).await {
            Ok(admitted) => answer(admitted, served).await,
            Err(refusal) => refusal,
        },
    };
    match (unwrapped(resp, name), act) {
        (Ok(Response::Actions(results)), _) => Ok(results),
        (Ok(other), _) => Err(super::rpc::unexpected(&other)),
        // A bad signal name is the one argument that controld refuses as such.
        (Err(f), Act::Signal(signal)) if f.code == code::BAD_ARGUMENTS => {
            Err(Fault::new(code::BAD_SIGNAL, signal.as_str()))
        }
        (Err(f), _) => Err(f),
    }
}

/// A stop or start that the policy has refused the caller but would allow as part of a
/// restart: a stop runs as a restart's first half, a start after such a stop as its second
/// half. `None` when this is not one (it is then refused and recorded as itself).
async fn half_of_restart(
    act: &Act,
    req: &Request,
    caller: &Caller,
    served: &Served,
) -> Option<Response> {
    let names = match req {
        Request::Start { names, .. } | Request::Stop { names, .. } => names.clone(),
        _ => return None,
    };
    let restart = authorize(
        Request::Restart { names },
        &caller.peer,
        &served.auth,
        &served.tx,
    )
    .await;
    let Ok((Request::Restart { names: allowed }, _)) = restart.result else {
        return None;
    };
    let uid = caller.uid;
    // Checked and recorded as the restart, run as the half it is.
    let half = |names: Vec<String>, run: fn(Vec<String>, bool) -> Request, wait: bool| async move {
        let admitted = admit_as(Request::Restart { names }, caller, served, |r| match r {
            Request::Restart { names } => run(names, wait),
            other => other,
        })
        .await;
        match admitted {
            Ok(admitted) => answer(admitted, served).await,
            Err(refusal) => refusal,
        }
    };
    match *act {
        Act::Stop { wait } => {
            let resp = half(allowed, |names, wait| Request::Stop { names, wait }, wait).await;
            let stopped = match &resp {
                Response::Actions(rs) => rs.as_slice(),
                Response::Partial { response, .. } => match response.as_ref() {
                    Response::Actions(rs) => rs.as_slice(),
                    _ => &[],
                },
                _ => &[],
            };
            for r in stopped.iter().filter(|r| r.ok()) {
                let spec = exact(&r.name).unwrap_or_else(|| r.name.clone());
                let token = served.halves.begin(uid, &spec);
                complete_later(served.clone(), uid, caller.peer.name.clone(), spec, token);
            }
            Some(resp)
        }
        Act::Start { wait } => {
            let second = served.halves.finish(uid, &allowed);
            if second.is_empty() {
                return None;
            }
            Some(half(second, |names, wait| Request::Start { names, wait }, wait).await)
        }
        Act::Signal(_) => None,
    }
}

/// After [`GRACE`], starts `spec` again unless the second half of its restart came.
fn complete_later(served: Served, uid: u32, user: String, spec: String, token: u64) {
    tokio::spawn(async move {
        tokio::time::sleep(GRACE).await;
        if !served.halves.expire(uid, &spec, token) {
            return;
        }
        warn!(
            "{user} stopped {spec} as the first half of a restart and sent no start: starting it"
        );
        let rule = format!(
            "completes the restart of {spec} that {user} began: no start followed the stop within {} s",
            GRACE.as_secs()
        );
        let req = Request::Start {
            names: vec![spec],
            wait: true,
        };
        if let Ok(admitted) = admit_own(req, rule, &served).await {
            let _ = answer(admitted, &served).await;
        }
    });
}

/// Supervisor's `{name, group, status, description}` per process, `description` `OK` or the
/// fault's text; the processes its predicate passes over are left out.
fn result_structs(act: &Act, results: &[ActionResult]) -> Value {
    structs(results.iter().filter(|r| !act.passes_over(r.code)))
}

/// `clearAllProcessLogs`'s structs: one per process.
pub fn cleared_structs(results: &[ActionResult]) -> Value {
    structs(results.iter())
}

fn structs<'a>(results: impl Iterator<Item = &'a ActionResult>) -> Value {
    Value::Array(
        results
            .map(|r| {
                let (group, name) = r.name.split_once(':').unwrap_or((&r.name, &r.name));
                let description = if r.ok() {
                    "OK".to_owned()
                } else {
                    Fault::new(code_of(r.code), r.name.as_str()).text()
                };
                Value::record([
                    ("name", Value::str(name)),
                    ("group", Value::str(group)),
                    ("status", Value::Int(code_of(r.code))),
                    ("description", Value::Str(description)),
                ])
            })
            .collect(),
    )
}
