//! The names commands carry, resolved to processes, and the orders Supervisor starts and stops
//! them in.

use super::{fail, Failure, Key, Supervisor};
use proctor_api::control::ErrorKind;
use std::collections::BTreeMap;

impl Supervisor {
    /// Resolves `name`, `group:name`, `group:*`, a bare group name, and `all`.
    pub(super) fn resolve(&self, names: &[String]) -> Result<Vec<Key>, Failure> {
        let mut out = Vec::new();
        // Each key once, in O(1) per key: `all` alone yields every process.
        let mut seen = std::collections::HashSet::new();
        for n in names {
            let matching = |f: &dyn Fn(&crate::procs::Proc) -> bool| -> Vec<Key> {
                self.procs
                    .iter()
                    .filter(|(_, p)| f(p))
                    .map(|(k, _)| k.clone())
                    .collect()
            };
            let found: Vec<Key> = if n == "all" {
                self.procs.keys().cloned().collect()
            } else if let Some((g, rest)) = n.split_once(':') {
                matching(&|p| p.group == g && (rest == "*" || p.name == rest))
            } else {
                let exact = matching(&|p| p.name == *n);
                if exact.is_empty() {
                    matching(&|p| p.group == *n)
                } else {
                    exact
                }
            };
            if found.is_empty() {
                return fail(ErrorKind::BadName, format!("no such process: {n}"));
            }
            for k in found {
                if seen.insert(k.clone()) {
                    out.push(k);
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
