//! Capturing service output: one reader task per pipe, writing into a [`LogSink`] per log file
//! with size rotation, and fanning out to `tail -f` followers.
//!
//! A file several streams write (both channels of a program, a pool, several programs: what
//! Supervisor allows) is one sink with one writer, which rotates it once; such a sink, and a
//! stream that is not a file (`/dev/stdout`, a tty, a FIFO), gets whole lines only, each
//! source's unfinished line kept back until its end arrives, so that lines never mix.

use nix::errno::Errno;
use nix::fcntl::{splice, SpliceFFlags};
use proctor_api::control::Back;
use proctor_config::{LogConfig, LogTarget};
use std::fs::{File, OpenOptions};
use std::io::{self, Seek, SeekFrom, Write};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use tokio::sync::broadcast;
use tokio::sync::Notify;
use tracing::warn;

/// Large reads: a service that writes a lot is drained in few syscalls.
const READ_CHUNK: usize = 128 * 1024;
/// At most this much per splice (a pipe holds 64 KiB unless the service enlarged it).
const SPLICE_CHUNK: usize = 1024 * 1024;
/// At most this much per drain before the blocking thread is handed back.
const BURST: usize = 4 * 1024 * 1024;

/// A source's unfinished line is written anyway past this length.
const MAX_LINE: usize = 64 * 1024;

/// How far a [`LogSink::drain`] got.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Drained {
    /// The pipe is empty for now.
    Empty,
    /// A burst was moved; there may be more.
    More,
    /// Every writer has closed the pipe.
    Eof,
}

/// The sinks in use, by path: every stream that names a path gets the one sink for it.
#[derive(Default)]
pub struct Sinks {
    by_path: std::collections::HashMap<PathBuf, std::sync::Weak<LogSink>>,
}

impl Sinks {
    /// The sink for `cfg`: the one already writing its path (now shared), or a new one.
    pub fn get(&mut self, cfg: &LogConfig, tag: &str) -> Arc<LogSink> {
        let path = match &cfg.target {
            LogTarget::File(p) | LogTarget::Stream(p) => p,
            _ => return LogSink::new(cfg, tag),
        };
        if let Some(sink) = self.by_path.get(path).and_then(std::sync::Weak::upgrade) {
            sink.share();
            return sink;
        }
        let sink = LogSink::new(cfg, tag);
        self.by_path.insert(path.clone(), Arc::downgrade(&sink));
        sink
    }

    /// Every sink still in use that writes a file.
    pub fn all(&self) -> Vec<Arc<LogSink>> {
        self.by_path
            .values()
            .filter_map(std::sync::Weak::upgrade)
            .filter(|s| !s.stream)
            .collect()
    }
}

/// What a `tail -f` receives: every chunk written after it subscribed.
pub type Follower = broadcast::Receiver<Arc<[u8]>>;

pub struct LogSink {
    inner: Mutex<SinkInner>,
    pub path: Option<PathBuf>,
    /// Not a regular file (`/dev/stdout`...): appended to, never rotated nor read back.
    pub stream: bool,
    /// More than one pipe writes here: whole lines only.
    shared: std::sync::atomic::AtomicBool,
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
    lost_total: u64,
    /// Created by the first `tail -f`: a channel per log would cost every idle service memory.
    follow: Option<broadcast::Sender<Arc<[u8]>>>,
}

impl LogSink {
    pub fn new(cfg: &LogConfig, tag: &str) -> Arc<LogSink> {
        let (path, stream) = match &cfg.target {
            LogTarget::File(p) => (Some(p.clone()), false),
            LogTarget::Stream(p) => (Some(p.clone()), true),
            _ => (None, false),
        };
        Arc::new(LogSink {
            inner: Mutex::new(SinkInner {
                file: None,
                size: 0,
                maxbytes: cfg.maxbytes,
                backups: cfg.backups,
                syslog: cfg.syslog.then(|| crate::syslog::Syslog::new(tag)),
                lost: 0,
                lost_total: 0,
                follow: None,
            }),
            path,
            stream,
            shared: std::sync::atomic::AtomicBool::new(false),
            lost_total: AtomicU64::new(0),
        })
    }

