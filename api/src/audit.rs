//! The audit log's format: one JSON object per line, each carrying the SHA-256 of the line
//! before it, so that an edited, reordered or truncated log is found by [`verify`]. controld
//! writes it; `proctorctl audit --verify` checks any copy without a daemon.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// The `prev` of the first record of a log.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// `Default` leaves what the writer fills in (time, seq, the chain and the seal) empty.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct Record {
    /// UTC, RFC 3339 with sub-second precision.
    pub time: String,
    pub seq: u64,
    /// `request` (written before the action runs), `outcome` (after), or `rotated` (the first
    /// record of a file that continues the chain of the one rotated away).
    pub kind: String,
    pub uid: u32,
    pub user: String,
    pub pid: Option<i32>,
    /// How a request that did not come through the control socket arrived: `tcp ADDRESS`
    /// (`[inet_http_server]`), with how the person was known (`password`, `session`).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub via: Option<String>,
    pub action: String,
    pub targets: Vec<String>,
    /// `allow` or `deny`.
    pub decision: String,
    /// What decided: `FILE:LINE`, `root`, `default deny`, ...
    pub rule: String,
    /// For outcome records: `ok`, or the error.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub outcome: Option<String>,
    /// For outcome records: the seq of the request.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub request: Option<u64>,
    /// Sealed logs: the epoch (controld lifetime) whose key sealed this record, and the
    /// record's index in it (see [`crate::seal`]).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub epoch: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub n: Option<u64>,
    /// SHA-256 (hex) of the previous line, without its newline.
    pub prev: String,
    /// Sealed logs: HMAC-SHA256 of this line without this field, under the epoch's key for
    /// record `n`. Always the last field.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub mac: Option<String>,
}

impl Record {
    /// This record as the next line of a log (without its newline): its `prev` becomes `chain`
    /// (the hash of the line before, or [`GENESIS`]), and `chain` becomes this line's hash.
    pub fn chained(mut self, chain: &mut String) -> Result<String, serde_json::Error> {
        self.prev = chain.clone();
        let line = serde_json::to_string(&self)?;
        *chain = hash(&line);
        Ok(line)
    }
}

pub fn hash(line: &str) -> String {
    Sha256::digest(line.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Checks a whole log (or several rotated files, oldest first, as one text). A log starts a
/// chain, or continues one with a `rotated` record. `Ok(n)`: n records, chain intact.
/// `Err((line, why))`: the first line at which it breaks (1-based).
pub fn verify(text: &str) -> Result<u64, (usize, String)> {
    let mut prev_hash = GENESIS.to_owned();
    let mut prev_seq: Option<u64> = None;
    let mut n = 0;
    if !text.is_empty() && !text.ends_with('\n') {
        let line = text.lines().count();
        return Err((line, "the last record is cut short (truncated log)".into()));
    }
    for (i, line) in text.lines().enumerate() {
        let r: Record =
            serde_json::from_str(line).map_err(|e| (i + 1, format!("not an audit record: {e}")))?;
        if i == 0 && r.prev != GENESIS && r.kind != "rotated" {
            return Err((
                1,
                format!("record {} does not start a chain, nor continue a rotated one (the beginning of the log was removed)", r.seq),
            ));
        }
        if r.prev != prev_hash && !(i == 0 && r.kind == "rotated") {
            return Err((
                i + 1,
                format!(
                    "record {} does not follow the line before it (hash chain broken: a record was edited, removed or moved)",
                    r.seq
                ),
            ));
        }
        if let Some(p) = prev_seq {
            // checked: a record's seq is untrusted, and u64::MAX + 1 must not wrap to 0
            if p.checked_add(1) != Some(r.seq) {
                return Err((
                    i + 1,
                    format!("record {} follows record {p} (sequence broken)", r.seq),
                ));
            }
        }
        prev_seq = Some(r.seq);
        prev_hash = hash(line);
        n += 1;
    }
    Ok(n)
}

#[cfg(test)]
pub(crate) mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    /// An allowed `restart` by alice, for the tests of this crate.
    pub(crate) fn sample(seq: u64, user: &str) -> Record {
        Record {
            time: "2026-11-24T00:00:00.000000Z".into(),
            seq,
            kind: "request".into(),
            uid: 1000,
            user: user.into(),
            pid: Some(42),
            action: "restart".into(),
            targets: vec!["web".into()],
            decision: "allow".into(),
            rule: "/etc/proctor/policy.toml:4".into(),
            ..Record::default()
        }
    }

    fn log(n: u64) -> String {
        let mut out = String::new();
        let mut prev = GENESIS.to_owned();
        for seq in 1..=n {
            let line = sample(seq, "alice").chained(&mut prev).unwrap();
            out.push_str(&line);
            out.push('\n');
        }
        out
    }

    #[test]
    fn intact_edited_reordered_and_truncated_logs() {
        let good = log(5);
        assert_eq!(verify(&good), Ok(5));
        let edited = good.replacen("\"user\":\"alice\"", "\"user\":\"mallory\"", 3);
        assert_eq!(
            verify(&edited).unwrap_err().0,
            2,
            "the line after the first edit breaks"
        );
        let mut lines: Vec<&str> = good.lines().collect();
        lines.swap(1, 2);
        let reordered = lines.join("\n") + "\n";
        assert_eq!(verify(&reordered).unwrap_err().0, 2);
        let mut lines: Vec<&str> = good.lines().collect();
        lines.remove(2);
        let removed = lines.join("\n") + "\n";
        assert_eq!(verify(&removed).unwrap_err().0, 3);
        let truncated = &good[..good.len() - 10];
        assert_eq!(verify(truncated).unwrap_err().0, 5);
        let headless: String = good.lines().skip(1).map(|l| format!("{l}\n")).collect();
        assert_eq!(verify(&headless).unwrap_err().0, 1);
    }

    /// Found by `fuzz/` (audit_verify): a record with seq u64::MAX overflowed `p + 1` (a panic
    /// with overflow checks, and without them a next seq of 0 would pass as consecutive).
    #[test]
    fn a_seq_of_u64_max_is_not_followed() {
        let fuzzed = concat!(
            r#"{"time":"","seq":18446744073709551615,"kind":"","uid":738197504,"user":"","pid":null,"action":"","targets":[],"decision":"","rule":"","outcome":"","prev":"0000000000000000000000000000000000000000000000000000000000000000"}"#,
            "\n",
            r#"{"time":"","seq":18446744073709551615,"kind":"","uid":0,"user":"","pid":null,"action":"","targets":[],"decision":"","rule":"","prev":"b9611ae1c62a35b7e69a03a5c14d9627d70a9189ccca83dc468a79e087378072"}"#,
            "\n",
        );
        assert_eq!(
            verify(fuzzed),
            Err((
                2,
                "record 18446744073709551615 follows record 18446744073709551615 (sequence broken)"
                    .into()
            ))
        );
        let first = fuzzed.lines().next().unwrap();
        let wrapped = format!(
            "{first}\n{}\n",
            fuzzed
                .lines()
                .nth(1)
                .unwrap()
                .replace("\"seq\":18446744073709551615", "\"seq\":0")
        );
        assert_eq!(verify(&wrapped).unwrap_err().0, 2);
    }
}
