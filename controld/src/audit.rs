//! The audit log: every request, allowed or denied, is written and fdatasync'ed before it runs,
//! and its outcome after. Concurrent requests share one fdatasync (group commit). If a record
//! cannot be written, the request is denied with the reason: fail closed.

use proctor_api::audit::{hash, Record, GENESIS};
use proctor_api::seal::SealKey;
use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{broadcast, mpsc, oneshot, watch};
use tracing::error;

/// A record to write: the writer sets its time, seq and place in the chain, and bounds it.
struct Job {
    record: Record,
    /// From root, an admin, or controld itself: written even when the log is full (see
    /// [`Settings::min_age`]).
    privileged: bool,
    reply: oneshot::Sender<Result<u64, String>>,
}

/// `[proctor] audit_log*`.
pub struct Settings {
    pub path: PathBuf,
    pub maxbytes: u64,
    pub backups: u32,
    /// Rotation never deletes a file whose last record is younger than this for a request of
    /// someone who is not an admin: such requests are refused instead, and the admins' are
    /// written past `maxbytes`. No one without the admins' trust can push a record out.
    pub min_age: Duration,
    pub syslog: bool,
    /// Root mode: this controld's epoch and its first key (see `proctor_api::seal`).
    pub seal: Option<(u32, SealKey)>,
    /// Where the count of sealed records goes, for proctord's anchor.
    pub anchors: Option<watch::Sender<u64>>,
}

/// The sealing state of the writer: the epoch, the index of the next record in it, and the
/// key for that record.
struct Sealing {
    epoch: u32,
    n: u64,
    key: SealKey,
    anchors: Option<watch::Sender<u64>>,
}

#[derive(Clone)]
pub struct Audit {
    /// `Err`: the log could not be opened; every request is refused with this reason.
    tx: Result<mpsc::Sender<Job>, String>,
    /// Every record written, for `proctorctl audit --follow`.
    follow: Option<broadcast::Sender<Arc<str>>>,
}

struct Writer {
    path: PathBuf,
    maxbytes: u64,
    backups: u32,
    min_age: Duration,
    /// The log is full and its oldest file too young to delete: said once in the daemon log.
    full: bool,
    follow: broadcast::Sender<Arc<str>>,
    /// Locked for as long as this controld writes the log.
    lock: nix::fcntl::Flock<File>,
    /// A half record could not be cut off: the chain is broken here, write nothing more.
    poisoned: bool,
    seq: u64,
    prev: String,
    syslog: Option<crate::syslog::Syslog>,
    sealing: Option<Sealing>,
}

/// Records are bounded (see `bound`), so the last one is always within this window.
const TAIL_WINDOW: u64 = 1024 * 1024;
const MAX_TARGETS: usize = 64;
const MAX_FIELD: usize = 256;

/// Keeps a record far below `TAIL_WINDOW`, whatever a caller sends.
fn bound(s: &str) -> String {
    if s.len() <= MAX_FIELD {
        return s.to_owned();
    }
    let mut cut = MAX_FIELD;
    while !s.is_char_boundary(cut) {
        cut -= 1;
    }
    format!("{}…", &s[..cut])
}

/// The last complete line of the log, to continue its chain. A last line cut short (a crash
/// in mid-write) is removed, with a warning: it was never acknowledged to anyone.
fn tail_of(file: &mut File, path: &std::path::Path) -> std::io::Result<Option<String>> {
    let len = file.metadata()?.len();
    let start = len.saturating_sub(TAIL_WINDOW);
    file.seek(SeekFrom::Start(start))?;
    let mut buf = Vec::new();
    file.read_to_end(&mut buf)?;
    let complete = match buf.iter().rposition(|&b| b == b'\n') {
        Some(i) => i + 1,
        None => 0,
    };
    if complete < buf.len() {
        tracing::warn!(
            "audit log {}: removing a last record cut short ({} bytes)",
            path.display(),
            buf.len() - complete
        );
        file.set_len(start + complete as u64)?;
    }
    let text = String::from_utf8_lossy(&buf[..complete]);
    Ok(text.lines().last().map(str::to_owned))
}

