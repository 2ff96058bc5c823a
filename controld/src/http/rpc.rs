//! Supervisor's XML-RPC methods, each carried out as the proctorctl request it amounts to, so
//! that the policy decides it and the audit log records it (one request and one outcome record
//! per call, per inner call of a multicall). Names are resolved as supervisord resolves them
//! (`name` is the process `name` of group `name`; `group:name`; `group:*` for methods that take
//! a group), and answers have Supervisor's structs, field for field and in its order, and its
//! fault codes and `NAME: detail` fault strings.
//!
//! Methods that tell no secret and change nothing (the versions, the identification, the
//! daemon's state, the method list) are answered without a record, as proctorctl's `version`
//! is: supervisorctl asks for the API version before every command.

use super::acting::{self, Act};
use super::fault::{code, Fault};
use crate::server::{admit, answer, over_rate, Caller, Served};
use proctor_api::control::{
    AvailInfo, Channel, ErrorKind, Log, ProcessInfo, ProcessState, Request, Response,
};
use proctor_xmlrpc::{fault, response, Call, Value};

/// A method: its name, Supervisor's signature (return type, then parameter types) and help.
struct Method {
    name: &'static str,
    signature: &'static [&'static str],
    help: &'static str,
}

/// Every method proctor answers, in `system.listMethods` order.
const METHODS: &[Method] = &[
    Method {
        name: "supervisor.addProcessGroup",
        signature: &["boolean", "string"],
        help: "Activate the process group named name from the config file (starting its autostart processes).",
    },
    Method {
        name: "supervisor.clearAllProcessLogs",
        signature: &["array"],
        help: "Clear the log files of every process the caller may clear; an array of result structs {name, group, status, description}.",
    },
    Method {
        name: "supervisor.clearLog",
        signature: &["boolean"],
        help: "Clear the daemon's own log ([supervisord] logfile).",
    },
    Method {
        name: "supervisor.clearProcessLog",
        signature: &["boolean", "string"],
        help: "Alias of clearProcessLogs.",
    },
    Method {
        name: "supervisor.clearProcessLogs",
        signature: &["boolean", "string"],
        help: "Clear the stdout and stderr log files of the process named name (or group:name).",
    },
    Method {
        name: "supervisor.getAPIVersion",
        signature: &["string"],
        help: "Return the version of the RPC API used by supervisord: \"3.0\".",
    },
    Method {
        name: "supervisor.getAllConfigInfo",
        signature: &["array"],
        help: "Get info about every configured process, in use or not (command and directory for admins only).",
    },
    Method {
        name: "supervisor.getAllProcessInfo",
        signature: &["array"],
        help: "Get info about all processes the caller may see (the policy narrows the list).",
    },
    Method {
        name: "supervisor.getIdentification",
        signature: &["string"],
        help: "Return the identifying string of the daemon ([supervisord] identifier).",
    },
    Method {
        name: "supervisor.getPID",
        signature: &["int"],
        help: "Return the PID of the daemon (proctord).",
    },
    Method {
        name: "supervisor.getProcessInfo",
        signature: &["struct", "string"],
        help: "Get info about a process named name (or group:name).",
    },
    Method {
        name: "supervisor.getState",
        signature: &["struct"],
        help: "Return the daemon's state as a struct with keys int statecode, string statename.",
    },
    Method {
        name: "supervisor.getSupervisorVersion",
        signature: &["string"],
        help: "Return the version of the daemon (proctor's own version).",
    },
    Method {
        name: "supervisor.getVersion",
        signature: &["string"],
        help: "Return the version of the RPC API used by supervisord (deprecated alias of getAPIVersion).",
    },
    Method {
        name: "supervisor.readLog",
        signature: &["string", "int", "int"],
        help: "Read length bytes of the daemon's own log from offset (a negative offset and a length of 0: the last -offset bytes).",
    },
    Method {
        name: "supervisor.readMainLog",
        signature: &["string", "int", "int"],
        help: "Alias of readLog.",
    },
    Method {
        name: "supervisor.readProcessLog",
        signature: &["string", "string", "int", "int"],
        help: "Alias of readProcessStdoutLog.",
    },
    Method {
        name: "supervisor.readProcessStderrLog",
        signature: &["string", "string", "int", "int"],
        help: "Read length bytes of a process's stderr log from offset (a negative offset and a length of 0: the last -offset bytes).",
    },
    Method {
        name: "supervisor.readProcessStdoutLog",
        signature: &["string", "string", "int", "int"],
        help: "Read length bytes of a process's stdout log from offset (a negative offset and a length of 0: the last -offset bytes).",
    },
    Method {
        name: "supervisor.reloadConfig",
        signature: &["array"],
        help: "Read the config file and compare it with what runs: [[added, changed, removed]] group names. Applies nothing.",
    },
    Method {
        name: "supervisor.removeProcessGroup",
        signature: &["boolean", "string"],
        help: "Deactivate the process group named name, none of whose processes may be running.",
    },
    Method {
        name: "supervisor.restart",
        signature: &["boolean"],
        help: "Stop every service, apply the config file as a whole, start the autostart services (Supervisor's reload); answered once done.",
    },
    Method {
        name: "supervisor.sendProcessStdin",
        signature: &["boolean", "string", "string"],
        help: "Send a string of chars to the stdin of the process name (or group:name), UTF-8 encoded.",
    },
    Method {
        name: "supervisor.sendRemoteCommEvent",
        signature: &["boolean", "string", "string"],
        help: "Send an event of the given type and data to the event listeners subscribed to REMOTE_COMMUNICATION.",
    },
    Method {
        name: "supervisor.shutdown",
        signature: &["boolean"],
        help: "Stop every service in reverse priority order, then the daemon.",
    },
    Method {
        name: "supervisor.signalAllProcesses",
        signature: &["array", "string"],
        help: "Send a signal to all processes the caller may signal; an array of result structs {name, group, status, description}.",
    },
    Method {
        name: "supervisor.signalProcess",
        signature: &["boolean", "string", "string"],
        help: "Send an arbitrary UNIX signal to the process named by name (a name or number from the allowed set).",
    },
    Method {
        name: "supervisor.signalProcessGroup",
        signature: &["array", "string", "string"],
        help: "Send a signal to all processes in the group named 'name'; an array of result structs.",
    },
    Method {
        name: "supervisor.startAllProcesses",
        signature: &["array", "boolean"],
        help: "Start all processes the caller may start that are not running; with wait, once each is RUNNING.",
    },
    Method {
        name: "supervisor.startProcess",
        signature: &["boolean", "string", "boolean"],
        help: "Start a process (name, group:name, or group:* for the whole group); with wait (the default), answer once it is RUNNING.",
    },
    Method {
        name: "supervisor.startProcessGroup",
        signature: &["array", "string", "boolean"],
        help: "Start all processes in the group named 'name'; an array of result structs.",
    },
    Method {
        name: "supervisor.stopAllProcesses",
        signature: &["array", "boolean"],
        help: "Stop all processes the caller may stop that are running; with wait, once each has stopped.",
    },
    Method {
        name: "supervisor.stopProcess",
        signature: &["boolean", "string", "boolean"],
        help: "Stop a process named by name (or group:name); with wait (the default), answer once it has stopped.",
    },
    Method {
        name: "supervisor.stopProcessGroup",
        signature: &["array", "string", "boolean"],
        help: "Stop all processes in the group named 'name'; an array of result structs.",
    },
    Method {
        name: "supervisor.tailProcessLog",
        signature: &["array", "string", "int", "int"],
        help: "Alias of tailProcessStdoutLog.",
    },
    Method {
        name: "supervisor.tailProcessStderrLog",
        signature: &["array", "string", "int", "int"],
        help: "Tail a process's stderr log: [bytes, offset to ask from next, overflow].",
    },
    Method {
        name: "supervisor.tailProcessStdoutLog",
        signature: &["array", "string", "int", "int"],
        help: "Tail a process's stdout log: [bytes, offset to ask from next, overflow] (Supervisor's tailFile).",
    },
    Method {
        name: "system.listMethods",
        signature: &["array"],
        help: "Return an array listing the available method names.",
    },
    Method {
        name: "system.methodHelp",
        signature: &["string", "string"],
        help: "Return a string showing the method's documentation.",
    },
    Method {
        name: "system.methodSignature",
        signature: &["array", "string"],
        help: "Return an array describing the method signature in the form [rtype, ptype, ptype...].",
    },
    Method {
        name: "system.multicall",
        signature: &["array", "array"],
        help: "Process an array of calls ({'methodName': string, 'params': array}), in order; each result is the bare value or a fault struct, as supervisord answers.",
    },
];

