//! An XML-RPC value.

/// One value of a call or an answer. Structs keep their members in order: Python's marshaller
/// writes a dict's keys in insertion order, and Supervisor's structs have a fixed one.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// `<int>`, `<i4>` or `<i8>`; written as `<int>` when it fits 32 bits, else as `<i8>`.
    Int(i64),
    Bool(bool),
    Str(String),
    Double(f64),
    /// `<dateTime.iso8601>`, as sent (`20261205T10:00:00`).
    DateTime(String),
    /// `<base64>`, decoded.
    Bytes(Vec<u8>),
    Array(Vec<Value>),
    Struct(Vec<(String, Value)>),
    /// `<nil/>`: a parameter left out.
    Nil,
}

impl Value {
    /// A struct from `(key, value)` pairs, in that order.
    pub fn record<K: Into<String>>(members: impl IntoIterator<Item = (K, Value)>) -> Value {
        Value::Struct(members.into_iter().map(|(k, v)| (k.into(), v)).collect())
    }

    pub fn str(s: impl Into<String>) -> Value {
        Value::Str(s.into())
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }

    /// A boolean argument as Python would take it: a boolean, or an int (0 is false).
    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Value::Bool(b) => Some(*b),
            Value::Int(i) => Some(*i != 0),
            _ => None,
        }
    }

    pub fn as_int(&self) -> Option<i64> {
        match self {
            Value::Int(i) => Some(*i),
            Value::Bool(b) => Some(i64::from(*b)),
            _ => None,
        }
    }

    /// A struct's member.
    pub fn get(&self, key: &str) -> Option<&Value> {
        match self {
            Value::Struct(m) => m.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }
}
