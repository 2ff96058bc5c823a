//! `proctor-docgen OUTDIR`: proctor's man pages and shell completions, into OUTDIR/man and
//! OUTDIR/completions. proctord(8) and proctorctl(1) are rendered from the binaries' own clap
//! definitions (included below, not copied), so they say what `--help` says; the file-format
//! pages are rendered from docs/*.md, the same text as on the web. packaging/build-deb installs
//! the result.
#![forbid(unsafe_code)]

#[allow(dead_code)]
#[path = "../../ctl/src/cli.rs"]
mod ctl_cli;
#[allow(dead_code)]
#[path = "../../privhelper/src/cli.rs"]
mod proctord_cli;

mod roff;

use clap::CommandFactory;
use clap_complete::Shell;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// The file-format pages: name, section, their text in docs/, what NAME says.
const PAGES: &[(&str, &str, &str, &str)] = &[
    (
        "proctor.conf",
        "5",
        "configuration.md",
        "proctor's services config, in supervisord's format",
    ),
    (
        "proctor-policy",
        "5",
        "policy.md",
        "who may do what with proctorctl, the web UI and XML-RPC",
    ),
    (
        "proctor-audit",
        "5",
        "audit.md",
        "proctor's audit log: its records, and how to verify them",
    ),
];

fn main() -> ExitCode {
    let Some(out) = std::env::args_os().nth(1).map(PathBuf::from) else {
        eprintln!("usage: proctor-docgen OUTDIR  (writes OUTDIR/man and OUTDIR/completions)");
        return ExitCode::from(2);
    };
    match generate(&out) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("proctor-docgen: {e}");
            ExitCode::FAILURE
        }
    }
}

/// `cmd`'s page and one for each of its subcommands, theirs too.
fn command_pages(cmd: &clap::Command, section: &str, dir: &Path) -> Result<(), String> {
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        command_pages(sub, section, dir)?;
    }
    let name = cmd.get_display_name().unwrap_or(cmd.get_name()).to_owned();
    let mut page = Vec::new();
    clap_mangen::Man::new(cmd.clone())
        .section(section)
        .manual("proctor")
        .source(concat!("proctor ", env!("CARGO_PKG_VERSION")))
        .render(&mut page)
        .map_err(|e| format!("{name}: {e}"))?;
    let path = dir.join(format!("{name}.{section}"));
    std::fs::write(&path, page).map_err(|e| format!("{}: {e}", path.display()))
}

fn generate(out: &Path) -> Result<(), String> {
    let man = out.join("man");
    let completions = out.join("completions");
    for d in [&man, &completions] {
        std::fs::create_dir_all(d).map_err(|e| format!("{}: {e}", d.display()))?;
    }
    let write = |path: PathBuf, bytes: &[u8]| {
        std::fs::write(&path, bytes).map_err(|e| format!("{}: {e}", path.display()))
    };
    for (cmd, section) in [
        (ctl_cli::Cli::command(), "1"),
        (proctord_cli::Args::command(), "8"),
    ] {
        // Built, a subcommand knows its page's name (proctorctl-status, as git's are named).
        let mut cmd = cmd.disable_help_subcommand(true);
        cmd.build();
        command_pages(&cmd, section, &man)?;
    }
    let docs = Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs");
    for (name, section, file, summary) in PAGES {
        let path = docs.join(file);
        let md = std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        let page = roff::page(name, section, summary, env!("CARGO_PKG_VERSION"), &md);
        write(man.join(format!("{name}.{section}")), page.as_bytes())?;
    }
    for shell in [Shell::Bash, Shell::Zsh, Shell::Fish] {
        let mut cmd = ctl_cli::Cli::command();
        clap_complete::generate_to(shell, &mut cmd, "proctorctl", &completions)
            .map_err(|e| format!("{shell} completions: {e}"))?;
    }
    Ok(())
}
