//! The documentation holds together: every link between the Markdown files reaches a file and
//! a heading that exist; the man pages render without a warning; the completions load.
#![allow(clippy::unwrap_used, clippy::panic, clippy::expect_used)]
#![forbid(unsafe_code)]

use pulldown_cmark::{Event, Options, Parser, Tag, TagEnd};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The Markdown files people read.
fn documents() -> Vec<PathBuf> {
    let r = root();
    let mut v: Vec<PathBuf> = [
        "README.md",
        "SECURITY.md",
        "CONTRIBUTING.md",
        "bench/README.md",
    ]
    .iter()
    .map(|f| r.join(f))
    .collect();
    for e in std::fs::read_dir(r.join("docs")).unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_some_and(|x| x == "md") {
            v.push(p);
        }
    }
    v
}

/// GitHub's anchor for a heading: lower case, punctuation dropped, spaces as hyphens; a
/// repeated one gets -1, -2...
fn anchors(markdown: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut text: Option<String> = None;
    for e in Parser::new_ext(markdown, Options::ENABLE_TABLES) {
        match e {
            Event::Start(Tag::Heading { .. }) => text = Some(String::new()),
            Event::Text(t) | Event::Code(t) => {
                if let Some(s) = &mut text {
                    s.push_str(&t);
                }
            }
            Event::End(TagEnd::Heading(_)) => {
                let t = text.take().unwrap_or_default().to_lowercase();
                let slug: String = t
                    .chars()
                    .filter(|c| c.is_alphanumeric() || matches!(c, ' ' | '-' | '_'))
                    .map(|c| if c == ' ' { '-' } else { c })
                    .collect();
                let mut candidate = slug.clone();
                let mut n = 0;
                while !out.insert(candidate.clone()) {
                    n += 1;
                    candidate = format!("{slug}-{n}");
                }
            }
            _ => {}
        }
    }
    out
}

fn links(markdown: &str) -> Vec<String> {
    Parser::new_ext(markdown, Options::ENABLE_TABLES)
        .filter_map(|e| match e {
            Event::Start(Tag::Link { dest_url, .. } | Tag::Image { dest_url, .. }) => {
                Some(dest_url.to_string())
            }
            _ => None,
        })
        .collect()
}

#[test]
fn every_link_reaches_a_file_and_a_heading() {
    let mut broken = Vec::new();
    for doc in documents() {
        let text = std::fs::read_to_string(&doc).unwrap();
        for link in links(&text) {
            if link.contains("://") || link.starts_with("mailto:") {
                continue;
            }
            let (file, anchor) = match link.split_once('#') {
                Some((f, a)) => (f, Some(a)),
                None => (link.as_str(), None),
            };
            let target = if file.is_empty() {
                doc.clone()
            } else {
                doc.parent().unwrap().join(file)
            };
            if !target.exists() {
                broken.push(format!("{}: {link}: no such file", doc.display()));
                continue;
            }
            if let Some(a) = anchor {
                let body = std::fs::read_to_string(&target).unwrap_or_default();
                if !anchors(&body).contains(a) {
                    broken.push(format!("{}: {link}: no such heading", doc.display()));
                }
            }
        }
    }
    assert!(broken.is_empty(), "broken links:\n{}", broken.join("\n"));
}

/// In CI a missing tool is a failure; elsewhere, a SKIP line.
fn have(tool: &str, test: &str) -> bool {
    let found = Command::new("sh")
        .arg("-c")
        .arg(format!("command -v {tool}"))
        .output()
        .is_ok_and(|o| o.status.success());
    if !found {
        assert!(
            std::env::var_os("CI").is_none(),
            "{test}: {tool} is not installed (.ci/run installs it)"
        );
        println!("SKIP: {test}: {tool} is not installed");
    }
    found
}

fn generated() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let o = Command::new(env!("CARGO_BIN_EXE_proctor-docgen"))
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    dir
}

