//! Python `%`-interpolation as Supervisor applies it to option values: `%(name)s`, `%(name)d`
//! (with flags and width, e.g. `%(process_num)02d`) and `%%`.

use std::collections::BTreeMap;
use std::path::Path;

use crate::LoadContext;

/// A value an expansion can take.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    Str(String),
    Int(i64),
}

/// The names available to an option.
#[derive(Debug, Clone, Default)]
pub struct Vars {
    map: BTreeMap<String, Value>,
}

impl Vars {
    /// `here`, `host_node_name` and `ENV_*`: what every option may use.
    pub fn base(here: &Path, ctx: &LoadContext) -> Vars {
        let mut vars = Vars::default();
        for (k, v) in &ctx.env {
            vars.set(&format!("ENV_{k}"), Value::Str(v.clone()));
        }
        vars.set_here(here);
        vars.set("host_node_name", Value::Str(ctx.host_node_name.clone()));
        vars
    }

    /// `here`: the directory of the file an option is in.
    pub fn set_here(&mut self, here: &Path) {
        self.set("here", Value::Str(here.display().to_string()));
    }

    pub fn set(&mut self, name: &str, value: Value) {
        self.map.insert(name.to_owned(), value);
    }

    pub fn with(&self, name: &str, value: Value) -> Vars {
        let mut v = self.clone();
        v.set(name, value);
        v
    }

    fn get(&self, name: &str) -> Option<&Value> {
        self.map.get(name)
    }
}

/// The widest an expansion may be padded: a larger width is a typo, and the padding would be
/// allocated (`%(here)3333333333s` asked for 3 GB).
const MAX_WIDTH: usize = 1024;

/// Expands `text`, the value of option `key`. The error is the message, without a place.
pub fn expand(text: &str, vars: &Vars, key: &str) -> Result<String, String> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(pos) = rest.find('%') {
        out.push_str(&rest[..pos]);
        let after = &rest[pos + 1..];
        if let Some(r) = after.strip_prefix('%') {
            out.push('%');
            rest = r;
            continue;
        }
        let Some(inner) = after.strip_prefix('(') else {
            return Err(format!(
                "lone '%' in {key} (write %% for a literal %, or %(name)s)"
            ));
        };
        let Some(close) = inner.find(')') else {
            return Err(format!("unterminated expansion '%{after}' in {key}"));
        };
        let name = &inner[..close];
        let spec_start = &inner[close + 1..];
        // flags, width, then the conversion character
        let flags_len = spec_start
            .find(|c: char| !matches!(c, '0' | '-' | '+' | ' '))
            .unwrap_or(spec_start.len());
        let after_flags = &spec_start[flags_len..];
        let width_len = after_flags
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(after_flags.len());
        let conv = after_flags[width_len..].chars().next();
        let spec_len = flags_len + width_len + conv.map_or(0, char::len_utf8);
        let whole = format!("%({name}){}", &spec_start[..spec_len]);
        let flags = &spec_start[..flags_len];
        let Some(value) = vars.get(name) else {
            return Err(format!("unknown expansion {whole} in {key}"));
        };
        let width = match &after_flags[..width_len] {
            "" => 0,
            digits => match digits.parse::<usize>() {
                Ok(w) if w <= MAX_WIDTH => w,
                _ => {
                    return Err(format!(
                        "expansion {whole} in {key} has a width larger than {MAX_WIDTH}"
                    ))
                }
            },
        };
        let formatted = match conv {
            Some('s') => {
                let s = match value {
                    Value::Str(s) => s.clone(),
                    Value::Int(i) => i.to_string(),
                };
                pad(s, width, flags.contains('-'))
            }
            Some('d' | 'i') => {
                let n = match value {
                    Value::Int(i) => *i,
                    Value::Str(s) => s.trim().parse::<i64>().map_err(|_| {
                        format!("expansion {whole} in {key} needs a number, but {name} is '{s}'")
                    })?,
                };
                let mut digits = n.unsigned_abs().to_string();
                let sign = if n < 0 {
                    "-"
                } else if flags.contains('+') {
                    "+"
                } else if flags.contains(' ') {
                    " "
                } else {
                    ""
                };
                let left = flags.contains('-');
                if flags.contains('0') && !left {
                    let w = width.saturating_sub(sign.len());
                    if digits.len() < w {
                        digits = format!("{}{digits}", "0".repeat(w - digits.len()));
                    }
                }
                pad(format!("{sign}{digits}"), width, left)
            }
            _ => {
                return Err(format!(
                    "bad expansion {whole} in {key} (expected %(name)s or %(name)d)"
                ))
            }
        };
        out.push_str(&formatted);
        rest = &spec_start[spec_len..];
    }
    out.push_str(rest);
    Ok(out)
}

