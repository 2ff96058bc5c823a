//! What the fuzz targets share.
#![forbid(unsafe_code)]

use arbitrary::{Arbitrary, Unstructured};
use proctor_api::audit::{Record, GENESIS};
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

/// A log built from fuzz input as controld writes it: records serialized with serde_json, each
/// `prev` the hash of the line before (the `audit_verify` target; `cargo run --example audit_log
/// FILE` prints the log an input builds).
#[derive(Arbitrary, Debug)]
pub struct Rec {
    /// Added to the previous seq when the chain is not consecutive (the record's own `seq`
    /// and `prev` are replaced as controld's writer replaces them).
    pub seq_step: u64,
    pub record: Record,
}

#[derive(Arbitrary, Debug)]
pub struct Log {
    pub first_seq: u64,
    pub consecutive: bool,
    /// `Some(prev)`: the log continues a rotated one.
    pub rotated_from: Option<String>,
    pub records: Vec<Rec>,
    pub flip_at: usize,
    pub flip_mask: u8,
}

pub struct AuditChain {
    pub log: Log,
    pub text: String,
    /// Byte offset of each line in `text`.
    pub line_starts: Vec<usize>,
    pub seqs: Vec<u64>,
}

impl AuditChain {
    /// `None` when the input does not make a log of at least one record.
    pub fn build(data: &[u8]) -> Option<AuditChain> {
        let log = Log::arbitrary_take_rest(Unstructured::new(data)).ok()?;
        if log.records.is_empty() {
            return None;
        }
        let mut text = String::new();
        let mut line_starts = Vec::new();
        let mut prev = log
            .rotated_from
            .clone()
            .unwrap_or_else(|| GENESIS.to_owned());
        let mut seqs: Vec<u64> = Vec::new();
        for (i, r) in log.records.iter().enumerate() {
            let seq = match seqs.last() {
                None => log.first_seq,
                Some(&p) if log.consecutive => p.wrapping_add(1),
                Some(&p) => p.wrapping_add(r.seq_step),
            };
            seqs.push(seq);
            let mut rec = r.record.clone();
            rec.seq = seq;
            if i == 0 && log.rotated_from.is_some() {
                rec.kind = "rotated".to_owned();
            }
            let line = rec.chained(&mut prev).expect("a record serializes");
            assert!(!line.contains('\n'), "a record's JSON holds a newline");
            line_starts.push(text.len());
            text.push_str(&line);
            text.push('\n');
        }
        Some(AuditChain {
            log,
            text,
            line_starts,
            seqs,
        })
    }
}
