//! The services config loader, `proctor_config::load`, with `[include]`.
//!
//! Input: `MAIN [\0 INCLUDED [\0 FLAGS]]`. MAIN is written to `DIR/main.conf` and loaded;
//! INCLUDED to `DIR/inc.conf`, which MAIN can name in `[include] files=` (the seeds do). FLAGS:
//! if its first byte is odd, the load is in root mode (uid 0), else as uid 65534 (nobody).
//!
//! No panic. An error, and every warning, names a file of DIR first (`PATH: ...` or
//! `PATH:LINE: ...`), with a line within that file. An accepted config keeps the model's
//! invariants (each program in exactly one group, groups in start order, `numprocs` processes
//! with their numbers, a non-empty argv, `user=` on every program in root mode) and survives the
//! postcard round trip proctord uses to hand it to controld.
#![no_main]
#![forbid(unsafe_code)]

use libfuzzer_sys::fuzz_target;
use proctor_config::{load, Config, Diagnostic, LoadContext};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

fn dir() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let d = std::env::temp_dir().join(format!("proctor-fuzz-config-{}", std::process::id()));
        std::fs::create_dir_all(&d).expect("create the fuzz directory");
        d
    })
}

/// `[include] files=` is a glob joined to the directory of the main file. Patterns that leave
/// it (an absolute path, `..`) could read anything on this machine (`/dev/zero`) or walk the
/// whole file system: skip inputs that could name one. Without a `/` in the main file after the
/// first `include`, and with expansions that hold no `/` (ENV_* and the host name here; `here`
/// is DIR itself, and a pattern can only add to its end), every pattern stays in DIR.
fn may_leave_dir(main: &[u8]) -> bool {
    let Some(at) = main.windows(7).position(|w| w == b"include") else {
        return false;
    };
    main[at..].contains(&b'/')
}

fn check_diagnostic(d: &Diagnostic, main: &[u8], inc: &[u8], what: &str) {
    let shown = d.to_string();
    let file = d.file.display().to_string();
    assert!(
        d.file.starts_with(dir()),
        "{what} names a file outside the config's directory: {shown}"
    );
    assert!(
        shown.starts_with(&format!("{file}: "))
            || shown.starts_with(&format!("{file}:{}: ", d.line)),
        "{what} does not start with its file: {shown}"
    );
    let text = match d.file.file_name().and_then(|n| n.to_str()) {
        Some("main.conf") => Some(main),
        Some("inc.conf") => Some(inc),
        _ => None,
    };
    if let Some(text) = text {
        let lines = String::from_utf8_lossy(text).lines().count();
        assert!(
            d.line as usize <= lines,
            "{what} at line {} of a {lines}-line file: {shown}",
            d.line
        );
    }
}

fn check_model(c: &Config, root: bool) {
    let mut seen = vec![0usize; c.programs.len()];
    for g in &c.groups {
        for &i in &g.programs {
            assert!(i < c.programs.len(), "group {} names program #{i}", g.name);
            seen[i] += 1;
            assert_eq!(c.programs[i].group, g.name, "program in another group");
        }
    }
    assert!(
        seen.iter().all(|&n| n == 1),
        "programs not in exactly one group: {seen:?}"
    );
    for w in c.groups.windows(2) {
        assert!(
            (w[0].priority, &w[0].name) <= (w[1].priority, &w[1].name),
            "groups not in start order"
        );
    }
    for p in &c.programs {
        assert_eq!(
            p.processes.len(),
            p.numprocs as usize,
            "[program:{}]",
            p.name
        );
        for (k, proc_) in p.processes.iter().enumerate() {
            assert_eq!(
                u64::from(proc_.process_num),
                u64::from(p.numprocs_start) + k as u64
            );
            assert!(!proc_.argv.is_empty(), "[program:{}] empty argv", p.name);
        }
        if root {
            assert!(
                p.user.as_deref().is_some_and(|u| u != "root"),
                "[program:{}] runs as {:?} in root mode",
                p.name,
                p.user
            );
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let mut parts = data.splitn(3, |&b| b == 0);
    let main = parts.next().unwrap_or_default();
    let inc = parts.next().unwrap_or_default();
    let root = parts
        .next()
        .and_then(|f| f.first())
        .is_some_and(|b| b & 1 == 1);
    if may_leave_dir(main) {
        return;
    }
    let main_path = dir().join("main.conf");
    std::fs::write(&main_path, main).expect("write main.conf");
    std::fs::write(dir().join("inc.conf"), inc).expect("write inc.conf");
    let ctx = LoadContext {
        uid: if root { 0 } else { 65534 },
        host_node_name: "fuzzhost".into(),
        env: vec![
            ("PORT".into(), "8080".into()),
            ("USER".into(), "fuzz".into()),
        ],
        trusted_owner: None,
    };
    match load(&main_path, &ctx) {
        Err(e) => check_diagnostic(&e, main, inc, "error"),
        Ok(loaded) => {
            for w in &loaded.warnings {
                check_diagnostic(w, main, inc, "warning");
            }
            check_model(&loaded.config, root);
            let bytes = postcard::to_stdvec(&loaded.config).expect("the config encodes");
            let back: Config =
                proctor_wire::decode_exact(&bytes).expect("the encoded config decodes");
            assert_eq!(back, loaded.config, "the config changes through postcard");
        }
    }
});
