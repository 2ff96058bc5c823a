//! Capturing service output: one reader task per pipe, writing into a [`LogSink`] per log file
//! with size rotation, and fanning out to `tail -f` followers.

use proctor_config::{LogConfig, LogTarget};
use std::fs::{File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::os::fd::OwnedFd;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use tokio::sync::broadcast;
use tokio::sync::Notify;
use tracing::warn;

/// Large reads: a service that writes a lot is drained in few syscalls.
const READ_CHUNK: usize = 128 * 1024;
/// How much `tail` reads back at most.
const MAX_TAIL: u64 = 4 * 1024 * 1024;

/// What a `tail -f` receives: every chunk written after it subscribed.
pub type Follower = broadcast::Receiver<Arc<[u8]>>;

pub struct LogSink {
    inner: Mutex<SinkInner>,
    pub path: Option<PathBuf>,
    /// Bytes the service wrote that never reached the file (disk full, file gone), over the
    /// daemon's life: shown by `status`, which must not wait for a sink's lock.
    lost_total: AtomicU64,
}

struct SinkInner {
    file: Option<File>,
    size: u64,
    maxbytes: u64,
    backups: u32,
    syslog: Option<crate::syslog::Syslog>,
    /// Bytes that could not be written (disk full, file gone), since the last success.
    lost: u64,
    /// Created by the first `tail -f`: a channel per log would cost every idle service memory.
    follow: Option<broadcast::Sender<Arc<[u8]>>>,
}

impl LogSink {
    pub fn new(cfg: &LogConfig, tag: &str) -> Arc<LogSink> {
        let path = match &cfg.target {
            LogTarget::File(p) => Some(p.clone()),
            _ => None,
        };
        Arc::new(LogSink {
            inner: Mutex::new(SinkInner {
                file: None,
                size: 0,
                maxbytes: cfg.maxbytes,
                backups: cfg.backups,
                syslog: cfg.syslog.then(|| crate::syslog::Syslog::new(tag)),
                lost: 0,
                follow: None,
            }),
            path,
            lost_total: AtomicU64::new(0),
        })
    }

    pub fn lost(&self) -> u64 {
        self.lost_total.load(Ordering::Relaxed)
    }

    /// Opens (creating) the log file, when the process is spawned rather than when the config
    /// is loaded: a thousand opens at start-up would hold up the first spawn.
    pub fn open(&self) {
        let Some(path) = &self.path else {
            return;
        };
        let Ok(mut inner) = self.inner.lock() else {
            return;
        };
        if inner.file.is_some() {
            return;
        }
        match open_append(path) {
            Ok(f) => {
                inner.size = f.metadata().map_or(0, |m| m.len());
                inner.file = Some(f);
            }
            Err(e) => warn!("cannot open log {}: {e}", path.display()),
        }
    }

    pub fn write(&self, data: &[u8]) {
        let Ok(mut inner) = self.inner.lock() else {
            return;
        };
        if let Some(s) = &mut inner.syslog {
            s.send_lines(data);
        }
        if let Some(path) = &self.path {
            if !inner.write(path, data) {
                self.lost_total
                    .fetch_add(data.len() as u64, Ordering::Relaxed);
            }
        }
        if let Some(f) = inner.follow.as_ref().filter(|f| f.receiver_count() > 0) {
            let _ = f.send(Arc::from(data));
        }
    }

    /// The last `lines` lines, and a subscription to what is written after them: both taken
    /// under the sink's lock, so a follower neither misses nor repeats a chunk.
    pub fn tail(&self, lines: u32, follow: bool) -> (Vec<u8>, Option<Follower>) {
        let Ok(mut inner) = self.inner.lock() else {
            return (Vec::new(), None);
        };
        let rx = follow.then(|| {
            inner
                .follow
                .get_or_insert_with(|| broadcast::channel(256).0)
                .subscribe()
        });
        let text = match &self.path {
            Some(p) => last_lines(p, lines).unwrap_or_default(),
            None => Vec::new(),
        };
        drop(inner);
        (text, rx)
    }
}

impl SinkInner {
    /// `false`: `data` was lost.
    fn write(&mut self, path: &PathBuf, data: &[u8]) -> bool {
        if self.maxbytes > 0 && self.size + data.len() as u64 > self.maxbytes && self.size > 0 {
            self.rotate(path);
        }
        if self.file.is_none() {
            // Reopen after an earlier failure (or a rotation that could not reopen).
            self.file = open_append(path).ok();
            self.size = self
                .file
                .as_ref()
                .and_then(|f| f.metadata().ok())
                .map_or(0, |m| m.len());
        }
        let Some(f) = &mut self.file else {
            self.lost += data.len() as u64;
            return false;
        };
        match f.write_all(data) {
            Ok(()) => {
                self.size += data.len() as u64;
                if self.lost > 0 {
                    warn!(
                        "log {}: {} bytes were lost before this write succeeded",
                        path.display(),
                        self.lost
                    );
                    self.lost = 0;
                }
                true
            }
            Err(e) => {
                if self.lost == 0 {
                    warn!("cannot write log {}: {e}", path.display());
                }
                self.lost += data.len() as u64;
                self.file = None;
                false
            }
        }
    }

    /// `file` → `file.1` → … → `file.N`, as Supervisor's RotatingFileHandler; with no backups,
    /// the file is truncated instead.
    fn rotate(&mut self, path: &PathBuf) {
        self.file = None;
        if self.backups == 0 {
            if let Ok(f) = OpenOptions::new().write(true).truncate(true).open(path) {
                drop(f);
            }
        } else {
            let numbered = |n: u32| {
                let mut s = path.clone().into_os_string();
                s.push(format!(".{n}"));
                PathBuf::from(s)
            };
            let _ = std::fs::remove_file(numbered(self.backups));
            for n in (1..self.backups).rev() {
                let _ = std::fs::rename(numbered(n), numbered(n + 1));
            }
            if let Err(e) = std::fs::rename(path, numbered(1)) {
                warn!("cannot rotate {}: {e}", path.display());
            }
        }
        self.file = open_append(path).ok();
        self.size = 0;
    }
}

fn open_append(path: &PathBuf) -> io::Result<File> {
    use std::os::unix::fs::OpenOptionsExt;
    let open = || {
        OpenOptions::new()
            .create(true)
            .append(true)
            .mode(0o640)
            .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
            .open(path)
    };
    match open() {
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir)?;
            }
            open()
        }
        r => r,
    }
}

