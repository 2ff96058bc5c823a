//! Every key the loader knows, by section, from the very lists it matches against: what
//! docs/configuration.md (and so `proctor.conf(5)`) must document; `docgen/tests/docs.rs`
//! checks that it does.

use crate::{build, inet, program, sockets};

/// `(section, key)` for every key a section takes, or names in a warning as ignored.
pub fn known() -> Vec<(&'static str, &'static str)> {
    let mut out = Vec::new();
    let mut add = |section: &'static str, keys: &[&'static str]| {
        out.extend(keys.iter().map(|k| (section, *k)));
    };
    add("program:x", program::PROGRAM_KEYS);
    add("program:x", &["sockets"]);
    add("fcgi-program:x", &["socket"]);
    add("fcgi-program:x", sockets::SOCKET_KEYS);
    add("eventlistener:x", program::LISTENER_KEYS);
    add("group:x", program::GROUP_KEYS);
    add("supervisord", build::SUPERVISORD_KEYS);
    add("supervisord", build::SUPERVISORD_FOREGROUND);
    let ignored: Vec<&'static str> = build::SUPERVISORD_IGNORED.iter().map(|(k, _)| *k).collect();
    add("supervisord", &ignored);
    add("proctor", build::PROCTOR_KEYS);
    add("unix_http_server", build::UNIX_SERVER_KEYS);
    add("unix_http_server", build::UNIX_SERVER_IGNORED);
    add("inet_http_server", inet::KEYS);
    add("include", &["files"]);
    add("supervisorctl", &["serverurl"]);
    out
}
