//! The control socket: proctord creates and binds it (so that, as root, it may live in a
//! root-owned directory) and hands the listening fd to controld.

use std::io;
use std::os::fd::OwnedFd;
use std::os::unix::fs::FileTypeExt;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::Path;

/// Binds `path` with `mode`, refusing when another daemon already answers on it. As root
/// (`root_mode`), the socket's directory must be root's and writable by nobody else, or
/// sticky (`/tmp`, where Supervisor's sample config puts its socket): whoever could rename in
/// it could swap the path under proctord, and in a sticky directory only the owner may.
pub fn bind(path: &Path, mode: u32, root_mode: bool) -> Result<OwnedFd, String> {
    bind_socket(path, mode, root_mode, |shown| {
        format!(
            "another proctord is already serving {shown}; stop it first (proctorctl -s {shown} shutdown)"
        )
    })
}

/// As [`bind`], for any listening unix socket; `taken` words the refusal when something
/// already answers at the path.
pub fn bind_socket(
    path: &Path,
    mode: u32,
    root_mode: bool,
    taken: impl Fn(&str) -> String,
) -> Result<OwnedFd, String> {
    let shown = path.display();
    if let Some(dir) = path.parent() {
        if !dir.exists() {
            std::fs::create_dir_all(dir).map_err(|e| {
                format!(
                    "cannot create the socket's directory {}: {e}",
                    dir.display()
                )
            })?;
        }
        if root_mode {
            use std::os::unix::fs::MetadataExt;
            let meta = std::fs::metadata(dir).map_err(|e| {
                format!(
                    "cannot inspect the socket's directory {}: {e}",
                    dir.display()
                )
            })?;
            let sticky = meta.mode() & 0o1000 != 0;
            if meta.uid() != 0 || (meta.mode() & 0o022 != 0 && !sticky) {
                return Err(format!(
                    "the socket's directory {} must belong to root and be writable by root only, \
                     or sticky (it is uid {}, mode {:o}): another account could swap the \
                     socket's path",
                    dir.display(),
                    meta.uid(),
                    meta.mode() & 0o7777
                ));
            }
            // And nobody but root could rename a directory on the way.
            proctor_config::trust::above(dir, &[])
                .map_err(|e| format!("the socket's directory: {e}"))?;
        }
    }
    match std::fs::symlink_metadata(path) {
        Ok(meta) if meta.file_type().is_socket() => match UnixStream::connect(path) {
            Ok(_) => return Err(taken(&shown.to_string())),
            Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => {
                // A socket nobody listens on: left by a daemon that died. Safe to replace.
                std::fs::remove_file(path)
                    .map_err(|e| format!("cannot remove the stale socket {shown}: {e}"))?;
            }
            Err(e) => return Err(format!("cannot check the existing socket {shown}: {e}")),
        },
        Ok(_) => {
            return Err(format!(
                "{shown} exists and is not a socket; refusing to replace it"
            ))
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(format!("cannot inspect {shown}: {e}")),
    }
    // The mode comes from the umask at bind: no chmod by path afterwards, which a swap of the
    // path in between would turn into a chmod of another file. proctord is single-threaded.
    let mask = nix::sys::stat::Mode::from_bits_truncate(!mode & 0o777);
    let old = nix::sys::stat::umask(mask);
    let bound = UnixListener::bind(path);
    nix::sys::stat::umask(old);
    let listener = bound.map_err(|e| format!("cannot bind {shown}: {e}"))?;
    Ok(OwnedFd::from(listener))
}

/// Removes the socket at exit, if it is still the one we bound (same inode).
pub fn remove(path: &Path, ino: u64) {
    use std::os::unix::fs::MetadataExt;
    if std::fs::symlink_metadata(path).is_ok_and(|m| m.ino() == ino) {
        let _ = std::fs::remove_file(path);
    }
}
