//! Reading the main file and the files its `[include]` section names, into one list of sections
//! in file order (each included file's sections stand where the `[include]` section stands).
//! A section given again, in the same file or an included one, is merged into the first, and a
//! key given again replaces the earlier value with a warning: Supervisor's ConfigParser
//! (`strict=False`) reads every file into one set of sections the same way.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use crate::expand::{expand, Vars};
use crate::ini::{self, Section};
use crate::{trust, Diagnostic, LoadContext};

pub(crate) fn diag(file: &Path, line: u32, message: impl Into<String>) -> Diagnostic {
    Diagnostic {
        file: file.to_path_buf(),
        line,
        message: message.into(),
    }
}

/// The directory of `file` (absolute when `file` is).
pub(crate) fn dir_of(file: &Path) -> PathBuf {
    file.parent().map(Path::to_path_buf).unwrap_or_default()
}

fn read(file: &Path, ctx: &LoadContext) -> Result<Vec<Section>, Diagnostic> {
    let text = match ctx.trusted_owner {
        None => std::fs::read_to_string(file),
        Some(owner) => {
            let mut opened = trust::open_trusted(file, &[owner]).map_err(|e| {
                let shown = format!("{}: ", file.display());
                let why = e.strip_prefix(&shown).unwrap_or(&e);
                diag(
                    file,
                    0,
                    format!("{why} (as root, proctor reads only files that root alone can write)"),
                )
            })?;
            let mut text = String::new();
            std::io::Read::read_to_string(&mut opened, &mut text).map(|_| text)
        }
    }
    .map_err(|e| diag(file, 0, format!("cannot read: {e}")))?;
    ini::parse(file, &text)
}

/// Reads `main` (absolute) and its includes. Supervisor reads the main file whole, then each
/// included file in turn, into one set of sections: a key in an included file replaces the
/// main file's wherever the `[include]` stands. Sections are returned in file order (each
/// included file's new sections where the `[include]` section stands), `[include]` with them.
pub(crate) fn read_all(
    main: &Path,
    ctx: &LoadContext,
    warnings: &mut Vec<Diagnostic>,
) -> Result<Vec<Section>, Diagnostic> {
    // A repeated [include] is one section, whose last files= counts.
    let main_sections = merge(read(main, ctx)?, warnings);
    let mut order: Vec<String> = Vec::new();
    let mut included = Vec::new();
    for section in &main_sections {
        order.push(section.name.clone());
        if section.name != "include" {
            continue;
        }
        for file in include_files(section, ctx, warnings)? {
            for inner in read(&file, ctx)? {
                if inner.name == "include" {
                    warnings.push(diag(
                        &inner.file,
                        inner.line,
                        "[include] in an included file is ignored (includes do not nest)",
                    ));
                } else {
                    order.push(inner.name.clone());
                    included.push(inner);
                }
            }
        }
    }
    let mut merged = merge(
        main_sections.into_iter().chain(included).collect(),
        warnings,
    );
    let place = |name: &str| order.iter().position(|n| n == name).unwrap_or(usize::MAX);
    merged.sort_by_key(|s| place(&s.name));
    Ok(apply_defaults(merged))
}

/// The files an `[include]` section names, in order: each pattern's matches sorted.
fn include_files(
    section: &Section,
    ctx: &LoadContext,
    warnings: &mut Vec<Diagnostic>,
) -> Result<Vec<PathBuf>, Diagnostic> {
    for e in &section.entries {
        if e.key != "files" {
            warnings.push(diag(
                &section.file,
                e.line,
                format!("unknown key '{}' in [include] (ignored)", e.key),
            ));
        }
    }
    let Some(entry) = section.get("files") else {
        return Err(diag(&section.file, section.line, "[include] has no files="));
    };
    let at = |m: String| diag(&section.file, entry.line, m);
    let here = dir_of(&section.file);
    let value = expand(&entry.value, &Vars::base(&here, ctx), "files").map_err(at)?;
    let mut files = Vec::new();
    for pattern in value.split_whitespace() {
        let full = here.join(pattern);
        let full_str = full
            .to_str()
            .ok_or_else(|| at(format!("include pattern '{pattern}' is not valid UTF-8")))?;
        // As Python's glob: `*` does not match a leading dot (an editor's `.#x.conf`).
        let options = glob::MatchOptions {
            require_literal_leading_dot: true,
            ..glob::MatchOptions::new()
        };
        let paths = glob::glob_with(full_str, options)
            .map_err(|e| at(format!("bad include pattern '{pattern}': {e}")))?;
        let mut matched = Vec::new();
        for p in paths {
            matched.push(p.map_err(|e| at(format!("include pattern '{pattern}': {e}")))?);
        }
        if matched.is_empty() {
            // Supervisor says so and goes on (an empty conf.d/ is ordinary).
            warnings.push(at(format!("include pattern '{pattern}' matches no file")));
            continue;
        }
        matched.sort();
        files.extend(matched);
    }
    if value.split_whitespace().next().is_none() {
        warnings.push(at("[include] files= names no file".into()));
    }
    Ok(files)
}

/// ConfigParser's `[DEFAULT]`: its keys are every other section's unless it has its own.
fn apply_defaults(mut sections: Vec<Section>) -> Vec<Section> {
    let Some(at) = sections.iter().position(|s| s.name == "DEFAULT") else {
        return sections;
    };
    let defaults = sections.remove(at);
    for s in &mut sections {
        for e in &defaults.entries {
            if s.get(&e.key).is_none() {
                s.entries.push(e.clone());
            }
        }
    }
    sections
}

/// One section per name, where its first occurrence stands, with every key's last value.
fn merge(sections: Vec<Section>, warnings: &mut Vec<Diagnostic>) -> Vec<Section> {
    let mut out: Vec<Section> = Vec::with_capacity(sections.len());
    let mut index: HashMap<String, usize> = HashMap::new();
    for mut s in sections {
        let entries = std::mem::take(&mut s.entries);
        let at = *index.entry(s.name.clone()).or_insert_with(|| {
            out.push(s);
            out.len() - 1
        });
        let Some(target) = out.get_mut(at) else {
            continue;
        };
        for e in entries {
            match target.entries.iter_mut().find(|old| old.key == e.key) {
                Some(old) => {
                    warnings.push(e.place().diag(format!(
                        "{} is given again in [{}]: this value replaces the one at {}:{} (the \
                         last one wins, as in Supervisor)",
                        e.key,
                        target.name,
                        old.file.display(),
                        old.line
                    )));
                    *old = e;
                }
                None => target.entries.push(e),
            }
        }
    }
    out
}