    /// Another pipe writes here too: from now on, whole lines only.
    pub fn share(&self) {
        self.shared.store(true, Ordering::Relaxed);
    }

    fn by_lines(&self) -> bool {
        self.stream || self.shared.load(Ordering::Relaxed)
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
        let opened = if self.stream {
            open_stream(path).map(|f| inner.file = Some(f))
        } else {
            inner.reopen(path)
        };
        if let Err(e) = opened {
            warn!("cannot open log {}: {e}", path.display());
        }
    }

    /// Moves what the service wrote from its pipe to the log, until the pipe is empty (or a
    /// burst's worth, so one busy service cannot keep a blocking thread to itself).
    ///
    /// Into a file alone, the bytes go by `splice`: each is either still in the pipe or already
    /// in the file, never only in this process, so a controld killed mid-copy loses nothing
    /// (proctord hands the pipe to the next one). Copies for syslog or a `tail -f` need the
    /// bytes in hand, so those sinks read and write instead.
    ///
    /// `pending` is this pipe's unfinished line, kept back while the sink takes whole lines (and
    /// lost if controld is killed first: only a sink with one source moves bytes by `splice`).
    #[cfg(test)]
    pub fn drain(&self, pipe: BorrowedFd<'_>, pending: &mut Vec<u8>) -> io::Result<Drained> {
        self.drain_counted(pipe, pending).map(|(d, _)| d)
    }

    /// [`LogSink::drain`], and how many bytes it moved.
    fn drain_counted(
        &self,
        pipe: BorrowedFd<'_>,
        pending: &mut Vec<u8>,
    ) -> io::Result<(Drained, usize)> {
        let Ok(mut guard) = self.inner.lock() else {
            return Err(io::Error::other("log sink lock poisoned"));
        };
        let inner = &mut *guard;
        let mut moved = 0;
        let by_lines = self.by_lines();
        let result = loop {
            if moved >= BURST {
                break Ok(Drained::More);
            }
            if by_lines {
                match inner.read_lines(self.path.as_deref(), self.stream, pipe, pending) {
                    Ok(0) => break Ok(Drained::Eof),
                    Ok(n) => moved += n,
                    Err(Errno::EAGAIN) => break Ok(Drained::Empty),
                    Err(Errno::EINTR) => continue,
                    Err(e) => break Err(io::Error::from(e)),
                }
                continue;
            }
            let copies = inner.syslog.is_some()
                || inner
                    .follow
                    .as_ref()
                    .is_some_and(|f| f.receiver_count() > 0);
            let step = match &self.path {
                Some(path) if !copies => inner.splice(path, pipe),
                _ => inner.read_and_write(self.path.as_deref(), pipe),
            };
            match step {
                Ok(0) => break Ok(Drained::Eof),
                Ok(n) => moved += n,
                Err(Errno::EAGAIN) => break Ok(Drained::Empty),
                Err(Errno::EINTR) => continue,
                Err(e) => break Err(io::Error::from(e)),
            }
        };
        self.lost_total.store(inner.lost_total, Ordering::Relaxed);
        result.map(|d| (d, moved))
    }

    /// Bytes controld read itself (an event listener's stdout, which the protocol needs in
    /// hand): to the file, syslog and followers, as if drained from a pipe. Blocking.
    pub fn write(&self, data: &[u8]) {
        let Ok(mut inner) = self.inner.lock() else {
            return;
        };
        inner.emit(self.path.as_deref(), self.stream, data);
        self.lost_total.store(inner.lost_total, Ordering::Relaxed);
    }

