//! `[program:x]` and `[group:x]`: per-process expansions, logs, users, and the group list.

use std::collections::HashMap;
use std::path::PathBuf;

use crate::build::{normalize, DefaultUser, Sec};
use crate::expand::{Value, Vars};
use crate::ini::Section;
use crate::load::diag;
use crate::model::{
    AutoRestart, DaemonConfig, GroupConfig, ListenerConfig, LogConfig, LogTarget, Origin,
    ProcessConfig, ProgramConfig, SignalSpec,
};
use crate::users::check_user;
use crate::values;
use crate::{Diagnostic, LoadContext};

/// Past this, `numprocs` is a typo: a billion instances would keep the loader busy for hours.
pub const MAX_NUMPROCS: u32 = 10_000;

pub(crate) const PROGRAM_KEYS: &[&str] = &[
    "command",
    "process_name",
    "numprocs",
    "numprocs_start",
    "priority",
    "autostart",
    "autorestart",
    "startsecs",
    "startretries",
    "exitcodes",
    "stopsignal",
    "stopwaitsecs",
    "stopasgroup",
    "killasgroup",
    "user",
    "directory",
    "umask",
    "environment",
    "redirect_stderr",
    "stdout_logfile",
    "stdout_logfile_maxbytes",
    "stdout_logfile_backups",
    "stdout_syslog",
    "stderr_logfile",
    "stderr_logfile_maxbytes",
    "stderr_logfile_backups",
    "stderr_syslog",
    "stdout_capture_maxbytes",
    "stderr_capture_maxbytes",
    "stdout_events_enabled",
    "stderr_events_enabled",
    "capabilities",
    "serverurl",
];

/// What `[eventlistener:x]` accepts besides [`PROGRAM_KEYS`].
pub(crate) const LISTENER_KEYS: &[&str] = &["events", "buffer_size", "result_handler"];

/// Supervisor's own result handler, the only one proctor runs (it is `OK` or rejected).
const DEFAULT_RESULT_HANDLER: &str = "supervisor.dispatchers:default_handler";

pub(crate) const GROUP_KEYS: &[&str] = &["programs", "priority"];

/// Supervisor's rule for program, group and process names, a little stricter: not empty, no
/// whitespace, `:` or `/`.
fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && !name
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || c == ':' || c == '/')
}

fn name_error(what: &str, name: &str) -> String {
    format!("invalid {what} name '{name}' (names may not be empty or contain spaces, ':' or '/')")
}

/// Lets `#` at the start of a word through `shlex::split` literally, as Python's `shlex.split`
/// (which Supervisor uses) does not treat it as a comment.
fn escape_hashes(command: &str) -> String {
    let mut out = String::with_capacity(command.len());
    let mut chars = command.chars();
    let mut word_start = true;
    while let Some(c) = chars.next() {
        match c {
            '#' if word_start => out.push_str("\\#"),
            '\\' => {
                out.push(c);
                if let Some(n) = chars.next() {
                    out.push(n);
                }
            }
            '\'' | '"' => {
                out.push(c);
                while let Some(n) = chars.next() {
                    out.push(n);
                    if n == c {
                        break;
                    }
                    if n == '\\' && c == '"' {
                        if let Some(m) = chars.next() {
                            out.push(m);
                        }
                    }
                }
            }
            _ => out.push(c),
        }
        word_start = c.is_whitespace();
    }
    out
}

/// Who claimed a log file first.
struct LogClaim {
    program: String,
    maxbytes: u64,
    backups: u32,
    syslog: bool,
    origin: Origin,
}

/// What earlier programs took: log files, and process names in each group.
#[derive(Default)]
struct Claims {
    logs: HashMap<PathBuf, LogClaim>,
    /// (group, process name) → (program, place of its process_name)
    process_names: HashMap<(String, String), (String, Origin)>,
    sockets: crate::sockets::Taken,
}

struct Groups {
    /// program name → the `[group:x]` that lists it
    membership: HashMap<String, String>,
    explicit: Vec<(GroupConfig, Vec<String>, Origin)>,
}

