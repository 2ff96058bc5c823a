//! What proctord does as root before it drops to its own account: find the two accounts and
//! create the directories controld writes into.

use nix::unistd::{chown, User};
use proctor_config::{Config, Diagnostic, LogTarget};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
use std::path::Path;

pub struct Accounts {
    /// `[proctor] controld_user=`: runs proctor-controld.
    pub controld: User,
    /// `[proctor] helper_user=`: proctord itself after start-up.
    pub helper: User,
}

fn lookup(key: &str, name: &str) -> Result<User, String> {
    let user = match User::from_name(name) {
        Ok(Some(u)) => u,
        Ok(None) => {
            return Err(format!(
                "[proctor] {key}={name}: no such account; create it with \
                 `useradd --system --no-create-home --shell /usr/sbin/nologin {name}` (docs/install.md; the Debian package makes both)"
            ))
        }
        Err(e) => return Err(format!("[proctor] {key}={name}: cannot look it up: {e}")),
    };
    if user.uid.is_root() || user.gid.as_raw() == 0 {
        return Err(format!(
            "[proctor] {key}={name}: the account has uid or gid 0"
        ));
    }
    Ok(user)
}

pub fn accounts(config: &Config) -> Result<Accounts, String> {
    let controld = lookup("controld_user", &config.proctor.controld_user)?;
    let helper = lookup("helper_user", &config.proctor.helper_user)?;
    no_service_as(config, &[controld.uid.as_raw(), helper.uid.as_raw()])
        .map_err(|d| d.to_string())?;
    if controld.uid == helper.uid {
        return Err(format!(
            "[proctor] controld_user and helper_user are the same account ({}): they must differ, or a compromised controld could act on proctord",
            helper.name
        ));
    }
    Ok(Accounts { controld, helper })
}

/// A service under proctor's own accounts (`own`: their uids) could signal (or, were it
/// dumpable, trace) the daemons: refused at start-up and at every reload, by uid, since another
/// name for the same uid is the same account. Spawns check it again (the account database may
/// change in between).
pub fn no_service_as(config: &Config, own: &[u32]) -> Result<(), proctor_config::Diagnostic> {
    for p in &config.programs {
        let Some(u) = p.user.as_deref() else {
            continue;
        };
        let uid = User::from_name(u).ok().flatten().map(|a| a.uid.as_raw());
        if uid.is_some_and(|uid| own.contains(&uid)) {
            return Err(proctor_config::Diagnostic {
                file: p.origin.file.clone(),
                line: p.origin.line,
                message: format!(
                    "[{}] user={u} is one of proctor's own accounts (controld_user, \
                     helper_user); give the service an account of its own",
                    p.section()
                ),
            });
        }
    }
    Ok(())
}

/// The directories controld creates files in by name (each service log's, `childlogdir`, the
/// audit log's) must be writable by root and controld alone. Another account that could write
/// one could create a log's name first and read what controld writes into it, or swap names
/// under controld (the log fds are opened without following links, but a name is all the
/// attacker needs to plant). `controld_uid` is controld_user's. Directories above them that
/// only a group may write are returned as warnings. Checked at start and at every reload.
pub fn log_dirs(config: &Config, controld_uid: u32) -> Result<Vec<String>, Diagnostic> {
    use proctor_config::trust::creation_dir;
    let at_file = |message: String| Diagnostic {
        file: config.source.clone(),
        line: 0,
        message,
    };
    let mut checked = std::collections::BTreeSet::new();
    let mut warnings = std::collections::BTreeSet::new();
    let mut check = |dir: &Path, what: &dyn Fn(String) -> Diagnostic| -> Result<(), Diagnostic> {
        if checked.insert(dir.to_path_buf()) {
            warnings.extend(creation_dir(dir, &[controld_uid]).map_err(what)?);
        }
        Ok(())
    };
    check(&config.daemon.childlogdir, &|e| {
        at_file(format!("[supervisord] childlogdir: {e}"))
    })?;
    if let Some(dir) = config.proctor.audit_log.as_ref().and_then(|p| p.parent()) {
        check(dir, &|e| at_file(format!("[proctor] audit_log: {e}")))?;
    }
    for p in &config.programs {
        for process in &p.processes {
            for log in [&process.stdout, &process.stderr] {
                let LogTarget::File(path) = &log.target else {
                    continue;
                };
                let Some(dir) = path.parent() else {
                    continue;
                };
                check(dir, &|e| Diagnostic {
                    file: p.origin.file.clone(),
                    line: p.origin.line,
                    message: format!("[{}] logs to {}: {e}", p.section(), path.display()),
                })?;
            }
        }
    }
    Ok(warnings.into_iter().collect())
}

/// Creates `dir` (and missing parents) owned by `owner`, mode 0750, when it does not exist. An
/// existing directory is left as the admin made it.
fn controld_dir(dir: &Path, owner: &User) -> Result<(), String> {
    if dir.exists() {
        return Ok(());
    }
    if let Some(parent) = dir.parent() {
        if !parent.exists() {
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o755)
                .create(parent)
                .map_err(|e| format!("cannot create {}: {e}", parent.display()))?;
        }
    }
    std::fs::DirBuilder::new()
        .mode(0o750)
        .create(dir)
        .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    chown(dir, Some(owner.uid), Some(owner.gid))
        .map_err(|e| format!("cannot chown {} to {}: {e}", dir.display(), owner.name))?;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o750))
        .map_err(|e| format!("cannot chmod {}: {e}", dir.display()))?;
    let m = std::fs::metadata(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    if m.uid() != owner.uid.as_raw() {
        return Err(format!("{} is not owned by {}", dir.display(), owner.name));
    }
    Ok(())
}

/// The directories controld writes into: childlogdir, and the audit log's directory.
pub fn prepare_dirs(config: &Config, controld: &User) -> Result<(), String> {
    controld_dir(&config.daemon.childlogdir, controld)?;
    if let Some(dir) = config.proctor.audit_log.as_ref().and_then(|p| p.parent()) {
        controld_dir(dir, controld)?;
    }
    Ok(())
}

/// Opens `[supervisord] logfile` for appending (and reading). As root the path is not trusted blindly: a
/// symlink or a hard link planted there (say by a compromised controld, whose directories may
/// hold the log) must not make root append to another file. O_NOFOLLOW refuses a symlink; the
/// opened file must be a regular file with a single link, owned by root.
pub fn open_logfile(path: &Path, root_mode: bool) -> Result<std::fs::File, String> {
    use std::os::unix::fs::OpenOptionsExt;
    let shown = path.display();
    let file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        // controld reads it back through its copy (maintail, readLog).
        .read(true)
        .mode(0o640)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .open(path)
        .map_err(|e| format!("cannot open logfile {shown}: {e}"))?;
    let m = file
        .metadata()
        .map_err(|e| format!("cannot inspect logfile {shown}: {e}"))?;
    if root_mode && (!m.is_file() || m.nlink() != 1 || m.uid() != 0) {
        return Err(format!(
            "logfile {shown} must be a regular file owned by root with one link; refusing to append to it as root"
        ));
    }
    Ok(file)
}
