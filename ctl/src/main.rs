//! proctorctl: the command line for proctor's control daemon, in the manner of supervisorctl.
#![forbid(unsafe_code)]

mod cli;
mod client;
mod fanout;
mod fg;
mod hosts;
mod json;
mod output;
mod policy_cmd;
mod shell;

use clap::{CommandFactory, Parser};
use cli::{ChannelArg, Cli, Command, PolicyCommand};
use proctor_api::control::{Back, Channel, Log, Request};
use std::process::ExitCode;

/// Exit codes, LSB-style as supervisorctl 4 uses them.
pub const EXIT_FAILURE: u8 = 1;
pub const EXIT_NOT_RUNNING: u8 = 3;
pub const EXIT_UNREACHABLE: u8 = 4;

/// proctorctl's own arguments without the fan-out options (which come before the command):
/// what each host's proctorctl is given.
fn remote_args(all: impl IntoIterator<Item = String>) -> Vec<String> {
    let mut out = Vec::new();
    let mut args = all.into_iter().skip(1);
    let mut in_command = false;
    while let Some(a) = args.next() {
        if in_command {
            out.push(a);
            continue;
        }
        let with_value = [
            "-H",
            "--hosts",
            "-f",
            "--forks",
            "--connect-timeout",
            "--timeout",
            "--batch",
            "--pause",
        ];
        if with_value.contains(&a.as_str()) {
            args.next();
            continue;
        }
        let glued = [
            "--hosts=",
            "--forks=",
            "--connect-timeout=",
            "--timeout=",
            "--batch=",
            "--pause=",
        ];
        if matches!(a.as_str(), "--sequential" | "--keep-going")
            || glued.iter().any(|g| a.starts_with(g))
            || (a.starts_with("-H") || a.starts_with("-f")) && a.len() > 2 && !a.starts_with("--")
        {
            continue;
        }
        if matches!(a.as_str(), "-s" | "--socket" | "-c" | "--config") {
            out.push(a);
            if let Some(v) = args.next() {
                out.push(v);
            }
            continue;
        }
        in_command = !a.starts_with('-');
        out.push(a);
    }
    out
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let config = cli.config.as_deref();
    let Some(command) = cli.command else {
        if cli.hosts.is_some() || cli.json {
            eprintln!(
                "proctorctl: {} needs a command (the shell runs on one host, for people)",
                if cli.json { "--json" } else { "-H" }
            );
            return ExitCode::from(2);
        }
        let socket = match client::find_socket(cli.socket.as_deref(), config) {
            Ok(s) => s,
            Err(msg) => {
                eprintln!("proctorctl: {msg}");
                return ExitCode::from(2);
            }
        };
        let commands = Cli::command()
            .get_subcommands()
            .map(|c| c.get_name().to_owned())
            .chain(["help".to_owned(), "quit".to_owned()])
            .collect();
        let one = |words: Vec<String>| -> u8 {
            let args = std::iter::once("proctorctl".to_owned()).chain(words);
            match Cli::try_parse_from(args) {
                Ok(Cli {
                    command: Some(command),
                    socket: s,
                    config: c,
                    json,
                    ..
                }) => execute(
                    Some(s.as_deref().unwrap_or(&socket)),
                    c.as_deref().or(config),
                    command,
                    json,
                ),
                Ok(_) => 0,
                // `help`, `help COMMAND`, or a mistake, as clap words it.
                Err(e) => {
                    let _ = e.print();
                    u8::from(e.use_stderr()) * 2
                }
            }
        };
        return ExitCode::from(shell::run(&socket, commands, &one));
    };
    if let Some(list) = &cli.hosts {
        if matches!(command, Command::Fg { .. }) {
            eprintln!("proctorctl: fg talks to one process: ssh -t HOST proctorctl fg NAME");
            return ExitCode::from(2);
        }
        let hosts = match hosts::Inventory::find().and_then(|inv| inv.hosts(list)) {
            Ok(h) => h,
            Err(e) => {
                eprintln!("proctorctl: -H: {e}");
                return ExitCode::from(2);
            }
        };
        let follows = matches!(
            command,
            Command::Tail { follow: true, .. }
                | Command::Maintail { follow: true, .. }
                | Command::Events { follow: true, .. }
                | Command::Audit { follow: true, .. }
        );
        let settings = fanout::Settings {
            forks: cli.forks,
            connect_timeout: cli.connect_timeout,
            timeout: (!follows && cli.timeout > 0)
                .then(|| std::time::Duration::from_secs(cli.timeout)),
            batch: if cli.sequential { Some(1) } else { cli.batch },
            pause: std::time::Duration::from_secs(cli.pause),
            keep_going: cli.keep_going,
        };
        let shown = if cli.json {
            fanout::Shown::Json
        } else if matches!(command, Command::Status { .. }) {
            fanout::Shown::Table
        } else {
            fanout::Shown::Lines
        };
        return ExitCode::from(fanout::run(
            hosts,
            &remote_args(std::env::args()),
            shown,
            &settings,
        ));
    }
    ExitCode::from(execute(cli.socket.as_deref(), config, command, cli.json))
}