fn groups(
    sections: &[Section],
    program_names: &HashMap<String, &Section>,
    ctx: &LoadContext,
    warnings: &mut Vec<Diagnostic>,
) -> Result<Groups, Diagnostic> {
    let mut membership: HashMap<String, String> = HashMap::new();
    let mut origin_of: HashMap<String, Origin> = HashMap::new();
    let mut explicit = Vec::new();
    for s in sections {
        let Some(name) = s.name.strip_prefix("group:").map(str::trim) else {
            continue;
        };
        let sec = Sec::new(s, ctx);
        if !valid_name(name) {
            return Err(sec.at(s.place(), name_error("group", name)));
        }
        if let Some(first) = origin_of.get(name) {
            return Err(sec.at(
                s.place(),
                format!("duplicate section [group:{name}] (first at {first})"),
            ));
        }
        let origin = Origin {
            file: s.file.clone(),
            line: s.line,
        };
        origin_of.insert(name.to_owned(), origin.clone());
        for e in &s.entries {
            if !GROUP_KEYS.contains(&e.key.as_str()) {
                sec.warn_unknown(e.place(), &e.key, warnings);
            }
        }
        let Some((list, line)) = sec.expanded("programs")? else {
            return Err(sec.at(s.place(), format!("[group:{name}] has no programs=")));
        };
        let mut members: Vec<String> = Vec::new();
        for p in list.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            if !program_names.contains_key(p) {
                return Err(sec.at(
                    line,
                    format!("[group:{name}] names program '{p}', which is not defined"),
                ));
            }
            if members.iter().any(|m| m == p) {
                return Err(sec.at(line, format!("[group:{name}] names program '{p}' twice")));
            }
            if let Some(other) = membership.get(p) {
                let o = origin_of.get(other).cloned().unwrap_or_default();
                return Err(sec.at(
                    line,
                    format!(
                        "[group:{name}] names program '{p}', which is already in \
                         [group:{other}] ({o})"
                    ),
                ));
            }
            membership.insert(p.to_owned(), name.to_owned());
            members.push(p.to_owned());
        }
        if members.is_empty() {
            return Err(sec.at(line, format!("[group:{name}] programs= names no program")));
        }
        let priority = sec.parse("priority", 999, values::integer)?;
        explicit.push((
            GroupConfig {
                name: name.to_owned(),
                priority,
                programs: Vec::new(),
                explicit: true,
            },
            members,
            origin,
        ));
    }
    Ok(Groups {
        membership,
        explicit,
    })
}