/// What a call is answered with.
pub enum Answered {
    /// An HTTP 200 with this XML.
    Xml(Vec<u8>),
    /// HTTP 403, the reason phrase saying why: a refusal by the policy of one of
    /// [`SHOWS_NO_FAULT_TEXT`]. Every other refusal is a FAILED fault with the reason, which
    /// supervisorctl's `stop` and `signal` print as it is.
    Forbidden(String),
}

/// Methods whose refusal by the policy is HTTP 403 rather than a fault: stock supervisorctl
/// prints a fixed phrase for each fault code these methods may raise (`ERROR (failed)`,
/// `unknown error reading log`), or raises on any other code, but shows an HTTP error's status
/// and reason phrase as they are.
const SHOWS_NO_FAULT_TEXT: &[&str] = &[
    "supervisor.startProcess",
    "supervisor.clearProcessLogs",
    "supervisor.clearProcessLog",
    "supervisor.readProcessStdoutLog",
    "supervisor.readProcessStderrLog",
    "supervisor.readProcessLog",
    "supervisor.readLog",
];

/// The answer to a call.
pub async fn call(call: Call, caller: &Caller, served: &Served) -> Answered {
    let result = if call.method == "system.multicall" {
        multicall(&call.params, caller, served).await
    } else {
        one(&call.method, &call.params, caller, served).await
    };
    match result {
        Ok(v) => Answered::Xml(response(&v)),
        Err(f) if f.denied && SHOWS_NO_FAULT_TEXT.contains(&call.method.as_str()) => {
            Answered::Forbidden(f.detail().to_owned())
        }
        Err(f) => Answered::Xml(fault(f.code, &f.text())),
    }
}

