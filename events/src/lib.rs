//! Supervisor's event-listener protocol (4.3), the parts proctor's controld speaks with each
//! listener: [`listener`] reads what a listener writes, as supervisord does; [`event`] names
//! the events and writes their payloads and envelopes; [`pool`] queues them per pool.
#![forbid(unsafe_code)]

pub mod capture;
pub mod event;
pub mod listener;
pub mod pool;

pub use listener::{Listener, ListenerState, Step};
