//! proctord's messages to controld, as controld decodes them. No panic; what decodes re-encodes
//! and decodes equal.
#![no_main]
#![forbid(unsafe_code)]

use libfuzzer_sys::fuzz_target;
use proctor_fuzz::postcard_round_trip;
use proctor_wire::helper::HelperMsg;

fuzz_target!(|data: &[u8]| {
    postcard_round_trip::<HelperMsg>(data);
});
