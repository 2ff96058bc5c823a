//! The audit log verifier (`proctorctl audit --verify`), two ways on every input:
//!
//! 1. The input as text (UTF-8, lossily): no panic, and `Ok(n)` means n lines; the sealed
//!    verifier, against a fixed seal file, accepts nothing the chain verifier refuses; and the
//!    seal file parser takes the same text without a panic.
//! 2. The input as the choices (`arbitrary`) of a log built as controld writes it: records
//!    serialized with serde_json, each `prev` the crate's own hash of the line before, the
//!    first starting a chain (`prev` = GENESIS) or continuing a rotated one (`kind` = rotated,
//!    any `prev`), with consecutive or arbitrary `seq`s. `verify` must accept it exactly when
//!    every seq is the one before plus one (in the integers: no wrapping), and otherwise name
//!    the first line whose seq breaks. Then one byte of an accepted log is flipped: when that
//!    changes the text of any line but the last, or the final newline, `verify` must refuse it,
//!    at the changed line or the one after (an edit of the very last record cannot be seen from
//!    the file alone, as docs/audit.md says, so that case is only run, not judged).
#![no_main]
#![forbid(unsafe_code)]

use libfuzzer_sys::fuzz_target;
use proctor_fuzz::AuditChain;
use proctor_api::audit::verify;
use proctor_api::seal::verify_sealed;
use proctor_wire::seal::{Anchor, Epoch, SealFile};

fn text_mode(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let chain = verify(&text);
    if let Ok(n) = chain {
        assert_eq!(
            n as usize,
            text.lines().count(),
            "Ok(n) is not the number of lines"
        );
    }
    let seals = SealFile {
        anchor: Anchor { epoch: 2, count: 1 },
        epochs: vec![
            Epoch {
                epoch: 1,
                key: [1; 32],
                after: Anchor::default(),
                time: 0,
            },
            Epoch {
                epoch: 2,
                key: [2; 32],
                after: Anchor { epoch: 1, count: 1 },
                time: 0,
            },
        ],
    };
    if let Ok(r) = verify_sealed(&text, &seals) {
        assert_eq!(chain, Ok(r.records), "sealed verify accepted what the chain refused");
    }
    let _ = SealFile::parse(&text);
}

fn structured_mode(data: &[u8]) {
    let Some(AuditChain {
        log,
        text,
        line_starts,
        seqs,
    }) = AuditChain::build(data)
    else {
        return;
    };
    let n = seqs.len();
    // The first line (1-based) whose seq is not the previous one plus one.
    let broken = (1..n).find(|&i| seqs[i - 1].checked_add(1) != Some(seqs[i]));
    let result = verify(&text);
    match broken {
        None => assert_eq!(result, Ok(n as u64), "a valid chain of {n} is refused"),
        Some(i) => match &result {
            Err((line, _)) => assert_eq!(*line, i + 1, "wrong line for seqs {seqs:?}: {result:?}"),
            Ok(_) => panic!("seqs {seqs:?} accepted"),
        },
    }
    if result.is_err() {
        return;
    }

    // Flip one byte.
    let mut bytes = text.clone().into_bytes();
    let at = log.flip_at % bytes.len();
    bytes[at] ^= if log.flip_mask == 0 { 1 } else { log.flip_mask };
    let edited = String::from_utf8_lossy(&bytes).into_owned();
    if edited == text {
        return;
    }
    // The line (0-based) holding the flipped byte; a newline belongs to the line it ends.
    let line = line_starts.partition_point(|&s| s <= at) - 1;
    let final_newline = at == text.len() - 1;
    let after = verify(&edited);
    if final_newline {
        assert!(
            matches!(after, Err((l, _)) if l == n),
            "flipping the final newline: {after:?}"
        );
    } else if line + 1 < n {
        match after {
            Err((l, _)) => assert!(
                l == line + 1 || l == line + 2,
                "edit of line {} reported at line {l}",
                line + 1
            ),
            Ok(k) => panic!(
                "edit of line {} of {n} (byte {at} ^ {:#04x}) not found: Ok({k})\n{edited}",
                line + 1,
                log.flip_mask
            ),
        }
    } else if let Ok(k) = after {
        assert_eq!(k as usize, edited.lines().count());
    }
}

fuzz_target!(|data: &[u8]| {
    text_mode(data);
    structured_mode(data);
});