/// The fault a call past its account's rate gets.
pub fn refusal(message: String) -> Vec<u8> {
    let f = Fault::new(code::FAILED, message);
    fault(f.code, &f.text())
}

/// `system.multicall`: the calls in order, each answered with its bare value or a fault struct
/// (supervisord's shape, not the one the multicall convention describes). Each inner call counts
/// against the account's rate as a request of its own (the first was counted with the HTTP
/// request): past it, that call and the rest are refused unrun.
async fn multicall(params: &[Value], caller: &Caller, served: &Served) -> Result<Value, Fault> {
    let [calls] = args(params)?;
    let Value::Array(calls) = calls else {
        return Err(Fault::bare(code::INCORRECT_PARAMETERS));
    };
    let mut out = Vec::with_capacity(calls.len());
    for (i, c) in calls.iter().enumerate() {
        if i > 0 {
            if let Err(message) = over_rate(caller, served).await {
                let refused = Fault::new(code::FAILED, message).value();
                out.resize(calls.len(), refused);
                break;
            }
        }
        let result = match (c.get("methodName"), c.get("params")) {
            (None, _) => Err(Fault::new(code::INCORRECT_PARAMETERS, "No methodName")),
            (Some(Value::Str(m)), _) if m == "system.multicall" => Err(Fault::new(
                code::INCORRECT_PARAMETERS,
                "Recursive system.multicall forbidden",
            )),
            (Some(Value::Str(m)), None) => one(m, &[], caller, served).await,
            (Some(Value::Str(m)), Some(Value::Array(p))) => one(m, p, caller, served).await,
            _ => Err(Fault::bare(code::INCORRECT_PARAMETERS)),
        };
        out.push(result.unwrap_or_else(|f| f.value()));
    }
    Ok(Value::Array(out))
}

/// The parameters, if there are exactly `N` (Supervisor's INCORRECT_PARAMETERS otherwise).
fn args<const N: usize>(params: &[Value]) -> Result<[&Value; N], Fault> {
    let refs: Vec<&Value> = params.iter().collect();
    refs.try_into()
        .map_err(|_| Fault::bare(code::INCORRECT_PARAMETERS))
}

