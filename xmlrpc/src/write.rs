//! Answers, written as Python's `xmlrpc.client.dumps(..., methodresponse=True)` writes them.

use crate::value::Value;
use base64::Engine;
use std::fmt::Write;

const PROLOGUE: &str = "<?xml version='1.0'?>\n";

/// A successful answer carrying `v`.
pub fn response(v: &Value) -> Vec<u8> {
    let mut out = String::from(PROLOGUE);
    out.push_str("<methodResponse>\n<params>\n<param>\n");
    dump(v, &mut out);
    out.push_str("</param>\n</params>\n</methodResponse>\n");
    out.into_bytes()
}

/// A fault: Supervisor's `code` and its `NAME: detail` text.
pub fn fault(code: i64, text: &str) -> Vec<u8> {
    let mut out = String::from(PROLOGUE);
    out.push_str("<methodResponse>\n<fault>\n");
    dump(
        &Value::record([
            ("faultCode", Value::Int(code)),
            ("faultString", Value::str(text)),
        ]),
        &mut out,
    );
    out.push_str("</fault>\n</methodResponse>\n");
    out.into_bytes()
}

fn dump(v: &Value, out: &mut String) {
    match v {
        // Python refuses ints past 32 bits; its client reads <i8>, which supervisord cannot
        // send (it answers HTTP 500 instead, for a log offset past 2 GiB).
        Value::Int(i) if i32::try_from(*i).is_ok() => {
            let _ = writeln!(out, "<value><int>{i}</int></value>");
        }
        Value::Int(i) => {
            let _ = writeln!(out, "<value><i8>{i}</i8></value>");
        }
        Value::Bool(b) => {
            let _ = writeln!(out, "<value><boolean>{}</boolean></value>", u8::from(*b));
        }
        Value::Str(s) => {
            out.push_str("<value><string>");
            escape(s, out);
            out.push_str("</string></value>\n");
        }
        Value::Double(d) => {
            let _ = writeln!(out, "<value><double>{d:?}</double></value>");
        }
        Value::DateTime(s) => {
            out.push_str("<value><dateTime.iso8601>");
            escape(s, out);
            out.push_str("</dateTime.iso8601></value>\n");
        }
        Value::Bytes(b) => {
            // base64.encodebytes: lines of 76 characters, each ending in a newline.
            out.push_str("<value><base64>\n");
            let encoded = base64::engine::general_purpose::STANDARD.encode(b);
            for line in encoded.as_bytes().chunks(76) {
                out.push_str(&String::from_utf8_lossy(line));
                out.push('\n');
            }
            out.push_str("</base64></value>\n");
        }
        Value::Array(items) => {
            out.push_str("<value><array><data>\n");
            for item in items {
                dump(item, out);
            }
            out.push_str("</data></array></value>\n");
        }
        Value::Struct(members) => {
            out.push_str("<value><struct>\n");
            for (k, v) in members {
                out.push_str("<member>\n<name>");
                escape(k, out);
                out.push_str("</name>\n");
                dump(v, out);
                out.push_str("</member>\n");
            }
            out.push_str("</struct></value>\n");
        }
        // As Python's dump_nil: no newline.
        Value::Nil => out.push_str("<value><nil/></value>"),
    }
}

/// Python's escaping (`&`, `<`, `>`), plus what Python leaves ill-formed: a character XML 1.0
/// cannot carry becomes U+FFFD, and a carriage return `&#13;`, which the client's parser
/// would otherwise turn into a newline.
fn escape(s: &str, out: &mut String) {
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '\r' => out.push_str("&#13;"),
            '\t' | '\n' => out.push(c),
            '\u{0}'..='\u{1f}' | '\u{fffe}' | '\u{ffff}' => out.push('\u{fffd}'),
            // Surrogates cannot occur in a Rust string; everything else XML 1.0 allows.
            _ => out.push(c),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn ints_past_32_bits_are_i8_and_every_character_written_is_one_xml_allows() {
        let body = String::from_utf8(response(&Value::Array(vec![
            Value::Int(i64::from(i32::MAX) + 1),
            Value::str("\u{0}\u{8}\u{b}\u{c}\u{1f}\u{7f}\u{fffe}\u{ffff}\u{10000}\r"),
        ])))
        .unwrap_or_default();
        assert!(
            body.contains("<value><i8>2147483648</i8></value>"),
            "{body}"
        );
        assert!(
            body.contains("<string>\u{fffd}\u{fffd}\u{fffd}\u{fffd}\u{fffd}\u{7f}\u{fffd}\u{fffd}\u{10000}&#13;</string>"),
            "{body}"
        );
    }
}
