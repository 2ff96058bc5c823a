//! Typed option values, parsed as Supervisor parses them. Every function takes the key (for the
//! message) and the value, and fails with `bad value for KEY: 'VALUE' (expected ...)`.

use crate::model::{AutoRestart, Capability, SignalSpec};
use crate::signal::AllowedSignal;

pub fn bad(key: &str, value: &str, expected: &str) -> String {
    format!("bad value for {key}: '{value}' (expected {expected})")
}

/// `true/false/yes/no/on/off/1/0`, case-insensitive.
pub fn boolean(key: &str, value: &str) -> Result<bool, String> {
    match value.trim().to_ascii_lowercase().as_str() {
        "true" | "yes" | "on" | "1" => Ok(true),
        "false" | "no" | "off" | "0" => Ok(false),
        _ => Err(bad(key, value, "true or false")),
    }
}

fn int(value: &str) -> Option<i64> {
    let v = value.trim();
    let digits = v.strip_prefix(['+', '-']).unwrap_or(v);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    v.parse().ok()
}

/// A signed integer that fits an `i32`.
pub fn integer(key: &str, value: &str) -> Result<i32, String> {
    int(value)
        .and_then(|n| i32::try_from(n).ok())
        .ok_or_else(|| bad(key, value, "an integer"))
}

/// An integer >= `min` that fits a `u32`.
pub fn unsigned(key: &str, value: &str, min: u32) -> Result<u32, String> {
    int(value)
        .and_then(|n| u32::try_from(n).ok())
        .filter(|n| *n >= min)
        .ok_or_else(|| {
            if min == 0 {
                bad(key, value, "an integer >= 0")
            } else {
                bad(key, value, &format!("an integer >= {min}"))
            }
        })
}

/// A byte count, with an optional `KB`, `MB` or `GB` suffix (powers of 1024), case-insensitive.
pub fn byte_size(key: &str, value: &str) -> Result<u64, String> {
    let v = value.trim();
    let lower = v.to_ascii_lowercase();
    let (number, multiplier) = if let Some(n) = lower.strip_suffix("kb") {
        (n, 1u64 << 10)
    } else if let Some(n) = lower.strip_suffix("mb") {
        (n, 1 << 20)
    } else if let Some(n) = lower.strip_suffix("gb") {
        (n, 1 << 30)
    } else {
        (lower.as_str(), 1)
    };
    int(number)
        .and_then(|n| u64::try_from(n).ok())
        .and_then(|n| n.checked_mul(multiplier))
        .ok_or_else(|| bad(key, value, "a byte count like 1024, 50KB, 50MB or 1GB"))
}

/// A duration in seconds, with an optional `s`, `m`, `h` or `d` suffix: `3600`, `90m`, `7d`.
pub fn duration_secs(key: &str, value: &str) -> Result<u64, String> {
    let lower = value.trim().to_ascii_lowercase();
    let (number, unit) = match lower.char_indices().last() {
        Some((i, c)) if c.is_ascii_alphabetic() => (&lower[..i], c),
        _ => (lower.as_str(), 's'),
    };
    let multiplier = match unit {
        's' => Some(1u64),
        'm' => Some(60),
        'h' => Some(3600),
        'd' => Some(86400),
        _ => None,
    };
    multiplier
        .zip(int(number).and_then(|n| u64::try_from(n).ok()))
        .and_then(|(m, n)| n.checked_mul(m))
        .ok_or_else(|| bad(key, value, "a duration like 3600, 90m, 12h or 7d"))
}

/// An octal mode no larger than 0o777: `022`, `0o022`, `0700`.
pub fn octal(key: &str, value: &str) -> Result<u32, String> {
    let v = value.trim();
    let digits = v
        .strip_prefix("0o")
        .or_else(|| v.strip_prefix("0O"))
        .unwrap_or(v);
    if digits.is_empty() || !digits.bytes().all(|b| (b'0'..=b'7').contains(&b)) {
        return Err(bad(key, value, "an octal number like 022"));
    }
    u32::from_str_radix(digits, 8)
        .ok()
        .filter(|n| *n <= 0o777)
        .ok_or_else(|| bad(key, value, "an octal number no larger than 0777"))
}

/// `exitcodes=`: a comma list of integers in 0..=255.
pub fn exitcodes(key: &str, value: &str) -> Result<Vec<i32>, String> {
    value
        .split(',')
        .map(|part| {
            int(part)
                .filter(|n| (0..=255).contains(n))
                .and_then(|n| i32::try_from(n).ok())
                .ok_or_else(|| bad(key, value, "a comma-separated list of exit codes 0-255"))
        })
        .collect()
}

/// `autorestart=`: `unexpected`, or a boolean (true: always).
pub fn autorestart(key: &str, value: &str) -> Result<AutoRestart, String> {
    if value.trim().eq_ignore_ascii_case("unexpected") {
        return Ok(AutoRestart::Unexpected);
    }
    match boolean(key, value) {
        Ok(true) => Ok(AutoRestart::Always),
        Ok(false) => Ok(AutoRestart::Never),
        Err(_) => Err(bad(key, value, "true, false or unexpected")),
    }
}

