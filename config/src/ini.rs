//! A reader for the INI dialect of Python's ConfigParser as Supervisor uses it, keeping the file
//! and line of every section header and key so that every message can point at its place.
//!
//! - `[section]` headers (the name is trimmed);
//! - `key = value` or `key: value`, split at the first `=` or `:`; keys are trimmed and
//!   lower-cased, values trimmed;
//! - full-line comments start with `#` or `;` after optional whitespace;
//! - an inline comment starts at a `;` preceded by whitespace, even inside quotes (as
//!   Supervisor documents);
//! - a line indented deeper than the key line before it continues that key's value (joined
//!   with `\n`); blank and comment lines in between are skipped;
//! - a key line before any section, a malformed header, a line with neither `=` nor `:`, and a
//!   key given twice in one section are errors.

use crate::Diagnostic;
use std::path::{Path, PathBuf};

/// One `key = value`, continuation lines included.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Lower-cased and trimmed.
    pub key: String,
    /// Trimmed; continuation lines are joined with `\n`.
    pub value: String,
    /// Line of the key (1-based).
    pub line: u32,
}

/// One `[name]` section and its entries, in file order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Section {
    pub name: String,
    pub file: PathBuf,
    /// Line of the header (1-based).
    pub line: u32,
    pub entries: Vec<Entry>,
}

impl Section {
    pub fn get(&self, key: &str) -> Option<&Entry> {
        self.entries.iter().find(|e| e.key == key)
    }
}

fn diag(file: &Path, line: usize, message: String) -> Diagnostic {
    Diagnostic {
        file: file.to_path_buf(),
        line: u32::try_from(line).unwrap_or(u32::MAX),
        message,
    }
}

/// Cuts an inline comment: from the first `;` that follows whitespace.
fn strip_inline_comment(line: &str) -> &str {
    let mut prev_space = false;
    for (i, c) in line.char_indices() {
        if c == ';' && prev_space {
            return &line[..i];
        }
        prev_space = c.is_whitespace();
    }
    line
}

