//! The web UI in a real headless browser (Debian's chromium and chromium-driver, driven over
//! WebDriver by fantoccini), as root with a policy and the `proctest-*` accounts: alice logs in
//! over TCP, sees only what she may, restarts `web` and sees its new pid without the page
//! reloading; bob is refused with the message; a cross-site POST is refused and recorded; a
//! wrong password is refused and slowed; logging out ends the session; and the control socket
//! through a forwarded port (as `ssh -L` makes one) takes a one-time link, once.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
#![forbid(unsafe_code)]

use fantoccini::{Client, ClientBuilder, Locator};
use proctor_tests::root;
use proctor_tests::tcp_site::site;
use proctor_tests::*;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

const T: Duration = Duration::from_secs(15);
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
const CHROMIUM: &str = "/usr/bin/chromium";

/// A process killed (by pid, with its group) when dropped.
struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = nix::sys::signal::killpg(
            nix::unistd::Pid::from_raw(self.0.id() as i32),
            nix::sys::signal::Signal::SIGKILL,
        );
        let _ = self.0.wait();
    }
}

/// chromedriver on a free loopback port.
fn chromedriver() -> (Killed, u16) {
    use std::os::unix::process::CommandExt;
    let port = free_port();
    let child = std::process::Command::new(CHROMEDRIVER)
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .process_group(0)
        .spawn()
        .unwrap();
    let driver = Killed(child);
    wait_until("chromedriver", T, || {
        std::net::TcpStream::connect(("127.0.0.1", port)).ok()
    });
    (driver, port)
}

/// A browser of its own (its own profile: its own cookies).
async fn browser(driver: u16) -> Client {
    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".into(),
        serde_json::json!({
            "binary": CHROMIUM,
            "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1100,700",
                     "--disable-dev-shm-usage", "--no-first-run"],
        }),
    );
    ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
        .capabilities(caps)
        .connect(&format!("http://127.0.0.1:{driver}"))
        .await
        .unwrap()
}