/// `loglevel=`: Supervisor's levels, as a log filter (`critical` is `error`, `blather` is
/// `trace`).
pub fn loglevel(key: &str, value: &str) -> Result<String, String> {
    let filter = match value.trim().to_ascii_lowercase().as_str() {
        "critical" | "error" => "error",
        "warn" => "warn",
        "info" => "info",
        "debug" => "debug",
        "trace" | "blather" => "trace",
        _ => {
            return Err(bad(
                key,
                value,
                "critical, error, warn, info, debug, trace or blather",
            ))
        }
    };
    Ok(filter.to_owned())
}

/// `stopsignal=`: one of the signals proctord may send ([`AllowedSignal`]), by name with or
/// without `SIG`, case-insensitive, or by number. Supervisor takes any signal; proctord sends
/// only allow-listed ones, so others are refused here rather than at the first stop.
pub fn signal(key: &str, value: &str) -> Result<SignalSpec, String> {
    AllowedSignal::parse(value.trim())
        .map(|s| SignalSpec { number: s.number() })
        .ok_or_else(|| {
            let names: Vec<&str> = AllowedSignal::all_names().collect();
            bad(
                key,
                value,
                &format!("one of {} (the signals proctord sends)", names.join(" ")),
            )
        })
}

/// `capabilities=`: a comma list of `net_bind_service` (or `CAP_NET_BIND_SERVICE`); empty is
/// allowed. Duplicates are dropped.
pub fn capabilities(key: &str, value: &str) -> Result<Vec<Capability>, String> {
    let mut caps = Vec::new();
    for part in value.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let lower = part.to_ascii_lowercase();
        let cap = match lower.strip_prefix("cap_").unwrap_or(&lower) {
            "net_bind_service" => Capability::NetBindService,
            _ => {
                return Err(bad(
                    key,
                    value,
                    "a comma-separated list of: net_bind_service",
                ))
            }
        };
        if !caps.contains(&cap) {
            caps.push(cap);
        }
    }
    Ok(caps)
}

