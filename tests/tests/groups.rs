//! Groups, priorities and numprocs: start and stop order, `group:name` / `group:*` / bare group
//! names, homogeneous process groups, `pid all` and `avail`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
#![forbid(unsafe_code)]

use proctor_tests::*;
use std::time::Duration;

const T: Duration = Duration::from_secs(15);

/// The lines of `file` in `d`'s directory once it has `n` of them.
fn lines_of(d: &Daemon, file: &str, n: usize) -> Vec<String> {
    wait_until(&format!("{n} lines in {file}"), T, || {
        let text = std::fs::read_to_string(d.path(file)).ok()?;
        let lines: Vec<String> = text.lines().map(str::to_owned).collect();
        (lines.len() >= n).then_some(lines)
    })
}

/// Is pid `a` older than pid `b`? Pids are handed out in increasing order, wrapping at
/// pid_max.
fn forked_before(a: u32, b: u32) -> bool {
    let max: u32 = std::fs::read_to_string("/proc/sys/kernel/pid_max")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(4_194_304);
    let gap = (b + max - a) % max;
    gap != 0 && gap < max / 2
}

#[test]
fn start_order_follows_priority() {
    // Declared in neither alphabetical nor priority order. Each service records its name and
    // pid. The services then run concurrently, so the order of their writes to the file is a
    // race (seen: "alpha" before "charlie" although charlie was spawned first); the order of
    // the spawns is what priority decides, and the pids and the daemon's log show it.
    let svc = |name: &str, prio: u32| {
        format!(
            "[program:{name}]\ncommand = sh -c 'echo {name} $$ >> {{dir}}/order; exec sleep 1000'\n\
             startsecs = 0\npriority = {prio}\n"
        )
    };
    let d = Daemon::start(&format!(
        "{}{}{}",
        svc("bravo", 300),
        svc("charlie", 100),
        svc("alpha", 200)
    ));
    let mut pids = Vec::new();
    for n in ["charlie", "alpha", "bravo"] {
        let pid = d.wait_state(n, "RUNNING", T)["pid"].as_u64().unwrap() as u32;
        pids.push((n, pid));
    }
    let mut written = lines_of(&d, "order", 3);
    written.sort();
    let mut expected: Vec<String> = pids.iter().map(|(n, p)| format!("{n} {p}")).collect();
    expected.sort();
    assert_eq!(written, expected, "each service ran its own command once");
    assert!(
        forked_before(pids[0].1, pids[1].1) && forked_before(pids[1].1, pids[2].1),
        "services must be spawned by ascending priority: {pids:?}"
    );
    let log = d.stderr();
    let at = |n: &str| {
        log.find(&format!("spawned: '{n}'"))
            .unwrap_or_else(|| panic!("no spawn of {n} logged:\n{log}"))
    };
    assert!(
        at("charlie") < at("alpha") && at("alpha") < at("bravo"),
        "{log}"
    );
}

#[test]
fn stop_all_goes_by_descending_priority() {
    let svc = |name: &str, prio: u32| {
        format!(
            "[program:{name}]\ncommand = sh -c 'trap \"echo {name} >> {{dir}}/stoporder; exit 0\" TERM; \
             while true; do sleep 0.1; done'\nstartsecs = 0\npriority = {prio}\n"
        )
    };
    let d = Daemon::start(&format!(
        "{}{}{}",
        svc("low", 10),
        svc("high", 900),
        svc("mid", 500)
    ));
    for n in ["low", "mid", "high"] {
        d.wait_state(n, "RUNNING", T);
    }
    let out = d.ctl_ok(&["stop", "all"]);
    assert_eq!(out, "high: stopped\nmid: stopped\nlow: stopped\n");
    assert_eq!(
        lines_of(&d, "stoporder", 3),
        ["high", "mid", "low"],
        "stop all must go by descending priority"
    );
    for n in ["low", "mid", "high"] {
        let p = d.process(n);
        assert_eq!(p["state"], "STOPPED", "{p}");
        assert_eq!(p["exitstatus"], 0, "{p}");
    }
    // Nothing left to stop: `stop all` skips what is not running and succeeds quietly.
    assert_eq!(d.ctl_ok(&["stop", "all"]), "");
}

