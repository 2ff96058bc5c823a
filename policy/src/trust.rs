//! Reading the policy only from a file its owner, and nobody else, could have written (the
//! check of [`proctor_config::trust::open_trusted`]), and no larger than a policy can be.

use std::io::Read;
use std::path::Path;

const MAX_POLICY: u64 = 1024 * 1024;

/// Reads `path` if it is a regular file owned by `owner`, not writable by group or others, and
/// every directory above it is owned by `owner` or root and not writable by group or others (a
/// sticky directory, like /tmp, is accepted: only the entry's owner may replace it).
pub fn read_trusted(path: &Path, owner: u32) -> Result<String, String> {
    read_checked(path, owner, |_| Ok(()))
}

/// As [`read_trusted`], and `check` must also accept the open file's metadata (the accounts
/// file refuses a mode that lets everyone read it).
pub(crate) fn read_checked(
    path: &Path,
    owner: u32,
    check: impl Fn(&std::fs::Metadata) -> Result<(), String>,
) -> Result<String, String> {
    let shown = path.display();
    if !path.is_absolute() {
        return Err(format!("{shown}: the path must be absolute"));
    }
    let mut file = proctor_config::trust::open_trusted(path, &[owner])?;
    let meta = file
        .metadata()
        .map_err(|e| format!("{shown}: cannot inspect: {e}"))?;
    check(&meta).map_err(|e| format!("{shown}: {e}"))?;
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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn relative_and_oversized_policies_are_refused() {
        let me = nix::unistd::geteuid().as_raw();
        assert!(read_trusted(Path::new("policy.toml"), me)
            .unwrap_err()
            .contains("must be absolute"));
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("policy.toml");
        std::fs::write(&p, "#".repeat(MAX_POLICY as usize + 1)).unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o644)).unwrap();
        assert!(read_trusted(&p, me).unwrap_err().contains("larger than"));
    }
}
