//! `proctord` with no `-c`: a built-in demo that needs no accounts and no files.

use nix::unistd::{setgid, setgroups, setuid, Gid, Uid, User};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

const DEMO_CONFIG: &str = r#"; proctor's built-in demo, written by `proctord` started without -c.
[unix_http_server]
file = %(here)s/proctor.sock

[supervisord]
childlogdir = %(here)s/log
identifier = demo

; A steady service that logs a line a second: try `tail -f hello`.
[program:hello]
command = sh -c 'i=0; while true; do i=$((i+1)); echo "hello, line $i"; sleep 1; done'
priority = 10

; Runs for 4 seconds, then crashes with exit code 3 and is restarted (autorestart=true).
[program:crashy]
command = sh -c 'echo "crashy: up"; sleep 4; echo "crashy: crashing now" >&2; exit 3'
autorestart = true
startsecs = 1

; Two instances of one program (numprocs): web:web_00 and web:web_01.
[program:web]
command = sh -c 'echo "worker %(process_num)d listening (pretend)"; exec sleep 1000000'
process_name = %(program_name)s_%(process_num)02d
numprocs = 2
priority = 20

; Fails at once every time: BACKOFF, then FATAL after startretries=2.
[program:broken]
command = sh -c 'echo "missing config file" >&2; exit 1'
startretries = 2
"#;

/// Drops root for the demo: it runs as `nobody`, an ordinary user, like any developer's own
/// proctord. Uses setgroups/setgid/setuid in that order, then checks root cannot come back.
pub fn drop_root() -> Result<(), String> {
    let nobody = User::from_name("nobody")
        .map_err(|e| format!("cannot look up user nobody: {e}"))?
        .ok_or("the demo drops root to user 'nobody', which does not exist")?;
    setgroups(&[nobody.gid]).map_err(|e| format!("setgroups: {e}"))?;
    setgid(nobody.gid).map_err(|e| format!("setgid: {e}"))?;
    setuid(nobody.uid).map_err(|e| format!("setuid: {e}"))?;
    if setuid(Uid::from_raw(0)).is_ok() || setgid(Gid::from_raw(0)).is_ok() {
        return Err("could regain root after dropping it".into());
    }
    Ok(())
}

/// Writes the demo config into a private directory and returns the config's path.
pub fn prepare() -> Result<PathBuf, String> {
    let uid = nix::unistd::getuid().as_raw();
    let dir = std::env::temp_dir().join(format!("proctor-demo-{uid}"));
    private_dir(&dir)?;
    private_dir(&dir.join("log"))?;
    let conf = dir.join("demo.conf");
    std::fs::write(&conf, DEMO_CONFIG)
        .map_err(|e| format!("cannot write {}: {e}", conf.display()))?;
    Ok(conf)
}

/// Creates `dir` mode 0700, or accepts an existing one only if it is ours and private (it lives
/// in a shared /tmp).
fn private_dir(dir: &Path) -> Result<(), String> {
    let shown = dir.display();
    match std::fs::symlink_metadata(dir) {
        Ok(m) => {
            let uid = nix::unistd::getuid().as_raw();
            if !m.is_dir() || m.uid() != uid || m.permissions().mode() & 0o077 != 0 {
                return Err(format!(
                    "{shown} exists but is not a private directory owned by uid {uid}; remove it"
                ));
            }
            Ok(())
        }
        Err(_) => std::fs::DirBuilder::new()
            .mode(0o700)
            .create(dir)
            .map_err(|e| format!("cannot create {shown}: {e}")),
    }
}
