//! proctor's services configuration: supervisord's INI format (`[program:x]`, `[group:x]`,
//! `[include]`, `[unix_http_server]`, `[supervisord]`) plus our `[proctor]` section, loaded into
//! the checked [`Config`] model.
#![forbid(unsafe_code)]

pub mod signal;

mod build;
mod expand;
mod inet;
mod ini;
pub mod keys;
mod load;
pub mod model;
mod program;
mod sockets;
pub mod trust;
mod users;
mod values;

pub use model::*;

use std::fmt;
use std::path::{Path, PathBuf};

/// What loading needs to know about the world, passed in so that loading is testable and the
/// daemon decides once (e.g. whether it runs as root).
#[derive(Debug, Clone)]
pub struct LoadContext {
    /// The uid proctord runs as. 0 means root mode: `user=` is then required on every program.
    pub uid: u32,
    /// For `%(host_node_name)s`.
    pub host_node_name: String,
    /// For `%(ENV_X)s`: the environment proctord was started with.
    pub env: Vec<(String, String)>,
    /// When set (root mode: root), the main file and every included file must be owned by this
    /// uid and writable by nobody else, as must every directory above them
    /// ([`trust::open_trusted`]): root acts on what they say.
    pub trusted_owner: Option<u32>,
}

impl LoadContext {
    /// The context of the running process.
    pub fn current() -> LoadContext {
        LoadContext {
            uid: nix::unistd::getuid().as_raw(),
            host_node_name: nix::unistd::gethostname()
                .ok()
                .and_then(|h| h.into_string().ok())
                .unwrap_or_default(),
            env: std::env::vars_os()
                .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
                .collect(),
            trusted_owner: nix::unistd::getuid().is_root().then_some(0),
        }
    }
}

/// A loaded config and the warnings (unknown keys, ignored `[supervisord]` options) to print.
#[derive(Debug)]
pub struct Loaded {
    pub config: Config,
    pub warnings: Vec<Diagnostic>,
}

/// A message about a place in a file: `file:line: message`. `line` is 0 when the problem is about
/// the file as a whole (it cannot be read), and then only `file: message` is printed. The one
/// shape of every file error proctor reports: config, includes and the policy file.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Diagnostic {
    pub file: PathBuf,
    pub line: u32,
    pub message: String,
}

impl Diagnostic {
    /// The same diagnostic with its message cut to at most `max` bytes (and an ellipsis), and
    /// its file name too, as UTF-8 (lossily): fit to pass on whatever the file's name and text.
    pub fn bounded(mut self, max: usize) -> Diagnostic {
        fn cut(s: &mut String, max: usize) {
            if s.len() > max {
                let mut at = max;
                while !s.is_char_boundary(at) {
                    at -= 1;
                }
                s.truncate(at);
                s.push('…');
            }
        }
        cut(&mut self.message, max);
        let mut file = self.file.to_string_lossy().into_owned();
        cut(&mut file, max);
        self.file = PathBuf::from(file);
        self
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line == 0 {
            write!(f, "{}: {}", self.file.display(), self.message)
        } else {
            write!(f, "{}:{}: {}", self.file.display(), self.line, self.message)
        }
    }
}

impl std::error::Error for Diagnostic {}

/// The socket a client of the daemon configured in `path` reaches: `[supervisorctl]
/// serverurl=unix://PATH`, else `[unix_http_server] file=`; `None` if neither is there.
pub fn load_client_socket(path: &Path, ctx: &LoadContext) -> Result<Option<PathBuf>, Diagnostic> {
    let mut warnings = Vec::new();
    let (_, sections) = read(path, ctx, &mut warnings)?;
    build::client_socket(&sections, ctx)
}

/// Loads and checks the config at `path`. The first error refuses the whole file.
pub fn load(path: &Path, ctx: &LoadContext) -> Result<Loaded, Diagnostic> {
    let mut warnings = Vec::new();
    let (source, sections) = read(path, ctx, &mut warnings)?;
    let config = build::build(source, &sections, ctx, &mut warnings)?;
    Ok(Loaded { config, warnings })
}

/// The main file (made absolute) and the sections of it and its includes.
fn read(
    path: &Path,
    ctx: &LoadContext,
    warnings: &mut Vec<Diagnostic>,
) -> Result<(PathBuf, Vec<ini::Section>), Diagnostic> {
    let source = std::path::absolute(path).map_err(|e| Diagnostic {
        file: path.to_path_buf(),
        line: 0,
        message: format!("cannot read: {e}"),
    })?;
    let sections = load::read_all(&source, ctx, warnings)?;
    Ok((source, sections))
}