/// An int parameter (Supervisor takes `int(x)`: a string of digits too).
fn int(v: &Value) -> Result<i64, Fault> {
    match v {
        Value::Int(i) => Ok(*i),
        Value::Str(s) => s
            .trim()
            .parse()
            .map_err(|_| Fault::bare(code::INCORRECT_PARAMETERS)),
        _ => Err(Fault::bare(code::INCORRECT_PARAMETERS)),
    }
}

/// A read or tail of a log: the text (bytes that are not UTF-8 shown as U+FFFD, where
/// Supervisor's own decoding fails the call), or for a tail `[text, offset, overflow]`.
async fn read(
    log: Log,
    offset: i64,
    length: i64,
    tail: bool,
    caller: &Caller,
    served: &Served,
) -> Result<Value, Fault> {
    let req = Request::Read {
        log,
        offset,
        length,
        tail,
    };
    match submit(req, caller, served).await {
        Ok(Response::Read {
            data,
            offset,
            overflow,
        }) => {
            let text = Value::Str(String::from_utf8_lossy(&data).into_owned());
            Ok(match tail {
                false => text,
                true => Value::Array(vec![
                    text,
                    Value::Int(i64::try_from(offset).unwrap_or(i64::MAX)),
                    Value::Bool(overflow),
                ]),
            })
        }
        Ok(other) => Err(unexpected(&other)),
        // Supervisor says only the code.
        Err(f) if f.code == code::BAD_ARGUMENTS => Err(Fault::bare(code::BAD_ARGUMENTS)),
        Err(f) => Err(f),
    }
}

pub(super) fn string(v: &Value) -> Result<&str, Fault> {
    v.as_str()
        .ok_or_else(|| Fault::bare(code::INCORRECT_PARAMETERS))
}

