//! Supervisor's XML-RPC request parser (`proctor_xmlrpc::parse_call`), which reads every POST to
//! `/RPC2` on the control socket. No panic; parsing is deterministic; the parameters of an
//! accepted call, written back as an answer, are UTF-8 holding only characters XML 1.0 allows.
#![no_main]
#![forbid(unsafe_code)]

use libfuzzer_sys::fuzz_target;
use proctor_xmlrpc::{parse_call, response, Value};

fn xml_char(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{d7ff}' | '\u{e000}'..='\u{fffd}' | '\u{10000}'..)
}

fuzz_target!(|data: &[u8]| {
    let first = parse_call(data);
    // Debug, not ==: a <double> may be NaN.
    assert_eq!(
        format!("{first:?}"),
        format!("{:?}", parse_call(data)),
        "parsed twice, differently"
    );
    if let Ok(call) = first {
        assert!(!call.method.is_empty(), "an empty method name accepted");
        let body = response(&Value::Array(call.params));
        let Ok(text) = std::str::from_utf8(&body) else {
            panic!("an answer that is not UTF-8");
        };
        if let Some(c) = text.chars().find(|c| !xml_char(*c)) {
            panic!("U+{:04X} written into an answer", u32::from(c));
        }
    }
});
