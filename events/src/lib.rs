//! Supervisor's event-listener protocol (4.3), the part proctor's controld speaks with each
//! listener: [`listener`] reads what a listener writes, as supervisord does.
#![forbid(unsafe_code)]

pub mod listener;

pub use listener::{Listener, ListenerState, Step};
