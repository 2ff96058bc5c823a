//! Files and directories that only trusted accounts could have written, as sudo and sshd check
//! theirs. A root proctord acts on what its config, includes and policy say, and controld
//! creates log files by name: whoever could replace one of those files, or swap a name in one
//! of those directories, would decide for root.
//!
//! A file is opened without following a symlink and checked through the opened fd; then every
//! directory that really leads to it (a symlinked directory on the way must not hide a writable
//! one).

use std::fs::File;
use std::os::fd::AsRawFd;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::Path;

const STICKY: u32 = 0o1000;
const GROUP_OR_OTHERS: u32 = 0o022;

/// Opens `path` for reading if it is a regular file owned by one of `owners`, writable by
/// nobody else, and every directory above it is owned by root or one of `owners` and not
/// writable by group or others (a sticky directory, like /tmp, is accepted: only an entry's
/// owner may replace it).
pub fn open_trusted(path: &Path, owners: &[u32]) -> Result<File, String> {
    let shown = path.display();
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(nix::fcntl::OFlag::O_NOFOLLOW.bits() | nix::fcntl::OFlag::O_CLOEXEC.bits())
        .open(path)
        .map_err(|e| format!("{shown}: cannot open: {e}"))?;
    let m = file.metadata().map_err(|e| format!("{shown}: {e}"))?;
    if !m.is_file() {
        return Err(format!("{shown}: not a regular file"));
    }
    if !owners.contains(&m.uid()) {
        return Err(format!(
            "{shown}: owned by uid {}, must be owned by {}",
            m.uid(),
            uids(owners)
        ));
    }
    if m.mode() & GROUP_OR_OTHERS != 0 {
        return Err(format!(
            "{shown}: writable by group or others (mode {:o})",
            m.mode() & 0o7777
        ));
    }
    let real = std::fs::read_link(format!("/proc/self/fd/{}", file.as_raw_fd()))
        .map_err(|e| format!("{shown}: cannot resolve the opened file: {e}"))?;
    let mut group_writable = Vec::new();
    if let Some(dir) = path.parent() {
        lexical(dir, path, owners, &mut group_writable)?;
    }
    ancestors(real.parent(), path, owners, &mut group_writable)?;
    if let Some(refusal) = group_writable.into_iter().next() {
        return Err(refusal);
    }
    Ok(file)
}

/// Checks the directories above `dir`, as [`open_trusted`] checks those above a file: owned by
/// root or one of `owners`, and writable by nobody else unless sticky.
pub fn above(dir: &Path, owners: &[u32]) -> Result<(), String> {
    let real = std::fs::canonicalize(dir)
        .map_err(|e| format!("{}: cannot resolve: {e}", dir.display()))?;
    let mut group_writable = Vec::new();
    lexical(dir, dir, owners, &mut group_writable)?;
    ancestors(real.parent(), dir, owners, &mut group_writable)?;
    match group_writable.into_iter().next() {
        Some(refusal) => Err(refusal),
        None => Ok(()),
    }
}

/// Checks `dir` as a place where files are created by name: the directory must be owned by
/// root or one of `owners` and writable by nobody else, not even when sticky (anyone may create
/// a name in /tmp first); the directories above it as in [`open_trusted`]. A directory above
/// that only a group may write (Ubuntu's /var/log belongs to group syslog, mode 775) is not
/// refused: it is returned as a warning for the admin, who decides whether the group's members
/// are trusted. While `dir` does not exist yet, its nearest existing ancestor is held to that
/// rule for directories above (not writable by everyone, even sticky).
pub fn creation_dir(dir: &Path, owners: &[u32]) -> Result<Vec<String>, String> {
    let shown = dir.display();
    let mut warnings = Vec::new();
    lexical(dir, dir, owners, &mut warnings)?;
    let mut existing = dir;
    while !existing.exists() {
        existing = existing
            .parent()
            .ok_or_else(|| format!("{shown}: no directory of this path exists"))?;
    }
    if existing != dir {
        let real = std::fs::canonicalize(existing)
            .map_err(|e| format!("{}: cannot resolve: {e}", existing.display()))?;
        let m = std::fs::metadata(&real).map_err(|e| format!("{}: {e}", real.display()))?;
        if m.mode() & 0o002 != 0 {
            return Err(format!(
                "{} (where {shown} is to be created): writable by everyone (mode {:o}): anyone \
                 could create it first",
                real.display(),
                m.mode() & 0o7777
            ));
        }
        ancestors(Some(&real), dir, owners, &mut warnings)?;
        warnings.sort();
        warnings.dedup();
        return Ok(warnings);
    }
    let real = std::fs::canonicalize(existing)
        .map_err(|e| format!("{}: cannot resolve: {e}", existing.display()))?;
    let m = std::fs::metadata(&real).map_err(|e| format!("{}: {e}", real.display()))?;
    let named = if real == dir {
        String::new()
    } else {
        format!(" (where {shown} leads)")
    };
    if !owner_ok(m.uid(), owners) {
        return Err(format!(
            "{}{named}: owned by uid {}, must be owned by {}: its owner could swap the files \
             created in it",
            real.display(),
            m.uid(),
            uids_or_root(owners)
        ));
    }
    if m.mode() & GROUP_OR_OTHERS != 0 {
        return Err(format!(
            "{}{named}: writable by group or others (mode {:o}): they could create or swap the \
             files proctor creates in it",
            real.display(),
            m.mode() & 0o7777
        ));
    }
    ancestors(real.parent(), dir, owners, &mut warnings)?;
    warnings.sort();
    warnings.dedup();
    Ok(warnings)
}

