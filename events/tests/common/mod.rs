//! Supervisor's own Python code, run for the golden tests.

use serde_json::Value;
use std::io::Write;
use std::process::{Command, Stdio};

/// What `script`, run by the python with supervisor 4.3 (`PROCTOR_SUPERVISOR_PYTHON`) with
/// `input` on its stdin, prints, read as JSON. `None`, with a `SKIP:` line naming `what`,
/// without that python; CI (which sets it) may not skip.
pub fn supervisor_says(what: &str, script: &str, input: &str) -> Option<Value> {
    let Some(py) = std::env::var_os("PROCTOR_SUPERVISOR_PYTHON") else {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI sets PROCTOR_SUPERVISOR_PYTHON (.ci/run)"
        );
        println!("SKIP: the comparison with supervisord's {what} needs PROCTOR_SUPERVISOR_PYTHON");
        return None;
    };
    let mut child = Command::new(py)
        .args(["-c", script])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    Some(serde_json::from_slice(&out.stdout).unwrap())
}
