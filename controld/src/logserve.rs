//! Logs as clients ask for them: tails (and what follows them), reads at an offset, clearing;
//! of a process's channel or of the daemon's own log. The requests are already decided and
//! recorded ([`crate::server::admit`]); this reads and writes the files.

use crate::logread::{self, ReadError};
use crate::logs::{Follower, LogSink};
use crate::server::{ask, Served};
use crate::supervisor::Cmd;
use proctor_api::control::{ActionCode, ActionResult, Back, ErrorKind, Log, Response};
use std::fs::File;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::broadcast;

/// How often a followed daemon log is looked at: proctord writes to it too, so controld does not
/// see every line go by as it does a service's.
const MAIN_POLL: Duration = Duration::from_millis(250);

/// The daemon's own log (`[supervisord] logfile`), through the descriptor proctord opened it
/// with (read and append): controld may not be able to open it by path.
pub struct MainLog {
    file: File,
    /// The followers, and how far the file has been sent to them; only while someone follows.
    watch: Mutex<Option<Watch>>,
}

struct Watch {
    tx: broadcast::Sender<Arc<[u8]>>,
    sent: u64,
}

impl MainLog {
    pub fn new(file: File) -> Arc<MainLog> {
        Arc::new(MainLog {
            file,
            watch: Mutex::new(None),
        })
    }

    /// The end of the log, and with `follow`, a subscription to what is written after it (a
    /// task looks for more every [`MAIN_POLL`] while anyone follows). Blocking.
    fn tail(
        self: &Arc<Self>,
        back: Back,
        follow: bool,
    ) -> std::io::Result<(Vec<u8>, Option<Follower>)> {
        let size = self.file.metadata()?.len();
        let Ok(mut watch) = self.watch.lock() else {
            return Err(std::io::Error::other("main log lock poisoned"));
        };
        // Up to where the followers have been sent: the new one then neither misses nor
        // repeats a line.
        let end = watch.as_ref().map_or(size, |w| w.sent.min(size));
        let rx = follow.then(|| match &*watch {
            Some(w) => w.tx.subscribe(),
            None => {
                let (tx, rx) = broadcast::channel(256);
                *watch = Some(Watch { tx, sent: size });
                tokio::spawn(Arc::clone(self).watched());
                rx
            }
        });
        drop(watch);
        Ok((logread::last(&self.file, back, end)?, rx))
    }

    async fn watched(self: Arc<Self>) {
        loop {
            tokio::time::sleep(MAIN_POLL).await;
            let me = Arc::clone(&self);
            match tokio::task::spawn_blocking(move || me.send_new()).await {
                Ok(true) => {}
                _ => return,
            }
        }
    }

    /// Sends what was written since the last look; false once no one follows.
    fn send_new(&self) -> bool {
        let Ok(mut guard) = self.watch.lock() else {
            return false;
        };
        let Some(w) = guard.as_mut() else {
            return false;
        };
        if w.tx.receiver_count() == 0 {
            *guard = None;
            return false;
        }
        let Ok(size) = self.file.metadata().map(|m| m.len()) else {
            return true;
        };
        // Emptied (clearLog, or rotated by copy and truncate): from the start again.
        if size < w.sent {
            w.sent = 0;
        }
        if size > w.sent {
            if let Ok(data) = logread::range(&self.file, w.sent, size - w.sent) {
                w.sent += data.len() as u64;
                let _ = w.tx.send(data.into());
            }
        }
        true
    }
}

/// What a tail gets first: the text, and what follows it, if asked for; or the error to answer
/// with.
pub type First = Result<(Vec<u8>, Option<Follower>), Response>;

fn error(kind: ErrorKind, message: String) -> Response {
    Response::Error { kind, message }
}

/// No `[supervisord] logfile`, told to a person.
fn no_main_log() -> Response {
    error(
        ErrorKind::NoFile,
        "no [supervisord] logfile is configured: the daemon logs to its stderr only".into(),
    )
}

/// No such file, told to a client of Supervisor's API: the path, or nothing if none is
/// configured (Supervisor's `NO_FILE: /path` and bare `NO_FILE`).
fn no_file(path: Option<&std::path::Path>) -> Response {
    let shown = path.map(|p| p.display().to_string()).unwrap_or_default();
    error(ErrorKind::NoFile, shown)
}

