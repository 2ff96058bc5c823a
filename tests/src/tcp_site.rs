//! A root daemon with a policy and `[inet_http_server]` on a free loopback port, for the tests
//! of XML-RPC and the web UI over TCP (curl and a real browser).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use crate::http::{curl, Answer};
use crate::root::{self, RootDaemon};
use crate::*;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;

const POLICY: &str = "admins = [\"proctest-admin\"]\n\n\
     [[allow]]\nwho = [\"proctest-alice\", \"proctest-bob\"]\nactions = [\"web\"]\nprograms = [\"*\"]\n\n\
     [[allow]]\nwho = [\"proctest-alice\"]\nactions = [\"status\", \"restart\", \"tail\"]\nprograms = [\"web\", \"talker:*\"]\n\n\
     [[allow]]\nwho = [\"proctest-bob\"]\nactions = [\"status\"]\nprograms = [\"web\"]\n";

const PROGRAMS: &str =
    "[program:web]\ncommand = sleep 1000\nuser = proctest-plain\nstartsecs = 0\n\n\
     [program:other]\ncommand = sleep 1000\nuser = proctest-plain\nstartsecs = 0\n\n\
     [program:talker]\ncommand = /bin/sh -c 'while :; do echo tick; sleep 0.2; done'\n\
     user = proctest-plain\nstartsecs = 0\nnumprocs = 2\nprocess_name = %(program_name)s_%(process_num)s\n";

pub struct Site {
    pub d: RootDaemon,
    _pdir: tempfile::TempDir,
    pub audit: PathBuf,
    pub port: u16,
    /// `https` with TLS, else `http`.
    pub scheme: &'static str,
    /// The certificate to trust, with TLS.
    pub ca: Option<PathBuf>,
}

/// `NAME:HASH` from `proctorctl policy hash-password --user NAME`, the password on stdin.
fn account_line(name: &str, password: &str) -> String {
    let mut c = command(&bin("proctorctl"))
        .args(["policy", "hash-password", "--user", name])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    writeln!(c.stdin.take().unwrap(), "{password}").unwrap();
    let o = c.wait_with_output().unwrap();
    assert!(o.status.success());
    stdout(&o).trim().to_owned()
}

/// A root daemon with the policy above, `[inet_http_server]` on a free loopback port, and
/// alice's and bob's accounts (passwords `alice-pw`, `bob-pw`); the shared `ops` account
/// (`{SHA}` of `ops-pw`) acts as bob.
pub fn site(tls: bool) -> Site {
    ensure_account("proctest-alice");
    ensure_account("proctest-bob");
    ensure_account("proctest-admin");
    ensure_account("proctest-plain");
    let (pdir, policy) = RootDaemon::policy_file(POLICY);
    let accounts = pdir.path().join("accounts");
    std::fs::write(
        &accounts,
        format!(
            "# who may log in over TCP\n{}\n{}\n",
            account_line("proctest-alice", "alice-pw"),
            account_line("proctest-bob", "bob-pw")
        ),
    )
    .unwrap();
    // Root's, readable by controld's account through the group, by nobody else.
    let ctl = root::accounts().0;
    nix::unistd::chown(&accounts, Some(0.into()), Some(ctl.gid.into())).unwrap();
    std::fs::set_permissions(&accounts, std::fs::Permissions::from_mode(0o640)).unwrap();
    let port = free_port();
    let (tls_keys, ca) = if tls {
        let cert = pdir.path().join("cert.pem");
        let key = pdir.path().join("key.pem");
        let o = std::process::Command::new("openssl")
            .args([
                "req",
                "-x509",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:P-256",
            ])
            .args(["-nodes", "-days", "1", "-subj", "/CN=localhost"])
            .args(["-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"])
            .arg("-keyout")
            .arg(&key)
            .arg("-out")
            .arg(&cert)
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", stderr(&o));
        // The key is root's alone: proctord opens it before it drops root.
        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
        (
            format!(
                "tls_cert = {}\ntls_key = {}\n",
                cert.display(),
                key.display()
            ),
            Some(cert),
        )
    } else {
        (String::new(), None)
    };
    let audit = pdir.path().join("audit/audit.log");
    // The shared password as Supervisor's docs write it: {SHA} and the hex SHA-1 of ops-pw.
    let sha = std::process::Command::new("sh")
        .args(["-c", "printf %s ops-pw | sha1sum | cut -d' ' -f1"])
        .output()
        .unwrap();
    let programs = format!(
        "[inet_http_server]\nport = 127.0.0.1:{port}\nusername = ops\npassword = {{SHA}}{}\n\
         identity = proctest-bob\naccounts = {}\n{tls_keys}\n{PROGRAMS}",
        stdout(&sha).trim(),
        accounts.display()
    );
    let d = RootDaemon::start_with(
        &programs,
        &format!(
            "policy = {}\naudit_log = {}\n",
            policy.display(),
            audit.display()
        ),
    );
    d.running_pid("web");
    Site {
        d,
        _pdir: pdir,
        audit,
        port,
        scheme: if tls { "https" } else { "http" },
        ca,
    }
}

