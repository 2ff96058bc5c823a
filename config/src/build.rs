//! From sections to the [`Config`] model: `[supervisord]`, `[unix_http_server]`, `[proctor]`,
//! the sections proctor ignores, and the assembly (programs and groups are in
//! [`crate::program`]).

use std::path::{Path, PathBuf};

use crate::expand::{expand, Vars};
use crate::ini::{Entry, Place, Section};
use crate::load::{diag, dir_of};
use crate::model::{Config, DaemonConfig, LogTarget, ProctorConfig, ServerConfig};
use crate::values;
use crate::{Diagnostic, LoadContext};

/// A section with the expansions its options may use.
pub(crate) struct Sec<'a> {
    pub s: &'a Section,
    pub vars: Vars,
}

impl<'a> Sec<'a> {
    pub fn new(s: &'a Section, ctx: &LoadContext) -> Sec<'a> {
        Sec {
            s,
            vars: Vars::base(&dir_of(&s.file), ctx),
        }
    }

    pub fn at(&self, place: Place<'_>, message: impl Into<String>) -> Diagnostic {
        place.diag(message)
    }

    /// The section header's place.
    pub fn header(&self) -> Place<'a> {
        self.s.place()
    }

    pub fn get(&self, key: &str) -> Option<&'a Entry> {
        self.s.get(key)
    }

    /// The value of `key` with `vars` expanded, and its line.
    pub fn expanded_with(
        &self,
        key: &str,
        vars: &Vars,
    ) -> Result<Option<(String, Place<'a>)>, Diagnostic> {
        match self.get(key) {
            None => Ok(None),
            Some(e) if e.file != self.s.file => {
                // A key from another file (the section was repeated there) expands `here` as
                // that file's directory, as Supervisor's expand_here does after each include.
                let mut vars = vars.clone();
                vars.set_here(&dir_of(&e.file));
                expand(&e.value, &vars, key)
                    .map(|v| Some((v, e.place())))
                    .map_err(|m| self.at(e.place(), m))
            }
            Some(e) => expand(&e.value, vars, key)
                .map(|v| Some((v, e.place())))
                .map_err(|m| self.at(e.place(), m)),
        }
    }

    pub fn expanded(&self, key: &str) -> Result<Option<(String, Place<'a>)>, Diagnostic> {
        self.expanded_with(key, &self.vars)
    }

    /// `key` expanded and parsed with `parse`, or `default` when absent.
    pub fn parse<T>(
        &self,
        key: &str,
        default: T,
        parse: impl Fn(&str, &str) -> Result<T, String>,
    ) -> Result<T, Diagnostic> {
        match self.expanded(key)? {
            None => Ok(default),
            Some((v, place)) => parse(key, &v).map_err(|m| self.at(place, m)),
        }
    }

    /// A non-empty string option.
    pub fn string(&self, key: &str, default: &str) -> Result<String, Diagnostic> {
        self.parse(key, default.to_owned(), |k, v| {
            if v.trim().is_empty() {
                Err(values::bad(k, v, "a non-empty value"))
            } else {
                Ok(v.trim().to_owned())
            }
        })
    }

    /// A path option: expanded, relative paths taken from the directory of the file.
    pub fn path(&self, key: &str) -> Result<Option<PathBuf>, Diagnostic> {
        match self.expanded(key)? {
            None => Ok(None),
            Some((v, place)) => self.resolve(key, &v, place).map(Some),
        }
    }

    /// A path value: relative to the directory of the file its key is in.
    pub fn resolve(&self, key: &str, value: &str, place: Place<'_>) -> Result<PathBuf, Diagnostic> {
        if value.trim().is_empty() {
            return Err(self.at(place, values::bad(key, value, "a path")));
        }
        Ok(normalize(&dir_of(place.file).join(value.trim())))
    }

    pub fn warn_unknown(&self, place: Place<'_>, key: &str, warnings: &mut Vec<Diagnostic>) {
        warnings.push(self.at(
            place,
            format!("unknown key '{key}' in [{}] (ignored)", self.s.name),
        ));
    }
}

