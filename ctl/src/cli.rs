//! proctorctl's command line, as clap defines it: kept apart from what runs it so that the man
//! page and the shell completions are generated from this very definition (`docgen/`).

use clap::{Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

#[derive(Parser)]
#[command(
    name = "proctorctl",
    version,
    about = "Control a proctor daemon: status, start, stop, restart, logs and config updates",
    long_about = "Control a proctor daemon: status, start, stop, restart, logs and config updates.\n\n\
The daemon's socket is found from -s, then $PROCTOR_SOCKET, then the config given with -c \
(default /etc/proctor/proctor.conf): its [supervisorctl] serverurl= (unix:///PATH), as \
supervisorctl reads it, else its [unix_http_server] file=.\n\n\
Names: a process (`web`), a process in a group (`web:web_00`), a whole group (`web:*` or just \
the group's name), or `all`.",
    after_help = "Examples:\n  proctorctl status\n  proctorctl -s /run/proctor/proctor.sock restart web:*\n  proctorctl tail -f nginx stderr\n  proctorctl --json status | jq '.result[] | select(.state != \"RUNNING\")'\n  proctorctl -H 'web[1-4],db1' status\n  proctorctl -H @prod -f 8 restart web\n  proctorctl -H @web --batch 2 --pause 10 restart web\n  proctorctl -H @web --json status | jq -c 'select(.outcome != \"ok\")'"
)]
pub struct Cli {
    /// The daemon's config, to find its socket.
    #[arg(short = 'c', long = "config", value_name = "FILE", global = true)]
    pub config: Option<PathBuf>,
    /// The daemon's control socket (overrides $PROCTOR_SOCKET and -c).
    #[arg(short = 's', long = "socket", value_name = "PATH", global = true)]
    pub socket: Option<PathBuf>,
    /// Run the command on these hosts, through ssh: a comma list of [user@]host[:port], ranges
    /// (web[1-12]) and @groups of the inventory (see `proctorctl hosts --help`). Each host's
    /// proctorctl acts as the user ssh logs in as, under that host's policy and audit log.
    #[arg(short = 'H', long = "hosts", value_name = "HOSTS")]
    pub hosts: Option<String>,
    /// With -H: how many hosts at once.
    #[arg(
        short = 'f',
        long = "forks",
        value_name = "N",
        default_value_t = 32,
        requires = "hosts"
    )]
    pub forks: usize,
    /// With -H: seconds ssh may take to connect to a host.
    #[arg(long, value_name = "SECS", default_value_t = 10, requires = "hosts")]
    pub connect_timeout: u64,
    /// With -H: seconds a host's command may take (0: no limit; following commands have none).
    #[arg(long, value_name = "SECS", default_value_t = 120, requires = "hosts")]
    pub timeout: u64,
    /// With -H: one host at a time, stopping at the first that fails (--batch 1).
    #[arg(long, requires = "hosts", conflicts_with = "batch")]
    pub sequential: bool,
    /// With -H: a rolling run, N hosts at a time; each batch must succeed before the next
    /// starts (start and restart return once the processes are RUNNING).
    #[arg(long, value_name = "N", requires = "hosts")]
    pub batch: Option<usize>,
    /// With --batch or --sequential: seconds to wait between batches.
    #[arg(long, value_name = "SECS", default_value_t = 0, requires = "hosts")]
    pub pause: u64,
    /// With --batch or --sequential: go on after a batch in which a host failed.
    #[arg(long, requires = "hosts")]
    pub keep_going: bool,
    /// Print JSON lines, each with a schema version, for programs to read (the contract:
    /// docs/proctorctl.md, "JSON output"). With -H, one object per host.
    #[arg(long, global = true)]
    pub json: bool,
    /// Without one, a shell: `help` lists the commands.
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Clone, Copy, ValueEnum)]
pub enum ChannelArg {
    Stdout,
    Stderr,
}

