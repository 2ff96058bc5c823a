//! The policy file: TOML, default deny.
//!
//! ```toml
//! admins = ["root", "%wheel"]          # every action on everything
//!
//! [[allow]]
//! who = ["%webops", "alice"]           # user names and %group names
//! actions = ["status", "start", "stop", "restart", "signal", "tail"]
//! programs = ["nginx", "web:*"]        # names, group:*, globs
//! ```

use crate::{Action, Peer, Target, Verdict};
use nix::unistd::{Group, User};
use serde::Deserialize;
use std::path::{Path, PathBuf};
use toml::Spanned;

/// A refused policy file: `file:line: problem` (line 0 when it is about the whole file), the
/// same shape as every other file error.
pub use proctor_config::Diagnostic as PolicyError;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Doc {
    admins: Option<Spanned<Vec<Spanned<String>>>>,
    #[serde(default)]
    allow: Vec<Spanned<RuleDoc>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RuleDoc {
    who: Spanned<Vec<Spanned<String>>>,
    actions: Spanned<Vec<Spanned<String>>>,
    programs: Spanned<Vec<Spanned<String>>>,
}

/// Users and groups, resolved to ids when the policy is loaded.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Who {
    uids: Vec<u32>,
    gids: Vec<u32>,
}

impl Who {
    fn matches(&self, peer: &Peer) -> bool {
        self.uids.contains(&peer.uid) || peer.gids.iter().any(|g| self.gids.contains(g))
    }
}

#[derive(Debug, Clone)]
struct Rule {
    line: u32,
    who: Who,
    actions: Vec<Action>,
    programs: Vec<glob::Pattern>,
}

#[derive(Debug, Clone)]
pub struct Policy {
    pub file: PathBuf,
    admins_line: u32,
    admins: Who,
    rules: Vec<Rule>,
}

fn line_of(text: &str, offset: usize) -> u32 {
    text.get(..offset)
        .map_or(0, |t| t.matches('\n').count() as u32 + 1)
}

impl Policy {
    /// Parses and checks a policy. Every user and group it names must resolve.
    pub fn parse(file: &Path, text: &str) -> Result<Policy, PolicyError> {
        let err = |line: u32, message: String| PolicyError {
            file: file.to_path_buf(),
            line,
            message,
        };
        let doc: Doc = toml::from_str(text).map_err(|e| {
            let line = e.span().map_or(0, |s| line_of(text, s.start));
            err(line, e.message().trim().to_owned())
        })?;
        let who = |list: &[Spanned<String>]| -> Result<Who, PolicyError> {
            let mut w = Who::default();
            for entry in list {
                let line = line_of(text, entry.span().start);
                let name = entry.get_ref();
                if let Some(g) = name.strip_prefix('%') {
                    match Group::from_name(g) {
                        Ok(Some(group)) => w.gids.push(group.gid.as_raw()),
                        Ok(None) => return Err(err(line, format!("group '{g}' does not exist"))),
                        Err(e) => {
                            return Err(err(line, format!("cannot look up group '{g}': {e}")))
                        }
                    }
                } else {
                    match User::from_name(name) {
                        Ok(Some(user)) => w.uids.push(user.uid.as_raw()),
                        Ok(None) => return Err(err(line, format!("user '{name}' does not exist"))),
                        Err(e) => {
                            return Err(err(line, format!("cannot look up user '{name}': {e}")))
                        }
                    }
                }
            }
            Ok(w)
        };
        let (admins, admins_line) = match &doc.admins {
            Some(a) => (who(a.get_ref())?, line_of(text, a.span().start)),
            None => (Who::default(), 0),
        };
        let mut rules = Vec::new();
        for r in &doc.allow {
            let line = line_of(text, r.span().start);
            let rd = r.get_ref();
            for (field, list) in [
                ("who", &rd.who),
                ("actions", &rd.actions),
                ("programs", &rd.programs),
            ] {
                if list.get_ref().is_empty() {
                    return Err(err(
                        line_of(text, list.span().start),
                        format!("[[allow]] has an empty {field} list: a rule must name who, which actions and which programs"),
                    ));
                }
            }
            let mut actions = Vec::new();
            for a in rd.actions.get_ref() {
                let Some(action) = Action::parse(a.get_ref()) else {
                    let known: Vec<&str> = Action::all_names().collect();
                    return Err(err(
                        line_of(text, a.span().start),
                        format!(
                            "unknown action '{}' (known: {})",
                            a.get_ref(),
                            known.join(", ")
                        ),
                    ));
                };
                actions.push(action);
            }
            let mut programs = Vec::new();
            for p in rd.programs.get_ref() {
                let pattern = glob::Pattern::new(p.get_ref()).map_err(|e| {
                    err(
                        line_of(text, p.span().start),
                        format!("bad program pattern '{}': {e}", p.get_ref()),
                    )
                })?;
                programs.push(pattern);
            }
            rules.push(Rule {
                line,
                who: who(rd.who.get_ref())?,
                actions,
                programs,
            });
        }
        Ok(Policy {
            file: file.to_path_buf(),
            admins_line,
            admins,
            rules,
        })
    }

    fn at(&self, line: u32) -> String {
        format!("{}:{line}", self.file.display())
    }