/// The last `n` lines of a file (at most [`MAX_TAIL`] bytes).
pub fn last_lines(path: &PathBuf, n: u32) -> io::Result<Vec<u8>> {
    let mut f = File::open(path)?;
    let len = f.metadata()?.len();
    let start = len.saturating_sub(MAX_TAIL);
    f.seek(SeekFrom::Start(start))?;
    let mut buf = Vec::new();
    f.read_to_end(&mut buf)?;
    if n == 0 {
        return Ok(Vec::new());
    }
    // Skip a final newline, then find the n-th newline from the end.
    let body_end = if buf.last() == Some(&b'\n') {
        buf.len() - 1
    } else {
        buf.len()
    };
    let mut seen = 0;
    let mut cut = 0;
    for i in (0..body_end).rev() {
        if buf[i] == b'\n' {
            seen += 1;
            if seen == n {
                cut = i + 1;
                break;
            }
        }
    }
    Ok(buf.split_off(cut))
}

/// Pipes being copied right now, so that shutdown can let them drain.
static ACTIVE_PUMPS: AtomicUsize = AtomicUsize::new(0);
static PUMP_ENDED: Notify = Notify::const_new();

/// Waits until every pipe has reached EOF, or `limit` (a grandchild may keep one open).
pub async fn drained(limit: std::time::Duration) {
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        let ended = PUMP_ENDED.notified();
        if ACTIVE_PUMPS.load(Ordering::SeqCst) == 0 {
            return;
        }
        if tokio::time::timeout_at(deadline, ended).await.is_err() {
            return;
        }
    }
}

/// Copies everything from a service pipe into `sink` until the write end closes.
pub async fn pump(fd: OwnedFd, sink: Arc<LogSink>) {
    ACTIVE_PUMPS.fetch_add(1, Ordering::SeqCst);
    let opening = sink.clone();
    let _ = tokio::task::spawn_blocking(move || opening.open()).await;
    copy(fd, sink).await;
    ACTIVE_PUMPS.fetch_sub(1, Ordering::SeqCst);
    PUMP_ENDED.notify_waiters();
}

async fn copy(fd: OwnedFd, sink: Arc<LogSink>) {
    if nix::fcntl::fcntl(
        &fd,
        nix::fcntl::FcntlArg::F_SETFL(nix::fcntl::OFlag::O_NONBLOCK),
    )
    .is_err()
    {
        return;
    }
    let Ok(afd) = crate::sys::async_fd(fd, tokio::io::Interest::READABLE) else {
        return;
    };
    loop {
        let Ok(mut guard) = afd.readable().await else {
            return;
        };
        // Allocated only once there is something to read: a thousand idle services must not
        // hold a thousand read buffers.
        let mut buf = vec![0u8; READ_CHUNK];
        match guard.try_io(|fd| nix::unistd::read(fd.get_ref(), &mut buf).map_err(io::Error::from))
        {
            Ok(Ok(0)) => return,
            Ok(Ok(n)) => {
                let sink = sink.clone();
                buf.truncate(n);
                let chunk = buf;
                // File writes block; keep them off the reactor threads.
                if tokio::task::spawn_blocking(move || sink.write(&chunk))
                    .await
                    .is_err()
                {
                    return;
                }
            }
            Ok(Err(e)) if e.kind() == io::ErrorKind::Interrupted => continue,
            Ok(Err(_)) => return,
            Err(_would_block) => continue,
        }
    }
}