fn open(path: &PathBuf) -> std::io::Result<File> {
    OpenOptions::new()
        .create(true)
        .append(true)
        .read(true)
        .mode(0o640)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .open(path)
}

impl Audit {
    pub fn start(settings: Settings) -> Result<Audit, String> {
        let Settings {
            path,
            maxbytes,
            backups,
            min_age,
            syslog,
            seal,
            anchors,
        } = settings;
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)
                .map_err(|e| format!("audit log directory {}: {e}", dir.display()))?;
        }
        let file = open(&path).map_err(|e| format!("audit log {}: {e}", path.display()))?;
        // One writer per log: two chains interleaved in one file would both break.
        let mut file = nix::fcntl::Flock::lock(file, nix::fcntl::FlockArg::LockExclusiveNonblock)
            .map_err(|(_, e)| {
            format!(
                "audit log {}: another process is writing it ({e})",
                path.display()
            )
        })?;
        let last =
            tail_of(&mut file, &path).map_err(|e| format!("audit log {}: {e}", path.display()))?;
        let (seq, prev) = match last {
            Some(line) => {
                let r: Record = serde_json::from_str(&line).map_err(|e| {
                    format!(
                        "audit log {}: its last line is not a record ({e}); move the file aside",
                        path.display()
                    )
                })?;
                (r.seq, hash(&line))
            }
            None => (0, GENESIS.to_owned()),
        };
        let (follow, _) = broadcast::channel(1024);
        let mut w = Writer {
            path,
            maxbytes,
            backups,
            min_age,
            full: false,
            follow: follow.clone(),
            lock: file,
            poisoned: false,
            seq,
            prev,
            syslog: syslog.then(|| crate::syslog::Syslog::new("proctor-audit")),
            sealing: seal.map(|(epoch, key)| Sealing {
                epoch,
                n: 0,
                key,
                anchors,
            }),
        };
        let (tx, mut rx) = mpsc::channel::<Job>(4096);
        std::thread::Builder::new()
            .name("audit".into())
            .spawn(move || {
                while let Some(first) = rx.blocking_recv() {
                    let mut batch = vec![first];
                    while let Ok(more) = rx.try_recv() {
                        batch.push(more);
                        if batch.len() >= 256 {
                            break;
                        }
                    }
                    w.commit(batch);
                }
            })
            .map_err(|e| format!("audit writer: {e}"))?;
        Ok(Audit {
            tx: Ok(tx),
            follow: Some(follow),
        })
    }

    /// A log that cannot be written: every request is refused (fail closed).
    pub fn broken(why: String) -> Audit {
        Audit {
            tx: Err(why),
            follow: None,
        }
    }

    /// Records written from now on.
    pub fn subscribe(&self) -> Option<broadcast::Receiver<Arc<str>>> {
        self.follow.as_ref().map(broadcast::Sender::subscribe)
    }

    /// Writes and syncs one record; its seq, or why it could not be written. `privileged`:
    /// asked for by root, an admin or controld itself (see [`Settings::min_age`]).
    pub async fn log(&self, record: Record, privileged: bool) -> Result<u64, String> {
        let sender = self
            .tx
            .as_ref()
            .map_err(|why| format!("the audit log cannot be written: {why}"))?;
        let (tx, rx) = oneshot::channel();
        sender
            .send(Job {
                record,
                privileged,
                reply: tx,
            })
            .await
            .map_err(|_| "the audit writer has stopped".to_owned())?;
        rx.await
            .unwrap_or_else(|_| Err("the audit writer has stopped".into()))
    }
}

