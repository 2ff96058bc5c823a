//! Forward-secure sealing of the audit log, after Bellare and Yee's forward-secure MACs (and
//! journald's sealing). proctord gives each controld a fresh random key for its lifetime (an
//! *epoch*) and records it in a seal file only root can read. controld MACs every record with
//! the current key, then replaces the key by a one-way function of itself and forgets the old
//! one. Whoever takes over controld's account later holds only the current key: the records
//! written before cannot be edited, replaced or reordered without the MACs showing it, and
//! proctord's anchor (how many records each epoch sealed) shows records cut off the end.
//!
//! A sealed record carries `"epoch"` and `"n"` (its index in the epoch) in the MAC'd text,
//! and ends with `,"mac":"<64 hex>"}`: the MAC is over the line without that field.

use crate::audit::{hash, verify, Record};
use hmac::{Hmac, KeyInit, Mac};
use proctor_wire::seal::{hex, unhex32, SealFile};
use sha2::{Digest, Sha256};
use zeroize::Zeroize;

const EVOLVE: &[u8] = b"proctor audit key evolution v1";

/// One epoch's current key. Erased from memory when replaced or dropped.
pub struct SealKey {
    key: [u8; 32],
}

impl Drop for SealKey {
    fn drop(&mut self) {
        self.key.zeroize();
    }
}

impl SealKey {
    pub fn new(key: [u8; 32]) -> SealKey {
        SealKey { key }
    }

    /// A copy, to go back to if a batch of records cannot be written.
    pub fn snapshot(&self) -> SealKey {
        SealKey { key: self.key }
    }

    fn mac(&self, data: &[u8]) -> [u8; 32] {
        // HMAC takes a key of any length: this cannot fail.
        let mut m = match <Hmac<Sha256> as KeyInit>::new_from_slice(&self.key) {
            Ok(m) => m,
            Err(_) => return [0; 32],
        };
        m.update(data);
        m.finalize().into_bytes().into()
    }

    /// The next key: `SHA-256(domain ‖ key)`. The old one is overwritten.
    pub fn evolve(&mut self) {
        let mut next: [u8; 32] = Sha256::new()
            .chain_update(EVOLVE)
            .chain_update(self.key)
            .finalize()
            .into();
        self.key.copy_from_slice(&next);
        next.zeroize();
    }

    /// This key moved on `n` times: the key of record `n` of the epoch.
    fn advanced(mut self, n: u64) -> SealKey {
        for _ in 0..n {
            self.evolve();
        }
        self
    }
}

impl Record {
    /// This record as the next line of a sealed log: chained as [`Record::chained`] does, then
    /// MAC'd with `key`, which then evolves. The caller has set `epoch` and `n`.
    pub fn sealed(mut self, chain: &mut String, key: &mut SealKey) -> serde_json::Result<String> {
        self.prev = chain.clone();
        self.mac = None;
        let unsealed = serde_json::to_string(&self)?;
        let mac = hex(&key.mac(unsealed.as_bytes()));
        let line = format!(
            "{},\"mac\":\"{mac}\"}}",
            unsealed.strip_suffix('}').unwrap_or(&unsealed)
        );
        key.evolve();
        *chain = hash(&line);
        Ok(line)
    }
}

/// The text a sealed line's MAC covers, and the MAC it carries.
fn unsealed(line: &str) -> Option<(String, [u8; 32])> {
    const TAIL: usize = ",\"mac\":\"".len() + 64 + "\"}".len();
    let cut = line.len().checked_sub(TAIL)?;
    let tail = line.get(cut..)?;
    let mac = tail.strip_prefix(",\"mac\":\"")?.strip_suffix("\"}")?;
    Some((format!("{}}}", line.get(..cut)?), unhex32(mac)?))
}

/// How many records of an epoch may be in the log beyond proctord's anchor: those written
/// since controld last reported (a few group commits at most).
const UNANCHORED: u64 = 1 << 16;

/// What a sealed verification found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SealReport {
    pub records: u64,
    /// Records checked against their MAC.
    pub sealed: u64,
    /// The first and last epoch seen.
    pub epochs: Option<(u32, u32)>,
}