#[test]
fn man_pages_render_without_warnings() {
    if !have("man", "man_pages_render_without_warnings") {
        return;
    }
    let dir = generated();
    let mut pages: Vec<PathBuf> = std::fs::read_dir(dir.path().join("man"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    pages.sort();
    let names: Vec<String> = pages
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    for want in [
        "proctorctl.1",
        "proctorctl-status.1",
        "proctord.8",
        "proctor.conf.5",
        "proctor-policy.5",
        "proctor-audit.5",
    ] {
        assert!(names.iter().any(|n| n == want), "{want} missing: {names:?}");
    }
    for page in &pages {
        let o = Command::new("man")
            .args(["--warnings", "-E", "UTF-8", "-l"])
            .arg(page)
            .env("MANWIDTH", "80")
            .env("LC_ALL", "C.UTF-8")
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(
            o.status.success() && err.is_empty(),
            "{}: {err}",
            page.display()
        );
        assert!(o.stdout.len() > 200, "{}: next to nothing", page.display());
    }
}

#[test]
fn bash_completion_loads_and_completes() {
    if !have("bash", "bash_completion_loads_and_completes") {
        return;
    }
    let dir = generated();
    let script = dir.path().join("completions/proctorctl.bash");
    // What bash does on Tab after `proctorctl re`: the function the script registered, asked.
    let o = Command::new("bash")
        .arg("-c")
        .arg(format!(
            "source {} && complete -p proctorctl && COMP_WORDS=(proctorctl re) COMP_CWORD=1 \
             COMP_LINE='proctorctl re' COMP_POINT=13 && _proctorctl proctorctl re proctorctl && \
             printf '%s\\n' \"${{COMPREPLY[@]}}\"",
            script.display()
        ))
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    for want in ["restart", "reread", "reload", "remove"] {
        assert!(out.lines().any(|l| l == want), "{want} not offered:\n{out}");
    }
}

/// The code spans of a Markdown file: where keys, actions and fields are named.
fn code_spans(file: &str) -> BTreeSet<String> {
    let text = std::fs::read_to_string(root().join(file)).unwrap();
    Parser::new_ext(&text, Options::ENABLE_TABLES)
        .filter_map(|e| match e {
            Event::Code(c) => Some(c.to_string()),
            _ => None,
        })
        .collect()
}

/// Named in a code span: the name alone, or `name=...`, `name = ...`, `[name]`, `"name"`.
fn named(spans: &BTreeSet<String>, name: &str) -> bool {
    spans.iter().any(|s| {
        let s = s.trim_matches(|c| c == '"' || c == '[' || c == ']');
        s == name
            || s.strip_prefix(name)
                .is_some_and(|rest| rest.trim_start().starts_with('='))
    })
}

#[test]
fn every_config_key_is_in_proctor_conf_5() {
    let spans = code_spans("docs/configuration.md");
    let missing: Vec<String> = proctor_config::keys::known()
        .into_iter()
        .filter(|(_, key)| !named(&spans, key))
        .map(|(section, key)| format!("[{section}] {key}"))
        .collect();
    assert!(
        missing.is_empty(),
        "not in docs/configuration.md: {missing:?}"
    );
}

#[test]
fn every_policy_action_is_in_proctor_policy_5() {
    let spans = code_spans("docs/policy.md");
    let missing: Vec<&str> = proctor_policy::Action::all_names()
        .filter(|a| !named(&spans, a))
        .collect();
    assert!(missing.is_empty(), "not in docs/policy.md: {missing:?}");
}

#[test]
fn every_audit_record_field_is_in_proctor_audit_5() {
    // Every optional field set, so that each is written.
    let record = proctor_api::audit::Record {
        pid: Some(1),
        via: Some("tcp".into()),
        outcome: Some("ok".into()),
        request: Some(1),
        epoch: Some(1),
        n: Some(1),
        mac: Some("00".into()),
        ..Default::default()
    };
    let fields = serde_json::to_value(&record).unwrap();
    let spans = code_spans("docs/audit.md");
    let missing: Vec<&String> = fields
        .as_object()
        .unwrap()
        .keys()
        .filter(|f| !named(&spans, f))
        .collect();
    assert!(missing.is_empty(), "not in docs/audit.md: {missing:?}");
}
