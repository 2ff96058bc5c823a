//! The listener protocol against supervisord 4.3's own code: each case's bytes are fed, write
//! by write, to supervisor's `PEventListenerDispatcher.handle_listener_state_change` (in
//! Python, with a stand-in process and the default result handler) and to proctor's
//! [`Listener`]; after every write the state, the results, the rejections and the "bad result
//! line" warnings must be the same.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::supervisor_says;
use proctor_events::{Listener, Step};
use serde_json::{json, Value};

/// `None` is "an event was sent" (supervisord sets the listener BUSY as it writes one).
const CASES: &[&[Option<&str>]] = &[
    // A READY split over two writes.
    &[Some("REA"), Some("DY\n")],
    // Two READYs in one write: the second is spurious.
    &[Some("READY\nREADY\n")],
    // A result and the next READY in one write.
    &[Some("READY\n"), None, Some("RESULT 2\nOKREADY\n")],
    // Garbage in each state.
    &[Some("hello!\n")],
    &[Some("READY\n"), Some("x")],
    &[Some("READY\n"), None, Some("RESULT x\n")],
    &[Some("READY\n"), None, Some("\n")],
    &[Some("junk!!"), Some("READY\n")],
    &[Some("READY\n"), None, Some("RESULT 2\nOK"), Some("garbage")],
    // A FAIL loop: each FAIL rejects the event, which is sent again.
    &[
        Some("READY\n"),
        None,
        Some("RESULT 4\nFAIL"),
        Some("READY\n"),
        None,
        Some("RESULT 4\nFAIL"),
    ],
    // An empty result is only looked at once more bytes come.
    &[Some("READY\n"), None, Some("RESULT 0\n"), Some("READY\n")],
    // Split everywhere.
    &[
        Some("READY\n"),
        None,
        Some("RES"),
        Some("ULT 2"),
        Some("\nO"),
        Some("K"),
        Some("READY\n"),
    ],
    &[Some("READY\r\n")],
    // The first seven bytes of the result line are not looked at; Python's int() reads the rest.
    &[Some("READY\n"), None, Some("XXXXXXX3\nFOO")],
    &[
        Some("READY\n"),
        None,
        Some("RESULT  1_0 \n0123456789READY\n"),
    ],
    // Only exactly OK is success.
    &[Some("READY\n"), None, Some("RESULT 3\nOK\n")],
    &[Some("READY\n"), None, Some("RESULT 2\nok")],
    // A result counted in bytes: a multi-byte character takes two.
    &[Some("READY\n"), None, Some("RESULT 4\nnaïve")],
];

const HARNESS: &str = r#"
import json, sys
from supervisor import dispatchers, events
from supervisor.states import EventListenerStates as S, getEventListenerStateDescription as name
warns, results, rejections = [], [], []
class Logger:
    def warn(self, m): warns.append(m)
    def debug(self, m): pass
    info = trace = blather = debug
    error = critical = warn
class O: pass
events.subscribe(events.EventRejectedEvent, lambda e: rejections.append(1))
def handler(event, result):
    results.append(result)
    return dispatchers.default_handler(event, result)
out = []
for case in json.load(sys.stdin):
    p = O(); p.config = O(); p.config.name = 'l'; p.config.options = O()
    p.config.options.logger = Logger()
    p.group = O(); p.group.config = O(); p.group.config.result_handler = handler
    p.listener_state = S.ACKNOWLEDGED; p.event = None
    d = dispatchers.PEventListenerDispatcher.__new__(dispatchers.PEventListenerDispatcher)
    d.process = p; d.state_buffer = b''; d.result = b''; d.resultlen = None; d.closed = False
    seen = []
    for chunk in case:
        del warns[:], results[:], rejections[:]
        if chunk is None:
            p.listener_state = S.BUSY; p.event = object()
        else:
            d.state_buffer += chunk.encode('utf-8')
            d.handle_listener_state_change()
        seen.append({"state": name(p.listener_state),
                     "results": [r.decode('utf-8', 'replace') for r in results],
                     "rejected": len(rejections),
                     "bad": [w for w in warns if 'bad result line' in w]})
    out.append(seen)
print(json.dumps(out))
"#;

fn supervisord() -> Option<Value> {
    let cases: Vec<Vec<Option<&str>>> = CASES.iter().map(|c| c.to_vec()).collect();
    supervisor_says(
        "dispatcher",
        HARNESS,
        &serde_json::to_string(&cases).unwrap(),
    )
}