#[derive(Subcommand)]
pub enum Command {
    /// Show the state of processes (all when no name is given).
    #[command(
        after_help = "Exit status: 0 when every listed process is running, 3 when one is not, 4 when a name is unknown or the daemon cannot be reached.\n\nExamples:\n  proctorctl status\n  proctorctl status web:* worker\n  proctorctl status --json"
    )]
    Status { names: Vec<String> },
    /// Start processes and wait until they are RUNNING (after startsecs).
    #[command(
        after_help = "Examples:\n  proctorctl start web\n  proctorctl start web:*\n  proctorctl start all"
    )]
    Start {
        #[arg(required = true)]
        names: Vec<String>,
    },
    /// Stop processes (stopsignal, then SIGKILL after stopwaitsecs) and wait until they are.
    #[command(after_help = "Examples:\n  proctorctl stop web\n  proctorctl stop all")]
    Stop {
        #[arg(required = true)]
        names: Vec<String>,
    },
    /// Stop, then start processes. Does not re-read the config (see `update`).
    #[command(after_help = "Examples:\n  proctorctl restart web:*")]
    Restart {
        #[arg(required = true)]
        names: Vec<String>,
    },
    /// Send a signal (name or number: HUP, USR1, 15, ...) to running processes.
    #[command(
        after_help = "Examples:\n  proctorctl signal HUP nginx\n  proctorctl signal USR2 web:*"
    )]
    Signal {
        signal: String,
        #[arg(required = true)]
        names: Vec<String>,
    },
    /// Print pids: of the daemons with no name, of every process with `all`.
    #[command(
        after_help = "Examples:\n  proctorctl pid\n  proctorctl pid web:web_00\n  proctorctl pid all"
    )]
    Pid { name: Option<String> },
    /// Print the end of a process's log; -f keeps following it.
    #[command(
        after_help = "Examples:\n  proctorctl tail web\n  proctorctl tail -n 100 web stderr\n  proctorctl tail -f web"
    )]
    Tail {
        /// Keep printing what is written, until interrupted.
        #[arg(short = 'f', long)]
        follow: bool,
        /// How many lines to print first.
        #[arg(short = 'n', long = "lines", default_value_t = 20)]
        lines: u32,
        name: String,
        #[arg(value_enum, default_value = "stdout")]
        channel: ChannelArg,
    },
    /// Talk to a process: show its output as it comes, send each line typed to its stdin.
    #[command(
        after_help = "Every service has a stdin pipe, as under Supervisor. Ends at the end of the input (Ctrl-D); the process keeps running. Policy actions: tail (its output) and stdin (what is typed).\n\nExample:\n  proctorctl fg repl"
    )]
    Fg { name: String },
    /// Show process events (state changes, as Supervisor names them); -f keeps following.
    #[command(
        after_help = "Shows the recent events first (the last 200 the daemon kept), of the processes named (all by default) that you may see. Each line: the event's name, the process, and Supervisor's payload (processname, groupname, from_state, pid or tries; for output events, what the process wrote, its newlines shown as spaces). With --json, a line per event whose `event` has serial, when (Unix seconds), eventname, process, payload. Policy action: events, and status on each process (tail for the events that carry its output).\n\nThe events shown are those about a process: PROCESS_STATE_*, and PROCESS_LOG_* and PROCESS_COMMUNICATION_* of programs with *_events_enabled or *_capture_maxbytes. Event listeners ([eventlistener:x] events=) may also subscribe to the others. Every event type, as Supervisor names them:\n  EVENT (all of them)\n  PROCESS_STATE: PROCESS_STATE_STOPPED, PROCESS_STATE_STARTING, PROCESS_STATE_RUNNING, PROCESS_STATE_BACKOFF, PROCESS_STATE_STOPPING, PROCESS_STATE_EXITED, PROCESS_STATE_FATAL, PROCESS_STATE_UNKNOWN\n  PROCESS_LOG: PROCESS_LOG_STDOUT, PROCESS_LOG_STDERR\n  PROCESS_COMMUNICATION: PROCESS_COMMUNICATION_STDOUT, PROCESS_COMMUNICATION_STDERR\n  SUPERVISOR_STATE_CHANGE: SUPERVISOR_STATE_CHANGE_RUNNING, SUPERVISOR_STATE_CHANGE_STOPPING\n  TICK: TICK_5, TICK_60, TICK_3600\n  PROCESS_GROUP: PROCESS_GROUP_ADDED, PROCESS_GROUP_REMOVED\n  REMOTE_COMMUNICATION\n\nExamples:\n  proctorctl events -f web\n  proctorctl events -f --json | jq '.event | select(.eventname? == \"PROCESS_STATE_FATAL\")'"
    )]
    Events {
        /// Keep printing new events until interrupted.
        #[arg(short = 'f', long)]
        follow: bool,
        names: Vec<String>,
    },
    /// Print the end of the daemon's own log ([supervisord] logfile); -f keeps following it.
    #[command(
        after_help = "Policy action: maintail. Without [supervisord] logfile= the daemon logs to its stderr only, and there is nothing to read back here.\n\nExamples:\n  proctorctl maintail\n  proctorctl maintail -n 100\n  proctorctl maintail -f"
    )]
    Maintail {
        /// Keep printing what is written, until interrupted.
        #[arg(short = 'f', long)]
        follow: bool,
        /// How many lines to print first.
        #[arg(short = 'n', long = "lines", default_value_t = 20)]
        lines: u32,
    },
    /// Empty the log files of processes (both channels); rotated files are kept.
    #[command(
        after_help = "Policy action: clear.\n\nExamples:\n  proctorctl clear web\n  proctorctl clear web:* worker\n  proctorctl clear all"
    )]
    Clear {
        #[arg(required = true)]
        names: Vec<String>,
    },
    /// Re-read the config and show what changed, without applying anything.
    #[command(
        after_help = "Prints one line per group: `NAME: available` (new), `NAME: changed`, `NAME: disappeared` (removed).\n\nExample:\n  proctorctl reread && proctorctl update"
    )]
    Reread,
    /// Re-read the config and apply it: stop removed groups, restart changed ones, add new
    /// ones. Unchanged groups are left alone.
    #[command(
        after_help = "With group names, only those groups are applied; the others' changes stay pending, and their processes keep the settings they were added with until they are updated (as under Supervisor). Policy action: update.\n\nExamples:\n  proctorctl update\n  proctorctl update web"
    )]
    Update { groups: Vec<String> },
    /// Activate groups from the config file (Supervisor's `add`), starting their autostart
    /// processes.
    #[command(
        after_help = "A group not yet active (new in the file, or taken out with `remove`) is created from the file as it is now; the other groups are left as they run. Policy action: update.\n\nExample:\n  proctorctl reread && proctorctl add web"
    )]
    Add {
        #[arg(required = true)]
        groups: Vec<String>,
    },
    /// Deactivate stopped groups (Supervisor's `remove`); the file keeps them.
    #[command(
        after_help = "Every process of the group must be stopped first. The group then shows as `avail` and `reread` lists it as available; `add` or `update` brings it back. Policy action: update.\n\nExample:\n  proctorctl stop web:* && proctorctl remove web"
    )]
    Remove {
        #[arg(required = true)]
        groups: Vec<String>,
    },
    /// List every configured process: in use or not, autostart, priorities.
    #[command(
        after_help = "Columns: name, `in use` or `avail`, `auto` or `manual` (autostart), group priority:program priority.\n\nExample:\n  proctorctl avail"
    )]
    Avail,
    /// Stop every service, apply the config file as a whole, start the autostart services.
    #[command(
        after_help = "Supervisor's `reload`: every service restarts, changed or not, where `update` restarts only the groups whose settings changed and leaves the rest running. A config file that does not load is refused before anything is stopped. The daemons themselves keep running (proctord re-reads the file; nothing re-executes). Policy action: reload.\n\nExample:\n  proctorctl reload"
    )]
    Reload,
    /// Stop every service in reverse priority order and stop the daemon.
    #[command(
        after_help = "The reply comes at once; the daemon then stops the services (each within its stopwaitsecs) and exits.\n\nExample:\n  proctorctl shutdown"
    )]
    Shutdown,
    /// Print the daemon's version.
    #[command(after_help = "Example:\n  proctorctl version")]
    Version,
    /// Print a one-time login link to the web UI, for your own account.
    #[command(
        after_help = "The web UI is served on the daemon's socket. From your own machine, forward a local port to it over ssh, then open the link (once, within two minutes) in a browser there:\n\n  ssh -L 8080:/run/proctor/proctor.sock HOST\n  proctorctl web            (on HOST, in that ssh session)\n\nThe pages show and do what the policy lets your account see and do, and every action is in the audit log under your name. The link, not the forwarded port, is what logs you in: other users of your machine and web pages you visit can reach the port but not the link. Policy action: web.\n\nExample:\n  proctorctl web --port 9000"
    )]
    Web {
        /// The local port you forward to the socket, for the printed link.
        #[arg(long, default_value_t = 8080)]
        port: u16,
    },
    /// Re-read the policy file ([proctor] policy=); a refused file leaves the old one in force.
    #[command(
        name = "reload-policy",
        after_help = "The daemon also re-reads it on SIGHUP to proctord.\n\nExample:\n  proctorctl reload-policy"
    )]
    ReloadPolicy,
    /// Show the audit log (action `audit` in the policy), or verify a copy of it.
    #[command(
        after_help = "--verify needs no daemon: it checks the hash chain of any copy and names the first record at which an edited, reordered or truncated log breaks (exit 1). Run as root, it also checks every record's seal against the seal file ([proctor] audit_seal=, default /var/lib/proctor/audit.seal): then not even proctor-controld's own account can edit, replace or cut what was written before it was taken over without verify naming the first bad record.\n\nExamples:\n  proctorctl audit -n 50\n  proctorctl audit --user alice\n  proctorctl audit --verify /var/log/proctor/audit.log\n  sudo proctorctl audit --verify --seal /var/lib/proctor/audit.seal /var/log/proctor/audit.log.1 /var/log/proctor/audit.log"
    )]
    Audit {
        /// Verify the hash chain of FILE... (oldest first, e.g. audit.log.2 audit.log.1 audit.log),
        /// or of the config's [proctor] audit_log= when none is given.
        #[arg(long)]
        verify: bool,
        /// With --verify: the files to check.
        #[arg(requires = "verify", value_name = "FILE")]
        files: Vec<PathBuf>,
        /// With --verify: the seal file to check the records' seals against (default: the
        /// config's [proctor] audit_seal=, readable by root only).
        #[arg(long, requires = "verify", value_name = "SEAL")]
        seal: Option<PathBuf>,
        /// How many records to show.
        #[arg(short = 'n', long = "lines", default_value_t = 20)]
        lines: u32,
        /// Only this user's requests.
        #[arg(long, value_name = "USER")]
        user: Option<String>,
        /// Keep printing new records until interrupted.
        #[arg(short = 'f', long)]
        follow: bool,
    },
    /// Check a policy file, or explain a decision; no daemon needed.
    #[command(subcommand)]
    Policy(PolicyCommand),
    /// Print the hosts a host list names, one a line: a comma list of [user@]host[:port],
    /// ranges (web[1-12], web[01-12]) and @groups of the inventory. No daemon needed.
    #[command(
        after_help = "The inventory is $PROCTOR_HOSTS, else ~/.config/proctor/hosts, else /etc/proctor/hosts:\n\n  # comments start with #\n  [web]\n  web[1-4].example.com  admin@web9:2222\n  [db]\n  db1, db2\n  [prod]\n  @web\n  @db\n\nExamples:\n  proctorctl hosts 'web[1-3],db1'\n  proctorctl hosts @prod"
    )]
    Hosts {
        /// The host list.
        list: String,
    },
}

