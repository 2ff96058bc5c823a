//! A `methodCall`, read as supervisord reads it.

use crate::value::Value;
use base64::Engine;
use quick_xml::events::Event;
use quick_xml::Reader;
use std::fmt;

/// How deep elements may nest. A call is four levels (`methodCall`, `params`, `param`,
/// `value`) and each array or struct inside a value adds two or three; multicall, the deepest
/// call a client makes, needs eleven. Bounds the recursion that reads values.
pub const MAX_DEPTH: usize = 32;

/// How many elements a call may hold. The tree costs tens of bytes an element, many times the
/// body's size for a body of empty elements; this bounds it at a few MiB. A multicall of 400
/// calls, more than any stock client sends, is about 4,000.
pub const MAX_ELEMENTS: usize = 65_536;

/// A decoded call.
#[derive(Debug, Clone, PartialEq)]
pub struct Call {
    pub method: String,
    pub params: Vec<Value>,
}

/// Why a request body is not a call supervisord would take (it answers HTTP 400).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError(pub String);

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ParseError {}

fn err<T>(msg: impl Into<String>) -> Result<T, ParseError> {
    Err(ParseError(msg.into()))
}

/// Parses a request body. Anything but UTF-8 well-formed XML holding one `methodCall` with a
/// non-empty `methodName` is refused; so is a DOCTYPE (no entity of a client's is expanded).
/// As in supervisord, `params` may be left out.
pub fn parse_call(body: &[u8]) -> Result<Call, ParseError> {
    let Ok(text) = std::str::from_utf8(body) else {
        return err("the request is not UTF-8");
    };
    let root = tree(text)?;
    if root.name != "methodCall" {
        return err(format!("<{}> where <methodCall> was expected", root.name));
    }
    let method = match root.child("methodName") {
        Some(m) => m.text(),
        None => return err("no <methodName>"),
    };
    if method.is_empty() {
        return err("an empty <methodName>");
    }
    let mut params = Vec::new();
    if let Some(p) = root.child("params") {
        for param in p.elements() {
            if param.name != "param" {
                return err(format!("<{}> inside <params>", param.name));
            }
            match param.child("value") {
                Some(v) => params.push(value(v)?),
                None => return err("a <param> without a <value>"),
            }
        }
    }
    Ok(Call { method, params })
}

/// An element and what it holds, text merged.
struct Elem {
    name: String,
    children: Vec<Node>,
}

enum Node {
    Elem(Elem),
    Text(String),
}

impl Elem {
    fn elements(&self) -> impl Iterator<Item = &Elem> {
        self.children.iter().filter_map(|n| match n {
            Node::Elem(e) => Some(e),
            Node::Text(_) => None,
        })
    }

    fn child(&self, name: &str) -> Option<&Elem> {
        self.elements().find(|e| e.name == name)
    }

    /// The element's own text, without its children's.
    fn text(&self) -> String {
        self.children
            .iter()
            .filter_map(|n| match n {
                Node::Text(t) => Some(t.as_str()),
                Node::Elem(_) => None,
            })
            .collect()
    }

    fn push_text(&mut self, s: &str) {
        if let Some(Node::Text(t)) = self.children.last_mut() {
            t.push_str(s);
        } else {
            self.children.push(Node::Text(s.to_owned()));
        }
    }
}