fn proctor() -> Value {
    let cases: Vec<Value> = CASES
        .iter()
        .map(|case| {
            let mut l = Listener::new();
            let seen: Vec<Value> = case
                .iter()
                .map(|chunk| {
                    let steps = match chunk {
                        None => vec![l.sent()],
                        Some(bytes) => l.feed(bytes.as_bytes()),
                    };
                    let mut results = Vec::new();
                    let mut rejected = 0;
                    let mut bad = Vec::new();
                    for s in steps {
                        match s {
                            Step::Result { ok, body } => {
                                results.push(String::from_utf8_lossy(&body).into_owned());
                                rejected += usize::from(!ok);
                            }
                            Step::BadResultLine(line) => {
                                bad.push(format!("l: bad result line: '{line}'"));
                                rejected += 1;
                            }
                            Step::State(_) => {}
                        }
                    }
                    json!({"state": l.state().name(), "results": results, "rejected": rejected, "bad": bad})
                })
                .collect();
            Value::Array(seen)
        })
        .collect();
    Value::Array(cases)
}

#[test]
fn every_case_reads_as_supervisord_reads_it() {
    let Some(theirs) = supervisord() else {
        return;
    };
    let ours = proctor();
    for (i, case) in CASES.iter().enumerate() {
        assert_eq!(
            ours[i], theirs[i],
            "case {i} {case:?}: proctor (left), supervisord 4.3 (right)"
        );
    }
}

const EVENTS: &str = r#"
import json
from supervisor import events as E, process
from supervisor.states import ProcessStates as P
class O: pass
def proc(name, group, pid, backoff):
    p = O(); p.config = O(); p.config.name = name; p.group = O(); p.group.config = O()
    p.group.config.name = group; p.pid = pid; p.backoff = backoff
    return p
items = [
    E.ProcessStateStartingEvent(proc('web', 'site', 0, 2), P.BACKOFF),
    E.ProcessStateBackoffEvent(proc('web', 'site', 0, 1), P.STARTING),
    E.ProcessStateRunningEvent(proc('web', 'site', 42, 0), P.STARTING),
    E.ProcessStateStoppingEvent(proc('web', 'site', 42, 0), P.RUNNING),
    E.ProcessStateStoppedEvent(proc('web', 'site', 42, 0), P.STOPPING),
    E.ProcessStateExitedEvent(proc('web', 'site', 42, 0), P.RUNNING, expected=False),
    E.ProcessStateFatalEvent(proc('web', 'site', 0, 3), P.BACKOFF),
    E.ProcessStateUnknownEvent(proc('web', 'site', 0, 0), P.RUNNING),
    E.ProcessLogStdoutEvent(proc('web', 'site', 42, 0), 42, b'caf\xc3\xa9\n'),
    E.ProcessLogStderrEvent(proc('web', 'site', 42, 0), 42, b"it's \xff"),
    E.ProcessCommunicationStdoutEvent(proc('web', 'site', 42, 0), 42, b'<b>hi</b>'),
    E.RemoteCommunicationEvent('deploy', 'v1.2'),
    E.Tick5Event(1796500000, None),
    E.ProcessGroupAddedEvent('site'),
    E.ProcessGroupRemovedEvent('site'),
    E.SupervisorRunningEvent(),
]
pool = process.EventListenerPool.__new__(process.EventListenerPool)
pool.config = O(); pool.config.name = 'watch'; pool.config.options = O()
pool.config.options.identifier = 'test'
print(json.dumps([[E.getEventNameByType(e.__class__), e.payload(),
                   pool._eventEnvelope(e.__class__, 7, 3, e.payload())] for e in items]))
"#;

