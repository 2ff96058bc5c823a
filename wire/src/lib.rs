//! proctor's wire formats.
//!
//! - [`order`]: controld → proctord, fixed-size records encoded and decoded by hand, so that the
//!   privileged side parses a few dozen lines of code and no serde.
//! - [`helper`]: proctord → controld, postcard messages (the less privileged side decodes them).
//! - [`control`]: proctorctl ↔ controld, versioned length-prefixed postcard frames.

pub mod audit;
pub mod control;
pub mod helper;
pub mod order;
pub mod signal;

/// Decodes a whole postcard message: trailing bytes are an error, unlike `postcard::from_bytes`.
pub fn decode_exact<'a, T: serde::Deserialize<'a>>(bytes: &'a [u8]) -> Result<T, postcard::Error> {
    let (value, rest) = postcard::take_from_bytes(bytes)?;
    if rest.is_empty() {
        Ok(value)
    } else {
        Err(postcard::Error::DeserializeBadEncoding)
    }
}