/// Waits until `f` gives something, polling the page.
async fn until<T, F, Fut>(what: &str, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let start = Instant::now();
    loop {
        if let Some(v) = f().await {
            return v;
        }
        assert!(start.elapsed() < T, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn text_of(c: &Client, css: &str) -> Option<String> {
    c.find(Locator::Css(css)).await.ok()?.text().await.ok()
}

async fn log_in(c: &Client, base: &str, user: &str, password: &str) {
    c.goto(&format!("{base}/login")).await.unwrap();
    c.find(Locator::Id("user"))
        .await
        .unwrap()
        .send_keys(user)
        .await
        .unwrap();
    c.find(Locator::Id("password"))
        .await
        .unwrap()
        .send_keys(password)
        .await
        .unwrap();
    c.find(Locator::Css("form.login button"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
}

/// A forwarder from a loopback port to the control socket, run as `who`: what `ssh -L` sets
/// up, the sshd session of the person connecting to the socket as them.
fn forwarder(who: &Account, port: u16, socket: &std::path::Path) -> Killed {
    use std::os::unix::process::CommandExt;
    const PY: &str = r#"
import socket, sys, threading
L = socket.socket()
L.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
L.bind(("127.0.0.1", int(sys.argv[1])))
L.listen(16)
def pipe(a, b):
    try:
        while True:
            d = a.recv(65536)
            if not d:
                break
            b.sendall(d)
    except OSError:
        pass
    finally:
        try:
            b.shutdown(socket.SHUT_WR)
        except OSError:
            pass
while True:
    c, _ = L.accept()
    u = socket.socket(socket.AF_UNIX)
    u.connect(sys.argv[2])
    threading.Thread(target=pipe, args=(c, u), daemon=True).start()
    threading.Thread(target=pipe, args=(u, c), daemon=True).start()
"#;
    let child = std::process::Command::new("python3")
        .args(["-c", PY, &port.to_string()])
        .arg(socket)
        .uid(who.uid)
        .gid(who.gid)
        .stdout(Stdio::null())
        .process_group(0)
        .spawn()
        .unwrap();
    wait_until("the forwarder", T, || {
        std::net::TcpStream::connect(("127.0.0.1", port)).ok()
    });
    Killed(child)
}

#[test]
fn staff_use_the_web_ui_in_a_real_browser() {
    if root::skip("staff_use_the_web_ui_in_a_real_browser") {
        return;
    }
    if !std::path::Path::new(CHROMEDRIVER).exists() {
        println!("SKIP: staff_use_the_web_ui_in_a_real_browser: install chromium and chromium-driver (.ci/run does)");
        return;
    }
    let s = site(false);
    let base = format!("http://localhost:{}", s.port);
    let (_driver, driver) = chromedriver();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let alice = browser(driver).await;
        // A wrong password: the form again, with why, after the delay.
        let t = Instant::now();
        log_in(&alice, &base, "proctest-alice", "not-hers").await;
        let said = until("the refusal", || text_of(&alice, "p.flash")).await;
        assert!(said.contains("wrong account name or password"), "{said}");
        assert!(
            t.elapsed() >= Duration::from_millis(900),
            "{:?}",
            t.elapsed()
        );

        // Her own password: the status page, with web and not other.
        log_in(&alice, &base, "proctest-alice", "alice-pw").await;
        let pid = s.d.running_pid("web");
        let shown = until("web's pid", || {
            text_of(
                &alice,
                "tr:has(a[href='/process?name=web']) td:nth-child(4)",
            )
        })
        .await;
        assert_eq!(shown, pid.to_string());
        let page = alice.source().await.unwrap();
        assert!(!page.contains("other"), "{page}");
        std::fs::write(
            std::env::temp_dir().join("proctor-web-ui-status.png"),
            alice.screenshot().await.unwrap(),
        )
        .unwrap();

        // She restarts web; the new pid appears in place, the page never reloads.
        alice.execute("window.stayed = 1;", vec![]).await.unwrap();
        alice
            .find(Locator::Css("button[aria-label='Restart web']"))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        let new = until("the new pid on the page", || async {
            let t = text_of(
                &alice,
                "tr:has(a[href='/process?name=web']) td:nth-child(4)",
            )
            .await?;
            (!t.is_empty() && t != pid.to_string()).then_some(t)
        })
        .await;
        assert_eq!(new, s.d.running_pid("web").to_string());
        let stayed = alice
            .execute("return window.stayed;", vec![])
            .await
            .unwrap();
        assert_eq!(stayed, serde_json::json!(1), "the page reloaded");
        if let Some(shot) = std::env::var_os("PROCTOR_SCREENSHOT") {
            std::fs::write(shot, alice.screenshot().await.unwrap()).unwrap();
        }

        // A process's page: its log grows as it writes, without reloading.
        alice
            .goto(&format!("{base}/process?name=talker:talker_0"))
            .await
            .unwrap();
        alice.execute("window.stayed = 2;", vec![]).await.unwrap();
        let ticks = || async {
            let t = text_of(&alice, "pre[data-follow*='stdout']").await?;
            Some(t.matches("tick").count())
        };
        let first = until("the log", ticks).await;
        until("more of the log", || async {
            ticks().await.filter(|n| *n > first + 2)
        })
        .await;
        let stayed = alice
            .execute("return window.stayed;", vec![])
            .await
            .unwrap();
        assert_eq!(stayed, serde_json::json!(2), "the page reloaded");

        // Bob has no Restart button; a restart he forges in his page is refused, with why.
        let bob = browser(driver).await;
        log_in(&bob, &base, "proctest-bob", "bob-pw").await;
        until("bob's page", || {
            text_of(&bob, "tr:has(a[href='/process?name=web']) td:nth-child(3)")
        })
        .await;
        assert!(bob
            .find(Locator::Css("button[aria-label='Restart web']"))
            .await
            .is_err());
        let now = s.d.running_pid("web");
        bob.execute(
            "var b = document.createElement('button'); b.name = 'act'; b.value = 'restart web'; \
             b.id = 'forged'; document.querySelector('form[action=\"/action\"]').appendChild(b);",
            vec![],
        )
        .await
        .unwrap();
        bob.find(Locator::Id("forged"))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        let said = until("bob's refusal", || async {
            text_of(&bob, "p.flash")
                .await
                .filter(|t| t.contains("permission denied"))
        })
        .await;
        assert!(said.contains("proctest-bob may not restart"), "{said}");
        assert_eq!(s.d.running_pid("web"), now);

        // A page of another site posts a restart to the UI: no cookie goes with it
        // (SameSite=Strict), the daemon refuses it and records the refusal.
        let forged = format!(
            "data:text/html,<form method=post action='{base}/action'><input name=act \
             value='restart web'><input name=csrf value=x></form>\
             <script>document.forms[0].submit()</script>"
        );
        alice.goto(&forged).await.unwrap();
        until("the refusal page", || async {
            let src = alice.source().await.ok()?;
            src.contains("Refused").then_some(())
        })
        .await;
        assert_eq!(s.d.running_pid("web"), now);

        // Logging out ends her session: the status page sends her to the login form.
        alice.goto(&format!("{base}/")).await.unwrap();
        alice
            .find(Locator::Css("form[action='/logout'] button"))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        until("the login form", || async {
            alice.find(Locator::Id("password")).await.ok()
        })
        .await;
        alice.goto(&format!("{base}/")).await.unwrap();
        assert!(alice
            .current_url()
            .await
            .unwrap()
            .path()
            .ends_with("/login"));

        // The control socket through a forwarded port: a one-time link from proctorctl web.
        let alice_account = ensure_account("proctest-alice");
        s.d.open_socket_to_all();
        let fport = free_port();
        let _fwd = forwarder(&alice_account, fport, &s.d.socket);
        let o =
            s.d.ctl_as(&alice_account, &["web", "--port", &fport.to_string()]);
        assert!(o.status.success(), "{}", stderr(&o));
        let link = stdout(&o)
            .split_whitespace()
            .find(|w| w.starts_with("http://"))
            .unwrap()
            .to_owned();
        let carol = browser(driver).await;
        carol.goto(&link).await.unwrap();
        let state = until("the socket's status page", || {
            text_of(
                &carol,
                "tr:has(a[href='/process?name=web']) td:nth-child(3)",
            )
        })
        .await;
        assert_eq!(state, "RUNNING");
        let other = browser(driver).await;
        other.goto(&link).await.unwrap();
        let src = until("the refusal of a used link", || async {
            // Read until the page has loaded.
            let src = other.source().await.ok()?;
            src.contains("Login link refused").then_some(src)
        })
        .await;
        assert!(src.contains("used already"), "{src}");

        for c in [alice, bob, carol, other] {
            c.close().await.unwrap();
        }
    });

    // Both clicks are in the audit log under their names, arrived over TCP with a session.
    let records = s.records();
    let clicked = |user: &str, decision: &str| {
        records.iter().any(|r| {
            r["user"] == user
                && r["action"] == "restart"
                && r["decision"] == decision
                && r["kind"] == "request"
                && r["via"].as_str().is_some_and(|v| v.ends_with(" session"))
        })
    };
    assert!(clicked("proctest-alice", "allow"));
    assert!(clicked("proctest-bob", "deny"));
    // And the cross-site POST, refused for want of a session.
    assert!(records.iter().any(
        |r| r["decision"] == "deny" && r["rule"].as_str().unwrap_or("").contains("no session")
    ));
}
