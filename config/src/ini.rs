//! A reader for the INI dialect of Python's ConfigParser as Supervisor 4.3 uses it
//! (`RawConfigParser` with `inline_comment_prefixes=(';', '#')` and `strict=False`), keeping the
//! file and line of every section header and key so that every message can point at its place.
//! It follows `configparser.RawConfigParser._read` of Python 3.11 step by step:
//!
//! - a line whose stripped text starts with `#` or `;` is a comment;
//! - an inline comment starts at a `;` or `#` preceded by whitespace, even inside quotes, found
//!   as Python finds it (round by round over the prefixes, so `a;b ;c #d` keeps `a;b ;c`);
//! - `[name]` starts a section: the name is everything between the first `[` and the last `]`,
//!   untrimmed; text after the last `]` is ignored;
//! - `key = value` or `key: value`, split at the first `=` or `:`; keys are trimmed and
//!   lower-cased, values trimmed;
//! - a line indented deeper than the last key or header line continues the last key's value
//!   (joined with `\n`); a blank line inside a value is kept as an empty line, trailing ones
//!   are dropped;
//! - a key given twice, or a section given twice, is kept twice here: `load` merges them as
//!   Supervisor does (the last value wins) and warns about repeated keys;
//! - a key line before any section, a line with neither `=` nor `:`, and an empty key are
//!   errors.

use crate::Diagnostic;
use std::path::{Path, PathBuf};

/// Where something is: a file and a line (1-based; 0 for the file as a whole).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Place<'a> {
    pub file: &'a Path,
    pub line: u32,
}

impl Place<'_> {
    pub fn diag(self, message: impl Into<String>) -> Diagnostic {
        Diagnostic {
            file: self.file.to_path_buf(),
            line: self.line,
            message: message.into(),
        }
    }
}

/// One `key = value`, continuation lines included.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Lower-cased and trimmed.
    pub key: String,
    /// Trimmed; continuation lines are joined with `\n`.
    pub value: String,
    /// The file the key is in: a merged section holds keys of several files.
    pub file: PathBuf,
    /// Line of the key (1-based).
    pub line: u32,
}

impl Entry {
    pub fn place(&self) -> Place<'_> {
        Place {
            file: &self.file,
            line: self.line,
        }
    }
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

    /// The header's place.
    pub fn place(&self) -> Place<'_> {
        Place {
            file: &self.file,
            line: self.line,
        }
    }
}

fn line_no(index: usize) -> u32 {
    u32::try_from(index + 1).unwrap_or(u32::MAX)
}

/// Where a comment starts in `line`, as Python's `_read` computes it.
fn comment_start(line: &str) -> Option<usize> {
    let stripped = line.trim();
    if stripped.starts_with('#') || stripped.starts_with(';') {
        return Some(0);
    }
    // Python looks for the next occurrence of every prefix, round by round, and stops after the
    // first round in which one qualifies (index 0, or whitespace before it).
    let mut start: Option<usize> = None;
    let mut prefixes: Vec<(char, Option<usize>)> = vec![(';', None), ('#', None)];
    while start.is_none() && !prefixes.is_empty() {
        let mut next = Vec::new();
        for (prefix, last) in prefixes {
            let from = last.map_or(0, |i| i + 1);
            let Some(found) = line.get(from..).and_then(|rest| rest.find(prefix)) else {
                continue;
            };
            let found = found + from;
            next.push((prefix, Some(found)));
            let after_space = line[..found]
                .chars()
                .next_back()
                .is_some_and(char::is_whitespace);
            if found == 0 || after_space {
                start = Some(start.map_or(found, |s| s.min(found)));
            }
        }
        prefixes = next;
    }
    start
}

/// The section name of a header line (already stripped of comments and whitespace): Python's
/// `\[(?P<header>.+)\]`, matched at the start.
fn header(value: &str) -> Option<&str> {
    let rest = value.strip_prefix('[')?;
    let end = rest.rfind(']')?;
    (end > 0).then(|| &rest[..end])
}