#[derive(Subcommand)]
pub enum PolicyCommand {
    /// Validate a policy file (default: the config's [proctor] policy=) and exit non-zero with
    /// `file:line: problem` if it is refused.
    #[command(
        after_help = "Examples:\n  proctorctl policy check /etc/proctor/policy.toml\n  proctorctl -c /etc/proctor/proctor.conf policy check"
    )]
    Check { file: Option<PathBuf> },
    /// Print `allow` or `deny` for USER doing ACTION on PROGRAM, and the rule that decided.
    #[command(
        after_help = "PROGRAM is a process name, group:name, or - for actions on the daemon (reread, update, shutdown, audit...).\nExit status: 0 allow, 1 deny, 2 error.\n\nExamples:\n  proctorctl policy explain --user alice restart web:web_00\n  proctorctl policy explain --file policy.toml --user bob shutdown -"
    )]
    Explain {
        /// The policy file (default: the config's [proctor] policy=).
        #[arg(long, value_name = "FILE")]
        file: Option<PathBuf>,
        #[arg(long, value_name = "USER")]
        user: String,
        action: String,
        program: String,
    },
    /// Print an argon2id hash of a password, for the accounts file of [inet_http_server]
    /// accounts= (the web UI and XML-RPC over TCP). The password is read from the terminal
    /// without echo (asked twice), or as one line from standard input.
    #[command(
        name = "hash-password",
        after_help = "The accounts file has one NAME:HASH line per person; NAME is their account on this host, so the policy and the audit log know them as on the control socket.\n\nExamples:\n  proctorctl policy hash-password --user alice >> /etc/proctor/accounts\n  printf '%s\\n' \"$PW\" | proctorctl policy hash-password"
    )]
    HashPassword {
        /// Print `USER:HASH`, a line of the accounts file, rather than the hash alone.
        #[arg(long, value_name = "USER")]
        user: Option<String>,
    },
}