/// The document's root element, with every reference resolved.
fn tree(text: &str) -> Result<Elem, ParseError> {
    let mut reader = Reader::from_str(text);
    let mut stack: Vec<Elem> = Vec::new();
    let mut root: Option<Elem> = None;
    let mut elements = 0usize;
    loop {
        let event = match reader.read_event() {
            Ok(e) => e,
            Err(e) => {
                return err(format!(
                    "not well-formed XML at byte {}: {e}",
                    reader.error_position()
                ))
            }
        };
        if matches!(event, Event::Start(_) | Event::Empty(_)) {
            elements += 1;
            if elements > MAX_ELEMENTS {
                return err(format!("more than {MAX_ELEMENTS} elements"));
            }
        }
        match event {
            Event::Decl(d) => {
                if let Some(Ok(enc)) = d.encoding() {
                    if !enc.eq_ignore_ascii_case("utf-8") {
                        return err(format!("encoding {enc:?}: only UTF-8 is read"));
                    }
                }
            }
            Event::DocType(_) => return err("a DOCTYPE: refused"),
            Event::PI(_) | Event::Comment(_) => {}
            Event::Start(s) => {
                if root.is_some() {
                    return err("content after the root element");
                }
                if stack.len() >= MAX_DEPTH {
                    return err(format!("elements nested deeper than {MAX_DEPTH}"));
                }
                stack.push(Elem {
                    name: s.name().as_ref().to_owned(),
                    children: Vec::new(),
                });
            }
            Event::Empty(s) => {
                let e = Elem {
                    name: s.name().as_ref().to_owned(),
                    children: Vec::new(),
                };
                match stack.last_mut() {
                    Some(parent) => parent.children.push(Node::Elem(e)),
                    None if root.is_none() => root = Some(e),
                    None => return err("content after the root element"),
                }
            }
            Event::End(_) => {
                // The reader has checked that the name matches.
                let Some(done) = stack.pop() else {
                    return err("an end tag without a start");
                };
                match stack.last_mut() {
                    Some(parent) => parent.children.push(Node::Elem(done)),
                    None => root = Some(done),
                }
            }
            Event::Text(t) => text_into(&mut stack, &t.xml10_content())?,
            Event::CData(c) => text_into(&mut stack, &c.xml10_content())?,
            Event::GeneralRef(r) => {
                let resolved = match r.resolve_char_ref() {
                    Ok(Some(c)) => c.to_string(),
                    Ok(None) => {
                        let name = r.xml10_content();
                        match quick_xml::escape::resolve_xml_entity(&name) {
                            Some(s) => s.to_owned(),
                            None => return err(format!("an unknown entity &{name};")),
                        }
                    }
                    Err(e) => return err(format!("a bad character reference: {e}")),
                };
                text_into(&mut stack, &resolved)?;
            }
            Event::Eof => break,
        }
    }
    if !stack.is_empty() {
        return err("the document ends inside an element");
    }
    match root {
        Some(r) => Ok(r),
        None => err("no element"),
    }
}

/// Text goes to the open element; outside the root only whitespace may stand.
fn text_into(stack: &mut [Elem], s: &str) -> Result<(), ParseError> {
    match stack.last_mut() {
        Some(e) => {
            e.push_text(s);
            Ok(())
        }
        None if s.trim().is_empty() => Ok(()),
        None => err("text outside the root element"),
    }
}

