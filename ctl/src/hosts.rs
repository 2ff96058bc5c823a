//! Which hosts `-H` names: a comma list of `[user@]host[:port]`, numeric ranges
//! (`web[1-12]`, `web[01-12]` keeps the zeros), and `@group` names from an inventory file.
//!
//! The inventory (`$PROCTOR_HOSTS`, else `~/.config/proctor/hosts`, else `/etc/proctor/hosts`)
//! is a list of groups, as Ansible's INI inventories and ssh users write them:
//!
//! ```text
//! # comments start with #
//! [web]
//! web[1-4].example.com  admin@web9:2222
//! [db]
//! db1, db2
//! [prod]
//! @web
//! @db
//! ```
//!
//! A group's lines hold host expressions (spaces or commas between them) and `@group`s.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// At most this many hosts from one `-H`: past it a range is a typo.
pub const MAX_HOSTS: usize = 10_000;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Host {
    pub user: Option<String>,
    pub name: String,
    pub port: Option<u16>,
}

impl std::fmt::Display for Host {
    /// As the output's `host:` prefix and the summary name it.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if let Some(u) = &self.user {
            write!(f, "{u}@")?;
        }
        if self.name.contains(':') {
            write!(f, "[{}]", self.name)?;
        } else {
            f.write_str(&self.name)?;
        }
        if let Some(p) = self.port {
            write!(f, ":{p}")?;
        }
        Ok(())
    }
}

/// The groups of an inventory file, by name.
#[derive(Debug, Default)]
pub struct Inventory {
    pub file: Option<PathBuf>,
    groups: HashMap<String, Vec<String>>,
}

impl Inventory {
    /// `text` of `file`: `file:line: problem` when a line is not a group, a host list or empty.
    pub fn parse(file: &Path, text: &str) -> Result<Inventory, String> {
        let mut groups: HashMap<String, Vec<String>> = HashMap::new();
        let mut current: Option<String> = None;
        for (i, raw) in text.lines().enumerate() {
            let line = raw.split('#').next().unwrap_or("").trim();
            if line.is_empty() {
                continue;
            }
            let at = || format!("{}:{}", file.display(), i + 1);
            if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
                let name = name.trim();
                if !valid_group(name) {
                    return Err(format!(
                        "{}: [{name}] is not a group name (letters, digits, '-', '_', '.')",
                        at()
                    ));
                }
                if groups.contains_key(name) {
                    return Err(format!("{}: [{name}] is given twice", at()));
                }
                groups.insert(name.to_owned(), Vec::new());
                current = Some(name.to_owned());
                continue;
            }
            let Some(group) = &current else {
                return Err(format!(
                    "{}: hosts before any [group] line (write [NAME] above them)",
                    at()
                ));
            };
            let items = groups.entry(group.clone()).or_default();
            for item in line.split([',', ' ', '\t']).filter(|s| !s.is_empty()) {
                // Checked now, so that the error names this line.
                if let Some(g) = item.strip_prefix('@') {
                    if !valid_group(g) {
                        return Err(format!("{}: @{g} is not a group name", at()));
                    }
                } else {
                    expand_item(item).map_err(|e| format!("{}: {e}", at()))?;
                }
                items.push(item.to_owned());
            }
        }
        Ok(Inventory {
            file: Some(file.to_path_buf()),
            groups,
        })
    }

    /// The inventory the environment and the files name, or an empty one if there is none.
    pub fn find() -> Result<Inventory, String> {
        let env = std::env::var_os("PROCTOR_HOSTS").map(PathBuf::from);
        let home = std::env::var_os("HOME")
            .map(|h| Path::new(&h).join(".config/proctor/hosts"))
            .filter(|p| p.exists());
        let system = Some(PathBuf::from("/etc/proctor/hosts")).filter(|p| p.exists());
        let Some(file) = env.or(home).or(system) else {
            return Ok(Inventory::default());
        };
        let text = std::fs::read_to_string(&file)
            .map_err(|e| format!("{}: cannot read the inventory: {e}", file.display()))?;
        Inventory::parse(&file, &text)
    }

    fn group(&self, name: &str, seen: &mut Vec<String>, out: &mut Vec<Host>) -> Result<(), String> {
        let Some(items) = self.groups.get(name) else {
            let from = self
                .file
                .as_ref()
                .map(|f| format!("{} has no [{name}]", f.display()))
                .unwrap_or_else(|| {
                    "no inventory: set PROCTOR_HOSTS or write ~/.config/proctor/hosts".into()
                });
            return Err(format!("@{name}: {from}"));
        };
        if seen.iter().any(|s| s == name) {
            return Err(format!(
                "@{name} includes itself ({} -> {name})",
                seen.join(" -> ")
            ));
        }
        seen.push(name.to_owned());
        for item in items {
            match item.strip_prefix('@') {
                Some(g) => self.group(g, seen, out)?,
                None => out.extend(expand_item(item)?),
            }
            if out.len() > MAX_HOSTS {
                return Err(format!("more than {MAX_HOSTS} hosts"));
            }
        }
        seen.pop();
        Ok(())
    }

    /// The hosts `expr` names, in order, each once.
    pub fn hosts(&self, expr: &str) -> Result<Vec<Host>, String> {
        let mut out = Vec::new();
        for item in split_list(expr) {
            match item.strip_prefix('@') {
                Some(g) => self.group(g, &mut Vec::new(), &mut out)?,
                None => out.extend(expand_item(&item)?),
            }
            if out.len() > MAX_HOSTS {
                return Err(format!("more than {MAX_HOSTS} hosts"));
            }
        }
        let mut unique = Vec::with_capacity(out.len());
        for h in out {
            if !unique.contains(&h) {
                unique.push(h);
            }
        }
        if unique.is_empty() {
            return Err("no host given".into());
        }
        Ok(unique)
    }
}