    /// The end of the log, and a subscription to what is written after it. Blocking (it reads
    /// up to [`crate::logread::MAX_READ`] bytes): call it off the async workers. The
    /// subscription, a copy of the file's fd and its size are taken under the sink's lock, and
    /// the file is read after the lock is given back, up to that size only: a follower neither
    /// misses nor repeats a chunk, and the service's output is not held up by the read. A
    /// stream has no lines to read back: only what is written from now on.
    pub fn tail(&self, back: Back, follow: bool) -> (Vec<u8>, Option<Follower>) {
        let (file, rx) = self.snapshot(follow);
        let text = file
            .and_then(|(f, size)| crate::logread::last(&f, back, size).ok())
            .unwrap_or_default();
        (text, rx)
    }

    /// The file as it is now and its size, to read back (`None` if there is none: a stream,
    /// no path, or nothing written yet), and, with `follow`, a subscription to what comes next.
    pub fn snapshot(&self, follow: bool) -> (Option<(File, u64)>, Option<Follower>) {
        let Ok(mut inner) = self.inner.lock() else {
            return (None, None);
        };
        let rx = follow.then(|| {
            inner
                .follow
                .get_or_insert_with(|| broadcast::channel(256).0)
                .subscribe()
        });
        if self.stream {
            return (None, rx);
        }
        // Through the file controld writes, not by path: the path may have been replaced by a
        // link to a file the asker may not read.
        if let Some(f) = &inner.file {
            return (f.try_clone().ok().map(|f| (f, inner.size)), rx);
        }
        drop(inner);
        // Not open in this controld's life (the process has not run since): the file as it
        // is, with the same care as when it is opened for writing.
        let file = self.path.as_deref().and_then(|p| {
            let f = open_existing(p, false).ok()?;
            let size = f.metadata().ok()?.len();
            Some((f, size))
        });
        (file, rx)
    }

    /// Closes the log file and opens its path again (creating it): what SIGUSR2 asks for once
    /// logrotate has moved the file away. A log not open yet is left for its first write.
    pub fn reopen(&self) {
        let (Some(path), false) = (&self.path, self.stream) else {
            return;
        };
        let Ok(mut inner) = self.inner.lock() else {
            return;
        };
        if inner.file.take().is_some() {
            if let Err(e) = inner.reopen(path) {
                warn!("cannot reopen log {}: {e}", path.display());
            }
        }
    }

    /// Empties the log file (Supervisor removes and recreates it; emptying it in place keeps
    /// the file controld holds, and any path games out of the picture). Rotated files are left,
    /// as Supervisor leaves them. A stream, or a log never created, has nothing to empty.
    pub fn clear(&self) -> io::Result<()> {
        let Ok(mut inner) = self.inner.lock() else {
            return Err(io::Error::other("log sink lock poisoned"));
        };
        if self.stream {
            return Ok(());
        }
        if let Some(f) = &inner.file {
            f.set_len(0)?;
            inner.size = 0;
            return Ok(());
        }
        match self
            .path
            .as_deref()
            .map(|p| open_existing(p, true)?.set_len(0))
        {
            Some(Err(e)) if e.kind() != io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        }
    }
}

impl SinkInner {
    /// Opens the log at its end (not O_APPEND, which `splice` refuses; controld is its only
    /// writer).
    fn reopen(&mut self, path: &Path) -> io::Result<()> {
        let mut f = open_log(path)?;
        self.size = f.seek(SeekFrom::End(0))?;
        self.file = Some(f);
        Ok(())
    }

    /// Before a write: find the file's end, rotate when full, reopen after an earlier failure.
    fn prepare(&mut self, path: &Path, incoming: u64) {
        // Someone may have truncated the file (logrotate's copytruncate): writing at the old
        // offset, without O_APPEND, would leave a hole.
        if let Some(f) = &mut self.file {
            match f.seek(SeekFrom::End(0)) {
                Ok(end) => self.size = end,
                Err(_) => self.file = None,
            }
        }
        if self.maxbytes > 0
            && self.size > 0
            && incoming > 0
            && self.size + incoming > self.maxbytes
        {
            self.rotate(path);
        }
        if self.file.is_none() {
            let _ = self.reopen(path);
        }
    }

