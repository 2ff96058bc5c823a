//! The signals a service may be sent through proctor: an allow-list, so that an order can never
//! carry an arbitrary number (no real-time signals, nothing that makes a service dump core on
//! request). `stopsignal=` takes its names from here too.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum AllowedSignal {
    Hup,
    Int,
    Quit,
    Kill,
    Usr1,
    Usr2,
    Term,
    Cont,
    Stop,
    Tstp,
    Alrm,
    Winch,
}

/// (signal, name without SIG, Linux number). The numbers are the generic Linux ones, identical
/// on x86-64 and aarch64.
const TABLE: [(AllowedSignal, &str, i32); 12] = [
    (AllowedSignal::Hup, "HUP", 1),
    (AllowedSignal::Int, "INT", 2),
    (AllowedSignal::Quit, "QUIT", 3),
    (AllowedSignal::Kill, "KILL", 9),
    (AllowedSignal::Usr1, "USR1", 10),
    (AllowedSignal::Usr2, "USR2", 12),
    (AllowedSignal::Alrm, "ALRM", 14),
    (AllowedSignal::Term, "TERM", 15),
    (AllowedSignal::Cont, "CONT", 18),
    (AllowedSignal::Stop, "STOP", 19),
    (AllowedSignal::Tstp, "TSTP", 20),
    (AllowedSignal::Winch, "WINCH", 28),
];

impl AllowedSignal {
    pub fn number(self) -> i32 {
        TABLE.iter().find(|e| e.0 == self).map_or(0, |e| e.2)
    }

    pub fn name(self) -> &'static str {
        TABLE.iter().find(|e| e.0 == self).map_or("?", |e| e.1)
    }

    pub fn from_number(n: i32) -> Option<AllowedSignal> {
        TABLE.iter().find(|e| e.2 == n).map(|e| e.0)
    }

    /// Accepts `TERM`, `SIGTERM`, `term` and `15`.
    pub fn parse(s: &str) -> Option<AllowedSignal> {
        if let Ok(n) = s.parse::<i32>() {
            return Self::from_number(n);
        }
        let upper = s.to_ascii_uppercase();
        let bare = upper.strip_prefix("SIG").unwrap_or(&upper);
        TABLE.iter().find(|e| e.1 == bare).map(|e| e.0)
    }

    pub fn all_names() -> impl Iterator<Item = &'static str> {
        TABLE.iter().map(|e| e.1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_numbers_round_trip() {
        for (sig, name, num) in TABLE {
            assert_eq!(AllowedSignal::parse(name), Some(sig));
            assert_eq!(AllowedSignal::parse(&format!("sig{name}")), Some(sig));
            assert_eq!(AllowedSignal::from_number(num), Some(sig));
            assert_eq!(sig.number(), num);
        }
        assert_eq!(AllowedSignal::parse("SEGV"), None);
        assert_eq!(AllowedSignal::parse("34"), None);
    }
}