/// The command's name, as `--json` lines give it.
fn name_of(c: &Command) -> &'static str {
    match c {
        Command::Status { .. } => "status",
        Command::Start { .. } => "start",
        Command::Stop { .. } => "stop",
        Command::Restart { .. } => "restart",
        Command::Signal { .. } => "signal",
        Command::Pid { .. } => "pid",
        Command::Tail { .. } => "tail",
        Command::Fg { .. } => "fg",
        Command::Events { .. } => "events",
        Command::Maintail { .. } => "maintail",
        Command::Clear { .. } => "clear",
        Command::Reread => "reread",
        Command::Update { .. } => "update",
        Command::Add { .. } => "add",
        Command::Remove { .. } => "remove",
        Command::Avail => "avail",
        Command::Reload => "reload",
        Command::Shutdown => "shutdown",
        Command::Version => "version",
        Command::Web { .. } => "web",
        Command::ReloadPolicy => "reload-policy",
        Command::Audit { .. } => "audit",
        Command::Policy(_) => "policy",
        Command::Hosts { .. } => "hosts",
    }
}

/// Runs one command: the ones that need no daemon here, the others against the socket.
fn execute(
    socket: Option<&std::path::Path>,
    config: Option<&std::path::Path>,
    command: Command,
    json: bool,
) -> u8 {
    let out = output::Out {
        json: json.then(|| name_of(&command)),
    };
    let no_json = matches!(
        command,
        Command::Fg { .. } | Command::Policy(_) | Command::Audit { verify: true, .. }
    );
    if json && no_json {
        let what = match &command {
            Command::Fg { .. } => "fg",
            Command::Policy(_) => "policy",
            _ => "audit --verify",
        };
        return out.fail(
            "no_json",
            2,
            &format!(
                "`proctorctl {what}` is for people and has no --json form: run it without --json"
            ),
        );
    }
    if let Command::Audit {
        verify: true,
        files,
        seal,
        ..
    } = &command
    {
        return policy_cmd::verify_audit(files, seal.as_deref(), config);
    }
    if let Command::Hosts { list } = &command {
        return match hosts::Inventory::find().and_then(|inv| inv.hosts(list)) {
            Ok(hosts) => {
                if out.json.is_none() {
                    for h in &hosts {
                        println!("{h}");
                    }
                }
                if let Some(c) = out.json {
                    let names = hosts.iter().map(|h| h.to_string().into()).collect();
                    json::done(c, 0, serde_json::Value::Array(names), &[]);
                }
                0
            }
            Err(e) => out.fail("bad_hosts", 2, &e),
        };
    }
    if let Command::Policy(p) = &command {
        return match p {
            PolicyCommand::Check { file } => policy_cmd::check(file.as_deref(), config),
            PolicyCommand::Explain {
                file,
                user,
                action,
                program,
            } => policy_cmd::explain(file.as_deref(), config, user, action, program),
            PolicyCommand::HashPassword { user } => policy_cmd::hash_password(user.as_deref()),
        };
    }
    let socket = match client::find_socket(socket, config) {
        Ok(s) => s,
        Err(msg) => return out.fail("no_socket", 2, &msg),
    };
    run(&socket, command, out)
}

