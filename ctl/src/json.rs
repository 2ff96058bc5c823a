//! `proctorctl --json`: the output programs read, and what `proctorctl -H` reads from each
//! host. A contract between versions: a newer proctorctl drives an older host by it, so a field
//! is only ever added; [`SCHEMA`] goes up only when one changes meaning or goes away, and a
//! reader refuses a schema newer than its own. docs/proctorctl.md, "JSON output", documents it.
//!
//! Every line on stdout is one JSON object with `schema` and `command`. A command's last line
//! has `exit` (its exit status) and `result` (its answer) or `error` (`kind`, `message`), and
//! `skipped` when the policy left some names out; the commands that stream (tail, maintail,
//! events, audit) print `text`, `event` or `record` lines before it.

use proctor_api::control::{ActionCode, ErrorKind};
use serde_json::{json, Map, Value};
use std::io::Write;

pub const SCHEMA: u64 = 1;

/// One line: `{"schema":1,"command":COMMAND,...fields}`.
pub fn line(command: &str, fields: Value) {
    let mut o = Map::new();
    o.insert("schema".into(), json!(SCHEMA));
    o.insert("command".into(), json!(command));
    if let Value::Object(f) = fields {
        o.extend(f);
    }
    print(&Value::Object(o));
}

/// One object as one line of stdout, whole, at once.
pub fn print(v: &Value) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{v}");
    let _ = out.flush();
}

/// The last line of a command that answered.
pub fn done(command: &str, exit: u8, result: Value, skipped: &[String]) {
    let mut f = json!({ "exit": exit, "result": result });
    if !skipped.is_empty() {
        f["skipped"] = json!(skipped);
    }
    line(command, f);
}

/// The last line of a command that failed before it had an answer.
pub fn failed(command: &str, exit: u8, kind: &str, message: &str) {
    line(
        command,
        json!({ "exit": exit, "error": { "kind": kind, "message": message } }),
    );
}

pub fn error_kind(k: ErrorKind) -> &'static str {
    match k {
        ErrorKind::BadName => "bad_name",
        ErrorKind::BadArguments => "bad_arguments",
        ErrorKind::PermissionDenied => "permission_denied",
        ErrorKind::CantReread => "cant_reread",
        ErrorKind::ShuttingDown => "shutting_down",
        ErrorKind::Failed => "failed",
        ErrorKind::Busy => "busy",
        ErrorKind::NoFile => "no_file",
    }
}

pub fn action_code(c: ActionCode) -> &'static str {
    match c {
        ActionCode::Success => "success",
        ActionCode::BadName => "bad_name",
        ActionCode::NoFile => "no_file",
        ActionCode::NotExecutable => "not_executable",
        ActionCode::Failed => "failed",
        ActionCode::AbnormalTermination => "abnormal_termination",
        ActionCode::SpawnError => "spawn_error",
        ActionCode::AlreadyStarted => "already_started",
        ActionCode::NotRunning => "not_running",
        ActionCode::ShuttingDown => "shutting_down",
        ActionCode::AlreadyAdded => "already_added",
        ActionCode::StillRunning => "still_running",
    }
}

/// Splits a stream into whole lines, across chunks that may cut one.
#[derive(Default)]
pub struct Lines {
    partial: Vec<u8>,
}

impl Lines {
    pub fn push(&mut self, chunk: &[u8]) -> Vec<String> {
        self.partial.extend_from_slice(chunk);
        let Some(end) = self.partial.iter().rposition(|&b| b == b'\n') else {
            return Vec::new();
        };
        let whole: Vec<u8> = self.partial.drain(..=end).collect();
        String::from_utf8_lossy(&whole)
            .lines()
            .map(str::to_owned)
            .collect()
    }

    /// What is left when the stream ends without a newline.
    pub fn rest(&mut self) -> Option<String> {
        let rest = std::mem::take(&mut self.partial);
        (!rest.is_empty()).then(|| String::from_utf8_lossy(&rest).into_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_cut_across_chunks_come_out_whole() {
        let mut l = Lines::default();
        assert_eq!(l.push(b"{\"a\":"), Vec::<String>::new());
        assert_eq!(l.push(b"1}\n{\"b\""), vec!["{\"a\":1}".to_owned()]);
        assert_eq!(l.push(b":2}\n"), vec!["{\"b\":2}".to_owned()]);
        assert_eq!(l.rest(), None);
        l.push(b"tail");
        assert_eq!(l.rest().as_deref(), Some("tail"));
    }
}
