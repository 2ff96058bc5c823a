//! What changed between two configs, by process group, as `reread` and `update` see it.

use proctor_config::{Config, GroupConfig, ProgramConfig};
use proctor_wire::control::ConfigDiff;

/// A group's settings and its programs' settings, by value (indices differ between configs).
fn signature<'a>(config: &'a Config, g: &'a GroupConfig) -> (i32, bool, Vec<&'a ProgramConfig>) {
    (
        g.priority,
        g.explicit,
        g.programs
            .iter()
            .filter_map(|&i| config.programs.get(i))
            .collect(),
    )
}

pub fn diff(old: &Config, new: &Config) -> ConfigDiff {
    let mut d = ConfigDiff::default();
    for g in &new.groups {
        match old.group(&g.name) {
            None => d.added.push(g.name.clone()),
            Some(og) if signature(old, og) != signature(new, g) => d.changed.push(g.name.clone()),
            Some(_) => {}
        }
    }
    for g in &old.groups {
        if new.group(&g.name).is_none() {
            d.removed.push(g.name.clone());
        }
    }
    d.added.sort();
    d.changed.sort();
    d.removed.sort();
    d
}