/// Builds every program and the group list.
pub(crate) fn build(
    sections: &[Section],
    daemon: &DaemonConfig,
    default_user: Option<&DefaultUser<'_>>,
    ctx: &LoadContext,
    warnings: &mut Vec<Diagnostic>,
) -> Result<(Vec<ProgramConfig>, Vec<GroupConfig>), Diagnostic> {
    // (name, section, kind), in file order.
    let mut program_sections: Vec<(&str, &Section, Kind)> = Vec::new();
    let mut seen: HashMap<String, (&Section, &str)> = HashMap::new();
    for s in sections {
        let (name, kind) = match (
            s.name.strip_prefix("program:"),
            s.name.strip_prefix("eventlistener:"),
            s.name.strip_prefix("fcgi-program:"),
        ) {
            (Some(name), _, _) => (name.trim(), Kind::Program),
            (_, Some(name), _) => (name.trim(), Kind::Listener),
            (_, _, Some(name)) => (name.trim(), Kind::Fcgi),
            _ => continue,
        };
        let listener = kind == Kind::Listener;
        let what = if listener {
            "event listener"
        } else {
            "program"
        };
        if !valid_name(name) {
            return Err(diag(&s.file, s.line, name_error(what, name)));
        }
        let kind_name = kind.section();
        if let Some((first, first_kind)) = seen.get(name) {
            let message = if *first_kind == kind_name {
                format!("duplicate section [{kind_name}:{name}]")
            } else {
                // One name, two process groups: Supervisor would keep only one of them.
                let what = if kind == Kind::Listener || *first_kind == "eventlistener" {
                    "a program and an event listener pool"
                } else {
                    "a program and an fcgi-program"
                };
                format!(
                    "[{kind_name}:{name}] has the name of [{first_kind}:{name}]: {what} may not \
                     share a name"
                )
            };
            return Err(diag(
                &s.file,
                s.line,
                format!(
                    "{message} (first at {}:{})",
                    first.file.display(),
                    first.line
                ),
            ));
        }
        seen.insert(name.to_owned(), (s, kind_name));
        program_sections.push((name, s, kind));
    }
    // `[group:x] programs=` names `[program:x]` and `[fcgi-program:x]` sections only, as in
    // Supervisor.
    let by_name: HashMap<String, &Section> = program_sections
        .iter()
        .filter(|(_, _, kind)| *kind != Kind::Listener)
        .map(|(name, s, _)| ((*name).to_owned(), *s))
        .collect();
    let groups = groups(sections, &by_name, ctx, warnings)?;
    let explicit_origin: HashMap<&str, &Origin> = groups
        .explicit
        .iter()
        .map(|(g, _, o)| (g.name.as_str(), o))
        .collect();

    let mut claims = Claims::default();
    let mut programs = Vec::new();
    for (name, s, kind) in &program_sections {
        let group = match groups.membership.get(*name) {
            Some(g) => g.clone(),
            None => {
                if let Some(o) = explicit_origin.get(name) {
                    let message = if *kind == Kind::Listener {
                        format!(
                            "[eventlistener:{name}] is a process group of its own, which \
                             clashes with [group:{name}] ({o})"
                        )
                    } else {
                        format!(
                            "[{}:{name}] is in no [group:x], so it forms its own group \
                             '{name}', which clashes with [group:{name}] ({o})",
                            kind.section()
                        )
                    };
                    return Err(diag(&s.file, s.line, message));
                }
                (*name).to_owned()
            }
        };
        let p = program(
            name,
            *kind,
            &group,
            s,
            daemon,
            default_user,
            ctx,
            warnings,
            &mut claims,
        )?;
        programs.push(p);
    }

    let index: HashMap<&str, usize> = programs
        .iter()
        .enumerate()
        .map(|(i, p)| (p.name.as_str(), i))
        .collect();
    let mut list = Vec::new();
    for (mut g, members, _) in groups.explicit {
        g.programs = members
            .iter()
            .filter_map(|m| index.get(m.as_str()).copied())
            .collect();
        list.push(g);
    }
    for (i, p) in programs.iter().enumerate() {
        if !groups.membership.contains_key(&p.name) {
            list.push(GroupConfig {
                name: p.name.clone(),
                priority: p.listener.as_ref().map_or(p.priority, |l| l.priority),
                programs: vec![i],
                explicit: false,
            });
        }
    }
    list.sort_by(|a, b| (a.priority, &a.name).cmp(&(b.priority, &b.name)));
    Ok((programs, list))
}

/// What a section of processes is.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Kind {
    Program,
    Listener,
    Fcgi,
}

