//! Helpers shared by the integration tests: config files in a tempdir, hand-made contexts.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use proctor_config::{load, LoadContext, Loaded};
use std::path::{Path, PathBuf};

pub struct Files {
    pub dir: tempfile::TempDir,
}

impl Files {
    pub fn new(files: &[(&str, &str)]) -> Files {
        let dir = tempfile::tempdir().unwrap();
        for (name, text) in files {
            let path = dir.path().join(name);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, text).unwrap();
        }
        Files { dir }
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    pub fn dir(&self) -> String {
        self.dir.path().display().to_string()
    }

    /// Loads `main` (the first file given).
    pub fn load(&self, main: &str, ctx: &LoadContext) -> Result<Loaded, String> {
        load(&self.path(main), ctx).map_err(|e| self.hide(&e.to_string()))
    }

    /// Replaces the tempdir's path with `DIR`.
    pub fn hide(&self, s: &str) -> String {
        s.replace(&self.dir(), "DIR")
    }
}

pub fn uid_of(name: &str) -> u32 {
    nix::unistd::User::from_name(name)
        .unwrap()
        .unwrap_or_else(|| panic!("no account {name}"))
        .uid
        .as_raw()
}

/// Ordinary-user mode as `nobody`, whoever runs the tests.
pub fn user_ctx() -> LoadContext {
    LoadContext {
        uid: uid_of("nobody"),
        host_node_name: "testhost".into(),
        env: vec![
            ("HOME".into(), "/home/tester".into()),
            ("LEVEL".into(), "debug".into()),
            ("PORT".into(), "8080".into()),
        ],
        trusted_owner: None,
    }
}

/// Root mode.
pub fn root_ctx() -> LoadContext {
    LoadContext {
        uid: 0,
        ..user_ctx()
    }
}

pub fn exists(p: &Path) -> bool {
    p.exists()
}
