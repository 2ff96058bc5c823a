//! The audit seal file (format in `proctor_wire::seal`): opened as root before proctord drops
//! root, in a directory only root can enter, and written through that fd ever after. controld
//! never sees it: it gets one key per lifetime in its hello, and reports how far it has sealed.

use nix::fcntl::{openat, Flock, FlockArg, OFlag};
use nix::sys::stat::Mode;
use proctor_wire::refusal::{Errno, Refusal};
use proctor_wire::seal::{anchor_line, epoch_line, Anchor, Epoch, SealFile, ANCHOR_LEN};
use std::fs::File;
use std::io::Read;
use std::os::unix::fs::{DirBuilderExt, FileExt, MetadataExt};
use std::path::{Path, PathBuf};

pub struct Sealer {
    file: Flock<File>,
    path: PathBuf,
    /// Where the next epoch line goes.
    end: u64,
    anchor: Anchor,
    last_epoch: u32,
}

/// Larger than any seal file proctord writes in practice (a line per controld start).
const MAX_SEAL: u64 = 64 << 20;

impl Sealer {
    /// As root: opens (or creates) the seal file. Its directory is created mode 0700 if
    /// missing; whatever is opened must be root's and private, checked through the open fds,
    /// so no rename around it matters.
    pub fn open(path: &Path) -> Result<Sealer, String> {
        let shown = path.display();
        let (Some(dir), Some(name)) = (path.parent(), path.file_name()) else {
            return Err(format!("audit_seal {shown}: not a file path"));
        };
        if !path.is_absolute() {
            return Err(format!("audit_seal {shown}: must be an absolute path"));
        }
        if !dir.exists() {
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(dir)
                .map_err(|e| format!("audit_seal: cannot create {}: {e}", dir.display()))?;
        }
        let dirfd = nix::fcntl::open(
            dir,
            OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC | OFlag::O_RDONLY,
            Mode::empty(),
        )
        .map_err(|e| format!("audit_seal: cannot open {}: {e}", dir.display()))?;
        let dm = File::from(dirfd.try_clone().map_err(|e| format!("{e}"))?)
            .metadata()
            .map_err(|e| format!("audit_seal: {}: {e}", dir.display()))?;
        if dm.uid() != 0 || dm.mode() & 0o077 != 0 {
            return Err(format!(
                "audit_seal: {} must be root's and closed to everyone else (it is uid {}, \
                 mode {:o}): the seal keys are what no other account may read",
                dir.display(),
                dm.uid(),
                dm.mode() & 0o7777
            ));
        }
        let fd = openat(
            &dirfd,
            name,
            OFlag::O_RDWR | OFlag::O_CREAT | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
            Mode::from_bits_truncate(0o600),
        )
        .map_err(|e| format!("audit_seal {shown}: cannot open: {e}"))?;
        let file = File::from(fd);
        let m = file
            .metadata()
            .map_err(|e| format!("audit_seal {shown}: {e}"))?;
        if !m.is_file() || m.uid() != 0 || m.mode() & 0o077 != 0 || m.nlink() != 1 {
            return Err(format!(
                "audit_seal {shown}: must be a regular file of root's, mode 0600, with one link"
            ));
        }
        if m.len() > MAX_SEAL {
            return Err(format!(
                "audit_seal {shown}: larger than {MAX_SEAL} bytes; move it aside (keep it to \
                 verify the logs it sealed)"
            ));
        }
        let mut file = Flock::lock(file, FlockArg::LockExclusiveNonblock)
            .map_err(|(_, e)| format!("audit_seal {shown}: another proctord is using it ({e})"))?;
        let mut text = String::new();
        file.read_to_string(&mut text)
            .map_err(|e| format!("audit_seal {shown}: {e}"))?;
        // An epoch line cut short by a crash was never handed to a controld (the key goes out
        // only after the sync): drop it, so that the next line starts on a line of its own.
        if !text.is_empty() && !text.ends_with('\n') {
            let whole = text.rfind('\n').map_or(0, |i| i + 1);
            tracing::warn!(
                "audit_seal {shown}: removing a last line cut short ({} bytes)",
                text.len() - whole
            );
            file.set_len(whole as u64)
                .map_err(|e| format!("audit_seal {shown}: {e}"))?;
            text.truncate(whole);
        }
        let mut s = Sealer {
            file,
            path: path.to_path_buf(),
            end: text.len() as u64,
            anchor: Anchor::default(),
            last_epoch: 0,
        };
        if text.is_empty() {
            s.write_at(&anchor_line(Anchor::default()), 0)
                .map_err(|e| format!("audit_seal {shown}: {e}"))?;
            s.end = ANCHOR_LEN as u64;
        } else {
            let parsed = SealFile::parse(&text)
                .map_err(|(line, why)| format!("audit_seal {shown}:{line}: {why}"))?;
            s.anchor = parsed.anchor;
            s.last_epoch = parsed.epochs.last().map_or(0, |e| e.epoch);
        }
        Ok(s)
    }

    fn write_at(&self, bytes: &[u8], offset: u64) -> std::io::Result<()> {
        self.file.write_all_at(bytes, offset)
    }

    /// A new epoch for a controld about to start: a fresh key, recorded (and synced) before
    /// controld gets it, with the anchor of the epoch before.
    pub fn begin_epoch(&mut self) -> Result<(u32, [u8; 32]), String> {
        let mut key = [0u8; 32];
        getrandom::fill(&mut key).map_err(|e| format!("getrandom: {e}"))?;
        let epoch = self
            .last_epoch
            .checked_add(1)
            .ok_or("the seal file has run out of epochs")?;
        let line = epoch_line(&Epoch {
            epoch,
            key,
            after: self.anchor,
            time: proctor_daemon::now_secs(),
        });
        let written = self
            .write_at(line.as_bytes(), self.end)
            .and_then(|()| self.write_at(&anchor_line(Anchor { epoch, count: 0 }), 0))
            .and_then(|()| self.file.sync_data());
        written.map_err(|e| format!("audit_seal {}: {e}", self.path.display()))?;
        self.end += line.len() as u64;
        self.last_epoch = epoch;
        self.anchor = Anchor { epoch, count: 0 };
        Ok((epoch, key))
    }

    /// controld has sealed `count` records of the current epoch. Not synced: after a crash the
    /// anchor may lag what the log holds, never run ahead of it.
    pub fn sealed(&mut self, count: u64) -> Result<(), Refusal> {
        if count < self.anchor.count {
            return Err(Refusal::AnchorBack {
                recorded: self.anchor.count,
                claimed: count,
            });
        }
        let a = Anchor {
            epoch: self.anchor.epoch,
            count,
        };
        self.write_at(&anchor_line(a), 0)
            .map_err(|e| Refusal::SealWrite(Errno::from(&e)))?;
        self.anchor = a;
        Ok(())
    }
}