/// One call other than a multicall.
async fn one(
    method: &str,
    params: &[Value],
    caller: &Caller,
    served: &Served,
) -> Result<Value, Fault> {
    match method {
        "supervisor.getAPIVersion" | "supervisor.getVersion" => {
            let [] = args(params)?;
            Ok(Value::str("3.0"))
        }
        "supervisor.getSupervisorVersion" => {
            let [] = args(params)?;
            Ok(Value::str(env!("CARGO_PKG_VERSION")))
        }
        "supervisor.getIdentification" => {
            let [] = args(params)?;
            Ok(Value::str(served.identifier.as_ref()))
        }
        "supervisor.getState" => {
            let [] = args(params)?;
            Ok(Value::record([
                ("statecode", Value::Int(1)),
                ("statename", Value::str("RUNNING")),
            ]))
        }
        "supervisor.getPID" => {
            let [] = args(params)?;
            match submit(Request::Pid { name: None }, caller, served).await? {
                Response::Pids(pids) => pids
                    .first()
                    .and_then(|(_, pid)| *pid)
                    .map(|pid| Value::Int(i64::from(pid)))
                    .ok_or_else(|| Fault::new(code::FAILED, "the daemon's pid is unknown")),
                other => Err(unexpected(&other)),
            }
        }
        "supervisor.getProcessInfo" => {
            let [name] = args(params)?;
            let name = string(name)?;
            let spec = acting::exact(name).ok_or_else(|| Fault::new(code::BAD_NAME, name))?;
            match submit_named(Request::Status { names: vec![spec] }, name, caller, served).await? {
                Response::Status(infos) => infos
                    .first()
                    .map(process_struct)
                    .ok_or_else(|| Fault::new(code::BAD_NAME, name)),
                other => Err(unexpected(&other)),
            }
        }
        "supervisor.getAllProcessInfo" => {
            let [] = args(params)?;
            match submit(Request::Status { names: Vec::new() }, caller, served).await? {
                Response::Status(infos) => {
                    Ok(Value::Array(infos.iter().map(process_struct).collect()))
                }
                other => Err(unexpected(&other)),
            }
        }
        "supervisor.startProcess" => {
            let (name, wait) = acting::name_and_wait(params)?;
            acting::on_one(Act::Start { wait }, name, caller, served).await
        }
        "supervisor.stopProcess" => {
            let (name, wait) = acting::name_and_wait(params)?;
            acting::on_one(Act::Stop { wait }, name, caller, served).await
        }
        "supervisor.signalProcess" => {
            let [name, signal] = args(params)?;
            let act = Act::Signal(acting::signal_arg(signal)?);
            acting::on_one(act, string(name)?, caller, served).await
        }
        "supervisor.startProcessGroup" => {
            let (name, wait) = acting::name_and_wait(params)?;
            acting::on_group(Act::Start { wait }, name, caller, served).await
        }
        "supervisor.stopProcessGroup" => {
            let (name, wait) = acting::name_and_wait(params)?;
            acting::on_group(Act::Stop { wait }, name, caller, served).await
        }
        "supervisor.signalProcessGroup" => {
            let [name, signal] = args(params)?;
            let act = Act::Signal(acting::signal_arg(signal)?);
            acting::on_group(act, string(name)?, caller, served).await
        }
        "supervisor.startAllProcesses" => {
            let wait = acting::wait_only(params)?;
            acting::on_all(Act::Start { wait }, caller, served).await
        }
        "supervisor.stopAllProcesses" => {
            let wait = acting::wait_only(params)?;
            acting::on_all(Act::Stop { wait }, caller, served).await
        }
        "supervisor.signalAllProcesses" => {
            let [signal] = args(params)?;
            acting::on_all(Act::Signal(acting::signal_arg(signal)?), caller, served).await
        }
        "supervisor.getAllConfigInfo" => {
            let [] = args(params)?;
            match submit(Request::Avail, caller, served).await? {
                Response::Avail(list) => Ok(config_structs(list).await),
                other => Err(unexpected(&other)),
            }
        }
        "supervisor.reloadConfig" => {
            let [] = args(params)?;
            match submit(Request::Reread, caller, served).await? {
                Response::Reread(d) => {
                    let names = |v: &[String]| Value::Array(v.iter().map(Value::str).collect());
                    Ok(Value::Array(vec![Value::Array(vec![
                        names(&d.added),
                        names(&d.changed),
                        names(&d.removed),
                    ])]))
                }
                other => Err(unexpected(&other)),
            }
        }
        "supervisor.addProcessGroup" | "supervisor.removeProcessGroup" => {
            let [name] = args(params)?;
            let name = string(name)?;
            let groups = vec![name.to_owned()];
            let req = if method == "supervisor.addProcessGroup" {
                Request::Add { groups }
            } else {
                Request::Remove { groups }
            };
            done(submit_named(req, name, caller, served).await?, name)
        }
        "supervisor.sendRemoteCommEvent" => {
            let [kind, data] = args(params)?;
            let text = |v: &Value| match v {
                Value::Str(s) => Ok(s.clone()),
                Value::Bytes(b) => Ok(String::from_utf8_lossy(b).into_owned()),
                _ => Err(Fault::bare(code::INCORRECT_PARAMETERS)),
            };
            let req = Request::RemoteCommEvent {
                kind: text(kind)?,
                data: text(data)?,
            };
            submit(req, caller, served).await?;
            Ok(Value::Bool(true))
        }
        "supervisor.sendProcessStdin" => {
            let [name, chars] = args(params)?;
            let name = string(name)?;
            let data = match chars {
                Value::Str(s) => s.clone().into_bytes(),
                Value::Bytes(b) => b.clone(),
                _ => return Err(Fault::bare(code::INCORRECT_PARAMETERS)),
            };
            let spec = acting::exact(name).ok_or_else(|| Fault::new(code::BAD_NAME, name))?;
            let req = Request::Stdin { name: spec, data };
            done(submit_named(req, name, caller, served).await?, name)
        }
        "supervisor.shutdown" => {
            let [] = args(params)?;
            submit(Request::Shutdown, caller, served).await?;
            caller
                .shutdown_after
                .store(true, std::sync::atomic::Ordering::Relaxed);
            Ok(Value::Bool(true))
        }
        "supervisor.restart" => {
            let [] = args(params)?;
            submit(Request::Reload, caller, served).await?;
            Ok(Value::Bool(true))
        }
        "supervisor.readLog" | "supervisor.readMainLog" => {
            let [offset, length] = args(params)?;
            let (offset, length) = (int(offset)?, int(length)?);
            read(Log::Main, offset, length, false, caller, served).await
        }
        "supervisor.readProcessStdoutLog"
        | "supervisor.readProcessLog"
        | "supervisor.readProcessStderrLog"
        | "supervisor.tailProcessStdoutLog"
        | "supervisor.tailProcessLog"
        | "supervisor.tailProcessStderrLog" => {
            let [name, offset, length] = args(params)?;
            let (name, offset, length) = (string(name)?, int(offset)?, int(length)?);
            let channel = if method.ends_with("StderrLog") {
                Channel::Stderr
            } else {
                Channel::Stdout
            };
            let tail = method.starts_with("supervisor.tail");
            let spec = acting::exact(name).ok_or_else(|| Fault::new(code::BAD_NAME, name))?;
            let log = Log::Process {
                name: spec,
                channel,
            };
            match read(log, offset, length, tail, caller, served).await {
                // Supervisor's tail of a log that is not there: empty, not a fault.
                Err(f) if tail && f.code == code::NO_FILE => Ok(Value::Array(vec![
                    Value::str(""),
                    Value::Int(0),
                    Value::Bool(false),
                ])),
                Err(f) if f.code == code::BAD_NAME => Err(Fault::new(code::BAD_NAME, name)),
                other => other,
            }
        }
        "supervisor.clearProcessLogs" | "supervisor.clearProcessLog" => {
            let [name] = args(params)?;
            let name = string(name)?;
            let spec = acting::exact(name).ok_or_else(|| Fault::new(code::BAD_NAME, name))?;
            let req = Request::Clear { names: vec![spec] };
            done(submit_named(req, name, caller, served).await?, name)
        }
        "supervisor.clearAllProcessLogs" => {
            let [] = args(params)?;
            let all = Request::Clear {
                names: vec!["all".to_owned()],
            };
            match submit(all, caller, served).await? {
                Response::Actions(results) => Ok(acting::cleared_structs(&results)),
                other => Err(unexpected(&other)),
            }
        }
        "supervisor.clearLog" => {
            let [] = args(params)?;
            submit(Request::ClearMainLog, caller, served).await?;
            Ok(Value::Bool(true))
        }
        "system.listMethods" => {
            let [] = args(params)?;
            Ok(Value::Array(
                METHODS.iter().map(|m| Value::str(m.name)).collect(),
            ))
        }
        "system.methodHelp" => {
            let [name] = args(params)?;
            let name = string(name)?;
            METHODS
                .iter()
                .find(|m| m.name == name)
                .map(|m| Value::str(m.help))
                .ok_or_else(|| Fault::bare(code::SIGNATURE_UNSUPPORTED))
        }
        "system.methodSignature" => {
            let [name] = args(params)?;
            let name = string(name)?;
            METHODS
                .iter()
                .find(|m| m.name == name)
                .map(|m| Value::Array(m.signature.iter().map(|t| Value::str(*t)).collect()))
                .ok_or_else(|| Fault::bare(code::SIGNATURE_UNSUPPORTED))
        }
        _ => Err(Fault::bare(code::UNKNOWN_METHOD)),
    }
}

