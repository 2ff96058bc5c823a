//! proctord: the root of proctor's process tree. It spawns configured services and signals its
//! own children on controld's orders, and nothing else; all the logic lives in controld.
#![deny(unsafe_code)]

mod channel;
mod check;
mod children;
mod cli;
mod control_socket;
mod demo;
mod held;
mod inet_socket;
mod launch;
mod notify;
mod privdrop;
mod rootmode;
mod seal;
mod seccomp;
mod serve;
mod spawn;
mod sys;

use clap::Parser;
use cli::Args;
use nix::sys::signal::{SigSet, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use proctor_config::{LoadContext, ServerConfig};
use proctor_wire::refusal::Names;
use std::os::fd::OwnedFd;
use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;
use std::process::ExitCode;
use tracing::{error, info, warn};

fn main() -> ExitCode {
    // Nothing proctord's parent leaked may reach a service, and 0-2 must be real before any
    // fd is opened (a closed fd 1 would otherwise be taken by the first pipe).
    let _ = sys::close_inherited_fds();
    ensure_std_fds();
    let args = Args::parse();
    match run(args) {
        Ok(code) => ExitCode::from(code),
        Err(msg) => {
            eprintln!("proctord: {msg}");
            ExitCode::from(2)
        }
    }
}

fn ensure_std_fds() {
    for fd in 0..3 {
        if nix::fcntl::fcntl(sys::borrow_std_fd(fd), nix::fcntl::FcntlArg::F_GETFD).is_err() {
            // Opening takes the lowest free number: this one.
            let _ = std::fs::OpenOptions::new()
                .read(true)
                .write(true)
                .open("/dev/null")
                .map(std::mem::forget::<std::fs::File>);
        }
    }
}

fn run(args: Args) -> Result<u8, String> {
    if args.print_seccomp {
        seccomp::print();
        return Ok(0);
    }
    let demo = args.config.is_none();
    // Before the demo drops root: the checkout may sit in a directory `nobody` cannot enter.
    let controld_exe = launch::open_controld()?;
    let config_path = match &args.config {
        Some(p) => std::path::absolute(p).map_err(|e| format!("{}: {e}", p.display()))?,
        None => {
            if nix::unistd::geteuid().is_root() {
                demo::drop_root()?;
            }
            demo::prepare()?
        }
    };
    let ctx = LoadContext::current();
    let loaded = proctor_config::load(&config_path, &ctx).map_err(|d| d.to_string())?;
    let mut warnings: Vec<String> = loaded.warnings.iter().map(|w| w.to_string()).collect();
    let config = loaded.config;
    let root_mode = ctx.uid == 0;
    if !root_mode {
        warnings.extend(
            config
                .programs
                .iter()
                .filter(|p| !p.capabilities.is_empty())
                .map(|p| {
                    format!(
                        "{}: [{}] capabilities= takes effect only when proctord runs as root",
                        p.origin,
                        p.section()
                    )
                }),
        );
    }
    // As root: both accounts must exist, no service may run as either, and only root and
    // controld may write where controld creates files.
    let accounts = if root_mode {
        let a = rootmode::accounts(&config)?;
        warnings.extend(
            rootmode::log_dirs(&config, a.controld.uid.as_raw()).map_err(|d| d.to_string())?,
        );
        Some(a)
    } else {
        None
    };
    for w in &warnings {
        eprintln!("proctord: warning: {w}");
    }
    if args.check {
        // Programs without user= run as proctord's own account (user mode).
        let me = nix::unistd::User::from_uid(nix::unistd::getuid())
            .ok()
            .flatten()
            .map_or_else(|| ctx.uid.to_string(), |u| u.name);
        if args.json {
            println!("{}", check::json(&config_path, &config, &me, &warnings));
        } else {
            println!("{}", check::text(&config_path, &config, &me));
        }
        return Ok(0);
    }
    // As root, before dropping it: the seal keys are root's alone, and proctord keeps the fd.
    let sealer = match (&accounts, config.proctor.seal_path()) {
        (Some(_), Some(path)) => Some(seal::Sealer::open(&path)?),
        _ => None,
    };
    if let Some(a) = &accounts {
        rootmode::prepare_dirs(&config, &a.controld)?;
        // Again, now that they exist: a directory someone else made before proctord could
        // (prepare_dirs leaves an existing one as it is) is refused here.
        rootmode::log_dirs(&config, a.controld.uid.as_raw()).map_err(|d| d.to_string())?;
        // A daemon's working directory: services get `directory=` or /, not the admin's.
        std::env::set_current_dir("/").map_err(|e| format!("chdir /: {e}"))?;
    }
    // Opened now, while proctord may still be root; controld appends through a copy of the fd.
    let logfile = match &config.daemon.logfile {
        Some(path) => Some(rootmode::open_logfile(path, root_mode)?),
        None => None,
    };
    let log_copy = match &logfile {
        Some(f) => Some(f.try_clone().map_err(|e| format!("logfile: {e}"))?),
        None => None,
    };
    proctor_daemon::init_tracing(log_copy, config.daemon.loglevel.as_deref());

    if std::fs::read_to_string("/proc/self/status")
        .map(|s| {
            s.lines()
                .any(|l| l.split_whitespace().collect::<Vec<_>>() == ["Threads:", "1"])
        })
        .ok()
        != Some(true)
    {
        return Err("proctord must be single-threaded before it forks".into());
    }

    let ServerConfig {
        file: socket,
        chmod,
    } = config.server.clone().ok_or_else(|| {
        format!(
            "{}: no [unix_http_server] file= : proctor needs a control socket path",
            config_path.display()
        )
    })?;

    // Exits and shutdown requests arrive through a signalfd in the poll loop; blocked here so
    // they are never delivered asynchronously.
    let mut mask = SigSet::empty();
    for s in [
        Signal::SIGCHLD,
        Signal::SIGTERM,
        Signal::SIGINT,
        Signal::SIGQUIT,
        Signal::SIGHUP,
        Signal::SIGUSR2,
    ] {
        mask.add(s);
    }
    mask.thread_block()
        .map_err(|e| format!("sigprocmask: {e}"))?;
    let signals = SignalFd::with_flags(&mask, SfdFlags::SFD_NONBLOCK | SfdFlags::SFD_CLOEXEC)
        .map_err(|e| format!("signalfd: {e}"))?;
    // Orphaned grandchildren of services come to us rather than to init, so they are reaped.
    nix::sys::prctl::set_child_subreaper(true)
        .map_err(|e| format!("PR_SET_CHILD_SUBREAPER: {e}"))?;
    if let Err(e) = proctor_daemon::raise_nofile_limit() {
        warn!("{e}");
    }
    warn_below_limits(&config.daemon);

    // systemd's socket, reached while proctord is still root and unfiltered: its path may be
    // one only root can reach.
    let notifier = notify::Notifier::connect(&ctx.env);
    let listener = control_socket::bind(&socket, chmod, root_mode)?;
    let inet = config.inet.as_ref().map(inet_socket::bind).transpose()?;
    // Every held socket before anything starts, as root: nothing half-started.
    let mut held = held::Held::default();
    held.reconcile(&config, true).map_err(|d| d.to_string())?;
    // After the bind, which refuses when another proctord answers there: its pidfile stays.
    let pidfile = config.daemon.pidfile.clone();
    if let Some(p) = &pidfile {
        write_pidfile(p).map_err(|e| format!("[supervisord] pidfile {}: {e}", p.display()))?;
    }
    let socket_ino = std::fs::metadata(&socket).map(|m| m.ino()).unwrap_or(0);
    // In root mode controld gets a clean environment, and services get theirs from their
    // account (spawn.rs); in user mode both inherit proctord's, as under Supervisor.
    let env: Vec<(String, String)> = if root_mode {
        ctx.env
            .iter()
            .filter(|(k, _)| k == "PROCTOR_LOG" || k == "TZ")
            .cloned()
            .chain([("PATH".to_owned(), "/usr/bin:/bin".to_owned())])
            .collect()
    } else {
        // systemd's socket is proctord's: a service that wrote to it could say READY or
        // STOPPING for proctor (NotifyAccess=all) or be ignored (main).
        ctx.env
            .iter()
            .filter(|(k, _)| k != "NOTIFY_SOCKET")
            .cloned()
            .collect()
    };
    // controld logs at `[supervisord] loglevel` too, unless PROCTOR_LOG says otherwise (its
    // environment only: services get none of proctor's settings).
    let mut controld_env = env.clone();
    if let Some(level) = &config.daemon.loglevel {
        if !controld_env.iter().any(|(k, _)| k == "PROCTOR_LOG") {
            controld_env.push(("PROCTOR_LOG".to_owned(), level.clone()));
        }
    }
    let own_uids: Vec<u32> = accounts
        .as_ref()
        .map(|a| vec![a.controld.uid.as_raw(), a.helper.uid.as_raw()])
        .unwrap_or_default();
    let controld_credentials = match &accounts {
        Some(a) => {
            let (creds, _) = spawn::account(&a.controld.name, 0).map_err(|f| {
                let names = Names {
                    user: Some(&a.controld.name),
                    ..Names::default()
                };
                format!("[proctor] controld_user: {}", f.describe(names))
            })?;
            // Last step as root: from here on proctord is its own account with four
            // capabilities, under the seccomp filter that every child inherits.
            privdrop::drop_root(&a.helper)?;
            seccomp::install()?;
            privdrop::verify(&a.helper)?;
            info!(helper = %a.helper.name, controld = %a.controld.name, "dropped root: four capabilities kept, seccomp filter installed");
            Some(creds)
        }
        None => None,
    };
    if demo {
        let ctl = std::env::current_exe()
            .map(|e| e.with_file_name("proctorctl"))
            .unwrap_or_else(|_| PathBuf::from("proctorctl"));
        println!(
            "proctor demo: config {}\nIn another terminal, try:\n  {} -s {} status\n  {} -s {} tail -f hello\nStop with Ctrl-C.",
            config_path.display(),
            ctl.display(),
            socket.display(),
            ctl.display(),
            socket.display()
        );
    }
    info!(config = %config_path.display(), socket = %socket.display(), "proctord starting");
    let launcher = launch::Launcher {
        exe_fd: controld_exe,
        listener,
        inet,
        env: controld_env,
        logfile: logfile.map(OwnedFd::from),
        credentials: controld_credentials,
    };
    let mut helper = serve::Helper::new(serve::Settings {
        config,
        config_path,
        load_ctx: ctx,
        root_mode,
        socket: socket.clone(),
        inherited_env: env,
        own_uids,
        controld_uid: accounts.as_ref().map(|a| a.controld.uid.as_raw()),
        signals,
        launch: launcher,
        sealer,
        held,
        notifier,
    });
    // The loader's buffers are freed by now; their pages go back before the services start.
    proctor_daemon::give_back_free_heap();
    let code = helper.run();
    control_socket::remove(&socket, socket_ino);
    if let Some(p) = &pidfile {
        // In root mode the directory is usually root's and the file stays (the next start
        // overwrites it); Supervisor removes it as root.
        if let Err(e) = std::fs::remove_file(p) {
            info!("pidfile {} left in place: {e}", p.display());
        }
    }
    if code != 0 {
        error!(code, "proctord exiting with an error");
    }
    Ok(u8::try_from(code).unwrap_or(1))
}

/// `[supervisord] minfds` and `minprocs`: Supervisor refuses to start below them (unless it can
/// raise the limits as root); proctord, which takes the hard open-file limit anyway, says so.
fn warn_below_limits(daemon: &proctor_config::DaemonConfig) {
    use nix::sys::resource::{getrlimit, Resource};
    for (resource, want, key) in [
        (Resource::RLIMIT_NOFILE, daemon.minfds, "minfds"),
        (Resource::RLIMIT_NPROC, daemon.minprocs, "minprocs"),
    ] {
        if let Ok((soft, _)) = getrlimit(resource) {
            if soft < want {
                warn!("[supervisord] {key}={want}, but the limit is {soft}: raise it (ulimit, LimitNOFILE=/LimitNPROC= in the unit)");
            }
        }
    }
}

/// proctord's pid, in a file opened without following a link (as root it could be made to
/// overwrite another file), readable by all as pidfiles are.
fn write_pidfile(path: &std::path::Path) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o644)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .open(path)?;
    writeln!(f, "{}", std::process::id())
}