impl Writer {
    fn commit(&mut self, mut batch: Vec<Job>) {
        let mut rotate = self.needs_rotation();
        if rotate {
            if let Some(why) = self.young_victim() {
                if !self.full {
                    error!("audit log {}: {why}", self.path.display());
                    self.full = true;
                }
                let (keep, refuse): (Vec<Job>, Vec<Job>) =
                    batch.into_iter().partition(|j| j.privileged);
                for j in refuse {
                    let _ = j.reply.send(Err(why.clone()));
                }
                if keep.is_empty() {
                    return;
                }
                batch = keep;
                rotate = false;
            } else {
                self.full = false;
            }
        }
        let (mut text, mut lines) = (String::new(), Vec::new());
        let (seq0, prev0) = (self.seq, self.prev.clone());
        // To go back to if the batch cannot be written (the key moves on with every record).
        let sealed0 = self.sealing.as_ref().map(|s| (s.n, s.key.snapshot()));
        let mut entries: Vec<&Record> = batch.iter().map(|j| &j.record).collect();
        let rotation_marker;
        if rotate {
            if let Err(e) = self.rotate() {
                error!("audit log {}: cannot rotate: {e}", self.path.display());
                for j in batch {
                    let _ = j
                        .reply
                        .send(Err(format!("the audit log cannot be rotated: {e}")));
                }
                return;
            }
            // The new file's first record carries the chain on from the old one.
            rotation_marker = Record {
                kind: "rotated".into(),
                uid: nix::unistd::getuid().as_raw(),
                user: "proctor-controld".into(),
                pid: Some(nix::unistd::Pid::this().as_raw()),
                action: "rotate".into(),
                targets: vec![format!("{}.1", self.path.display())],
                decision: "allow".into(),
                rule: "audit_log_maxbytes".into(),
                ..Record::default()
            };
            entries.insert(0, &rotation_marker);
        }
        let marker = entries.len() - batch.len();
        let mut unwritable = None;
        for e in &entries {
            self.seq += 1;
            let r = Record {
                time: jiff::Timestamp::now()
                    .strftime("%Y-%m-%dT%H:%M:%S%.6fZ")
                    .to_string(),
                seq: self.seq,
                kind: bound(&e.kind),
                uid: e.uid,
                user: bound(&e.user),
                pid: e.pid,
                via: e.via.as_deref().map(bound),
                action: bound(&e.action),
                targets: {
                    let mut t: Vec<String> = e
                        .targets
                        .iter()
                        .take(MAX_TARGETS)
                        .map(|s| bound(s))
                        .collect();
                    if e.targets.len() > MAX_TARGETS {
                        t.push(format!("… {} more", e.targets.len() - MAX_TARGETS));
                    }
                    t
                },
                decision: bound(&e.decision),
                rule: bound(&e.rule),
                outcome: e.outcome.as_deref().map(bound),
                request: e.request,
                ..Record::default()
            };
            let line = match &mut self.sealing {
                Some(s) => {
                    let r = Record {
                        epoch: Some(s.epoch),
                        n: Some(s.n),
                        ..r
                    };
                    s.n += 1;
                    r.sealed(&mut self.prev, &mut s.key)
                }
                None => r.chained(&mut self.prev),
            };
            match line {
                Ok(line) => {
                    text.push_str(&line);
                    text.push('\n');
                    lines.push(line);
                }
                Err(e) => {
                    unwritable = Some(std::io::Error::other(e));
                    break;
                }
            }
        }
        let result = match unwritable {
            Some(e) => Err(e),
            None => self.write(&text),
        };
        if let Err(e) = &result {
            // Nothing of the batch counts: the chain continues from the last good record.
            error!(
                "audit log {}: {e}; denying requests until it can be written",
                self.path.display()
            );
            self.seq = seq0;
            self.prev = prev0;
            if let (Some(s), Some((n, key))) = (&mut self.sealing, sealed0) {
                s.n = n;
                s.key = key;
            }
        } else {
            if let Some(Sealing {
                n,
                anchors: Some(a),
                ..
            }) = &self.sealing
            {
                a.send_replace(*n);
            }
            for l in &lines {
                if let Some(s) = &mut self.syslog {
                    s.send_lines(format!("{l}\n").as_bytes());
                }
                if self.follow.receiver_count() > 0 {
                    let _ = self.follow.send(Arc::from(format!("{l}\n")));
                }
            }
        }
        for (i, j) in batch.into_iter().enumerate() {
            let _ = j.reply.send(match &result {
                Ok(()) => Ok(seq0 + 1 + (marker + i) as u64),
                Err(e) => Err(format!("the audit log cannot be written: {e}")),
            });
        }
    }

