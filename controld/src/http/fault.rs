//! Supervisor's faults: its codes (`supervisor/xmlrpc.py`) and its `NAME: detail` strings.

use proctor_api::control::ActionCode;
use proctor_xmlrpc::Value;

/// Supervisor's fault codes (`supervisor/xmlrpc.py`).
pub mod code {
    pub const UNKNOWN_METHOD: i64 = 1;
    pub const INCORRECT_PARAMETERS: i64 = 2;
    pub const BAD_ARGUMENTS: i64 = 3;
    pub const SIGNATURE_UNSUPPORTED: i64 = 4;
    pub const SHUTDOWN_STATE: i64 = 6;
    pub const BAD_NAME: i64 = 10;
    pub const BAD_SIGNAL: i64 = 11;
    pub const NO_FILE: i64 = 20;
    pub const NOT_EXECUTABLE: i64 = 21;
    pub const FAILED: i64 = 30;
    pub const ABNORMAL_TERMINATION: i64 = 40;
    pub const SPAWN_ERROR: i64 = 50;
    pub const ALREADY_STARTED: i64 = 60;
    pub const NOT_RUNNING: i64 = 70;
    pub const SUCCESS: i64 = 80;
    pub const ALREADY_ADDED: i64 = 90;
    pub const STILL_RUNNING: i64 = 91;
    pub const CANT_REREAD: i64 = 92;
}

/// Supervisor's code for what became of one process's start, stop or signal.
pub fn code_of(c: ActionCode) -> i64 {
    match c {
        ActionCode::Success => code::SUCCESS,
        ActionCode::BadName => code::BAD_NAME,
        ActionCode::NoFile => code::NO_FILE,
        ActionCode::NotExecutable => code::NOT_EXECUTABLE,
        ActionCode::Failed => code::FAILED,
        ActionCode::AbnormalTermination => code::ABNORMAL_TERMINATION,
        ActionCode::SpawnError => code::SPAWN_ERROR,
        ActionCode::AlreadyStarted => code::ALREADY_STARTED,
        ActionCode::NotRunning => code::NOT_RUNNING,
        ActionCode::ShuttingDown => code::SHUTDOWN_STATE,
        ActionCode::AlreadyAdded => code::ALREADY_ADDED,
        ActionCode::StillRunning => code::STILL_RUNNING,
    }
}

/// A fault as Supervisor raises it: `RPCError(code, detail)`, shown as `NAME: detail`.
#[derive(Debug)]
pub struct Fault {
    pub code: i64,
    detail: Option<String>,
    /// A refusal by the policy: startProcess answers it with HTTP 403 (see `rpc::call`).
    pub denied: bool,
}

impl Fault {
    pub fn new(code: i64, detail: impl Into<String>) -> Fault {
        Fault {
            code,
            detail: Some(detail.into()),
            denied: false,
        }
    }

    pub fn bare(code: i64) -> Fault {
        Fault {
            code,
            detail: None,
            denied: false,
        }
    }

    /// The policy's refusal, as FAILED with its reason.
    pub fn denied(message: String) -> Fault {
        Fault {
            denied: true,
            ..Fault::new(code::FAILED, message)
        }
    }

    /// The refusal's own words, for a denied call answered with HTTP 403.
    pub fn detail(&self) -> &str {
        self.detail.as_deref().unwrap_or_default()
    }

    pub fn text(&self) -> String {
        let name = match self.code {
            code::UNKNOWN_METHOD => "UNKNOWN_METHOD",
            code::INCORRECT_PARAMETERS => "INCORRECT_PARAMETERS",
            code::BAD_ARGUMENTS => "BAD_ARGUMENTS",
            code::SIGNATURE_UNSUPPORTED => "SIGNATURE_UNSUPPORTED",
            code::SHUTDOWN_STATE => "SHUTDOWN_STATE",
            code::BAD_NAME => "BAD_NAME",
            code::BAD_SIGNAL => "BAD_SIGNAL",
            code::NO_FILE => "NO_FILE",
            code::NOT_EXECUTABLE => "NOT_EXECUTABLE",
            code::ABNORMAL_TERMINATION => "ABNORMAL_TERMINATION",
            code::SPAWN_ERROR => "SPAWN_ERROR",
            code::ALREADY_STARTED => "ALREADY_STARTED",
            code::NOT_RUNNING => "NOT_RUNNING",
            code::SUCCESS => "SUCCESS",
            code::ALREADY_ADDED => "ALREADY_ADDED",
            code::STILL_RUNNING => "STILL_RUNNING",
            code::CANT_REREAD => "CANT_REREAD",
            _ => "FAILED",
        };
        match &self.detail {
            Some(d) => format!("{name}: {d}"),
            None => name.to_owned(),
        }
    }

    pub fn value(&self) -> Value {
        Value::record([
            ("faultCode", Value::Int(self.code)),
            ("faultString", Value::Str(self.text())),
        ])
    }
}