/// The end of `log`, and with `follow`, what is written to it next. Reads off the async workers.
pub async fn tail(served: &Served, log: Log, back: Back, follow: bool) -> First {
    let read = match log {
        Log::Main => {
            let main = served.mainlog.clone().ok_or_else(no_main_log)?;
            tokio::task::spawn_blocking(move || {
                main.tail(back, follow)
                    .map_err(|e| error(ErrorKind::Failed, format!("cannot read the log: {e}")))
            })
            .await
        }
        Log::Process { name, channel } => {
            let sink = ask(&served.tx, |r| Cmd::Tail(name, channel, r))
                .await
                .map_err(|(kind, message)| error(kind, message))?;
            tokio::task::spawn_blocking(move || Ok(sink.tail(back, follow))).await
        }
    };
    read.unwrap_or_else(|e| Err(error(ErrorKind::Failed, format!("tail failed: {e}"))))
}

/// A file to read, and its size now.
type Snapshot = (File, u64);

/// Supervisor's `readLog`/`readProcessStdoutLog` (`tail: false`) and `tailProcessStdoutLog`.
pub async fn read(served: &Served, log: Log, offset: i64, length: i64, tail: bool) -> Response {
    let snapshot = match snapshot(served, log).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let read = tokio::task::spawn_blocking(move || {
        let (file, size) = snapshot;
        if tail {
            return logread::tail_file(&file, size, offset, length)
                .map_err(ReadError::Io)
                .map(|(data, offset, overflow)| Response::Read {
                    data,
                    offset,
                    overflow,
                });
        }
        logread::read_file(&file, size, offset, length).map(|data| Response::Read {
            data,
            offset: size,
            overflow: false,
        })
    })
    .await;
    match read {
        Ok(Ok(r)) => r,
        Ok(Err(ReadError::BadArguments)) => error(
            ErrorKind::BadArguments,
            "a negative offset reads the end of the log, with a length of 0; a length is never negative".into(),
        ),
        Ok(Err(ReadError::Io(e))) => error(ErrorKind::Failed, format!("cannot read the log: {e}")),
        Err(e) => error(ErrorKind::Failed, format!("read failed: {e}")),
    }
}

/// The file behind `log` as it is now, or NO_FILE ([`no_file`]).
async fn snapshot(served: &Served, log: Log) -> Result<Snapshot, Response> {
    match log {
        Log::Main => {
            let main = served.mainlog.clone().ok_or_else(|| no_file(None))?;
            let size = main
                .file
                .metadata()
                .map_err(|e| error(ErrorKind::Failed, format!("cannot read the log: {e}")))?
                .len();
            let file = main
                .file
                .try_clone()
                .map_err(|e| error(ErrorKind::Failed, format!("cannot read the log: {e}")))?;
            Ok((file, size))
        }
        Log::Process { name, channel } => {
            let sink = match ask(&served.tx, |r| Cmd::Tail(name, channel, r)).await {
                Ok(s) => s,
                Err((ErrorKind::NoFile, _)) => return Err(no_file(None)),
                Err((kind, message)) => return Err(error(kind, message)),
            };
            let missing = no_file(sink.path.as_deref());
            let file = tokio::task::spawn_blocking(move || sink.snapshot(false).0)
                .await
                .ok()
                .flatten();
            file.ok_or(missing)
        }
    }
}

/// Empties the log files of the processes `names` (already narrowed to `group:name` each, or
/// `all`): one result per process, as Supervisor's `clearAllProcessLogs` reports.
pub async fn clear(served: &Served, names: Vec<String>) -> Response {
    let sinks = match ask(&served.tx, |r| Cmd::Sinks(names, r)).await {
        Ok(s) => s,
        Err((kind, message)) => return error(kind, message),
    };
    let cleared = tokio::task::spawn_blocking(move || {
        sinks
            .into_iter()
            .map(|(name, sinks)| cleared(name, &sinks))
            .collect()
    })
    .await;
    match cleared {
        Ok(results) => Response::Actions(results),
        Err(e) => error(ErrorKind::Failed, format!("clear failed: {e}")),
    }
}

fn cleared(name: String, sinks: &[Arc<LogSink>]) -> ActionResult {
    match sinks.iter().map(|s| s.clear()).find_map(Result::err) {
        None => ActionResult::done(name, "cleared"),
        Some(e) => {
            let message = format!("ERROR ({e})");
            ActionResult::failed(name, ActionCode::Failed, message)
        }
    }
}

/// Empties the daemon's own log (proctord and controld append to it from its new end).
pub async fn clear_main(served: &Served) -> Response {
    let Some(main) = served.mainlog.clone() else {
        return no_file(None);
    };
    match tokio::task::spawn_blocking(move || main.file.set_len(0)).await {
        Ok(Ok(())) => Response::Done,
        Ok(Err(e)) => error(ErrorKind::Failed, format!("cannot empty the log: {e}")),
        Err(e) => error(ErrorKind::Failed, format!("clear failed: {e}")),
    }
}