    fn needs_rotation(&self) -> bool {
        let file: &File = &self.lock;
        self.maxbytes > 0 && file.metadata().is_ok_and(|m| m.len() >= self.maxbytes)
    }

    fn numbered(&self, n: u32) -> PathBuf {
        let mut s = self.path.clone().into_os_string();
        s.push(format!(".{n}"));
        PathBuf::from(s)
    }

    /// Why rotating now would delete records younger than `min_age`, if it would: the file it
    /// deletes was last written that recently.
    fn young_victim(&self) -> Option<String> {
        let victim = if self.backups == 0 {
            self.path.clone()
        } else {
            self.numbered(self.backups)
        };
        let written = std::fs::metadata(&victim).ok()?.modified().ok()?;
        let age = written.elapsed().unwrap_or_default();
        (age < self.min_age).then(|| {
            format!(
                "the audit log is full: rotating it would delete {}, written {} min ago \
                 (audit_log_min_age is {} min); requests from anyone but root and the \
                 admins are refused until an admin archives the rotated files or raises \
                 audit_log_maxbytes or audit_log_backups",
                victim.display(),
                age.as_secs() / 60,
                self.min_age.as_secs() / 60
            )
        })
    }

    /// `audit.log` → `audit.log.1` → … → `audit.log.N`, then a new, locked `audit.log`.
    fn rotate(&mut self) -> std::io::Result<()> {
        let numbered = |n: u32| self.numbered(n);
        if self.backups == 0 {
            std::fs::remove_file(&self.path)?;
        } else {
            let _ = std::fs::remove_file(numbered(self.backups));
            for n in (1..self.backups).rev() {
                let _ = std::fs::rename(numbered(n), numbered(n + 1));
            }
            std::fs::rename(&self.path, numbered(1))?;
        }
        let file = open(&self.path)?;
        self.lock = nix::fcntl::Flock::lock(file, nix::fcntl::FlockArg::LockExclusiveNonblock)
            .map_err(|(_, e)| std::io::Error::from(e))?;
        Ok(())
    }

    fn write(&mut self, text: &str) -> std::io::Result<()> {
        if self.poisoned {
            return Err(std::io::Error::other(
                "an earlier record could not be cut off after a failed write; check the log and restart proctor-controld",
            ));
        }
        let f: &mut File = &mut self.lock;
        let m = f.metadata()?;
        if m.nlink() == 0 {
            return Err(std::io::Error::other("the file was removed"));
        }
        let before = m.len();
        let written = f.write_all(text.as_bytes()).and_then(|()| f.sync_data());
        if written.is_err() && f.set_len(before).is_err() {
            // No half record may stay behind to break the chain.
            self.poisoned = true;
        }
        written
    }
}