    fn wrote(&mut self, path: &Path, n: usize) {
        self.size += n as u64;
        if self.lost > 0 {
            warn!(
                "log {}: {} bytes were lost before this write succeeded",
                path.display(),
                self.lost
            );
            self.lost = 0;
        }
    }

    fn lose(&mut self, path: &Path, n: usize, why: &dyn std::fmt::Display) {
        if self.lost == 0 {
            warn!("cannot write log {}: {why}", path.display());
        }
        self.lost += n as u64;
        self.lost_total += n as u64;
        self.file = None;
    }

    /// One splice of what the pipe holds into the file. As with a write, the file is rotated
    /// first if that would take it past maxbytes, so what the service wrote at once stays in
    /// one file. Bytes that cannot go in (disk full) are read off the pipe and counted as
    /// lost: the service keeps running rather than block on a full pipe.
    fn splice(&mut self, path: &Path, pipe: BorrowedFd<'_>) -> Result<usize, Errno> {
        // What the pipe holds matters only for rotation. Nothing there yet: the splice says
        // whether the pipe is empty or closed.
        let held = match self.maxbytes {
            0 => 0,
            _ => crate::sys::pipe_available(pipe).unwrap_or(0),
        };
        self.prepare(path, held as u64);
        let room = match held {
            0 => SPLICE_CHUNK,
            n => n.min(SPLICE_CHUNK),
        };
        let Some(f) = &self.file else {
            return self.discard(path, pipe, &"the file cannot be opened");
        };
        let flags = SpliceFFlags::SPLICE_F_MOVE | SpliceFFlags::SPLICE_F_NONBLOCK;
        match splice(pipe, None, f, None, room, flags) {
            Ok(n) => {
                self.wrote(path, n);
                Ok(n)
            }
            Err(e @ (Errno::EAGAIN | Errno::EINTR)) => Err(e),
            Err(e) => self.discard(path, pipe, &e),
        }
    }

    fn discard(
        &mut self,
        path: &Path,
        pipe: BorrowedFd<'_>,
        why: &dyn std::fmt::Display,
    ) -> Result<usize, Errno> {
        let mut buf = vec![0u8; READ_CHUNK];
        let n = nix::unistd::read(pipe, &mut buf)?;
        if n > 0 {
            self.lose(path, n, why);
        }
        Ok(n)
    }

    /// One read from the pipe; the complete lines in `pending` and what came go out (to the
    /// file, syslog and followers), the unfinished line stays in `pending` (unless it is too
    /// long, or the pipe is at its end).
    fn read_lines(
        &mut self,
        path: Option<&Path>,
        stream: bool,
        pipe: BorrowedFd<'_>,
        pending: &mut Vec<u8>,
    ) -> Result<usize, Errno> {
        let mut buf = vec![0u8; READ_CHUNK];
        let n = nix::unistd::read(pipe, &mut buf)?;
        pending.extend_from_slice(&buf[..n]);
        let lines_end = pending
            .iter()
            .rposition(|&b| b == b'\n')
            .map_or(0, |i| i + 1);
        // Everything at the end of the pipe, or when the unfinished line alone is too long.
        let upto = if n == 0 || pending.len() - lines_end > MAX_LINE {
            pending.len()
        } else {
            lines_end
        };
        if upto > 0 {
            let whole: Vec<u8> = pending.drain(..upto).collect();
            self.emit(path, stream, &whole);
        }
        // A burst leaves a large buffer behind: an idle service must not keep it.
        if pending.capacity() > 2 * MAX_LINE && pending.len() <= MAX_LINE {
            pending.shrink_to(MAX_LINE);
        }
        Ok(n)
    }