/// Checks the chain (as [`verify`] does) and every seal against `seals`. A log may begin
/// with unsealed records (written before sealing was configured) and, after rotation deleted
/// older files, in the middle of an epoch; from its first sealed record on, every record must
/// be sealed, consecutive within its epoch, and every epoch must hold at least as many records
/// as proctord anchored for it. `Err((line, why))`: the first bad record, 1-based; past the end
/// when records were cut off.
pub fn verify_sealed(text: &str, seals: &SealFile) -> Result<SealReport, (usize, String)> {
    let records = verify(text)?;
    // (epoch, next n, key of the next record)
    let mut current: Option<(u32, u64, SealKey)> = None;
    let mut first_epoch = None;
    let mut sealed = 0u64;
    let mut last_seq = 0u64;
    let mut lines = 0usize;
    let mut seen = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let at = i + 1;
        lines = at;
        let r: Record =
            serde_json::from_str(line).map_err(|e| (at, format!("not an audit record: {e}")))?;
        let prev_seq = std::mem::replace(&mut last_seq, r.seq);
        let (epoch, n) = match (r.epoch, r.n, &r.mac) {
            (None, None, None) if current.is_none() => continue,
            (Some(e), Some(n), Some(_)) => (e, n),
            _ => {
                return Err((
                    at,
                    format!(
                        "record {} is not sealed, after sealed records (forged or inserted)",
                        r.seq
                    ),
                ))
            }
        };
        let known = seals.epoch(epoch).ok_or_else(|| {
            (
                at,
                format!(
                    "record {} claims epoch {epoch}, which the seal file does not know (forged)",
                    r.seq
                ),
            )
        })?;
        let key = match current.take() {
            Some((e, next, key)) if e == epoch => {
                if n != next {
                    return Err((
                        at,
                        format!(
                            "record {} is record {n} of epoch {epoch}, expected {next} (records missing or forged)",
                            r.seq
                        ),
                    ));
                }
                key
            }
            Some((e, next, _)) => {
                complete(e, next, seals, at, prev_seq)?;
                if epoch < e || n != 0 {
                    return Err((
                        at,
                        format!(
                            "record {} is record {n} of epoch {epoch} after epoch {e} (records missing or moved)",
                            r.seq
                        ),
                    ));
                }
                SealKey::new(known.key)
            }
            // The first sealed record: older ones may have been rotated away. Its key is the
            // epoch's first moved on `n` times, and `n` comes from the file: no further than
            // proctord's anchor says the epoch got (plus what it may not have heard of yet),
            // or an edited `n` would keep the verifier hashing for ever.
            None => {
                let bound = seals.sealed(epoch).saturating_add(UNANCHORED);
                if n > bound {
                    return Err((
                        at,
                        format!(
                            "record {} claims to be record {n} of epoch {epoch}, which sealed \
                             {} (forged)",
                            r.seq,
                            seals.sealed(epoch)
                        ),
                    ));
                }
                first_epoch = Some(epoch);
                SealKey::new(known.key).advanced(n)
            }
        };
        let (body, mac) = unsealed(line)
            .ok_or_else(|| (at, format!("record {}: its seal is malformed", r.seq)))?;
        if key.mac(body.as_bytes()) != mac {
            return Err((
                at,
                format!(
                    "record {} does not match its seal (edited, or forged without the key)",
                    r.seq
                ),
            ));
        }
        let mut key = key;
        key.evolve();
        sealed += 1;
        if seen.last() != Some(&epoch) {
            seen.push(epoch);
        }
        let next = n.checked_add(1).ok_or_else(|| {
            (
                at,
                format!("record {}: its index {n} is out of range", r.seq),
            )
        })?;
        current = Some((epoch, next, key));
    }
    let mut last_epoch = None;
    if let Some((e, next, _)) = current {
        complete(e, next, seals, lines + 1, last_seq)?;
        last_epoch = Some(e);
    }
    // A whole epoch that sealed records, from the first one in the log on, is missing.
    let from = first_epoch.unwrap_or(0);
    if let Some(e) = seals
        .epochs
        .iter()
        .find(|e| e.epoch >= from && !seen.contains(&e.epoch) && seals.sealed(e.epoch) > 0)
    {
        return Err((
            lines + 1,
            format!(
                "epoch {} sealed {} records and none of them is in the log (removed)",
                e.epoch,
                seals.sealed(e.epoch)
            ),
        ));
    }
    Ok(SealReport {
        records,
        sealed,
        epochs: first_epoch.zip(last_epoch),
    })
}