/// Runs a request as proctorctl's would run: tidied, decided, recorded, carried out, its
/// outcome recorded. A request narrowed by the policy answers with what it was allowed.
async fn submit(req: Request, caller: &Caller, served: &Served) -> Result<Response, Fault> {
    submit_named(req, "", caller, served).await
}

/// As [`submit`]; `name` is what the caller named, for a BAD_NAME fault.
async fn submit_named(
    req: Request,
    name: &str,
    caller: &Caller,
    served: &Served,
) -> Result<Response, Fault> {
    let resp = match admit(tidied(req)?, caller, served).await {
        Ok(admitted) => answer(admitted, served).await,
        Err(refusal) => refusal,
    };
    unwrapped(resp, name)
}

/// The request made fit to run ([`Request::tidy`]), or BAD_ARGUMENTS saying why it is not.
pub(super) fn tidied(mut req: Request) -> Result<Request, Fault> {
    req.tidy().map_err(|m| Fault::new(code::BAD_ARGUMENTS, m))?;
    Ok(req)
}

/// A response as a method answers it: a refusal or failure as Supervisor's fault (`name` is
/// what the caller named, for BAD_NAME), a response narrowed by the policy as what was allowed.
pub(super) fn unwrapped(resp: Response, name: &str) -> Result<Response, Fault> {
    match resp {
        Response::Partial { response, .. } => Ok(*response),
        Response::Error { kind, message } => Err(match kind {
            ErrorKind::BadName => Fault::new(code::BAD_NAME, name),
            ErrorKind::ShuttingDown => Fault::bare(code::SHUTDOWN_STATE),
            ErrorKind::CantReread => Fault::new(code::CANT_REREAD, message),
            ErrorKind::BadArguments => Fault::new(code::BAD_ARGUMENTS, message),
            ErrorKind::PermissionDenied => Fault::denied(message),
            ErrorKind::NoFile if message.is_empty() => Fault::bare(code::NO_FILE),
            ErrorKind::NoFile => Fault::new(code::NO_FILE, message),
            // The daemon's own limits: FAILED with the reason.
            ErrorKind::Busy | ErrorKind::Failed => Fault::new(code::FAILED, message),
        }),
        other => Ok(other),
    }
}