#[test]
fn explicit_group_names_and_wildcards() {
    let d = Daemon::start(
        "[group:g]\nprograms = a,b\n\
         [program:a]\ncommand = sleep 1000\nstartsecs = 0\n\
         [program:b]\ncommand = sleep 1000\nstartsecs = 0\nautostart = false\n\
         [program:other]\ncommand = sleep 1000\nstartsecs = 0\n",
    );
    d.wait_state("g:a", "RUNNING", T);
    d.wait_state("other", "RUNNING", T);
    let st = d.status();
    let names: Vec<&str> = st.iter().map(|p| p["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["g:a", "g:b", "other"]);
    let b = d.process("g:b");
    assert_eq!(b["group"], "g");
    assert_eq!(b["process"], "b");
    // autostart=false: not started with its group.
    assert_eq!(b["state"], "STOPPED", "{b}");
    assert_eq!(b["description"], "Not started");
    assert!(b["pid"].is_null());
    // `status g:*` lists both members, and the stopped one makes the exit code 3.
    let o = d.ctl(&["status", "g:*"]);
    assert_eq!(o.status.code(), Some(3));
    let out = stdout(&o);
    let listed: Vec<&str> = out
        .lines()
        .map(|l| l.split_whitespace().next().unwrap())
        .collect();
    assert_eq!(listed, ["g:a", "g:b"]);
    // A member is also reachable by its own name.
    assert_eq!(d.ctl(&["status", "a"]).status.code(), Some(0));

    // start g:* starts the stopped member and reports the running one.
    let o = d.ctl(&["start", "g:*"]);
    assert_eq!(o.status.code(), Some(1), "{o:?}");
    assert_eq!(stdout(&o), "g:b: started\n");
    assert_eq!(stderr(&o), "g:a: ERROR (already started)\n");
    let pa = d.wait_state("g:a", "RUNNING", T)["pid"].as_u64().unwrap() as u32;
    let pb = d.wait_state("g:b", "RUNNING", T)["pid"].as_u64().unwrap() as u32;
    assert!(alive(pa) && alive(pb));
    let other = d.pid_of("other").unwrap();

    // stop g:* stops both members and nothing else.
    let mut out: Vec<String> = d
        .ctl_ok(&["stop", "g:*"])
        .lines()
        .map(str::to_owned)
        .collect();
    out.sort();
    assert_eq!(out, ["g:a: stopped", "g:b: stopped"]);
    assert_eq!(d.state("g:a"), "STOPPED");
    assert_eq!(d.state("g:b"), "STOPPED");
    assert!(!alive(pa) && !alive(pb));
    assert_eq!(d.pid_of("other"), Some(other));

    // The bare group name means the whole group too.
    let mut out: Vec<String> = d
        .ctl_ok(&["start", "g"])
        .lines()
        .map(str::to_owned)
        .collect();
    out.sort();
    assert_eq!(out, ["g:a: started", "g:b: started"]);
    assert_eq!(d.state("g:a"), "RUNNING");
    assert_eq!(d.state("g:b"), "RUNNING");
    let mut out: Vec<String> = d
        .ctl_ok(&["stop", "g"])
        .lines()
        .map(str::to_owned)
        .collect();
    out.sort();
    assert_eq!(out, ["g:a: stopped", "g:b: stopped"]);
    assert_eq!(d.state("g:a"), "STOPPED");
    assert_eq!(d.state("g:b"), "STOPPED");

    // group:name picks one member.
    assert_eq!(d.ctl_ok(&["start", "g:b"]), "g:b: started\n");
    assert_eq!(d.state("g:b"), "RUNNING");
    assert_eq!(d.state("g:a"), "STOPPED");
    assert_eq!(d.pid_of("other"), Some(other));

    // Unknown members and groups are name errors.
    let o = d.ctl(&["start", "g:zzz"]);
    assert_eq!(o.status.code(), Some(4));
    assert_eq!(stderr(&o), "proctorctl: no such process: g:zzz\n");
    let o = d.ctl(&["stop", "nogroup:*"]);
    assert_eq!(o.status.code(), Some(4));
    assert_eq!(stderr(&o), "proctorctl: no such process: nogroup:*\n");
}

const WORKERS: &str = "[program:w]\n\
    command = sh -c 'echo worker %(process_num)d of %(numprocs)d; exec sleep 1000'\n\
    process_name = %(program_name)s_%(process_num)02d\n\
    numprocs = 3\nnumprocs_start = 5\nstartsecs = 0\npriority = 5\n\
    [program:idle]\ncommand = sleep 1000\nautostart = false\n";

#[test]
fn numprocs_makes_one_process_per_number() {
    let d = Daemon::start(WORKERS);
    let names: Vec<String> = d
        .status()
        .iter()
        .map(|p| p["name"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(names, ["idle", "w:w_05", "w:w_06", "w:w_07"]);
    for (n, num) in [("w:w_05", 5), ("w:w_06", 6), ("w:w_07", 7)] {
        let p = d.wait_state(n, "RUNNING", T);
        assert_eq!(p["group"], "w");
        let name = format!("w_{num:02}");
        assert_eq!(p["process"], name.as_str());
        assert_eq!(
            p["stdout_logfile"],
            d.path(&format!("log/{name}-stdout---test.log"))
                .display()
                .to_string()
        );
        let want = format!("worker {num} of 3\n");
        let got = wait_until(&format!("{n}'s output"), T, || {
            let o = d.ctl(&["tail", n]);
            let s = stdout(&o);
            (o.status.success() && !s.is_empty()).then_some(s)
        });
        assert_eq!(got, want, "{n} runs with its own process_num");
    }
    // The whole group by its name; a bare process name of a homogeneous group works as well.
    assert_eq!(d.ctl_ok(&["stop", "w:w_06"]), "w:w_06: stopped\n");
    assert_eq!(d.state("w:w_06"), "STOPPED");
    assert_eq!(d.state("w:w_05"), "RUNNING");
    assert_eq!(d.ctl_ok(&["start", "w_06"]), "w:w_06: started\n");
    let mut out: Vec<String> = d
        .ctl_ok(&["restart", "w"])
        .lines()
        .map(str::to_owned)
        .collect();
    out.sort();
    assert_eq!(
        out,
        [
            "w:w_05: started",
            "w:w_05: stopped",
            "w:w_06: started",
            "w:w_06: stopped",
            "w:w_07: started",
            "w:w_07: stopped"
        ]
    );
}

#[test]
fn pid_all_and_avail_list_every_process() {
    let d = Daemon::start(WORKERS);
    for n in ["w:w_05", "w:w_06", "w:w_07"] {
        d.wait_state(n, "RUNNING", T);
    }
    let pids: Vec<(String, Option<u32>)> = ["idle", "w:w_05", "w:w_06", "w:w_07"]
        .iter()
        .map(|n| (n.to_string(), d.pid_of(n)))
        .collect();
    let expected: String = pids
        .iter()
        .map(|(n, p)| match p {
            Some(p) => format!("{n} {p}\n"),
            None => format!("{n} -\n"),
        })
        .collect();
    assert!(pids[0].1.is_none() && pids[1..].iter().all(|(_, p)| p.is_some()));
    assert_eq!(d.ctl_ok(&["pid", "all"]), expected);
    let w6 = pids[2].1.unwrap();
    assert_eq!(d.ctl_ok(&["pid", "w:w_06"]), format!("w:w_06 {w6}\n"));
    assert!(alive(w6));
    // With no name: the two daemons.
    let own = d.ctl_ok(&["pid"]);
    let lines: Vec<&str> = own.lines().collect();
    assert_eq!(lines.len(), 2, "{own}");
    assert_eq!(lines[0], format!("proctord {}", d.pid()));
    assert!(lines[1].starts_with("proctor-controld "), "{own}");

    assert_eq!(
        d.ctl_ok(&["avail"]),
        "idle                 in use  manual    999:999\n\
         w:w_05               in use  auto      5:5\n\
         w:w_06               in use  auto      5:5\n\
         w:w_07               in use  auto      5:5\n"
    );
}