/// The last `n` records of the log, optionally only those of `user` (for `proctorctl audit`).
/// Read backwards from the end a block at a time, so that asking for the last few records of a
/// large log reads only their block; at most [`MAX_AUDIT_TAIL`] bytes are returned. Blocking.
pub fn read_tail(path: &std::path::Path, n: usize, user: Option<&str>) -> Result<String, String> {
    use std::os::unix::fs::FileExt;
    const BLOCK: u64 = 64 * 1024;
    let shown = |e: std::io::Error| format!("audit log {}: {e}", path.display());
    let file = std::fs::File::open(path).map_err(shown)?;
    let mut pos = file.metadata().map_err(shown)?.len();
    // Records found, last first; the bytes before the first newline of what was read, which
    // belong to a record that starts further back.
    let mut found: Vec<String> = Vec::new();
    let mut size = 0usize;
    let mut head: Vec<u8> = Vec::new();
    while found.len() < n && size < MAX_AUDIT_TAIL {
        if pos == 0 {
            if !head.is_empty() {
                take(&mut found, &mut size, &head, user);
            }
            break;
        }
        let start = pos.saturating_sub(BLOCK);
        let mut block = vec![0u8; usize::try_from(pos - start).unwrap_or(0)];
        file.read_exact_at(&mut block, start).map_err(shown)?;
        block.extend_from_slice(&head);
        let mut lines = block.split(|b| *b == b'\n').collect::<Vec<_>>();
        // The first piece may be cut: keep it for the next block (whole, at the file's start).
        head = if start > 0 {
            lines.remove(0).to_vec()
        } else {
            Vec::new()
        };
        for line in lines.into_iter().rev() {
            if found.len() == n || size >= MAX_AUDIT_TAIL {
                break;
            }
            take(&mut found, &mut size, line, user);
        }
        pos = start;
        // A stretch without a newline (a crash can leave zeros behind) is no record: stop
        // rather than carry it back block after block.
        if head.len() > MAX_AUDIT_TAIL {
            break;
        }
    }
    found.reverse();
    Ok(found.concat())
}

/// At most this much of the audit log goes into one `audit` reply.
const MAX_AUDIT_TAIL: usize = 4 << 20;

/// Adds `line` (without its newline) to `found` if it is a record of `user`.
fn take(found: &mut Vec<String>, size: &mut usize, line: &[u8], user: Option<&str>) {
    if line.is_empty() {
        return;
    }
    let line = String::from_utf8_lossy(line);
    let wanted = match user {
        None => true,
        Some(u) => serde_json::from_str::<Record>(&line).is_ok_and(|r| r.user == u),
    };
    if wanted {
        *size += line.len() + 1;
        found.push(format!("{line}\n"));
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn the_tail_is_read_backwards_across_blocks() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.log");
        // 3,000 records of varying length: about 300 KiB, several blocks.
        let lines: Vec<String> = (0..3000)
            .map(|i| {
                let record = Record {
                    seq: i,
                    user: if i % 3 == 0 { "alice" } else { "bob" }.into(),
                    rule: "x".repeat(i as usize % 150),
                    ..Record::default()
                };
                serde_json::to_string(&record).unwrap()
            })
            .collect();
        let text: String = lines.iter().map(|l| format!("{l}\n")).collect();
        std::fs::write(&path, &text).unwrap();
        let last = |k: usize, of: &[String]| -> String {
            of[of.len() - k..]
                .iter()
                .map(|l| format!("{l}\n"))
                .collect()
        };
        assert_eq!(read_tail(&path, 0, None).unwrap(), "");
        assert!(read_tail(&path, 5, None).unwrap() == last(5, &lines));
        assert!(read_tail(&path, 2500, None).unwrap() == last(2500, &lines));
        assert!(read_tail(&path, 99_999, None).unwrap() == text);
        let alice: Vec<String> = lines
            .iter()
            .filter(|l| l.contains("alice"))
            .cloned()
            .collect();
        assert!(read_tail(&path, 700, Some("alice")).unwrap() == last(700, &alice));
        // A last record without its newline (cut by a crash) is still a record.
        std::fs::write(&path, "{\"a\":1}\n{\"b\":2}").unwrap();
        assert_eq!(read_tail(&path, 1, None).unwrap(), "{\"b\":2}\n");
        assert_eq!(read_tail(&path, 9, None).unwrap(), "{\"a\":1}\n{\"b\":2}\n");
    }
}
