//! `[inet_http_server]` as root with a policy: XML-RPC (curl, and stock supervisorctl when
//! `PROCTOR_SUPERVISOR_PYTHON` is set) and the web UI over TCP, each person known by their own
//! password (argon2id hashes from `proctorctl policy hash-password`) and treated by the policy
//! and the audit log as on the control socket; Supervisor's shared username acting as the
//! `identity=` the admin named; every refusal answered and recorded; TLS.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
#![forbid(unsafe_code)]

use proctor_tests::http::curl;
use proctor_tests::root;
use proctor_tests::tcp_site::{csrf, site};
use proctor_tests::*;
use std::time::{Duration, Instant};

const T: Duration = Duration::from_secs(15);

#[test]
fn xml_rpc_over_tcp_knows_each_person_by_their_password() {
    if root::skip("xml_rpc_over_tcp_knows_each_person_by_their_password") {
        return;
    }
    let s = site(false);
    // No credentials: Supervisor's challenge.
    let a = s.rpc("", "supervisor.getState");
    assert_eq!(a.status, 401, "{}", a.head);
    assert_eq!(
        a.header("www-authenticate"),
        Some("Basic realm=\"default\"")
    );
    // Alice sees web and not other; the record says she came over TCP with a password.
    let a = s.rpc("proctest-alice:alice-pw", "supervisor.getAllProcessInfo");
    assert_eq!(a.status, 200, "{}", a.body);
    assert!(a.body.contains("<string>web</string>"), "{}", a.body);
    assert!(!a.body.contains("<string>other</string>"), "{}", a.body);
    assert!(
        s.recorded("proctest-alice", "status", "allow"),
        "{:?}",
        s.records()
    );
    // The shared account acts as the identity the admin named: bob.
    let a = s.rpc("ops:ops-pw", "supervisor.getAllProcessInfo");
    assert!(a.body.contains("<string>web</string>"), "{}", a.body);
    assert!(s.recorded("proctest-bob", "status", "allow"));
    // A wrong password: refused after the delay, and recorded under the name it gave.
    let t = Instant::now();
    let a = s.rpc("proctest-alice:wrong", "supervisor.getState");
    assert_eq!(a.status, 401);
    assert!(
        t.elapsed() >= Duration::from_millis(900),
        "{:?}",
        t.elapsed()
    );
    // Under her uid: the name is an account of the file.
    let alice_uid = ensure_account("proctest-alice").uid;
    assert!(s.records().iter().any(|r| r["user"] == "proctest-alice"
        && r["uid"] == alice_uid
        && r["action"] == "login"
        && r["decision"] == "deny"));
    // A name that keeps failing is refused unchecked, even with a right-looking password,
    // until its window ends (here: an account that does not exist).
    for _ in 0..5 {
        assert_eq!(
            s.rpc("proctest-nosuch:x", "supervisor.getState").status,
            401
        );
    }
    let t = Instant::now();
    let a = s.rpc("proctest-nosuch:x", "supervisor.getState");
    assert_eq!(a.status, 401);
    assert!(a.body.contains("too many failed logins"), "{}", a.body);
    assert!(
        t.elapsed() < Duration::from_millis(900),
        "{:?}",
        t.elapsed()
    );
    // A cross-site form cannot reach /RPC2, with credentials or without.
    let a = s.curl(&[
        "-u",
        "proctest-alice:alice-pw",
        "-H",
        "Content-Type: text/plain",
        "--data",
        "x",
        &s.url("/RPC2"),
    ]);
    assert_eq!(a.status, 415, "{}", a.body);
    // A Host that is not this server (DNS rebinding): refused.
    let a = s.curl(&[
        "-u",
        "proctest-alice:alice-pw",
        "-H",
        "Host: evil.example",
        &s.url("/RPC2"),
    ]);
    assert_eq!(a.status, 403, "{}", a.body);

    // Stock supervisorctl over TCP, as each person.
    let Some(python) = supervisor::python("xml_rpc_over_tcp (supervisorctl)") else {
        return;
    };
    let ctl = |user: &str, pw: &str, args: &[&str]| {
        let o = std::process::Command::new(&python)
            .args(["-m", "supervisor.supervisorctl", "-s"])
            .arg(format!("http://127.0.0.1:{}", s.port))
            .args(["-u", user, "-p", pw])
            .args(args)
            .stdin(std::process::Stdio::null())
            .output()
            .unwrap();
        format!("{}{}", stdout(&o), stderr(&o))
    };
    let pid = s.d.running_pid("web");
    let out = ctl("proctest-bob", "bob-pw", &["restart", "web"]);
    assert!(out.contains("permission denied"), "{out}");
    assert_eq!(s.d.running_pid("web"), pid);
    let out = ctl("proctest-alice", "alice-pw", &["restart", "web"]);
    assert!(out.contains("web: started"), "{out}");
    assert_ne!(s.d.running_pid("web"), pid);
    assert!(s.recorded("proctest-alice", "restart", "allow"));
    assert!(
        s.recorded("proctest-bob", "stop", "deny"),
        "{:?}",
        s.records()
            .iter()
            .filter(|r| r["user"] == "proctest-bob")
            .map(|r| format!("{} {} {}", r["action"], r["decision"], r["via"]))
            .collect::<Vec<_>>()
    );
    let out = ctl("proctest-alice", "nope", &["status"]);
    assert!(out.contains("Server requires authentication"), "{out}");
}

