//! The names commands carry, resolved to processes, and the orders Supervisor starts and stops
//! them in.

use super::{fail, Failure, Key, Supervisor};
use crate::procs::Proc;
use proctor_api::control::ErrorKind;
use std::collections::{BTreeMap, HashMap, HashSet};

/// Up to this many names, each is found by a scan of the processes: cheaper than building an
/// index (a request that names one process, the common case, would otherwise pay for an index
/// of a thousand).
const SCANNED_NAMES: usize = 8;

/// The processes, as `resolve` looks names up in them.
enum Index<'a> {
    Scan(&'a BTreeMap<Key, Proc>),
    Built {
        all: Vec<&'a Key>,
        by_name: HashMap<&'a str, Vec<&'a Key>>,
        by_group: HashMap<&'a str, Vec<&'a Key>>,
        by_spec: HashMap<(&'a str, &'a str), &'a Key>,
    },
}

impl<'a> Index<'a> {
    fn build(procs: &'a BTreeMap<Key, Proc>) -> Index<'a> {
        let mut by_name: HashMap<&str, Vec<&Key>> = HashMap::new();
        let mut by_group: HashMap<&str, Vec<&Key>> = HashMap::new();
        let mut by_spec = HashMap::new();
        for (k, p) in procs {
            by_name.entry(&p.name).or_default().push(k);
            by_group.entry(&p.group).or_default().push(k);
            by_spec.insert((p.group.as_str(), p.name.as_str()), k);
        }
        Index::Built {
            all: procs.keys().collect(),
            by_name,
            by_group,
            by_spec,
        }
    }

    /// The processes `n` stands for (none if it names nothing).
    fn find(&self, n: &str) -> Vec<&'a Key> {
        match self {
            Index::Scan(procs) => {
                let matching = |f: &dyn Fn(&Proc) -> bool| -> Vec<&'a Key> {
                    procs.iter().filter(|(_, p)| f(p)).map(|(k, _)| k).collect()
                };
                if n == "all" {
                    procs.keys().collect()
                } else if let Some((g, rest)) = n.split_once(':') {
                    matching(&|p| p.group == g && (rest == "*" || p.name == rest))
                } else {
                    let exact = matching(&|p| p.name == n);
                    if exact.is_empty() {
                        matching(&|p| p.group == n)
                    } else {
                        exact
                    }
                }
            }
            Index::Built {
                all,
                by_name,
                by_group,
                by_spec,
            } => {
                if n == "all" {
                    all.clone()
                } else if let Some((g, rest)) = n.split_once(':') {
                    if rest == "*" {
                        by_group.get(g).cloned().unwrap_or_default()
                    } else {
                        by_spec.get(&(g, rest)).copied().into_iter().collect()
                    }
                } else {
                    by_name
                        .get(n)
                        .or_else(|| by_group.get(n))
                        .cloned()
                        .unwrap_or_default()
                }
            }
        }
    }
}

impl Supervisor {
    /// Resolves `name`, `group:name`, `group:*`, a bare group name, and `all`, each process
    /// once, in the order named. A few names are looked up by a scan of the processes each;
    /// more are looked up in an index of them by name and by group, built in one pass, so a
    /// request costs O(names + processes) however its names are chosen (a client without
    /// rights gets this far only for actions some rule grants it).
    pub(super) fn resolve(&self, names: &[String]) -> Result<Vec<Key>, Failure> {
        let index = if names.len() > SCANNED_NAMES {
            Index::build(&self.procs)
        } else {
            Index::Scan(&self.procs)
        };
        let mut out = Vec::new();
        let mut seen = HashSet::new();
        for n in names {
            let found = index.find(n);
            if found.is_empty() {
                return fail(ErrorKind::BadName, format!("no such process: {n}"));
            }
            for k in found {
                if seen.insert(k) {
                    out.push(k.clone());
                }
            }
        }
        Ok(out)
    }

    /// `names` resolved, or every process when there are none.
    pub(super) fn resolve_or_all(&self, names: &[String]) -> Result<Vec<Key>, Failure> {
        if names.is_empty() {
            Ok(self.procs.keys().cloned().collect())
        } else {
            self.resolve(names)
        }
    }

    /// (group priority, program priority, group, name): Supervisor's start order.
    pub(super) fn priority(&self, key: &Key) -> (i32, i32, String, String) {
        let p = &self.procs[key];
        let gp = self
            .config
            .group(&p.group)
            .map_or(p.cfg.priority, |g| g.priority);
        (gp, p.cfg.priority, p.group.clone(), p.name.clone())
    }

    pub(super) fn sorted_for_display(&self, keys: &mut [Key]) {
        keys.sort_by(|a, b| {
            let (pa, pb) = (&self.procs[a], &self.procs[b]);
            (&pa.group, &pa.name).cmp(&(&pb.group, &pb.name))
        });
    }

    /// Groups keys by priority, highest first: each level is stopped before the next starts.
    pub(super) fn stop_levels(&self, keys: Vec<Key>) -> Vec<Vec<Key>> {
        let mut levels: BTreeMap<(i32, i32), Vec<Key>> = BTreeMap::new();
        for k in keys {
            let (gp, pp, _, _) = self.priority(&k);
            levels.entry((gp, pp)).or_default().push(k);
        }
        levels.into_values().rev().collect()
    }
}