/// `a/./b//c` → `a/b/c` (no `..` handling: that would need the file system).
pub(crate) fn normalize(p: &Path) -> PathBuf {
    p.components().collect()
}

/// The `[supervisord]` keys proctor uses.
pub(crate) const SUPERVISORD_KEYS: &[&str] = &[
    "logfile",
    "childlogdir",
    "identifier",
    "environment",
    "user",
    "loglevel",
    "umask",
    "directory",
    "pidfile",
    "minfds",
    "minprocs",
];

/// `[proctor]`: proctor's own keys.
pub(crate) const PROCTOR_KEYS: &[&str] = &[
    "policy",
    "audit_log",
    "audit_log_maxbytes",
    "audit_log_backups",
    "audit_log_min_age",
    "audit_syslog",
    "audit_seal",
    "controld_user",
    "helper_user",
    "default_user",
];

/// `[unix_http_server]`: the keys used, and Supervisor's that proctor ignores with a warning.
pub(crate) const UNIX_SERVER_KEYS: &[&str] = &["file", "chmod"];
pub(crate) const UNIX_SERVER_IGNORED: &[&str] = &["chown", "username", "password"];

/// `[supervisord]` keys proctor reads and does not act on, each with the reason it says.
pub(crate) const SUPERVISORD_IGNORED: &[(&str, &str)] = &[
    (
        "logfile_maxbytes",
        "the daemon log is not rotated by proctor (it is opened once, by root in root mode): \
         rotate it with logrotate's copytruncate",
    ),
    (
        "logfile_backups",
        "the daemon log is not rotated by proctor",
    ),
    (
        "nocleanup",
        "proctor never deletes AUTO child logs at start-up (Supervisor does unless nocleanup)",
    ),
    (
        "strip_ansi",
        "proctor writes service output as it comes, escape sequences included",
    ),
];

/// `[supervisord]` keys that mean nothing to proctord, which always stays in the foreground:
/// accepted silently.
pub(crate) const SUPERVISORD_FOREGROUND: &[&str] = &["nodaemon", "silent"];

/// Supervisor's own RPC interface: what every supervisord.conf declares, and what proctor
/// serves. Any other factory is Python that proctor cannot run.
const MAIN_RPC_FACTORY: &str = "supervisor.rpcinterface:make_main_rpcinterface";

/// A warning for an `[rpcinterface:x]` other than Supervisor's own, or a `[ctlplugin:x]`; none
/// for Supervisor's own, which every supervisord.conf declares and proctor serves.
fn plugin_warning(s: &Section) -> Option<String> {
    let name = s.name.as_str();
    if let Some(which) = name.strip_prefix("rpcinterface:") {
        let factory = s
            .get("supervisor.rpcinterface_factory")
            .map(|e| e.value.trim());
        if which == "supervisor" && factory == Some(MAIN_RPC_FACTORY) {
            return None;
        }
        return Some(format!(
            "[{name}] is ignored: proctor serves Supervisor's own XML-RPC interface only (its \
             factory {MAIN_RPC_FACTORY}); Python RPC interfaces cannot run in proctor"
        ));
    }
    name.strip_prefix("ctlplugin:").map(|_| {
        format!(
            "[{name}] is ignored: supervisorctl plugins are Python, which proctorctl cannot run"
        )
    })
}

fn env_value<'c>(ctx: &'c LoadContext, name: &str) -> Option<&'c str> {
    ctx.env
        .iter()
        .rev()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
        .filter(|v| !v.is_empty())
}

/// Where `AUTO` child logs go when `childlogdir=` is absent.
pub(crate) fn default_childlogdir(ctx: &LoadContext) -> PathBuf {
    if ctx.uid == 0 {
        return PathBuf::from("/var/log/proctor");
    }
    if let Some(state) = env_value(ctx, "XDG_STATE_HOME").filter(|v| v.starts_with('/')) {
        return Path::new(state).join("proctor/log");
    }
    if let Some(home) = env_value(ctx, "HOME").filter(|v| v.starts_with('/')) {
        return Path::new(home).join(".local/state/proctor/log");
    }
    PathBuf::from(format!("/tmp/proctor-{}/log", ctx.uid))
}

