//! proctor-controld: the unprivileged control daemon. It is started by proctord with the order
//! socket at fd 3 and the listening control socket at fd 4, and never forks or execs.
#![deny(unsafe_code)]

mod applying;
mod audit;
mod authority;
mod authorize;
mod events;
mod heap;
mod http;
mod lifecycle;
mod link;
mod listeners;
mod logread;
mod logs;
mod logserve;
mod output_events;
mod peers;
mod procs;
mod ratelimit;
mod sandbox;
mod server;
mod slots;
mod stdin;
mod supervisor;
mod sys;
mod syslog;
mod update;

use clap::Parser;
use proctor_api::seal::SealKey;
use proctor_wire::helper::{HelperMsg, HELPER_PROTOCOL_VERSION};
use proctor_wire::ids::Seq;
use proctor_wire::order::{Order, OrderKind};
use proctor_wire::seal::AuditSeal;
use std::process::ExitCode;
use std::sync::Arc;
use supervisor::{Event, Supervisor};
use tokio::sync::mpsc;
use tracing::{error, info, warn};

#[derive(Parser)]
#[command(
    name = "proctor-controld",
    version,
    about = "proctor's control daemon. Started by proctord, never by hand."
)]
struct Args {
    /// The SOCK_SEQPACKET socket to proctord.
    #[arg(long, value_name = "FD")]
    helper_fd: i32,
    /// The listening control socket.
    #[arg(long, value_name = "FD")]
    listen_fd: i32,
    /// Also append the daemon log to this fd (`[supervisord] logfile`, opened by proctord).
    #[arg(long, value_name = "FD")]
    logfile_fd: Option<i32>,
    /// `[inet_http_server]`'s listening TCP socket (bound by proctord).
    #[arg(long, value_name = "FD")]
    http_fd: Option<i32>,
    /// Its TLS certificate chain and key, PEM (opened by proctord).
    #[arg(long, value_name = "FD", requires = "tls_key_fd")]
    tls_cert_fd: Option<i32>,
    #[arg(long, value_name = "FD", requires = "tls_cert_fd")]
    tls_key_fd: Option<i32>,
    /// Confine this process (root mode): no exec, no new processes, not dumpable.
    #[arg(long)]
    sandbox: bool,
}

/// controld's exit status for a configuration it refuses at first start (sysexits' EX_CONFIG):
/// proctord stops instead of restarting it.
pub const EXIT_CONFIG: i32 = 78;

fn main() -> ExitCode {
    proctor_daemon::one_malloc_arena();
    let args = Args::parse();
    let logfile = args
        .logfile_fd
        .and_then(|fd| sys::inherited_fd(fd).ok())
        .map(std::fs::File::from);
    // Read back through its own descriptor (maintail, readLog), written through the other.
    let mainlog = logfile
        .as_ref()
        .and_then(|f| f.try_clone().ok())
        .map(logserve::MainLog::new);
    // proctord passes `[supervisord] loglevel` on as PROCTOR_LOG.
    proctor_daemon::init_tracing(logfile, None);
    if let Err(e) = proctor_daemon::raise_nofile_limit() {
        warn!("{e}");
    }
    if args.sandbox {
        if let Err(e) = sandbox::enter() {
            error!("{e}");
            return ExitCode::FAILURE;
        }
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        // Blocking work is short (log writes and opens, account lookups); tokio's default of
        // 512 threads let a thousand services starting at once grow that many, and their
        // memory stayed.
        .max_blocking_threads(32)
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            error!("cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(args, mainlog)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            error!("{e}");
            ExitCode::FAILURE
        }
    }
}

/// Tells proctord how far the audit log is sealed, as it grows: the latest count only.
async fn send_anchors(link: Arc<link::Link>, mut counts: tokio::sync::watch::Receiver<u64>) {
    while counts.changed().await.is_ok() {
        let count = *counts.borrow_and_update();
        let order = Order {
            seq: Seq(0),
            kind: OrderKind::Sealed { count },
        };
        if let Err(e) = link.send(&order).await {
            warn!("cannot send the audit anchor to proctord: {e}");
            return;
        }
    }
}

