//! The control protocol: the body of a frame from proctorctl (decoded by controld) and from
//! controld (decoded by proctorctl). No panic; what decodes re-encodes and decodes equal.
#![no_main]
#![forbid(unsafe_code)]

use libfuzzer_sys::fuzz_target;
use proctor_fuzz::postcard_round_trip;
use proctor_api::control::{ClientFrame, Response};

fuzz_target!(|data: &[u8]| {
    postcard_round_trip::<ClientFrame>(data);
    postcard_round_trip::<Response>(data);
});
