//! `proctorctl` with no command: a shell, as supervisorctl's. At a terminal it has line editing,
//! a history kept in `~/.proctorctl_history`, and completion of commands and of process and
//! group names (asked of the daemon as you type); `help` and `help COMMAND` teach, `quit` or
//! Ctrl-D leaves. Fed by a pipe, it runs one command per line without a prompt, as a script.

use crate::client;
use proctor_api::control::{Request, Response};
use rustyline::completion::Completer;
use rustyline::error::ReadlineError;
use rustyline::history::DefaultHistory;
use rustyline::{Context, Editor, Helper, Highlighter, Hinter, Validator};
use std::io::{BufRead, IsTerminal};
use std::path::{Path, PathBuf};

/// Runs each command of a line against `socket`; its exit status.
type Run<'a> = dyn Fn(Vec<String>) -> u8 + 'a;

pub fn run(socket: &Path, commands: Vec<String>, run_one: &Run<'_>) -> u8 {
    if !std::io::stdin().is_terminal() {
        let mut code = 0;
        for line in std::io::stdin().lock().lines() {
            let Ok(line) = line else {
                break;
            };
            match words(&line) {
                Some(Step::Quit) => break,
                Some(Step::Run(w)) => code = run_one(w),
                None => {}
            }
        }
        return code;
    }
    let mut editor: Editor<Names, DefaultHistory> = match Editor::new() {
        Ok(e) => e,
        Err(e) => {
            eprintln!("proctorctl: cannot open the terminal: {e}");
            return crate::EXIT_FAILURE;
        }
    };
    editor.set_helper(Some(Names {
        socket: socket.to_path_buf(),
        commands,
    }));
    let history = std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".proctorctl_history"));
    if let Some(h) = &history {
        let _ = editor.load_history(h);
    }
    println!(
        "proctor {}: `help` lists the commands, Tab completes, Ctrl-D leaves",
        env!("CARGO_PKG_VERSION")
    );
    loop {
        match editor.readline("proctor> ") {
            Ok(line) => {
                let _ = editor.add_history_entry(line.as_str());
                match words(&line) {
                    Some(Step::Quit) => break,
                    Some(Step::Run(w)) => {
                        run_one(w);
                    }
                    None => {}
                }
            }
            // Ctrl-C abandons the line, as in a shell.
            Err(ReadlineError::Interrupted) => {}
            Err(ReadlineError::Eof) => break,
            Err(e) => {
                eprintln!("proctorctl: {e}");
                break;
            }
        }
    }
    if let Some(h) = &history {
        let _ = editor.save_history(h);
    }
    0
}

enum Step {
    Quit,
    Run(Vec<String>),
}

/// A line's words, split as a POSIX shell would (a name with spaces can be quoted); `None` for
/// a blank line or one that cannot be split (said on stderr).
fn words(line: &str) -> Option<Step> {
    let Some(w) = shlex::split(line) else {
        eprintln!("proctorctl: unbalanced quotes: {line}");
        return None;
    };
    match w.first().map(String::as_str) {
        None => None,
        Some("quit" | "exit" | "EOF") => Some(Step::Quit),
        Some(_) => Some(Step::Run(w)),
    }
}

/// Completes the first word from the commands, the others from the names the daemon shows.
#[derive(Helper, Highlighter, Hinter, Validator)]
struct Names {
    socket: PathBuf,
    commands: Vec<String>,
}

impl Names {
    /// Every process as `status` shows it, each group as `group:*`, and `all`.
    fn processes(&self) -> Vec<String> {
        let infos = match client::call(&self.socket, Request::Status { names: Vec::new() }) {
            Ok(Response::Status(infos)) => infos,
            Ok(Response::Partial { response, .. }) => match *response {
                Response::Status(infos) => infos,
                _ => Vec::new(),
            },
            _ => Vec::new(),
        };
        let mut names: Vec<String> = infos.iter().map(|p| p.namespec.clone()).collect();
        let mut groups: Vec<String> = infos
            .iter()
            .filter(|p| p.namespec.contains(':'))
            .map(|p| format!("{}:*", p.group))
            .collect();
        groups.dedup();
        names.extend(groups);
        names.push("all".into());
        names
    }
}

impl Completer for Names {
    type Candidate = String;

    fn complete(
        &self,
        line: &str,
        pos: usize,
        _ctx: &Context<'_>,
    ) -> rustyline::Result<(usize, Vec<String>)> {
        let before = line.get(..pos).unwrap_or(line);
        let start = before.rfind(char::is_whitespace).map_or(0, |i| i + 1);
        let word = &before[start..];
        let first = before[..start].trim().is_empty();
        let pool = if first {
            self.commands.clone()
        } else {
            self.processes()
        };
        let mut found: Vec<String> = pool.into_iter().filter(|c| c.starts_with(word)).collect();
        found.sort();
        found.dedup();
        Ok((start, found))
    }
}
