//! The policy file parser (TOML). No panic; parsing is deterministic (a refused file is refused
//! again with the same error, an accepted one accepted again and deciding the same); an error
//! names the file and a line of it; decisions for fixed callers, actions and processes do not
//! panic, root is always allowed, and a verdict names what decided it.
#![no_main]
#![forbid(unsafe_code)]

use libfuzzer_sys::fuzz_target;
use proctor_policy::{Action, Peer, Policy, Target};
use std::path::Path;
use std::sync::OnceLock;

const FILE: &str = "/etc/proctor/policy.toml";

const ACTIONS: [&str; 13] = [
    "status",
    "start",
    "stop",
    "restart",
    "signal",
    "tail",
    "pid",
    "avail",
    "reread",
    "update",
    "shutdown",
    "audit",
    "reload-policy",
];

fn peers() -> &'static [Peer] {
    static PEERS: OnceLock<Vec<Peer>> = OnceLock::new();
    PEERS.get_or_init(|| {
        vec![
            Peer::lookup(0),
            Peer::lookup(1),     // daemon
            Peer::lookup(65534), // nobody
            // a uid without an account, and one claiming root's group
            Peer {
                uid: 4_000_000,
                name: "4000000".into(),
                gids: vec![],
            },
            Peer {
                uid: 4_000_001,
                name: "4000001".into(),
                gids: vec![0, 1, 65534],
            },
        ]
    })
}

const TARGETS: [Target<'static>; 4] = [
    Target {
        namespec: "web:web_00",
        group: "web",
        name: "web_00",
        program: "web",
    },
    Target {
        namespec: "nginx",
        group: "nginx",
        name: "nginx",
        program: "nginx",
    },
    Target {
        namespec: "backend:worker_1",
        group: "backend",
        name: "worker_1",
        program: "worker",
    },
    Target {
        namespec: "[*]?",
        group: "",
        name: "",
        program: "\\",
    },
];

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let file = Path::new(FILE);
    let first = Policy::parse(file, &text);
    let second = Policy::parse(file, &text);
    let (p1, p2) = match (first, second) {
        (Err(a), Err(b)) => {
            assert_eq!(a, b, "refused twice, differently");
            let shown = a.to_string();
            assert!(
                shown.starts_with(FILE),
                "error does not name the file: {shown}"
            );
            let lines = text.matches('\n').count() + 1;
            assert!(
                a.line as usize <= lines,
                "error at line {} of a {lines}-line file: {shown}",
                a.line
            );
            return;
        }
        (Ok(p1), Ok(p2)) => (p1, p2),
        (Ok(_), Err(e)) => panic!("accepted, then refused: {e}"),
        (Err(e), Ok(_)) => panic!("refused ({e}), then accepted"),
    };
    for peer in peers() {
        for name in ACTIONS {
            let Some(action) = Action::parse(name) else {
                panic!("action {name} does not parse");
            };
            let targets: Vec<Option<&Target<'_>>> = std::iter::once(None)
                .chain(TARGETS.iter().map(Some))
                .collect();
            for target in targets {
                let v = p1.decide(peer, action, target);
                assert_eq!(
                    v,
                    p2.decide(peer, action, target),
                    "two parses decide differently"
                );
                if peer.uid == 0 {
                    assert!(v.allow && v.rule == "root", "root refused: {v:?}");
                } else if v.allow {
                    assert!(
                        v.rule.starts_with(&format!("{FILE}:")),
                        "allowed by no rule of the file: {v:?}"
                    );
                } else {
                    assert_eq!(v.rule, "default deny");
                    let _ = p1.denial(peer, action, "web");
                }
            }
        }
    }
});
