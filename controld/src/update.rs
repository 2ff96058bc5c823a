//! What changed between the groups that run and a config, as `reread` and `update` see it.
//!
//! controld keeps the settings of every group as last applied, by value: a partial `update`
//! applies some groups and leaves the others' changes pending, as Supervisor does.

use proctor_api::control::ConfigDiff;
use proctor_config::{Config, ProgramConfig};
use std::collections::BTreeMap;
use std::sync::Arc;

/// A group's priority, kind and its programs' settings (indices differ between configs). The
/// processes created from an applied group share its settings, rather than keep a copy each.
pub type GroupSig = (i32, bool, Vec<Arc<ProgramConfig>>);

pub fn signatures(config: &Config) -> BTreeMap<String, GroupSig> {
    config
        .groups
        .iter()
        .map(|g| {
            let programs = g
                .programs
                .iter()
                .filter_map(|&i| config.programs.get(i).cloned())
                .collect();
            (g.name.clone(), (g.priority, g.explicit, programs))
        })
        .collect()
}

pub fn diff(applied: &BTreeMap<String, GroupSig>, new: &Config) -> ConfigDiff {
    let fresh = signatures(new);
    let mut d = ConfigDiff::default();
    for (name, sig) in &fresh {
        match applied.get(name) {
            None => d.added.push(name.clone()),
            Some(old) if old != sig => d.changed.push(name.clone()),
            Some(_) => {}
        }
    }
    d.removed = applied
        .keys()
        .filter(|n| !fresh.contains_key(*n))
        .cloned()
        .collect();
    d
}
