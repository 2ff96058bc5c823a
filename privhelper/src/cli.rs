//! proctord's command line, as clap defines it: kept apart from what runs it so that the man
//! page is generated from this very definition (`docgen/`).

use clap::Parser;
use std::path::PathBuf;

#[derive(Parser)]
#[command(
    name = "proctord",
    version,
    about = "proctor's supervisor daemon: starts, watches and restarts the services of a supervisord-format config",
    long_about = "proctor's supervisor daemon: starts, watches and restarts the services of a \
supervisord-format config. It runs in the foreground and logs to stderr (and to \
[supervisord] logfile= if set); SIGTERM or SIGINT stops every service in reverse priority \
order and exits.\n\nWithout -c it runs a built-in demo configuration in a private \
temporary directory and prints the proctorctl command to try.",
    after_help = "Examples:\n  proctord                          run the built-in demo\n  proctord -c /etc/proctor/proctor.conf\n  proctord -c proctor.conf --check  validate a config and exit"
)]
pub struct Args {
    /// The services config (supervisord's INI format).
    #[arg(short = 'c', long = "config", value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Load and check the config, print what would run (every process with its account and
    /// log destinations), and exit.
    #[arg(long)]
    pub check: bool,
    /// With --check: print it as one JSON object, for tools.
    #[arg(long, requires = "check")]
    pub json: bool,
    /// Print the seccomp filter proctord installs (and every service inherits), and exit.
    #[arg(long)]
    pub print_seccomp: bool,
}