fn daemon(
    section: Option<&Section>,
    ctx: &LoadContext,
    warnings: &mut Vec<Diagnostic>,
) -> Result<DaemonConfig, Diagnostic> {
    // Supervisor's defaults, for a missing section and for each missing key.
    let d = DaemonConfig {
        logfile: None,
        childlogdir: default_childlogdir(ctx),
        identifier: "supervisor".into(),
        environment: Vec::new(),
        loglevel: None,
        umask: Some(0o022),
        directory: None,
        pidfile: None,
        minfds: 1024,
        minprocs: 200,
    };
    let Some(s) = section else {
        return Ok(d);
    };
    let sec = Sec::new(s, ctx);
    for e in &s.entries {
        match e.key.as_str() {
            k if SUPERVISORD_KEYS.contains(&k) || SUPERVISORD_FOREGROUND.contains(&k) => {}
            k => match SUPERVISORD_IGNORED.iter().find(|(name, _)| *name == k) {
                Some((_, why)) => warnings.push(sec.at(
                    e.place(),
                    format!("[supervisord] {k} is ignored by proctor: {why}"),
                )),
                None => sec.warn_unknown(e.place(), k, warnings),
            },
        }
    }
    let directory = match sec.expanded("directory")? {
        Some((v, place)) if !v.trim().starts_with('/') => {
            return Err(sec.at(place, values::bad("directory", &v, "an absolute path")));
        }
        Some((v, _)) => Some(normalize(Path::new(v.trim()))),
        None => None,
    };
    let limit = |k: &str, v: &str| values::unsigned(k, v, 0).map(u64::from);
    // Supervisor applies umask= and directory= when it daemonizes, which nodaemon=true skips:
    // its programs then inherit the umask and directory it was started with.
    let nodaemon = sec.parse("nodaemon", false, values::boolean)?;
    let umask = sec.parse("umask", 0o022, values::octal)?;
    let (umask, directory) = if nodaemon {
        for key in ["umask", "directory"] {
            if let Some(e) = s.get(key) {
                warnings.push(sec.at(
                    e.place(),
                    format!(
                        "[supervisord] {key} is ignored with nodaemon=true, as Supervisor \
                         ignores it (programs inherit proctord's)"
                    ),
                ));
            }
        }
        (None, None)
    } else {
        (Some(umask), directory)
    };
    let logfile = match sec.expanded("logfile")? {
        Some((v, place)) if v.trim().eq_ignore_ascii_case("syslog") => {
            warnings.push(sec.at(
                place,
                "[supervisord] logfile=syslog is not supported by proctor; it logs to stderr only",
            ));
            None
        }
        Some((v, place)) => Some(sec.resolve("logfile", &v, place)?),
        None => None,
    };
    Ok(DaemonConfig {
        logfile,
        childlogdir: sec.path("childlogdir")?.unwrap_or(d.childlogdir),
        identifier: sec.string("identifier", &d.identifier)?,
        environment: sec.parse("environment", d.environment, values::environment)?,
        loglevel: sec.parse("loglevel", d.loglevel, |k, v| {
            values::loglevel(k, v).map(Some)
        })?,
        umask,
        directory,
        pidfile: sec.path("pidfile")?,
        minfds: sec.parse("minfds", d.minfds, limit)?,
        minprocs: sec.parse("minprocs", d.minprocs, limit)?,
    })
}

fn server(
    s: &Section,
    ctx: &LoadContext,
    warnings: &mut Vec<Diagnostic>,
) -> Result<ServerConfig, Diagnostic> {
    let sec = Sec::new(s, ctx);
    for e in &s.entries {
        match e.key.as_str() {
            k if UNIX_SERVER_KEYS.contains(&k) => {}
            k if UNIX_SERVER_IGNORED.contains(&k) => warnings.push(sec.at(
                e.place(),
                format!(
                    "{k} is not supported by proctor (access is decided by SO_PEERCRED and \
                     the policy) and is ignored"
                ),
            )),
            k => sec.warn_unknown(e.place(), k, warnings),
        }
    }
    let file = sec
        .path("file")?
        .ok_or_else(|| sec.at(s.place(), "[unix_http_server] has no file="))?;
    Ok(ServerConfig {
        file,
        chmod: sec.parse("chmod", 0o700, values::octal)?,
    })
}

