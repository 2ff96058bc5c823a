//! The codec against Python's own `xmlrpc.client`, which is what supervisord and its clients
//! use: answers must be byte for byte what Python writes (where Python's output is well-formed),
//! and the calls Python writes must read back as the values it was given.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use proctor_xmlrpc::{fault, parse_call, response, Value};
use std::io::Write;
use std::process::{Command, Stdio};

/// Runs `script` under Python 3 with `input` on stdin; `None` (with the reason printed) where
/// there is no Python and this is not CI.
fn python(script: &str, input: &str) -> Option<String> {
    let py = std::env::var("PROCTOR_SUPERVISOR_PYTHON").unwrap_or_else(|_| "python3".into());
    let child = Command::new(&py)
        .args(["-c", script])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn();
    let mut child = match child {
        Ok(c) => c,
        Err(e) if std::env::var_os("CI").is_none() => {
            println!("SKIP: no {py} ({e}): the comparison with Python's xmlrpc.client needs it");
            return None;
        }
        Err(e) => panic!("{py}: {e} (CI needs Python 3)"),
    };
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{py} failed");
    Some(String::from_utf8(out.stdout).unwrap())
}

/// Python's `dumps` of each expression (a value, or a `Fault`), as a JSON list of strings.
fn python_dumps(exprs: &[&str]) -> Option<Vec<String>> {
    let script = r#"
import json, sys, xmlrpc.client as x
out = []
for e in json.load(sys.stdin):
    v = eval(e, {"Fault": x.Fault})
    out.append(x.dumps(v) if isinstance(v, x.Fault) else x.dumps((v,), methodresponse=True))
print(json.dumps(out))
"#;
    let input = serde_json::to_string(exprs).unwrap();
    python(script, &input).map(|s| serde_json::from_str(&s).unwrap())
}

#[test]
fn answers_are_byte_for_byte_what_python_writes() {
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("'3.0'", response(&Value::str("3.0"))),
        ("5", response(&Value::Int(5))),
        ("-2147483648", response(&Value::Int(-2147483648))),
        ("True", response(&Value::Bool(true))),
        ("False", response(&Value::Bool(false))),
        ("1.5", response(&Value::Double(1.5))),
        ("''", response(&Value::str(""))),
        (
            r#"'a & b < c > d \' " \t\n é ☃ 😀'"#,
            response(&Value::str("a & b < c > d ' \" \t\n é ☃ 😀")),
        ),
        ("[]", response(&Value::Array(vec![]))),
        (
            "[1, 'x', [True, []], {'k': 'v'}]",
            response(&Value::Array(vec![
                Value::Int(1),
                Value::str("x"),
                Value::Array(vec![Value::Bool(true), Value::Array(vec![])]),
                Value::record([("k", Value::str("v"))]),
            ])),
        ),
        (
            "{'name': 'web', 'group': 'web', 'pid': 0, 'inner': {'a&b': [1]}}",
            response(&Value::record([
                ("name", Value::str("web")),
                ("group", Value::str("web")),
                ("pid", Value::Int(0)),
                (
                    "inner",
                    Value::record([("a&b", Value::Array(vec![Value::Int(1)]))]),
                ),
            ])),
        ),
        ("{}", response(&Value::Struct(vec![]))),
        ("Fault(10, 'BAD_NAME: foo')", fault(10, "BAD_NAME: foo")),
        ("Fault(1, 'UNKNOWN_METHOD')", fault(1, "UNKNOWN_METHOD")),
        (
            "b'\\x00\\x01binary' * 20",
            response(&Value::Bytes(b"\x00\x01binary".repeat(20))),
        ),
    ];
    let exprs: Vec<&str> = cases.iter().map(|(e, _)| *e).collect();
    let Some(expected) = python_dumps(&exprs) else {
        return;
    };
    for ((expr, ours), theirs) in cases.iter().zip(expected) {
        assert_eq!(
            String::from_utf8_lossy(ours),
            theirs,
            "dumps({expr}) differs from Python's"
        );
    }
}

#[test]
fn what_python_would_write_ill_formed_reaches_python_intact_or_visibly_replaced() {
    // Python writes ESC and NUL raw (its own parser then refuses the answer) and a bare CR,
    // which its parser turns into LF. Ours must parse in Python, with CR kept and the
    // characters XML cannot carry replaced by U+FFFD.
    let text = "red \u{1b}[31mtext\u{1b}[0m\r\nnul \u{0} bell \u{7} tab\t";
    let body = response(&Value::str(text));
    let script = r#"
import sys, xmlrpc.client as x
(v,), _ = x.loads(sys.stdin.buffer.read())
sys.stdout.write(ascii(v))
"#;
    let Some(got) = python(script, std::str::from_utf8(&body).unwrap()) else {
        return;
    };
    assert_eq!(
        got,
        r"'red \ufffd[31mtext\ufffd[0m\r\nnul \ufffd bell \ufffd tab\t'"
    );
}

#[test]
fn calls_written_by_python_read_back_as_the_values_python_was_given() {
    let script = r#"
import sys, xmlrpc.client as x
calls = [
    ("supervisor.getAllProcessInfo", ()),
    ("supervisor.startProcess", ("web", True)),
    ("supervisor.sendProcessStdin", ("web", "line with spaces  \n")),
    ("supervisor.signalProcess", ("a & <b>", "HUP")),
    ("system.multicall", ([{"methodName": "supervisor.getPID", "params": []},
                           {"methodName": "supervisor.stopProcess", "params": ["x", False]}],)),
    ("t.types", (5, -7, 1.25, b"\x00bytes", "é☃😀", [], {})),
]
for name, params in calls:
    sys.stdout.write(x.dumps(params, methodname=name, allow_none=True))
    sys.stdout.write("\0")
"#;
    let Some(out) = python(script, "") else {
        return;
    };
    let bodies: Vec<&str> = out.split('\0').filter(|b| !b.is_empty()).collect();
    let s = Value::str;
    let expected = [
        ("supervisor.getAllProcessInfo", vec![]),
        ("supervisor.startProcess", vec![s("web"), Value::Bool(true)]),
        (
            "supervisor.sendProcessStdin",
            vec![s("web"), s("line with spaces  \n")],
        ),
        ("supervisor.signalProcess", vec![s("a & <b>"), s("HUP")]),
        (
            "system.multicall",
            vec![Value::Array(vec![
                Value::record([
                    ("methodName", s("supervisor.getPID")),
                    ("params", Value::Array(vec![])),
                ]),
                Value::record([
                    ("methodName", s("supervisor.stopProcess")),
                    ("params", Value::Array(vec![s("x"), Value::Bool(false)])),
                ]),
            ])],
        ),
        (
            "t.types",
            vec![
                Value::Int(5),
                Value::Int(-7),
                Value::Double(1.25),
                Value::Bytes(b"\x00bytes".to_vec()),
                s("é☃😀"),
                Value::Array(vec![]),
                Value::Struct(vec![]),
            ],
        ),
    ];
    assert_eq!(bodies.len(), expected.len());
    for (body, (method, params)) in bodies.iter().zip(expected) {
        let call = parse_call(body.as_bytes()).unwrap_or_else(|e| panic!("{e}: {body}"));
        assert_eq!(call.method, method);
        assert_eq!(call.params, params, "{body}");
    }
}
