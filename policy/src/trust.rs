//! Reading the policy only from a file its owner, and nobody else, could have written: opened
//! without following a symlink, then checked through the opened fd, and every directory above
//! it checked as well (as sudo and sshd check their files).

use std::io::Read;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::Path;

const MAX_POLICY: u64 = 1024 * 1024;

/// Reads `path` if it is a regular file owned by `owner`, not writable by group or others, and
/// every directory above it is owned by `owner` or root and not writable by group or others (a
/// sticky directory, like /tmp, is accepted: only the entry's owner may replace it).
pub fn read_trusted(path: &Path, owner: u32) -> Result<String, String> {
    let shown = path.display();
    if !path.is_absolute() {
        return Err(format!("{shown}: the policy path must be absolute"));
    }
    let mut file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc_o_nofollow())
        .open(path)
        .map_err(|e| format!("{shown}: cannot open: {e}"))?;
    let m = file.metadata().map_err(|e| format!("{shown}: {e}"))?;
    if !m.is_file() {
        return Err(format!("{shown}: not a regular file"));
    }
    if m.uid() != owner {
        return Err(format!(
            "{shown}: owned by uid {}, must be owned by uid {owner}",
            m.uid()
        ));
    }
    if m.permissions().mode() & 0o022 != 0 {
        return Err(format!(
            "{shown}: writable by group or others (mode {:o})",
            m.permissions().mode() & 0o7777
        ));
    }
    // The directories that really lead to the opened file: a symlinked directory on the way
    // must not hide a writable one.
    use std::os::fd::AsRawFd;
    let real = std::fs::read_link(format!("/proc/self/fd/{}", file.as_raw_fd()))
        .map_err(|e| format!("{shown}: cannot resolve the opened file: {e}"))?;
    let mut dir = real.parent();
    while let Some(d) = dir {
        let dm = std::fs::symlink_metadata(d).map_err(|e| format!("{}: {e}", d.display()))?;
        let mode = dm.permissions().mode();
        if dm.uid() != owner && dm.uid() != 0 {
            return Err(format!(
                "{}: a directory above the policy is owned by uid {}, must be root's or uid {owner}'s",
                d.display(),
                dm.uid()
            ));
        }
        if mode & 0o022 != 0 && mode & 0o1000 == 0 {
            return Err(format!(
                "{}: a directory above the policy is writable by group or others (mode {:o})",
                d.display(),
                mode & 0o7777
            ));
        }
        dir = d.parent();
    }
    let mut text = String::new();
    file.by_ref()
        .take(MAX_POLICY + 1)
        .read_to_string(&mut text)
        .map_err(|e| format!("{shown}: cannot read: {e}"))?;
    if text.len() as u64 > MAX_POLICY {
        return Err(format!("{shown}: larger than {MAX_POLICY} bytes"));
    }
    Ok(text)
}

fn libc_o_nofollow() -> i32 {
    nix::fcntl::OFlag::O_NOFOLLOW.bits() | nix::fcntl::OFlag::O_CLOEXEC.bits()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn untrusted_files_are_refused_with_the_reason() {
        let me = nix::unistd::geteuid().as_raw();
        let dir = tempfile::tempdir().unwrap();
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        let p = dir.path().join("policy.toml");
        std::fs::write(&p, "admins = []\n").unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o644)).unwrap();
        // /tmp is sticky; the tempdir is ours; the file is ours and 0644.
        assert_eq!(read_trusted(&p, me).unwrap(), "admins = []\n");
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o666)).unwrap();
        assert!(read_trusted(&p, me)
            .unwrap_err()
            .ends_with("writable by group or others (mode 666)"));
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o644)).unwrap();
        assert!(read_trusted(&p, me + 1)
            .unwrap_err()
            .contains("must be owned by uid"));
        let link = dir.path().join("link.toml");
        std::os::unix::fs::symlink(&p, &link).unwrap();
        assert!(read_trusted(&link, me).unwrap_err().contains("cannot open"));
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
        assert!(read_trusted(&p, me)
            .unwrap_err()
            .contains("a directory above the policy is writable"));
    }
}