/// Parses `text`, the contents of `file`.
pub fn parse(file: &Path, text: &str) -> Result<Vec<Section>, Diagnostic> {
    let mut sections: Vec<Section> = Vec::new();
    // The indentation of the last key line of the current section, while no other line (blank
    // and comment lines aside) came after it: a line indented deeper continues its value.
    let mut key_indent: Option<usize> = None;
    for (index, raw) in text.lines().enumerate() {
        let number = index + 1;
        let trimmed = raw.trim();
        if trimmed.is_empty() || trimmed.starts_with('#') || trimmed.starts_with(';') {
            continue;
        }
        let line = strip_inline_comment(raw);
        let indent = raw.len() - raw.trim_start().len();
        if key_indent.is_some_and(|k| indent > k) {
            let entry = sections
                .last_mut()
                .and_then(|s| s.entries.last_mut())
                .ok_or_else(|| diag(file, number, "continuation line without a key".into()))?;
            let piece = line.trim();
            if !piece.is_empty() {
                if !entry.value.is_empty() {
                    entry.value.push('\n');
                }
                entry.value.push_str(piece);
            }
            continue;
        }
        let content = line.trim();
        if content.starts_with('[') {
            let name = content
                .strip_prefix('[')
                .and_then(|s| s.strip_suffix(']'))
                .map(str::trim)
                .filter(|n| !n.is_empty() && !n.contains(['[', ']']))
                .ok_or_else(|| {
                    diag(
                        file,
                        number,
                        format!("malformed section header '{content}' (expected [name])"),
                    )
                })?;
            sections.push(Section {
                name: name.to_owned(),
                file: file.to_path_buf(),
                line: u32::try_from(number).unwrap_or(u32::MAX),
                entries: Vec::new(),
            });
            key_indent = None;
            continue;
        }
        let Some(split) = content.find(['=', ':']) else {
            return Err(diag(
                file,
                number,
                format!("expected 'key = value' or '[section]', found '{content}'"),
            ));
        };
        let key = content[..split].trim().to_lowercase();
        let value = content[split + 1..].trim().to_owned();
        let Some(section) = sections.last_mut() else {
            return Err(diag(
                file,
                number,
                format!("key '{key}' is outside any section (add a [section] header before it)"),
            ));
        };
        if key.is_empty() {
            return Err(diag(file, number, format!("empty key in '{content}'")));
        }
        if section.entries.iter().any(|e| e.key == key) {
            return Err(diag(
                file,
                number,
                format!("duplicate key '{key}' in [{}]", section.name),
            ));
        }
        section.entries.push(Entry {
            key,
            value,
            line: u32::try_from(number).unwrap_or(u32::MAX),
        });
        key_indent = Some(indent);
    }
    Ok(sections)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn p(text: &str) -> Result<Vec<Section>, String> {
        parse(Path::new("f.conf"), text).map_err(|d| d.to_string())
    }

    fn values(text: &str) -> Vec<(String, String, u32)> {
        p(text)
            .unwrap()
            .into_iter()
            .flat_map(|s| s.entries)
            .map(|e| (e.key, e.value, e.line))
            .collect()
    }

    #[test]
    fn keys_values_and_lines() {
        let s = p("# c\n; c\n[a]\nKey = v\nx: y=z\n y2=1\n\n[ b ]\nk=\n").unwrap();
        assert_eq!(s.len(), 2);
        assert_eq!((s[0].name.as_str(), s[0].line), ("a", 3));
        assert_eq!(s[1].name, "b");
        assert_eq!(s[1].line, 8);
        assert_eq!(
            s[0].entries[0],
            Entry {
                key: "key".into(),
                value: "v".into(),
                line: 4
            }
        );
        // first of '=' and ':' splits; the indented line continues the value
        assert_eq!(s[0].entries[1].key, "x");
        assert_eq!(s[0].entries[1].value, "y=z\ny2=1");
        assert_eq!(s[1].entries[0].value, "");
    }

    #[test]
    fn inline_comments() {
        let v = values("[a]\na = x ; comment\nb = x;y\nc = \"q ; r\"\nd = ;all\ne=u\t;t\nf = #x\n");
        assert_eq!(v[0].1, "x");
        assert_eq!(v[1].1, "x;y");
        assert_eq!(v[2].1, "\"q");
        assert_eq!(v[3].1, "");
        assert_eq!(v[4].1, "u");
        assert_eq!(v[5].1, "#x");
    }

    #[test]
    fn continuation_lines() {
        let v = values("[a]\ncmd = one\n  two ; c\n\n  # comment\n\tthree\nnext = 1\n");
        assert_eq!(v[0], ("cmd".into(), "one\ntwo\nthree".into(), 2));
        assert_eq!(v[1], ("next".into(), "1".into(), 7));
        // an indented line right after a header is an ordinary key line, and so is one indented
        // like the key line before it
        let v = values("[a]\n  k = v\n  l = w\n    more\n");
        assert_eq!(v[0], ("k".into(), "v".into(), 2));
        assert_eq!(v[1], ("l".into(), "w\nmore".into(), 3));
    }

    #[test]
    fn errors() {
        assert_eq!(
            p("k = v\n").unwrap_err(),
            "f.conf:1: key 'k' is outside any section (add a [section] header before it)"
        );
        assert_eq!(
            p("[a\n").unwrap_err(),
            "f.conf:1: malformed section header '[a' (expected [name])"
        );
        assert_eq!(
            p("[]\n").unwrap_err(),
            "f.conf:1: malformed section header '[]' (expected [name])"
        );
        assert_eq!(
            p("[a]\nfoo\n").unwrap_err(),
            "f.conf:2: expected 'key = value' or '[section]', found 'foo'"
        );
        assert_eq!(
            p("[a]\nK=1\nk=2\n").unwrap_err(),
            "f.conf:3: duplicate key 'k' in [a]"
        );
        assert_eq!(
            p("[a]\n = 1\n").unwrap_err(),
            "f.conf:2: empty key in '= 1'"
        );
    }
}
