//! A process's output read in capture mode (`proctor_events::capture::Capture`), whatever it
//! writes, in whatever pieces. No panic; what it holds back stays within a token's length;
//! once the output ends, every byte is accounted for: logged or captured, or part of a token.
#![no_main]
#![forbid(unsafe_code)]

use libfuzzer_sys::fuzz_target;
use proctor_events::capture::{Capture, Out, BEGIN, END};

fuzz_target!(|data: &[u8]| {
    // The first byte is capture_maxbytes; 0xFF separates writes.
    let Some((&maxbytes, rest)) = data.split_first() else {
        return;
    };
    let mut c = Capture::new(usize::from(maxbytes));
    let (mut out_bytes, mut tokens) = (0usize, 0usize);
    let mut count = |outs: Vec<Out>| {
        for o in outs {
            match o {
                Out::Log(b) | Out::Captured(b) => out_bytes += b.len(),
                Out::Communication(_) => tokens += 1,
            }
        }
    };
    let mut fed = 0;
    for piece in rest.split(|b| *b == 0xff) {
        fed += piece.len();
        count(c.feed(piece));
        assert!(c.held_back() <= BEGIN.len(), "holds back {}", c.held_back());
    }
    count(c.end());
    if maxbytes == 0 {
        assert_eq!(out_bytes, fed, "without capture every byte is logged");
    } else {
        // Each communication took a BEGIN and an END token; an open one took a BEGIN.
        let removed = fed - out_bytes;
        assert!(
            removed == tokens * (BEGIN.len() + END.len())
                || removed == tokens * (BEGIN.len() + END.len()) + BEGIN.len(),
            "{removed} bytes unaccounted for, {tokens} communications"
        );
    }
});
