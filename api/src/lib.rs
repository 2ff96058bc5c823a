//! What clients of controld see: the control protocol between proctorctl and controld, and the
//! audit log's format. Only the unprivileged side links this crate; proctord speaks
//! `proctor-wire` alone, so JSON and hashing never run in the privileged process.
//!
//! - [`control`]: proctorctl ↔ controld, versioned length-prefixed postcard frames.
//! - [`audit`]: the hash-chained JSON lines of the audit log, and their verifier.
//! - [`seal`]: forward-secure MACs over those lines, and their verifier.

#![forbid(unsafe_code)]

pub mod audit;
pub mod control;
pub mod seal;
