//! `proctord --check`: what a config would run, so that an admin moving from Supervisor can
//! compare: every process with its account and log destinations, as lines for people or as JSON
//! for tools. The JSON is written here by hand (strings, numbers, booleans, arrays, objects):
//! proctord links no JSON library, and the end-to-end test parses the output with serde_json.

use proctor_config::{Config, LogConfig, LogTarget};
use std::fmt::Write;
use std::path::Path;

/// One process as `--check` shows it.
struct Row {
    namespec: String,
    program: String,
    user: String,
    stdout: String,
    stderr: String,
    command: Vec<String>,
    autostart: bool,
}

fn destination(log: &LogConfig) -> String {
    match &log.target {
        LogTarget::File(p) | LogTarget::Stream(p) => p.display().to_string(),
        LogTarget::Discard if log.syslog => "syslog".into(),
        LogTarget::Discard => "NONE".into(),
        LogTarget::Merged => "stdout".into(),
    }
}

/// `runs_as`: the account of programs without `user=` (proctord's own, in user mode).
fn rows(config: &Config, runs_as: &str) -> Vec<Row> {
    let mut rows: Vec<Row> = config
        .programs
        .iter()
        .flat_map(|p| {
            p.processes.iter().map(move |pr| Row {
                namespec: format!("{}:{}", p.group, pr.name),
                program: p.name.clone(),
                user: p.user.clone().unwrap_or_else(|| runs_as.to_owned()),
                stdout: destination(&pr.stdout),
                stderr: destination(&pr.stderr),
                command: pr.argv.clone(),
                autostart: p.autostart,
            })
        })
        .collect();
    rows.sort_by(|a, b| a.namespec.cmp(&b.namespec));
    rows
}

fn summary(path: &Path, config: &Config) -> String {
    let processes: usize = config.programs.iter().map(|p| p.processes.len()).sum();
    format!(
        "{}: OK: {} programs, {} processes, {} groups",
        path.display(),
        config.programs.len(),
        processes,
        config.groups.len()
    )
}

/// The summary line, then a line per process: `group:name  user=U  stdout=D  stderr=D`.
pub fn text(path: &Path, config: &Config, runs_as: &str) -> String {
    let rows = rows(config, runs_as);
    let width = rows.iter().map(|r| r.namespec.len()).max().unwrap_or(0);
    let mut out = summary(path, config);
    for r in rows {
        let _ = write!(
            out,
            "\n{:width$}  user={}  stdout={}  stderr={}",
            r.namespec, r.user, r.stdout, r.stderr
        );
    }
    out
}

/// A JSON string literal.
fn string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if u32::from(c) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn strings(v: &[String]) -> String {
    let items: Vec<String> = v.iter().map(|s| string(s)).collect();
    format!("[{}]", items.join(","))
}

/// `{"file", "ok", "programs", "processes": [...], "groups", "warnings": [...]}`.
pub fn json(path: &Path, config: &Config, runs_as: &str, warnings: &[String]) -> String {
    let processes: Vec<String> = rows(config, runs_as)
        .into_iter()
        .map(|r| {
            format!(
                "{{\"name\":{},\"program\":{},\"user\":{},\"stdout\":{},\"stderr\":{},\"command\":{},\"autostart\":{}}}",
                string(&r.namespec),
                string(&r.program),
                string(&r.user),
                string(&r.stdout),
                string(&r.stderr),
                strings(&r.command),
                r.autostart
            )
        })
        .collect();
    let groups: Vec<String> = config.groups.iter().map(|g| g.name.clone()).collect();
    format!(
        "{{\"file\":{},\"ok\":true,\"programs\":{},\"processes\":[{}],\"groups\":{},\"warnings\":{}}}",
        string(&path.display().to_string()),
        config.programs.len(),
        processes.join(","),
        strings(&groups),
        strings(warnings)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_are_escaped() {
        assert_eq!(string("a\"b\\c\nd\u{1}é"), "\"a\\\"b\\\\c\\nd\\u0001é\"");
        assert_eq!(strings(&[]), "[]");
        assert_eq!(strings(&["x".into(), "y".into()]), "[\"x\",\"y\"]");
    }
}