    /// Bytes to every destination: the file (rotated first when full; a stream never is),
    /// syslog and followers.
    fn emit(&mut self, path: Option<&Path>, stream: bool, data: &[u8]) {
        let n = data.len();
        if let Some(s) = &mut self.syslog {
            s.send_lines(data);
        }
        if let Some(path) = path {
            if !stream {
                self.prepare(path, n as u64);
            } else if self.file.is_none() {
                self.file = open_stream(path).ok();
            }
            match self.file.as_mut().map(|f| f.write_all(data)) {
                Some(Ok(())) => self.wrote(path, n),
                Some(Err(e)) => self.lose(path, n, &e),
                None => self.lose(path, n, &"the file cannot be opened"),
            }
        }
        if let Some(f) = self.follow.as_ref().filter(|f| f.receiver_count() > 0) {
            let _ = f.send(Arc::from(data));
        }
    }

    /// One read from the pipe, then the file, syslog and followers get it.
    fn read_and_write(
        &mut self,
        path: Option<&Path>,
        pipe: BorrowedFd<'_>,
    ) -> Result<usize, Errno> {
        // Allocated only once there is something to read: a thousand idle services must not
        // hold a thousand read buffers.
        let mut buf = vec![0u8; READ_CHUNK];
        let n = nix::unistd::read(pipe, &mut buf)?;
        if n > 0 {
            self.emit(path, false, &buf[..n]);
        }
        Ok(n)
    }

    /// `file` → `file.1` → … → `file.N`, as Supervisor's RotatingFileHandler; with no backups,
    /// the file is truncated instead.
    fn rotate(&mut self, path: &Path) {
        if self.backups == 0 {
            // Through the open file, never by path: the path may be a link placed by whoever
            // can write the directory, to a file that is not this log.
            if let Some(f) = &mut self.file {
                if f.set_len(0)
                    .and_then(|()| f.seek(SeekFrom::Start(0)))
                    .is_ok()
                {
                    self.size = 0;
                    return;
                }
            }
            self.file = None;
        } else {
            self.file = None;
            let numbered = |n: u32| {
                let mut s = path.as_os_str().to_owned();
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
        let _ = self.reopen(path);
    }
}

/// Opens (creating) a log file: not through a link, not waiting on a FIFO (`O_NONBLOCK`, which
/// does nothing to a regular file), and only if what is there is a regular file.
fn open_log(path: &Path) -> io::Result<File> {
    use std::os::unix::fs::OpenOptionsExt;
    let open = || {
        OpenOptions::new()
            .create(true)
            .write(true)
            // `tail` reads through this same descriptor.
            .read(true)
            .mode(0o640)
            .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC | libc::O_NONBLOCK)
            .open(path)
    };
    let f = match open() {
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir)?;
            }
            open()
        }
        r => r,
    }?;
    regular_file(f)
}

/// An existing log, to read (or, with `write`, to empty): not through a link, and only a
/// regular file.
fn open_existing(path: &Path, write: bool) -> io::Result<File> {
    use std::os::unix::fs::OpenOptionsExt;
    let f = OpenOptions::new()
        .read(!write)
        .write(write)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC | libc::O_NONBLOCK)
        .open(path)?;
    regular_file(f)
}

/// A log is a regular file; a device, FIFO or directory under its name is refused.
fn regular_file(f: File) -> io::Result<File> {
    if !f.metadata()?.is_file() {
        return Err(io::Error::other("not a regular file"));
    }
    Ok(f)
}

