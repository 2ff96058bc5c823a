//! proctord's decoder of controld's 32-byte orders. No panic; every field an order does not use
//! must be zero, so an accepted record encodes back to exactly the input bytes; a refused one
//! stays refused, with the same error.
#![no_main]
#![forbid(unsafe_code)]

use libfuzzer_sys::fuzz_target;
use proctor_wire::order::{Order, ORDER_LEN};

fuzz_target!(|data: &[u8]| {
    match Order::decode(data) {
        Ok(order) => {
            assert_eq!(data.len(), ORDER_LEN);
            assert_eq!(
                &order.encode()[..],
                data,
                "{order:?} was accepted but encodes to other bytes"
            );
        }
        Err(e) => {
            assert_eq!(Order::decode(data), Err(e), "refused once, not twice");
            let _ = e.to_string();
        }
    }
});