fn valid_group(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

/// Splits a `-H` list at the commas outside brackets (`web[1-3],db` is two items).
fn split_list(expr: &str) -> Vec<String> {
    let mut items = Vec::new();
    let mut cur = String::new();
    let mut depth = 0u32;
    for c in expr.chars() {
        match c {
            '[' => depth += 1,
            ']' => depth = depth.saturating_sub(1),
            _ => {}
        }
        if c == ',' && depth == 0 {
            items.push(std::mem::take(&mut cur));
        } else {
            cur.push(c);
        }
    }
    items.push(cur);
    items
        .into_iter()
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
        .collect()
}

/// A name with its numeric ranges expanded: `web[1-3]` → web1, web2, web3.
fn expand_ranges(name: &str) -> Result<Vec<String>, String> {
    let Some(open) = name.find('[') else {
        return Ok(vec![name.to_owned()]);
    };
    let close = name[open..]
        .find(']')
        .map(|c| open + c)
        .ok_or_else(|| format!("{name}: '[' without ']'"))?;
    let (lo, hi) = name[open + 1..close]
        .split_once('-')
        .ok_or_else(|| format!("{name}: a range is [FIRST-LAST], as web[1-12]"))?;
    let number = |s: &str| {
        s.parse::<u64>()
            .ok()
            .filter(|_| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
    };
    let (Some(a), Some(b)) = (number(lo), number(hi)) else {
        return Err(format!("{name}: a range is of numbers, as web[1-12]"));
    };
    if a > b {
        return Err(format!("{name}: the range runs backwards"));
    }
    if b - a >= MAX_HOSTS as u64 {
        return Err(format!("{name}: more than {MAX_HOSTS} hosts"));
    }
    // `01` keeps its width: web[01-12] is web01 ... web12.
    let width = if lo.len() > 1 && lo.starts_with('0') {
        lo.len()
    } else {
        0
    };
    let (before, after) = (&name[..open], &name[close + 1..]);
    let rests = expand_ranges(after)?;
    let mut out = Vec::new();
    for n in a..=b {
        for rest in &rests {
            out.push(format!("{before}{n:0width$}{rest}"));
            if out.len() > MAX_HOSTS {
                return Err(format!("{name}: more than {MAX_HOSTS} hosts"));
            }
        }
    }
    Ok(out)
}

/// One item of a list: `[user@]host[:port]`, ranges in the host, or an IPv6 address in
/// brackets (`[::1]:2222`).
fn expand_item(item: &str) -> Result<Vec<Host>, String> {
    let (user, rest) = match item.rsplit_once('@') {
        Some((u, r)) => (Some(u.to_owned()), r),
        None => (None, item),
    };
    if user.as_deref().is_some_and(|u| !valid_user(u)) {
        return Err(format!("{item}: not a user name before '@'"));
    }
    // An IPv6 address: in brackets, with a ':' inside.
    if let Some(inner) = rest.strip_prefix('[').filter(|r| r.contains(':')) {
        let (addr, port) = inner
            .split_once(']')
            .ok_or_else(|| format!("{item}: '[' without ']'"))?;
        let port = match port.strip_prefix(':') {
            Some(p) => Some(port_of(item, p)?),
            None if port.is_empty() => None,
            None => return Err(format!("{item}: junk after ']'")),
        };
        addr.parse::<std::net::Ipv6Addr>()
            .map_err(|_| format!("{item}: not an IPv6 address in brackets"))?;
        return Ok(vec![Host {
            user,
            name: addr.to_owned(),
            port,
        }]);
    }
    let (name, port) = match rest.rsplit_once(':') {
        Some((n, p)) => (n, Some(port_of(item, p)?)),
        None => (rest, None),
    };
    let names = expand_ranges(name)?;
    names
        .into_iter()
        .map(|n| {
            if !valid_host(&n) {
                return Err(format!(
                    "{item}: '{n}' is not a host name (letters, digits, '-', '.', '_')"
                ));
            }
            Ok(Host {
                user: user.clone(),
                name: n,
                port,
            })
        })
        .collect()
}

fn port_of(item: &str, p: &str) -> Result<u16, String> {
    p.parse::<u16>()
        .ok()
        .filter(|p| *p > 0)
        .ok_or_else(|| format!("{item}: '{p}' is not a port"))
}

/// What may reach ssh as a host: no option (`-oProxyCommand=...`), no shell syntax.
fn valid_host(n: &str) -> bool {
    !n.is_empty()
        && !n.starts_with('-')
        && n.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_'))
}

fn valid_user(u: &str) -> bool {
    !u.is_empty()
        && !u.starts_with('-')
        && u.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_'))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn names(inv: &Inventory, expr: &str) -> Vec<String> {
        inv.hosts(expr)
            .unwrap()
            .iter()
            .map(|h| h.to_string())
            .collect()
    }

    #[test]
    fn lists_ranges_users_and_ports() {
        let inv = Inventory::default();
        assert_eq!(names(&inv, "web1,web2, db1"), ["web1", "web2", "db1"]);
        assert_eq!(names(&inv, "web[1-3]"), ["web1", "web2", "web3"]);
        assert_eq!(
            names(&inv, "web[08-10].x"),
            ["web08.x", "web09.x", "web10.x"]
        );
        assert_eq!(
            names(&inv, "r[1-2]c[1-2]"),
            ["r1c1", "r1c2", "r2c1", "r2c2"]
        );
        assert_eq!(
            names(&inv, "alice@web[1-2]:2222,web1"),
            ["alice@web1:2222", "alice@web2:2222", "web1"]
        );
        assert_eq!(
            names(&inv, "[::1]:2222,root@[::1]"),
            ["[::1]:2222", "root@[::1]"]
        );
        assert_eq!(names(&inv, "a,a,b"), ["a", "b"]);
        for bad in [
            "",
            "web[3-1]",
            "web[a-b]",
            "web[1-",
            "-oProxyCommand=x",
            "a;b",
            "web:0",
            "web:99999",
            "@nogroup",
            "x[0-99999]",
            "$(id)@h",
        ] {
            assert!(inv.hosts(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn inventories_name_groups_of_groups() {
        let text = "# staff\n[web]\nweb[1-2] admin@web9:2222\n[db]\ndb1, db2\n[prod]\n@web\n@db\n";
        let inv = Inventory::parse(Path::new("/h"), text).unwrap();
        assert_eq!(
            names(&inv, "@prod"),
            ["web1", "web2", "admin@web9:2222", "db1", "db2"]
        );
        assert_eq!(names(&inv, "db2,@db"), ["db2", "db1"]);
        let cyclic = Inventory::parse(Path::new("/h"), "[a]\n@b\n[b]\n@a\n").unwrap();
        assert!(cyclic.hosts("@a").unwrap_err().contains("includes itself"));
        for (text, want) in [
            ("web1\n", "/h:1: hosts before any [group] line"),
            ("[a b]\n", "/h:1: [a b] is not a group name"),
            ("[a]\n[a]\n", "/h:2: [a] is given twice"),
            (
                "[a]\nweb[2-1]\n",
                "/h:2: web[2-1]: the range runs backwards",
            ),
        ] {
            let e = Inventory::parse(Path::new("/h"), text).unwrap_err();
            assert!(e.starts_with(want), "{text:?}: {e}");
        }
    }
}
