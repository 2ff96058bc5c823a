//! `proctorctl policy check|explain`: for admins writing a policy file, with no daemon needed.

use proctor_policy::{Action, Peer, Policy, Target};
use proctor_wire::seal::SealFile;
use std::path::{Path, PathBuf};

/// The policy file: the one given, else the config's `[proctor] policy=`.
fn policy_path(file: Option<&Path>, config: Option<&Path>) -> Result<PathBuf, String> {
    if let Some(f) = file {
        return Ok(f.to_path_buf());
    }
    let config = config.unwrap_or(Path::new(crate::client::DEFAULT_CONFIG));
    let ctx = proctor_config::LoadContext::current();
    let loaded = proctor_config::load(config, &ctx).map_err(|d| d.to_string())?;
    loaded.config.proctor.policy.ok_or_else(|| {
        format!(
            "{}: no [proctor] policy= (give the file: proctorctl policy check FILE)",
            config.display()
        )
    })
}

fn load(path: &Path) -> Result<Policy, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    Policy::parse(path, &text).map_err(|e| e.to_string())
}

pub fn check(file: Option<&Path>, config: Option<&Path>) -> u8 {
    let result = policy_path(file, config).and_then(|p| load(&p).map(|_| p));
    let owner = nix::unistd::geteuid().as_raw();
    let status = match result {
        Ok(p) => {
            println!("{}: OK", p.display());
            // The daemon also checks who may have written it (as root: root and nobody else).
            if let Err(e) = proctor_policy::read_trusted(&p, owner) {
                eprintln!("proctorctl: warning: the daemon would refuse this file: {e}");
            }
            0
        }
        Err(e) => {
            eprintln!("proctorctl: {e}");
            1
        }
    };
    // The accounts file that is read with the policy, when the config names one.
    let config = config.unwrap_or(Path::new(crate::client::DEFAULT_CONFIG));
    let ctx = proctor_config::LoadContext::current();
    let accounts = proctor_config::load(config, &ctx)
        .ok()
        .and_then(|l| l.config.inet)
        .and_then(|i| i.accounts);
    match accounts.map(|a| (proctor_policy::read_accounts(&a, owner), a)) {
        Some((Ok(list), a)) => {
            println!("{}: OK ({} accounts)", a.display(), list.len());
            status
        }
        Some((Err(e), _)) => {
            eprintln!("proctorctl: {e}");
            1
        }
        None => status,
    }
}

/// Prints `allow` or `deny` and the rule that decided, for USER doing ACTION on PROGRAM (a
/// program name, `group:name`, or `-` for actions on the daemon as a whole).
pub fn explain(
    file: Option<&Path>,
    config: Option<&Path>,
    user: &str,
    action: &str,
    program: &str,
) -> u8 {
    let run = || -> Result<(bool, String), String> {
        let path = policy_path(file, config)?;
        let policy = load(&path)?;
        let action = Action::parse(action).ok_or_else(|| {
            let known: Vec<&str> = Action::all_names().collect();
            format!("unknown action '{action}' (known: {})", known.join(", "))
        })?;
        let account = nix::unistd::User::from_name(user)
            .map_err(|e| format!("cannot look up user '{user}': {e}"))?
            .ok_or_else(|| format!("user '{user}' does not exist"))?;
        let peer = Peer::lookup(account.uid.as_raw());
        let (group, name) = program.split_once(':').unwrap_or((program, program));
        // The program a process belongs to is in the services config; without one, take the
        // process name for it.
        let owning = program_of(config, group, name).unwrap_or_else(|| name.to_owned());
        let target = Target {
            namespec: program,
            group,
            name,
            program: &owning,
        };
        let verdict = policy.decide(&peer, action, (program != "-").then_some(&target));
        Ok((verdict.allow, verdict.rule))
    };
    match run() {
        Ok((true, rule)) => {
            println!("allow ({rule})");
            0
        }
        Ok((false, rule)) => {
            println!("deny ({rule})");
            1
        }
        Err(e) => {
            eprintln!("proctorctl: {e}");
            2
        }
    }
}

/// The `[program:x]` whose process `group:name` is, from the services config if it loads.
fn program_of(config: Option<&Path>, group: &str, name: &str) -> Option<String> {
    let path = config.unwrap_or(Path::new(crate::client::DEFAULT_CONFIG));
    let loaded = proctor_config::load(path, &proctor_config::LoadContext::current()).ok()?;
    loaded
        .config
        .programs
        .iter()
        .find(|p| p.group == group && p.processes.iter().any(|q| q.name == name))
        .map(|p| p.name.clone())
}