fn is_env_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// `environment=`: `KEY="val",KEY2=val2`. Values may be quoted with `'` or `"` (then they may
/// hold commas); unquoted values run to the next comma and are trimmed. Keys must be valid
/// environment variable names. A key given twice keeps its last value, in its first place.
pub fn environment(key: &str, value: &str) -> Result<Vec<(String, String)>, String> {
    let expected = "KEY=value pairs separated by commas, like A=1,B=\"x, y\"";
    let fail = |why: &str| {
        Err(format!(
            "bad value for {key}: '{value}' ({why}; expected {expected})"
        ))
    };
    let mut out: Vec<(String, String)> = Vec::new();
    let mut rest = value.trim_start();
    while !rest.is_empty() {
        let Some(eq) = rest.find('=') else {
            return fail(&format!("'{}' has no '='", rest.trim()));
        };
        let name = rest[..eq].trim();
        if !is_env_name(name) {
            return fail(&format!("'{name}' is not a valid variable name"));
        }
        let after = rest[eq + 1..].trim_start();
        let (val, tail) = match after.chars().next() {
            Some(q @ ('"' | '\'')) => {
                let body = &after[1..];
                let Some(end) = body.find(q) else {
                    return fail(&format!("unbalanced quote in the value of {name}"));
                };
                (body[..end].to_owned(), body[end + 1..].trim_start())
            }
            _ => {
                let end = after.find(',').unwrap_or(after.len());
                let v = after[..end].trim();
                if v.contains(['"', '\'']) {
                    return fail(&format!("stray quote in the value of {name}"));
                }
                (v.to_owned(), &after[end..])
            }
        };
        rest = if tail.is_empty() {
            tail
        } else if let Some(t) = tail.strip_prefix(',') {
            // a trailing comma is harmless
            t.trim_start()
        } else {
            return fail(&format!("expected ',' after the value of {name}"));
        };
        if let Some(slot) = out.iter_mut().find(|(k, _)| k == name) {
            slot.1 = val;
        } else {
            out.push((name.to_owned(), val));
        }
    }
    Ok(out)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn booleans() {
        for t in ["true", "YES", "On", "1"] {
            assert!(boolean("k", t).unwrap());
        }
        for f in ["false", "No", "OFF", "0"] {
            assert!(!boolean("k", f).unwrap());
        }
        assert_eq!(
            boolean("autostart", "maybe").unwrap_err(),
            "bad value for autostart: 'maybe' (expected true or false)"
        );
    }

    #[test]
    fn integers() {
        assert_eq!(integer("priority", "-5").unwrap(), -5);
        assert_eq!(unsigned("numprocs", "3", 1).unwrap(), 3);
        assert_eq!(
            unsigned("numprocs", "0", 1).unwrap_err(),
            "bad value for numprocs: '0' (expected an integer >= 1)"
        );
        assert_eq!(
            unsigned("startsecs", "-1", 0).unwrap_err(),
            "bad value for startsecs: '-1' (expected an integer >= 0)"
        );
        assert!(unsigned("x", "1.5", 0).is_err());
        assert!(integer("x", "99999999999").is_err());
    }

    #[test]
    fn sizes() {
        assert_eq!(byte_size("m", "50MB").unwrap(), 50 << 20);
        assert_eq!(byte_size("m", "1kb").unwrap(), 1024);
        assert_eq!(byte_size("m", "2GB").unwrap(), 2 << 30);
        assert_eq!(byte_size("m", "0").unwrap(), 0);
        assert_eq!(byte_size("m", "123").unwrap(), 123);
        assert_eq!(
            byte_size("m", "5TB").unwrap_err(),
            "bad value for m: '5TB' (expected a byte count like 1024, 50KB, 50MB or 1GB)"
        );
    }

    #[test]
    fn octals() {
        assert_eq!(octal("umask", "022").unwrap(), 0o22);
        assert_eq!(octal("umask", "0o027").unwrap(), 0o27);
        assert_eq!(octal("chmod", "0700").unwrap(), 0o700);
        assert_eq!(
            octal("umask", "089").unwrap_err(),
            "bad value for umask: '089' (expected an octal number like 022)"
        );
        assert_eq!(
            octal("umask", "01000").unwrap_err(),
            "bad value for umask: '01000' (expected an octal number no larger than 0777)"
        );
    }

    #[test]
    fn exit_codes_and_restart() {
        assert_eq!(exitcodes("e", "0, 2,255").unwrap(), vec![0, 2, 255]);
        assert_eq!(
            exitcodes("exitcodes", "0,256").unwrap_err(),
            "bad value for exitcodes: '0,256' (expected a comma-separated list of exit codes 0-255)"
        );
        assert!(exitcodes("e", "").is_err());
        assert_eq!(
            autorestart("a", "Unexpected").unwrap(),
            AutoRestart::Unexpected
        );
        assert_eq!(autorestart("a", "true").unwrap(), AutoRestart::Always);
        assert_eq!(autorestart("a", "off").unwrap(), AutoRestart::Never);
        assert_eq!(
            autorestart("autorestart", "x").unwrap_err(),
            "bad value for autorestart: 'x' (expected true, false or unexpected)"
        );
    }

    #[test]
    fn signals() {
        assert_eq!(signal("s", "TERM").unwrap().number, 15);
        assert_eq!(signal("s", "sigkill").unwrap().number, 9);
        assert_eq!(
            signal("s", "Usr1").unwrap().number,
            nix::sys::signal::Signal::SIGUSR1 as i32
        );
        assert_eq!(signal("s", "1").unwrap().number, 1);
        assert!(signal("s", "11").is_err());
        assert_eq!(signal("s", "WINCH").unwrap().number, 28);
        assert_eq!(signal("s", " sigstop ").unwrap().number, 19);
        assert_eq!(
            signal("stopsignal", "SEGV").unwrap_err(),
            "bad value for stopsignal: 'SEGV' (expected one of HUP INT QUIT KILL USR1 USR2 ALRM \
             TERM CONT STOP TSTP WINCH (the signals proctord sends))"
        );
    }

    #[test]
    fn caps() {
        assert_eq!(capabilities("c", "").unwrap(), vec![]);
        assert_eq!(
            capabilities("c", "net_bind_service, CAP_NET_BIND_SERVICE").unwrap(),
            vec![Capability::NetBindService]
        );
        assert_eq!(
            capabilities("capabilities", "cap_sys_admin").unwrap_err(),
            "bad value for capabilities: 'cap_sys_admin' (expected a comma-separated list of: net_bind_service)"
        );
    }

    #[test]
    fn environments() {
        let kv = |k: &str, v: &str| (k.to_owned(), v.to_owned());
        assert_eq!(
            environment("e", "A=1,B=\"x, y\", C='q', D = plain value ,E=").unwrap(),
            vec![
                kv("A", "1"),
                kv("B", "x, y"),
                kv("C", "q"),
                kv("D", "plain value"),
                kv("E", "")
            ]
        );
        assert_eq!(
            environment("e", "A=1,\nB=2,").unwrap(),
            vec![kv("A", "1"), kv("B", "2")]
        );
        assert_eq!(environment("e", "A=1,A=2").unwrap(), vec![kv("A", "2")]);
        assert_eq!(environment("e", "").unwrap(), vec![]);
        assert_eq!(
            environment("environment", "1A=x").unwrap_err(),
            "bad value for environment: '1A=x' ('1A' is not a valid variable name; expected \
             KEY=value pairs separated by commas, like A=1,B=\"x, y\")"
        );
        assert!(environment("e", "A=\"x").is_err());
        assert!(environment("e", "A").is_err());
        assert!(environment("e", "A=\"x\" y").is_err());
        assert!(environment("e", "A=x\"y").is_err());
    }
}