fn proctor(
    section: Option<&Section>,
    ctx: &LoadContext,
    warnings: &mut Vec<Diagnostic>,
) -> Result<ProctorConfig, Diagnostic> {
    let d = ProctorConfig::default();
    let Some(s) = section else {
        return Ok(d);
    };
    let sec = Sec::new(s, ctx);
    for e in &s.entries {
        match e.key.as_str() {
            k if PROCTOR_KEYS.contains(&k) => {}
            k => sec.warn_unknown(e.place(), k, warnings),
        }
    }
    Ok(ProctorConfig {
        policy: sec.path("policy")?,
        audit_log: sec.path("audit_log")?,
        audit_log_maxbytes: sec.parse(
            "audit_log_maxbytes",
            d.audit_log_maxbytes,
            values::byte_size,
        )?,
        audit_log_backups: sec.parse("audit_log_backups", d.audit_log_backups, |k, v| {
            values::unsigned(k, v, 0)
        })?,
        audit_log_min_age: sec.parse(
            "audit_log_min_age",
            d.audit_log_min_age,
            values::duration_secs,
        )?,
        audit_syslog: sec.parse("audit_syslog", d.audit_syslog, values::boolean)?,
        audit_seal: sec.path("audit_seal")?,
        controld_user: sec.string("controld_user", &d.controld_user)?,
        helper_user: sec.string("helper_user", &d.helper_user)?,
        // Set by `build`, which also takes `[supervisord] user=` into account.
        default_user: None,
    })
}

/// The account programs without `user=` run as, and where it was set.
pub(crate) struct DefaultUser<'a> {
    pub name: String,
    /// `[proctor] default_user` or `[supervisord] user`.
    pub key: &'static str,
    pub place: crate::ini::Place<'a>,
}

/// `[proctor] default_user=`, else `[supervisord] user=` (Supervisor's account for itself and so
/// for every program without `user=`). Only root switches users: in user mode both are ignored.
fn default_user<'a>(
    proctor: Option<&'a Section>,
    supervisord: Option<&'a Section>,
    ctx: &LoadContext,
    warnings: &mut Vec<Diagnostic>,
) -> Result<Option<DefaultUser<'a>>, Diagnostic> {
    let candidates = [
        (proctor, "default_user", "[proctor] default_user"),
        (supervisord, "user", "[supervisord] user"),
    ];
    for (section, key, name) in candidates {
        let Some(section) = section else {
            continue;
        };
        let Some((value, place)) = Sec::new(section, ctx).expanded(key)? else {
            continue;
        };
        if ctx.uid != 0 {
            warnings.push(place.diag(format!(
                "{name} is used only when proctord runs as root; as another user every program \
                 runs as that user"
            )));
            return Ok(None);
        }
        return Ok(Some(DefaultUser {
            name: value.trim().to_owned(),
            key: name,
            place,
        }));
    }
    Ok(None)
}