/// `proctorctl audit --verify [--seal SEAL] [FILE...]`: checks the hash chain of copies of the
/// audit log, rotated files first (oldest first), as one chain; and, when the seal file can be
/// read (root's), every record's seal and proctord's anchors.
pub fn verify_audit(files: &[PathBuf], seal: Option<&Path>, config: Option<&Path>) -> u8 {
    let config_path = config.unwrap_or(Path::new(crate::client::DEFAULT_CONFIG));
    let loaded = || {
        let ctx = proctor_config::LoadContext::current();
        proctor_config::load(config_path, &ctx).map(|l| l.config.proctor)
    };
    let paths: Vec<PathBuf> = match files {
        [_, ..] => files.to_vec(),
        [] => match loaded().map(|p| p.audit_log) {
            Ok(Some(p)) => vec![p],
            Ok(None) => {
                eprintln!("proctorctl: {}: no [proctor] audit_log= (give the file: proctorctl audit --verify FILE)", config_path.display());
                return 2;
            }
            Err(d) => {
                eprintln!("proctorctl: {d}");
                return 2;
            }
        },
    };
    // The seal file: as given, or the config's when it loads (quietly none otherwise).
    let seal_path = match seal {
        Some(s) => Some(s.to_path_buf()),
        None => loaded().ok().and_then(|p| p.seal_path()),
    };
    // One text, remembering where each file starts, to name the file and line of a break.
    let (mut text, mut starts) = (String::new(), Vec::new());
    for p in &paths {
        match std::fs::read_to_string(p) {
            Ok(t) => {
                starts.push((text.lines().count(), p));
                text.push_str(&t);
            }
            Err(e) => {
                eprintln!("proctorctl: {}: {e}", p.display());
                return 2;
            }
        }
    }
    let at = |line: usize| {
        let (start, file) = starts
            .iter()
            .rev()
            .find(|(s, _)| *s < line)
            .map_or((0, &paths[0]), |(s, p)| (*s, *p));
        format!("{}:{}", file.display(), line - start)
    };
    let shown: Vec<String> = paths.iter().map(|p| p.display().to_string()).collect();
    // Ok(Some): check the seals. Ok(None): there is nothing to check against that a named
    // file or a present one would give (the reason said). Err: a seal file that should be
    // usable and is not, which is no reason to pass.
    let seals: Result<Result<SealFile, String>, String> = match &seal_path {
        None => Ok(Err("no seal file: give --seal FILE".to_owned())),
        Some(p) => match std::fs::read_to_string(p) {
            Ok(t) => SealFile::parse(&t)
                .map(Ok)
                .map_err(|(line, why)| format!("{}:{line}: {why}", p.display())),
            Err(e) if seal.is_some() => Err(format!("{}: {e}", p.display())),
            Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => Ok(Err(format!(
                "{}: {e}; only root can read the seal keys",
                p.display()
            ))),
            // User mode, or a log from before sealing.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                Ok(Err(format!("{}: {e}", p.display())))
            }
            Err(e) => Err(format!("{}: {e}", p.display())),
        },
    };
    let seals = match seals {
        Ok(Ok(s)) => s,
        Err(e) => {
            eprintln!("proctorctl: {e}");
            return 2;
        }
        Ok(Err(why)) => match proctor_api::audit::verify(&text) {
            Ok(n) => {
                println!(
                    "{}: {n} records, hash chain intact; seals not checked ({why})",
                    shown.join(" ")
                );
                return 0;
            }
            Err((line, why)) => {
                eprintln!("proctorctl: {}: {why}", at(line));
                return 1;
            }
        },
    };
    match proctor_api::seal::verify_sealed(&text, &seals) {
        Ok(r) => {
            let epochs = match r.epochs {
                Some((a, b)) if a == b => format!(" (epoch {a})"),
                Some((a, b)) => format!(" (epochs {a} to {b})"),
                None => String::new(),
            };
            println!(
                "{}: {} records, hash chain intact, {} sealed records verified{epochs}",
                shown.join(" "),
                r.records,
                r.sealed
            );
            0
        }
        Err((line, why)) => {
            eprintln!("proctorctl: {}: {why}", at(line));
            1
        }
    }
}

/// Reads a line from the terminal with echo off (restored whatever happens).
fn read_hidden(prompt: &str) -> Result<String, String> {
    use nix::sys::termios::{tcgetattr, tcsetattr, LocalFlags, SetArg};
    use std::io::{BufRead, Write};
    let stdin = std::io::stdin();
    let saved = tcgetattr(&stdin).map_err(|e| format!("terminal: {e}"))?;
    let mut quiet = saved.clone();
    quiet.local_flags.remove(LocalFlags::ECHO);
    eprint!("{prompt}");
    let _ = std::io::stderr().flush();
    tcsetattr(&stdin, SetArg::TCSAFLUSH, &quiet).map_err(|e| format!("terminal: {e}"))?;
    let mut line = String::new();
    let read = stdin.lock().read_line(&mut line);
    let _ = tcsetattr(&stdin, SetArg::TCSAFLUSH, &saved);
    eprintln!();
    read.map_err(|e| format!("reading the password: {e}"))?;
    Ok(line.trim_end_matches(['\n', '\r']).to_owned())
}

pub fn hash_password(user: Option<&str>) -> u8 {
    use std::io::{BufRead, IsTerminal};
    let password = if std::io::stdin().is_terminal() {
        read_hidden("Password: ").and_then(|first| {
            let again = read_hidden("Again: ")?;
            if first == again {
                Ok(first)
            } else {
                Err("the two passwords differ".into())
            }
        })
    } else {
        let mut line = String::new();
        std::io::stdin()
            .lock()
            .read_line(&mut line)
            .map(|_| line.trim_end_matches(['\n', '\r']).to_owned())
            .map_err(|e| format!("reading the password: {e}"))
    };
    let hashed = password.and_then(|p| {
        if p.is_empty() {
            return Err("an empty password is refused".into());
        }
        proctor_policy::hash_password(p.as_bytes())
    });
    match hashed {
        Ok(h) => {
            match user {
                Some(u) => println!("{u}:{h}"),
                None => println!("{h}"),
            }
            0
        }
        Err(e) => {
            eprintln!("proctorctl: {e}");
            2
        }
    }
}
