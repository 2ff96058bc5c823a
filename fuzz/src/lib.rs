//! What the fuzz targets share.

use serde::{de::DeserializeOwned, Serialize};
use std::fmt::Debug;

/// Decodes `data` with `proctor_wire::decode_exact` as the daemons do. When that succeeds, the
/// value must re-encode with postcard, and the re-encoding must decode to an equal value.
pub fn postcard_round_trip<T>(data: &[u8]) -> Option<T>
where
    T: DeserializeOwned + Serialize + PartialEq + Debug,
{
    let value = proctor_wire::decode_exact::<T>(data).ok()?;
    let bytes = match postcard::to_stdvec(&value) {
        Ok(b) => b,
        Err(e) => panic!("decoded {value:?} but it does not re-encode: {e}"),
    };
    match proctor_wire::decode_exact::<T>(&bytes) {
        Ok(again) => assert_eq!(again, value, "re-encoded value decodes differently"),
        Err(e) => panic!("decoded {value:?}; its re-encoding {bytes:?} does not decode: {e}"),
    }
    Some(value)
}