/// A call on one thing that answers True: its result's fault (`CODE: name`) if it failed.
fn done(resp: Response, name: &str) -> Result<Value, Fault> {
    match resp {
        Response::Actions(results) => match results.iter().find(|r| !r.ok()) {
            None => Ok(Value::Bool(true)),
            Some(r) => Err(Fault::new(super::fault::code_of(r.code), name)),
        },
        other => Err(unexpected(&other)),
    }
}

pub(super) fn unexpected(r: &Response) -> Fault {
    Fault::new(
        code::FAILED,
        format!("unexpected answer from the supervisor: {r:?}"),
    )
}

/// `getAllConfigInfo`'s structs, Supervisor's fields in Supervisor's order (`none` for what is
/// not set, `serverurl=AUTO` included), sorted by process name as Supervisor sorts them.
/// One process's configuration as `getAllConfigInfo` gives it, as (key, text) pairs: for the
/// web UI's process page.
pub async fn config_pairs(info: AvailInfo) -> Vec<(String, String)> {
    fn text(v: &Value) -> String {
        match v {
            Value::Int(i) => i.to_string(),
            Value::Bool(b) => b.to_string(),
            Value::Str(s) | Value::DateTime(s) => s.clone(),
            Value::Double(d) => d.to_string(),
            Value::Bytes(b) => String::from_utf8_lossy(b).into_owned(),
            Value::Array(a) => a.iter().map(text).collect::<Vec<_>>().join(", "),
            Value::Struct(m) => m
                .iter()
                .map(|(k, v)| format!("{k}={}", text(v)))
                .collect::<Vec<_>>()
                .join(", "),
            Value::Nil => String::new(),
        }
    }
    match config_structs(vec![info]).await {
        Value::Array(mut a) => match a.pop() {
            Some(Value::Struct(members)) => {
                let mut pairs: Vec<(String, String)> =
                    members.iter().map(|(k, v)| (k.clone(), text(v))).collect();
                pairs.sort();
                pairs
            }
            _ => Vec::new(),
        },
        _ => Vec::new(),
    }
}