/// A stream log: appended to, never created. proctord's stdout and stderr (controld's fds 1
/// and 2) are duplicated rather than reopened through /proc: a pipe made by whoever started
/// proctord may not be open to controld's account by path, as it is by descriptor.
fn open_stream(path: &Path) -> io::Result<File> {
    use std::os::unix::fs::OpenOptionsExt;
    let own = |p: &str| path == Path::new(p);
    if own("/dev/stdout") || own("/dev/fd/1") || own("/proc/self/fd/1") {
        return Ok(File::from(io::stdout().as_fd().try_clone_to_owned()?));
    }
    if own("/dev/stderr") || own("/dev/fd/2") || own("/proc/self/fd/2") {
        return Ok(File::from(io::stderr().as_fd().try_clone_to_owned()?));
    }
    // Not waiting for a reader (a FIFO with none would hold the log-opening thread, and every
    // service behind it): without one the output is counted as lost and the open retried.
    let f = OpenOptions::new()
        .append(true)
        .custom_flags(libc::O_CLOEXEC | libc::O_NOCTTY | libc::O_NONBLOCK)
        .open(path)?;
    let flags = nix::fcntl::fcntl(&f, nix::fcntl::FcntlArg::F_GETFL)?;
    let flags = nix::fcntl::OFlag::from_bits_truncate(flags) & !nix::fcntl::OFlag::O_NONBLOCK;
    nix::fcntl::fcntl(&f, nix::fcntl::FcntlArg::F_SETFL(flags))?;
    Ok(f)
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

type OpenJob = (Arc<LogSink>, tokio::sync::oneshot::Sender<()>);

/// Log files are created by one thread of their own, in turn (at normal priority: it holds a
/// sink's lock while it creates the file). A thousand services starting at
/// once from the blocking pool made its threads contend for the directory's lock (each create
/// took ten times longer), and filled the pool that clients' account lookups wait in.
static OPENER: OnceLock<std::sync::mpsc::Sender<OpenJob>> = OnceLock::new();

async fn open(sink: Arc<LogSink>) {
    let opener = OPENER.get_or_init(|| {
        let (tx, rx) = std::sync::mpsc::channel::<OpenJob>();
        let spawned = std::thread::Builder::new()
            .name("log-opener".into())
            .spawn(move || {
                for (sink, done) in rx {
                    sink.open();
                    let _ = done.send(());
                }
            });
        if let Err(e) = spawned {
            warn!("cannot start the log-opening thread: {e}; opening from the blocking pool");
        }
        tx
    });
    let (done, opened) = tokio::sync::oneshot::channel();
    if opener.send((sink.clone(), done)).is_ok() && opened.await.is_ok() {
        return;
    }
    let _ = tokio::task::spawn_blocking(move || sink.open()).await;
}

/// A pipe being read, for [`drained`]: counted from its creation until dropped.
pub struct Pumping(());

impl Pumping {
    pub fn start() -> Pumping {
        ACTIVE_PUMPS.fetch_add(1, Ordering::SeqCst);
        Pumping(())
    }
}

impl Drop for Pumping {
    fn drop(&mut self) {
        ACTIVE_PUMPS.fetch_sub(1, Ordering::SeqCst);
        PUMP_ENDED.notify_waiters();
    }
}

/// Copies everything from a service pipe into `sink` until the write end closes.
pub async fn pump(fd: OwnedFd, sink: Arc<LogSink>) {
    let _pumping = Pumping::start();
    open(sink.clone()).await;
    copy(fd, sink).await;
}

/// The next piece of what a service wrote, at most [`CHUNK`] bytes, `None` at its end: for the
/// readers that need the bytes in hand (event listeners, output that makes events).
pub async fn read_chunk(
    pipe: &mut tokio::net::unix::pipe::Receiver,
    what: &str,
) -> Option<Vec<u8>> {
    use tokio::io::AsyncReadExt;
    let mut buf = vec![0u8; CHUNK];
    loop {
        return match pipe.read(&mut buf).await {
            Ok(0) => None,
            Ok(n) => {
                buf.truncate(n);
                Some(buf)
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => {
                warn!("reading {what}: {e}");
                None
            }
        };
    }
}

/// What [`read_chunk`] reads at most at once.
const CHUNK: usize = 64 * 1024;

/// Opens the sink's file (on the log-opening thread), for a reader other than [`pump`].
pub async fn open_sink(sink: Arc<LogSink>) {
    open(sink).await;
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
    // Shared with the blocking task that drains it, so the fd stays open while that runs even
    // if this task is dropped.
    let pipe = Arc::new(fd);
    // This pipe's unfinished line, while the sink takes whole lines.
    let mut pending = Vec::new();
    loop {
        // Quiet: the reactor watches the pipe, and each wake-up drains it on a blocking
        // thread.
        let Ok(afd) = crate::sys::async_fd(pipe.clone(), tokio::io::Interest::READABLE) else {
            return;
        };
        let busy = loop {
            let Ok(mut guard) = afd.readable().await else {
                return;
            };
            let Some((drained, moved)) = off_reactor(&pipe, &sink, &mut pending, |s, p, held| {
                s.drain_counted(p, held)
            })
            .await
            else {
                return;
            };
            if drained == Drained::Eof {
                return;
            }
            if drained == Drained::More || moved >= HOT {
                if let Some(place) = Lingering::take() {
                    break place;
                }
            }
            if drained == Drained::Empty {
                guard.clear_ready();
            }
        };
        // Busy: the reactor lets go of the pipe (it would wake for every write the service
        // makes), and a blocking thread keeps it until it has been quiet for LINGER_MS.
        drop(afd);
        let drained = off_reactor(&pipe, &sink, &mut pending, move |s, p, held| {
            drain_while_busy(s, p, held, busy)
        })
        .await;
        if matches!(drained, None | Some(Drained::Eof)) {
            return;
        }
    }
}

/// Runs `drain` on a blocking thread (file writes block; they stay off the reactor threads),
/// with the pipe's unfinished line `pending` handed over and back. `None` if it failed: the
/// pump ends.
async fn off_reactor<R: Send + 'static>(
    pipe: &Arc<OwnedFd>,
    sink: &Arc<LogSink>,
    pending: &mut Vec<u8>,
    drain: impl FnOnce(&LogSink, BorrowedFd<'_>, &mut Vec<u8>) -> io::Result<R> + Send + 'static,
) -> Option<R> {
    let (p, s) = (pipe.clone(), sink.clone());
    let mut held = std::mem::take(pending);
    let (result, held) = tokio::task::spawn_blocking(move || {
        let r = drain(&s, p.as_fd(), &mut held);
        (r, held)
    })
    .await
    .ok()?;
    *pending = held;
    result.ok()
}

/// Pipes kept by a blocking thread while they are busy, at most [`MAX_LINGERING`] at once.
static LINGERING: AtomicUsize = AtomicUsize::new(0);
const MAX_LINGERING: usize = 4;
/// A drain that moved this much is a busy pipe's.
const HOT: usize = 16 * 1024;
/// How long a busy pipe's thread waits for more before it gives the pipe back to the reactor.
const LINGER_MS: u16 = 10;
/// A busy pipe is enlarged to this while its thread keeps it, and output gathers for
/// [`GATHER`] after each wake-up: a few large splices instead of one per write the service
/// makes (most write 4 or 8 KiB at a time), and no wake-up at all while it gathers.
const BUSY_PIPE: usize = 1024 * 1024;
const GATHER: std::time::Duration = std::time::Duration::from_micros(100);

/// One of the [`MAX_LINGERING`] places, given back when dropped.
struct Lingering;

impl Lingering {
    fn take() -> Option<Lingering> {
        LINGERING
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < MAX_LINGERING).then_some(n + 1)
            })
            .ok()
            .map(|_| Lingering)
    }
}

