//! Test harness for proctor's end-to-end tests: runs the real binaries in temporary
//! directories. As root, everything runs as the `proctest-user` account (created on first use),
//! because this release's proctord is for ordinary users; otherwise as the calling user.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
#![forbid(unsafe_code)]

pub mod http;
pub mod root;
pub mod supervisor;
pub mod tcp_site;

use serde_json::Value;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

pub const ACCOUNT: &str = "proctest-user";

#[derive(Clone, Debug)]
pub struct Account {
    pub name: String,
    pub uid: u32,
    pub gid: u32,
}

/// Creates a system account with a group of its own if it does not exist (idempotent; safe when
/// tests race).
pub fn ensure_account(name: &str) -> Account {
    ensure_account_with(name, &["--user-group"])
}

/// Creates a system account if it does not exist, with `group_args` for useradd saying what
/// its primary group is (`--user-group`, or `--gid N`).
pub fn ensure_account_with(name: &str, group_args: &[&str]) -> Account {
    let lookup = || nix::unistd::User::from_name(name).ok().flatten();
    // Tests run in parallel and useradd locks /etc/passwd: retry while another one holds it.
    for _ in 0..50 {
        if lookup().is_some() {
            break;
        }
        let _ = Command::new("useradd")
            .args([
                "--system",
                "--no-create-home",
                "--shell",
                "/usr/sbin/nologin",
            ])
            .args(group_args)
            .arg(name)
            .stderr(Stdio::null())
            .status();
        if lookup().is_none() {
            std::thread::sleep(Duration::from_millis(100));
        }
    }
    let u =
        lookup().unwrap_or_else(|| panic!("cannot create account {name}: is useradd installed?"));
    Account {
        name: u.name,
        uid: u.uid.as_raw(),
        gid: u.gid.as_raw(),
    }
}

/// `PROCTOR_SLOW_TESTS=1`: the fault and load tests run at full size (200 and 1,000 services,
/// 100 clients, 10 s stops) instead of their quick versions.
pub fn slow() -> bool {
    std::env::var("PROCTOR_SLOW_TESTS").is_ok_and(|v| v == "1")
}

/// Quick or slow size of a test.
pub fn size(quick: usize, slow_size: usize) -> usize {
    if slow() {
        slow_size
    } else {
        quick
    }
}

/// Checks that a log holds exactly `line 1` .. `line n`, in order; `Err` says what is wrong.
pub fn numbered_lines(path: &Path, n: u64) -> Result<(), String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    // A line still being written is not a line yet.
    let text = &text[..text.rfind('\n').map_or(0, |i| i + 1)];
    let mut expect = 1;
    for l in text.lines() {
        let got: u64 = l
            .strip_prefix("line ")
            .and_then(|v| v.parse().ok())
            .ok_or_else(|| format!("{}: unexpected line {l:?}", path.display()))?;
        if got != expect {
            return Err(format!(
                "{}: line {expect} expected, found line {got}",
                path.display()
            ));
        }
        expect += 1;
    }
    if expect - 1 != n {
        return Err(format!(
            "{}: {} of {n} lines so far",
            path.display(),
            expect - 1
        ));
    }
    Ok(())
}

/// A small tmpfs (for full-disk tests; needs root), unmounted when dropped.
pub struct Tmpfs(pub PathBuf);

impl Tmpfs {
    /// Mounts a tmpfs of `size` (`256k`) with root directory `mode` (`0750`) on `dir`, which is
    /// created.
    pub fn mount(dir: &Path, size: &str, mode: &str) -> Tmpfs {
        std::fs::create_dir_all(dir).unwrap();
        let st = Command::new("mount")
            .args([
                "-t",
                "tmpfs",
                "-o",
                &format!("size={size},mode={mode}"),
                "tmpfs",
            ])
            .arg(dir)
            .status()
            .unwrap();
        assert!(st.success(), "mount tmpfs on {}", dir.display());
        Tmpfs(dir.to_path_buf())
    }

