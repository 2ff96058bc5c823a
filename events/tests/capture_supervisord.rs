//! Capture mode against supervisord 4.3's own `POutputDispatcher`: each case's writes go,
//! one by one, through its `record_output` (with a real `BoundIO` capture log of the case's
//! size, PROCESS_LOG events on) and through proctor's [`Capture`]; what reaches the log, the
//! PROCESS_LOG events and the PROCESS_COMMUNICATION events must be the same.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::supervisor_says;
use proctor_events::capture::{Capture, Out};
use serde_json::{json, Value};

/// (capture_maxbytes, writes).
const CASES: &[(usize, &[&str])] = &[
    (100, &["before <!--XSUPERVISOR:BEGIN-->hello<!--XSUPERVISOR:END--> after\n"]),
    (100, &["a <!--XSUPER", "VISOR:BEGIN-->in", "side<!--XSUPERVISOR:E", "ND-->out\n"]),
    // Two communications in one write, and text between them.
    (
        100,
        &["<!--XSUPERVISOR:BEGIN-->one<!--XSUPERVISOR:END-->mid<!--XSUPERVISOR:BEGIN-->two<!--XSUPERVISOR:END-->"],
    ),
    // Longer than capture_maxbytes: BoundIO keeps what it keeps.
    (8, &["<!--XSUPERVISOR:BEGIN-->abc", "defgh", "ijklmnop", "q<!--XSUPERVISOR:END-->x\n"]),
    // Longer writes than it holds: it drops as many bytes from the front as come in.
    (
        8,
        &[
            "<!--XSUPERVISOR:BEGIN-->",
            "abcdefghijklmnopqrstuvwxyz0123",
            "ABCDEFGHIJKLMNOPQRSTUVWXY",
            "<!--XSUPERVISOR:END-->\n",
        ],
    ),
    // Short writes that are only a token's prefix wait for more.
    (100, &["<", "!--", "x", "y\n"]),
    // An end token outside a communication is plain output.
    (100, &["<!--XSUPERVISOR:END--> plain\n"]),
    // An empty communication.
    (100, &["<!--XSUPERVISOR:BEGIN--><!--XSUPERVISOR:END-->\n"]),
    // No capture mode: tokens are plain output.
    (0, &["<!--XSUPERVISOR:BEGIN-->x<!--XSUPERVISOR:END-->\n"]),
];

const HARNESS: &str = r#"
import json, sys
from supervisor import events, loggers
from supervisor.dispatchers import POutputDispatcher
from supervisor.tests.base import DummyOptions, DummyPConfig, DummyProcess

out = []
for maxbytes, writes in json.loads(sys.stdin.read()):
    got = []
    events.clear()
    events.subscribe(events.ProcessLogEvent, lambda e: got.append(["log", e.data.decode("latin-1")]))
    events.subscribe(events.ProcessCommunicationEvent,
                     lambda e: got.append(["comm", e.data.decode("latin-1")]))
    options = DummyOptions()
    config = DummyPConfig(options, "p", "/bin/p", stdout_logfile="/tmp/unused",
                          stdout_capture_maxbytes=maxbytes, stdout_events_enabled=True)
    d = POutputDispatcher(DummyProcess(config), events.ProcessCommunicationStdoutEvent, 0)
    if maxbytes:
        d.capturelog = loggers.getLogger()
        loggers.handle_boundIO(d.capturelog, fmt="%(message)s", maxbytes=maxbytes)
    for w in writes:
        d.output_buffer += w.encode("latin-1")
        d.record_output()
    logged = "".join(x.decode("latin-1") for x in d.normallog.data)
    out.append({"log": logged, "events": got})
print(json.dumps(out))
"#;

fn proctor(maxbytes: usize, writes: &[&str]) -> Value {
    let mut c = Capture::new(maxbytes);
    let (mut log, mut events) = (String::new(), Vec::new());
    let text = |b: &[u8]| b.iter().map(|&c| c as char).collect::<String>();
    for w in writes {
        for o in c.feed(w.as_bytes()) {
            match o {
                Out::Log(b) => {
                    log.push_str(&text(&b));
                    events.push(json!(["log", text(&b)]));
                }
                Out::Captured(b) => events.push(json!(["log", text(&b)])),
                Out::Communication(b) => events.push(json!(["comm", text(&b)])),
            }
        }
    }
    json!({"log": log, "events": events})
}

#[test]
fn capture_mode_reads_output_as_supervisord_does() {
    let Some(theirs) = supervisor_says("capture mode", HARNESS, &json!(CASES).to_string()) else {
        return;
    };
    let theirs: Vec<Value> = serde_json::from_value(theirs).unwrap();
    assert_eq!(theirs.len(), CASES.len());
    for ((maxbytes, writes), t) in CASES.iter().zip(&theirs) {
        assert_eq!(
            &proctor(*maxbytes, writes),
            t,
            "capture_maxbytes={maxbytes}, writes {writes:?}: proctor (left), supervisord (right)"
        );
    }
}