/// Epoch `epoch` ended with record `next - 1` of it, which has seq `last`: proctord's anchor
/// may not say it had more.
fn complete(
    epoch: u32,
    next: u64,
    seals: &SealFile,
    at: usize,
    last: u64,
) -> Result<(), (usize, String)> {
    let anchored = seals.sealed(epoch);
    if next < anchored {
        return Err((
            at,
            format!(
                "the records after record {last} are missing: epoch {epoch} sealed {anchored} \
                 records and the log holds {next} of them (records were cut)"
            ),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::audit::tests::sample;
    use crate::audit::GENESIS;
    use proctor_wire::seal::{Anchor, Epoch};

    /// Two epochs of `per` records each, and the seal file that goes with them.
    fn sealed_log(per: u64) -> (String, SealFile) {
        let keys = [[7u8; 32], [9u8; 32]];
        let mut text = String::new();
        let mut chain = GENESIS.to_owned();
        let mut seq = 0;
        for (i, k) in keys.iter().enumerate() {
            let mut key = SealKey::new(*k);
            for n in 0..per {
                seq += 1;
                let mut r = sample(seq, "alice");
                if seq == 3 {
                    // The first record of a file after a rotation.
                    r.kind = "rotated".into();
                }
                r.epoch = Some(i as u32 + 1);
                r.n = Some(n);
                text.push_str(&r.sealed(&mut chain, &mut key).unwrap());
                text.push('\n');
            }
        }
        let seals = SealFile {
            anchor: Anchor {
                epoch: 2,
                count: per,
            },
            epochs: vec![
                Epoch {
                    epoch: 1,
                    key: keys[0],
                    after: Anchor::default(),
                    time: 0,
                },
                Epoch {
                    epoch: 2,
                    key: keys[1],
                    after: Anchor {
                        epoch: 1,
                        count: per,
                    },
                    time: 0,
                },
            ],
        };
        (text, seals)
    }

    /// The plain chain recomputed over edited lines, as the account that writes the log can.
    fn rechain(lines: &[String]) -> String {
        let mut chain = GENESIS.to_owned();
        let mut out = String::new();
        for l in lines {
            let mut r: Record = serde_json::from_str(l).unwrap();
            r.prev = chain.clone();
            let line = serde_json::to_string(&r).unwrap();
            chain = hash(&line);
            out.push_str(&line);
            out.push('\n');
        }
        out
    }

    #[test]
    fn an_intact_log_verifies() {
        let (text, seals) = sealed_log(4);
        assert_eq!(
            verify_sealed(&text, &seals),
            Ok(SealReport {
                records: 8,
                sealed: 8,
                epochs: Some((1, 2))
            })
        );
        // Rotation deleted the file before record 3: the rest still verifies, from the middle
        // of epoch 1.
        let rest: String = text.lines().skip(2).map(|l| format!("{l}\n")).collect();
        assert_eq!(
            verify_sealed(&rest, &seals),
            Ok(SealReport {
                records: 6,
                sealed: 6,
                epochs: Some((1, 2))
            })
        );
    }

    #[test]
    fn an_edit_with_the_chain_recomputed_is_named() {
        let (text, seals) = sealed_log(4);
        let lines: Vec<String> = text
            .lines()
            .enumerate()
            .map(|(i, l)| {
                if i == 2 {
                    l.replace("\"user\":\"alice\"", "\"user\":\"bob\"")
                } else {
                    l.to_owned()
                }
            })
            .collect();
        let forged = rechain(&lines);
        assert_eq!(verify(&forged), Ok(8), "the plain chain is fooled");
        let (line, why) = verify_sealed(&forged, &seals).unwrap_err();
        assert_eq!(line, 3, "{why}");
        assert!(why.contains("record 3 does not match its seal"), "{why}");
    }

    #[test]
    fn records_cut_off_the_end_are_named() {
        let (text, seals) = sealed_log(4);
        let kept: String = text.lines().take(6).map(|l| format!("{l}\n")).collect();
        assert_eq!(verify(&kept), Ok(6));
        let (line, why) = verify_sealed(&kept, &seals).unwrap_err();
        assert_eq!(line, 7, "{why}");
        assert!(why.contains("after record 6 are missing"), "{why}");
        // Cut at the end of the first epoch, and the second epoch's records still there.
        let lines: Vec<String> = text
            .lines()
            .enumerate()
            .filter(|(i, _)| *i != 3)
            .map(|(_, l)| l.to_owned())
            .collect();
        let (line, why) = verify_sealed(&rechain(&lines), &seals).unwrap_err();
        assert_eq!(line, 4, "{why}");
    }

    #[test]
    fn a_replaced_file_is_named_at_its_first_record() {
        let (_, seals) = sealed_log(4);
        // The writer's account has the current key of no epoch before its own: its records
        // carry a MAC under a key it made up.
        let mut chain = GENESIS.to_owned();
        let mut key = SealKey::new([1; 32]);
        let mut r = sample(1, "nobody");
        r.kind = "rotated".into();
        r.epoch = Some(1);
        r.n = Some(0);
        let forged = format!("{}\n", r.sealed(&mut chain, &mut key).unwrap());
        let (line, why) = verify_sealed(&forged, &seals).unwrap_err();
        assert_eq!(line, 1, "{why}");
        // An unsealed record among sealed ones.
        let (text, _) = sealed_log(2);
        let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
        let mut plain: Record = serde_json::from_str(&lines[1]).unwrap();
        (plain.epoch, plain.n, plain.mac) = (None, None, None);
        lines[1] = serde_json::to_string(&plain).unwrap();
        let (line, _) = verify_sealed(&rechain(&lines), &seals).unwrap_err();
        assert_eq!(line, 2);
        // A first record claiming an index far beyond the anchor is refused at once, not
        // hashed towards.
        let (text, seals) = sealed_log(2);
        let mut r: Record = serde_json::from_str(text.lines().next().unwrap()).unwrap();
        r.n = Some(u64::MAX / 2);
        let forged = rechain(&[serde_json::to_string(&r).unwrap()]);
        let (line, why) = verify_sealed(&forged, &seals).unwrap_err();
        assert_eq!(line, 1);
        assert!(why.contains("(forged)"), "{why}");
    }
}
