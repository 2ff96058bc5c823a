//! The names commands carry, resolved to processes, and the orders Supervisor starts and stops
//! them in.

use super::{fail, Failure, Key, Supervisor};
use proctor_api::control::ErrorKind;
use std::collections::{BTreeMap, HashMap, HashSet};

impl Supervisor {
    /// Resolves `name`, `group:name`, `group:*`, a bare group name, and `all`, each process
    /// once, in the order named. One pass over the processes indexes them by name and by group,
    /// so a request costs O(names + processes) however its names are chosen (a client without
    /// rights gets this far only for actions some rule grants it).
    pub(super) fn resolve(&self, names: &[String]) -> Result<Vec<Key>, Failure> {
        let mut by_name: HashMap<&str, Vec<&Key>> = HashMap::new();
        let mut by_group: HashMap<&str, Vec<&Key>> = HashMap::new();
        let mut by_spec: HashMap<(&str, &str), &Key> = HashMap::new();
        if names.iter().any(|n| n != "all") {
            for (k, p) in &self.procs {
                by_name.entry(&p.name).or_default().push(k);
                by_group.entry(&p.group).or_default().push(k);
                by_spec.insert((&p.group, &p.name), k);
            }
        }
        let everything: Vec<&Key> = self.procs.keys().collect();
        let none = Vec::new();
        let mut out = Vec::new();
        let mut seen = HashSet::new();
        for n in names {
            let found: Vec<&Key> = if n == "all" {
                everything.clone()
            } else if let Some((g, rest)) = n.split_once(':') {
                if rest == "*" {
                    by_group.get(g).unwrap_or(&none).clone()
                } else {
                    by_spec.get(&(g, rest)).copied().into_iter().collect()
                }
            } else {
                by_name
                    .get(n.as_str())
                    .or_else(|| by_group.get(n.as_str()))
                    .cloned()
                    .unwrap_or_default()
            };
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