/// Builds the model from every section (includes spliced in, repeated sections merged).
pub(crate) fn build(
    source: PathBuf,
    sections: &[Section],
    ctx: &LoadContext,
    warnings: &mut Vec<Diagnostic>,
) -> Result<Config, Diagnostic> {
    let find = |name: &str| sections.iter().find(|s| s.name == name);
    for s in sections {
        let name = s.name.as_str();
        // `[supervisorctl]` is the client's: proctorctl reads its serverurl.
        let known = matches!(
            name,
            "supervisord"
                | "unix_http_server"
                | "inet_http_server"
                | "proctor"
                | "include"
                | "supervisorctl"
        ) || name.starts_with("program:")
            || name.starts_with("fcgi-program:")
            || name.starts_with("eventlistener:")
            || name.starts_with("group:");
        if known {
            continue;
        }
        if name.starts_with("rpcinterface:") || name.starts_with("ctlplugin:") {
            if let Some(message) = plugin_warning(s) {
                warnings.push(diag(&s.file, s.line, message));
            }
            continue;
        }
        let message = format!("unknown section [{name}] (ignored)");
        warnings.push(diag(&s.file, s.line, message));
    }
    let server = find("unix_http_server")
        .map(|s| server(s, ctx, warnings))
        .transpose()?;
    let inet = find("inet_http_server")
        .map(|s| crate::inet::inet(s, ctx, warnings))
        .transpose()?;
    let daemon = daemon(find("supervisord"), ctx, warnings)?;
    let mut proctor = proctor(find("proctor"), ctx, warnings)?;
    let default_user = default_user(find("proctor"), find("supervisord"), ctx, warnings)?;
    proctor.default_user = default_user.as_ref().map(|d| d.name.clone());
    let (programs, groups) =
        crate::program::build(sections, &daemon, default_user.as_ref(), ctx, warnings)?;
    // A service's output must never land in (or rotate away) one of proctor's own files.
    let own = [
        ("[proctor] audit_log", proctor.audit_log.as_ref()),
        ("[supervisord] logfile", daemon.logfile.as_ref()),
        ("[proctor] policy", proctor.policy.as_ref()),
        ("[unix_http_server] file", server.as_ref().map(|s| &s.file)),
        (
            "[inet_http_server] accounts",
            inet.as_ref().and_then(|i| i.accounts.as_ref()),
        ),
        (
            "[inet_http_server] tls_key",
            inet.as_ref().and_then(|i| i.tls.as_ref()).map(|t| &t.key),
        ),
    ];
    for p in &programs {
        for process in &p.processes {
            for log in [&process.stdout, &process.stderr] {
                let (LogTarget::File(path) | LogTarget::Stream(path)) = &log.target else {
                    continue;
                };
                if let Some((key, _)) = own.iter().find(|(_, f)| *f == Some(path)) {
                    return Err(diag(
                        &p.origin.file,
                        p.origin.line,
                        format!(
                            "[{}] logs to {}, which is {key}: a service's output must \
                             not reach proctor's own files",
                            p.section(),
                            path.display()
                        ),
                    ));
                }
            }
        }
    }
    Ok(Config {
        source,
        server,
        inet,
        daemon,
        proctor,
        programs: programs.into_iter().map(std::sync::Arc::new).collect(),
        groups,
    })
}

/// Only `[unix_http_server]`, for clients.
/// The socket a client reaches: `[supervisorctl] serverurl=unix://PATH` (as supervisorctl
/// reads it), else `[unix_http_server] file=`. A serverurl that is not a unix socket is refused:
/// proctorctl speaks only on the daemon's socket.
pub(crate) fn client_socket(
    sections: &[Section],
    ctx: &LoadContext,
) -> Result<Option<PathBuf>, Diagnostic> {
    if let Some(s) = sections.iter().find(|s| s.name == "supervisorctl") {
        let sec = Sec::new(s, ctx);
        if let Some((url, place)) = sec.expanded("serverurl")? {
            let Some(path) = url.trim().strip_prefix("unix://") else {
                return Err(sec.at(
                    place,
                    format!(
                        "serverurl {url} is not a unix socket: proctorctl reaches the daemon \
                         through its socket (unix:///PATH), or use -s"
                    ),
                ));
            };
            return sec.resolve("serverurl", path, place).map(Some);
        }
    }
    Ok(server_only(sections, ctx)?.map(|s| s.file))
}

pub(crate) fn server_only(
    sections: &[Section],
    ctx: &LoadContext,
) -> Result<Option<ServerConfig>, Diagnostic> {
    let mut ignored = Vec::new();
    sections
        .iter()
        .find(|s| s.name == "unix_http_server")
        .map(|s| server(s, ctx, &mut ignored))
        .transpose()
}