impl Drop for Lingering {
    fn drop(&mut self) {
        LINGERING.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Keeps draining a busy `pipe` into `sink` on this blocking thread, waiting on the pipe
/// itself, until it has been quiet for [`LINGER_MS`] (then `Empty`) or its writers are gone
/// (`Eof`). At full speed, going back to the reactor after every drain cost two thread
/// switches and the futex calls between them per drain, most of controld's time.
fn drain_while_busy(
    sink: &LogSink,
    pipe: BorrowedFd<'_>,
    pending: &mut Vec<u8>,
    _place: Lingering,
) -> io::Result<Drained> {
    use nix::fcntl::{fcntl, FcntlArg};
    use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
    // Enlarged only if smaller (a service may have made its pipe larger itself), and put back
    // to its own size afterwards. Refused past the account's pipe quota: then output is
    // drained as it comes.
    let before = fcntl(pipe, FcntlArg::F_GETPIPE_SZ).ok();
    let enlarged = match before {
        Some(n) if (n as usize) < BUSY_PIPE => {
            fcntl(pipe, FcntlArg::F_SETPIPE_SZ(BUSY_PIPE as libc::c_int)).is_ok()
        }
        _ => false,
    };
    let gather = enlarged || before.is_some_and(|n| n as usize >= BUSY_PIPE);
    let result = loop {
        let mut fds = [PollFd::new(pipe, PollFlags::POLLIN)];
        match poll(&mut fds, PollTimeout::from(LINGER_MS)) {
            Ok(n) if n > 0 => {}
            Err(Errno::EINTR) => continue,
            _ => break Ok(Drained::Empty),
        }
        if gather {
            std::thread::sleep(GATHER);
        }
        match sink.drain_counted(pipe, pending) {
            Ok((Drained::Eof, _)) => break Ok(Drained::Eof),
            Ok(_) => {}
            Err(e) => break Err(e),
        }
    };
    if let (true, Some(n)) = (enlarged, before) {
        // Back to its size while quiet; refused (and harmless) if it holds more by now.
        let _ = fcntl(pipe, FcntlArg::F_SETPIPE_SZ(n));
    }
    result
}

#[cfg(test)]
mod line_tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use std::os::fd::AsFd;

    /// A sink in line mode on a file of its own, and a pipe to feed it.
    fn fixture(name: &str) -> (Arc<LogSink>, PathBuf, OwnedFd, OwnedFd) {
        let path =
            std::env::temp_dir().join(format!("proctor-lines-{}-{name}", std::process::id()));
        let _ = std::fs::remove_file(&path);
        let cfg = LogConfig {
            target: LogTarget::File(path.clone()),
            maxbytes: 0,
            backups: 0,
            syslog: false,
            events_enabled: false,
            capture_maxbytes: 0,
        };
        let sink = LogSink::new(&cfg, "t");
        sink.share();
        sink.open();
        let (r, w) = nix::unistd::pipe2(nix::fcntl::OFlag::O_NONBLOCK).unwrap();
        // A service may enlarge its pipe; then one read brings more than MAX_LINE.
        nix::fcntl::fcntl(&w, nix::fcntl::FcntlArg::F_SETPIPE_SZ(1 << 20)).unwrap();
        (sink, path, r, w)
    }

    #[test]
    fn a_full_pipe_does_not_split_the_unfinished_line() {
        let (sink, path, r, w) = fixture("full");
        // More than MAX_LINE of complete lines, then half a line, in one read.
        let line = format!("{}\n", "x".repeat(999));
        let mut data = line.repeat(100).into_bytes();
        data.extend_from_slice(b"half a li");
        assert_eq!(nix::unistd::write(&w, &data).unwrap(), data.len());
        let mut pending = Vec::new();
        while let Ok(Drained::More) = sink.drain(r.as_fd(), &mut pending) {}
        assert!(
            std::fs::read(&path).unwrap() == line.repeat(100).into_bytes(),
            "the file holds exactly the complete lines"
        );
        assert_eq!(pending, b"half a li");
        // Its end comes; then the pipe closes with nothing unfinished left over.
        nix::unistd::write(&w, b"ne\n").unwrap();
        drop(w);
        while let Ok(Drained::More | Drained::Empty) = sink.drain(r.as_fd(), &mut pending) {}
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.ends_with("x\nhalf a line\n"), "{text:?}");
        assert!(pending.is_empty());
        let _ = std::fs::remove_file(&path);
    }

    #[test]
    fn an_endless_line_is_written_in_pieces() {
        let (sink, path, r, w) = fixture("endless");
        let data = vec![b'y'; MAX_LINE + 10];
        assert_eq!(nix::unistd::write(&w, &data).unwrap(), data.len());
        let mut pending = Vec::new();
        while let Ok(Drained::More) = sink.drain(r.as_fd(), &mut pending) {}
        assert_eq!(std::fs::read(&path).unwrap().len(), MAX_LINE + 10);
        assert!(pending.is_empty());
        let _ = std::fs::remove_file(&path);
    }
}