async fn run(args: Args, mainlog: Option<Arc<logserve::MainLog>>) -> Result<(), String> {
    let helper = sys::inherited_fd(args.helper_fd).map_err(|e| format!("helper fd: {e}"))?;
    let listen = sys::inherited_fd(args.listen_fd).map_err(|e| format!("listen fd: {e}"))?;
    let link = Arc::new(link::Link::new(helper).map_err(|e| format!("helper link: {e}"))?);

    let (hello, mut fds) = link
        .recv()
        .await
        .map_err(|e| format!("reading proctord's hello: {e}"))?
        .ok_or("proctord closed the link before saying hello")?;
    let HelperMsg::Hello {
        version,
        generation,
        helper_pid,
        first_start,
        root_mode,
        seal,
    } = hello
    else {
        return Err("proctord's first message is not a hello".into());
    };
    if version != HELPER_PROTOCOL_VERSION {
        return Err(format!(
            "proctord speaks helper protocol {version}, not {HELPER_PROTOCOL_VERSION}"
        ));
    }
    let config = fds
        .pop()
        .map(link::read_config)
        .ok_or("hello without the config")?
        .map_err(|e| format!("config from proctord: {e}"))?;

    let std_listener = std::os::unix::net::UnixListener::from(listen);
    std_listener
        .set_nonblocking(true)
        .map_err(|e| format!("listener: {e}"))?;
    let listener =
        tokio::net::UnixListener::from_std(std_listener).map_err(|e| format!("listener: {e}"))?;

    let (tx, rx) = mpsc::channel::<Event>(1024);
    {
        let link = link.clone();
        let tx = tx.clone();
        tokio::spawn(async move {
            loop {
                let ev = match link.recv().await {
                    Ok(Some((msg, fds))) => Event::Helper(msg, fds),
                    Ok(None) => Event::HelperGone("proctord closed the link".into()),
                    Err(e) => Event::HelperGone(e.to_string()),
                };
                let gone = matches!(ev, Event::HelperGone(_));
                if tx.send(ev).await.is_err() || gone {
                    return;
                }
            }
        });
    }
    // The policy file must belong to root in root mode, else to the daemon's own account.
    let own_uid = nix::unistd::getuid().as_raw();
    let owner = if root_mode { 0 } else { own_uid };
    let auth = match authority::Authority::new(config.proctor.policy.clone(), owner, own_uid) {
        Ok(a) => a,
        Err(e) if first_start => {
            // Nothing runs yet: refuse to start, and tell proctord not to retry.
            error!("policy refused: {e}");
            std::process::exit(EXIT_CONFIG);
        }
        Err(e) => {
            error!("policy refused: {e}; until it is fixed only root may use the daemon");
            let path = config.proctor.policy.clone().unwrap_or_default();
            authority::Authority::closed(path, owner, e)
        }
    };
    let auth = std::sync::Arc::new(auth);
    let audit = match &config.proctor.audit_log {
        Some(path) => {
            let (seal, anchors) = match seal {
                AuditSeal::Key { epoch, key } => {
                    let (atx, arx) = tokio::sync::watch::channel(0u64);
                    tokio::spawn(send_anchors(link.clone(), arx));
                    (Ok(Some((epoch, SealKey::new(key)))), Some(atx))
                }
                AuditSeal::Off => (Ok(None), None),
                AuditSeal::Broken(why) => (Err(format!("cannot seal the audit log: {why}")), None),
            };
            let started = seal.and_then(|seal| {
                audit::Audit::start(audit::Settings {
                    path: path.clone(),
                    maxbytes: config.proctor.audit_log_maxbytes,
                    backups: config.proctor.audit_log_backups,
                    min_age: std::time::Duration::from_secs(config.proctor.audit_log_min_age),
                    syslog: config.proctor.audit_syslog,
                    seal,
                    anchors,
                })
            });
            match started {
                Ok(a) => Some(a),
                Err(e) if first_start => {
                    error!("{e}");
                    std::process::exit(EXIT_CONFIG);
                }
                Err(e) => {
                    // Fail closed: no request can be recorded, so none runs until this is fixed.
                    error!("{e}; every request will be refused");
                    Some(audit::Audit::broken(e))
                }
            }
        }
        None => None,
    };
    let tcp = match (&config.inet, args.http_fd) {
        (Some(inet), Some(fd)) => {
            let tls = match (args.tls_cert_fd, args.tls_key_fd) {
                (Some(c), Some(k)) => Some((
                    sys::inherited_fd(c).map_err(|e| format!("TLS certificate fd: {e}"))?,
                    sys::inherited_fd(k).map_err(|e| format!("TLS key fd: {e}"))?,
                )),
                _ => None,
            };
            let listener = std::net::TcpListener::from(
                sys::inherited_fd(fd).map_err(|e| format!("http fd: {e}"))?,
            );
            match http::tcp::Front::new(inet.clone(), tls, owner) {
                Ok(front) => {
                    let front = Arc::new(front);
                    let also = front.clone();
                    auth.reload_also(Box::new(move || {
                        also.reload_accounts()
                            .map_err(|e| format!("accounts refused, the previous ones stay: {e}"))
                    }));
                    Some((listener, front))
                }
                Err(e) if first_start => {
                    error!("{e}");
                    std::process::exit(EXIT_CONFIG);
                }
                Err(e) => {
                    // The socket still serves; TCP waits until the file is fixed and proctord
                    // restarted.
                    error!("{e}; [inet_http_server] is not served");
                    None
                }
            }
        }
        _ => None,
    };
    tokio::spawn(heap::give_back_when_quiet());
    tokio::spawn(server::serve(
        server::Listening {
            socket: listener,
            tcp,
        },
        tx.clone(),
        auth.clone(),
        audit,
        config.proctor.audit_log.clone(),
        config.daemon.identifier.clone(),
        mainlog,
    ));
    info!(programs = config.programs.len(), "proctor-controld ready");
    Supervisor::new(config, generation, helper_pid, link, tx, auth, first_start)
        .run(rx, first_start)
        .await;
    Ok(())
}