fn pad(s: String, width: usize, left: bool) -> String {
    let len = s.chars().count();
    if len >= width {
        s
    } else if left {
        format!("{s}{}", " ".repeat(width - len))
    } else {
        format!("{}{s}", " ".repeat(width - len))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn vars() -> Vars {
        let ctx = LoadContext {
            uid: 1000,
            host_node_name: "box".into(),
            env: vec![
                ("HOME".into(), "/home/me".into()),
                ("PORT".into(), "80".into()),
            ],
            trusted_owner: None,
        };
        Vars::base(Path::new("/etc/p"), &ctx)
            .with("process_num", Value::Int(3))
            .with("program_name", Value::Str("web".into()))
    }

    fn e(t: &str) -> Result<String, String> {
        expand(t, &vars(), "command")
    }

    #[test]
    fn expansions() {
        assert_eq!(e("plain").unwrap(), "plain");
        assert_eq!(e("%(here)s/x").unwrap(), "/etc/p/x");
        assert_eq!(
            e("%(ENV_HOME)s %(host_node_name)s").unwrap(),
            "/home/me box"
        );
        assert_eq!(e("%(program_name)s_%(process_num)02d").unwrap(), "web_03");
        assert_eq!(
            e("%(process_num)d|%(process_num)3d|%(process_num)-3d|").unwrap(),
            "3|  3|3  |"
        );
        assert_eq!(e("%(process_num)s").unwrap(), "3");
        assert_eq!(e("%(ENV_PORT)d").unwrap(), "80");
        assert_eq!(e("%(ENV_PORT)05d").unwrap(), "00080");
        assert_eq!(e("100%% %(process_num)+d").unwrap(), "100% +3");
        assert_eq!(e("%(program_name)6s|").unwrap(), "   web|");
    }

    #[test]
    fn errors() {
        assert_eq!(
            e("%(foo)s").unwrap_err(),
            "unknown expansion %(foo)s in command"
        );
        assert_eq!(
            e("a %(bar)02d b").unwrap_err(),
            "unknown expansion %(bar)02d in command"
        );
        assert_eq!(
            e("50%").unwrap_err(),
            "lone '%' in command (write %% for a literal %, or %(name)s)"
        );
        assert_eq!(
            e("5% off").unwrap_err(),
            "lone '%' in command (write %% for a literal %, or %(name)s)"
        );
        assert_eq!(
            e("%(here").unwrap_err(),
            "unterminated expansion '%(here' in command"
        );
        assert_eq!(
            e("%(here)x").unwrap_err(),
            "bad expansion %(here)x in command (expected %(name)s or %(name)d)"
        );
        assert_eq!(
            e("%(here)").unwrap_err(),
            "bad expansion %(here) in command (expected %(name)s or %(name)d)"
        );
        // found by fuzz/ (config): the width was allocated as padding, whatever its size, and
        // one too large for usize was read as 0
        assert_eq!(
            e("%(ENV_PORT)3333333333s").err().as_deref(),
            Some("expansion %(ENV_PORT)3333333333s in command has a width larger than 1024")
        );
        assert_eq!(
            e("%(process_num)1025d").unwrap_err(),
            "expansion %(process_num)1025d in command has a width larger than 1024"
        );
        assert_eq!(
            e("%(here)99999999999999999999999s").err().as_deref(),
            Some(
                "expansion %(here)99999999999999999999999s in command has a width larger than 1024"
            )
        );
        assert_eq!(e("%(process_num)01024d").unwrap().len(), 1024);
        assert_eq!(
            e("%(here)d").unwrap_err(),
            "expansion %(here)d in command needs a number, but here is '/etc/p'"
        );
    }
}
