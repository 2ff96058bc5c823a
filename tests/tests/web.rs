//! The web UI on the control socket, over HTTP as a browser speaks it (curl, run as the
//! daemon's account or as another): a page needs a session, which only a one-time link from
//! `proctorctl web` opens, for the account that asked; an action is a POST with the session's
//! token, from this host's own page; refusals are answered and recorded in the audit log.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
#![forbid(unsafe_code)]

use proctor_tests::http::{self, Answer};
use proctor_tests::*;
use std::path::Path;
use std::time::Duration;

const T: Duration = Duration::from_secs(15);

/// `curl` on `socket`, as `who` (or as ourselves).
fn curl(socket: &Path, who: Option<&Account>, args: &[&str]) -> Answer {
    let socket = socket.display().to_string();
    let mut all = vec!["--unix-socket", &socket];
    all.extend_from_slice(args);
    http::curl(who, &all)
}

/// `curl` on the daemon's socket, as the runner account (the daemon's) or as ourselves.
fn http(d: &Daemon, as_runner: bool, args: &[&str]) -> Answer {
    let who = if as_runner { runner() } else { None };
    curl(&d.socket, who.as_ref(), args)
}

/// A login link's token, as `proctorctl web` prints it (run as the daemon's account).
fn link(d: &Daemon) -> String {
    let out = d.ctl_ok(&["web"]);
    out.trim()
        .rsplit_once("token=")
        .map(|(_, t)| t.to_owned())
        .unwrap_or_else(|| panic!("no link in {out:?}"))
}

/// Logs in with a fresh link; the session cookie.
fn log_in(d: &Daemon) -> String {
    let token = link(d);
    let a = http(
        d,
        true,
        &[&format!("http://localhost:8080/login?token={token}")],
    );
    assert_eq!(a.status, 303, "{}", a.head);
    let cookie = a.header("set-cookie").unwrap();
    for part in ["HttpOnly", "SameSite=Strict", "Path=/"] {
        assert!(cookie.contains(part), "{cookie}");
    }
    cookie.split(';').next().unwrap().to_owned()
}

/// The CSRF token in a page's forms.
fn csrf(page: &str) -> String {
    let at = page.find("name=\"csrf\" value=\"").unwrap() + "name=\"csrf\" value=\"".len();
    page[at..].split('"').next().unwrap().to_owned()
}

fn daemon() -> Daemon {
    let d = Daemon::start(
        "[proctor]\naudit_log = {dir}/audit/audit.log\n\n\
         [program:a]\ncommand = sleep 1000\nstartsecs = 0\n",
    );
    d.wait_state("a", "RUNNING", T);
    d
}