/// Parses `text`, the contents of `file`.
pub fn parse(file: &Path, text: &str) -> Result<Vec<Section>, Diagnostic> {
    let mut sections: Vec<Section> = Vec::new();
    // A key was read in the current section, so deeper-indented lines continue its value.
    let mut open_key = false;
    // The indentation of the last key or header line.
    let mut indent_level = 0usize;
    // Python reads the file in text mode: \r\n and a lone \r end a line too.
    let text = text.replace("\r\n", "\n").replace('\r', "\n");
    for (index, raw) in text.lines().enumerate() {
        let number = line_no(index);
        let at = |message: String| Place { file, line: number }.diag(message);
        let comment = comment_start(raw);
        let value = raw[..comment.unwrap_or(raw.len())].trim();
        if value.is_empty() {
            // A blank line (not a comment) inside a value is part of it.
            if comment.is_none() && open_key {
                if let Some(e) = sections.last_mut().and_then(|s| s.entries.last_mut()) {
                    e.value.push('\n');
                }
            }
            continue;
        }
        let indent = raw.chars().take_while(|c| c.is_whitespace()).count();
        if open_key && indent > indent_level {
            if let Some(e) = sections.last_mut().and_then(|s| s.entries.last_mut()) {
                e.value.push('\n');
                e.value.push_str(value);
            }
            continue;
        }
        indent_level = indent;
        if let Some(name) = header(value) {
            sections.push(Section {
                name: name.to_owned(),
                file: file.to_path_buf(),
                line: number,
                entries: Vec::new(),
            });
            open_key = false;
            continue;
        }
        // Python would read `[program:x` as a key `[program` of the section before, which
        // Supervisor then ignores: the program would silently not exist. Refused instead.
        if value.starts_with('[') {
            return Err(at(format!(
                "malformed section header '{value}' (expected [name])"
            )));
        }
        let Some(split) = value.find(['=', ':']) else {
            return Err(at(format!(
                "expected 'key = value' or '[section]', found '{value}'"
            )));
        };
        let key = value[..split].trim().to_lowercase();
        let Some(section) = sections.last_mut() else {
            return Err(at(format!(
                "key '{key}' is outside any section (add a [section] header before it)"
            )));
        };
        if key.is_empty() {
            return Err(at(format!("empty key in '{value}'")));
        }
        section.entries.push(Entry {
            key,
            value: value[split + 1..].trim().to_owned(),
            file: file.to_path_buf(),
            line: number,
        });
        open_key = true;
    }
    // Python joins a value's lines and strips the end: blank lines at the end are not kept.
    for e in sections.iter_mut().flat_map(|s| s.entries.iter_mut()) {
        let end = e.value.trim_end().len();
        e.value.truncate(end);
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
        // As Python: the name is not trimmed.
        assert_eq!(s[1].name, " b ");
        assert_eq!(s[1].line, 8);
        assert_eq!(
            s[0].entries[0],
            Entry {
                key: "key".into(),
                value: "v".into(),
                file: "f.conf".into(),
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
        // Expected values are what Python 3.11's RawConfigParser gives with Supervisor's settings.
        let v = values(
            "[a]\na = x ; comment\nb = x;y\nc = \"q ; r\"\nd = ;all\ne=u\t;t\nf = #x\ng = a;b ;c #d\nh = x#y\n",
        );
        let got: Vec<&str> = v.iter().map(|e| e.1.as_str()).collect();
        assert_eq!(got, ["x", "x;y", "\"q", "", "u", "", "a;b ;c", "x#y"]);
    }

    #[test]
    fn continuation_lines() {
        // A blank line inside a value stays; a comment line does not.
        let v = values("[a]\ncmd = one\n  two ; c\n\n  # comment\n\tthree\nnext = 1\n");
        assert_eq!(v[0], ("cmd".into(), "one\ntwo\n\nthree".into(), 2));
        assert_eq!(v[1], ("next".into(), "1".into(), 7));
        // an indented line right after a header is an ordinary key line, and so is one indented
        // like the key line before it
        let v = values("[a]\n  k = v\n  l = w\n    more\n");
        assert_eq!(v[0], ("k".into(), "v".into(), 2));
        assert_eq!(v[1], ("l".into(), "w\nmore".into(), 3));
        // Blank lines at the end of a value are dropped; a whitespace-only line is blank.
        let v = values("[a]\nk=1\n\n\nl=2\n  \n   cont\n\n");
        assert_eq!(v[0].1, "1");
        assert_eq!(v[1].1, "2\n\ncont");
    }

    #[test]
    fn headers_as_python_reads_them() {
        let s = p("[ b ]\nk=\n[c] junk\nx=1\n[d]e]\ny=2\n").unwrap();
        let names: Vec<&str> = s.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, [" b ", "c", "d]e"]);
    }

    #[test]
    fn repeated_keys_and_sections_are_kept_for_the_merge() {
        let s = p("[a]\nK=1\nk=2\n[a]\nk=3\n").unwrap();
        assert_eq!(s.len(), 2);
        assert_eq!(s[0].entries.len(), 2);
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
            p("[a]\n = 1\n").unwrap_err(),
            "f.conf:2: empty key in '= 1'"
        );
    }
}