    /// May `peer` do `action` (on `target`, for actions on processes)? Root and the `admins`
    /// may do everything; otherwise the first rule that names the peer, the action and the
    /// target allows it; nothing else does.
    pub fn decide(&self, peer: &Peer, action: Action, target: Option<&Target<'_>>) -> Verdict {
        if peer.uid == 0 {
            return Verdict {
                allow: true,
                rule: "root".into(),
            };
        }
        if self.admins.matches(peer) {
            return Verdict {
                allow: true,
                rule: self.at(self.admins_line),
            };
        }
        let program_ok = |r: &Rule| match target {
            None => true,
            Some(t) => r.programs.iter().any(|p| {
                [t.namespec, t.program, &format!("{}:{}", t.group, t.name)]
                    .iter()
                    .any(|s| p.matches(s))
            }),
        };
        match self
            .rules
            .iter()
            .find(|r| r.who.matches(peer) && r.actions.contains(&action) && program_ok(r))
        {
            Some(r) => Verdict {
                allow: true,
                rule: self.at(r.line),
            },
            None => Verdict {
                allow: false,
                rule: "default deny".into(),
            },
        }
    }

    /// Root, or one of `admins`: allowed everything.
    pub fn is_admin(&self, peer: &Peer) -> bool {
        peer.uid == 0 || self.admins.matches(peer)
    }

    /// The message a refused caller gets.
    pub fn denial(&self, peer: &Peer, action: Action, what: &str) -> String {
        format!(
            "permission denied: {} may not {action} {what} (the admins decide this in {})",
            peer.name,
            self.file.display()
        )
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn parse(text: &str) -> Result<Policy, String> {
        Policy::parse(Path::new("/p.toml"), text).map_err(|e| e.to_string())
    }

    #[test]
    fn bad_policies_are_refused_with_file_and_line() {
        for (text, expected) in [
            ("admins = [\"no-such-user-xyz\"]\n", "/p.toml:1: user 'no-such-user-xyz' does not exist"),
            ("admins = [\"%no-such-group-xyz\"]\n", "/p.toml:1: group 'no-such-group-xyz' does not exist"),
            (
                "[[allow]]\nwho = [\"root\"]\nactions = [\"start\", \"explode\"]\nprograms = [\"*\"]\n",
                "/p.toml:3: unknown action 'explode' (known: status, start, stop, restart, signal, tail, pid, avail, reread, update, shutdown, audit, reload-policy, clear, maintail, clearlog, reload, stdin, event, events, web)",
            ),
            (
                "[[allow]]\nwho = []\nactions = [\"start\"]\nprograms = [\"*\"]\n",
                "/p.toml:2: [[allow]] has an empty who list: a rule must name who, which actions and which programs",
            ),
            ("[[allow]]\nwho = [\"root\"]\nactions = [\"start\"]\n", "/p.toml:1: missing field `programs`"),
            ("admins = []\nfrobnicate = 1\n", "/p.toml:2: unknown field `frobnicate`, expected `admins` or `allow`"),
            (
                "[[allow]]\nwho = [\"root\"]\nactions = [\"start\"]\nprograms = [\"[\"]\n",
                "/p.toml:4: bad program pattern '[': Pattern syntax error near position 0: invalid range pattern",
            ),
        ] {
            assert_eq!(parse(text).unwrap_err(), expected, "{text}");
        }
    }

    #[test]
    fn decisions_follow_the_rules() {
        let p = parse(
            "admins = [\"daemon\"]\n\n[[allow]]\nwho = [\"nobody\"]\nactions = [\"status\", \"restart\"]\nprograms = [\"web:*\", \"nginx\"]\n",
        )
        .unwrap();
        let nobody = Peer::lookup(
            nix::unistd::User::from_name("nobody")
                .unwrap()
                .unwrap()
                .uid
                .as_raw(),
        );
        let daemon = Peer::lookup(
            nix::unistd::User::from_name("daemon")
                .unwrap()
                .unwrap()
                .uid
                .as_raw(),
        );
        let web = Target {
            namespec: "web:web_00",
            group: "web",
            name: "web_00",
            program: "web",
        };
        let nginx = Target {
            namespec: "nginx",
            group: "nginx",
            name: "nginx",
            program: "nginx",
        };
        let db = Target {
            namespec: "db",
            group: "db",
            name: "db",
            program: "db",
        };
        assert_eq!(
            p.decide(&nobody, Action::Restart, Some(&web)).rule,
            "/p.toml:3"
        );
        assert!(p.decide(&nobody, Action::Status, Some(&nginx)).allow);
        assert!(!p.decide(&nobody, Action::Stop, Some(&nginx)).allow);
        assert!(!p.decide(&nobody, Action::Restart, Some(&db)).allow);
        assert!(!p.decide(&nobody, Action::Shutdown, None).allow);
        assert_eq!(p.decide(&daemon, Action::Shutdown, None).rule, "/p.toml:1");
        assert_eq!(p.decide(&Peer::lookup(0), Action::Audit, None).rule, "root");
        assert_eq!(
            p.decide(&nobody, Action::Stop, Some(&db)).rule,
            "default deny"
        );
    }
}
