//! The audit log: every request, allowed or denied, is written and fdatasync'ed before it runs,
//! and its outcome after. Concurrent requests share one fdatasync (group commit). If a record
//! cannot be written, the request is denied with the reason: fail closed.

use proctor_wire::audit::{hash, Record, GENESIS};
use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::PathBuf;
use tokio::sync::{mpsc, oneshot};
use tracing::error;

/// What a request record says; the writer adds time, seq and the chain.
pub struct Entry {
    pub kind: &'static str,
    pub uid: u32,
    pub user: String,
    pub pid: Option<i32>,
    pub action: String,
    pub targets: Vec<String>,
    pub allow: bool,
    pub rule: String,
    pub outcome: Option<String>,
    pub request: Option<u64>,
}

type Job = (Entry, oneshot::Sender<Result<u64, String>>);

#[derive(Clone)]
pub struct Audit {
    /// `Err`: the log could not be opened; every request is refused with this reason.
    tx: Result<mpsc::Sender<Job>, String>,
}

struct Writer {
    path: PathBuf,
    file: Option<File>,
    seq: u64,
    prev: String,
    syslog: Option<crate::syslog::Syslog>,
}

/// The last complete line of the log, to continue its chain.
fn tail_of(file: &mut File) -> std::io::Result<Option<String>> {
    let len = file.metadata()?.len();
    let start = len.saturating_sub(64 * 1024);
    file.seek(SeekFrom::Start(start))?;
    let mut buf = String::new();
    file.read_to_string(&mut buf)?;
    Ok(buf.lines().last().map(str::to_owned))
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
    pub fn start(path: PathBuf, syslog: bool) -> Result<Audit, String> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)
                .map_err(|e| format!("audit log directory {}: {e}", dir.display()))?;
        }
        let mut file = open(&path).map_err(|e| format!("audit log {}: {e}", path.display()))?;
        let (seq, prev) =
            match tail_of(&mut file).map_err(|e| format!("audit log {}: {e}", path.display()))? {
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
        let mut w = Writer {
            path,
            file: Some(file),
            seq,
            prev,
            syslog: syslog.then(|| crate::syslog::Syslog::new("proctor-audit")),
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
        Ok(Audit { tx: Ok(tx) })
    }

    /// A log that cannot be written: every request is refused (fail closed).
    pub fn broken(why: String) -> Audit {
        Audit { tx: Err(why) }
    }

    /// Writes and syncs one record; its seq, or why it could not be written.
    pub async fn log(&self, entry: Entry) -> Result<u64, String> {
        let sender = self
            .tx
            .as_ref()
            .map_err(|why| format!("the audit log cannot be written: {why}"))?;
        let (tx, rx) = oneshot::channel();
        sender
            .send((entry, tx))
            .await
            .map_err(|_| "the audit writer has stopped".to_owned())?;
        rx.await
            .unwrap_or_else(|_| Err("the audit writer has stopped".into()))
    }
}

impl Writer {
    fn commit(&mut self, batch: Vec<Job>) {
        let (mut text, mut lines) = (String::new(), Vec::new());
        let (seq0, prev0) = (self.seq, self.prev.clone());
        for (e, _) in &batch {
            self.seq += 1;
            let r = Record {
                time: jiff::Timestamp::now()
                    .strftime("%Y-%m-%dT%H:%M:%S%.6fZ")
                    .to_string(),
                seq: self.seq,
                kind: e.kind.into(),
                uid: e.uid,
                user: e.user.clone(),
                pid: e.pid,
                action: e.action.clone(),
                targets: e.targets.clone(),
                decision: if e.allow { "allow" } else { "deny" }.into(),
                rule: e.rule.clone(),
                outcome: e.outcome.clone(),
                request: e.request,
                prev: self.prev.clone(),
            };
            let line = serde_json::to_string(&r).unwrap_or_default();
            self.prev = hash(&line);
            text.push_str(&line);
            text.push('\n');
            lines.push(line);
        }
        let result = self.write(&text);
        if let Err(e) = &result {
            // Nothing of the batch counts: the chain continues from the last good record.
            error!(
                "audit log {}: {e}; denying requests until it can be written",
                self.path.display()
            );
            self.seq = seq0;
            self.prev = prev0;
            self.file = None;
        } else if let Some(s) = &mut self.syslog {
            for l in &lines {
                s.send_lines(format!("{l}\n").as_bytes());
            }
        }
        for (i, (_, reply)) in batch.into_iter().enumerate() {
            let _ = reply.send(match &result {
                Ok(()) => Ok(seq0 + 1 + i as u64),
                Err(e) => Err(format!("the audit log cannot be written: {e}")),
            });
        }
    }

    fn write(&mut self, text: &str) -> std::io::Result<()> {
        if self.file.is_none() {
            self.file = Some(open(&self.path)?);
        }
        let Some(f) = self.file.as_mut() else {
            return Err(std::io::ErrorKind::NotFound.into());
        };
        let m = f.metadata()?;
        if m.nlink() == 0 {
            return Err(std::io::Error::other("the file was removed"));
        }
        let before = m.len();
        let written = f.write_all(text.as_bytes()).and_then(|()| f.sync_data());
        if written.is_err() {
            // No half record may stay behind to break the chain.
            let _ = f.set_len(before);
        }
        written
    }
}

/// The last `n` records of the log, optionally only those of `user` (for `proctorctl audit`).
pub fn read_tail(path: &std::path::Path, n: usize, user: Option<&str>) -> Result<String, String> {
    let text =
        std::fs::read_to_string(path).map_err(|e| format!("audit log {}: {e}", path.display()))?;
    let lines: Vec<&str> = text
        .lines()
        .filter(|l| match user {
            None => true,
            Some(u) => serde_json::from_str::<Record>(l).is_ok_and(|r| r.user == u),
        })
        .collect();
    let start = lines.len().saturating_sub(n);
    Ok(lines[start..].iter().map(|l| format!("{l}\n")).collect())
}