/// Checks the path as written, one component at a time from `/`, without following links: a
/// directory on the way as [`ancestors`] does, and a symlink on the way must be root's or one
/// of `owners`' (whoever owns a link in a sticky directory may replace it, and whoever may
/// write its directory may too, which that directory's own check covers). The resolved path
/// is checked separately.
fn lexical(
    path: &Path,
    below: &Path,
    owners: &[u32],
    group_writable: &mut Vec<String>,
) -> Result<(), String> {
    let mut prefix = std::path::PathBuf::new();
    for part in path.components() {
        prefix.push(part);
        let m = match std::fs::symlink_metadata(&prefix) {
            Ok(m) => m,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(format!("{}: {e}", prefix.display())),
        };
        if m.file_type().is_symlink() {
            if !owner_ok(m.uid(), owners) {
                return Err(format!(
                    "{}: a symlink on the way to {} is owned by uid {}, must be owned by {}: \
                     its owner could point it elsewhere",
                    prefix.display(),
                    below.display(),
                    m.uid(),
                    uids_or_root(owners)
                ));
            }
        } else if m.is_dir() && prefix.as_path() != below {
            check_above(&prefix, below, &m, owners, group_writable)?;
        }
    }
    Ok(())
}

/// Checks each directory from `start` up to `/`; directories only a group may write are
/// collected in `group_writable` for the caller to refuse or report.
fn ancestors(
    start: Option<&Path>,
    below: &Path,
    owners: &[u32],
    group_writable: &mut Vec<String>,
) -> Result<(), String> {
    let mut dir = start;
    while let Some(d) = dir {
        let m = std::fs::symlink_metadata(d).map_err(|e| format!("{}: {e}", d.display()))?;
        check_above(d, below, &m, owners, group_writable)?;
        dir = d.parent();
    }
    Ok(())
}

/// The rule for a directory above what is checked: owned by root or one of `owners`, not
/// writable by others unless sticky; writable by its group only is reported in
/// `group_writable`.
fn check_above(
    d: &Path,
    below: &Path,
    m: &std::fs::Metadata,
    owners: &[u32],
    group_writable: &mut Vec<String>,
) -> Result<(), String> {
    let mode = m.mode();
    if !owner_ok(m.uid(), owners) {
        return Err(format!(
            "{}: a directory above {} is owned by uid {}, must be owned by {}",
            d.display(),
            below.display(),
            m.uid(),
            uids_or_root(owners)
        ));
    }
    if mode & STICKY == 0 {
        if mode & 0o002 != 0 {
            return Err(format!(
                "{}: a directory above {} is writable by others (mode {:o})",
                d.display(),
                below.display(),
                mode & 0o7777
            ));
        }
        if mode & 0o020 != 0 {
            group_writable.push(format!(
                "{}: a directory above {} is writable by group or others (mode {:o}, group \
                 {}): the group's members could replace what is below it",
                d.display(),
                below.display(),
                mode & 0o7777,
                m.gid()
            ));
        }
    }
    Ok(())
}

fn owner_ok(uid: u32, owners: &[u32]) -> bool {
    uid == 0 || owners.contains(&uid)
}

fn uids(owners: &[u32]) -> String {
    let list: Vec<String> = owners.iter().map(|u| format!("uid {u}")).collect();
    list.join(" or ")
}

