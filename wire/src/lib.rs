//! The helper protocol: what crosses the privileged boundary between controld and proctord.
//!
//! - [`order`]: controld → proctord, fixed-size records encoded and decoded by hand, so that the
//!   privileged side parses a few dozen lines of code and no serde.
//! - [`helper`]: proctord → controld, postcard messages (the less privileged side decodes them).
//! - [`signal`]: the allow-list of signals an order may carry.
//! - [`seal`]: the audit seal file proctord keeps, and the key it hands controld.
//!
//! proctord links this crate and nothing of the control protocol or the audit format (those are
//! `proctor-api`'s).

#![forbid(unsafe_code)]

pub mod helper;
pub mod ids;
pub mod order;
pub mod refusal;
pub mod seal;
/// The allow-list lives with the config, which names stop signals from it.
pub use proctor_config::signal;

/// Decodes a whole postcard message: trailing bytes are an error, unlike `postcard::from_bytes`.
pub fn decode_exact<'a, T: serde::Deserialize<'a>>(bytes: &'a [u8]) -> Result<T, postcard::Error> {
    let (value, rest) = postcard::take_from_bytes(bytes)?;
    if rest.is_empty() {
        Ok(value)
    } else {
        Err(postcard::Error::DeserializeBadEncoding)
    }
}