fn run(socket: &std::path::Path, command: Command, out: output::Out) -> u8 {
    use output::Stream;
    let req = match command {
        Command::Status { names } => {
            return output::status(socket, Request::Status { names }, out);
        }
        Command::Tail {
            follow,
            lines,
            name,
            channel,
        } => {
            let channel = match channel {
                ChannelArg::Stdout => Channel::Stdout,
                ChannelArg::Stderr => Channel::Stderr,
            };
            return output::tail(
                socket,
                Request::Tail {
                    log: Log::Process { name, channel },
                    back: Back::Lines(lines),
                    follow,
                },
                Stream::Text,
                out,
            );
        }
        Command::Maintail { follow, lines } => {
            return output::tail(
                socket,
                Request::Tail {
                    log: Log::Main,
                    back: Back::Lines(lines),
                    follow,
                },
                Stream::Text,
                out,
            );
        }
        Command::Clear { names } => Request::Clear { names },
        Command::Events { follow, names } => {
            return output::tail(
                socket,
                Request::Events { names, follow },
                Stream::Events,
                out,
            );
        }
        Command::Fg { name } => return fg::run(socket, name),
        Command::Start { names } => Request::Start { names, wait: true },
        Command::Stop { names } => Request::Stop { names, wait: true },
        Command::Restart { names } => Request::Restart { names },
        Command::Signal { signal, names } => Request::Signal { signal, names },
        Command::Pid { name } => Request::Pid { name },
        Command::Reread => Request::Reread,
        Command::Update { groups } => Request::Update { groups },
        Command::Add { groups } => Request::Add { groups },
        Command::Remove { groups } => Request::Remove { groups },
        Command::Avail => Request::Avail,
        Command::Shutdown => Request::Shutdown,
        Command::Reload => Request::Reload,
        Command::Version => Request::Version,
        Command::Web { port } => return output::web_link(socket, port, out),
        Command::ReloadPolicy => Request::ReloadPolicy,
        Command::Audit {
            lines,
            user,
            follow,
            ..
        } => {
            return output::tail(
                socket,
                Request::Audit {
                    lines,
                    user,
                    follow,
                },
                Stream::Records,
                out,
            );
        }
        // Answered in main, without a daemon.
        Command::Policy(_) | Command::Hosts { .. } => return 2,
    };
    output::simple(socket, req, out)
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_remote_gets_the_command_without_the_fan_out_options() {
        let r = |args: &[&str]| super::remote_args(args.iter().map(|s| s.to_string())).join(" ");
        assert_eq!(r(&["proctorctl", "-H", "a,b", "status"]), "status");
        assert_eq!(
            r(&[
                "proctorctl",
                "-Ha",
                "-f",
                "8",
                "--timeout=5",
                "tail",
                "-f",
                "web"
            ]),
            "tail -f web"
        );
        assert_eq!(
            r(&[
                "proctorctl",
                "--hosts",
                "a",
                "-s",
                "/run/p.sock",
                "restart",
                "-H"
            ]),
            "-s /run/p.sock restart -H"
        );
    }

    use super::*;
    use clap::CommandFactory;

    /// `events=` errors send people to this help: it must name every event type there is.
    #[test]
    fn events_help_names_every_event_type() {
        let mut cli = Cli::command();
        let help = cli
            .find_subcommand_mut("events")
            .map(|c| c.render_long_help().to_string())
            .unwrap_or_default();
        for kind in proctor_events::event::Kind::all() {
            assert!(help.contains(kind.name()), "{} is missing", kind.name());
        }
        for name in [
            "EVENT",
            "PROCESS_STATE:",
            "PROCESS_LOG:",
            "PROCESS_COMMUNICATION:",
            "SUPERVISOR_STATE_CHANGE:",
            "TICK:",
            "PROCESS_GROUP:",
        ] {
            assert!(help.contains(name), "{name} is missing");
        }
    }
}
