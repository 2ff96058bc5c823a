//! An event listener's stdout as proctor reads it (`proctor_events::Listener`), whatever a
//! listener writes, in whatever pieces. No panic; what it holds stays bounded; UNKNOWN is for
//! good; the last state a step names is the listener's state.
#![no_main]
#![forbid(unsafe_code)]

use libfuzzer_sys::fuzz_target;
use proctor_events::listener::{MAX_LINE, MAX_RESULT};
use proctor_events::{Listener, ListenerState, Step};

fuzz_target!(|data: &[u8]| {
    let mut l = Listener::new();
    // 0xFF separates writes; an empty write is "an event was sent", to a READY listener.
    for piece in data.split(|b| *b == 0xff) {
        let before = l.state();
        let steps = if piece.is_empty() {
            if before != ListenerState::Ready {
                continue;
            }
            vec![l.sent()]
        } else {
            l.feed(piece)
        };
        assert!(l.held() <= MAX_LINE + MAX_RESULT, "holds {} bytes", l.held());
        if before == ListenerState::Unknown {
            assert!(steps.is_empty(), "UNKNOWN left: {steps:?}");
        }
        if let Some(Step::State(last)) = steps.iter().rev().find(|s| matches!(s, Step::State(_))) {
            assert_eq!(*last, l.state());
        }
    }
});