#[test]
fn the_login_form_opens_a_session_and_every_refusal_is_recorded() {
    if root::skip("the_login_form_opens_a_session_and_every_refusal_is_recorded") {
        return;
    }
    let s = site(false);
    // No session: to the login form.
    let a = s.curl(&[&s.url("/")]);
    assert_eq!(a.status, 303);
    assert_eq!(a.header("location"), Some("/login"));
    let form = s.curl(&[&s.url("/login")]);
    assert!(form.body.contains("type=\"password\""), "{}", form.body);
    assert!(form.header("content-security-policy").is_some());
    // A login posted from another site, or without an Origin: refused and recorded.
    for origin in ["Origin: http://evil.example", "X-No-Origin: 1"] {
        let a = s.curl(&[
            "-H",
            origin,
            "--data",
            "user=proctest-alice&password=alice-pw",
            &s.url("/login"),
        ]);
        assert_eq!(a.status, 403, "{origin}: {}", a.body);
        assert!(a.header("set-cookie").is_none());
    }
    assert!(s.records().iter().any(|r| r["action"] == "login"
        && r["decision"] == "deny"
        && r["rule"].as_str().unwrap_or("").contains("another site")));
    // A wrong password: the form again, slowed, no cookie.
    let t = Instant::now();
    let a = s.curl(&[
        "-H",
        &s.origin(),
        "--data",
        "user=proctest-alice&password=nope",
        &s.url("/login"),
    ]);
    assert_eq!(a.status, 403);
    assert!(
        a.body.contains("wrong account name or password"),
        "{}",
        a.body
    );
    assert!(a.header("set-cookie").is_none());
    assert!(
        t.elapsed() >= Duration::from_millis(900),
        "{:?}",
        t.elapsed()
    );

    // Alice logs in, sees web with its Restart button, and restarts it.
    let cookie = s.log_in("proctest-alice", "alice-pw");
    assert!(cookie.starts_with("proctor_tcp_session="), "{cookie}");
    let page = s.get(&cookie, "/").body;
    assert!(
        page.contains(">web</a>") && !page.contains("other"),
        "{page}"
    );
    assert!(page.contains("aria-label=\"Restart web\""), "{page}");
    let pid = s.d.running_pid("web");
    let post = |cookie: &str, origin: &str, form: &str| {
        s.curl(&[
            "-H",
            origin,
            "-H",
            &format!("Cookie: {cookie}"),
            "--data",
            form,
            &s.url("/action"),
        ])
    };
    let token = csrf(&page);
    assert_eq!(
        post(
            &cookie,
            &s.origin(),
            &format!("act=restart+web&csrf={token}")
        )
        .status,
        303
    );
    let new = wait_until("web restarted", T, || {
        Some(s.d.running_pid("web")).filter(|p| *p != pid)
    });
    assert!(s.get(&cookie, "/").body.contains(&new.to_string()));
    assert!(s.recorded("proctest-alice", "restart", "allow"));

    // A group's button restarts the members she may act on.
    let page = s.get(&cookie, "/").body;
    assert!(
        page.contains("aria-label=\"Restart group talker\""),
        "{page}"
    );
    let before = [
        s.d.running_pid("talker:talker_0"),
        s.d.running_pid("talker:talker_1"),
    ];
    assert_eq!(
        post(
            &cookie,
            &s.origin(),
            &format!("act=restart+talker:*&csrf={token}")
        )
        .status,
        303
    );
    for (i, old) in before.iter().enumerate() {
        let name = format!("talker:talker_{i}");
        wait_until("talker restarted", T, || {
            Some(s.d.running_pid(&name)).filter(|p| p != old)
        });
    }
    // The process page: its configuration only for those who may `avail` (alice may not), its
    // log live as server-sent events.
    let process = s.get(&cookie, "/process?name=talker:talker_0").body;
    assert!(
        process.contains("Not shown: permission denied"),
        "{process}"
    );
    assert!(
        process.contains("data-follow=\"/follow?name=talker%3Atalker_0&#38;channel=stdout\""),
        "{process}"
    );
    let live = s.curl(&[
        "-N",
        "--max-time",
        "2",
        "-H",
        &format!("Cookie: {cookie}"),
        &s.url("/follow?name=talker:talker_0&channel=stdout"),
    ]);
    assert_eq!(live.header("content-type"), Some("text/event-stream"));
    assert!(live.body.contains("data: tick\n"), "{}", live.body);
    let denied = s.curl(&[
        "--max-time",
        "2",
        "-H",
        &format!("Cookie: {cookie}"),
        &s.url("/follow?name=other&channel=stdout"),
    ]);
    assert_eq!(denied.status, 403, "{}", denied.body);

    // Refusals: another site's Origin; a wrong CSRF token; no session; another Host.
    let a = post(
        &cookie,
        "Origin: http://evil.example",
        &format!("act=restart+web&csrf={token}"),
    );
    assert_eq!(a.status, 403, "{}", a.body);
    let a = post(&cookie, &s.origin(), "act=restart+web&csrf=0000");
    assert_eq!(a.status, 403, "{}", a.body);
    let a = post(
        "proctor_tcp_session=forged",
        &s.origin(),
        &format!("act=restart+web&csrf={token}"),
    );
    assert_eq!(a.status, 403, "{}", a.body);
    let a = s.curl(&[
        "-H",
        "Host: evil.example",
        "-H",
        &format!("Cookie: {cookie}"),
        &s.url("/"),
    ]);
    assert_eq!(a.status, 403, "{}", a.body);
    assert_eq!(s.d.running_pid("web"), new, "no refused POST restarted it");
    let web_denials: Vec<String> = s
        .records()
        .iter()
        .filter(|r| {
            r["action"] != "login"
                && r["decision"] == "deny"
                && r["rule"].as_str().unwrap_or("").starts_with("web:")
        })
        .map(|r| format!("{} {}", r["user"], r["rule"]))
        .collect();
    assert_eq!(web_denials.len(), 3, "{web_denials:?}");
    assert!(web_denials[0].contains("proctest-alice") && web_denials[0].contains("Origin"));
    assert!(web_denials[1].contains("proctest-alice") && web_denials[1].contains("token"));
    assert!(web_denials[2].contains("\"-\"") && web_denials[2].contains("no session"));

    // A session the daemon no longer has (controld restarted: sessions live in its memory)
    // is as good as none.
    let controld = s.d.controld_pid();
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(controld as i32),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    wait_until("controld back", T, || {
        let a = s.get(&cookie, "/");
        (a.status != 0).then_some(a)
    });
    let a = s.get(&cookie, "/");
    assert_eq!(a.status, 303, "{}", a.body);
    // Logging out ends the session.
    let cookie = s.log_in("proctest-alice", "alice-pw");
    let page = s.get(&cookie, "/").body;
    let a = s.curl(&[
        "-H",
        &s.origin(),
        "-H",
        &format!("Cookie: {cookie}"),
        "--data",
        &format!("csrf={}", csrf(&page)),
        &s.url("/logout"),
    ]);
    assert_eq!(a.status, 303);
    assert!(a.header("set-cookie").unwrap().contains("Max-Age=0"));
    assert_eq!(s.get(&cookie, "/").status, 303);
}

#[test]
fn tls_serves_the_same_with_secure_cookies() {
    if root::skip("tls_serves_the_same_with_secure_cookies") {
        return;
    }
    let s = site(true);
    let a = s.rpc("proctest-alice:alice-pw", "supervisor.getAllProcessInfo");
    assert_eq!(a.status, 200, "{}{}", a.head, a.body);
    assert!(a.body.contains("<string>web</string>"), "{}", a.body);
    let cookie = s.log_in("proctest-alice", "alice-pw");
    assert!(s.get(&cookie, "/").body.contains(">web</a>"));
    // Plain HTTP on the TLS port gets no answer.
    let plain = curl(None, &[&format!("http://localhost:{}/RPC2", s.port)]);
    assert_eq!(plain.status, 0, "{}", plain.head);
}