fn uids_or_root(owners: &[u32]) -> String {
    let mut all = vec![0];
    all.extend(owners.iter().filter(|u| **u != 0));
    uids(&all)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn mode(p: &Path, m: u32) {
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(m)).unwrap();
    }

    #[test]
    fn untrusted_files_are_refused_with_the_reason() {
        let me = nix::unistd::geteuid().as_raw();
        let dir = tempfile::tempdir().unwrap();
        mode(dir.path(), 0o755);
        let p = dir.path().join("x.conf");
        std::fs::write(&p, "x\n").unwrap();
        mode(&p, 0o644);
        // /tmp is sticky; the tempdir is ours; the file is ours and 0644.
        assert!(open_trusted(&p, &[me]).is_ok());
        mode(&p, 0o666);
        let e = open_trusted(&p, &[me]).unwrap_err();
        assert!(e.ends_with("writable by group or others (mode 666)"), "{e}");
        mode(&p, 0o644);
        let e = open_trusted(&p, &[me + 1]).unwrap_err();
        assert!(e.contains("must be owned by uid"), "{e}");
        let link = dir.path().join("link.conf");
        std::os::unix::fs::symlink(&p, &link).unwrap();
        assert!(open_trusted(&link, &[me])
            .unwrap_err()
            .contains("cannot open"));
        mode(dir.path(), 0o777);
        let e = open_trusted(&p, &[me]).unwrap_err();
        assert!(e.contains("is writable by others (mode 777)"), "{e}");
        mode(dir.path(), 0o775);
        let e = open_trusted(&p, &[me]).unwrap_err();
        assert!(
            e.contains("is writable by group or others (mode 775"),
            "{e}"
        );
    }

    #[test]
    fn a_directory_for_new_files_must_be_writable_by_its_owners_alone() {
        let me = nix::unistd::geteuid().as_raw();
        let dir = tempfile::tempdir().unwrap();
        mode(dir.path(), 0o755);
        assert_eq!(
            creation_dir(dir.path(), &[me]).unwrap(),
            Vec::<String>::new()
        );
        // Not there yet: its nearest existing ancestor decides.
        let later = dir.path().join("a/b");
        assert!(creation_dir(&later, &[me]).is_ok());
        mode(dir.path(), 0o1777);
        let e = creation_dir(&later, &[me]).unwrap_err();
        assert!(e.contains("writable by everyone (mode 1777)"), "{e}");
        assert!(e.contains("is to be created"), "{e}");
        // Not there yet under a directory its group may write (Ubuntu's /var/log): a warning.
        mode(dir.path(), 0o775);
        let w = creation_dir(&later, &[me]).unwrap();
        assert_eq!(w.len(), 1, "{w:?}");
        // /tmp itself: sticky, but anyone could create the name first.
        assert!(creation_dir(Path::new("/tmp"), &[me]).is_err());
        // A group-writable directory above is reported, not refused.
        mode(dir.path(), 0o775);
        let inner = dir.path().join("logs");
        std::fs::create_dir(&inner).unwrap();
        mode(&inner, 0o750);
        let w = creation_dir(&inner, &[me]).unwrap();
        assert_eq!(w.len(), 1, "{w:?}");
        assert!(w[0].contains("mode 775"), "{w:?}");
    }

    #[test]
    fn a_symlink_on_the_way_must_belong_to_a_trusted_owner() {
        let me = nix::unistd::geteuid().as_raw();
        let dir = tempfile::tempdir().unwrap();
        mode(dir.path(), 0o755);
        let real = dir.path().join("real");
        std::fs::create_dir(&real).unwrap();
        mode(&real, 0o755);
        std::fs::write(real.join("x.conf"), "x\n").unwrap();
        mode(&real.join("x.conf"), 0o644);
        let link = dir.path().join("link");
        std::os::unix::fs::symlink(&real, &link).unwrap();
        // Ours: followed, and the real directories are checked.
        assert!(open_trusted(&link.join("x.conf"), &[me]).is_ok());
        assert!(creation_dir(&link, &[me]).is_ok());
        // Another account's link: it could point it anywhere.
        let other = me + 1;
        if nix::unistd::fchownat(
            nix::fcntl::AT_FDCWD,
            &link,
            Some(other.into()),
            None,
            nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW,
        )
        .is_err()
        {
            println!(
                "SKIP: part of a_symlink_on_the_way_must_belong_to_a_trusted_owner: needs root"
            );
            return;
        }
        let e = open_trusted(&link.join("x.conf"), &[me]).unwrap_err();
        assert!(e.contains("a symlink on the way to"), "{e}");
        assert!(e.contains(&format!("is owned by uid {other}")), "{e}");
        assert!(creation_dir(&link.join("logs"), &[me]).is_err());
    }
}