impl Kind {
    fn section(self) -> &'static str {
        match self {
            Kind::Program => "program",
            Kind::Listener => "eventlistener",
            Kind::Fcgi => "fcgi-program",
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn program(
    name: &str,
    kind: Kind,
    group: &str,
    s: &Section,
    daemon: &DaemonConfig,
    default_user: Option<&DefaultUser<'_>>,
    ctx: &LoadContext,
    warnings: &mut Vec<Diagnostic>,
    claims: &mut Claims,
) -> Result<ProgramConfig, Diagnostic> {
    let mut sec = Sec::new(s, ctx);
    sec.vars.set("program_name", Value::Str(name.to_owned()));
    sec.vars.set("group_name", Value::Str(group.to_owned()));
    let section = format!("{}:{name}", kind.section());
    let listener = kind == Kind::Listener;
    for e in &s.entries {
        let k = e.key.as_str();
        let known = PROGRAM_KEYS.contains(&k)
            || listener && LISTENER_KEYS.contains(&k)
            || !listener && crate::sockets::SOCKET_KEYS.contains(&k)
            || kind == Kind::Fcgi && k == "socket"
            || kind == Kind::Program && k == "sockets";
        if !known {
            sec.warn_unknown(e.place(), k, warnings);
        }
    }
    let header = |m: String| sec.at(s.place(), m);
    if s.get("command").is_none() {
        return Err(header(format!("[{section}] has no command=")));
    }
    let listener = if listener {
        Some(listener_config(&sec, &section)?)
    } else {
        None
    };

    let numprocs = sec.parse("numprocs", 1, |k, v| {
        values::unsigned(k, v, 1).and_then(|n| {
            if n > MAX_NUMPROCS {
                Err(format!(
                    "numprocs = {n} is more than proctor's limit of {MAX_NUMPROCS} processes per program"
                ))
            } else {
                Ok(n)
            }
        })
    })?;
    let numprocs_start = sec.parse("numprocs_start", 0, |k, v| values::unsigned(k, v, 0))?;
    let priority = sec.parse("priority", 999, values::integer)?;
    let autostart = sec.parse("autostart", true, values::boolean)?;
    let autorestart = sec.parse("autorestart", AutoRestart::Unexpected, values::autorestart)?;
    let startsecs = sec.parse("startsecs", 1, |k, v| values::unsigned(k, v, 0))?;
    let startretries = sec.parse("startretries", 3, |k, v| values::unsigned(k, v, 0))?;
    let exitcodes = sec.parse("exitcodes", vec![0], values::exitcodes)?;
    let stopsignal = sec.parse(
        "stopsignal",
        SignalSpec {
            number: nix::sys::signal::Signal::SIGTERM as i32,
        },
        values::signal,
    )?;
    let stopwaitsecs = sec.parse("stopwaitsecs", 10, |k, v| values::unsigned(k, v, 0))?;
    let stopasgroup = sec.parse("stopasgroup", false, values::boolean)?;
    let killasgroup = stopasgroup || sec.parse("killasgroup", false, values::boolean)?;
    // Supervisor's children inherit supervisord's umask: [supervisord] umask= when it
    // daemonized, else the one it was started with.
    let umask = sec.parse("umask", daemon.umask, |k, v| values::octal(k, v).map(Some))?;
    let serverurl = sec.parse("serverurl", None, |k, v| match v.trim() {
        "" => Err(values::bad(k, v, "AUTO or a URL")),
        "AUTO" => Ok(None),
        url => Ok(Some(url.to_owned())),
    })?;
    let redirect_stderr = sec.parse("redirect_stderr", false, values::boolean)?;
    let sockets = if kind == Kind::Listener {
        Vec::new()
    } else {
        crate::sockets::sockets(
            &sec,
            &section,
            name,
            kind == Kind::Fcgi,
            &mut claims.sockets,
        )?
    };
    let capabilities = sec.parse("capabilities", Vec::new(), values::capabilities)?;

    let user = match (sec.expanded("user")?, default_user) {
        (Some((v, place)), _) => Some(check_user(&v, &section, ctx).map_err(|m| sec.at(place, m))?),
        (None, Some(d)) if ctx.uid == 0 => {
            Some(check_user(&d.name, &section, ctx).map_err(|m| {
                d.place.diag(format!(
                    "{m} ({} stands in for user= in programs without one; set [proctor] \
                 default_user= to an unprivileged account)",
                    d.key
                ))
            })?)
        }
        (None, None) if ctx.uid == 0 => {
            return Err(header(format!(
                "[{section}] has no user=: as root, proctor needs an unprivileged account \
                 for every program (add user=, or set [proctor] default_user= for the programs \
                 without one)"
            )))
        }
        (None, _) => None,
    };

    let process_name_raw = s.get("process_name").map(|e| e.value.as_str());
    if numprocs > 1 && !process_name_raw.is_some_and(|v| v.contains("%(process_num)")) {
        let place = s.get("numprocs").map_or(s.place(), |e| e.place());
        return Err(sec.at(
            place,
            format!("[{section}] numprocs = {numprocs} requires %(process_num) in process_name"),
        ));
    }
    if numprocs_start.checked_add(numprocs).is_none() {
        let place = s.get("numprocs_start").map_or(s.place(), |e| e.place());
        return Err(sec.at(
            place,
            format!("[{section}] numprocs_start + numprocs is too large"),
        ));
    }
    if redirect_stderr {
        if let Some(e) = s.get("stderr_logfile") {
            warnings.push(sec.at(
                e.place(),
                format!("[{section}] stderr_logfile is ignored because redirect_stderr=true"),
            ));
        }
    }

    let mut processes = Vec::new();
    for process_num in numprocs_start..numprocs_start + numprocs {
        let vars = sec
            .vars
            .with("process_num", Value::Int(i64::from(process_num)))
            .with("numprocs", Value::Int(i64::from(numprocs)));
        let get = |key: &str| sec.expanded_with(key, &vars);

        let process_name = match get("process_name")? {
            Some((v, line)) => {
                let v = v.trim().to_owned();
                if !valid_name(&v) {
                    return Err(sec.at(line, format!("[{section}] {}", name_error("process", &v))));
                }
                v
            }
            None => name.to_owned(),
        };
        let key = (group.to_owned(), process_name.clone());
        let place = s.get("process_name").map_or(s.place(), |e| e.place());
        if let Some((other, o)) = claims.process_names.get(&key) {
            return Err(sec.at(
                place,
                format!(
                    "[{section}] process name '{process_name}' is already used in group \
                     '{group}' by [program:{other}] ({o})"
                ),
            ));
        }
        let origin = Origin {
            file: place.file.to_path_buf(),
            line: place.line,
        };
        claims.process_names.insert(key, (name.to_owned(), origin));

        let (command, line) = get("command")?.unwrap_or_else(|| (String::new(), s.place()));
        let argv = shlex::split(&escape_hashes(&command))
            .ok_or_else(|| sec.at(line, format!("[{section}] command has unbalanced quotes")))?;
        // Supervisor accepts an empty command and fails at each start; so does proctor (the
        // process goes BACKOFF, then FATAL, with "command is empty"), and says so now.
        if argv.is_empty() && process_num == numprocs_start {
            warnings.push(sec.at(
                line,
                format!("[{section}] command is empty: it will fail to start"),
            ));
        }

        let directory = match get("directory")? {
            // Supervisor's children start in supervisord's directory, [supervisord] directory=.
            None => daemon.directory.clone(),
            Some((v, line)) => {
                let d = v.trim();
                if !d.starts_with('/') {
                    return Err(sec.at(line, values::bad("directory", d, "an absolute path")));
                }
                Some(normalize(std::path::Path::new(d)))
            }
        };

        let mut environment = daemon.environment.clone();
        if let Some((v, line)) = get("environment")? {
            for (k, val) in values::environment("environment", &v).map_err(|m| sec.at(line, m))? {
                match environment.iter_mut().find(|(ek, _)| *ek == k) {
                    Some(slot) => slot.1 = val,
                    None => environment.push((k, val)),
                }
            }
        }

        let first = process_num == numprocs_start;
        let mut log_of = |channel| {
            let logs = &mut claims.logs;
            log(
                &sec,
                name,
                &process_name,
                channel,
                first,
                &vars,
                daemon,
                warnings,
                logs,
            )
        };
        let stdout = log_of("stdout")?;
        let stderr = log_of("stderr")?;
        processes.push(ProcessConfig {
            name: process_name,
            process_num,
            command: command.trim().to_owned(),
            argv,
            environment,
            directory,
            stdout,
            stderr,
        });
    }

    Ok(ProgramConfig {
        name: name.to_owned(),
        group: group.to_owned(),
        origin: Origin {
            file: s.file.clone(),
            line: s.line,
        },
        numprocs,
        numprocs_start,
        priority,
        autostart,
        autorestart,
        startsecs,
        startretries,
        exitcodes,
        stopsignal,
        stopwaitsecs,
        stopasgroup,
        killasgroup,
        user,
        umask,
        redirect_stderr,
        serverurl,
        capabilities,
        listener,
        sockets,
        fcgi: kind == Kind::Fcgi,
        processes,
    })
}

/// `events=`, `buffer_size` and `result_handler` of `[eventlistener:x]`, checked as Supervisor
/// checks them; and `redirect_stderr=true`, which Supervisor refuses for a listener.
fn listener_config(sec: &Sec<'_>, section: &str) -> Result<ListenerConfig, Diagnostic> {
    if let Some((v, place)) = sec.expanded("redirect_stderr")? {
        if values::boolean("redirect_stderr", &v).map_err(|m| sec.at(place, m))? {
            return Err(sec.at(
                place,
                format!(
                    "[{section}] sets redirect_stderr=true, which an event listener may not: \
                     its stderr would be mixed into its replies on stdout and break the event \
                     listener protocol"
                ),
            ));
        }
    }
    if let Some((v, place)) = sec.expanded("result_handler")? {
        if v.trim() != DEFAULT_RESULT_HANDLER {
            return Err(sec.at(
                place,
                format!(
                    "[{section}] result_handler = {}: proctor runs Supervisor's own handler \
                     only ({DEFAULT_RESULT_HANDLER}: a result of OK is success, anything else \
                     rejects the event); a Python handler cannot run in proctor",
                    v.trim()
                ),
            ));
        }
    }
    let buffer_size = sec.parse("buffer_size", 10, |k, v| {
        values::integer(k, v).and_then(|n| {
            u32::try_from(n)
                .ok()
                .filter(|n| *n >= 1)
                .ok_or_else(|| format!("[{section}] buffer_size = {n}: it must be at least 1"))
        })
    })?;
    let Some((list, place)) = sec.expanded("events")? else {
        return Err(sec.at(
            sec.header(),
            format!(
                "[{section}] has no events=: a listener pool must name the events it receives \
                 (for example events=PROCESS_STATE)"
            ),
        ));
    };
    let mut events: Vec<String> = list
        .split(',')
        .map(|e| e.trim().to_ascii_uppercase())
        .filter(|e| !e.is_empty())
        .collect();
    events.sort();
    events.dedup();
    if events.is_empty() {
        return Err(sec.at(place, format!("[{section}] events= names no event type")));
    }
    if let Some(bad) = events
        .iter()
        .find(|e| !proctor_events::event::Kind::known(e))
    {
        return Err(sec.at(
            place,
            format!(
                "[{section}] events= names {bad}, which is not an event type (see \
                 `proctorctl events --help` for the list)"
            ),
        ));
    }
    // Supervisor starts pools first and stops them last, so that they see every event: the
    // pool's priority defaults to -1 (its processes' stays 999, as Supervisor keeps it).
    let priority = sec.parse("priority", -1, values::integer)?;
    Ok(ListenerConfig {
        events,
        buffer_size,
        priority,
    })
}

/// One channel's log settings for one process (`first`: the program's first process, which
/// gets the warnings). With `redirect_stderr`, the stderr target is `Merged` and claims no file.
#[allow(clippy::too_many_arguments)]
fn log(
    sec: &Sec<'_>,
    program: &str,
    process: &str,
    channel: &'static str,
    first: bool,
    vars: &Vars,
    daemon: &DaemonConfig,
    warnings: &mut Vec<Diagnostic>,
    logs: &mut HashMap<PathBuf, LogClaim>,
) -> Result<LogConfig, Diagnostic> {
    let (file_key, maxbytes_key, backups_key, syslog_key): (&'static str, _, _, _) = match channel {
        "stdout" => (
            "stdout_logfile",
            "stdout_logfile_maxbytes",
            "stdout_logfile_backups",
            "stdout_syslog",
        ),
        _ => (
            "stderr_logfile",
            "stderr_logfile_maxbytes",
            "stderr_logfile_backups",
            "stderr_syslog",
        ),
    };
    let maxbytes = sec.parse(maxbytes_key, 50 << 20, values::byte_size)?;
    let backups = sec.parse(backups_key, 10, |k, v| values::unsigned(k, v, 0))?;
    let mut syslog = sec.parse(syslog_key, false, values::boolean)?;
    let events_enabled = sec.parse(&format!("{channel}_events_enabled"), false, values::boolean)?;
    let capture_maxbytes =
        sec.parse(&format!("{channel}_capture_maxbytes"), 0, values::byte_size)?;
    let merged = channel == "stderr" && sec.parse("redirect_stderr", false, values::boolean)?;
    if merged {
        return Ok(LogConfig {
            target: LogTarget::Merged,
            maxbytes,
            backups,
            syslog,
            events_enabled,
            capture_maxbytes,
        });
    }
    let (value, line) = match sec.expanded_with(file_key, vars)? {
        Some((v, line)) => (v.trim().to_owned(), line),
        None => ("AUTO".to_owned(), sec.header()),
    };
    let target = if value.eq_ignore_ascii_case("auto") {
        LogTarget::File(
            daemon
                .childlogdir
                .join(format!("{process}-{channel}---{}.log", daemon.identifier)),
        )
    } else if value.eq_ignore_ascii_case("none") {
        LogTarget::Discard
    } else if value.eq_ignore_ascii_case("syslog") {
        if first {
            warnings.push(sec.at(
                line,
                format!(
                    "{file_key}=syslog is deprecated in Supervisor; proctor reads it as \
                     {file_key}=NONE with {syslog_key}=true"
                ),
            ));
        }
        syslog = true;
        LogTarget::Discard
    } else {
        LogTarget::File(sec.resolve(file_key, &value, line)?)
    };
    let target = match target {
        LogTarget::File(path) => LogTarget::for_path(normalize(&path)),
        other => other,
    };
    // Several streams may share a file, as in Supervisor, if they agree on how it rotates:
    // one writer then rotates it once. A stream (not a file) never rotates.
    if let LogTarget::File(path) = &target {
        match logs.get(path) {
            Some(first) if first.syslog != syslog => {
                return Err(sec.at(
                    line,
                    format!(
                        "[program:{program}] {file_key} {} is also the log of [program:{}] ({}), \
                         which differs on {syslog_key}: streams that share a file share its copy \
                         to syslog too, so give them the same setting",
                        path.display(),
                        first.program,
                        first.origin,
                    ),
                ));
            }
            Some(first) if (first.maxbytes, first.backups) != (maxbytes, backups) => {
                return Err(sec.at(
                    line,
                    format!(
                        "[program:{program}] {file_key} {} is also the log of [program:{}] ({}), \
                         which rotates it differently ({}={maxbytes}, {}={backups} here; \
                         maxbytes={}, backups={} there): give them the same settings or \
                         different files",
                        path.display(),
                        first.program,
                        first.origin,
                        maxbytes_key,
                        backups_key,
                        first.maxbytes,
                        first.backups,
                    ),
                ));
            }
            Some(_) => {}
            None => {
                logs.insert(
                    path.clone(),
                    LogClaim {
                        program: program.to_owned(),
                        maxbytes,
                        backups,
                        syslog,
                        origin: Origin {
                            file: line.file.to_path_buf(),
                            line: line.line,
                        },
                    },
                );
            }
        }
    }
    Ok(LogConfig {
        target,
        maxbytes,
        backups,
        syslog,
        events_enabled,
        capture_maxbytes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_are_literal() {
        assert_eq!(
            shlex::split(&escape_hashes("a #b c#d '#e' \"#f\" \\#g")),
            Some(vec![
                "a".to_owned(),
                "#b".into(),
                "c#d".into(),
                "#e".into(),
                "#f".into(),
                "#g".into()
            ])
        );
    }
}
