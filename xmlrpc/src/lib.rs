//! Supervisor's XML-RPC dialect, both ways.
//!
//! Requests are read as supervisord reads them (`supervisor/xmlrpc.py`): `methodCall` with a
//! `methodName` and optional `params`; values of the eight XML-RPC types, untyped values as
//! strings, and nothing trimmed from a string (`supervisorctl fg` sends `line + "\n"`). Answers
//! are written byte for byte as Python's `xmlrpc.client.dumps` writes them, which is what
//! supervisord sends, except where that would be ill-formed XML: characters XML 1.0 cannot
//! carry (a log's ANSI escapes, NULs) are replaced with U+FFFD, and a carriage return is
//! written as `&#13;` so that it survives the client's parser.
//!
//! Hand-written on quick-xml's event reader rather than taken from an XML-RPC crate: those trim
//! strings, answer unknown methods with other fault codes, or wrap multicall results, and
//! supervisorctl, superlance and the Ansible module depend on Supervisor's exact behaviour.
#![forbid(unsafe_code)]

mod parse;
mod value;
mod write;

pub use parse::{parse_call, Call, ParseError, MAX_DEPTH, MAX_ELEMENTS};
pub use value::Value;
pub use write::{fault, response};