/// The audit records whose rule starts with `web:`, as `action decision rule`.
fn web_refusals(d: &Daemon) -> Vec<String> {
    std::fs::read_to_string(d.path("audit/audit.log"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|r| r["rule"].as_str().unwrap_or("").starts_with("web:"))
        .map(|r| format!("{} {} {}", r["action"], r["decision"], r["rule"]))
        .collect()
}

#[test]
fn a_page_needs_a_one_time_link_of_ones_own_account() {
    let d = daemon();
    // No session: how to get one, and nothing of the processes.
    let a = http(&d, true, &["http://localhost:8080/"]);
    assert_eq!(a.status, 200);
    assert!(a.body.contains("proctorctl web"), "{}", a.body);
    assert!(!a.body.contains("RUNNING"), "{}", a.body);
    // What every page says to the browser.
    let csp = a.header("content-security-policy").unwrap();
    assert!(csp.contains("default-src 'none'") && csp.contains("frame-ancestors 'none'"));
    assert_eq!(a.header("x-frame-options"), Some("DENY"));
    assert_eq!(a.header("cache-control"), Some("no-store"));

    // Another account's connection cannot use the link, and uses it up.
    if is_root() {
        let token = link(&d);
        let url = format!("http://localhost:8080/login?token={token}");
        let a = http(&d, false, &[&url]);
        assert_eq!(a.status, 403, "{}", a.body);
        assert!(a.body.contains("belongs to another account"), "{}", a.body);
        let a = http(&d, true, &[&url]);
        assert_eq!(a.status, 403, "used up: {}", a.body);
    } else {
        println!("SKIP: a link used from another account: needs root to be another account");
    }

    // The link opens a session once.
    let token = link(&d);
    let url = format!("http://localhost:8080/login?token={token}");
    assert_eq!(http(&d, true, &[&url]).status, 303);
    let a = http(&d, true, &[&url]);
    assert_eq!(a.status, 403);
    assert!(a.body.contains("used already"), "{}", a.body);

    let cookie = log_in(&d);
    let a = http(
        &d,
        true,
        &["-H", &format!("Cookie: {cookie}"), "http://localhost:8080/"],
    );
    assert_eq!(a.status, 200);
    // The process page shows its configuration as getAllConfigInfo does (the daemon's own
    // account is an admin of it).
    let process = http(
        &d,
        true,
        &[
            "-H",
            &format!("Cookie: {cookie}"),
            "http://localhost:8080/process?name=a",
        ],
    );
    assert!(
        process
            .body
            .contains("<th scope=\"row\">command</th><td>sleep 1000</td>"),
        "{}",
        process.body
    );
    assert!(process
        .body
        .contains("<th scope=\"row\">startsecs</th><td>0</td>"));
    let pid = d.pid_of("a").unwrap();
    assert!(a.body.contains("RUNNING"), "{}", a.body);
    assert!(
        a.body.contains(&format!("<td>{pid}</td><td>0:00:")),
        "{}",
        a.body
    );
    // The cookie is nothing on another account's connection.
    if is_root() {
        let a = http(
            &d,
            false,
            &["-H", &format!("Cookie: {cookie}"), "http://localhost:8080/"],
        );
        assert!(!a.body.contains("RUNNING"), "{}", a.body);
    }
    // A name that is not this machine's loopback is not served (DNS rebinding).
    let a = http(
        &d,
        true,
        &[
            "-H",
            "Host: evil.example",
            "-H",
            &format!("Cookie: {cookie}"),
            "http://localhost:8080/",
        ],
    );
    assert_eq!(a.status, 403);
    assert!(!a.body.contains("RUNNING"), "{}", a.body);
}

#[test]
fn an_action_is_a_post_from_this_page_with_its_token() {
    let d = daemon();
    let cookie = log_in(&d);
    let page = http(
        &d,
        true,
        &["-H", &format!("Cookie: {cookie}"), "http://localhost:8080/"],
    );
    let token = csrf(&page.body);
    let pid = d.pid_of("a").unwrap();
    let post = |extra: &[&str], fields: &str| {
        let mut args = vec!["-H", "Content-Type: application/x-www-form-urlencoded"];
        args.extend_from_slice(extra);
        let cookie = format!("Cookie: {cookie}");
        let mut all: Vec<&str> = args.clone();
        all.extend([
            "-H",
            &cookie,
            "--data",
            fields,
            "http://localhost:8080/action",
        ]);
        http(&d, true, &all)
    };
    let same_origin = [
        "-H",
        "Origin: http://localhost:8080",
        "-H",
        "Sec-Fetch-Site: same-origin",
    ];

    // Refused, recorded, and nothing done: no token, another site's, a wrong token.
    let a = post(&same_origin, "act=restart+a");
    assert_eq!(a.status, 403, "{}", a.body);
    let a = post(
        &["-H", "Origin: http://evil.example"],
        &format!("act=restart+a&csrf={token}"),
    );
    assert_eq!(a.status, 403, "{}", a.body);
    let a = post(
        &[
            "-H",
            "Origin: http://localhost:8080",
            "-H",
            "Sec-Fetch-Site: cross-site",
        ],
        &format!("act=restart+a&csrf={token}"),
    );
    assert_eq!(a.status, 403, "{}", a.body);
    let a = post(&[], &format!("act=restart+a&csrf={token}"));
    assert_eq!(a.status, 403, "no Origin: {}", a.body);
    assert_eq!(d.pid_of("a"), Some(pid), "nothing was restarted");
    let refusals = web_refusals(&d);
    assert_eq!(refusals.len(), 4, "{refusals:?}");
    assert!(
        refusals
            .iter()
            .all(|r| r.starts_with("\"restart\" \"deny\"")),
        "{refusals:?}"
    );

    // From the page: restarted, and the next page says so, once.
    let a = post(&same_origin, &format!("act=restart+a&csrf={token}"));
    assert_eq!(
        (a.status, a.header("location")),
        (303, Some("/")),
        "{}",
        a.body
    );
    let new = wait_until("a restarted", T, || d.pid_of("a").filter(|p| *p != pid));
    let page = http(
        &d,
        true,
        &["-H", &format!("Cookie: {cookie}"), "http://localhost:8080/"],
    );
    assert!(page.body.contains("class=\"flash\""), "{}", page.body);
    assert!(page.body.contains(&new.to_string()), "{}", page.body);
    let page = http(
        &d,
        true,
        &["-H", &format!("Cookie: {cookie}"), "http://localhost:8080/"],
    );
    assert!(!page.body.contains("class=\"flash\""), "shown once");

    // Logging out ends the session.
    let a = http(
        &d,
        true,
        &[
            "-H",
            "Origin: http://localhost:8080",
            "-H",
            &format!("Cookie: {cookie}"),
            "--data",
            &format!("csrf={token}"),
            "http://localhost:8080/logout",
        ],
    );
    assert_eq!(a.status, 303);
    let page = http(
        &d,
        true,
        &["-H", &format!("Cookie: {cookie}"), "http://localhost:8080/"],
    );
    assert!(page.body.contains("proctorctl web"), "{}", page.body);
    let a = post(&same_origin, &format!("act=stop+a&csrf={token}"));
    assert_eq!(a.status, 403, "an ended session's token: {}", a.body);
    assert_eq!(d.state("a"), "RUNNING");
}

/// The session cookie of `who`, logged in with a link from `proctorctl web` run as them.
fn root_log_in(d: &proctor_tests::root::RootDaemon, who: &Account) -> String {
    let o = d.ctl_as(who, &["web"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    let token = out.trim().rsplit_once("token=").unwrap().1.to_owned();
    let a = curl(
        &d.socket,
        Some(who),
        &[&format!("http://localhost:8080/login?token={token}")],
    );
    assert_eq!(a.status, 303, "{}", a.body);
    a.header("set-cookie")
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned()
}

/// As root with a policy: each person sees what the policy lets them see, gets the buttons it
/// allows, and their clicks are decided and audited under their own names.
#[test]
fn each_person_sees_and_does_what_the_policy_grants_them() {
    use proctor_tests::root::{self, RootDaemon};
    if root::skip("each_person_sees_and_does_what_the_policy_grants_them") {
        return;
    }
    let alice = ensure_account("proctest-alice");
    let bob = ensure_account("proctest-bob");
    let admin = ensure_account("proctest-admin");
    ensure_account("proctest-plain");
    let (_pdir, audit, d) = RootDaemon::under_policy(
        "[program:web]\ncommand = /bin/sh -c 'echo web says hello; exec sleep 1000'\n\
         user = proctest-plain\nstartsecs = 0\n\n\
         [program:other]\ncommand = sleep 1000\nuser = proctest-plain\nstartsecs = 0\n",
        "admins = [\"proctest-admin\"]\n\n\
         [[allow]]\nwho = [\"proctest-alice\", \"proctest-bob\"]\nactions = [\"web\"]\nprograms = [\"*\"]\n\n\
         [[allow]]\nwho = [\"proctest-alice\"]\nactions = [\"status\", \"restart\", \"tail\"]\nprograms = [\"web\"]\n\n\
         [[allow]]\nwho = [\"proctest-bob\"]\nactions = [\"status\"]\nprograms = [\"web\"]\n",
    );
    let pid = d.running_pid("web");
    d.running_pid("other");
    d.open_socket_to_all();
    let get = |who: &Account, cookie: &str, path: &str| {
        curl(
            &d.socket,
            Some(who),
            &[
                "-H",
                &format!("Cookie: {cookie}"),
                &format!("http://localhost:8080{path}"),
            ],
        )
    };
    let a_cookie = root_log_in(&d, &alice);
    let b_cookie = root_log_in(&d, &bob);

    // What each sees: web only; alice has its Restart button, bob none.
    let a_page = get(&alice, &a_cookie, "/").body;
    let b_page = get(&bob, &b_cookie, "/").body;
    for page in [&a_page, &b_page] {
        assert!(page.contains(">web</a>"), "{page}");
        assert!(!page.contains("other"), "{page}");
    }
    assert!(a_page.contains("aria-label=\"Restart web\""), "{a_page}");
    assert!(!b_page.contains("aria-label=\"Restart"), "{b_page}");
    // Her rights page says so; the process page shows web's log to her.
    let rights = get(&alice, &a_cookie, "/rights").body;
    assert!(rights.contains("What may proctest-alice do?"), "{rights}");
    let process = get(&alice, &a_cookie, "/process?name=web").body;
    assert!(process.contains("web says hello"), "{process}");
    assert!(process.contains("PROCESS_STATE_RUNNING"), "{process}");

    // Bob forges the restart form: the policy refuses it, the page says why, nothing happens.
    let post = |who: &Account, cookie: &str, page: &str| {
        curl(
            &d.socket,
            Some(who),
            &[
                "-H",
                "Origin: http://localhost:8080",
                "-H",
                &format!("Cookie: {cookie}"),
                "--data",
                &format!("act=restart+web&csrf={}", csrf(page)),
                "http://localhost:8080/action",
            ],
        )
    };
    assert_eq!(post(&bob, &b_cookie, &b_page).status, 303);
    let b_page = get(&bob, &b_cookie, "/").body;
    assert!(
        b_page.contains("permission denied: proctest-bob may not restart"),
        "{b_page}"
    );
    assert_eq!(d.running_pid("web"), pid);
    // Alice restarts it.
    assert_eq!(post(&alice, &a_cookie, &a_page).status, 303);
    let new = wait_until("web restarted", T, || {
        Some(d.running_pid("web")).filter(|p| *p != pid)
    });
    assert!(get(&alice, &a_cookie, "/").body.contains(&new.to_string()));

    // Both clicks are in the audit log under their names.
    let records: Vec<serde_json::Value> = std::fs::read_to_string(&audit)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let restart = |user: &str, decision: &str| {
        records.iter().any(|r| {
            r["user"] == user
                && r["action"] == "restart"
                && r["decision"] == decision
                && r["kind"] == "request"
        })
    };
    assert!(restart("proctest-alice", "allow"), "{records:?}");
    assert!(restart("proctest-bob", "deny"), "{records:?}");

    // The audit page: not for alice (no link, and refused), for the admin, filtered.
    assert!(!a_page.contains("href=\"/audit\""), "{a_page}");
    let a = get(&alice, &a_cookie, "/audit");
    assert_eq!(a.status, 403, "{}", a.body);
    assert!(a.body.contains("may not audit"), "{}", a.body);
    let m_cookie = root_log_in(&d, &admin);
    let page = get(&admin, &m_cookie, "/").body;
    assert!(page.contains("href=\"/audit\""), "{page}");
    let page = get(&admin, &m_cookie, "/audit?user=proctest-bob&action=restart").body;
    assert!(page.contains("proctest-bob"), "{page}");
    assert!(page.contains(">deny<"), "{page}");
    assert!(!page.contains("proctest-alice"), "filtered by user: {page}");
}