/// A `<value>`: its one typed child, or its text as a string. Recursive, as deep as the
/// elements nest: at most [`MAX_DEPTH`].
fn value(v: &Elem) -> Result<Value, ParseError> {
    let mut typed = v.elements();
    let Some(t) = typed.next() else {
        return Ok(Value::Str(v.text()));
    };
    if typed.next().is_some() {
        return err("a <value> holding more than one element");
    }
    let text = t.text();
    let number = |what: &str| err(format!("<{}> holding {text:?}: not {what}", t.name));
    Ok(match t.name.as_str() {
        "int" | "i4" | "i8" => match text.trim().parse::<i64>() {
            Ok(i) => Value::Int(i),
            Err(_) => return number("an integer"),
        },
        // As supervisord: "1" is true, anything else false.
        "boolean" => Value::Bool(text == "1"),
        "string" => Value::Str(text),
        "double" => match text.trim().parse::<f64>() {
            Ok(d) => Value::Double(d),
            Err(_) => return number("a number"),
        },
        "dateTime.iso8601" => Value::DateTime(text.trim().to_owned()),
        "base64" => {
            let compact: String = text.chars().filter(|c| !c.is_ascii_whitespace()).collect();
            match base64::engine::general_purpose::STANDARD.decode(compact) {
                Ok(b) => Value::Bytes(b),
                Err(e) => return err(format!("<base64> that does not decode: {e}")),
            }
        }
        "nil" => Value::Nil,
        "array" => {
            let Some(data) = t.child("data") else {
                return err("an <array> without <data>");
            };
            let mut items = Vec::new();
            for item in data.elements() {
                if item.name != "value" {
                    return err(format!("<{}> inside <data>", item.name));
                }
                items.push(value(item)?);
            }
            Value::Array(items)
        }
        "struct" => {
            let mut members = Vec::new();
            for m in t.elements() {
                if m.name != "member" {
                    return err(format!("<{}> inside <struct>", m.name));
                }
                let (Some(name), Some(val)) = (m.child("name"), m.child("value")) else {
                    return err("a <member> without <name> or <value>");
                };
                members.push((name.text(), value(val)?));
            }
            Value::Struct(members)
        }
        other => return err(format!("a value of unknown type <{other}>")),
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    fn call(body: &str) -> Result<Call, ParseError> {
        parse_call(body.as_bytes())
    }

    #[test]
    fn params_may_be_left_out_and_untyped_values_are_strings_kept_whole() {
        let c = call("<methodCall><methodName>supervisor.getPID</methodName></methodCall>");
        assert_eq!(c.unwrap().params, vec![]);
        let c = call(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?><methodCall><methodName>m</methodName>\
             <params><param><value>  two spaces  </value></param>\
             <param><value/></param><param><value><i8>4294967296</i8></value></param>\
             <param><value><string>&#x41;&amp;&#66;<![CDATA[<c>]]></string></value></param>\
             </params></methodCall>",
        )
        .unwrap();
        assert_eq!(
            c.params,
            vec![
                Value::str("  two spaces  "),
                Value::str(""),
                Value::Int(1 << 32),
                Value::str("A&B<c>"),
            ]
        );
    }

    #[test]
    fn what_supervisord_refuses_is_refused_with_a_reason() {
        let refused = [
            ("", "no element"),
            ("<methodCall>", "ends inside"),
            ("<methodCall></methodCall>", "no <methodName>"),
            (
                "<methodCall><methodName></methodName></methodCall>",
                "empty <methodName>",
            ),
            ("<methodResponse/>", "<methodResponse> where"),
            ("<!DOCTYPE x [<!ENTITY a \"b\">]><methodCall/>", "DOCTYPE"),
            (
                "<methodCall><methodName>&a;</methodName></methodCall>",
                "unknown entity",
            ),
            (
                "<methodCall><methodName>m</methodName><params><param><value><int>x</int>\
                 </value></param></params></methodCall>",
                "not an integer",
            ),
            (
                "<methodCall><methodName>m</methodName><params><param><value><blob/>\
                 </value></param></params></methodCall>",
                "unknown type <blob>",
            ),
            (
                "<methodCall><methodName>m</methodName></methodCall><x/>",
                "after the root",
            ),
            (
                "<?xml version=\"1.0\" encoding=\"latin-1\"?><methodCall/>",
                "only UTF-8",
            ),
            ("<a></b>", "not well-formed"),
        ];
        for (body, why) in refused {
            let e = call(body).expect_err(body);
            assert!(e.0.contains(why), "{body}: {e} (expected {why:?})");
        }
        assert!(parse_call(b"<methodCall>\xff</methodCall>").is_err());
    }

    #[test]
    fn nesting_is_bounded() {
        let deep = |n: usize| {
            format!(
                "<methodCall><methodName>m</methodName><params><param>{}1{}</param></params></methodCall>",
                "<value><array><data>".repeat(n),
                "</data></array></value>".repeat(n)
            )
        };
        assert!(call(&deep(8)).is_ok());
        let e = call(&deep(100_000)).expect_err("deep");
        assert!(e.0.contains("nested deeper"), "{e}");
    }

    #[test]
    fn the_number_of_elements_is_bounded() {
        let many = |n: usize| {
            format!(
                "<methodCall><methodName>m</methodName><params>{}</params></methodCall>",
                "<param><value><nil/></value></param>".repeat(n)
            )
        };
        assert_eq!(call(&many(1000)).map(|c| c.params.len()), Ok(1000));
        let e = call(&many(MAX_ELEMENTS)).expect_err("too many");
        assert!(e.0.contains("more than 65536 elements"), "{e}");
    }
}