#[test]
fn payloads_and_envelopes_are_supervisords() {
    use proctor_events::event::{self, Extra, Kind};
    let Some(theirs) = supervisor_says("events", EVENTS, "") else {
        return;
    };
    let state = |from: &str, extra| event::process_state("web", "site", from, extra);
    let ours: Vec<(Kind, String)> = vec![
        (
            Kind::ProcessStateStarting,
            state("BACKOFF", Extra::Tries(2)),
        ),
        (
            Kind::ProcessStateBackoff,
            state("STARTING", Extra::Tries(1)),
        ),
        (Kind::ProcessStateRunning, state("STARTING", Extra::Pid(42))),
        (Kind::ProcessStateStopping, state("RUNNING", Extra::Pid(42))),
        (Kind::ProcessStateStopped, state("STOPPING", Extra::Pid(42))),
        (
            Kind::ProcessStateExited,
            state(
                "RUNNING",
                Extra::Exited {
                    expected: false,
                    pid: 42,
                },
            ),
        ),
        (Kind::ProcessStateFatal, state("BACKOFF", Extra::Nothing)),
        (Kind::ProcessStateUnknown, state("RUNNING", Extra::Nothing)),
        (
            Kind::ProcessLogStdout,
            event::process_log("web", "site", 42, "stdout", "café\n".as_bytes()),
        ),
        (
            Kind::ProcessLogStderr,
            event::process_log("web", "site", 42, "stderr", b"it's \xff"),
        ),
        (
            Kind::ProcessCommunicationStdout,
            event::process_communication("web", "site", 42, b"<b>hi</b>"),
        ),
        (
            Kind::RemoteCommunication,
            event::remote_communication("deploy", "v1.2"),
        ),
        (Kind::Tick5, event::tick(1_796_500_000)),
        (Kind::ProcessGroupAdded, event::process_group("site")),
        (Kind::ProcessGroupRemoved, event::process_group("site")),
        (Kind::SupervisorStateChangeRunning, String::new()),
    ];
    for (i, (kind, payload)) in ours.iter().enumerate() {
        let envelope = event::envelope("test", 7, "watch", 3, *kind, payload);
        assert_eq!(
            json!([kind.name(), payload, envelope]),
            theirs[i],
            "event {i}: proctor (left), supervisord 4.3 (right)"
        );
    }
}

const POOL: &str = r#"
import json, sys
from supervisor import process
class O: pass
class Logger:
    def __init__(self): self.lines = []
    def error(self, m): self.lines.append(m)
    def debug(self, m): pass
pool = process.EventListenerPool.__new__(process.EventListenerPool)
pool.config = O(); pool.config.name = 'watch'; pool.config.buffer_size = int(sys.stdin.read())
pool.config.options = O(); pool.config.options.logger = Logger()
pool.event_buffer = []; pool.serial = -1
events = {n: O() for n in 'abcd'}
for n, e in events.items(): e.name = n
steps = []
def state():
    steps.append([[e.name, e.serial, e.pool_serials['watch']] for e in pool.event_buffer])
for n in 'abc':
    pool._acceptEvent(events[n]); state()
popped = pool.event_buffer.pop(0); state()
pool._acceptEvent(events['d']); state()
pool._acceptEvent(popped, head=True); state()
print(json.dumps({"steps": steps, "log": pool.config.options.logger.lines}))
"#;

/// Overflow and rebuffering with `buffer_size` 1, 2 and 3, serials included.
#[test]
fn a_pool_queues_drops_and_rebuffers_as_supervisords() {
    for size in [1, 2, 3] {
        pool_case(size);
    }
}

fn pool_case(size: usize) {
    use proctor_events::event::Kind;
    use proctor_events::pool::{Event, Pool, Serial};
    use std::sync::Arc;
    let Some(theirs) = supervisor_says("pool", POOL, &size.to_string()) else {
        return;
    };

    let mut global = Serial::default();
    let mut pool = Pool::new("watch".into(), vec!["EVENT".into()], size);
    let mut made = |name: &str| {
        Arc::new(Event {
            kind: Kind::RemoteCommunication,
            payload: name.into(),
            serial: global.take(),
        })
    };
    let mut steps = Vec::new();
    let mut log = Vec::new();
    let state = |pool: &Pool, steps: &mut Vec<Value>| {
        steps.push(
            pool.iter()
                .map(|q| json!([q.event.payload, q.event.serial, q.pool_serial]))
                .collect(),
        );
    };
    for n in ["a", "b", "c"] {
        if let Some(d) = pool.accept(made(n)) {
            log.push(format!(
                "pool watch event buffer overflowed, discarding event {}",
                d.event.serial
            ));
        }
        state(&pool, &mut steps);
    }
    let popped = pool.pop().unwrap();
    state(&pool, &mut steps);
    if let Some(d) = pool.accept(made("d")) {
        log.push(format!(
            "pool watch event buffer overflowed, discarding event {}",
            d.event.serial
        ));
    }
    state(&pool, &mut steps);
    if let Some(d) = pool.rebuffer(popped) {
        log.push(format!(
            "pool watch event buffer overflowed, discarding event {}",
            d.event.serial
        ));
    }
    state(&pool, &mut steps);
    assert_eq!(
        json!({"steps": steps, "log": log}),
        theirs,
        "buffer_size = {size}: proctor (left), supervisord (right)"
    );
}