impl Site {
    pub fn url(&self, path: &str) -> String {
        format!("{}://localhost:{}{path}", self.scheme, self.port)
    }

    pub fn origin(&self) -> String {
        format!("Origin: {}://localhost:{}", self.scheme, self.port)
    }

    pub fn curl(&self, args: &[&str]) -> Answer {
        let mut all: Vec<String> = Vec::new();
        if let Some(ca) = &self.ca {
            all.push("--cacert".into());
            all.push(ca.display().to_string());
        }
        all.extend(args.iter().map(|a| a.to_string()));
        let all: Vec<&str> = all.iter().map(String::as_str).collect();
        curl(None, &all)
    }

    /// An XML-RPC call with Basic credentials `user:password` (none when empty).
    pub fn rpc(&self, user: &str, method: &str) -> Answer {
        let body = format!("<?xml version='1.0'?><methodCall><methodName>{method}</methodName><params></params></methodCall>");
        let mut args = vec!["-H", "Content-Type: text/xml", "--data-binary", &body];
        if !user.is_empty() {
            args.extend(["-u", user]);
        }
        let url = self.url("/RPC2");
        args.push(&url);
        self.curl(&args)
    }

    pub fn records(&self) -> Vec<serde_json::Value> {
        std::fs::read_to_string(&self.audit)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    /// Whether the audit log has a request record of `user` doing `action` with `decision`,
    /// arrived over TCP.
    pub fn recorded(&self, user: &str, action: &str, decision: &str) -> bool {
        self.records().iter().any(|r| {
            r["user"] == user
                && r["action"] == action
                && r["decision"] == decision
                && r["kind"] == "request"
                && r["via"]
                    .as_str()
                    .is_some_and(|v| v.starts_with("tcp 127.0.0.1:"))
        })
    }

    /// Logs in with the form; the session cookie.
    pub fn log_in(&self, user: &str, password: &str) -> String {
        let a = self.curl(&[
            "-H",
            &self.origin(),
            "--data",
            &format!("user={user}&password={password}"),
            &self.url("/login"),
        ]);
        assert_eq!(a.status, 303, "{}{}", a.head, a.body);
        let set = a.header("set-cookie").unwrap();
        for part in ["HttpOnly", "SameSite=Strict", "Path=/"] {
            assert!(set.contains(part), "{set}");
        }
        assert_eq!(set.contains("Secure"), self.scheme == "https", "{set}");
        a.cookie().unwrap().to_owned()
    }

    pub fn get(&self, cookie: &str, path: &str) -> Answer {
        self.curl(&["-H", &format!("Cookie: {cookie}"), &self.url(path)])
    }
}

/// The CSRF token in a page's forms.
pub fn csrf(page: &str) -> String {
    let at = page.find("name=\"csrf\" value=\"").unwrap() + "name=\"csrf\" value=\"".len();
    page[at..].split('"').next().unwrap().to_owned()
}