    /// Writes zeros into `name` until the disk is full.
    pub fn fill(&self, name: &str) -> PathBuf {
        use std::io::Write;
        let path = self.0.join(name);
        let mut f = std::fs::File::create(&path).unwrap();
        let block = [0u8; 4096];
        while f.write_all(&block).is_ok() {}
        path
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

/// The pids of `pid`'s children.
pub fn children_of(pid: u32) -> Vec<u32> {
    std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children"))
        .unwrap_or_default()
        .split_whitespace()
        .filter_map(|p| p.parse().ok())
        .collect()
}

/// How many fds `pid` has open.
pub fn fd_count(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|d| d.count())
        .unwrap_or(0)
}

/// A TCP port of 127.0.0.1 that nothing listens on now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

pub fn is_root() -> bool {
    nix::unistd::geteuid().is_root()
}

/// Who the daemons under test run as: `proctest-user` when the tests run as root.
pub fn runner() -> Option<Account> {
    static R: OnceLock<Option<Account>> = OnceLock::new();
    R.get_or_init(|| is_root().then(|| ensure_account(ACCOUNT)))
        .clone()
}

/// The account the test daemons run as: the runner as root, else whoever runs the tests.
pub fn runner_name() -> String {
    runner().map_or_else(
        || {
            nix::unistd::User::from_uid(nix::unistd::getuid())
                .ok()
                .flatten()
                .map_or_else(|| nix::unistd::getuid().to_string(), |u| u.name)
        },
        |a| a.name,
    )
}

/// The directory holding the workspace's binaries, reachable by the runner account (hard links
/// in a world-traversable temporary directory when running as root, since the checkout may
/// live under a private directory).
pub fn bin_dir() -> PathBuf {
    static D: OnceLock<PathBuf> = OnceLock::new();
    D.get_or_init(|| {
        let exe = std::env::current_exe().unwrap();
        let target = exe.parent().and_then(|d| d.parent()).unwrap().to_path_buf();
        build_binaries(&target);
        for b in ["proctord", "proctor-controld", "proctorctl", "proctor-probe", "proctor-fake-controld", "control-load"] {
            assert!(
                target.join(b).exists(),
                "{} is missing: run the tests with `cargo test --workspace` so every binary is built",
                target.join(b).display()
            );
        }
        if runner().is_none() {
            return target;
        }
        remove_stale_bin_dirs();
        let dir = std::env::temp_dir().join(format!("proctest-bin-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
        for b in ["proctord", "proctor-controld", "proctorctl", "proctor-probe", "control-load"] {
            let (src, dst) = (target.join(b), dir.join(b));
            let _ = std::fs::remove_file(&dst);
            if std::fs::hard_link(&src, &dst).is_err() {
                std::fs::copy(&src, &dst).unwrap();
            }
            std::fs::set_permissions(&dst, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        dir
    })
    .clone()
}

/// Each test process links the binaries into a directory of its own and cannot remove it at
/// exit (statics are not dropped): the next one removes those whose process is gone.
fn remove_stale_bin_dirs() {
    let Ok(entries) = std::fs::read_dir(std::env::temp_dir()) else {
        return;
    };
    for e in entries.flatten() {
        let name = e.file_name();
        let Some(pid) = name
            .to_str()
            .and_then(|n| n.strip_prefix("proctest-bin-"))
            .and_then(|p| p.parse::<u32>().ok())
        else {
            continue;
        };
        if !Path::new(&format!("/proc/{pid}")).exists() {
            let _ = std::fs::remove_dir_all(e.path());
        }
    }
}

/// `cargo test` builds only the binaries of the package under test; the daemons live in other
/// packages, so build them (a no-op when they are fresh) with the same cargo and profile.
fn build_binaries(target: &Path) {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let mut c = Command::new(cargo);
    c.current_dir(workspace)
        .args(["build", "--workspace", "--bins", "--quiet"]);
    if target.file_name().is_some_and(|n| n == "release") {
        c.arg("--release");
    }
    let status = c
        .status()
        .expect("cannot run cargo to build the binaries under test");
    assert!(status.success(), "building the binaries under test failed");
}

pub fn bin(name: &str) -> PathBuf {
    bin_dir().join(name)
}

/// A command run as the runner account (or as ourselves).
pub fn command(program: &Path) -> Command {
    let mut c = Command::new(program);
    if let Some(a) = runner() {
        // std drops supplementary groups when it switches uid as root.
        c.uid(a.uid).gid(a.gid);
        c.env("HOME", "/nonexistent").env("USER", &a.name);
    }
    c
}

/// A private working directory owned by the runner.
pub fn workdir() -> tempfile::TempDir {
    let d = tempfile::Builder::new()
        .prefix("proctest-")
        .tempdir()
        .unwrap();
    if let Some(a) = runner() {
        nix::unistd::chown(d.path(), Some(a.uid.into()), Some(a.gid.into())).unwrap();
    }
    d
}

pub fn wait_until<T>(what: &str, timeout: Duration, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = f() {
            return v;
        }
        if Instant::now() > deadline {
            panic!("timed out after {timeout:?} waiting for {what}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

pub struct Daemon {
    pub dir: tempfile::TempDir,
    pub conf: PathBuf,
    pub socket: PathBuf,
    pub child: Option<Child>,
    pub stderr_path: PathBuf,
}

impl Daemon {
    /// The header every test config gets: socket and logs inside the daemon's directory.
    pub fn header(dir: &Path) -> String {
        format!(
            "[unix_http_server]\nfile = {0}/proctor.sock\n\n[supervisord]\nchildlogdir = {0}/log\nidentifier = test\n\n",
            dir.display()
        )
    }

    /// Starts proctord on `programs` (config sections; `{dir}` is replaced by the daemon's
    /// directory) and waits for its socket.
    pub fn start(programs: &str) -> Daemon {
        let d = Daemon::prepare(programs);
        d.launch()
    }

    pub fn prepare(programs: &str) -> Daemon {
        let dir = workdir();
        let conf = dir.path().join("proctor.conf");
        let body = format!(
            "{}{}",
            Daemon::header(dir.path()),
            programs.replace("{dir}", &dir.path().display().to_string())
        );
        std::fs::write(&conf, body).unwrap();
        Daemon {
            socket: dir.path().join("proctor.sock"),
            stderr_path: dir.path().join("proctord.stderr"),
            conf,
            dir,
            child: None,
        }
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    pub fn write_config(&self, programs: &str) {
        let body = format!(
            "{}{}",
            Daemon::header(self.dir.path()),
            programs.replace("{dir}", &self.dir.path().display().to_string())
        );
        std::fs::write(&self.conf, body).unwrap();
    }

    pub fn launch(self) -> Daemon {
        self.launch_with(Stdio::null(), &[])
    }

    /// Starts proctord with these variables added to its environment.
    pub fn launch_env(self, env: &[(&str, &str)]) -> Daemon {
        self.launch_with(Stdio::null(), env)
    }

    /// Starts proctord with its stdout a pipe, and returns the read end: what services log to
    /// `/dev/stdout` arrives there, as in a container.
    pub fn launch_piped(self) -> (Daemon, std::process::ChildStdout) {
        let mut d = self.launch_with(Stdio::piped(), &[]);
        let out = d.child.as_mut().and_then(|c| c.stdout.take()).unwrap();
        (d, out)
    }

    fn launch_with(mut self, stdout: Stdio, env: &[(&str, &str)]) -> Daemon {
        let err = std::fs::File::create(&self.stderr_path).unwrap();
        if let Some(a) = runner() {
            nix::unistd::chown(&self.stderr_path, Some(a.uid.into()), Some(a.gid.into())).unwrap();
        }
        let child = command(&bin("proctord"))
            .arg("-c")
            .arg(&self.conf)
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(stdout)
            .stderr(err)
            .process_group(0)
            .spawn()
            .unwrap();
        self.child = Some(child);
        let sock = self.socket.clone();
        wait_until("the control socket", Duration::from_secs(10), || {
            if let Some(c) = self.child.as_mut() {
                if let Ok(Some(st)) = c.try_wait() {
                    panic!("proctord exited early ({st}):\n{}", self.stderr());
                }
            }
            std::os::unix::net::UnixStream::connect(&sock)
                .ok()
                .map(|_| ())
        });
        self
    }

    pub fn stderr(&self) -> String {
        std::fs::read_to_string(&self.stderr_path).unwrap_or_default()
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().map(|c| c.id()).unwrap()
    }

    /// controld's pid, as `proctorctl pid` reports it (None while it cannot answer).
    pub fn controld_pid(&self) -> Option<u32> {
        stdout(&self.ctl(&["pid"]))
            .lines()
            .find_map(|l| l.strip_prefix("proctor-controld "))?
            .trim()
            .parse()
            .ok()
    }

    /// A proctorctl command against this daemon (as the runner, stdin closed), to spawn.
    pub fn ctl_command(&self, args: &[&str]) -> Command {
        let mut c = command(&bin("proctorctl"));
        c.arg("-s")
            .arg(&self.socket)
            .args(args)
            .stdin(Stdio::null());
        c
    }

    /// Runs proctorctl against this daemon.
    pub fn ctl(&self, args: &[&str]) -> Output {
        self.ctl_command(args).output().unwrap()
    }

    /// proctorctl that must succeed; returns stdout.
    pub fn ctl_ok(&self, args: &[&str]) -> String {
        let o = self.ctl(args);
        assert!(
            o.status.success(),
            "proctorctl {args:?} failed ({}):\nstdout: {}\nstderr: {}\ndaemon:\n{}",
            o.status,
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr),
            self.stderr()
        );
        String::from_utf8_lossy(&o.stdout).into_owned()
    }

    pub fn status(&self) -> Vec<Value> {
        let o = self.ctl(&["status", "--json"]);
        serde_json::from_slice::<Value>(&o.stdout)
            .ok()
            .and_then(|v| v["result"].as_array().cloned())
            .unwrap_or_else(|| {
                panic!(
                    "bad status --json: {}\n{}",
                    String::from_utf8_lossy(&o.stdout),
                    String::from_utf8_lossy(&o.stderr)
                )
            })
    }

    pub fn process(&self, name: &str) -> Value {
        self.status()
            .into_iter()
            .find(|p| p["name"] == name)
            .unwrap_or_else(|| panic!("no process {name} in status"))
    }

    pub fn state(&self, name: &str) -> String {
        self.process(name)["state"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    pub fn pid_of(&self, name: &str) -> Option<u32> {
        self.process(name)["pid"].as_u64().map(|p| p as u32)
    }

    /// Waits until `name` is in `state`; returns its status object.
    pub fn wait_state(&self, name: &str, state: &str, timeout: Duration) -> Value {
        let deadline = Instant::now() + timeout;
        loop {
            let p = self.process(name);
            if p["state"] == state {
                return p;
            }
            if Instant::now() > deadline {
                panic!(
                    "{name} did not reach {state} in {timeout:?}; last: {p}\ndaemon log:\n{}",
                    self.stderr()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// SIGTERM to proctord and wait for it to exit; returns its exit status.
    pub fn stop(&mut self) -> std::process::ExitStatus {
        let mut child = self.child.take().unwrap();
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(child.id() as i32),
            nix::sys::signal::Signal::SIGTERM,
        );
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(Some(st)) = child.try_wait() {
                return st;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                panic!("proctord did not exit after SIGTERM:\n{}", self.stderr());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// Runs a command that must succeed; what it printed. A failure shows the command and both
/// streams.
pub fn succeeded(c: &mut Command) -> Output {
    let o = c.output().unwrap_or_else(|e| panic!("{c:?}: {e}"));
    assert!(o.status.success(), "{c:?}: {}{}", stdout(&o), stderr(&o));
    o
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        // Remember the services' pids, so that none outlives the test even if proctord fails.
        let pids: Vec<i32> = std::fs::read_dir("/proc")
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
            .filter(|pid| {
                std::fs::read_to_string(format!("/proc/{pid}/stat"))
                    .ok()
                    .and_then(|s| s.rsplit(')').next().map(str::to_owned))
                    .and_then(|s| s.split_whitespace().nth(1).map(str::to_owned))
                    == Some(child.id().to_string())
            })
            .collect();
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(child.id() as i32),
            nix::sys::signal::Signal::SIGTERM,
        );
        let deadline = Instant::now() + Duration::from_secs(15);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = child.try_wait() {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = child.kill();
        let _ = child.wait();
        for pid in pids {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid),
                nix::sys::signal::Signal::SIGKILL,
            );
        }
    }
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Is `pid` alive (and not a zombie)?
pub fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| {
            s.rsplit(')')
                .next()
                .map(|r| !r.trim_start().starts_with('Z'))
        })
        .unwrap_or(false)
}

/// A field of /proc/PID/status, e.g. `SigBlk`.
pub fn proc_status(pid: u32, field: &str) -> Option<String> {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()?
        .lines()
        .find_map(|l| {
            l.strip_prefix(&format!("{field}:"))
                .map(|v| v.trim().to_owned())
        })
}

/// A command running with its stdout read as it comes (by a thread of its own): what it has
/// printed so far, and an end by itself or by Ctrl-C. Dropped, it is killed: a failing test
/// leaves no follower behind.
pub struct Running {
    pub child: Child,
    seen: std::sync::Arc<std::sync::Mutex<String>>,
    reader: Option<std::thread::JoinHandle<()>>,
}

impl Running {
    pub fn of(mut command: Command) -> Running {
        use std::io::Read;
        let mut child = command.stdout(Stdio::piped()).spawn().unwrap();
        let mut out = child.stdout.take().unwrap();
        let seen = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
        let reader = {
            let seen = seen.clone();
            std::thread::spawn(move || {
                let mut buf = [0u8; 4096];
                while let Ok(n) = out.read(&mut buf) {
                    if n == 0 {
                        break;
                    }
                    seen.lock()
                        .unwrap()
                        .push_str(&String::from_utf8_lossy(&buf[..n]));
                }
            })
        };
        Running {
            child,
            seen,
            reader: Some(reader),
        }
    }

    pub fn seen(&self) -> String {
        self.seen.lock().unwrap().clone()
    }

    /// Waits (up to `timeout`) for it to end by itself.
    pub fn ended(&mut self, timeout: Duration) -> std::process::ExitStatus {
        let status = wait_until("the command to end", timeout, || {
            self.child.try_wait().ok().flatten()
        });
        if let Some(r) = self.reader.take() {
            r.join().unwrap();
        }
        status
    }

    /// Interrupts it, as Ctrl-C does, and waits for it to end.
    pub fn interrupt(mut self) {
        let pid = nix::unistd::Pid::from_raw(i32::try_from(self.child.id()).unwrap());
        nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGINT).unwrap();
        self.child.wait().unwrap();
        if let Some(r) = self.reader.take() {
            r.join().unwrap();
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if self.reader.is_some() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}
