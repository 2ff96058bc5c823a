//! What proctord and proctor-controld do the same way: their log, their limit of open files,
//! the wall clock they stamp starts and stops with, and how they keep their heap small.
#![deny(unsafe_code)]

mod sys;

pub use sys::{give_back_free_heap, one_malloc_arena};

use std::fs::File;

/// Logs to stderr, and also to `logfile` (`[supervisord] logfile`) when given, filtered by
/// $PROCTOR_LOG, else by `level` (`[supervisord] loglevel`, default `info`). Colour only on a
/// terminal: journald and files get plain text.
pub fn init_tracing(logfile: Option<File>, level: Option<&str>) {
    use tracing_subscriber::fmt::writer::MakeWriterExt;
    let filter = tracing_subscriber::EnvFilter::try_from_env("PROCTOR_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level.unwrap_or("info")));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()));
    match logfile {
        Some(f) => builder
            .with_writer(std::io::stderr.and(std::sync::Mutex::new(f)))
            .with_ansi(false)
            .init(),
        None => builder.with_writer(std::io::stderr).init(),
    }
}

/// Takes the hard limit of open files: each service costs both daemons several fds (pidfd and
/// pipe ends in proctord; pipe ends and log files in controld).
pub fn raise_nofile_limit() -> Result<(), String> {
    use nix::sys::resource::{getrlimit, setrlimit, Resource};
    let (soft, hard) = getrlimit(Resource::RLIMIT_NOFILE).map_err(|e| format!("getrlimit: {e}"))?;
    if soft < hard {
        setrlimit(Resource::RLIMIT_NOFILE, hard, hard)
            .map_err(|e| format!("cannot raise RLIMIT_NOFILE: {e}"))?;
    }
    Ok(())
}

/// Seconds since the epoch, as `status` and the helper protocol carry times (0 if the clock is
/// before 1970).
pub fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}