async fn config_structs(mut list: Vec<AvailInfo>) -> Value {
    list.sort_by(|a, b| (&a.process, &a.group).cmp(&(&b.process, &b.group)));
    // Supervisor reports the uid of `user=`: looked up off the async workers, once each.
    let mut names: Vec<String> = list.iter().filter_map(|a| a.user.clone()).collect();
    names.sort();
    names.dedup();
    let uids: std::collections::HashMap<String, u32> = tokio::task::spawn_blocking(move || {
        names
            .into_iter()
            .filter_map(|n| {
                let uid = nix::unistd::User::from_name(&n)
                    .ok()
                    .flatten()?
                    .uid
                    .as_raw();
                Some((n, uid))
            })
            .collect()
    })
    .await
    .unwrap_or_default();
    let none = || Value::str("none");
    let int = |v: u64| Value::Int(i64::try_from(v).unwrap_or(i64::MAX));
    let opt = |v: &Option<String>| v.as_deref().map_or_else(none, Value::str);
    Value::Array(
        list.iter()
            .map(|a| {
                let uid = a.user.as_ref().and_then(|u| uids.get(u));
                Value::record([
                    ("autostart", Value::Bool(a.autostart)),
                    ("directory", opt(&a.directory)),
                    ("uid", uid.map_or_else(none, |u| Value::Int(i64::from(*u)))),
                    ("command", Value::str(&a.command)),
                    (
                        "exitcodes",
                        Value::Array(
                            a.exitcodes
                                .iter()
                                .map(|c| Value::Int(i64::from(*c)))
                                .collect(),
                        ),
                    ),
                    ("group", Value::str(&a.group)),
                    ("group_prio", Value::Int(i64::from(a.group_priority))),
                    ("inuse", Value::Bool(a.in_use)),
                    ("killasgroup", Value::Bool(a.killasgroup)),
                    ("name", Value::str(&a.process)),
                    ("process_prio", Value::Int(i64::from(a.priority))),
                    ("redirect_stderr", Value::Bool(a.redirect_stderr)),
                    ("startretries", int(u64::from(a.startretries))),
                    ("startsecs", int(u64::from(a.startsecs))),
                    ("stdout_capture_maxbytes", int(a.stdout.capture_maxbytes)),
                    (
                        "stdout_events_enabled",
                        Value::Bool(a.stdout.events_enabled),
                    ),
                    ("stdout_logfile", opt(&a.stdout.logfile)),
                    ("stdout_logfile_backups", int(u64::from(a.stdout.backups))),
                    ("stdout_logfile_maxbytes", int(a.stdout.maxbytes)),
                    ("stdout_syslog", Value::Bool(a.stdout.syslog)),
                    ("stopsignal", Value::Int(i64::from(a.stopsignal))),
                    ("stopwaitsecs", int(u64::from(a.stopwaitsecs))),
                    ("stderr_capture_maxbytes", int(a.stderr.capture_maxbytes)),
                    (
                        "stderr_events_enabled",
                        Value::Bool(a.stderr.events_enabled),
                    ),
                    ("stderr_logfile", opt(&a.stderr.logfile)),
                    ("stderr_logfile_backups", int(u64::from(a.stderr.backups))),
                    ("stderr_logfile_maxbytes", int(a.stderr.maxbytes)),
                    ("stderr_syslog", Value::Bool(a.stderr.syslog)),
                    ("serverurl", opt(&a.serverurl)),
                ])
            })
            .collect(),
    )
}

/// `getProcessInfo`'s struct, Supervisor's fields in Supervisor's order.
fn process_struct(p: &ProcessInfo) -> Value {
    let int = |v: u64| Value::Int(i64::try_from(v).unwrap_or(i64::MAX));
    Value::record([
        ("name", Value::str(&p.name)),
        ("group", Value::str(&p.group)),
        ("start", int(p.start)),
        ("stop", int(p.stop)),
        ("now", int(p.now)),
        ("state", Value::Int(i64::from(p.state.code()))),
        ("statename", Value::str(p.state.name())),
        ("spawnerr", Value::str(&p.spawnerr)),
        // Supervisor says -1 for any death by a signal (proctor keeps which one: -N).
        (
            "exitstatus",
            Value::Int(i64::from(p.exitstatus.map_or(0, |e| e.max(-1)))),
        ),
        ("logfile", Value::str(&p.stdout_logfile)),
        ("stdout_logfile", Value::str(&p.stdout_logfile)),
        ("stderr_logfile", Value::str(&p.stderr_logfile)),
        ("pid", Value::Int(i64::from(p.pid.unwrap_or(0)))),
        ("description", Value::Str(description(p))),
    ])
}

/// Supervisor's `_interpretProcessInfo`: what supervisorctl shows after the state.
fn description(p: &ProcessInfo) -> String {
    match p.state {
        ProcessState::Running => format!(
            "pid {}, uptime {}",
            p.pid.unwrap_or(0),
            crate::procs::uptime(p.now.saturating_sub(p.start))
        ),
        ProcessState::Fatal | ProcessState::Backoff if p.spawnerr.is_empty() => {
            format!("unknown error (try \"tail {}\")", p.name)
        }
        ProcessState::Fatal | ProcessState::Backoff => p.spawnerr.clone(),
        ProcessState::Stopped | ProcessState::Exited if p.start == 0 => "Not started".into(),
        ProcessState::Stopped | ProcessState::Exited => crate::procs::local_time(p.stop),
        _ => String::new(),
    }
}
